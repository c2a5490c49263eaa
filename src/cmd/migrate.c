/* capsa migrate ID HOST:PORT and capsa migrate-receive --listen ADDR:PORT: live migration of a
 * running container to another host (src/checkpoint/migrate*.c). */
#include "checkpoint/checkpoint.h"
#include "cmd/cmd.h"
#include "util/json.h"

#include <inttypes.h>
#include <string.h>

enum {
        OPT_TLS_CACERT = 1000,
        OPT_TLS_CERT,
        OPT_TLS_KEY,
        OPT_MAX_ROUNDS,
        OPT_MAX_DOWNTIME,
        OPT_NO_PRECOPY,
        OPT_TCP_ESTABLISHED,
        OPT_STATS,
        OPT_LAZY,
        OPT_LISTEN,
        OPT_ONCE,
        OPT_WORK_DIR,
};

#define TLS_HELP                                                                                   \
        "  --tls-cacert FILE    the CA that signs both ends' certificates (PEM; required)\n"       \
        "  --tls-cert FILE      this end's certificate (PEM; required)\n"                          \
        "  --tls-key FILE       its private key (PEM; required)\n"

static bool tls_opt(int c, struct ckpt_tls *t)
{
        switch (c) {
        case OPT_TLS_CACERT:
                t->cacert = optarg;
                return true;
        case OPT_TLS_CERT:
                t->cert = optarg;
                return true;
        case OPT_TLS_KEY:
                t->key = optarg;
                return true;
        }
        return false;
}

static int parse_uint(const char *cmd, const char *opt, const char *arg, unsigned max,
                      unsigned *ret)
{
        uint64_t v;
        if (parse_u64(arg, &v) < 0 || v > max)
                return cmd_usage_error(cmd, "%s `%s`: expected a number up to %u", opt, arg, max);
        *ret = (unsigned)v;
        return 0;
}

static void print_stats(const struct ckpt_migrate_stats *st)
{
        struct json_w *w = json_w_new("  ");
        json_w_obj_open(w);
        json_w_key_u64(w, "rounds", st->rounds);
        json_w_key_arr_open(w, "round_bytes");
        for (unsigned i = 0; i <= st->rounds && i < ARRAY_SIZE(st->round_bytes); i++)
                json_w_u64(w, st->round_bytes[i]);
        json_w_arr_close(w);
        json_w_key_u64(w, "freeze_ms", st->freeze_ms);
        json_w_key_u64(w, "total_ms", st->total_ms);
        json_w_key_u64(w, "total_bytes", st->total_bytes);
        json_w_obj_close(w);
        char *s = json_w_finish(w, true);
        fputs(s, stdout);
        free(s);
}

