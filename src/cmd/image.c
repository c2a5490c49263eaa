/* capsa image import [--quiet] SOURCE [NAME[:TAG]]
 * capsa image pull [--quiet] [--tls-verify=false] [--ca-file FILE] [--creds USER:PASS] REF
 * capsa image list|ls [--format table|json] [--quiet]
 * capsa image inspect REF...
 * capsa image tag REF NAME
 * capsa image rm|remove [--force] REF...
 * capsa image prune [--all] */
#include "cmd/cmd.h"
#include "image/image.h"
#include "util/json.h"

#include <string.h>
#include <time.h>

static const char image_help[] =
    "Usage: capsa image import [--quiet] SOURCE [NAME[:TAG]]\n"
    "       capsa image pull [--quiet] [--tls-verify=false] [--ca-file FILE]\n"
    "                        [--creds USER:PASS] REF\n"
    "       capsa image list [--format table|json] [--quiet]\n"
    "       capsa image inspect REF...\n"
    "       capsa image tag REF NAME\n"
    "       capsa image rm [--force] REF...\n"
    "       capsa image prune [--all]\n\n"
    "The image store is /var/lib/capsa unless the global option --image-root DIR names another.\n"
    "REF: a name (alpine, alpine:3.19, registry.example/library/alpine:3.19; a name matches\n"
    "a stored one as its last path components), a manifest or config digest (sha256:...), or\n"
    "at least 4 hex digits that start the ID.\n";

static const char import_help[] =
    "Usage: capsa image import [--quiet] SOURCE [NAME[:TAG]]\n\n"
    "Adds the image of SOURCE to the store and prints its manifest digest.  SOURCE:\n"
    "  oci:DIR[:REF]             an OCI image layout directory\n"
    "  oci-archive:FILE[:REF]    an OCI image layout in a tar file\n"
    "  docker-archive:FILE[:REF] what `docker save` and `podman save` write\n"
    "NAME: the image's name (default: the source's own, if it has one).\n\n"
    "  -q, --quiet   no progress\n";

static const char pull_help[] =
    "Usage: capsa image pull [options] REF\n\n"
    "Pulls [HOST[:PORT]/]REPO[:TAG][@DIGEST] (without a host, from docker.io) and prints its\n"
    "manifest digest.\n\n"
    "  -q, --quiet             no progress\n"
    "  --tls-verify=false      do not verify the registry's certificate\n"
    "  --ca-file FILE          trust the CA certificates of FILE too\n"
    "  --creds USER:PASS       credentials for the registry\n";

static int open_store(const struct global_opts *g, bool exclusive, struct image_store *s)
{
        struct cx_error *err = NULL;
        if (image_store_open(g->image_root, exclusive, s, &err) < 0)
                return cmd_fail(err);
        return 0;
}

/* ---- import, pull ---------------------------------------------------------------------------- */

static int import_cmd(int argc, char **argv, const struct global_opts *g)
{
        static const struct option opts[] = {
            {"quiet", no_argument, NULL, 'q'}, {"help", no_argument, NULL, 'h'}, {}};
        struct image_fetch_opts o = {.tls_verify = true};
        int c;
        cmd_getopt_begin();
        while ((c = getopt_long(argc, argv, ":qh", opts, NULL)) != -1) {
                if (c == 'q') {
                        o.quiet = true;
                } else if (c == 'h') {
                        fputs(import_help, stdout);
                        return 0;
                } else {
                        return cmd_option_error("image import", c, argv);
                }
        }
        if (argc - optind < 1 || argc - optind > 2)
                return cmd_usage_error("image import",
                                       "expects SOURCE [NAME[:TAG]], got %d "
                                       "argument%s",
                                       argc - optind, argc - optind == 1 ? "" : "s");
        struct cx_error *err = NULL;
        _cleanup_free_ char *digest = NULL;
        if (image_import(g->image_root, argv[optind], optind + 1 < argc ? argv[optind + 1] : NULL,
                         &o, &digest, &err) < 0)
                return cmd_fail(err);
        puts(digest);
        return 0;
}

