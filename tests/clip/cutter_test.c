/* The clip cutter on a real recording: ffmpeg-made H.264 + Opus is fed to
 * a packager exactly as WHIP ingest would, the stored CMAF segments are
 * cut into MP4 clips, and the clips are checked with ffprobe/ffmpeg and a
 * walk of their MP4 boxes. */
#include <math.h>
#include <time.h>

#include "clip/cutter.h"
#include "clip/range.h"
#include "core/err.h"
#include "packager/packager.h"
#include "storage/fs.h"
#include "tests/packager/media_util.h"
#include "cg_test.h"

#define S(x) ((int64_t)((x)*1000000.0 + 0.5))
#define FRAME_S (1.0 / 30)

static char base[256];

typedef struct rec {
    char root[400];
    cg_storage *st;
    cg_timeline *tl;
    cg_tl_snap *snap;
} rec;

static void feed(void *arg, cg_frame *f)
{
    CHECK_INT(cg_packager_push(arg, f), 0);
}

/* Records media into <base>/<name> under "recordings/b1", to the end. */
static int record(rec *r, const char *name, const char *media, int audio_out)
{
    snprintf(r->root, sizeof(r->root), "%s/%s", base, name);
    CHECK_INT(cg_storage_fs_new(&r->st, r->root), 0);
    cg_packager_cfg cfg;
    cg_packager_cfg_default(&cfg);
    cfg.dir = "recordings/b1";
    cfg.queue_len = 4096; /* the whole file: no drops while feeding fast */
    cfg.audio_out = audio_out;
    cg_packager *p = NULL;
    CHECK_INT(cg_packager_new(&p, r->st, "b1", &cfg), 0);
    if (!p)
        return -1;
    CHECK(mu_feed(media, feed, p) > 0);
    CHECK_INT(cg_packager_finish(p), 0);
    r->tl = cg_timeline_ref(cg_packager_timeline(p));
    cg_packager_free(p);
    CHECK_INT(cg_timeline_snapshot(r->tl, &r->snap), 0);
    return r->snap ? 0 : -1;
}

static void rec_free(rec *r)
{
    cg_tl_snap_free(r->snap);
    cg_timeline_unref(r->tl);
    cg_storage_free(r->st);
}

/* --- MP4 box walk --- */

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = n > 0 ? malloc((size_t)n) : NULL;
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = b ? (size_t)n : 0;
    return b;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The n-th child box of [p, p+len) of the given type; its payload. */
static const uint8_t *box(const uint8_t *p, size_t len, const char *type, int nth, size_t *plen)
{
    size_t off = 0;
    while (off + 8 <= len) {
        uint64_t sz = be32(p + off);
        size_t hdr = 8;
        if (sz == 1 && off + 16 <= len) {
            sz = (uint64_t)be32(p + off + 8) << 32 | be32(p + off + 12);
            hdr = 16;
        } else if (sz == 0) {
            sz = len - off;
        }
        if (sz < hdr || sz > len - off)
            return NULL;
        if (memcmp(p + off + 4, type, 4) == 0 && nth-- == 0) {
            *plen = (size_t)sz - hdr;
            return p + off + hdr;
        }
        off += (size_t)sz;
    }
    return NULL;
}

typedef struct trak_info {
    int found;
    char handler[5];
    uint32_t timescale;
    int has_elst;
    int64_t media_time; /* first edit's */
    uint32_t edits;
    uint32_t first_sync; /* first entry of stss (1-based sample number); 0: no stss */
} trak_info;

