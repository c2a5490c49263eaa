/* state: directories, locking, state.json round trip, OCI state encoding, status. */
#include "state/state.h"
#include "tap.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <yajl/yajl_tree.h>

static const char *jstr(yajl_val v, const char *k)
{
        const char *p[] = {k, NULL};
        yajl_val x = yajl_tree_get(v, p, yajl_t_string);
        return x ? YAJL_GET_STRING(x) : NULL;
}

static void test_ids(void)
{
        const char *good[] = {"a", "abc-123", "A.b_c+d", "0x", NULL};
        const char *bad[] = {"", "a/b", "..", ".", "-a", "a b", "a\n", "_x", NULL};
        for (int i = 0; good[i]; i++)
                ok(state_id_validate(good[i], NULL) == 0, "id `%s` is valid", good[i]);
        for (int i = 0; bad[i]; i++)
                ok(state_id_validate(bad[i], NULL) < 0, "id `%s` is invalid", bad[i]);
        struct cx_error *e = NULL;
        state_id_validate("a/b", &e);
        contains(e->msg, "a/b", "error names the id");
        cx_error_freep(&e);
        char long_id[1100];
        memset(long_id, 'a', sizeof(long_id) - 1);
        long_id[sizeof(long_id) - 1] = '\0';
        ok(state_id_validate(long_id, NULL) < 0, "ids longer than 1024 bytes are invalid");
}

int main(void)
{
        test_ids();
        char root[] = "/tmp/capsa-test-state-XXXXXX";
        ok(mkdtemp(root) != NULL, "mkdtemp");
        struct state_dir d;
        struct cx_error *e = NULL;
        ok(state_dir_create(root, "c1", &d, &e) == 0, "create dir");
        struct state_dir d2;
        ok(state_dir_create(root, "c1", &d2, &e) == -EEXIST, "duplicate id refused");
        contains(e ? e->msg : NULL, "already exists", "duplicate message");
        cx_error_freep(&e);
        ok(state_dir_create(root, "../x", &d2, &e) < 0, "invalid id refused");
        cx_error_freep(&e);

        char *ann[] = {"k", "v", NULL};
        char *dirs[] = {"/sys/fs/cgroup/x", NULL};
        struct state s = {.id = "c1",
                          .bundle = "/b",
                          .rootfs = "/b/rootfs",
                          .pid = getpid(),
                          .created = "2026-01-01T00:00:00.000000000Z",
                          .owner = "",
                          .annotations = ann,
                          .cgroup_driver = "cgroupfs",
                          .cgroup_dirs = dirs};
        ok(state_pid_start_time(getpid(), &s.pid_start_time) == 0, "own start time");
        ok(state_write(&d, &s, &e) == 0, "write state");
        struct state r;
        ok(state_read(&d, &r, &e) == 0, "read state");
        ok(r.pid == getpid() && r.pid_start_time == s.pid_start_time, "pid round trip");
        is_str(r.bundle, "/b", "bundle round trip");
        is_str(r.cgroup_dirs[0], "/sys/fs/cgroup/x", "cgroup dirs round trip");
        is_str(r.annotations[1], "v", "annotations round trip");

        ok(state_status_get(&d, &r, true) == STATE_RUNNING, "live init without fifo: running");
        mkfifoat(d.fd, "exec.fifo", 0600);
        ok(state_status_get(&d, &r, true) == STATE_CREATED, "live init with fifo: created");
        ok(state_status_get(&d, &r, false) == STATE_STOPPED, "init gone: stopped");
        r.pid_start_time++;
        ok(!state_pid_matches(r.pid, r.pid_start_time), "recycled pid (other start time)");

        pid_t child = fork();
        if (child == 0)
                _exit(0);
        waitpid(child, NULL, 0);
        ok(!state_pid_matches(child, 0), "dead pid does not match");

        char *json = state_oci_json(&s, STATE_RUNNING);
        yajl_val v = yajl_tree_parse(json, NULL, 0);
        ok(v != NULL, "OCI state is JSON");
        is_str(jstr(v, "status"), "running", "status");
        is_str(jstr(v, "id"), "c1", "id");
        is_str(jstr(v, "ociVersion"), "1.2.0", "ociVersion");
        const char *ap[] = {"annotations", "k", NULL};
        yajl_val a = yajl_tree_get(v, ap, yajl_t_string);
        is_str(a ? YAJL_GET_STRING(a) : NULL, "v", "annotations");
        yajl_tree_free(v);
        free(json);
        json = state_oci_json(&s, STATE_STOPPED);
        contains(json, "\"pid\": 0", "stopped state reports pid 0");
        free(json);

        char **ids = NULL;
        ok(state_list_ids(root, &ids, &e) == 0 && strv_len(ids) == 1, "list ids");
        strv_free(ids);
        ok(state_dir_remove(&d, &e) == 0, "remove dir");
        state_dir_close(&d);
        ok(state_dir_open(root, "c1", &d, &e) == -ENOENT, "removed container does not exist");
        contains(e ? e->msg : NULL, "does not exist", "message");
        cx_error_freep(&e);
        state_clear(&r);
        rmdir(root);
        return tap_done();
}
