/* Bounds-checked byte reader and writer used by every parser and builder.
 *
 * The reader never reads past its end: each getter checks the remaining
 * length first and returns CG_ETRUNC without moving. The writer has a sticky
 * error: once a write does not fit, every later write is a no-op and
 * cg_wr_err() reports CG_ENOSPC, so builders check once at the end.
 * Multi-byte integers are network byte order (big-endian). */
#ifndef CG_BUF_H
#define CG_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct cg_rd {
    const uint8_t *p;
    size_t len;
    size_t pos;
} cg_rd;

static inline void cg_rd_init(cg_rd *r, const void *p, size_t len)
{
    r->p = (const uint8_t *)p;
    r->len = len;
    r->pos = 0;
}

static inline size_t cg_rd_left(const cg_rd *r) { return r->len - r->pos; }
/* Borrows: pointer to the unread bytes; valid as long as the input is. */
static inline const uint8_t *cg_rd_cur(const cg_rd *r) { return r->p + r->pos; }

int cg_rd_u8(cg_rd *r, uint8_t *v);
int cg_rd_u16(cg_rd *r, uint16_t *v);
int cg_rd_u24(cg_rd *r, uint32_t *v);
int cg_rd_u32(cg_rd *r, uint32_t *v);
int cg_rd_u64(cg_rd *r, uint64_t *v);
int cg_rd_bytes(cg_rd *r, void *dst, size_t n);
int cg_rd_skip(cg_rd *r, size_t n);
/* Gives a borrowed pointer to the next n bytes and advances past them. */
int cg_rd_ptr(cg_rd *r, const uint8_t **p, size_t n);
/* Sub-reader over the next n bytes; advances the parent past them. */
int cg_rd_sub(cg_rd *r, cg_rd *sub, size_t n);
/* Sub-reader over the bytes up to the first sep (which is consumed), or over
 * the rest of r when there is none. For text protocols (SDP, headers). */
cg_rd cg_rd_field(cg_rd *r, char sep);

typedef struct cg_wr {
    uint8_t *p;
    size_t cap;
    size_t pos;
    int err;
} cg_wr;

static inline void cg_wr_init(cg_wr *w, void *p, size_t cap)
{
    w->p = (uint8_t *)p;
    w->cap = cap;
    w->pos = 0;
    w->err = 0;
}

/* 0, or CG_ENOSPC if any write so far did not fit. */
static inline int cg_wr_err(const cg_wr *w) { return w->err; }
static inline size_t cg_wr_len(const cg_wr *w) { return w->pos; }

void cg_wr_u8(cg_wr *w, uint8_t v);
void cg_wr_u16(cg_wr *w, uint16_t v);
void cg_wr_u24(cg_wr *w, uint32_t v);
void cg_wr_u32(cg_wr *w, uint32_t v);
void cg_wr_u64(cg_wr *w, uint64_t v);
void cg_wr_bytes(cg_wr *w, const void *src, size_t n);
void cg_wr_zero(cg_wr *w, size_t n);
/* Overwrite at an absolute offset already written (length fields). */
void cg_wr_put_u16_at(cg_wr *w, size_t off, uint16_t v);
void cg_wr_put_u32_at(cg_wr *w, size_t off, uint32_t v);

/* Load/store helpers for code that already checked its bounds. */
static inline uint16_t cg_load_u16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t cg_load_u32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void cg_store_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void cg_store_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* Growable text/byte buffer that refuses to grow past max (curl's dynbuf).
 * Like cg_wr, errors are sticky. */
typedef struct cg_dbuf {
    char *p;
    size_t len;
    size_t cap;
    size_t max;
    int err;
} cg_dbuf;

void cg_dbuf_init(cg_dbuf *d, size_t max);
void cg_dbuf_add(cg_dbuf *d, const void *src, size_t n);
void cg_dbuf_adds(cg_dbuf *d, const char *s);
void cg_dbuf_printf(cg_dbuf *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* 0, CG_ENOSPC (max reached) or CG_ENOMEM. */
static inline int cg_dbuf_err(const cg_dbuf *d) { return d->err; }
/* NUL-terminated contents (never NULL; "" when empty). Borrowed. */
const char *cg_dbuf_str(const cg_dbuf *d);
/* Gives the heap buffer to the caller (free() it) and resets d. */
char *cg_dbuf_take(cg_dbuf *d, size_t *len);
void cg_dbuf_free(cg_dbuf *d);

#endif