static void trak(const uint8_t *moov, size_t mlen, int i, trak_info *ti)
{
    memset(ti, 0, sizeof(*ti));
    size_t tl, ml, hl, dl, el;
    const uint8_t *t = box(moov, mlen, "trak", i, &tl);
    if (!t)
        return;
    ti->found = 1;
    const uint8_t *mdia = box(t, tl, "mdia", 0, &ml);
    const uint8_t *hdlr = mdia ? box(mdia, ml, "hdlr", 0, &hl) : NULL;
    if (hdlr && hl >= 12)
        memcpy(ti->handler, hdlr + 8, 4);
    const uint8_t *mdhd = mdia ? box(mdia, ml, "mdhd", 0, &dl) : NULL;
    if (mdhd && dl >= 24)
        ti->timescale = mdhd[0] == 1 ? be32(mdhd + 20) : be32(mdhd + 12);
    size_t nl, bl, sl;
    const uint8_t *minf = mdia ? box(mdia, ml, "minf", 0, &nl) : NULL;
    const uint8_t *stbl = minf ? box(minf, nl, "stbl", 0, &bl) : NULL;
    const uint8_t *stss = stbl ? box(stbl, bl, "stss", 0, &sl) : NULL;
    if (stss && sl >= 12 && be32(stss + 4) > 0)
        ti->first_sync = be32(stss + 8);
    const uint8_t *edts = box(t, tl, "edts", 0, &dl);
    const uint8_t *elst = edts ? box(edts, dl, "elst", 0, &el) : NULL;
    if (elst && el >= 8) {
        ti->has_elst = 1;
        ti->edits = be32(elst + 4);
        /* Skip an empty edit (media_time -1) to the first real one. */
        for (uint32_t k = 0; k < ti->edits; k++) {
            int64_t mt;
            if (elst[0] == 1 && el >= 8 + 20 * (k + 1))
                mt = (int64_t)((uint64_t)be32(elst + 8 + 20 * k + 8) << 32 |
                               be32(elst + 8 + 20 * k + 12));
            else if (elst[0] == 0 && el >= 8 + 12 * (k + 1))
                mt = (int32_t)be32(elst + 8 + 12 * k + 4);
            else
                break;
            ti->media_time = mt;
            if (mt != -1)
                break;
        }
    }
}

/* Top-level box order: moov before mdat (faststart). Returns the moov. */
static const uint8_t *check_layout(const uint8_t *b, size_t len, size_t *mlen)
{
    size_t l;
    const uint8_t *moov = box(b, len, "moov", 0, mlen);
    const uint8_t *mdat = box(b, len, "mdat", 0, &l);
    CHECK(moov != NULL);
    CHECK(mdat != NULL);
    CHECK(moov && mdat && moov < mdat);
    CHECK(box(b, len, "moof", 0, &l) == NULL); /* a plain MP4, not fragmented */
    return moov;
}

/* --- ffprobe --- */

static double format_duration(const char *path)
{
    char cmd[1024], out[4096];
    snprintf(cmd, sizeof(cmd),
             "ffprobe -v error -show_entries format=duration -of default=nw=1 '%s'", path);
    if (mu_run(cmd, out, sizeof(out)) != 0)
        return -1;
    return mu_field(out, "duration");
}

/* The first video frame's key flag and picture type. */
static void first_frame(const char *path, int *key, char *pict, size_t cap)
{
    char cmd[1024], out[4096];
    snprintf(cmd, sizeof(cmd),
             "ffprobe -v error -select_streams v -read_intervals %%+#1 "
             "-show_entries frame=key_frame,pict_type -of default=nw=1 '%s'",
             path);
    CHECK_INT(mu_run(cmd, out, sizeof(out)), 0);
    *key = (int)mu_field(out, "key_frame");
    mu_field_str(out, "pict_type", pict, cap);
}

typedef struct clip_facts {
    double duration; /* format duration */
    double vstart, astart;
    int vframes, aframes, first_key;
    trak_info v, a;
} clip_facts;

