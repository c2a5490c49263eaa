/* capsa spec [--bundle DIR] [--rootless]; capsa features */
#include "cmd/cmd.h"
#include "image/image.h"
#include "spec/spec.h"

#include <fcntl.h>
#include <string.h>

int cmd_spec(int argc, char **argv, const struct global_opts *g)
{
        enum { OPT_ROOTLESS = 1000, OPT_IMAGE };
        static const struct option opts[] = {
            {"bundle", required_argument, NULL, 'b'},
            {"image", required_argument, NULL, OPT_IMAGE},
            {"rootless", no_argument, NULL, OPT_ROOTLESS},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        const char *bundle = ".", *image = NULL;
        bool rootless = false;
        int c;
        cmd_getopt_begin();
        while ((c = getopt_long(argc, argv, ":b:h", opts, NULL)) != -1) {
                if (c == 'b') {
                        bundle = optarg;
                } else if (c == OPT_IMAGE) {
                        image = optarg;
                } else if (c == OPT_ROOTLESS) {
                        rootless = true;
                } else if (c == 'h') {
                        printf("Usage: capsa spec [-b|--bundle DIR] [--rootless] [--image REF]\n"
                               "Writes a default config.json into the bundle directory; with\n"
                               "--image, the config a container of the image gets and a copy of\n"
                               "the image's tree in rootfs/.\n");
                        return 0;
                } else {
                        return cmd_option_error("spec", c, argv);
                }
        }
        if (cmd_need_args("spec", argc, optind, 0, "no arguments"))
                return 1;
        struct cx_error *err = NULL;
        if (image)
                return image_spec_write(g->image_root, image, bundle, rootless, &err) < 0
                           ? cmd_fail(err)
                           : 0;
        _cleanup_free_ char *json = spec_default_json(rootless, getuid(), getgid());
        _cleanup_free_ char *path = xasprintf("%s/config.json", bundle);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0) {
                cx_error_set(&err, errno, "create `%s`%s", path,
                             errno == EEXIST ? " (remove it first)" : "");
                return cmd_fail(err);
        }
        size_t len = strlen(json);
        if (write(fd, json, len) != (ssize_t)len) {
                cx_error_set(&err, errno, "write `%s`", path);
                return cmd_fail(err);
        }
        return 0;
}

int cmd_features(int argc, char **argv, const struct global_opts *g)
{
        if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
                printf("Usage: capsa features\nPrints the OCI features document as JSON.\n");
                return 0;
        }
        if (cmd_need_args("features", argc, 1, 0, "no arguments"))
                return 1;
        _cleanup_free_ char *json = spec_features_json();
        fputs(json, stdout);
        return 0;
}
