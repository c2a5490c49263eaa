/* capsa tenant list [--format table|json]
 * capsa tenant remove NAME */
#include "cmd/cmd.h"
#include "state/state.h"
#include "util/json.h"

#include <inttypes.h>
#include <string.h>

static const char tenant_help[] =
    "Usage: capsa tenant list [-f|--format table|json]\n"
    "       capsa tenant remove NAME\n\n"
    "A tenant owns a range of 65536 host uids/gids for its containers (`capsa run --tenant "
    "NAME`).\n"
    "list shows each tenant's range and containers; remove forgets a tenant without "
    "containers.\n";

static void print_json(const struct state_tenant *v, size_t n)
{
        struct json_w *w = json_w_new(NULL);
        json_w_arr_open(w);
        for (size_t i = 0; i < n; i++) {
                json_w_obj_open(w);
                json_w_key_str(w, "name", v[i].name);
                json_w_key_int(w, "firstId", v[i].first_id);
                json_w_key_int(w, "size", v[i].size);
                json_w_key_strv(w, "containers", (const char *const *)v[i].containers,
                                strv_len(v[i].containers));
                json_w_obj_close(w);
        }
        json_w_arr_close(w);
        _cleanup_free_ char *json = json_w_finish(w, true);
        fputs(json, stdout);
}

static void print_table(const struct state_tenant *v, size_t n)
{
        printf("%-24s%-24s%s\n", "TENANT", "HOST IDS", "CONTAINERS");
        for (size_t i = 0; i < n; i++) {
                char range[32];
                snprintf(range, sizeof(range), "%" PRIu32 "-%" PRIu64, v[i].first_id,
                         (uint64_t)v[i].first_id + v[i].size - 1);
                printf("%-24s%-24s", v[i].name, range);
                for (char **c = v[i].containers; *c; c++)
                        printf("%s%s", c == v[i].containers ? "" : ",", *c);
                printf("\n");
        }
}

static int tenant_list_cmd(int argc, char **argv, const struct global_opts *g)
{
        bool json;
        int r0 = cmd_parse_list_opts("tenant list", tenant_help, argc, argv, &json);
        if (r0)
                return r0 < 0 ? 0 : r0;
        struct cx_error *err = NULL;
        struct state_tenant *v = NULL;
        size_t n = 0;
        if (state_tenant_list(g->root, &v, &n, &err) < 0)
                return cmd_fail(err);
        if (json)
                print_json(v, n);
        else
                print_table(v, n);
        state_tenants_free(v, n);
        return 0;
}

int cmd_tenant(int argc, char **argv, const struct global_opts *g)
{
        if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
                fputs(tenant_help, argc < 2 ? stderr : stdout);
                return argc < 2 ? 1 : 0;
        }
        if (strcmp(argv[1], "list") == 0)
                return tenant_list_cmd(argc - 1, argv + 1, g);
        if (strcmp(argv[1], "remove") == 0) {
                if (cmd_need_args("tenant remove", argc, 2, 1, "a tenant name"))
                        return 1;
                struct cx_error *err = NULL;
                if (state_tenant_remove(g->root, argv[2], &err) < 0)
                        return cmd_fail(err);
                return 0;
        }
        return cmd_usage_error("tenant", "unknown subcommand `%s` (list or remove)", argv[1]);
}