static void cut(rec *r, const cg_clip_plan *plan, const char *name, clip_facts *cf)
{
    char path[600], out[8192];
    snprintf(path, sizeof(path), "%s/%s", base, name);
    CHECK_INT(cg_clip_write_mp4(r->st, "recordings/b1", r->snap, plan, path), 0);
    memset(cf, 0, sizeof(*cf));
    /* Zero decoding errors. */
    int rc = mu_decode(path, out, sizeof(out));
    if (rc != 0 || out[0])
        fprintf(stderr, "%s decode: rc=%d %s\n", name, rc, out);
    CHECK_INT(rc, 0);
    CHECK_STR(out, "");
    cf->duration = format_duration(path);
    static char probe[1 << 18];
    CHECK_INT(mu_probe(path, probe, sizeof(probe)), 0);
    cf->vframes = mu_frames(probe, 'v', &cf->first_key);
    int akey;
    cf->aframes = mu_frames(probe, 'a', &akey);
    mu_stream(probe, 'v', out, sizeof(out));
    cf->vstart = mu_field(out, "start_time");
    mu_stream(probe, 'a', out, sizeof(out));
    cf->astart = mu_field(out, "start_time");
    size_t len = 0, mlen = 0;
    uint8_t *b = read_all(path, &len);
    CHECK(b != NULL);
    const uint8_t *moov = b ? check_layout(b, len, &mlen) : NULL;
    if (moov) {
        trak_info t0, t1;
        trak(moov, mlen, 0, &t0);
        trak(moov, mlen, 1, &t1);
        cf->v = strcmp(t0.handler, "vide") == 0 ? t0 : t1;
        cf->a = strcmp(t0.handler, "soun") == 0 ? t0 : t1;
    }
    free(b);
    fprintf(stderr,
            "%s: duration %.4f s, video %d frames from %.4f s, audio %d frames from %.4f s, "
            "video elst %d (media_time %lld/%u), audio elst %d (media_time %lld/%u)\n",
            name, cf->duration, cf->vframes, cf->vstart, cf->aframes, cf->astart, cf->v.has_elst,
            (long long)cf->v.media_time, cf->v.timescale, cf->a.has_elst,
            (long long)cf->a.media_time, cf->a.timescale);
}

static char media[512];

static void test_precise(void)
{
    rec r = {0};
    if (record(&r, "precise", media, CG_AUDIO_OUT_AAC) != 0)
        return;
    CHECK_INT(cg_tl_snap_count(r.snap), 6); /* 2 s GOP, 12 s */
    cg_clip_plan plan;
    char why[256];
    /* 5 s at 3 s: keyframe at 2 s, not on it. */
    CHECK_INT(cg_clip_plan_range(r.snap, S(3), S(5), CG_CLIP_PRECISE, 0, &plan, why, sizeof(why)),
              0);
    CHECK_INT(plan.keyframe_us, S(2));
    clip_facts cf;
    cut(&r, &plan, "precise.mp4", &cf);
    CHECK(fabs(cf.duration - 5.0) <= FRAME_S + 1e-6);
    /* Frames shown: exactly those in [3, 8). */
    CHECK(abs(cf.vframes - 150) <= 1);
    /* The first frame shown is at 3 s, not a keyframe; the first sample
     * stored is the keyframe at 2 s. */
    CHECK_INT(cf.first_key, 0);
    CHECK_INT(cf.v.first_sync, 1);
    /* The edit list hides the second before the start. */
    CHECK_INT(cf.v.has_elst, 1);
    CHECK(cf.v.timescale > 0 && fabs((double)cf.v.media_time / cf.v.timescale - 1.0) < 0.0005);
    CHECK(fabs(cf.vstart) < 0.0005);
    CHECK(fabs(cf.astart - cf.vstart) <= 1024.0 / 48000 + 1e-6);
    rec_free(&r);
}

