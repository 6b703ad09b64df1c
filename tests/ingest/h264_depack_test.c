/* H.264 depacketizer. The x264 streams of tests/fixtures/h264 (see make.sh
 * there) are split into access units, packetized here as RFC 6184 says in
 * the shapes real publishers use, pushed through the depacketizer, and the
 * access units that come out are compared byte for byte with those that
 * went in (AUDs removed, SPS/PPS inserted where the sender left them out).
 * The reassembled streams are then handed to ffmpeg, which must decode them
 * without a single error and count the frames we expect. */
#include <sys/wait.h>

#include "cg_test.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/frame.h"
#include "h264_annexb.h"
#include "ingest/h264_depack.h"

#define MTU 1200
#define TS_STEP 3000 /* 30 fps at 90 kHz */

enum mode {
    MODE_PM0,      /* packetization-mode 0: one NAL per packet, any size */
    MODE_CHROME,   /* STAP-A for runs of small NALs (SPS+PPS), FU-A > MTU */
    MODE_OBS,      /* every small NAL alone (SPS, PPS separate), FU-A > MTU */
    MODE_SPROP,    /* like OBS, but SPS/PPS only in sprop-parameter-sets */
};

typedef struct tpkt {
    uint8_t p[MTU + 64];
    size_t len;
    uint32_t ts;
    int marker;
    size_t au;
    int fu;      /* 0 not FU-A, 1 start, 2 middle, 3 end */
    int first;   /* first packet of its AU */
} tpkt;

typedef struct tplist {
    tpkt *v;
    size_t n, cap;
} tplist;

static tpkt *tp_add(tplist *l, size_t au, uint32_t ts)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->v = realloc(l->v, l->cap * sizeof(tpkt));
    }
    tpkt *t = &l->v[l->n++];
    memset(t, 0, sizeof(*t));
    t->au = au;
    t->ts = ts;
    return t;
}

/* Large NALs in pm=0 do not fit tpkt: keep them aside. */
typedef struct bigpkt {
    const uint8_t *p;
    size_t len;
} bigpkt;

static int sent_in_mode(const tnal *t, enum mode m)
{
    return !(m == MODE_SPROP && (t->type == 7 || t->type == 8));
}

/* RFC 6184 §5.6-5.8: single NAL unit, STAP-A and FU-A packets. */
static void packetize(const tstream *s, enum mode m, uint32_t ts0, int markers, tplist *l,
                      bigpkt *big)
{
    for (size_t a = 0; a < s->n_au; a++) {
        uint32_t ts = ts0 + (uint32_t)(a * TS_STEP);
        size_t first_pkt = l->n;
        const tau *au = &s->au[a];
        size_t k = au->first, end = au->first + au->count;
        while (k < end) {
            const tnal *t = &s->nal[k];
            if (!sent_in_mode(t, m)) {
                k++;
                continue;
            }
            if (m == MODE_PM0 && t->len > MTU) {
                /* The packet is the NAL itself; point at it. */
                tpkt *pk = tp_add(l, a, ts);
                pk->len = 0;
                big[l->n - 1].p = t->p;
                big[l->n - 1].len = t->len;
                k++;
                continue;
            }
            if (t->len > MTU) {
                size_t off = 1;
                while (off < t->len) {
                    size_t chunk = t->len - off < MTU - 2 ? t->len - off : MTU - 2;
                    tpkt *pk = tp_add(l, a, ts);
                    pk->p[0] = (uint8_t)((t->p[0] & 0xe0) | 28);
                    pk->p[1] = (uint8_t)(t->p[0] & 0x1f);
                    pk->fu = 2;
                    if (off == 1) {
                        pk->p[1] |= 0x80;
                        pk->fu = 1;
                    }
                    if (off + chunk == t->len) {
                        pk->p[1] |= 0x40;
                        pk->fu = 3;
                    }
                    memcpy(pk->p + 2, t->p + off, chunk);
                    pk->len = chunk + 2;
                    off += chunk;
                }
                k++;
                continue;
            }
            size_t run = 1, size = 1 + 2 + t->len;
            if (m == MODE_CHROME) {
                while (k + run < end && sent_in_mode(&s->nal[k + run], m) &&
                       size + 2 + s->nal[k + run].len <= MTU) {
                    size += 2 + s->nal[k + run].len;
                    run++;
                }
            }
            tpkt *pk = tp_add(l, a, ts);
            if (run == 1) {
                memcpy(pk->p, t->p, t->len);
                pk->len = t->len;
            } else {
                uint8_t nri = 0;
                size_t pos = 1;
                for (size_t r = 0; r < run; r++) {
                    const tnal *u = &s->nal[k + r];
                    if ((u->p[0] & 0x60) > nri)
                        nri = u->p[0] & 0x60;
                    cg_store_u16(pk->p + pos, (uint16_t)u->len);
                    memcpy(pk->p + pos + 2, u->p, u->len);
                    pos += 2 + u->len;
                }
                pk->p[0] = (uint8_t)(nri | 24);
                pk->len = pos;
            }
            k += run;
        }
        if (l->n > first_pkt) {
            l->v[first_pkt].first = 1;
            if (markers)
                l->v[l->n - 1].marker = 1;
        }
    }
}

