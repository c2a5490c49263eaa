/* sha256 digests, through libcrypto's EVP interface. */
#include "image/image-internal.h"

#include <string.h>

struct image_hash {
        EVP_MD_CTX *ctx;
};

bool image_digest_valid(const char *d)
{
        if (!d || strncmp(d, "sha256:", 7) != 0 || strlen(d) != IMAGE_DIGEST_LEN)
                return false;
        for (const char *p = d + 7; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
                        return false;
        return true;
}

struct image_hash *image_hash_new(void)
{
        struct image_hash *h = xcalloc(1, sizeof(*h));
        h->ctx = EVP_MD_CTX_new();
        if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
                abort(); /* out of memory */
        return h;
}

void image_hash_update(struct image_hash *h, const void *data, size_t len)
{
        EVP_DigestUpdate(h->ctx, data, len);
}

void image_hash_final(struct image_hash *h, char out[IMAGE_DIGEST_LEN + 1])
{
        unsigned char md[32];
        unsigned n = 0;
        EVP_DigestFinal_ex(h->ctx, md, &n);
        memcpy(out, "sha256:", 7);
        for (unsigned i = 0; i < 32; i++)
                snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
        image_hash_free(h);
}

void image_hash_free(struct image_hash *h)
{
        if (!h)
                return;
        EVP_MD_CTX_free(h->ctx);
        free(h);
}

void image_digest_of(const void *data, size_t len, char out[IMAGE_DIGEST_LEN + 1])
{
        struct image_hash *h = image_hash_new();
        image_hash_update(h, data, len);
        image_hash_final(h, out);
}