static int parse_bool(const char *s, bool *ret)
{
        if (!s || !strcmp(s, "true")) {
                *ret = true;
                return 0;
        }
        if (!strcmp(s, "false")) {
                *ret = false;
                return 0;
        }
        return -EINVAL;
}

static int pull_cmd(int argc, char **argv, const struct global_opts *g)
{
        enum { OPT_TLS_VERIFY = 1000, OPT_CA_FILE, OPT_CREDS };
        static const struct option opts[] = {
            {"quiet", no_argument, NULL, 'q'},
            {"tls-verify", optional_argument, NULL, OPT_TLS_VERIFY},
            {"ca-file", required_argument, NULL, OPT_CA_FILE},
            {"creds", required_argument, NULL, OPT_CREDS},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        struct image_fetch_opts o = {.tls_verify = true};
        int c;
        cmd_getopt_begin();
        while ((c = getopt_long(argc, argv, ":qh", opts, NULL)) != -1) {
                switch (c) {
                case 'q':
                        o.quiet = true;
                        break;
                case OPT_TLS_VERIFY:
                        if (parse_bool(optarg, &o.tls_verify) < 0)
                                return cmd_usage_error("image pull",
                                                       "--tls-verify: `%s` is not true or false",
                                                       optarg);
                        break;
                case OPT_CA_FILE:
                        if (!*optarg)
                                return cmd_usage_error("image pull", "--ca-file: empty path");
                        o.ca_file = optarg;
                        break;
                case OPT_CREDS:
                        if (!strchr(optarg, ':') || optarg[0] == ':')
                                return cmd_usage_error("image pull",
                                                       "--creds: expects USER:PASSWORD");
                        o.creds = optarg;
                        break;
                case 'h':
                        fputs(pull_help, stdout);
                        return 0;
                default:
                        return cmd_option_error("image pull", c, argv);
                }
        }
        if (cmd_need_args("image pull", argc, optind, 1, "an image reference"))
                return 1;
        struct cx_error *err = NULL;
        _cleanup_free_ char *digest = NULL;
        if (image_pull(g->image_root, argv[optind], &o, &digest, &err) < 0)
                return cmd_fail(err);
        puts(digest);
        return 0;
}

/* ---- list ------------------------------------------------------------------------------------ */

static void human_size(uint64_t n, char buf[32])
{
        static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
        double v = (double)n;
        size_t u = 0;
        while (v >= 1024 && u + 1 < ARRAY_SIZE(units)) {
                v /= 1024;
                u++;
        }
        if (u == 0)
                snprintf(buf, 32, "%llu B", (unsigned long long)n);
        else
                snprintf(buf, 32, "%.1f %s", v, units[u]);
}

/* UTC: "2024-05-01 12:00:00", or RFC 3339 ("2024-05-01T12:00:00Z") */
static void time_str(int64_t t, bool rfc3339, char buf[32])
{
        time_t tt = (time_t)t;
        struct tm tm;
        size_t n = 0;
        if (gmtime_r(&tt, &tm))
                n = rfc3339 ? strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm)
                            : strftime(buf, 32, "%Y-%m-%d %H:%M:%S", &tm);
        if (!n)
                snprintf(buf, 32, "%lld", (long long)t);
}

static void print_row(const char *name, const struct image_info *i, int w)
{
        char size[32], added[32];
        human_size(i->size, size);
        time_str(i->added, false, added);
        printf("%-*s%-14.12s%-21s%-11s%s\n", w, name, i->config_digest + 7, added, size,
               i->in_use ? "yes" : "no");
}

static void print_table(const struct image_info *v, size_t n)
{
        int w = 14;
        for (size_t i = 0; i < n; i++)
                for (char **name = v[i].names; *name; name++)
                        if ((int)strlen(*name) + 2 > w)
                                w = (int)strlen(*name) + 2;
        printf("%-*s%-14s%-21s%-11s%s\n", w, "NAME", "ID", "ADDED (UTC)", "SIZE", "IN USE");
        for (size_t i = 0; i < n; i++) {
                if (!v[i].names[0])
                        print_row("<none>", &v[i], w);
                for (char **name = v[i].names; *name; name++)
                        print_row(*name, &v[i], w);
        }
}

