/* image: OCI images — a content-addressed store of blobs and unpacked layers, import from an OCI
 * layout, an oci-archive or a docker-archive, pull from a registry (OCI distribution API), and
 * the container's side: a bundle (config.json from the image's config) whose root is an overlay
 * of the store's layers.
 *
 * The store, ROOT (default /var/lib/capsa, global --image-root DIR):
 *   ROOT/lock                 flock(2): LOCK_SH to read or add, LOCK_EX to remove (rm, prune)
 *   ROOT/blobs/sha256/HEX     verified JSON blobs: manifests, indexes, image configs
 *   ROOT/layers/sha256/HEX/   one layer, named by the digest of its blob as a manifest names it:
 *        diff/                the unpacked tree, whiteouts already in overlayfs form
 *        diffid               "sha256:..." of the uncompressed tar
 *        size                 bytes of diff/ (decimal)
 *   ROOT/images.json          the images: manifest digest, names, when added
 *   ROOT/containers/NAME/     one container made from an image (NAME = ID-NONCE): image (its
 *                             manifest digest), owner ("STATEROOT ID\n"), config.json, rootfs/
 *                             (the mount point), upper/, work/.  In use while STATEROOT/ID
 *                             exists or while a process holds a flock on the dir.
 *   ROOT/tmp/                 partial downloads and unpacks; renamed into place when complete
 *
 * Every blob is checked against its digest while it streams; a layer appears in the store
 * complete or not at all, and two processes adding the same layer unpack it once (a per-layer
 * flock).  libcurl, libarchive and libcrypto are loaded with dlopen(3) on first use (lib.c), so
 * that commands which never touch an image do not pay for loading them. */
#pragma once

#include "util/util.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define IMAGE_ROOT_DEFAULT "/var/lib/capsa"
#define IMAGE_DIGEST_LEN   71 /* "sha256:" + 64 hex */

/* ---- libraries (lib.c) ------------------------------------------------------------------- */
enum image_lib { IMAGE_LIB_CRYPTO = 1, IMAGE_LIB_ARCHIVE = 2, IMAGE_LIB_CURL = 4 };
/* dlopen()s the libraries in mask (once); the error names the missing library and its Debian
 * package. */
int image_libs_load(unsigned mask, struct cx_error **err);

/* ---- digests (digest.c) ------------------------------------------------------------------ */
/* "sha256:" followed by 64 lowercase hex digits: nothing else is accepted anywhere */
bool image_digest_valid(const char *d);
struct image_hash;                       /* a running sha256 */
struct image_hash *image_hash_new(void); /* needs IMAGE_LIB_CRYPTO loaded */
void image_hash_update(struct image_hash *h, const void *data, size_t len);
/* "sha256:HEX" into out; the hash is freed */
void image_hash_final(struct image_hash *h, char out[IMAGE_DIGEST_LEN + 1]);
void image_hash_free(struct image_hash *h);
/* sha256 of a buffer */
void image_digest_of(const void *data, size_t len, char out[IMAGE_DIGEST_LEN + 1]);

/* ---- progress on a TTY (progress.c) ------------------------------------------------------- */
/* Per blob and in total: bytes, rate, ETA, redrawn at most 10 times a second on stderr.  Quiet
 * (every call a no-op) when stderr is not a terminal or quiet is set. */
struct image_progress;
struct image_progress *image_progress_new(bool quiet);
void image_progress_free(struct image_progress *p); /* ends the last line */
/* A blob of `total` bytes (0: unknown) will stream; returns its slot */
int image_progress_start(struct image_progress *p, const char *digest, uint64_t total);
void image_progress_add(struct image_progress *p, int slot, uint64_t bytes);
void image_progress_done(struct image_progress *p, int slot, const char *what /* "done",
                                                                               "exists" */);

/* ---- the store (store.c) ----------------------------------------------------------------- */
struct image_store {
        char *root;
        int root_fd;
        int lock_fd; /* ROOT/lock, held shared or exclusive */
        bool exclusive;
        /* image_blob_get skips re-hashing what image_blob_put verified (set by the paths that
         * make containers: libcrypto is then not even loaded; `image inspect` and prune
         * re-check every blob they read) */
        bool trust_reads;
};
/* Opens (making it when missing, mode 0700) and locks the store. */
int image_store_open(const char *root, bool exclusive, struct image_store *ret,
                     struct cx_error **err);
void image_store_close(struct image_store *s);

/* JSON blobs (manifests, indexes, configs): stored after the digest is checked. */
int image_blob_put(struct image_store *s, const char *digest, const char *data, size_t len,
                   struct cx_error **err);