typedef struct result {
    cg_frame **f;
    size_t n;
    cg_h264_depack_stats st;
} result;

static void result_free(result *r)
{
    for (size_t i = 0; i < r->n; i++)
        cg_frame_unref(r->f[i]);
    free(r->f);
    memset(r, 0, sizeof(*r));
}

static void collect(result *r, cg_frame **out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        r->f[r->n++] = out[i];
}

static char *b64(const uint8_t *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *o = malloc(n / 3 * 4 + 8), *q = o;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        *q++ = tab[v >> 18];
        *q++ = tab[(v >> 12) & 63];
        *q++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        *q++ = i + 2 < n ? tab[v & 63] : '=';
    }
    *q = 0;
    return o;
}

static char *sprop_of(const tstream *s)
{
    const tnal *sps = tstream_find(s, 7), *pps = tstream_find(s, 8);
    char *a = b64(sps->p, sps->len), *b = b64(pps->p, pps->len);
    size_t n = strlen(a) + strlen(b) + 2;
    char *o = malloc(n);
    snprintf(o, n, "%s,%s", a, b);
    free(a);
    free(b);
    return o;
}

/* Pushes the packets (skipping `drop`, flagging a gap after it). */
static void run(const tstream *s, enum mode m, uint32_t ts0, int markers, long drop, result *r)
{
    tplist l = {0};
    bigpkt *big = calloc(s->n_nal * 4 + s->file_len / (MTU - 2) + 16, sizeof(bigpkt));
    packetize(s, m, ts0, markers, &l, big);
    cg_h264_depack *d;
    CHECK_INT(cg_h264_depack_new(&d, 4 << 20), 0);
    if (m == MODE_SPROP) {
        char *sp = sprop_of(s);
        CHECK_INT(cg_h264_depack_set_sprop(d, sp), 0);
        free(sp);
    }
    memset(r, 0, sizeof(*r));
    r->f = calloc(s->n_au + 4, sizeof(cg_frame *));
    int gap = 0;
    for (size_t i = 0; i < l.n; i++) {
        if ((long)i == drop) {
            gap = 1;
            continue;
        }
        const uint8_t *p = big[i].p ? big[i].p : l.v[i].p;
        size_t len = big[i].p ? big[i].len : l.v[i].len;
        cg_frame *out[2] = {NULL, NULL};
        size_t n = 99;
        CHECK_INT(cg_h264_depack_push(d, p, len, l.v[i].ts, l.v[i].marker, gap, out, &n), 0);
        CHECK(n <= 2);
        if (n <= 2)
            collect(r, out, n);
        gap = 0;
    }
    cg_frame *out[2];
    size_t n = 99;
    CHECK_INT(cg_h264_depack_flush(d, out, &n), 0);
    CHECK(n <= 1);
    if (n <= 1)
        collect(r, out, n);
    cg_h264_depack_get_stats(d, &r->st);
    CHECK_INT(r->st.packets, drop >= 0 ? l.n - 1 : l.n);
    cg_h264_depack_free(d);
    free(big);
    free(l.v);
}

/* The access unit as it must come out: AUDs gone; in sprop mode the SPS
 * and PPS put back before the first slice of each IDR. */
static size_t expected_au(const tstream *s, size_t a, enum mode m, uint8_t *out)
{
    const tnal *sps = tstream_find(s, 7), *pps = tstream_find(s, 8);
    size_t n = 0, k0 = s->au[a].first;
    int put_params = m == MODE_SPROP && s->au[a].has_idr;
    for (size_t k = k0; k < k0 + s->au[a].count; k++) {
        const tnal *t = &s->nal[k];
        if (t->type == 9 || !sent_in_mode(t, m))
            continue;
        if (put_params && t->type >= 1 && t->type <= 5) {
            const tnal *ps[2] = {sps, pps};
            for (int i = 0; i < 2; i++) {
                memcpy(out + n, "\0\0\0\1", 4);
                memcpy(out + n + 4, ps[i]->p, ps[i]->len);
                n += 4 + ps[i]->len;
            }
            put_params = 0;
        }
        memcpy(out + n, "\0\0\0\1", 4);
        memcpy(out + n + 4, t->p, t->len);
        n += 4 + t->len;
    }
    return n;
}

