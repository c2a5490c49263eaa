/* A container's config.json from an image's config (src/image/config.c, image_config_json):
 * what is taken from the image, and that a member of the wrong type is refused by its JSON path
 * rather than ignored (found by tests/fuzz/fuzz-imageconfig: "User": 1000 ran as root). */
#include "image/image-internal.h"
#include "tap.h"
#include "util/json.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

static char top[64];
static char *lowers[2];

static void setup(void)
{
        strcpy(top, "/tmp/capsa-test-image-config-XXXXXX");
        if (!mkdtemp(top))
                abort();
        lowers[0] = xasprintf("%s/lower", top);
        lowers[1] = xasprintf("%s/upper", top);
        _cleanup_free_ char *etc = xasprintf("%s/etc", lowers[0]);
        if (mkdir(lowers[0], 0755) < 0 || mkdir(lowers[1], 0755) < 0 || mkdir(etc, 0755) < 0)
                abort();
        const char *pw = "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";
        const char *gr = "root:x:0:\nwheel:x:10:app\napp:x:1000:\n";
        int dir = open(etc, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0)
                abort();
        int fd = openat(dir, "passwd", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        int fd2 = openat(dir, "group", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0 || fd2 < 0 || write(fd, pw, strlen(pw)) < 0 || write(fd2, gr, strlen(gr)) < 0)
                abort();
        close(fd);
        close(fd2);
        close(dir);
}

static void teardown(void)
{
        int fd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        rm_rf_at(fd, "lower");
        rm_rf_at(fd, "upper");
        close(fd);
        rmdir(top);
        free(lowers[0]);
        free(lowers[1]);
}

/* config.json for the image config json (NULL on failure, *msg the error) */
static char *make(const char *json, const struct image_run_opts *o, char **msg)
{
        static const struct image_run_opts none = {.id = "t"};
        struct cx_error *err = NULL;
        char *out = NULL;
        *msg = NULL;
        if (image_config_json(json, strlen(json), lowers, 2, o ? o : &none, &out, &err) < 0) {
                *msg = xstrdup(err->msg);
                cx_error_free(err);
                return NULL;
        }
        return out;
}

static void test_taken_from_the_image(void)
{
        const char *cfg = "{\"config\":{\"Entrypoint\":[\"/ep\"],\"Cmd\":[\"a\",\"b\"],"
                          "\"Env\":[\"X=1\"],\"WorkingDir\":\"/w\",\"User\":\"app:wheel\","
                          "\"Labels\":{\"k\":\"v\"},\"StopSignal\":\"SIGQUIT\"}}";
        _cleanup_free_ char *msg = NULL;
        _cleanup_free_ char *out = make(cfg, NULL, &msg);
        ok(out != NULL, "a full image config makes a config.json (%s)", msg ? msg : "");
        struct json_val *doc = NULL;
        struct cx_error *err = NULL;
        if (!out || json_parse(out, strlen(out), "config.json", &doc, &err) < 0) {
                cx_error_free(err);
                return;
        }
        const struct json_val *p = json_val_get(doc, "process");
        const struct json_val *args = json_val_get(p, "args");
        ok(json_val_len(args) == 3, "args: Entrypoint then Cmd");
        is_str(json_val_str(json_val_at(args, 0)), "/ep", "args[0] is the Entrypoint");
        is_str(json_val_str(json_val_get(p, "cwd")), "/w", "cwd is WorkingDir");
        int64_t uid = -1, gid = -1;
        json_val_int(json_val_get(json_val_get(p, "user"), "uid"), &uid);
        json_val_int(json_val_get(json_val_get(p, "user"), "gid"), &gid);
        ok(uid == 1000 && gid == 10, "user app:wheel is 1000:10 from the image's files");
        const struct json_val *ann = json_val_get(doc, "annotations");
        is_str(json_val_str(json_val_get(ann, "k")), "v", "a label is an annotation");
        is_str(json_val_str(json_val_get(ann, "org.opencontainers.image.stopSignal")), "SIGQUIT",
               "the stop signal is an annotation");
        json_val_free(doc);
}

static void test_nulls_are_absent(void)
{
        const char *cfg = "{\"config\":{\"Entrypoint\":null,\"Cmd\":[\"sh\"],\"Env\":null,"
                          "\"WorkingDir\":null,\"User\":null,\"Labels\":null,\"StopSignal\":null}}";
        _cleanup_free_ char *msg = NULL;
        _cleanup_free_ char *out = make(cfg, NULL, &msg);
        ok(out != NULL, "null members are taken as absent (docker writes them) (%s)",
           msg ? msg : "");
        _cleanup_free_ char *msg2 = NULL;
        char *cmd[] = {"true", NULL};
        const struct image_run_opts o = {.id = "t", .cmd = cmd};
        _cleanup_free_ char *out2 = make("{\"architecture\":\"amd64\"}", &o, &msg2);
        ok(out2 != NULL, "no config member at all: the command given is enough (%s)",
           msg2 ? msg2 : "");
}

static void test_wrong_types_refused(void)
{
        static const struct {
                const char *json, *needle;
        } cases[] = {
            {"{\"config\":{\"Cmd\":[\"sh\"],\"User\":1000}}", "config.User: expected a string"},
            {"{\"config\":{\"Cmd\":[\"sh\"],\"WorkingDir\":[\"/\"]}}",
             "config.WorkingDir: expected a string"},
            {"{\"config\":{\"Cmd\":[\"sh\"],\"StopSignal\":9}}",
             "config.StopSignal: expected a string"},
            {"{\"config\":{\"Cmd\":{\"a\":\"sh\"}}}", "config.Cmd: expected an array of strings"},
            {"{\"config\":{\"Cmd\":\"sh\"}}", "config.Cmd: expected an array of strings"},
            {"{\"config\":{\"Entrypoint\":\"/ep\",\"Cmd\":[\"sh\"]}}",
             "config.Entrypoint: expected an array of strings"},
            {"{\"config\":{\"Cmd\":[\"sh\"],\"Env\":\"A=1\"}}",
             "config.Env: expected an array of strings"},
            {"{\"config\":{\"Cmd\":[\"sh\",1]}}", "config.Cmd[1]: not a string"},
            {"{\"config\":{\"Cmd\":[\"sh\"],\"Labels\":[\"a\"]}}",
             "config.Labels: expected an object"},
            {"{\"config\":{\"Cmd\":[\"sh\"],\"Labels\":{\"n\":1}}}",
             "config.Labels.n: expected a string"},
            {"{\"config\":[\"sh\"]}", "image config: config: expected an object"},
            {"[{\"config\":{\"Cmd\":[\"sh\"]}}]", "image config: expected a JSON object"},
        };
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                _cleanup_free_ char *msg = NULL;
                _cleanup_free_ char *out = make(cases[i].json, NULL, &msg);
                ok(out == NULL, "refused: %s", cases[i].json);
                contains(msg, cases[i].needle, "the error names it: %s", cases[i].needle);
        }
}

int main(void)
{
        setup();
        test_taken_from_the_image();
        test_nulls_are_absent();
        test_wrong_types_refused();
        teardown();
        return tap_done();
}
