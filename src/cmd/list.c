/* capsa list [-q] [--format table|json] */
#include "cmd/cmd.h"
#include "container/container.h"
#include "state/state.h"
#include "util/json.h"

#include <string.h>

static void print_json(const struct container_info *v, size_t n)
{
        struct json_w *w = json_w_new(NULL);
        json_w_arr_open(w);
        for (size_t i = 0; i < n; i++) {
                json_w_obj_open(w);
                json_w_key_str(w, "ociVersion", "1.2.0");
                /* runc's keys, in runc's order */
                json_w_key_str(w, "id", v[i].id);
                json_w_key_int(w, "pid", v[i].pid);
                json_w_key_str(w, "status", v[i].status);
                json_w_key_str(w, "bundle", v[i].bundle);
                json_w_key_str(w, "rootfs", v[i].rootfs);
                json_w_key_str(w, "created", v[i].created);
                state_json_annotations(w, v[i].annotations);
                json_w_key_str(w, "owner", v[i].owner);
                json_w_obj_close(w);
        }
        json_w_arr_close(w);
        _cleanup_free_ char *json = json_w_finish(w, true);
        fputs(json, stdout);
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
        cmd_getopt_begin();
        while ((c = getopt_long(argc, argv, ":qf:h", opts, NULL)) != -1) {
                if (c == 'q') {
                        quiet = true;
                } else if (c == 'f') {
                        if (cmd_parse_format("list", optarg, &json))
                                return 1;
                } else if (c == 'h') {
                        printf("Usage: capsa list [-q|--quiet] [-f|--format table|json]\n");
                        return 0;
                } else {
                        return cmd_option_error("list", c, argv);
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
