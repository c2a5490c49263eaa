/* The libraries of the image code, loaded on first use (see image-internal.h for why). */
#define IMAGE_LIB_NO_RENAME
#include "image/image-internal.h"

#include <dlfcn.h>

#define IMAGE_LIB_PTR_DEF(f) __typeof__(f) *image_dl_##f;
IMAGE_CRYPTO_FUNCS(IMAGE_LIB_PTR_DEF)
IMAGE_ARCHIVE_FUNCS(IMAGE_LIB_PTR_DEF)
IMAGE_CURL_FUNCS(IMAGE_LIB_PTR_DEF)

struct lib {
        enum image_lib bit;
        const char *soname;
        const char *package;
};
static const struct lib libs[] = {
    {IMAGE_LIB_CRYPTO, "libcrypto.so.3", "libssl3"},
    {IMAGE_LIB_ARCHIVE, "libarchive.so.13", "libarchive13"},
    {IMAGE_LIB_CURL, "libcurl.so.4", "libcurl4"},
};
static unsigned loaded;

static int sym(void *h, const struct lib *l, const char *name, void **ret, struct cx_error **err)
{
        *ret = dlsym(h, name);
        if (!*ret)
                return cx_error_msg(err, ENOSYS, "%s has no `%s` (package %s too old?)", l->soname,
                                    name, l->package);
        return 0;
}

#define IMAGE_LIB_SYM(f)                                                                           \
        if ((r = sym(h, l, #f, (void **)&image_dl_##f, err)) < 0)                                  \
                return r;

static int load_one(const struct lib *l, struct cx_error **err)
{
        void *h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL);
        if (!h)
                return cx_error_msg(err, ENOENT,
                                    "cannot load %s (install the Debian package %s): %s", l->soname,
                                    l->package, dlerror());
        int r = 0;
        switch (l->bit) {
        case IMAGE_LIB_CRYPTO:
                IMAGE_CRYPTO_FUNCS(IMAGE_LIB_SYM)
                break;
        case IMAGE_LIB_ARCHIVE:
                IMAGE_ARCHIVE_FUNCS(IMAGE_LIB_SYM)
                break;
        case IMAGE_LIB_CURL:
                IMAGE_CURL_FUNCS(IMAGE_LIB_SYM)
                if (image_dl_curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                        return cx_error_msg(err, EIO, "curl_global_init failed");
                break;
        }
        return r;
}

int image_libs_load(unsigned mask, struct cx_error **err)
{
        for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++) {
                if (!(mask & libs[i].bit) || (loaded & libs[i].bit))
                        continue;
                int r = load_one(&libs[i], err);
                if (r < 0)
                        return r;
                loaded |= libs[i].bit;
        }
        return 0;
}