static void test_keyframe_mode(void)
{
    rec r = {0};
    if (record(&r, "keyframe", media, CG_AUDIO_OUT_AAC) != 0)
        return;
    cg_clip_plan plan;
    char why[256];
    CHECK_INT(cg_clip_plan_range(r.snap, S(3), S(5), CG_CLIP_KEYFRAME, 0, &plan, why, sizeof(why)),
              0);
    CHECK_INT(plan.start_us, S(2));
    CHECK_INT(plan.duration_us, S(6));
    clip_facts cf;
    cut(&r, &plan, "keyframe.mp4", &cf);
    CHECK(fabs(cf.duration - 6.0) <= FRAME_S + 1e-6);
    CHECK_INT(cf.vframes, 180);
    CHECK_INT(cf.first_key, 1);
    CHECK_INT(cf.v.first_sync, 1);
    CHECK_INT(cf.v.has_elst, 0);
    CHECK_INT(cf.a.has_elst, 0);
    CHECK(fabs(cf.vstart) < 0.0005);
    char path[600], pict[8];
    int key;
    snprintf(path, sizeof(path), "%s/keyframe.mp4", base);
    first_frame(path, &key, pict, sizeof(pict));
    CHECK_INT(key, 1);
    CHECK_STR(pict, "I");

    /* Spanning four segments: 1.5 s to 8.5 s. */
    CHECK_INT(cg_clip_plan_range(r.snap, S(1.5), S(7), CG_CLIP_PRECISE, 0, &plan, why, sizeof(why)),
              0);
    CHECK_INT(plan.first_seg, 0);
    CHECK_INT(plan.last_seg, 4);
    cut(&r, &plan, "span.mp4", &cf);
    CHECK(fabs(cf.duration - 7.0) <= FRAME_S + 1e-6);
    CHECK(abs(cf.vframes - 210) <= 1);
    CHECK_INT(cf.v.has_elst, 1);

    /* The last 4 s of the ended broadcast. */
    CHECK_INT(cg_clip_plan_last(r.snap, S(4), CG_CLIP_PRECISE, 0, &plan, why, sizeof(why)), 0);
    cut(&r, &plan, "last.mp4", &cf);
    CHECK(fabs(cf.duration - 4.0) <= FRAME_S + 1e-6);

    /* A segment gone from storage. */
    char seg[600];
    snprintf(seg, sizeof(seg), "%s/recordings/b1/seg-5.m4s", r.root);
    CHECK_INT(remove(seg), 0);
    snprintf(path, sizeof(path), "%s/missing.mp4", base);
    CHECK_INT(cg_clip_write_mp4(r.st, "recordings/b1", r.snap, &plan, path), CG_ENOTFOUND);
    CHECK_INT(cg_clip_write_mp4(r.st, "recordings/b1", r.snap, NULL, path), CG_EINVAL);
    rec_free(&r);
}

static void test_opus(void)
{
    rec r = {0};
    if (record(&r, "opus", media, CG_AUDIO_OUT_OPUS) != 0)
        return;
    cg_clip_plan plan;
    char why[256];
    CHECK_INT(cg_clip_plan_range(r.snap, S(4.4), S(3), CG_CLIP_PRECISE, 0, &plan, why, sizeof(why)),
              0);
    clip_facts cf;
    cut(&r, &plan, "opus.mp4", &cf);
    CHECK(fabs(cf.duration - 3.0) <= FRAME_S + 1e-6);
    CHECK(abs(cf.vframes - 90) <= 1);
    CHECK_INT(cf.v.has_elst, 1);
    CHECK(fabs(cf.astart - cf.vstart) <= 960.0 / 48000 + 1e-6);
    rec_free(&r);
}