static void print_json(const struct image_info *v, size_t n)
{
        struct json_w *w = json_w_new("  ");
        json_w_arr_open(w);
        for (size_t i = 0; i < n; i++) {
                char added[32];
                time_str(v[i].added, true, added);
                json_w_obj_open(w);
                json_w_key_str(w, "Id", v[i].config_digest);
                json_w_key_str(w, "Digest", v[i].manifest_digest);
                json_w_key_strv(w, "Names", (const char *const *)v[i].names, strv_len(v[i].names));
                json_w_key_str(w, "Added", added);
                json_w_key_u64(w, "Size", v[i].size);
                json_w_key_bool(w, "InUse", v[i].in_use);
                json_w_obj_close(w);
        }
        json_w_arr_close(w);
        _cleanup_free_ char *out = json_w_finish(w, true);
        fputs(out, stdout);
}

static int list_cmd(int argc, char **argv, const struct global_opts *g)
{
        static const struct option opts[] = {
            {"quiet", no_argument, NULL, 'q'},
            {"format", required_argument, NULL, 'f'},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        bool quiet = false, json = false;
        int c;
        cmd_getopt_begin();
        while ((c = getopt_long(argc, argv, ":qf:h", opts, NULL)) != -1) {
                if (c == 'q') {
                        quiet = true;
                } else if (c == 'f') {
                        if (cmd_parse_format("image list", optarg, &json))
                                return 1;
                } else if (c == 'h') {
                        puts("Usage: capsa image list [-f|--format table|json] [-q|--quiet]\n\n"
                             "  -q, --quiet   only the IDs (the config digest's first 12 hex "
                             "digits)");
                        return 0;
                } else {
                        return cmd_option_error("image list", c, argv);
                }
        }
        if (cmd_need_args("image list", argc, optind, 0, "no arguments"))
                return 1;
        struct image_store s;
        if (open_store(g, false, &s))
                return 1;
        struct cx_error *err = NULL;
        struct image_info *v = NULL;
        size_t n = 0;
        int r = image_list(&s, &v, &n, &err);
        image_store_close(&s);
        if (r < 0)
                return cmd_fail(err);
        for (size_t i = 0; quiet && i < n; i++)
                printf("%.12s\n", v[i].config_digest + 7);
        if (!quiet && json)
                print_json(v, n);
        else if (!quiet)
                print_table(v, n);
        image_info_free(v, n);
        return 0;
}

/* ---- inspect, tag, rm, prune ----------------------------------------------------------------- */

static int inspect_cmd(int argc, char **argv, const struct global_opts *g)
{
        int r =
            cmd_parse_help_only("image inspect", "Usage: capsa image inspect REF...", argc, argv);
        if (r)
                return r < 0 ? 0 : r;
        if (optind >= argc)
                return cmd_usage_error("image inspect", "expects at least one image");
        struct image_store s;
        if (open_store(g, false, &s))
                return 1;
        _cleanup_strv_ char **objs = xcalloc((size_t)argc + 1, sizeof(char *));
        size_t n = 0;
        int failed = 0;
        for (int i = optind; i < argc; i++) {
                struct cx_error *err = NULL;
                if (image_inspect_json(&s, argv[i], &objs[n], &err) < 0) {
                        cmd_fail(err);
                        failed = 1;
                        continue;
                }
                n++;
        }
        image_store_close(&s);
        cmd_print_json_array(objs, n);
        return failed;
}

static int tag_cmd(int argc, char **argv, const struct global_opts *g)
{
        int r =
            cmd_parse_help_only("image tag", "Usage: capsa image tag REF NAME[:TAG]", argc, argv);
        if (r)
                return r < 0 ? 0 : r;
        if (cmd_need_args("image tag", argc, optind, 2, "REF and NAME"))
                return 1;
        struct image_store s;
        if (open_store(g, false, &s))
                return 1;
        struct cx_error *err = NULL;
        struct image_info i = {0};
        r = image_lookup(&s, argv[optind], &i, &err);
        if (r >= 0)
                r = image_tag(&s, i.manifest_digest, argv[optind + 1], &err);
        image_info_clear(&i);
        image_store_close(&s);
        return r < 0 ? cmd_fail(err) : 0;
}

static int rm_cmd(int argc, char **argv, const struct global_opts *g)
{
        static const struct option opts[] = {
            {"force", no_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'}, {}};
        bool force = false;
        int c;
        cmd_getopt_begin();
        while ((c = getopt_long(argc, argv, ":fh", opts, NULL)) != -1) {
                if (c == 'f') {
                        force = true;
                } else if (c == 'h') {
                        puts("Usage: capsa image rm [-f|--force] REF...\n\n"
                             "By name, removes that name, and the image with its last name;\n"
                             "by digest or ID (or with --force), the image and all its names.\n"
                             "An image a container uses is never removed.");
                        return 0;
                } else {
                        return cmd_option_error("image rm", c, argv);
                }
        }
        if (optind >= argc)
                return cmd_usage_error("image rm", "expects at least one image");
        struct image_store s;
        if (open_store(g, true, &s))
                return 1;
        int failed = 0;
        for (int i = optind; i < argc; i++) {
                struct cx_error *err = NULL;
                if (image_remove(&s, argv[i], force, &err) < 0) {
                        cmd_fail(err);
                        failed = 1;
                        continue;
                }
                puts(argv[i]);
        }
        image_store_close(&s);
        return failed;
}

static int prune_cmd(int argc, char **argv, const struct global_opts *g)
{
        static const struct option opts[] = {
            {"all", no_argument, NULL, 'a'}, {"help", no_argument, NULL, 'h'}, {}};
        bool all = false;
        int c;
        cmd_getopt_begin();
        while ((c = getopt_long(argc, argv, ":ah", opts, NULL)) != -1) {
                if (c == 'a') {
                        all = true;
                } else if (c == 'h') {
                        puts("Usage: capsa image prune [-a|--all]\n\n"
                             "Removes the images without a name (--all: every image no\n"
                             "container uses), the layers and blobs no image refers to, what\n"
                             "interrupted imports left, and the dirs of containers that are gone.");
                        return 0;
                } else {
                        return cmd_option_error("image prune", c, argv);
                }
        }
        if (cmd_need_args("image prune", argc, optind, 0, "no arguments"))
                return 1;
        struct image_store s;
        if (open_store(g, true, &s))
                return 1;
        struct cx_error *err = NULL;
        uint64_t freed = 0;
        int r = image_prune(&s, all, &freed, &err);
        image_store_close(&s);
        if (r < 0)
                return cmd_fail(err);
        char size[32];
        human_size(freed, size);
        printf("freed %s\n", size);
        return 0;
}

int cmd_image(int argc, char **argv, const struct global_opts *g)
{
        static const struct {
                const char *name, *alias;
                int (*fn)(int argc, char **argv, const struct global_opts *g);
        } subs[] = {
            {"import", NULL, import_cmd},   {"pull", NULL, pull_cmd}, {"list", "ls", list_cmd},
            {"inspect", NULL, inspect_cmd}, {"tag", NULL, tag_cmd},   {"rm", "remove", rm_cmd},
            {"prune", NULL, prune_cmd},
        };
        if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
                fputs(image_help, argc < 2 ? stderr : stdout);
                return argc < 2 ? 1 : 0;
        }
        for (size_t i = 0; i < ARRAY_SIZE(subs); i++)
                if (!strcmp(argv[1], subs[i].name) ||
                    (subs[i].alias && !strcmp(argv[1], subs[i].alias)))
                        return subs[i].fn(argc - 1, argv + 1, g);
        return cmd_usage_error("image",
                               "unknown subcommand `%s` (import, pull, list, inspect, tag, rm "
                               "or prune)",
                               argv[1]);
}