/* Checks frame i against access unit au_idx. */
static void check_frame(const tstream *s, const cg_frame *f, size_t a, enum mode m, uint32_t ts0)
{
    uint8_t *want = malloc(s->file_len + 4096);
    size_t n = expected_au(s, a, m, want);
    CHECK_INT(f->len, n);
    if (f->len == n && memcmp(f->data, want, n) != 0) {
        fprintf(stderr, "AU %zu differs\n", a);
        CHECK(0);
    }
    CHECK_INT(!!(f->flags & CG_FRAME_KEY), s->au[a].has_idr);
    CHECK_INT(f->flags & CG_FRAME_CORRUPT, 0);
    CHECK_INT(f->pts, (int64_t)ts0 + (int64_t)a * TS_STEP);
    CHECK_INT(f->dts, f->pts);
    CHECK_INT(f->timescale, 90000);
    CHECK_INT(f->kind, CG_MEDIA_VIDEO);
    CHECK_INT(f->codec, CG_CODEC_H264);
    free(want);
}

/* Runs a shell command; returns its exit status and what it printed. */
static int sh(const char *cmd, char *out, size_t cap)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Writes the frames as an Annex B file, decodes it with ffmpeg and counts
 * its frames with ffprobe. */
static void check_decodes(const result *r, const char *tag)
{
    const char *dir = getenv("CG_BUILD_DIR");
    char path[1024], cmd[2048], out[4096];
    snprintf(path, sizeof(path), "%s/h264_depack_%s.h264", dir ? dir : ".", tag);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    for (size_t i = 0; i < r->n; i++)
        fwrite(r->f[i]->data, 1, r->f[i]->len, f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "ffmpeg -nostdin -hide_banner -v error -i '%s' -f null - 2>&1", path);
    CHECK_INT(sh(cmd, out, sizeof(out)), 0);
    if (out[0])
        fprintf(stderr, "%s: ffmpeg says: %s\n", tag, out);
    CHECK_STR(out, "");
    snprintf(cmd, sizeof(cmd),
             "ffprobe -v error -count_frames -select_streams v:0 -show_entries "
             "stream=nb_read_frames -of csv=p=0 '%s'",
             path);
    CHECK_INT(sh(cmd, out, sizeof(out)), 0);
    CHECK_INT(strtol(out, NULL, 10), r->n);
}

static void roundtrip(const char *rel, size_t want_aus, enum mode m, uint32_t ts0, int markers,
                      const char *tag, result *keep)
{
    tstream s;
    CHECK_INT(tstream_load(&s, rel), 0);
    CHECK_INT(s.n_au, want_aus);
    result r;
    run(&s, m, ts0, markers, -1, &r);
    CHECK_INT(r.n, s.n_au);
    size_t keys = 0, bframes = 0;
    for (size_t a = 0; a < s.n_au; a++) {
        keys += (size_t)s.au[a].has_idr;
        bframes += (size_t)s.au[a].has_b;
    }
    for (size_t i = 0; i < r.n && i < s.n_au; i++)
        check_frame(&s, r.f[i], i, m, ts0);
    CHECK_INT(r.st.frames, s.n_au);
    CHECK_INT(r.st.keyframes, keys);
    CHECK_INT(r.st.bframes, bframes);
    CHECK_INT(r.st.dropped_frames, 0);
    CHECK_INT(r.st.fua_errors, 0);
    CHECK_INT(r.st.stap_errors, 0);
    CHECK_INT(r.st.need_keyframe, 0);
    CHECK_INT(r.st.have_sps, 1);
    check_decodes(&r, tag);
    tstream_free(&s);
    if (keep)
        *keep = r;
    else
        result_free(&r);
}

static void test_chrome_baseline_wrap(void)
{
    /* 20 frames before the 32-bit timestamp wraps: pts keeps growing. */
    uint32_t ts0 = 0xffffffffu - 20 * TS_STEP + 1;
    result r;
    roundtrip("tests/fixtures/h264/baseline_640x360.h264", 60, MODE_CHROME, ts0, 1, "chrome", &r);
    CHECK_INT(r.st.keyframes, 2);
    CHECK_INT(r.st.bframes, 0);
    CHECK_INT(r.st.sps.width, 640);
    CHECK_INT(r.st.sps.height, 360);
    for (size_t i = 1; i < r.n; i++)
        CHECK(r.f[i]->pts > r.f[i - 1]->pts);
    CHECK(r.n == 60 && r.f[59]->pts > (int64_t)0xffffffffu);
    result_free(&r);
}

static void test_obs_multislice_aud(void)
{
    tstream s;
    CHECK_INT(tstream_load(&s, "tests/fixtures/h264/slices4_640x360.h264"), 0);
    CHECK(s.au[0].has_aud); /* the fixture does carry AUDs to strip */
    tstream_free(&s);
    roundtrip("tests/fixtures/h264/slices4_640x360.h264", 30, MODE_OBS, 1000, 1, "obs", NULL);
}

