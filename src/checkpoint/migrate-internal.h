/* Live migration's pieces shared by the source (migrate.c) and the destination
 * (migrate-receive.c): the TLS stream (tls.c), its framing (migrate-proto.c), the rootfs sync
 * (migrate-rootfs.c) and the address announcement (migrate-announce.c).
 *
 * The protocol: frames of a 4-byte type, a 4-byte length (both big-endian) and that many bytes
 * of payload (at most MIG_FRAME_MAX).  Structured payloads are one JSON object.
 *   source                              destination
 *   HELLO {id, config, bundle, ...}  ->
 *                                    <- OK {} | ERROR "why" (id in use, network missing, ...)
 *   ROUND {n, final}                 ->  (makes WORK/n with parent -> n-1, starts a page server)
 *                                    <- PAGE_SERVER {port}
 *   (CRIU pre-dump or dump, pages to the page server)
 *   ROUND_DONE {}                    ->  (waits for the page server to exit)
 *                                    <- ROUND_BYTES {bytes} (the pages it wrote)
 *   ... more rounds; after the final one:
 *   FILE {area, path, type, ...} DATA... (the dump's images, then the rootfs changes)
 *   MANIFEST_REQ {}                  ->
 *                                    <- ENTRY {...} ... END (the destination's rootfs)
 *   FILE ... END                     ->
 *   RESTORE {}                       ->  (container_restore)
 *                                    <- RESTORED {} | ERROR
 *   COMMIT {}                        ->  (announces the address)
 *                                    <- DONE {}
 *   (the source deletes its container; any failure before DONE resumes it)
 * ERROR may come from either side at any time and ends the migration. */
#pragma once

#include "checkpoint/checkpoint.h"

#include <sys/stat.h>

#define MIG_PROTO_VERSION 1
#define MIG_FRAME_MAX     (16u << 20)
#define MIG_DATA_CHUNK    (256u << 10)

enum mig_type {
        MIG_HELLO = 1,
        MIG_OK,
        MIG_ERROR,
        MIG_ROUND,
        MIG_PAGE_SERVER,
        MIG_ROUND_DONE,
        MIG_ROUND_BYTES,
        MIG_FILE,
        MIG_DATA,
        MIG_END,
        MIG_MANIFEST_REQ,
        MIG_ENTRY,
        MIG_RESTORE,
        MIG_RESTORED,
        MIG_COMMIT,
        MIG_DONE,
};
/* "HELLO", ... or "unknown" */
const char *mig_type_name(uint32_t type);

/* ---- TLS (tls.c) ------------------------------------------------------------------------- */
struct mig_tls;
/* A TLS 1.3 session over the connected fd, both ends authenticated by certificates of the CA
 * in c->cacert.  On success the session owns fd; on failure the caller keeps it.  peer names
 * the other end in errors. */
int mig_tls_handshake(int fd, const struct ckpt_tls *c, bool server, const char *peer,
                      struct mig_tls **ret, struct cx_error **err);
void mig_tls_free(struct mig_tls *t);
/* All of len bytes: 0, -ECONNRESET (the peer closed), -EPIPE (see mig_tls_last_error). */
int mig_tls_write(struct mig_tls *t, const void *buf, size_t len);
int mig_tls_read(struct mig_tls *t, void *buf, size_t len);
const char *mig_tls_last_error(const struct mig_tls *t);

/* ---- framing (migrate-proto.c) --------------------------------------------------------------- */
/* A stream: TLS, or (unit tests) a plain fd. */
struct mig_conn {
        struct mig_tls *tls;
        int fd;           /* used when tls is NULL */
        const char *peer; /* for errors: "destination 10.0.0.2:7000" */
};
void mig_conn_close(struct mig_conn *c);

/* Encodes a frame header. */
void mig_header_encode(uint32_t type, uint32_t len, uint8_t ret[8]);
/* Decodes one; -EBADMSG (with the error) for a length beyond MIG_FRAME_MAX or an unknown type. */
int mig_header_decode(const uint8_t h[8], uint32_t *ret_type, uint32_t *ret_len,
                      struct cx_error **err);

int mig_send(struct mig_conn *c, uint32_t type, const void *payload, size_t len,
             struct cx_error **err);
/* Sends {"message": msg} as ERROR (best effort: the stream may be gone). */
void mig_send_error(struct mig_conn *c, const struct cx_error *e);
/* Receives one frame: *ret (NUL-terminated, to free) and its length.  An ERROR frame from the
 * peer becomes the error "PEER: MESSAGE" (-EREMOTEIO). */
int mig_recv(struct mig_conn *c, uint32_t *ret_type, char **ret, size_t *ret_len,
             struct cx_error **err);
/* Receives a frame that must be of type `want`, its payload parsed as a JSON object. */
struct json_val;
int mig_recv_json(struct mig_conn *c, uint32_t want, struct json_val **ret, struct cx_error **err);
/* Sends a JSON text as a frame of that type (NULL: "{}"). */
int mig_send_json(struct mig_conn *c, uint32_t type, const char *json, struct cx_error **err);

/* A file, directory, symlink or deletion in the stream.  area: "images" or "rootfs"; path:
 * relative, without ".." components (mig_path_check). */
