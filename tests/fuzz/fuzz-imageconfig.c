/* libFuzzer harness: an image's config blob (Entrypoint, Cmd, Env, WorkingDir, User, Labels,
 * StopSignal) turned into a container's config.json by image_config_json, the way `run --image`
 * does.  The layers are two directories made once: the lower one holds a small etc/passwd and
 * etc/group (the image's User is looked up there), the upper one is empty.  Whatever the image
 * says, a config.json that is made must be one capsa itself takes (spec_parse, spec_validate). */
#include "image/image-internal.h"
#include "spec/spec.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
                             "daemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n"
                             "# a comment\n"
                             "app:x:1000:1000:App,,,:/home/app:/bin/sh\n"
                             "broken:x:notanumber:1::/:\n"
                             "short:x\n";
static const char group[] = "root:x:0:\n"
                            "daemon:x:1:app\n"
                            "wheel:x:10:root,app\n"
                            "app:x:1000:\n"
                            "staff:x:50:app,other\n";

static char top[64];
static char *lowers[3];

static void cleanup(void)
{
        int fd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
                rm_rf_at(fd, "lower");
                rm_rf_at(fd, "upper");
                close(fd);
        }
        rmdir(top);
        free(lowers[0]);
        free(lowers[1]);
}

static void put(const char *path, const char *text)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
                abort();
        close(fd);
}

static void setup(void)
{
        strcpy(top, "/tmp/capsa-fuzz-imageconfig-XXXXXX");
        if (!mkdtemp(top))
                abort();
        atexit(cleanup);
        lowers[0] = xasprintf("%s/lower", top);
        lowers[1] = xasprintf("%s/upper", top);
        _cleanup_free_ char *etc = xasprintf("%s/etc", lowers[0]);
        _cleanup_free_ char *pw = xasprintf("%s/passwd", etc);
        _cleanup_free_ char *gr = xasprintf("%s/group", etc);
        if (mkdir(lowers[0], 0755) < 0 || mkdir(lowers[1], 0755) < 0 || mkdir(etc, 0755) < 0)
                abort();
        put(pw, passwd);
        put(gr, group);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (!top[0])
                setup();
        char *env[] = {"A=1", "PATH=/fuzz/bin", NULL};
        const struct image_run_opts o = {.id = "fuzz", .env = env, .tty = true, .memory = 1 << 26};
        struct cx_error *err = NULL;
        char *json = NULL;
        if (image_config_json((const char *)data, size, lowers, 2, &o, &json, &err) == 0) {
                struct spec *s = NULL;
                if (spec_parse(json, strlen(json), "config.json", "/bundle", &s, &err) < 0 ||
                    spec_validate(s, &err) < 0) {
                        fprintf(stderr, "config.json made from the image is refused: %s\n%s\n",
                                err->msg, json);
                        abort();
                }
                spec_free(s);
                free(json);
        }
        cx_error_free(err);
        return 0;
}