static void test_bframes(void)
{
    result r;
    roundtrip("tests/fixtures/h264/high_bf2_1280x720.h264", 30, MODE_CHROME, 0, 1, "high", &r);
    /* ffprobe: 15 B-pictures; the SPS allows 2 to be reordered. */
    CHECK_INT(r.st.bframes, 15);
    CHECK_INT(r.st.sps.max_num_reorder_frames, 2);
    CHECK_INT(r.st.sps.profile_idc, 100);
    result_free(&r);
}

static void test_pm0_no_markers(void)
{
    /* Mode 0 sends 20 KB NAL units whole; a sender without marker bits has
     * its AUs closed by the next timestamp, the last one by flush. */
    roundtrip("tests/fixtures/h264/main_1920x1080.h264", 5, MODE_PM0, 77, 0, "pm0", NULL);
}

static void test_sprop_insertion(void)
{
    result r;
    roundtrip("tests/fixtures/h264/baseline_640x360.h264", 60, MODE_SPROP, 5, 1, "sprop", &r);
    result_free(&r);
}

/* Index of the first packet of AU a that satisfies pred. */
static long find_pkt(const tplist *l, size_t a, int fu)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].au == a && (fu < 0 ? l->v[i].marker : l->v[i].fu == fu))
            return (long)i;
    return -1;
}

static long first_pkt_of(const tplist *l, size_t a)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].au == a)
            return (long)i;
    return -1;
}

/* Loss: frames from the damaged one to the next IDR must be dropped and
 * the rest must decode cleanly. Keyframes of the baseline file: AU 0, 30. */
static void loss_case(const char *tag, long drop, size_t lost_from, size_t lost_to, uint64_t dropped,
                      int need_key)
{
    tstream s;
    CHECK_INT(tstream_load(&s, "tests/fixtures/h264/baseline_640x360.h264"), 0);
    result r;
    run(&s, MODE_CHROME, 0, 1, drop, &r);
    size_t want = s.n_au - (lost_to - lost_from);
    CHECK_INT(r.n, want);
    size_t i = 0;
    for (size_t a = 0; a < s.n_au && i < r.n; a++) {
        if (a >= lost_from && a < lost_to)
            continue;
        check_frame(&s, r.f[i++], a, MODE_CHROME, 0);
    }
    CHECK_INT(r.st.dropped_frames, dropped);
    CHECK_INT(r.st.fua_errors, 0);
    CHECK_INT(r.st.need_keyframe, need_key);
    check_decodes(&r, tag);
    result_free(&r);
    tstream_free(&s);
}

static void test_loss(void)
{
    tstream s;
    CHECK_INT(tstream_load(&s, "tests/fixtures/h264/baseline_640x360.h264"), 0);
    CHECK(s.au[0].has_idr && s.au[30].has_idr);
    tplist l = {0};
    bigpkt *big = calloc(s.file_len, sizeof(bigpkt));
    packetize(&s, MODE_CHROME, 0, 1, &l, big);
    /* A P-frame fragmented into at least three FU-A packets. */
    size_t k = 0;
    long mid = -1;
    for (size_t a = 10; a < 30 && mid < 0; a++) {
        mid = find_pkt(&l, a, 2);
        k = a;
    }
    CHECK(mid >= 0);
    long marker = find_pkt(&l, k, -1);
    long idr_first = first_pkt_of(&l, 30);
    long idr_fu_start = find_pkt(&l, 30, 1);
    /* The IDR opens with a STAP-A of SPS and PPS, then its FU-A. */
    CHECK(idr_first >= 0 && l.v[idr_first].p[0] == 24 + 0x60);
    CHECK(idr_fu_start == idr_first + 1);
    free(big);
    free(l.v);
    tstream_free(&s);

    /* Middle fragment lost: AU k .. 29 dropped. */
    loss_case("loss_mid", mid, k, 30, 30 - k, 0);
    /* Last packet (marker) lost: the next AU's gap closes AU k as cut. */
    loss_case("loss_marker", marker, k, 30, 30 - k, 0);
    /* SPS/PPS of the second IDR lost: the IDR is whole and gets the cached
     * ones inserted, so nothing is dropped. */
    loss_case("loss_params", idr_first, 0, 0, 0, 0);
    /* FU-A start of the second IDR lost: nothing more can be shown. */
    loss_case("loss_idr", idr_fu_start, 30, 60, 30, 1);
}

/* Hand-made NAL units: slices with a known first_mb_in_slice and
 * slice_type, enough for the depacketizer, which does not decode them. */
