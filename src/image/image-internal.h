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

/* ---- the container's side (config.c, user.c) ---------------------------------------------- */
struct image_user {
        uint32_t uid, gid;
        uint32_t *gids; /* supplementary groups: the user's in the image's /etc/group */
        size_t n_gids;
};
/* USER[:GROUP] (names or numbers; NULL or "": root) resolved in the image's /etc/passwd and
 * /etc/group, read from the topmost layer that has them (whiteouts and opaque dirs honoured, no
 * symlink followed).  Errors name the user or group that does not exist. */
int image_user_resolve(char *const *lowers, size_t n_lowers, const char *user,
                       struct image_user *ret, struct cx_error **err);
/* config.json (allocated) from the image's config blob, the layers and the run options */
int image_config_json(const char *config, size_t len, char *const *lowers, size_t n_lowers,
                      const struct image_run_opts *o, char **ret, struct cx_error **err);
/* Opens the store (shared, trusting its blobs) and makes the config.json (*ret_json) of a
 * container of REF with b's layers; on failure the store is closed again. */
int image_open_config(const char *image_root, const char *ref, const struct image_run_opts *o,
                      struct image_store *s, struct image_bundle *b, char **ret_json,
                      struct cx_error **err);
/* The image REF: its layers' paths (b->lowers, n_lowers), manifest digest and config blob. */
int image_load(struct image_store *s, const char *ref, struct image_bundle *b, char **ret_config,
               size_t *ret_len, struct cx_error **err);
/* ---- the store's own helpers (store.c, images.c, containers.c, prune.c) -------------------- */
/* Opens (creating) ROOT/name and flock()s it with op (LOCK_SH, LOCK_EX, blocking). */
int img_lock_file(struct image_store *s, const char *name, int op, int *ret_fd,
                  struct cx_error **err);
/* Writes ROOT/path atomically: a unique file in ROOT/tmp, fsync, rename. */
int img_write_atomic(struct image_store *s, const char *path, const char *data, size_t len,
                     struct cx_error **err);
/* "blobs/sha256/HEX" for a valid digest (allocated) */
char *img_blob_path(const char *digest);

/* ROOT/images.json: one record per image.  Changed under an exclusive flock of ROOT/images.lock
 * (held from img_db_load(.., true, ..) to img_db_clear) and replaced atomically, so readers need
 * no lock and two imports (both holding ROOT/lock shared) never lose each other's records. */
struct img_rec {
        char *manifest; /* digest */
        char *config;   /* digest: the image's ID */
        char **names;   /* normalised; NULL-terminated, never NULL */
        int64_t added;
};
struct img_db {
        struct img_rec *v;
        size_t n;
        int lock_fd; /* -1 when loaded read-only */
};
int img_db_load(struct image_store *s, bool write, struct img_db *ret, struct cx_error **err);
int img_db_save(struct image_store *s, const struct img_db *db, struct cx_error **err);
void img_db_clear(struct img_db *db);
void img_db_drop(struct img_db *db, size_t i);         /* removes record i */
void img_names_remove(char **names, const char *name); /* from a NULL-terminated vector */
/* REF as image_lookup resolves it: *ret_index, and *ret_name the stored name REF matched
 * (NULL when REF matched a digest or an ID; points into db). */
int img_db_find(struct image_store *s, const struct img_db *db, const char *ref, size_t *ret_index,
                const char **ret_name, struct cx_error **err);
/* The layer digests of the manifest `digest` (bottom first) and its config digest. */
int img_manifest_layers(struct image_store *s, const char *digest, char ***ret_layers,
                        char **ret_config, struct cx_error **err);
/* Bytes of the unpacked layer (its size file; 0 when unknown). */
uint64_t img_layer_size(struct image_store *s, const char *digest);

/* ROOT/containers/NAME: the image a container holds, and whether the container still exists
 * (its owner file names STATEROOT and ID, and STATEROOT/ID is a directory). */
struct img_ctr {
        char *name;      /* NAME */
        char *image;     /* manifest digest, or NULL (no image file) */
        char *state_dir; /* STATEROOT/ID, or NULL (no owner, or a malformed one) */
        char *id;        /* ID, or NULL */
        bool alive;
        bool locked; /* someone holds a flock on ROOT/containers/NAME (being made) */
};
int img_ctrs_scan(struct image_store *s, struct img_ctr **ret, size_t *ret_n,
                  struct cx_error **err);