/* Two periods (a reconnect) inside one clip: refused before any I/O. */
static void test_periods(void)
{
    cg_timeline *tl = NULL;
    CHECK_INT(cg_timeline_new(&tl, "b1", 90000), 0);
    for (int i = 0; i < 3; i++) {
        int64_t key = (int64_t)i * 180000;
        cg_tl_segment s = {.seq = (uint64_t)i,
                           .period = i >= 2,
                           .flags = i == 2 ? CG_TL_DISCONTINUITY : 0,
                           .start = key,
                           .duration = 180000,
                           .wall_us = MU_WALL_BASE + (uint64_t)i * 2000000,
                           .nkeys = 1,
                           .keys = &key};
        CHECK_INT(cg_timeline_append(tl, &s), 0);
    }
    cg_tl_snap *snap = NULL;
    CHECK_INT(cg_timeline_snapshot(tl, &snap), 0);
    cg_clip_plan plan;
    char why[256];
    CHECK_INT(cg_clip_plan_range(snap, S(3), S(2), CG_CLIP_PRECISE, 0, &plan, why, sizeof(why)), 0);
    cg_storage *st = NULL;
    char root[400], path[600];
    snprintf(root, sizeof(root), "%s/periods", base);
    snprintf(path, sizeof(path), "%s/periods.mp4", base);
    CHECK_INT(cg_storage_fs_new(&st, root), 0);
    CHECK_INT(cg_clip_write_mp4(st, "recordings/b1", snap, &plan, path), CG_EUNSUPP);
    /* Within one period: the files are missing here. */
    CHECK_INT(cg_clip_plan_range(snap, S(0.5), S(3), CG_CLIP_PRECISE, 0, &plan, why, sizeof(why)),
              0);
    CHECK_INT(cg_clip_write_mp4(st, "recordings/b1", snap, &plan, path), CG_ENOTFOUND);

    /* The HLS clip over a reconnect: a new map and a discontinuity. */
    CHECK_INT(cg_clip_plan_range(snap, S(3), S(2.5), CG_CLIP_PRECISE, 0, &plan, why, sizeof(why)),
              0);
    cg_dbuf d;
    cg_dbuf_init(&d, 1 << 16);
    CHECK_INT(cg_clip_playlist(snap, &plan, "/recordings/b1/", &d), 0);
    const char *want = "#EXTM3U\n"
                       "#EXT-X-VERSION:7\n"
                       "#EXT-X-TARGETDURATION:2\n"
                       "#EXT-X-MEDIA-SEQUENCE:1\n"
                       "#EXT-X-PLAYLIST-TYPE:VOD\n"
                       "#EXT-X-INDEPENDENT-SEGMENTS\n"
                       "#EXT-X-START:TIME-OFFSET=1.000000,PRECISE=YES\n"
                       "#EXT-X-MAP:URI=\"/recordings/b1/init.mp4\"\n"
                       "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:22.000Z\n"
                       "#EXTINF:2.000000,\n"
                       "/recordings/b1/seg-1.m4s\n"
                       "#EXT-X-DISCONTINUITY\n"
                       "#EXT-X-MAP:URI=\"/recordings/b1/init-1.mp4\"\n"
                       "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:24.000Z\n"
                       "#EXTINF:2.000000,\n"
                       "/recordings/b1/seg-2.m4s\n"
                       "#EXT-X-ENDLIST\n";
    CHECK_STR(cg_dbuf_str(&d), want);
    cg_dbuf_free(&d);
    /* Keyframe mode starts at the segment's start. */
    CHECK_INT(cg_clip_plan_range(snap, S(3), S(2.5), CG_CLIP_KEYFRAME, 0, &plan, why, sizeof(why)),
              0);
    cg_dbuf_init(&d, 1 << 16);
    CHECK_INT(cg_clip_playlist(snap, &plan, NULL, &d), 0);
    CHECK(strstr(cg_dbuf_str(&d), "#EXT-X-START:TIME-OFFSET=0.000000,PRECISE=YES\n") != NULL);
    CHECK(strstr(cg_dbuf_str(&d), "\nseg-1.m4s\n") != NULL);
    cg_dbuf_free(&d);
    CHECK_INT(cg_clip_playlist(snap, NULL, NULL, &d), CG_EINVAL);
    cg_storage_free(st);
    cg_tl_snap_free(snap);
    cg_timeline_unref(tl);
}

int main(void)
{
    av_log_set_level(AV_LOG_ERROR);
    if (mu_tmpdir(base, sizeof(base), "clip") != 0)
        return 1;
    snprintf(media, sizeof(media), "%s/media.mp4", base);
    if (mu_make_media(media, 60, 12, "av") != 0) {
        mu_rm_rf(base);
        return 1;
    }
    RUN(test_precise);
    RUN(test_keyframe_mode);
    RUN(test_opus);
    RUN(test_periods);
    if (getenv("CG_KEEP"))
        fprintf(stderr, "kept %s\n", base);
    else
        mu_rm_rf(base);
    return TEST_RESULT();
}