static const uint8_t idr[] = {0x65, 0x88, 0x84, 0x00, 0x33, 0xff};   /* mb 0, I (7) */
static const uint8_t idr2[] = {0x65, 0x42, 0x21, 0x00, 0x33};        /* mb 1, I (7) */
static const uint8_t pslice[] = {0x41, 0x9a, 0x22, 0x11};            /* mb 0, P (5) */
static const uint8_t bslice[] = {0x01, 0x9e, 0x11};                  /* mb 0, B (6) */
/* SPS and PPS of baseline_640x360.h264. */
static const uint8_t sps[] = {0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00,
                              0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x0f, 0x16, 0x2e, 0x48};
static const uint8_t pps[] = {0x68, 0xcb, 0x83, 0xcb, 0x20};
static const uint8_t sei[] = {0x06, 0x05, 0x01, 0x80};
static const uint8_t aud[] = {0x09, 0xf0};

typedef struct dp {
    cg_h264_depack *d;
    cg_frame *f[16];
    size_t n;
} dp;

static void dp_init(dp *t, size_t max)
{
    memset(t, 0, sizeof(*t));
    CHECK_INT(cg_h264_depack_new(&t->d, max), 0);
}

static size_t push(dp *t, const void *p, size_t len, uint32_t ts, int marker, int gap)
{
    cg_frame *out[2];
    size_t n = 0;
    CHECK_INT(cg_h264_depack_push(t->d, p, len, ts, marker, gap, out, &n), 0);
    for (size_t i = 0; i < n; i++) {
        if (t->n < 16)
            t->f[t->n++] = out[i];
        else
            cg_frame_unref(out[i]);
    }
    return n;
}

static void dp_stats(dp *t, cg_h264_depack_stats *st)
{
    cg_h264_depack_get_stats(t->d, st);
}

static void dp_free(dp *t)
{
    for (size_t i = 0; i < t->n; i++)
        cg_frame_unref(t->f[i]);
    cg_h264_depack_free(t->d);
}

static size_t stap(uint8_t *o, const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    o[0] = 0x78;
    cg_store_u16(o + 1, (uint16_t)an);
    memcpy(o + 3, a, an);
    cg_store_u16(o + 3 + an, (uint16_t)bn);
    memcpy(o + 5 + an, b, bn);
    return 5 + an + bn;
}

static void check_bytes(const cg_frame *f, const uint8_t *const *nals, const size_t *lens, size_t n)
{
    uint8_t want[256];
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(want + len, "\0\0\0\1", 4);
        memcpy(want + len + 4, nals[i], lens[i]);
        len += 4 + lens[i];
    }
    CHECK_INT(f->len, len);
    CHECK(f->len == len && memcmp(f->data, want, len) == 0);
}