void img_ctrs_free(struct img_ctr *v, size_t n);
/* Whether the container holds (or may yet hold) its image: alive, or being made. */
static inline bool img_ctr_holds(const struct img_ctr *c)
{
        return c->alive || c->locked;
}
/* Whether a container of c holds the image `manifest` */
bool img_ctrs_hold(const struct img_ctr *c, size_t n, const char *manifest);
/* ---- a layer's blob (layer-stream.c) -------------------------------------------------------- */
enum { IMAGE_COMP_NONE = 1, IMAGE_COMP_GZIP = 2, IMAGE_COMP_ZSTD = 4 };
/* The compressions a layer's media type allows (IMAGE_COMP_*); 0: not a layer's media type. */
unsigned image_layer_comp(const char *media_type);
/* The blob from fd (compressed as comp allows) checked against digest and diff_id (NULL: not
 * checked) and unpacked into top_fd/diff; *ret_diff_id and *ret_size of what was unpacked. */
int image_layer_unpack(const char *digest, const char *media_type, unsigned comp, int fd,
                       const char *diff_id, struct image_progress *p, int slot, int top_fd,
                       char ret_diff_id[IMAGE_DIGEST_LEN + 1], uint64_t *ret_size,
                       struct cx_error **err);

/* ---- a layer's entries (layer-entry.c; layer-stream.c reads the tar) ------------------------ */
struct image_unpack;
/* Entries go beneath top_fd/root (an existing, empty directory); digest names the layer in
 * errors. */
struct image_unpack *image_unpack_new(int top_fd, const char *root, const char *digest);
void image_unpack_free(struct image_unpack *u);
/* Writes entry e (its data read from a), refusing anything that would leave the directory. */
int image_unpack_entry(struct image_unpack *u, struct archive *a, struct archive_entry *e,
                       struct cx_error **err);
/* Sets the directories' times; *ret_size: bytes of the regular files (each once). */
int image_unpack_finish(struct image_unpack *u, uint64_t *ret_size, struct cx_error **err);
/* ---- import sources (extract.c, oci.c, docker.c) ----------------------------------------- */
/* Opens dirfd/path for reading without leaving dirfd (openat2 RESOLVE_BENEATH); symlinks
 * false: none followed at all.  -errno on failure (no error text: the caller names the blob). */
int image_open_beneath(int dirfd, const char *path, bool symlinks, int *ret_fd);
/* What a failure of image_open_beneath means ("a symlink (not followed)", ...) */
const char *image_beneath_strerror(int r);
/* A new private directory ROOT/tmp/PREFIX-XXXXXX: *ret_name its name under ROOT/tmp. */
int image_tmp_make(struct image_store *s, const char *prefix, char **ret_name, int *ret_fd,
                   struct cx_error **err);
void image_tmp_remove(struct image_store *s, const char *name); /* rm -rf ROOT/tmp/NAME */
/* Unpacks the tar file (plain, gzip or zstd) into image_tmp_make(s, what): files, directories
 * and symlinks only, every entry inside the directory; removed again on failure. */
int image_extract_tmp(struct image_store *s, const char *file, const char *what, char **ret_name,
                      int *ret_fd, struct cx_error **err);
/* Imports the image REF (NULL: the only one) of the OCI layout at dirfd; `what` names the
 * layout in errors, `origin` (the DIR or FILE given) yields a name for a bare ref. (oci.c) */
int image_oci_layout_import(struct image_store *s, int dirfd, const char *what, const char *origin,
                            const char *ref, const char *name, struct image_progress *p,
                            char **ret_digest, struct cx_error **err);
/* Imports the image REF ("NAME:TAG" of its RepoTags or "@N"; NULL: the only one) of a
 * docker-archive. (docker.c) */
int image_docker_archive_import(struct image_store *s, const char *file, const char *ref,
                                const char *name, struct image_progress *p, char **ret_digest,
                                struct cx_error **err);
/* Reads a whole blob (at most FILE_MAX_SIZE) from fd and checks it against digest; `what`
 * ("manifest", "index", "config") names it in errors. (ingest.c) */
int image_read_verified(int fd, const char *what, const char *digest, char **ret, size_t *ret_len,
                        struct cx_error **err);
