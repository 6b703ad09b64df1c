/* Timeline model, snapshots and the index line format (see timeline.h). */
#include "packager/timeline.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

/* Segments per chunk. Chunks never move once allocated, which is what lets
 * snapshots read them without the lock. */
#define CHUNK 256

struct cg_timeline {
    pthread_mutex_t mu;
    int refs;
    cg_tl_info info;
    cg_tl_segment **chunks;
    size_t nchunks; /* allocated chunk slots in use */
    size_t chunks_cap;
    size_t count;
};

struct cg_tl_snap {
    cg_timeline *tl;
    cg_tl_segment **chunks;
    size_t count;
    cg_tl_info info;
};

int cg_tl_id_valid(const char *id)
{
    if (!id)
        return 0;
    size_t n = strnlen(id, CG_TL_ID_MAX + 1);
    if (n == 0 || n > CG_TL_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int cg_timeline_new(cg_timeline **out, const char *id, uint32_t timescale)
{
    if (!out || !cg_tl_id_valid(id) || timescale == 0)
        return CG_EINVAL;
    cg_timeline *tl = calloc(1, sizeof(*tl));
    if (!tl)
        return CG_ENOMEM;
    pthread_mutex_init(&tl->mu, NULL);
    tl->refs = 1;
    memcpy(tl->info.id, id, strlen(id) + 1);
    tl->info.timescale = timescale;
    tl->info.state = CG_TL_LIVE;
    *out = tl;
    return 0;
}

cg_timeline *cg_timeline_ref(cg_timeline *tl)
{
    __atomic_add_fetch(&tl->refs, 1, __ATOMIC_RELAXED);
    return tl;
}

static void free_timeline(cg_timeline *tl)
{
    for (size_t c = 0; c < tl->nchunks; c++) {
        size_t n = tl->count - c * CHUNK < CHUNK ? tl->count - c * CHUNK : CHUNK;
        for (size_t i = 0; i < n; i++)
            free((void *)tl->chunks[c][i].keys);
        free(tl->chunks[c]);
    }
    free(tl->chunks);
    pthread_mutex_destroy(&tl->mu);
    free(tl);
}

cg_timeline *cg_timeline_unref(cg_timeline *tl)
{
    if (tl && __atomic_sub_fetch(&tl->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free_timeline(tl);
    return NULL;
}

static const cg_tl_segment *seg_at(cg_tl_segment *const *chunks, size_t i)
{
    return &chunks[i / CHUNK][i % CHUNK];
}

static int keys_valid(const cg_tl_segment *seg)
{
    if (seg->nkeys > CG_TL_MAX_KEYS || (seg->nkeys && !seg->keys))
        return 0;
    for (uint32_t k = 0; k < seg->nkeys; k++) {
        if (seg->keys[k] < seg->start || seg->keys[k] - seg->start >= seg->duration)
            return 0;
        if (k && seg->keys[k] <= seg->keys[k - 1])
            return 0;
    }
    return 1;
}

/* A segment that could be the next one after prev (NULL for the first). */
static int seg_fits(const cg_tl_segment *prev, const cg_tl_segment *seg, size_t count)
{
    if (seg->seq != count || seg->start < 0 || seg->duration <= 0 ||
        seg->start > INT64_MAX - seg->duration || !keys_valid(seg))
        return 0;
    /* Gaps are allowed (lost segments), overlaps are not. */
    if (prev && (seg->start < prev->start + prev->duration || seg->period < prev->period))
        return 0;
    return 1;
}

int cg_timeline_append(cg_timeline *tl, const cg_tl_segment *seg)
{
    if (!tl || !seg)
        return CG_EINVAL;
    int64_t *keys = NULL;
    if (seg->nkeys && seg->nkeys <= CG_TL_MAX_KEYS && seg->keys) {
        keys = malloc(seg->nkeys * sizeof(*keys));
        if (!keys)
            return CG_ENOMEM;
        memcpy(keys, seg->keys, seg->nkeys * sizeof(*keys));
    }
    int rc = 0;
    pthread_mutex_lock(&tl->mu);
    const cg_tl_segment *prev = tl->count ? seg_at(tl->chunks, tl->count - 1) : NULL;
    if (tl->info.state != CG_TL_LIVE) {
        rc = CG_ESTATE;
    } else if (tl->count >= CG_TL_MAX_SEGMENTS) {
        rc = CG_ELIMIT;
    } else if (!seg_fits(prev, seg, tl->count)) {
        rc = CG_EINVAL;
    } else if (tl->count % CHUNK == 0) {
        if (tl->nchunks == tl->chunks_cap) {
            /* The table moves, the chunks do not: snapshots hold copies of
             * the table. */
            size_t cap = tl->chunks_cap ? tl->chunks_cap * 2 : 8;
            cg_tl_segment **t = realloc(tl->chunks, cap * sizeof(*t));
            if (!t)
                rc = CG_ENOMEM;
            else {
                tl->chunks = t;
                tl->chunks_cap = cap;
            }
        }
        if (!rc) {
            tl->chunks[tl->nchunks] = calloc(CHUNK, sizeof(cg_tl_segment));
            if (!tl->chunks[tl->nchunks])
                rc = CG_ENOMEM;
            else
                tl->nchunks++;
        }
    }
    if (!rc) {
        cg_tl_segment *dst = &tl->chunks[tl->count / CHUNK][tl->count % CHUNK];
        *dst = *seg;
        dst->keys = keys;
        if (!keys)
            dst->nkeys = 0;
        tl->count++;
        keys = NULL;
    }
    pthread_mutex_unlock(&tl->mu);
    free(keys);
    return rc;
}

void cg_timeline_set_start(cg_timeline *tl, uint64_t start_wall_us)
{
    pthread_mutex_lock(&tl->mu);
    tl->info.start_wall_us = start_wall_us;
    pthread_mutex_unlock(&tl->mu);
}

void cg_timeline_set_ended(cg_timeline *tl, uint64_t end_wall_us)
{
    pthread_mutex_lock(&tl->mu);
    tl->info.state = CG_TL_ENDED;
    tl->info.end_wall_us = end_wall_us;
    pthread_mutex_unlock(&tl->mu);
}

void cg_timeline_add_lost(cg_timeline *tl, uint64_t lost)
{
    pthread_mutex_lock(&tl->mu);
    tl->info.degraded = 1;
    tl->info.lost_segments += lost;
    pthread_mutex_unlock(&tl->mu);
}

size_t cg_timeline_count(cg_timeline *tl)
{
    pthread_mutex_lock(&tl->mu);
    size_t n = tl->count;
    pthread_mutex_unlock(&tl->mu);
    return n;
}

void cg_timeline_info(cg_timeline *tl, cg_tl_info *out)
{
    pthread_mutex_lock(&tl->mu);
    *out = tl->info;
    pthread_mutex_unlock(&tl->mu);
}

int cg_timeline_snapshot(cg_timeline *tl, cg_tl_snap **out)
{
    if (!tl || !out)
        return CG_EINVAL;
    cg_tl_snap *s = calloc(1, sizeof(*s));
    if (!s)
        return CG_ENOMEM;
    pthread_mutex_lock(&tl->mu);
    size_t n = tl->nchunks;
    if (n) {
        s->chunks = malloc(n * sizeof(*s->chunks));
        if (!s->chunks) {
            pthread_mutex_unlock(&tl->mu);
            free(s);
            return CG_ENOMEM;
        }
        memcpy(s->chunks, tl->chunks, n * sizeof(*s->chunks));
    }
    s->count = tl->count;
    s->info = tl->info;
    pthread_mutex_unlock(&tl->mu);
    s->tl = cg_timeline_ref(tl);
    *out = s;
    return 0;
}

void cg_tl_snap_free(cg_tl_snap *s)
{
    if (!s)
        return;
    cg_timeline_unref(s->tl);
    free(s->chunks);
    free(s);
}

size_t cg_tl_snap_count(const cg_tl_snap *s)
{
    return s->count;
}

const cg_tl_segment *cg_tl_snap_seg(const cg_tl_snap *s, size_t i)
{
    return i < s->count ? seg_at(s->chunks, i) : NULL;
}

const cg_tl_info *cg_tl_snap_info(const cg_tl_snap *s)
{
    return &s->info;
}

int cg_tl_snap_find(const cg_tl_snap *s, int64_t t, size_t *idx)
{
    if (!s->count || t < seg_at(s->chunks, 0)->start)
        return CG_ENOTFOUND;
    size_t lo = 0, hi = s->count; /* answer in [lo, hi) */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (seg_at(s->chunks, mid)->start <= t)
            lo = mid;
        else
            hi = mid;
    }
    const cg_tl_segment *seg = seg_at(s->chunks, lo);
    if (t - seg->start >= seg->duration)
        return CG_ENOTFOUND; /* after the end, or in a gap of lost segments */
    *idx = lo;
    return 0;
}

int cg_tl_segment_name(uint64_t seq, char *out, size_t cap)
{
    int n = snprintf(out, cap, "seg-%llu.m4s", (unsigned long long)seq);
    return n > 0 && (size_t)n < cap ? 0 : CG_ENOSPC;
}

int cg_tl_init_name(uint32_t period, char *out, size_t cap)
{
    int n = period ? snprintf(out, cap, "init-%u.mp4", period) : snprintf(out, cap, "init.mp4");
    return n > 0 && (size_t)n < cap ? 0 : CG_ENOSPC;
}

/* ---- index line format ---- */

/* Exact decimal seconds from integer media time (no float rounding). */
static void add_seconds(cg_dbuf *out, int64_t v, uint32_t ts)
{
    uint64_t u = v < 0 ? 0 : (uint64_t)v;
    uint64_t frac = (u % ts) * 1000000u / ts;
    cg_dbuf_printf(out, "%llu.%06llu", (unsigned long long)(u / ts), (unsigned long long)frac);
}

void cg_tl_format_broadcast(const cg_tl_info *info, cg_dbuf *out)
{
    cg_dbuf_printf(out,
                   "{\"type\":\"broadcast\",\"v\":1,\"id\":\"%s\",\"timescale\":%u,"
                   "\"start_wall_us\":%llu}\n",
                   info->id, info->timescale, (unsigned long long)info->start_wall_us);
}

void cg_tl_format_segment(const cg_tl_segment *seg, uint32_t timescale, cg_dbuf *out)
{
    cg_dbuf_printf(out,
                   "{\"type\":\"segment\",\"seq\":%llu,\"period\":%u,\"start\":%lld,"
                   "\"duration\":%lld,\"start_s\":",
                   (unsigned long long)seg->seq, seg->period, (long long)seg->start,
                   (long long)seg->duration);
    add_seconds(out, seg->start, timescale);
    cg_dbuf_adds(out, ",\"duration_s\":");
    add_seconds(out, seg->duration, timescale);
    cg_dbuf_printf(out, ",\"wall_us\":%llu,\"bytes\":%llu,\"keys\":[",
                   (unsigned long long)seg->wall_us, (unsigned long long)seg->bytes);
    for (uint32_t k = 0; k < seg->nkeys; k++)
        cg_dbuf_printf(out, "%s%lld", k ? "," : "", (long long)seg->keys[k]);
    cg_dbuf_printf(out, "],\"disc\":%s}\n", (seg->flags & CG_TL_DISCONTINUITY) ? "true" : "false");
}

void cg_tl_format_end(uint64_t end_wall_us, cg_dbuf *out)
{
    cg_dbuf_printf(out, "{\"type\":\"end\",\"wall_us\":%llu}\n", (unsigned long long)end_wall_us);
}

/* A strict reader for the flat JSON objects above, on the bounds-checked
 * reader. It accepts any well-formed JSON object so that unknown fields can
 * be skipped, but nested values only to a small depth. */
#define JSON_MAX_DEPTH 8

static int peek(const cg_rd *r)
{
    return cg_rd_left(r) ? cg_rd_cur(r)[0] : -1;
}

static void skip_ws(cg_rd *r)
{
    int c;
    while ((c = peek(r)) == ' ' || c == '\t' || c == '\r' || c == '\n')
        cg_rd_skip(r, 1);
}

static int expect(cg_rd *r, char c)
{
    skip_ws(r);
    if (peek(r) != c)
        return CG_EPROTO;
    return cg_rd_skip(r, 1);
}

static int is_hex(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Reads a string after its opening quote. Copies it into out (when given)
 * and sets *fits if it has no escapes and fits in cap-1 bytes; otherwise
 * the string is still consumed, so a caller can skip it. */
static int read_string(cg_rd *r, char *out, size_t cap, int *fits)
{
    size_t n = 0;
    int ok = out != NULL;
    for (;;) {
        uint8_t c;
        if (cg_rd_u8(r, &c))
            return CG_EPROTO;
        if (c == '"')
            break;
        if (c < 0x20)
            return CG_EPROTO;
        if (c == '\\') {
            ok = 0;
            if (cg_rd_u8(r, &c))
                return CG_EPROTO;
            if (c == 'u') {
                for (int i = 0; i < 4; i++) {
                    if (!is_hex(peek(r)))
                        return CG_EPROTO;
                    cg_rd_skip(r, 1);
                }
            } else if (c == 0 || !strchr("\"\\/bfnrt", c)) {
                return CG_EPROTO;
            }
            continue;
        }
        if (ok && n + 1 < cap)
            out[n++] = (char)c;
        else
            ok = 0;
    }
    if (out)
        out[ok ? n : 0] = '\0';
    if (fits)
        *fits = ok;
    return 0;
}

/* Reads a JSON number; *integral says whether it had no fraction or
 * exponent, and *v holds it when it is integral and fits in int64. */
static int read_number(cg_rd *r, int64_t *v, int *integral)
{
    int neg = 0, digits = 0, overflow = 0;
    uint64_t acc = 0;
    *integral = 1;
    if (peek(r) == '-') {
        neg = 1;
        cg_rd_skip(r, 1);
    }
    if (peek(r) == '0') {
        cg_rd_skip(r, 1);
        digits = 1;
    } else {
        while (peek(r) >= '0' && peek(r) <= '9') {
            unsigned d = (unsigned)(peek(r) - '0');
            if (acc > (UINT64_MAX - d) / 10)
                overflow = 1;
            else
                acc = acc * 10 + d;
            cg_rd_skip(r, 1);
            digits++;
        }
    }
    if (!digits)
        return CG_EPROTO;
    if (peek(r) == '.') {
        *integral = 0;
        cg_rd_skip(r, 1);
        if (!(peek(r) >= '0' && peek(r) <= '9'))
            return CG_EPROTO;
        while (peek(r) >= '0' && peek(r) <= '9')
            cg_rd_skip(r, 1);
    }
    if (peek(r) == 'e' || peek(r) == 'E') {
        *integral = 0;
        cg_rd_skip(r, 1);
        if (peek(r) == '+' || peek(r) == '-')
            cg_rd_skip(r, 1);
        if (!(peek(r) >= '0' && peek(r) <= '9'))
            return CG_EPROTO;
        while (peek(r) >= '0' && peek(r) <= '9')
            cg_rd_skip(r, 1);
    }
    if (overflow || acc > (uint64_t)INT64_MAX + (uint64_t)neg)
        *integral = 0; /* not usable as an integer field */
    else
        *v = neg ? (int64_t)(0 - acc) : (int64_t)acc;
    return 0;
}

static int read_literal(cg_rd *r, const char *word)
{
    size_t n = strlen(word);
    if (cg_rd_left(r) < n || memcmp(cg_rd_cur(r), word, n) != 0)
        return CG_EPROTO;
    return cg_rd_skip(r, n);
}

static int skip_value(cg_rd *r, int depth);

static int skip_container(cg_rd *r, char close, int depth)
{
    if (depth >= JSON_MAX_DEPTH)
        return CG_EPROTO;
    skip_ws(r);
    if (peek(r) == close)
        return cg_rd_skip(r, 1);
    for (;;) {
        int rc;
        if (close == '}') {
            if ((rc = expect(r, '"')) || (rc = read_string(r, NULL, 0, NULL)) ||
                (rc = expect(r, ':')))
                return rc;
        }
        if ((rc = skip_value(r, depth + 1)))
            return rc;
        skip_ws(r);
        uint8_t c;
        if (cg_rd_u8(r, &c))
            return CG_EPROTO;
        if (c == (uint8_t)close)
            return 0;
        if (c != ',')
            return CG_EPROTO;
    }
}

static int skip_value(cg_rd *r, int depth)
{
    skip_ws(r);
    int c = peek(r);
    int64_t v;
    int integral;
    switch (c) {
    case '"':
        cg_rd_skip(r, 1);
        return read_string(r, NULL, 0, NULL);
    case '{':
        cg_rd_skip(r, 1);
        return skip_container(r, '}', depth);
    case '[':
        cg_rd_skip(r, 1);
        return skip_container(r, ']', depth);
    case 't':
        return read_literal(r, "true");
    case 'f':
        return read_literal(r, "false");
    case 'n':
        return read_literal(r, "null");
    default:
        return read_number(r, &v, &integral);
    }
}

/* Fields of every line type; one bit each to catch duplicates and missing
 * ones. */
enum field_id {
    F_TYPE,
    F_V,
    F_ID,
    F_TIMESCALE,
    F_START_WALL,
    F_SEQ,
    F_PERIOD,
    F_START,
    F_DURATION,
    F_WALL,
    F_BYTES,
    F_KEYS,
    F_DISC,
    F_COUNT
};

enum field_kind { K_INT, K_STRING, K_BOOL, K_KEYS };

static const struct field {
    const char *name;
    int kind;
} fields[F_COUNT] = {
    [F_TYPE] = {"type", K_STRING},
    [F_V] = {"v", K_INT},
    [F_ID] = {"id", K_STRING},
    [F_TIMESCALE] = {"timescale", K_INT},
    [F_START_WALL] = {"start_wall_us", K_INT},
    [F_SEQ] = {"seq", K_INT},
    [F_PERIOD] = {"period", K_INT},
    [F_START] = {"start", K_INT},
    [F_DURATION] = {"duration", K_INT},
    [F_WALL] = {"wall_us", K_INT},
    [F_BYTES] = {"bytes", K_INT},
    [F_KEYS] = {"keys", K_KEYS},
    [F_DISC] = {"disc", K_BOOL},
};

static const struct line_kind {
    const char *type;
    int line_type;
    unsigned required;
} line_kinds[] = {
    {"broadcast", CG_TL_LINE_BROADCAST,
     1u << F_V | 1u << F_ID | 1u << F_TIMESCALE | 1u << F_START_WALL},
    {"segment", CG_TL_LINE_SEGMENT,
     1u << F_SEQ | 1u << F_START | 1u << F_DURATION | 1u << F_WALL | 1u << F_BYTES},
    {"end", CG_TL_LINE_END, 1u << F_WALL},
};

typedef struct raw_line {
    unsigned seen;
    char type[16];
    char id[CG_TL_ID_MAX + 1];
    int64_t ints[F_COUNT];
    int disc;
} raw_line;

static int read_keys(cg_rd *r, cg_tl_line *out)
{
    uint32_t n = 0;
    skip_ws(r);
    if (peek(r) == ']') {
        cg_rd_skip(r, 1);
        out->seg.nkeys = 0;
        return 0;
    }
    for (;;) {
        int64_t v;
        int integral;
        skip_ws(r);
        int rc = read_number(r, &v, &integral);
        if (rc)
            return rc;
        if (!integral)
            return CG_EPROTO;
        if (n == CG_TL_MAX_KEYS)
            return CG_ELIMIT;
        out->keys[n++] = v;
        skip_ws(r);
        uint8_t c;
        if (cg_rd_u8(r, &c))
            return CG_EPROTO;
        if (c == ']')
            break;
        if (c != ',')
            return CG_EPROTO;
    }
    out->seg.nkeys = n;
    return 0;
}

static int read_field(cg_rd *r, raw_line *raw, cg_tl_line *out, const char *key)
{
    int f;
    for (f = 0; f < F_COUNT; f++)
        if (strcmp(fields[f].name, key) == 0)
            break;
    if (f == F_COUNT)
        return skip_value(r, 1); /* a field from a later version */
    if (raw->seen & (1u << f))
        return CG_EPROTO;
    raw->seen |= 1u << f;
    skip_ws(r);
    int64_t v = 0;
    int integral = 0, rc;
    switch (fields[f].kind) {
    case K_INT:
        if ((rc = read_number(r, &v, &integral)))
            return rc;
        if (!integral)
            return CG_EPROTO;
        raw->ints[f] = v;
        return 0;
    case K_STRING: {
        int fits = 0;
        if ((rc = expect(r, '"')))
            return rc;
        rc = f == F_TYPE ? read_string(r, raw->type, sizeof(raw->type), &fits)
                         : read_string(r, raw->id, sizeof(raw->id), &fits);
        /* Our strings are short and plain; anything else is not ours. */
        return rc ? rc : fits ? 0 : CG_EPROTO;
    }
    case K_BOOL:
        if (peek(r) == 't') {
            raw->disc = 1;
            return read_literal(r, "true");
        }
        raw->disc = 0;
        return read_literal(r, "false");
    default:
        if ((rc = expect(r, '[')))
            return rc;
        return read_keys(r, out);
    }
}

static int in_range(int64_t v, int64_t lo, int64_t hi)
{
    return v >= lo && v <= hi;
}

int cg_tl_parse_line(const char *p, size_t len, cg_tl_line *out)
{
    if (!p || !out)
        return CG_EINVAL;
    cg_rd r;
    cg_rd_init(&r, p, len);
    raw_line raw;
    memset(&raw, 0, sizeof(raw));
    out->seg.nkeys = 0;
    int rc = expect(&r, '{');
    if (rc)
        return rc;
    skip_ws(&r);
    if (peek(&r) == '}') {
        return CG_EPROTO; /* no type */
    }
    for (;;) {
        char key[32];
        int fits = 0;
        if ((rc = expect(&r, '"')) || (rc = read_string(&r, key, sizeof(key), &fits)) ||
            (rc = expect(&r, ':')))
            return rc;
        /* A key too long or escaped to be one of ours is a later field. */
        rc = fits ? read_field(&r, &raw, out, key) : skip_value(&r, 1);
        if (rc)
            return rc;
        skip_ws(&r);
        uint8_t c;
        if (cg_rd_u8(&r, &c))
            return CG_EPROTO;
        if (c == '}')
            break;
        if (c != ',')
            return CG_EPROTO;
    }
    skip_ws(&r);
    if (cg_rd_left(&r))
        return CG_EPROTO;

    if (!(raw.seen & (1u << F_TYPE)))
        return CG_EPROTO;
    const struct line_kind *kind = NULL;
    for (size_t i = 0; i < sizeof(line_kinds) / sizeof(line_kinds[0]); i++)
        if (strcmp(line_kinds[i].type, raw.type) == 0)
            kind = &line_kinds[i];
    if (!kind)
        return CG_EUNSUPP;
    if ((raw.seen & kind->required) != kind->required)
        return CG_EPROTO;
    const int64_t *iv = raw.ints;
    out->type = kind->line_type;
    switch (kind->line_type) {
    case CG_TL_LINE_BROADCAST:
        if (iv[F_V] != 1)
            return CG_EUNSUPP;
        if (!cg_tl_id_valid(raw.id) || !in_range(iv[F_TIMESCALE], 1, 10000000) ||
            iv[F_START_WALL] < 0)
            return CG_EPROTO;
        memcpy(out->id, raw.id, sizeof(out->id));
        out->timescale = (uint32_t)iv[F_TIMESCALE];
        out->wall_us = (uint64_t)iv[F_START_WALL];
        return 0;
    case CG_TL_LINE_SEGMENT: {
        cg_tl_segment *s = &out->seg;
        if (!in_range(iv[F_SEQ], 0, CG_TL_MAX_SEGMENTS) || !in_range(iv[F_PERIOD], 0, UINT32_MAX) ||
            iv[F_START] < 0 || iv[F_DURATION] <= 0 || iv[F_START] > INT64_MAX - iv[F_DURATION] ||
            iv[F_WALL] < 0 || iv[F_BYTES] < 0)
            return CG_EPROTO;
        s->seq = (uint64_t)iv[F_SEQ];
        s->period = (uint32_t)iv[F_PERIOD];
        s->flags = raw.disc ? CG_TL_DISCONTINUITY : 0;
        s->start = iv[F_START];
        s->duration = iv[F_DURATION];
        s->wall_us = (uint64_t)iv[F_WALL];
        s->bytes = (uint64_t)iv[F_BYTES];
        s->keys = out->keys;
        if (!keys_valid(s))
            return CG_EPROTO;
        return 0;
    }
    default:
        if (iv[F_WALL] < 0)
            return CG_EPROTO;
        out->wall_us = (uint64_t)iv[F_WALL];
        return 0;
    }
}

int cg_tl_load_text(const char *text, size_t len, cg_timeline **out, cg_tl_load_report *report)
{
    cg_tl_load_report rep = {0};
    if (!out || (!text && len))
        return CG_EINVAL;
    cg_tl_line *line = malloc(sizeof(*line));
    if (!line)
        return CG_ENOMEM;
    cg_timeline *tl = NULL;
    int rc = 0;
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        if (!nl) {
            /* Written in one append with its newline: without it, the line
             * was torn by a crash and the segment it names is unconfirmed. */
            rep.torn_tail = 1;
            break;
        }
        size_t n = (size_t)(nl - (text + pos));
        const char *p = text + pos;
        pos += n + 1;
        rep.lines++;
        int ok = cg_tl_parse_line(p, n, line) == 0;
        if (ok && !tl) {
            ok = line->type == CG_TL_LINE_BROADCAST;
            if (ok) {
                rc = cg_timeline_new(&tl, line->id, line->timescale);
                if (rc)
                    break;
                tl->info.start_wall_us = line->wall_us;
            }
        } else if (ok && line->type == CG_TL_LINE_SEGMENT) {
            /* Must continue the sequence; anything else is a stray. */
            int arc = cg_timeline_append(tl, &line->seg);
            if (arc == CG_ENOMEM) {
                rc = arc;
                break;
            }
            ok = arc == 0;
        } else if (ok && line->type == CG_TL_LINE_END) {
            ok = tl->info.state == CG_TL_LIVE;
            if (ok)
                cg_timeline_set_ended(tl, line->wall_us);
        } else {
            ok = 0;
        }
        if (!ok)
            rep.bad_lines++;
    }
    free(line);
    if (!rc && !tl)
        rc = CG_EPROTO;
    if (rc) {
        cg_timeline_unref(tl);
        return rc;
    }
    rep.segments = tl->count;
    if (report)
        *report = rep;
    *out = tl;
    return 0;
}