static void test_delimiting(void)
{
    dp t;
    dp_init(&t, 1 << 16);
    uint8_t buf[64];
    /* An AU without marker is closed by the next timestamp, which is itself
     * one marked single-packet AU: two frames from one push. Parameter sets
     * come in a STAP-A with a (wrong) marker bit that must not split the AU,
     * AUD dropped, SEI kept. */
    CHECK_INT(push(&t, aud, sizeof(aud), 100, 0, 0), 0);
    CHECK_INT(push(&t, buf, stap(buf, sps, sizeof(sps), pps, sizeof(pps)), 100, 1, 0), 0);
    CHECK_INT(push(&t, sei, sizeof(sei), 100, 0, 0), 0);
    CHECK_INT(push(&t, idr, sizeof(idr), 100, 0, 0), 0);
    CHECK_INT(push(&t, "", 0, 555, 0, 0), 0); /* padding: ignored */
    CHECK_INT(push(&t, bslice, sizeof(bslice), 3100, 1, 0), 2);
    CHECK_INT(t.n, 2);
    if (t.n == 2) {
        const uint8_t *n0[] = {sps, pps, sei, idr};
        const size_t l0[] = {sizeof(sps), sizeof(pps), sizeof(sei), sizeof(idr)};
        check_bytes(t.f[0], n0, l0, 4);
        CHECK_INT(t.f[0]->flags, CG_FRAME_KEY);
        CHECK_INT(t.f[0]->pts, 100);
        const uint8_t *n1[] = {bslice};
        const size_t l1[] = {sizeof(bslice)};
        check_bytes(t.f[1], n1, l1, 1);
        CHECK_INT(t.f[1]->flags, 0);
        CHECK_INT(t.f[1]->pts, 3100);
    }
    /* A packet after the marker with the same timestamp is stray: its
     * slice was missing from the frame already given out. */
    CHECK_INT(push(&t, pslice, sizeof(pslice), 3100, 1, 0), 0);
    cg_h264_depack_stats st;
    dp_stats(&t, &st);
    CHECK_INT(st.stray_packets, 1);
    CHECK_INT(st.need_keyframe, 1);
    CHECK_INT(st.bframes, 1);
    CHECK_INT(push(&t, pslice, sizeof(pslice), 6100, 1, 0), 0); /* dropped */
    /* An IDR whose first slice is not at macroblock 0 cannot heal. */
    CHECK_INT(push(&t, idr2, sizeof(idr2), 9100, 1, 0), 0);
    /* An IDR without SPS/PPS gets the cached ones before its slice, after
     * the SEI. */
    CHECK_INT(push(&t, sei, sizeof(sei), 12100, 0, 0), 0);
    CHECK_INT(push(&t, idr, sizeof(idr), 12100, 0, 0), 0);
    CHECK_INT(push(&t, idr2, sizeof(idr2), 12100, 1, 0), 1);
    if (t.n == 3) {
        const uint8_t *n2[] = {sei, sps, pps, idr, idr2};
        const size_t l2[] = {sizeof(sei), sizeof(sps), sizeof(pps), sizeof(idr), sizeof(idr2)};
        check_bytes(t.f[2], n2, l2, 5);
    }
    /* Only a PPS in-band: the SPS is inserted, the PPS is not repeated. */
    CHECK_INT(push(&t, pps, sizeof(pps), 15100, 0, 0), 0);
    CHECK_INT(push(&t, idr, sizeof(idr), 15100, 1, 0), 1);
    if (t.n == 4) {
        const uint8_t *n3[] = {pps, sps, idr};
        const size_t l3[] = {sizeof(pps), sizeof(sps), sizeof(idr)};
        check_bytes(t.f[3], n3, l3, 3);
    }
    /* Unspecified NAL types are ignored; flush gives the open AU. */
    static const uint8_t t30[] = {0x1e, 0x00}, t0[] = {0x00, 0x00};
    CHECK_INT(push(&t, t30, sizeof(t30), 18100, 0, 0), 0);
    CHECK_INT(push(&t, t0, sizeof(t0), 18100, 0, 0), 0);
    CHECK_INT(push(&t, pslice, sizeof(pslice), 18100, 0, 0), 0);
    cg_frame *out[2];
    size_t n = 9;
    CHECK_INT(cg_h264_depack_flush(t.d, out, &n), 0);
    CHECK_INT(n, 1);
    if (n == 1) {
        CHECK_INT(out[0]->pts, 18100);
        cg_frame_unref(out[0]);
    }
    CHECK_INT(cg_h264_depack_flush(t.d, out, &n), 0);
    CHECK_INT(n, 0);
    dp_stats(&t, &st);
    CHECK_INT(st.ignored_nals, 2);
    CHECK_INT(st.frames, 5);
    CHECK_INT(st.keyframes, 3);
    CHECK_INT(st.dropped_frames, 2);
    CHECK_INT(st.need_keyframe, 0);
    CHECK_INT(st.packets, 17);
    dp_free(&t);
}

static void test_first_frames(void)
{
    dp t;
    dp_init(&t, 1 << 16);
    /* P-frames before any IDR cannot be decoded: skipped, not "dropped". */
    CHECK_INT(push(&t, pslice, sizeof(pslice), 0, 1, 0), 0);
    CHECK_INT(push(&t, pslice, sizeof(pslice), 3000, 1, 0), 0);
    /* No SPS/PPS known yet: the IDR goes out as it came. */
    CHECK_INT(push(&t, idr, sizeof(idr), 6000, 1, 0), 1);
    cg_h264_depack_stats st;
    dp_stats(&t, &st);
    CHECK_INT(st.skipped_frames, 2);
    CHECK_INT(st.dropped_frames, 0);
    CHECK_INT(st.have_sps, 0);
    if (t.n == 1)
        CHECK_INT(t.f[0]->len, 4 + sizeof(idr));
    const uint8_t *a, *b;
    size_t al, bl;
    CHECK_INT(cg_h264_depack_params(t.d, &a, &al, &b, &bl), CG_ENOTFOUND);
    dp_free(&t);
}

static void expect_errors(const char *what, const uint8_t *p, size_t len, uint64_t fua, uint64_t stap)
{
    dp t;
    dp_init(&t, 1 << 16);
    CHECK_INT(push(&t, idr, sizeof(idr), 0, 1, 0), 1);
    /* The bad packet sits in a P-frame's AU, before its slice. */
    CHECK_INT(push(&t, p, len, 3000, 0, 0), 0);
    CHECK_INT(push(&t, pslice, sizeof(pslice), 3000, 1, 0), 0);
    CHECK_INT(push(&t, pslice, sizeof(pslice), 6000, 1, 0), 0);
    CHECK_INT(push(&t, idr, sizeof(idr), 9000, 1, 0), 1);
    cg_h264_depack_stats st;
    dp_stats(&t, &st);
    if (st.fua_errors != fua || st.stap_errors != stap || st.dropped_frames != 2)
        fprintf(stderr, "case %s\n", what);
    CHECK_INT(st.fua_errors, fua);
    CHECK_INT(st.stap_errors, stap);
    CHECK_INT(st.dropped_frames, 2);
    CHECK_INT(st.frames, 2);
    CHECK_INT(st.need_keyframe, 0);
    dp_free(&t);
}