int cmd_migrate(int argc, char **argv, const struct global_opts *g)
{
        static const struct option opts[] = {
            {"tls-cacert", required_argument, NULL, OPT_TLS_CACERT},
            {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
            {"tls-key", required_argument, NULL, OPT_TLS_KEY},
            {"max-rounds", required_argument, NULL, OPT_MAX_ROUNDS},
            {"max-downtime", required_argument, NULL, OPT_MAX_DOWNTIME},
            {"no-precopy", no_argument, NULL, OPT_NO_PRECOPY},
            {"lazy", no_argument, NULL, OPT_LAZY},
            {"tcp-established", no_argument, NULL, OPT_TCP_ESTABLISHED},
            {"stats", no_argument, NULL, OPT_STATS},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        struct ckpt_migrate_stats stats = {0};
        struct ckpt_migrate_opts o = {
            .root = g->root,
            .criu = g->criu,
            .max_rounds = 8,
            .progress = isatty(STDERR_FILENO),
        };
        bool want_stats = false;
        const char *rounds_flag = NULL; /* a pre-copy flag given: not with --lazy */
        int c;
        cmd_getopt_begin();
        while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
                if (tls_opt(c, &o.tls))
                        continue;
                switch (c) {
                case OPT_MAX_ROUNDS:
                        rounds_flag = "--max-rounds";
                        if (parse_uint("migrate", "--max-rounds", optarg, 63, &o.max_rounds))
                                return 1;
                        if (o.max_rounds == 0)
                                return cmd_usage_error("migrate", "--max-rounds: at least 1 "
                                                                  "(--no-precopy for none)");
                        break;
                case OPT_MAX_DOWNTIME:
                        rounds_flag = "--max-downtime";
                        if (parse_uint("migrate", "--max-downtime", optarg, 3600000,
                                       &o.max_downtime_ms))
                                return 1;
                        break;
                case OPT_NO_PRECOPY:
                        rounds_flag = "--no-precopy";
                        o.no_precopy = true;
                        break;
                case OPT_LAZY:
                        o.lazy = true;
                        break;
                case OPT_TCP_ESTABLISHED:
                        o.tcp_established = true;
                        break;
                case OPT_STATS:
                        want_stats = true;
                        break;
                case 'h':
                        printf(
                            "Usage: capsa migrate [options] <container-id> <host:port>\n"
                            "  Moves a running container to the host where `capsa "
                            "migrate-receive`\n"
                            "  listens: pre-copy rounds while it runs, then a short freeze.\n"
                            "  The destination needs the same bundle at the same path.\n" TLS_HELP
                            "  --max-rounds N       pre-copy rounds at most (default 8)\n"
                            "  --max-downtime MS    end pre-copy once a round takes less\n"
                            "  --no-precopy         stop-and-copy: freeze, dump, move\n"
                            "  --lazy               post-copy: freeze, dump all but the pages,\n"
                            "                       run it there; the pages follow (CRIU's\n"
                            "                       lazy pages, userfaultfd on the destination)\n"
                            "  --tcp-established    move open TCP connections\n"
                            "  --stats              print JSON on stdout: rounds, bytes per "
                            "round,\n"
                            "                       freeze_ms, total_ms\n");
                        return 0;
                default:
                        return cmd_option_error("migrate", c, argv);
                }
        }
        if (o.lazy && rounds_flag)
                return cmd_usage_error("migrate", "--lazy and %s: post-copy has no pre-copy rounds",
                                       rounds_flag);
        if (cmd_need_args("migrate", argc, optind, 2, "a container id and HOST:PORT"))
                return 1;
        o.id = argv[optind];
        o.dest = argv[optind + 1];
        o.stats = &stats;
        struct cx_error *err = NULL;
        if (ckpt_migrate(&o, &err) < 0)
                return cmd_fail(err);
        if (want_stats)
                print_stats(&stats);
        return 0;
}

int cmd_migrate_receive(int argc, char **argv, const struct global_opts *g)
{
        static const struct option opts[] = {
            {"tls-cacert", required_argument, NULL, OPT_TLS_CACERT},
            {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
            {"tls-key", required_argument, NULL, OPT_TLS_KEY},
            {"listen", required_argument, NULL, OPT_LISTEN},
            {"once", no_argument, NULL, OPT_ONCE},
            {"work-dir", required_argument, NULL, OPT_WORK_DIR},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        struct ckpt_receive_opts o = {.root = g->root, .criu = g->criu, .progress = stderr};
        int c;
        cmd_getopt_begin();
        while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
                if (tls_opt(c, &o.tls))
                        continue;
                switch (c) {
                case OPT_LISTEN:
                        o.listen = optarg;
                        break;
                case OPT_ONCE:
                        o.once = true;
                        break;
                case OPT_WORK_DIR:
                        o.work_dir = optarg;
                        break;
                case 'h':
                        printf("Usage: capsa migrate-receive --listen ADDR:PORT [options]\n"
                               "  Receives containers from `capsa migrate` until killed.\n"
                               "  --listen ADDR:PORT   where to listen (required)\n" TLS_HELP
                               "  --once               one migration, then exit\n"
                               "  --work-dir DIR       where images arrive (default: ROOT/"
                               ".migrate-receive)\n");
                        return 0;
                default:
                        return cmd_option_error("migrate-receive", c, argv);
                }
        }
        if (cmd_need_args("migrate-receive", argc, optind, 0, "no arguments"))
                return 1;
        if (!o.listen)
                return cmd_usage_error("migrate-receive", "--listen ADDR:PORT is required");
        struct cx_error *err = NULL;
        if (ckpt_migrate_receive(&o, &err) < 0)
                return cmd_fail(err);
        return 0;
}