int image_blob_get(struct image_store *s, const char *digest, char **ret, size_t *ret_len,
                   struct cx_error **err);

/* Layers.  media_type is the manifest's (…tar, …tar+gzip, …tar+zstd, docker's
 * …rootfs.diff.tar.gzip; anything else is refused, naming it).  image_layer_add reads the
 * blob from fd, checks it against digest as it streams and the uncompressed tar against diff_id
 * (NULL: not checked), unpacks it under ROOT/tmp and renames it into place; a no-op (0) when the
 * layer is already there.  Refused, naming the entry: `..`, absolute paths, an entry under a
 * symlink, a hard link or symlink whose target leaves the layer's directory, unknown entry
 * types.  Preserved: owners, modes (setuid too), mtimes, xattrs, hard links, sparse files,
 * device nodes, fifos.  Whiteouts: `.wh.NAME` becomes a 0:0 character device NAME, `.wh..wh..opq`
 * sets trusted.overlay.opaque=y on its directory. */
int image_layer_add(struct image_store *s, const char *digest, const char *media_type, int fd,
                    const char *diff_id, struct image_progress *p, struct cx_error **err);
bool image_layer_has(struct image_store *s, const char *digest);
/* ROOT/layers/sha256/HEX/diff (allocated) */
char *image_layer_path(struct image_store *s, const char *digest);

/* ---- manifests (manifest.c) -------------------------------------------------------------- */
struct image_layer_ref {
        char *digest;
        char *media_type;
        uint64_t size;
};
struct image_manifest {
        char *config_digest;
        uint64_t config_size;
        struct image_layer_ref *layers; /* bottom first */
        size_t n_layers;
};
/* Parses an OCI (or Docker schema 2) image manifest; errors name `name` and the JSON path. */
int image_manifest_parse(const char *json, size_t len, const char *name, struct image_manifest *ret,
                         struct cx_error **err);
void image_manifest_clear(struct image_manifest *m);
/* For an index (OCI index or Docker manifest list): the digest of the manifest for this host's
 * platform (os linux, the host's architecture and variant); an error listing the platforms the
 * index has when none fits.  0 and *ret_digest NULL when json is not an index. */
int image_index_select(const char *json, size_t len, const char *name, char **ret_digest,
                       struct cx_error **err);
/* The host's GOARCH: "amd64", "arm64", ... */
const char *image_host_arch(void);

/* ---- importing an image (ingest.c) ------------------------------------------------------- */
/* Where the blobs come from: an OCI layout, an archive, a registry. */
struct image_source {
        void *data;
        /* Opens the blob `digest` for reading; *ret_size its size (0 when unknown) */
        int (*open_blob)(void *data, const char *digest, const char *media_type, int *ret_fd,
                         uint64_t *ret_size, struct cx_error **err);
};
/* Takes a verified manifest (its bytes and digest): stores the config and each layer through
 * the source (verified), then the manifest, then names the image `name` (NULL: no name).  Fails
 * when the config is for another OS or architecture than the host. */
int image_ingest(struct image_store *s, const char *manifest_digest, const char *manifest,
                 size_t len, const char *name, const struct image_source *src,
                 struct image_progress *p, struct cx_error **err);

/* ---- images: names and records (images.c) ------------------------------------------------ */
struct image_info {
        char *manifest_digest; /* the image's identity in the store */
        char *config_digest;   /* its ID, as podman and docker show it */
        char **names;          /* "registry/repo:tag" or "name:tag"; NULL-terminated */
        int64_t added;         /* seconds since the epoch */
        uint64_t size;         /* bytes of its unpacked layers */
        bool in_use;           /* a container of ROOT/containers holds it */
};
void image_info_clear(struct image_info *i);
void image_info_free(struct image_info *v, size_t n);
/* Names: "alpine" is "alpine:latest"; a name matches a stored one exactly or as its last
 * path components ("alpine:3.19" matches "registry.example/library/alpine:3.19"). */
char *image_name_normalize(const char *name);
/* REF: a name, a manifest or config digest ("sha256:..."), or a unique prefix of at least 4 hex
 * digits of the ID.  Errors say which references exist when none (or several) match. */
int image_lookup(struct image_store *s, const char *ref, struct image_info *ret,
                 struct cx_error **err);
/* The same match, only its manifest digest: no size, no scan of the containers (the path that
 * makes a container). */
int image_resolve(struct image_store *s, const char *ref, char **ret_manifest,
                  struct cx_error **err);