static void test_malformed(void)
{
    static const uint8_t stap_over[] = {0x78, 0x00, 0x04, 0x67, 0x42};   /* size past the end */
    static const uint8_t stap_zero[] = {0x78, 0x00, 0x00, 0x00, 0x01, 0x06}; /* zero size */
    static const uint8_t stap_empty[] = {0x78};
    static const uint8_t stap_half[] = {0x78, 0x00, 0x01, 0x06, 0x00};   /* half a size */
    static const uint8_t stap_b[] = {0x79, 0x00, 0x01, 0x00, 0x01, 0x06};
    static const uint8_t mtap16[] = {0x7a, 0x00, 0x01};
    static const uint8_t mtap24[] = {0x7b, 0x00, 0x01};
    static const uint8_t fu_b[] = {0x7d, 0x85, 0x00, 0x00, 0x88};
    static const uint8_t fu_short[] = {0x7c};
    static const uint8_t fu_mid[] = {0x7c, 0x01, 0x22, 0x11};           /* no start */
    static const uint8_t fu_bad_type[] = {0x7c, 0x98, 0x00};            /* FU of a STAP */
    expect_errors("stap_over", stap_over, sizeof(stap_over), 0, 1);
    expect_errors("stap_zero", stap_zero, sizeof(stap_zero), 0, 1);
    expect_errors("stap_empty", stap_empty, sizeof(stap_empty), 0, 1);
    expect_errors("stap_half", stap_half, sizeof(stap_half), 0, 1);
    expect_errors("stap_b", stap_b, sizeof(stap_b), 0, 1);
    expect_errors("mtap16", mtap16, sizeof(mtap16), 0, 1);
    expect_errors("mtap24", mtap24, sizeof(mtap24), 0, 1);
    expect_errors("fu_b", fu_b, sizeof(fu_b), 1, 0);
    expect_errors("fu_short", fu_short, sizeof(fu_short), 1, 0);
    expect_errors("fu_mid", fu_mid, sizeof(fu_mid), 1, 0);
    expect_errors("fu_bad_type", fu_bad_type, sizeof(fu_bad_type), 1, 0);

    /* FU-A started and never ended: interrupted by a single NAL ... */
    static const uint8_t fu_start[] = {0x7c, 0x81, 0x9a, 0x22};
    expect_errors("fu_then_single", fu_start, sizeof(fu_start), 1, 0);
    /* ... or by the end of its AU (the next timestamp, no gap). */
    dp t;
    dp_init(&t, 1 << 16);
    CHECK_INT(push(&t, idr, sizeof(idr), 0, 1, 0), 1);
    CHECK_INT(push(&t, fu_start, sizeof(fu_start), 3000, 0, 0), 0);
    CHECK_INT(push(&t, pslice, sizeof(pslice), 6000, 1, 0), 0);
    /* An FU-A continuing with another type is broken too. */
    static const uint8_t fu_other[] = {0x7c, 0x45, 0x00};
    CHECK_INT(push(&t, fu_start, sizeof(fu_start), 9000, 0, 0), 0);
    CHECK_INT(push(&t, fu_other, sizeof(fu_other), 9000, 1, 0), 0);
    cg_h264_depack_stats st;
    dp_stats(&t, &st);
    CHECK_INT(st.fua_errors, 2);
    CHECK_INT(st.dropped_frames, 3);
    dp_free(&t);

    /* A whole FU-A in pieces, including an empty middle fragment and the
     * AUD type which is removed even when fragmented. */
    dp_init(&t, 1 << 16);
    static const uint8_t f1[] = {0x7c, 0x85, 0x88};
    static const uint8_t f2[] = {0x7c, 0x05};
    static const uint8_t f3[] = {0x7c, 0x45, 0x84, 0x00, 0x33, 0xff};
    static const uint8_t fa1[] = {0x3c, 0x89, 0xf0};
    static const uint8_t fa2[] = {0x3c, 0x49};
    CHECK_INT(push(&t, fa1, sizeof(fa1), 0, 0, 0), 0);
    CHECK_INT(push(&t, fa2, sizeof(fa2), 0, 0, 0), 0);
    CHECK_INT(push(&t, f1, sizeof(f1), 0, 0, 0), 0);
    CHECK_INT(push(&t, f2, sizeof(f2), 0, 0, 0), 0);
    CHECK_INT(push(&t, f3, sizeof(f3), 0, 1, 0), 1);
    if (t.n == 1) {
        const uint8_t *n0[] = {idr};
        const size_t l0[] = {sizeof(idr)};
        check_bytes(t.f[0], n0, l0, 1);
    }
    dp_stats(&t, &st);
    CHECK_INT(st.fua_errors, 0);
    dp_free(&t);
}

