/* capsa list [-q] [--format table|json] */
#include "cmd/cmd.h"
#include "container/container.h"

#include <string.h>
#include <yajl/yajl_gen.h>

static void print_json(const struct container_info *v, size_t n)
{
        yajl_gen g = yajl_gen_alloc(NULL);
        yajl_gen_array_open(g);
        for (size_t i = 0; i < n; i++) {
                const char *keys[] = {"ociVersion", "id", "status", "bundle", "created", "owner"};
                const char *vals[] = {"1.2.0",     v[i].id,      v[i].status,
                                      v[i].bundle, v[i].created, v[i].owner};
                yajl_gen_map_open(g);
                for (size_t k = 0; k < ARRAY_SIZE(keys); k++) {
                        yajl_gen_string(g, (const unsigned char *)keys[k], strlen(keys[k]));
                        yajl_gen_string(g, (const unsigned char *)vals[k], strlen(vals[k]));
                }
                yajl_gen_string(g, (const unsigned char *)"pid", 3);
                yajl_gen_integer(g, v[i].pid);
                yajl_gen_map_close(g);
        }
        yajl_gen_array_close(g);
        const unsigned char *buf;
        size_t len;
        yajl_gen_get_buf(g, &buf, &len);
        fwrite(buf, 1, len, stdout);
        fputc('\n', stdout);
        yajl_gen_free(g);
}

static void print_table(const struct container_info *v, size_t n)
{
        int w = 12;
        for (size_t i = 0; i < n; i++)
                if ((int)strlen(v[i].id) + 2 > w)
                        w = (int)strlen(v[i].id) + 2;
        printf("%-*s%-10s%-10s%-40s%-32s%s\n", w, "ID", "PID", "STATUS", "BUNDLE", "CREATED",
               "OWNER");
        for (size_t i = 0; i < n; i++)
                printf("%-*s%-10d%-10s%-40s%-32s%s\n", w, v[i].id, v[i].pid, v[i].status,
                       v[i].bundle, v[i].created, v[i].owner);
}

int cmd_list(int argc, char **argv, const struct global_opts *g)
{
        static const struct option opts[] = {
            {"quiet", no_argument, NULL, 'q'},
            {"format", required_argument, NULL, 'f'},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        bool quiet = false, json = false;
        int c;
        optind = 1;
        while ((c = getopt_long(argc, argv, "qf:h", opts, NULL)) != -1) {
                if (c == 'q') {
                        quiet = true;
                } else if (c == 'f') {
                        if (cmd_parse_format("list", optarg, &json))
                                return 1;
                } else if (c == 'h') {
                        printf("Usage: capsa list [-q] [--format table|json]\n");
                        return 0;
                } else {
                        return cmd_usage_error("list", "invalid option");
                }
        }
        if (cmd_need_args("list", argc, optind, 0, "no arguments"))
                return 1;
        struct cx_error *err = NULL;
        struct container_info *v = NULL;
        size_t n = 0;
        if (container_list(g->root, &v, &n, &err) < 0)
                return cmd_fail(err);
        if (quiet)
                for (size_t i = 0; i < n; i++)
                        puts(v[i].id);
        else if (json)
                print_json(v, n);
        else
                print_table(v, n);
        container_info_free(v, n);
        return 0;
}
