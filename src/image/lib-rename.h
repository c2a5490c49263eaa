/* Generated from the lists in image-internal.h (one line per function): each call goes
 * through the pointer lib.c filled (#undef first: curl.h defines some as macros). */
#pragma once
/* clang-format off */

#undef EVP_MD_CTX_new
#define EVP_MD_CTX_new (*image_dl_EVP_MD_CTX_new)
#undef EVP_MD_CTX_free
#define EVP_MD_CTX_free (*image_dl_EVP_MD_CTX_free)
#undef EVP_DigestInit_ex
#define EVP_DigestInit_ex (*image_dl_EVP_DigestInit_ex)
#undef EVP_DigestUpdate
#define EVP_DigestUpdate (*image_dl_EVP_DigestUpdate)
#undef EVP_DigestFinal_ex
#define EVP_DigestFinal_ex (*image_dl_EVP_DigestFinal_ex)
#undef EVP_sha256
#define EVP_sha256 (*image_dl_EVP_sha256)
#undef archive_read_new
#define archive_read_new (*image_dl_archive_read_new)
#undef archive_read_free
#define archive_read_free (*image_dl_archive_read_free)
#undef archive_read_support_filter_all
#define archive_read_support_filter_all (*image_dl_archive_read_support_filter_all)
#undef archive_read_support_filter_none
#undef archive_read_support_filter_none
#define archive_read_support_filter_none (*image_dl_archive_read_support_filter_none)
#undef archive_read_support_filter_gzip
#undef archive_read_support_filter_gzip
#define archive_read_support_filter_gzip (*image_dl_archive_read_support_filter_gzip)
#undef archive_read_support_filter_zstd
#undef archive_read_support_filter_zstd
#define archive_read_support_filter_zstd (*image_dl_archive_read_support_filter_zstd)
#undef archive_read_support_format_tar
#define archive_read_support_format_tar (*image_dl_archive_read_support_format_tar)
#undef archive_read_support_format_raw
#define archive_read_support_format_raw (*image_dl_archive_read_support_format_raw)
#undef archive_read_open
#define archive_read_open (*image_dl_archive_read_open)
#undef archive_read_open_fd
#define archive_read_open_fd (*image_dl_archive_read_open_fd)
#undef archive_read_next_header
#define archive_read_next_header (*image_dl_archive_read_next_header)
#undef archive_read_data
#define archive_read_data (*image_dl_archive_read_data)
#undef archive_read_data_block
#define archive_read_data_block (*image_dl_archive_read_data_block)
#undef archive_read_data_skip
#define archive_read_data_skip (*image_dl_archive_read_data_skip)
#undef archive_read_data_into_fd
#define archive_read_data_into_fd (*image_dl_archive_read_data_into_fd)
#undef archive_error_string
#define archive_error_string (*image_dl_archive_error_string)
#undef archive_errno
#define archive_errno (*image_dl_archive_errno)
#undef archive_filter_code
#define archive_filter_code (*image_dl_archive_filter_code)
#undef archive_entry_pathname
#define archive_entry_pathname (*image_dl_archive_entry_pathname)
#undef archive_entry_hardlink
#define archive_entry_hardlink (*image_dl_archive_entry_hardlink)
#undef archive_entry_symlink
#define archive_entry_symlink (*image_dl_archive_entry_symlink)
#undef archive_entry_filetype
#define archive_entry_filetype (*image_dl_archive_entry_filetype)
#undef archive_entry_mode
#define archive_entry_mode (*image_dl_archive_entry_mode)
#undef archive_entry_perm
#define archive_entry_perm (*image_dl_archive_entry_perm)
#undef archive_entry_uid
#define archive_entry_uid (*image_dl_archive_entry_uid)
#undef archive_entry_gid
#define archive_entry_gid (*image_dl_archive_entry_gid)
#undef archive_entry_size
#define archive_entry_size (*image_dl_archive_entry_size)
#undef archive_entry_size_is_set
#define archive_entry_size_is_set (*image_dl_archive_entry_size_is_set)
#undef archive_entry_mtime
#define archive_entry_mtime (*image_dl_archive_entry_mtime)
#undef archive_entry_mtime_nsec
#define archive_entry_mtime_nsec (*image_dl_archive_entry_mtime_nsec)
#undef archive_entry_atime
#define archive_entry_atime (*image_dl_archive_entry_atime)
#undef archive_entry_atime_nsec
#define archive_entry_atime_nsec (*image_dl_archive_entry_atime_nsec)
#undef archive_entry_rdevmajor
#define archive_entry_rdevmajor (*image_dl_archive_entry_rdevmajor)
#undef archive_entry_rdevminor
#define archive_entry_rdevminor (*image_dl_archive_entry_rdevminor)
#undef archive_entry_xattr_reset
#define archive_entry_xattr_reset (*image_dl_archive_entry_xattr_reset)
#undef archive_entry_xattr_next
#define archive_entry_xattr_next (*image_dl_archive_entry_xattr_next)
#undef archive_entry_xattr_count
#define archive_entry_xattr_count (*image_dl_archive_entry_xattr_count)
#undef archive_entry_sparse_reset
#define archive_entry_sparse_reset (*image_dl_archive_entry_sparse_reset)
#undef archive_entry_sparse_next
#define archive_entry_sparse_next (*image_dl_archive_entry_sparse_next)
#undef archive_entry_sparse_count
#define archive_entry_sparse_count (*image_dl_archive_entry_sparse_count)
#undef curl_global_init
#define curl_global_init (*image_dl_curl_global_init)
#undef curl_easy_init
#define curl_easy_init (*image_dl_curl_easy_init)
#undef curl_easy_cleanup
#define curl_easy_cleanup (*image_dl_curl_easy_cleanup)
#undef curl_easy_reset
#define curl_easy_reset (*image_dl_curl_easy_reset)
#undef curl_easy_setopt
#define curl_easy_setopt (*image_dl_curl_easy_setopt)
#undef curl_easy_perform
#define curl_easy_perform (*image_dl_curl_easy_perform)
#undef curl_easy_getinfo
#define curl_easy_getinfo (*image_dl_curl_easy_getinfo)
#undef curl_easy_strerror
#define curl_easy_strerror (*image_dl_curl_easy_strerror)
#undef curl_slist_append
#define curl_slist_append (*image_dl_curl_slist_append)
#undef curl_slist_free_all
#define curl_slist_free_all (*image_dl_curl_slist_free_all)
