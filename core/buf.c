#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

int cg_rd_u8(cg_rd *r, uint8_t *v)
{
    if (cg_rd_left(r) < 1)
        return CG_ETRUNC;
    *v = r->p[r->pos++];
    return 0;
}

int cg_rd_u16(cg_rd *r, uint16_t *v)
{
    if (cg_rd_left(r) < 2)
        return CG_ETRUNC;
    *v = cg_load_u16(r->p + r->pos);
    r->pos += 2;
    return 0;
}

int cg_rd_u24(cg_rd *r, uint32_t *v)
{
    if (cg_rd_left(r) < 3)
        return CG_ETRUNC;
    const uint8_t *p = r->p + r->pos;
    *v = ((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 8) | p[2];
    r->pos += 3;
    return 0;
}

int cg_rd_u32(cg_rd *r, uint32_t *v)
{
    if (cg_rd_left(r) < 4)
        return CG_ETRUNC;
    *v = cg_load_u32(r->p + r->pos);
    r->pos += 4;
    return 0;
}

int cg_rd_u64(cg_rd *r, uint64_t *v)
{
    if (cg_rd_left(r) < 8)
        return CG_ETRUNC;
    *v = ((uint64_t)cg_load_u32(r->p + r->pos) << 32) | cg_load_u32(r->p + r->pos + 4);
    r->pos += 8;
    return 0;
}

int cg_rd_bytes(cg_rd *r, void *dst, size_t n)
{
    if (cg_rd_left(r) < n)
        return CG_ETRUNC;
    if (n)
        memcpy(dst, r->p + r->pos, n);
    r->pos += n;
    return 0;
}

int cg_rd_skip(cg_rd *r, size_t n)
{
    if (cg_rd_left(r) < n)
        return CG_ETRUNC;
    r->pos += n;
    return 0;
}

int cg_rd_ptr(cg_rd *r, const uint8_t **p, size_t n)
{
    if (cg_rd_left(r) < n)
        return CG_ETRUNC;
    *p = r->p + r->pos;
    r->pos += n;
    return 0;
}

int cg_rd_sub(cg_rd *r, cg_rd *sub, size_t n)
{
    if (cg_rd_left(r) < n)
        return CG_ETRUNC;
    cg_rd_init(sub, r->p + r->pos, n);
    r->pos += n;
    return 0;
}

cg_rd cg_rd_field(cg_rd *r, char sep)
{
    const uint8_t *p = cg_rd_cur(r);
    size_t left = cg_rd_left(r);
    const uint8_t *hit = left ? memchr(p, sep, left) : NULL;
    size_t n = hit ? (size_t)(hit - p) : left;
    cg_rd f;
    cg_rd_sub(r, &f, n); /* n <= left: cannot fail */
    if (hit)
        cg_rd_skip(r, 1);
    return f;
}

static uint8_t *wr_reserve(cg_wr *w, size_t n)
{
    if (w->err || w->cap - w->pos < n) {
        w->err = CG_ENOSPC;
        return NULL;
    }
    uint8_t *p = w->p + w->pos;
    w->pos += n;
    return p;
}

void cg_wr_u8(cg_wr *w, uint8_t v)
{
    uint8_t *p = wr_reserve(w, 1);
    if (p)
        p[0] = v;
}

void cg_wr_u16(cg_wr *w, uint16_t v)
{
    uint8_t *p = wr_reserve(w, 2);
    if (p)
        cg_store_u16(p, v);
}

void cg_wr_u24(cg_wr *w, uint32_t v)
{
    uint8_t *p = wr_reserve(w, 3);
    if (p) {
        p[0] = (uint8_t)(v >> 16);
        p[1] = (uint8_t)(v >> 8);
        p[2] = (uint8_t)v;
    }
}

void cg_wr_u32(cg_wr *w, uint32_t v)
{
    uint8_t *p = wr_reserve(w, 4);
    if (p)
        cg_store_u32(p, v);
}

void cg_wr_u64(cg_wr *w, uint64_t v)
{
    uint8_t *p = wr_reserve(w, 8);
    if (p) {
        cg_store_u32(p, (uint32_t)(v >> 32));
        cg_store_u32(p + 4, (uint32_t)v);
    }
}

void cg_wr_bytes(cg_wr *w, const void *src, size_t n)
{
    uint8_t *p = wr_reserve(w, n);
    if (p && n)
        memcpy(p, src, n);
}

void cg_wr_zero(cg_wr *w, size_t n)
{
    uint8_t *p = wr_reserve(w, n);
    if (p && n)
        memset(p, 0, n);
}

void cg_wr_put_u16_at(cg_wr *w, size_t off, uint16_t v)
{
    if (!w->err && off + 2 <= w->pos)
        cg_store_u16(w->p + off, v);
}

void cg_wr_put_u32_at(cg_wr *w, size_t off, uint32_t v)
{
    if (!w->err && off + 4 <= w->pos)
        cg_store_u32(w->p + off, v);
}

void cg_dbuf_init(cg_dbuf *d, size_t max)
{
    memset(d, 0, sizeof(*d));
    d->max = max;
}

static int dbuf_grow(cg_dbuf *d, size_t extra)
{
    if (d->err)
        return d->err;
    /* +1 keeps room for the terminating NUL. */
    if (extra > d->max || d->len + extra + 1 > d->max) {
        d->err = CG_ENOSPC;
        return d->err;
    }
    size_t need = d->len + extra + 1;
    if (need <= d->cap)
        return 0;
    size_t cap = d->cap ? d->cap : 256;
    while (cap < need)
        cap *= 2;
    if (cap > d->max)
        cap = d->max;
    char *p = realloc(d->p, cap);
    if (!p) {
        d->err = CG_ENOMEM;
        return d->err;
    }
    d->p = p;
    d->cap = cap;
    return 0;
}

void cg_dbuf_add(cg_dbuf *d, const void *src, size_t n)
{
    if (dbuf_grow(d, n))
        return;
    if (n)
        memcpy(d->p + d->len, src, n);
    d->len += n;
    d->p[d->len] = '\0';
}

void cg_dbuf_adds(cg_dbuf *d, const char *s)
{
    cg_dbuf_add(d, s, strlen(s));
}

void cg_dbuf_printf(cg_dbuf *d, const char *fmt, ...)
{
    if (d->err)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        d->err = CG_EINVAL;
        return;
    }
    if (dbuf_grow(d, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(d->p + d->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    d->len += (size_t)n;
}

const char *cg_dbuf_str(const cg_dbuf *d)
{
    return d->p ? d->p : "";
}

char *cg_dbuf_take(cg_dbuf *d, size_t *len)
{
    char *p = d->p;
    if (len)
        *len = d->len;
    if (!p)
        p = calloc(1, 1);
    d->p = NULL;
    d->len = d->cap = 0;
    d->err = 0;
    return p;
}

void cg_dbuf_free(cg_dbuf *d)
{
    free(d->p);
    d->p = NULL;
    d->len = d->cap = 0;
}