static void test_gap_in_padding_and_oversize(void)
{
    dp t;
    dp_init(&t, 64);
    /* A gap reported on a padding packet still spoils the open AU. */
    CHECK_INT(push(&t, sps, sizeof(sps), 0, 0, 0), 0);
    CHECK_INT(push(&t, "", 0, 0, 0, 1), 0);
    CHECK_INT(push(&t, idr, sizeof(idr), 0, 1, 0), 0);
    cg_h264_depack_stats st;
    dp_stats(&t, &st);
    CHECK_INT(st.dropped_frames, 1);
    CHECK_INT(st.need_keyframe, 1);
    CHECK_INT(push(&t, idr, sizeof(idr), 3000, 1, 0), 1);
    /* 64 bytes per AU at most: a 70-byte slice is refused, and so is
     * everything after it until an IDR fits (this one with the SPS). */
    uint8_t big[70];
    memset(big, 0x11, sizeof(big));
    big[0] = 0x41;
    big[1] = 0x9a;
    CHECK_INT(push(&t, big, sizeof(big), 6000, 1, 0), 0);
    CHECK_INT(push(&t, pslice, sizeof(pslice), 9000, 1, 0), 0);
    CHECK_INT(push(&t, idr, sizeof(idr), 12000, 1, 0), 1);
    dp_stats(&t, &st);
    CHECK_INT(st.oversize_frames, 1);
    CHECK_INT(st.dropped_frames, 2); /* the spoilt first IDR, the P after the big one */
    CHECK_INT(st.frames, 2);
    CHECK_INT(st.need_keyframe, 0);
    dp_free(&t);
    cg_h264_depack_free(NULL);
    cg_h264_depack *d = (cg_h264_depack *)&d;
    CHECK_INT(cg_h264_depack_new(&d, 0), CG_EINVAL);
}

static void test_sprop(void)
{
    dp t;
    dp_init(&t, 1 << 16);
    const uint8_t *a, *b;
    size_t al, bl;
    char *s1 = b64(sps, sizeof(sps)), *s2 = b64(pps, sizeof(pps));
    char sp[256];
    snprintf(sp, sizeof(sp), "%s,%s", s1, s2);
    CHECK_INT(cg_h264_depack_set_sprop(t.d, ""), CG_EPROTO);
    CHECK_INT(cg_h264_depack_set_sprop(t.d, "Z0LA!x=="), CG_EPROTO);
    CHECK_INT(cg_h264_depack_set_sprop(t.d, "QUJD"), CG_EPROTO); /* "ABC": a slice */
    CHECK_INT(cg_h264_depack_set_sprop(t.d, "Z0=A"), CG_EPROTO); /* data after padding */
    CHECK_INT(cg_h264_depack_params(t.d, &a, &al, &b, &bl), CG_ENOTFOUND);
    CHECK_INT(cg_h264_depack_set_sprop(t.d, sp), 0);
    CHECK_INT(cg_h264_depack_params(t.d, &a, &al, &b, &bl), 0);
    CHECK_INT(al, sizeof(sps));
    CHECK_INT(bl, sizeof(pps));
    CHECK(memcmp(a, sps, sizeof(sps)) == 0 && memcmp(b, pps, sizeof(pps)) == 0);
    cg_h264_depack_stats st;
    dp_stats(&t, &st);
    CHECK_INT(st.have_sps, 1);
    CHECK_INT(st.sps.profile_idc, 66);
    /* sprop from GStreamer's offers omits padding; same bytes. */
    char nopad[256];
    size_t j = 0;
    for (const char *c = sp; *c; c++)
        if (*c != '=')
            nopad[j++] = *c;
    nopad[j] = 0;
    CHECK_INT(cg_h264_depack_set_sprop(t.d, nopad), 0);
    CHECK_INT(cg_h264_depack_params(t.d, &a, &al, &b, &bl), 0);
    CHECK_INT(al, sizeof(sps));
    CHECK_INT(push(&t, idr, sizeof(idr), 0, 1, 0), 1);
    if (t.n == 1) {
        const uint8_t *n0[] = {sps, pps, idr};
        const size_t l0[] = {sizeof(sps), sizeof(pps), sizeof(idr)};
        check_bytes(t.f[0], n0, l0, 3);
    }
    free(s1);
    free(s2);
    dp_free(&t);
}

int main(void)
{
    RUN(test_chrome_baseline_wrap);
    RUN(test_obs_multislice_aud);
    RUN(test_bframes);
    RUN(test_pm0_no_markers);
    RUN(test_sprop_insertion);
    RUN(test_loss);
    RUN(test_delimiting);
    RUN(test_first_frames);
    RUN(test_malformed);
    RUN(test_gap_in_padding_and_oversize);
    RUN(test_sprop);
    return TEST_RESULT();
}
