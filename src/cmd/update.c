/* capsa update [resource flags | -r FILE] <id>: change a container's cgroup limits.  The flags
 * are runc's; -r reads a JSON object of OCI linux.resources ("-" for stdin).  Flags and -r are
 * exclusive (runc silently ignores the flags when -r is given; capsa says so instead). */
#include "cmd/cmd.h"
#include "container/container.h"
#include "spec/spec.h"

#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <strings.h>

enum {
        OPT_MEMORY = 1000,
        OPT_MEMORY_RES,
        OPT_MEMORY_SWAP,
        OPT_CPU_SHARES,
        OPT_CPU_QUOTA,
        OPT_CPU_PERIOD,
        OPT_CPU_RT_RUNTIME,
        OPT_CPU_RT_PERIOD,
        OPT_CPUSET_CPUS,
        OPT_CPUSET_MEMS,
        OPT_PIDS_LIMIT,
        OPT_BLKIO_WEIGHT,
};

static const struct option opts[] = {
    {"memory", required_argument, NULL, OPT_MEMORY},
    {"memory-reservation", required_argument, NULL, OPT_MEMORY_RES},
    {"memory-swap", required_argument, NULL, OPT_MEMORY_SWAP},
    {"cpu-shares", required_argument, NULL, OPT_CPU_SHARES},
    {"cpu-quota", required_argument, NULL, OPT_CPU_QUOTA},
    {"cpu-period", required_argument, NULL, OPT_CPU_PERIOD},
    {"cpu-rt-runtime", required_argument, NULL, OPT_CPU_RT_RUNTIME},
    {"cpu-rt-period", required_argument, NULL, OPT_CPU_RT_PERIOD},
    {"cpuset-cpus", required_argument, NULL, OPT_CPUSET_CPUS},
    {"cpuset-mems", required_argument, NULL, OPT_CPUSET_MEMS},
    {"pids-limit", required_argument, NULL, OPT_PIDS_LIMIT},
    {"blkio-weight", required_argument, NULL, OPT_BLKIO_WEIGHT},
    {"resources", required_argument, NULL, 'r'},
    {"help", no_argument, NULL, 'h'},
    {},
};

static void usage(void)
{
        printf("Usage: capsa update [options] <container-id>\n"
               "  -r, --resources FILE       a JSON linux.resources object (`-` for stdin)\n"
               "  --memory SIZE              memory limit (e.g. 64m; -1 for none)\n"
               "  --memory-reservation SIZE  memory soft limit\n"
               "  --memory-swap SIZE         memory+swap limit (-1 for none)\n"
               "  --cpu-shares N             relative CPU weight\n"
               "  --cpu-quota US             CFS quota per period (-1 for none)\n"
               "  --cpu-period US            CFS period\n"
               "  --cpu-rt-runtime US        real-time runtime per period (v1 only)\n"
               "  --cpu-rt-period US         real-time period (v1 only)\n"
               "  --cpuset-cpus LIST         CPUs allowed (e.g. 0-2,4)\n"
               "  --cpuset-mems LIST         memory nodes allowed\n"
               "  --pids-limit N             maximum number of processes (-1 for none)\n"
               "  --blkio-weight N           block I/O weight (10-1000)\n");
}

static int flag(const char *name, const char *arg, bool size, struct spec_opt_i64 *ret)
{
        int64_t v;
        int r = size ? cmd_parse_size(arg, &v) : parse_i64(arg, &v);
        if (r < 0)
                return cmd_usage_error("update", "--%s: invalid value `%s`", name, arg);
        *ret = (struct spec_opt_i64){true, v};
        return 0;
}

static int uflag(const char *name, const char *arg, struct spec_opt_u64 *ret)
{
        uint64_t v;
        if (parse_u64(arg, &v) < 0)
                return cmd_usage_error("update",
                                       "--%s: invalid value `%s` (expected an "
                                       "unsigned integer)",
                                       name, arg);
        *ret = (struct spec_opt_u64){true, v};
        return 0;
}

static int parse_flag(int c, const char *arg, struct spec_resources *r)
{
        struct spec_opt_i64 i;
        int q;
        switch (c) {
        case OPT_MEMORY:
                return flag("memory", arg, true, &r->memory.limit);
        case OPT_MEMORY_RES:
                return flag("memory-reservation", arg, true, &r->memory.reservation);
        case OPT_MEMORY_SWAP:
                return flag("memory-swap", arg, true, &r->memory.swap);
        case OPT_CPU_SHARES:
                return uflag("cpu-shares", arg, &r->cpu.shares);
        case OPT_CPU_QUOTA:
                return flag("cpu-quota", arg, false, &r->cpu.quota);
        case OPT_CPU_PERIOD:
                return uflag("cpu-period", arg, &r->cpu.period);
        case OPT_CPU_RT_RUNTIME:
                return flag("cpu-rt-runtime", arg, false, &r->cpu.realtime_runtime);
        case OPT_CPU_RT_PERIOD:
                return uflag("cpu-rt-period", arg, &r->cpu.realtime_period);
        case OPT_CPUSET_CPUS:
                free(r->cpu.cpus);
                r->cpu.cpus = xstrdup(arg);
                return 0;
        case OPT_CPUSET_MEMS:
                free(r->cpu.mems);
                r->cpu.mems = xstrdup(arg);
                return 0;
        case OPT_PIDS_LIMIT:
                if ((q = flag("pids-limit", arg, false, &i)) == 0)
                        r->pids_limit = i;
                return q;
        case OPT_BLKIO_WEIGHT:
                return uflag("blkio-weight", arg, &r->blkio.weight);
        }
        return cmd_usage_error("update", "invalid option");
}

static int read_resources(const char *path, struct spec_resources *r, struct cx_error **err)
{
        _cleanup_free_ char *json = NULL;
        size_t len = 0;
        int q =
            read_file_at(AT_FDCWD, strcmp(path, "-") == 0 ? "/dev/stdin" : path, &json, &len, err);
        if (q < 0)
                return cx_error_prefix(err, "--resources");
        return spec_parse_resources(json, len, strcmp(path, "-") == 0 ? "stdin" : path, r, err);
}

int cmd_update(int argc, char **argv, const struct global_opts *g)
{
        struct spec_resources r = {.present = true};
        const char *file = NULL;
        bool flags = false;
        struct cx_error *err = NULL;
        int c, ret = 1;
        cmd_getopt_begin();
        while ((c = getopt_long(argc, argv, ":r:h", opts, NULL)) != -1) {
                if (c == 'h') {
                        usage();
                        ret = 0;
                        goto out;
                }
                if (c == 'r') {
                        file = optarg;
                        continue;
                }
                if (c == '?' || c == ':') {
                        cmd_option_error("update", c, argv);
                        goto out;
                }
                if (parse_flag(c, optarg, &r))
                        goto out;
                flags = true;
        }
        if (cmd_need_args("update", argc, optind, 1, "a container id"))
                goto out;
        if (file && flags) {
                cmd_usage_error("update", "--resources (-r) and resource flags are exclusive");
                goto out;
        }
        if (file) {
                spec_resources_clear(&r);
                if (read_resources(file, &r, &err) < 0) {
                        ret = cmd_fail(err);
                        goto out;
                }
        } else if (!flags) {
                cmd_usage_error("update", "nothing to update: give resource flags or -r FILE");
                goto out;
        }
        ret = container_update(g->root, argv[optind], &r, &err) < 0 ? cmd_fail(err) : 0;
out:
        spec_resources_clear(&r);
        return ret;
}