enum mig_ftype { MIG_F_REG = 'f', MIG_F_DIR = 'd', MIG_F_LNK = 'l', MIG_F_DEL = 'x' };
struct mig_entry {
        char *area;
        char *path;
        enum mig_ftype type;
        uint32_t mode;
        uint32_t uid, gid;
        uint64_t size;
        int64_t mtime_ns;
        char *target; /* MIG_F_LNK */
};
void mig_entry_clear(struct mig_entry *e);
char *mig_entry_json(const struct mig_entry *e);
int mig_entry_parse(const struct json_val *v, struct mig_entry *ret, struct cx_error **err);
/* Whether two entries describe the same file (type, mode, owner, size, mtime, target). */
bool mig_entry_same(const struct mig_entry *a, const struct mig_entry *b);
/* 0 for a relative path without "." or ".." components or empty ones; -EINVAL (with the
 * error) otherwise: what a peer sends is never trusted to stay inside its directory. */
int mig_path_check(const char *path, struct cx_error **err);
/* An entry for dirfd/path (lstat); *ret cleared on failure. */
int mig_entry_stat(int dirfd, const char *path, const char *area, struct mig_entry *ret,
                   struct cx_error **err);

/* Sends FILE for dirfd/path (with its DATA frames for a regular file). */
int mig_send_file(struct mig_conn *c, int dirfd, const struct mig_entry *e, struct cx_error **err);
/* A walk of every file below a directory, a directory before what it holds (mig_walk). */
struct mig_walk {
        const char *area;                   /* the entries' area: "images", "rootfs" */
        bool (*skip_top)(const char *name); /* top-level names left out, or NULL */
        bool skip_special;                  /* devices, fifos, sockets left out (else an error) */
        int (*fn)(const struct mig_entry *e, void *userdata, struct cx_error **err);
        void *userdata;
};
int mig_walk(int topfd, const struct mig_walk *w, struct cx_error **err);
/* Sends every file under dirfd (pre-order) in area, except the top-level names skip_top
 * says. */
int mig_send_tree(struct mig_conn *c, int dirfd, const char *area,
                  bool (*skip_top)(const char *name), struct cx_error **err);
/* Writes the file of e (its DATA frames follow on c) below dirfd: created with e's mode (and
 * owner when root), replacing what is there. */
int mig_recv_file(struct mig_conn *c, int dirfd, const struct mig_entry *e, struct cx_error **err);

/* ---- the rootfs (migrate-rootfs.c) ------------------------------------------------------------
 * (the bundle, in fact: config.json and the rootfs inside it).  The destination's backups of
 * what it replaces live in BUNDLE/MIG_BACKUP_PREFIX.PID.SEQ (the same filesystem: renames);
 * neither side's manifest lists them. */
#define MIG_BACKUP_PREFIX ".capsa-migrate-backup."
/* Destination: sends an ENTRY for every file of the rootfs, then END. */
int mig_rootfs_manifest_send(struct mig_conn *c, int rootfd, struct cx_error **err);
/* Source: receives the destination's manifest, then sends FILE for what differs or is missing
 * there and a deletion for what only it has (deepest first), then END.  *ret_bytes: file bytes
 * sent. */
int mig_rootfs_sync(struct mig_conn *c, int rootfd, uint64_t *ret_bytes, struct cx_error **err);
/* Destination: applies FILE frames to rootfd until END; before changing anything, the old file
 * is moved into the backup dir (backupfd) and a line is appended to the journal (journalfd), so
 * mig_rootfs_undo can put everything back. */
int mig_rootfs_apply(struct mig_conn *c, int rootfd, int backupfd, int journalfd,
                     struct cx_error **err);
int mig_rootfs_undo(int rootfd, int backupfd, int journalfd, struct cx_error **err);

/* ---- the address announcement (migrate-announce.c) ------------------------------------------- */
/* From inside the network namespace of pid: a gratuitous ARP for each IPv4 address and an
 * unsolicited neighbour advertisement for each global IPv6 address of every interface that is up
 * and not loopback.  *ret_n: how many were sent. */
int mig_announce(pid_t pid, unsigned *ret_n, struct cx_error **err);
/* The source's copy, once the destination runs the container: every interface of its network
 * namespace (its own, capsa's: never the host's, refused) down, so that ending it sends no FIN
 * or RST for the connections that live on at the destination. */
int mig_silence(pid_t pid, struct cx_error **err);

/* ---- sockets and the network attachment (migrate-net.c) ------------------------------------ */
/* "HOST:PORT" or "[IPv6]:PORT" into its parts (brackets dropped). */
int mig_hostport_split(const char *s, char **ret_host, char **ret_port, struct cx_error **err);
int mig_connect(const char *hostport, int *ret_fd, struct cx_error **err);
int mig_listen(const char *hostport, int *ret_fd, struct cx_error **err);
/* "10.0.0.2" or, with_port, "10.0.0.2:7000" / "[fd00::2]:7000" */
struct sockaddr_storage;
char *mig_sockaddr_str(const struct sockaddr_storage *ss, bool with_port);
/* A port free on the address of local (bound and released: CRIU's page server takes it). */
int mig_free_port(const struct sockaddr_storage *local, unsigned *ret, struct cx_error **err);
/* The container's networks and addresses as `--net NAME:ip=ADDR[,ip=ADDR]` arguments, from the
 * leases it holds (an empty vector when it has none). */
int mig_container_nets(const char *root, const char *id, char ***ret, struct cx_error **err);

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t mig_now_ms(void);
