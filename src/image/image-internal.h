/* Private to src/image: the dlopen()ed libraries, and helpers shared by the store's files.
 *
 * libcrypto, libarchive and libcurl are not linked: linking them costs every `capsa` start
 * ~16 ms of dynamic loading (measured: an empty main() linked with them).  lib.c dlopen()s
 * them on first use and fills one pointer per function named below; this header then renames
 * each function to its pointer, so the code reads as if it were linked.  A function used
 * anywhere in src/image must be listed here (the build fails otherwise: implicit declaration
 * is an error). */
#pragma once

#include "image/image.h"

#include <archive.h>
#include <archive_entry.h>
#define CURL_DISABLE_TYPECHECK 1 /* its macros would hide the pointers below */
#include <curl/curl.h>
#include <openssl/evp.h>

#define IMAGE_CRYPTO_FUNCS(X)                                                                      \
        X(EVP_MD_CTX_new)                                                                          \
        X(EVP_MD_CTX_free)                                                                         \
        X(EVP_DigestInit_ex)                                                                       \
        X(EVP_DigestUpdate)                                                                        \
        X(EVP_DigestFinal_ex)                                                                      \
        X(EVP_sha256)

#define IMAGE_ARCHIVE_FUNCS(X)                                                                     \
        X(archive_read_new)                                                                        \
        X(archive_read_free)                                                                       \
        X(archive_read_support_filter_all)                                                         \
        X(archive_read_support_filter_none)                                                        \
        X(archive_read_support_filter_gzip)                                                        \
        X(archive_read_support_filter_zstd)                                                        \
        X(archive_read_support_format_tar)                                                         \
        X(archive_read_support_format_raw)                                                         \
        X(archive_read_open)                                                                       \
        X(archive_read_open_fd)                                                                    \
        X(archive_read_next_header)                                                                \
        X(archive_read_data)                                                                       \
        X(archive_read_data_block)                                                                 \
        X(archive_read_data_skip)                                                                  \
        X(archive_read_data_into_fd)                                                               \
        X(archive_error_string)                                                                    \
        X(archive_errno)                                                                           \
        X(archive_filter_code)                                                                     \
        X(archive_entry_pathname)                                                                  \
        X(archive_entry_hardlink)                                                                  \
        X(archive_entry_symlink)                                                                   \
        X(archive_entry_filetype)                                                                  \
        X(archive_entry_mode)                                                                      \
        X(archive_entry_perm)                                                                      \
        X(archive_entry_uid)                                                                       \
        X(archive_entry_gid)                                                                       \
        X(archive_entry_size)                                                                      \
        X(archive_entry_size_is_set)                                                               \
        X(archive_entry_mtime)                                                                     \
        X(archive_entry_mtime_nsec)                                                                \
        X(archive_entry_atime)                                                                     \
        X(archive_entry_atime_nsec)                                                                \
        X(archive_entry_rdevmajor)                                                                 \
        X(archive_entry_rdevminor)                                                                 \
        X(archive_entry_xattr_reset)                                                               \
        X(archive_entry_xattr_next)                                                                \
        X(archive_entry_xattr_count)                                                               \
        X(archive_entry_sparse_reset)                                                              \
        X(archive_entry_sparse_next)                                                               \
        X(archive_entry_sparse_count)

#define IMAGE_CURL_FUNCS(X)                                                                        \
        X(curl_global_init)                                                                        \
        X(curl_easy_init)                                                                          \
        X(curl_easy_cleanup)                                                                       \
        X(curl_easy_reset)                                                                         \
        X(curl_easy_setopt)                                                                        \
        X(curl_easy_perform)                                                                       \
        X(curl_easy_getinfo)                                                                       \
        X(curl_easy_strerror)                                                                      \
        X(curl_slist_append)                                                                       \
        X(curl_slist_free_all)

#define IMAGE_LIB_PTR_DECL(f) extern __typeof__(f) *image_dl_##f;
IMAGE_CRYPTO_FUNCS(IMAGE_LIB_PTR_DECL)
IMAGE_ARCHIVE_FUNCS(IMAGE_LIB_PTR_DECL)
IMAGE_CURL_FUNCS(IMAGE_LIB_PTR_DECL)

#ifndef IMAGE_LIB_NO_RENAME
/* curl.h wraps these two in macros that only check the argument count; the renames replace
 * them */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#include "image/lib-rename.h"
#endif
