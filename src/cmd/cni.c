/* capsa [--root R] cni: one CNI plugin command, from the environment and stdin (net_cni_main).
 * A CNI runtime may also exec capsa itself as the plugin: see main.c. */
#include "cmd/cmd.h"
#include "net/net.h"

static const char cni_help[] =
    "Usage: CNI_COMMAND=ADD|DEL|CHECK|GC|STATUS|VERSION CNI_CONTAINERID=ID CNI_NETNS=PATH\n"
    "       CNI_IFNAME=NAME [CNI_ARGS=IP=ADDR] capsa [--root DIR] cni < CONFIG.json\n\n"
    "Runs capsa as a CNI 1.x plugin: attaches a container's network namespace to a capsa\n"
    "network (the config's \"network\", else its \"name\"; created from \"subnet\", "
    "\"gateway\",\n"
    "\"ipv6Subnet\", \"mtu\", \"internal\", \"isolated\" when it does not exist) and prints the\n"
    "CNI result or error on stdout.  A CNI runtime can also run capsa directly as the plugin\n"
    "(a symlink to capsa named after the config's \"type\" in its plugin directory).\n";

int cmd_cni(int argc, char **argv, const struct global_opts *g)
{
        static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {}};
        int c;
        cmd_getopt_begin();
        while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
                if (c == 'h') {
                        fputs(cni_help, stdout);
                        return 0;
                }
                return cmd_option_error("cni", c, argv);
        }
        if (cmd_need_args("cni", argc, optind, 0, "no arguments"))
                return 1;
        return net_cni_main(g->root);
}
