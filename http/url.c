/* URL and header parsers of the HTTP server: percent-decoding, query
 * lookup and Range. Sans-I/O, exposed in http/server.h for tests and
 * fuzzing. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "http/server.h"

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int cg_http_pct_decode(const char *in, size_t len, bool plus_space, char *out, size_t cap,
                       size_t *outlen)
{
    if (cap < len + 1)
        return CG_ENOSPC;
    cg_rd r;
    cg_rd_init(&r, in, len);
    size_t o = 0;
    uint8_t c, h, l;
    while (cg_rd_u8(&r, &c) == 0) {
        if (c == '%') {
            if (cg_rd_u8(&r, &h) || cg_rd_u8(&r, &l) || hexval(h) < 0 || hexval(l) < 0)
                return CG_EPROTO;
            c = (uint8_t)(hexval(h) << 4 | hexval(l));
            if (c == 0)
                return CG_EPROTO;
        } else if (c == '+' && plus_space) {
            c = ' ';
        } else if (c == 0) {
            return CG_EPROTO;
        }
        out[o++] = (char)c;
    }
    out[o] = '\0';
    if (outlen)
        *outlen = o;
    return 0;
}

int cg_http_query_get(const char *query, const char *name, char *out, size_t cap, size_t *outlen)
{
    if (!query || !name)
        return CG_ENOTFOUND;
    size_t qlen = strlen(query);
    size_t name_len = strlen(name);
    cg_rd r;
    cg_rd_init(&r, query, qlen);
    while (cg_rd_left(&r)) {
        /* One "key[=value]" pair up to the next "&". */
        const char *pair = (const char *)cg_rd_cur(&r);
        const char *amp = memchr(pair, '&', cg_rd_left(&r));
        size_t plen = amp ? (size_t)(amp - pair) : cg_rd_left(&r);
        cg_rd_skip(&r, plen + (amp ? 1 : 0));
        const char *eq = memchr(pair, '=', plen);
        size_t klen = eq ? (size_t)(eq - pair) : plen;
        /* A key decodes to at most klen bytes: compare only plausible ones. */
        if (klen < name_len)
            continue;
        char kbuf[256];
        size_t kdec;
        if (klen >= sizeof(kbuf) || cg_http_pct_decode(pair, klen, true, kbuf, sizeof(kbuf), &kdec))
            continue;
        if (kdec != name_len || memcmp(kbuf, name, name_len) != 0)
            continue;
        if (!eq) {
            if (cap < 1)
                return CG_ENOSPC;
            out[0] = '\0';
            if (outlen)
                *outlen = 0;
            return 0;
        }
        return cg_http_pct_decode(eq + 1, plen - klen - 1, true, out, cap, outlen);
    }
    return CG_ENOTFOUND;
}

static bool eat_ows(cg_rd *r)
{
    while (cg_rd_left(r) && (cg_rd_cur(r)[0] == ' ' || cg_rd_cur(r)[0] == '\t'))
        cg_rd_skip(r, 1);
    return true;
}

/* Digits into *v; CG_EPROTO if none or overflow. */
int cg_http_rd_digits(cg_rd *r, uint64_t *v, bool *any)
{
    *v = 0;
    *any = false;
    while (cg_rd_left(r) && cg_rd_cur(r)[0] >= '0' && cg_rd_cur(r)[0] <= '9') {
        uint8_t c;
        cg_rd_u8(r, &c);
        if (__builtin_mul_overflow(*v, 10, v) || __builtin_add_overflow(*v, c - '0', v))
            return CG_EPROTO;
        *any = true;
    }
    return 0;
}

int cg_http_range_parse(const char *value, uint64_t size, uint64_t *start, uint64_t *len)
{
    if (!value)
        return CG_EPROTO;
    cg_rd r;
    cg_rd_init(&r, value, strlen(value));
    eat_ows(&r);
    if (cg_rd_left(&r) < 6 || strncasecmp((const char *)cg_rd_cur(&r), "bytes=", 6) != 0) {
        /* "items=1-2" is another unit; anything without "=" is malformed. */
        return memchr(cg_rd_cur(&r), '=', cg_rd_left(&r)) ? CG_EUNSUPP : CG_EPROTO;
    }
    cg_rd_skip(&r, 6);
    if (memchr(cg_rd_cur(&r), ',', cg_rd_left(&r)))
        return CG_EUNSUPP; /* multipart/byteranges is not worth it */
    eat_ows(&r);
    uint64_t first = 0, last = 0;
    bool has_first, has_last;
    uint8_t dash;
    if (cg_http_rd_digits(&r, &first, &has_first) || cg_rd_u8(&r, &dash) || dash != '-' ||
        cg_http_rd_digits(&r, &last, &has_last))
        return CG_EPROTO;
    eat_ows(&r);
    if (cg_rd_left(&r) || (!has_first && !has_last))
        return CG_EPROTO;
    if (!has_first) {
        /* Suffix range: the last `last` bytes. */
        if (last == 0 || size == 0)
            return CG_ERANGE;
        *len = last < size ? last : size;
        *start = size - *len;
        return 0;
    }
    if (has_last && last < first)
        return CG_EPROTO;
    if (first >= size)
        return CG_ERANGE;
    if (!has_last || last >= size)
        last = size - 1;
    *start = first;
    *len = last - first + 1;
    return 0;
}
