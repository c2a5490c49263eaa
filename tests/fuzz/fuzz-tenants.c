/* libFuzzer harness: the tenant registry, ROOT/tenants.json, through state_tenant_list (the
 * file format is private to state/tenant.c; the harness writes each input to a private root). */
#include "state/state.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[64];

static void cleanup(void)
{
        char p[128];
        snprintf(p, sizeof(p), "%s/tenants.json", root);
        unlink(p);
        snprintf(p, sizeof(p), "%s/tenants.lock", root);
        unlink(p);
        rmdir(root);
}

static void setup(void)
{
        strcpy(root, "/tmp/capsa-fuzz-tenants-XXXXXX");
        if (!mkdtemp(root))
                abort();
        char lock[128];
        snprintf(lock, sizeof(lock), "%s/tenants.lock", root);
        int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
                abort();
        close(fd);
        atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (!root[0])
                setup();
        char path[128];
        snprintf(path, sizeof(path), "%s/tenants.json", root);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, data, size) != (ssize_t)size)
                abort();
        close(fd);
        struct cx_error *err = NULL;
        struct state_tenant *v = NULL;
        size_t n = 0;
        if (state_tenant_list(root, &v, &n, &err) == 0)
                state_tenants_free(v, n);
        cx_error_free(err);
        return 0;
}