int image_list(struct image_store *s, struct image_info **ret, size_t *ret_n,
               struct cx_error **err);
/* Adds name to an image (taking it from any image that had it).  An image the store has no
 * record of yet (its manifest blob, and the blobs and layers it names, already stored) is
 * recorded first, added now; name NULL only records it (image_ingest of a nameless image). */
int image_tag(struct image_store *s, const char *manifest_digest, const char *name,
              struct cx_error **err);
/* Removes a name; when force or when ref is not a name, the whole image.  Refuses an image in
 * use by a container.  Layers no other image uses are removed. (needs the store exclusive) */
int image_remove(struct image_store *s, const char *ref, bool force, struct cx_error **err);
/* Removes images without names (all: every image no container uses), the layers and blobs
 * nothing refers to, ROOT/tmp leftovers, and container dirs whose owner no longer exists.
 * *ret_freed: bytes freed. (exclusive) */
int image_prune(struct image_store *s, bool all, uint64_t *ret_freed, struct cx_error **err);
/* The image's full JSON for `image inspect`: manifest, config, layers, names. */
int image_inspect_json(struct image_store *s, const char *ref, char **ret, struct cx_error **err);

/* ---- sources: import and pull ------------------------------------------------------------ */
struct image_fetch_opts {
        bool quiet;          /* no progress */
        bool tls_verify;     /* default true */
        const char *ca_file; /* extra CA bundle for HTTPS */
        const char *creds;   /* "USER:PASSWORD" for basic or token auth, or NULL */
};
/* SOURCE in skopeo's transport syntax: oci:DIR[:REF], oci-archive:FILE[:REF],
 * docker-archive:FILE[:REF].  name: the name to give (NULL: the source's own ref.name
 * annotation or repo tag, if any).  *ret_digest: the manifest digest. (oci.c, docker.c) */
int image_import(const char *root, const char *source, const char *name,
                 const struct image_fetch_opts *o, char **ret_digest, struct cx_error **err);
/* REF: [HOST[:PORT]/]REPO[:TAG][@DIGEST]; without a host, docker.io.  (registry.c, http.c) */
int image_pull(const char *root, const char *ref, const struct image_fetch_opts *o,
               char **ret_digest, struct cx_error **err);

/* ---- the container's side (bundle.c, config.c) ------------------------------------------- */
/* What `create|run --image` adds to the image's config. */
struct image_run_opts {
        const char *id;
        char **cmd;          /* after `--`: replaces Cmd (Entrypoint stays), or NULL */
        char **env;          /* KEY=VALUE..., after the image's; NULL-terminated or NULL */
        const char *workdir; /* or NULL */
        const char *user;    /* USER[:GROUP], names or numbers, or NULL */
        char **volumes;      /* HOST:CTR[:ro|rw]..., or NULL */
        bool read_only;
        bool tty;
        int64_t memory;    /* bytes, 0: none */
        int64_t cpu_quota; /* microseconds per 100000, 0: none */
        int64_t pids;      /* 0: none */
        bool rootless;     /* `spec --image --rootless`: a user namespace mapping the caller */
};
/* The rootfs of a container made from an image: an overlay, bottom layer first. */
struct image_bundle {
        char *dir;     /* ROOT/containers/NAME: the bundle (config.json, rootfs/) */
        char **lowers; /* layer diff/ paths, bottom first, NULL-terminated */
        size_t n_lowers;
        char *upper, *work;
        char *manifest_digest;
        int ref_lock_fd; /* flock(LOCK_EX) on DIR, held until image_bundle_clear (the
                            process that makes and runs the container): while it is held the
                            dir is in use even though the container's state is not there yet */
};
/* Makes ROOT/containers/NAME for container id of state root state_root: a reference to the
 * image (prune and rm honour it), config.json from the image's config and o, rootfs/ upper/
 * work/.  The user's names are resolved in the image's /etc/passwd and /etc/group. */
int image_bundle_make(const char *image_root, const char *ref, const char *state_root,
                      const struct image_run_opts *o, struct image_bundle *ret,
                      struct cx_error **err);
void image_bundle_clear(struct image_bundle *b);
/* Removes a container's dir (the undo of image_bundle_make; idempotent). */
int image_bundle_release(const char *dir, struct cx_error **err);
/* `capsa spec --image REF`: config.json and a copy of the merged tree in rootfs/ of dir. */
int image_spec_write(const char *image_root, const char *ref, const char *dir, bool rootless,
                     struct cx_error **err);
