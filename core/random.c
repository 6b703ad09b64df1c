#include "random.h"

#include <errno.h>
#include <sys/random.h>

#include "err.h"

int cg_random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return CG_EIO;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

int cg_random_token(char *out, size_t n)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    size_t i = 0;
    while (i < n) {
        unsigned char b[64];
        int rc = cg_random_bytes(b, sizeof(b));
        if (rc)
            return rc;
        /* Rejection sampling keeps the characters uniform: 248 = 4 * 62. */
        for (size_t k = 0; k < sizeof(b) && i < n; k++)
            if (b[k] < 248)
                out[i++] = alphabet[b[k] % 62];
    }
    out[n] = '\0';
    return 0;
}

uint32_t cg_random_u32(void)
{
    uint32_t v = 0;
    cg_random_bytes(&v, sizeof(v));
    return v;
}
