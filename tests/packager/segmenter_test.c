/* Segmenter on real media: ffmpeg-made H.264 + Opus, demuxed into frames
 * shaped like WHIP ingest's, segmented, then checked with ffprobe and
 * decoded with ffmpeg. */
#include <math.h>

#include "core/err.h"
#include "packager/segmenter.h"
#include "media_util.h"
#include "cg_test.h"

#define FRAME_90K 3000 /* one video frame at 30 fps */

typedef struct seg_rec {
    int64_t start, duration;
    uint32_t period;
    int disc;
    uint64_t wall;
    uint32_t nkeys;
    int64_t keys[16];
    size_t bytes;
} seg_rec;

typedef struct run {
    char dir[256];
    cg_segmenter *s;
    seg_rec segs[64];
    size_t nsegs;
    uint32_t inits;
    int need_key;
    int corrupt_at; /* mark the n-th video frame corrupt (-1: none) */
    int vframes;
} run;

static void on_init(void *arg, uint32_t period, const uint8_t *data, size_t len)
{
    run *r = arg;
    char name[64];
    if (period)
        snprintf(name, sizeof(name), "init-%u.mp4", period);
    else
        snprintf(name, sizeof(name), "init.mp4");
    CHECK_INT(mu_write(r->dir, name, data, len), 0);
    CHECK_INT(period, r->inits);
    r->inits++;
}

static void on_segment(void *arg, const cg_segment_out *seg)
{
    run *r = arg;
    char name[64];
    snprintf(name, sizeof(name), "seg-%zu.m4s", r->nsegs);
    CHECK_INT(mu_write(r->dir, name, seg->data, seg->len), 0);
    if (r->nsegs >= 64)
        return;
    seg_rec *s = &r->segs[r->nsegs++];
    s->start = seg->start;
    s->duration = seg->duration;
    s->period = seg->period;
    s->disc = seg->discontinuity;
    s->wall = seg->wall_us;
    s->bytes = seg->len;
    s->nkeys = seg->nkeys;
    for (uint32_t k = 0; k < seg->nkeys && k < 16; k++)
        s->keys[k] = seg->keys[k];
}

static void on_need_keyframe(void *arg, int64_t overdue)
{
    run *r = arg;
    CHECK(overdue >= 0);
    r->need_key++;
}

static void feed(void *arg, cg_frame *f)
{
    run *r = arg;
    if (f->kind == CG_MEDIA_VIDEO && r->vframes++ == r->corrupt_at)
        f->flags |= CG_FRAME_CORRUPT;
    CHECK_INT(cg_segmenter_push(r->s, f), 0);
}

static int start_run(run *r, const cg_segmenter_cfg *cfg)
{
    memset(r->segs, 0, sizeof(r->segs));
    r->nsegs = 0;
    r->inits = 0;
    r->need_key = 0;
    r->corrupt_at = -1;
    r->vframes = 0;
    if (mu_tmpdir(r->dir, sizeof(r->dir), "seg") != 0)
        return -1;
    cg_segmenter_cb cb = {.on_init = on_init,
                          .on_segment = on_segment,
                          .on_need_keyframe = on_need_keyframe,
                          .arg = r};
    int rc = cg_segmenter_new(&r->s, cfg, &cb);
    CHECK_INT(rc, 0);
    return rc;
}

static void end_run(run *r)
{
    cg_segmenter_free(r->s);
    r->s = NULL;
    mu_rm_rf(r->dir);
}

/* The SPS carried by an init segment's avcC box (copied into sps). */
static size_t avcc_sps(const char *init_path, uint8_t *sps, size_t cap)
{
    size_t len = 0;
    char *init = NULL;
    FILE *f = fopen(init_path, "rb");
    if (f) {
        init = malloc(1 << 16);
        len = fread(init, 1, 1 << 16, f);
        fclose(f);
    }
    size_t n = 0;
    const char *box = init ? memmem(init, len, "avcC", 4) : NULL;
    /* avcC: version, profile, compat, level, length size, SPS count,
     * then a 16-bit SPS length and the SPS. */
    if (box && (size_t)(box - init) + 12 <= len) {
        const uint8_t *b = (const uint8_t *)box + 4;
        n = (size_t)(b[6] << 8 | b[7]);
        if (n > cap || (size_t)((const char *)b + 8 - init) + n > len)
            n = 0;
        else
            memcpy(sps, b + 8, n);
    }
    free(init);
    return n;
}

/* Checks one segment against ffprobe/ffmpeg: init + segment decodes with
 * no error, starts on a keyframe, lasts what the segmenter says within a
 * frame, and carries the expected audio codec. */
static void check_segment(run *r, size_t i, const char *acodec, uint32_t ts, int frames_expected)
{
    char init[400], seg[400], both[400], out[8192];
    const seg_rec *s = &r->segs[i];
    if (s->period)
        snprintf(init, sizeof(init), "%s/init-%u.mp4", r->dir, s->period);
    else
        snprintf(init, sizeof(init), "%s/init.mp4", r->dir);
    snprintf(seg, sizeof(seg), "%s/seg-%zu.m4s", r->dir, i);
    snprintf(both, sizeof(both), "%s/check-%zu.mp4", r->dir, i);
    CHECK_INT(mu_concat(init, seg, both), 0);
    int rc = mu_decode(both, out, sizeof(out));
    if (rc != 0 || out[0])
        fprintf(stderr, "segment %zu decode: rc=%d %s\n", i, rc, out);
    CHECK_INT(rc, 0);
    CHECK_STR(out, "");
    double dur_s = (double)s->duration / ts;
    static char probe[1 << 17];
    CHECK_INT(mu_probe(both, probe, sizeof(probe)), 0);
    if (ts == 90000) {
        int first_key;
        double frames = mu_frames(probe, 'v', &first_key);
        CHECK_INT(first_key, 1);
        mu_stream(probe, 'v', out, sizeof(out));
        char codec[32];
        mu_field_str(out, "codec_name", codec, sizeof(codec));
        CHECK_STR(codec, "h264");
        CHECK_INT((int)mu_field(out, "width"), 640);
        CHECK_INT((int)mu_field(out, "height"), 360);
        /* The muxer turned the Annex B SPS/PPS into an avcC and the
         * samples into 4-byte length-prefixed NAL units. */
        char avc[16];
        mu_field_str(out, "is_avc", avc, sizeof(avc));
        CHECK_STR(avc, "true");
        CHECK_INT((int)mu_field(out, "nal_length_size"), 4);
        /* Parameter sets live in the init segment only, not in samples. */
        uint8_t sps[256];
        size_t sps_len = avcc_sps(init, sps, sizeof(sps));
        CHECK(sps_len > 3);
        FILE *sf = fopen(seg, "rb");
        static char segbytes[1 << 21];
        size_t seglen = sf ? fread(segbytes, 1, sizeof(segbytes), sf) : 0;
        if (sf)
            fclose(sf);
        CHECK(seglen > 0);
        CHECK(sps_len > 3 && memmem(segbytes, seglen, sps, sps_len) == NULL);
        if (frames_expected >= 0) {
            CHECK_INT((int)frames, frames_expected);
        } else {
            if (fabs(frames / 30.0 - dur_s) > 1.0 / 30 + 1e-6)
                fprintf(stderr, "segment %zu: %g frames vs %.3f s\n", i, frames, dur_s);
            CHECK(fabs(frames / 30.0 - dur_s) <= 1.0 / 30 + 1e-6);
        }
        /* tfdt carries the timeline: ffprobe's start is the segment start. */
        CHECK(fabs(mu_field(out, "start_time") - (double)s->start / ts) < 0.0005);
    }
    if (acodec) {
        mu_stream(probe, 'a', out, sizeof(out));
        char codec[32];
        mu_field_str(out, "codec_name", codec, sizeof(codec));
        CHECK_STR(codec, acodec);
        if (ts == 90000) {
            double vstart = (double)s->start / ts;
            double astart = mu_field(out, "start_time");
            if (!(fabs(astart - vstart) <= 0.040))
                fprintf(stderr, "segment %zu: audio starts at %.4f, video at %.4f\n", i, astart,
                        vstart);
            CHECK(fabs(astart - vstart) <= 0.040);
        }
    }
}

/* The whole recording, init + every segment of period 0 back to back,
 * decodes cleanly and lasts as long as the input. */
static void check_whole(run *r, double expect_s, char sel)
{
    char out[8192], whole[400], path[400];
    snprintf(whole, sizeof(whole), "%s/whole.mp4", r->dir);
    FILE *f = fopen(whole, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    snprintf(path, sizeof(path), "%s/init.mp4", r->dir);
    CHECK_INT(mu_append(f, path), 0);
    for (size_t i = 0; i < r->nsegs; i++) {
        snprintf(path, sizeof(path), "%s/seg-%zu.m4s", r->dir, i);
        CHECK_INT(mu_append(f, path), 0);
    }
    fclose(f);
    int rc = mu_decode(whole, out, sizeof(out));
    if (rc != 0 || out[0])
        fprintf(stderr, "whole decode: %s\n", out);
    CHECK_INT(rc, 0);
    CHECK_STR(out, "");
    static char probe[1 << 18];
    CHECK_INT(mu_probe(whole, probe, sizeof(probe)), 0);
    int first_key;
    double frames = mu_frames(probe, sel, &first_key);
    double got = sel == 'v' ? frames / 30.0 : frames * 1024.0 / 48000.0;
    if (fabs(got - expect_s) > (sel == 'v' ? 1.0 / 30 : 0.05))
        fprintf(stderr, "whole: %.3f s, expected %.3f s\n", got, expect_s);
    CHECK(fabs(got - expect_s) <= (sel == 'v' ? 1.0 / 30 + 1e-6 : 0.05));
}

static char media_dir[256];

static const char *media(const char *name, int gop, int seconds, const char *what)
{
    static char path[8][512];
    static int slot;
    char *p = path[slot++ % 8];
    snprintf(p, 512, "%s/%s", media_dir, name);
    struct stat st;
    if (stat(p, &st) != 0)
        CHECK_INT(mu_make_media(p, gop, seconds, what), 0);
    return p;
}

static void test_gop_1s_aac(void)
{
    run r;
    cg_segmenter_cfg cfg = {.video = 1, .audio = 1};
    if (start_run(&r, &cfg))
        return;
    CHECK(mu_feed(media("g1.mp4", 30, 6, "av"), feed, &r) > 0);
    CHECK_INT(cg_segmenter_finish(r.s), 0);
    CHECK_INT(r.inits, 1);
    /* 1 s GOPs, 2 s target: cut on every second keyframe. */
    CHECK_INT(r.nsegs, 3);
    for (size_t i = 0; i < r.nsegs && i < 3; i++) {
        CHECK_INT(r.segs[i].start, (int64_t)i * 180000);
        CHECK_INT(r.segs[i].duration, 180000);
        CHECK_INT(r.segs[i].nkeys, 2);
        CHECK_INT(r.segs[i].keys[0], (int64_t)i * 180000);
        CHECK_INT(r.segs[i].keys[1], (int64_t)i * 180000 + 90000);
        CHECK_INT(r.segs[i].disc, 0);
        CHECK_INT(r.segs[i].period, 0);
        /* wall clock of the keyframe (epoch: audio's -312 samples). */
        CHECK_INT(r.segs[i].wall, MU_WALL_BASE + 6500 + i * 2000000);
        check_segment(&r, i, "aac", 90000, -1);
    }
    CHECK_INT(r.need_key, 0);
    check_whole(&r, 6.0, 'v');
    check_whole(&r, 6.0, 'a');
    cg_segmenter_stats st;
    cg_segmenter_get_stats(r.s, &st);
    CHECK_INT(st.segments, 3);
    CHECK_INT(st.mux_errors, 0);
    CHECK_INT(st.dropped_bad_ts, 0);
    end_run(&r);
}

/* webrtcbin repeats the SPS three or four times in a keyframe. The copies
 * are identical, so they are the same parameters: no new init segment, no
 * discontinuity. Every keyframe gets 2 or 3 extra copies of its SPS. */
static void feed_repeated_sps(void *arg, cg_frame *f)
{
    run *r = arg;
    if (f->kind != CG_MEDIA_VIDEO || !(f->flags & CG_FRAME_KEY)) {
        feed(arg, f);
        return;
    }
    /* The SPS: from its start code to the next start code. */
    const uint8_t *sps = NULL;
    size_t sps_len = 0;
    for (size_t i = 0; i + 4 < f->len; i++) {
        if (f->data[i] || f->data[i + 1] || f->data[i + 2] != 1)
            continue;
        if (sps) {
            sps_len = (size_t)(f->data + i - sps);
            if (i > 0 && f->data[i - 1] == 0)
                sps_len--; /* 4-byte start code of the next NAL */
            break;
        }
        if ((f->data[i + 3] & 0x1f) == 7)
            sps = f->data + i + 3;
    }
    CHECK(sps && sps_len);
    if (!sps || !sps_len) {
        feed(arg, f);
        return;
    }
    /* 2, 3, 2, 3... extra copies: the count changes from keyframe to
     * keyframe, as webrtcbin's does. */
    size_t extra = 2 + (size_t)((r->vframes / 30) % 2);
    cg_frame *g;
    CHECK_INT(cg_frame_new(&g, f->len + extra * (sps_len + 4)), 0);
    uint8_t *w = g->data;
    for (size_t k = 0; k < extra; k++) {
        static const uint8_t sc[4] = {0, 0, 0, 1};
        memcpy(w, sc, 4);
        memcpy(w + 4, sps, sps_len);
        w += 4 + sps_len;
    }
    memcpy(w, f->data, f->len);
    g->kind = f->kind;
    g->codec = f->codec;
    g->flags = f->flags;
    g->timescale = f->timescale;
    g->pts = f->pts;
    g->dts = f->dts;
    g->duration = f->duration;
    g->wall_us = f->wall_us;
    feed(arg, g);
    cg_frame_unref(g);
}

static void test_repeated_sps_one_period(void)
{
    run r;
    cg_segmenter_cfg cfg = {.video = 1, .audio = 1};
    if (start_run(&r, &cfg))
        return;
    CHECK(mu_feed(media("g1.mp4", 30, 6, "av"), feed_repeated_sps, &r) > 0);
    CHECK_INT(cg_segmenter_finish(r.s), 0);
    CHECK_INT(r.inits, 1);
    CHECK_INT(r.nsegs, 3);
    for (size_t i = 0; i < r.nsegs && i < 3; i++) {
        CHECK_INT(r.segs[i].disc, 0);
        CHECK_INT(r.segs[i].period, 0);
        CHECK_INT(r.segs[i].duration, 180000);
        check_segment(&r, i, "aac", 90000, -1);
    }
    end_run(&r);
}

static void test_gop_3s_never_cut_mid_gop(void)
{
    run r;
    cg_segmenter_cfg cfg = {.video = 1, .audio = 1};
    if (start_run(&r, &cfg))
        return;
    CHECK(mu_feed(media("g3.mp4", 90, 7, "av"), feed, &r) > 0);
    CHECK_INT(cg_segmenter_finish(r.s), 0);
    /* Keyframes at 0, 3, 6 s: segments as long as the GOP. */
    CHECK_INT(r.nsegs, 3);
    static const int64_t dur[3] = {270000, 270000, 90000};
    for (size_t i = 0; i < r.nsegs && i < 3; i++) {
        CHECK_INT(r.segs[i].start, (int64_t)i * 270000);
        CHECK_INT(r.segs[i].duration, dur[i]);
        CHECK_INT(r.segs[i].nkeys, 1);
        check_segment(&r, i, "aac", 90000, -1);
    }
    /* Two segments went past the 2 s target without a keyframe: one
     * request each (rate-limited to one per target duration). */
    CHECK_INT(r.need_key, 2);
    check_whole(&r, 7.0, 'v');
    end_run(&r);
}

static void test_opus_kept(void)
{
    run r;
    cg_segmenter_cfg cfg = {.video = 1, .audio = 1, .audio_out = CG_AUDIO_OUT_OPUS};
    if (start_run(&r, &cfg))
        return;
    CHECK(mu_feed(media("g1.mp4", 30, 6, "av"), feed, &r) > 0);
    CHECK_INT(cg_segmenter_finish(r.s), 0);
    CHECK_INT(r.nsegs, 3);
    for (size_t i = 0; i < r.nsegs; i++)
        check_segment(&r, i, "opus", 90000, -1);
    check_whole(&r, 6.0, 'v');
    end_run(&r);
}

static void test_audio_only(void)
{
    run r;
    cg_segmenter_cfg cfg = {.audio = 1};
    if (start_run(&r, &cfg))
        return;
    CHECK_INT(cg_segmenter_timescale(r.s), 48000);
    CHECK(mu_feed(media("a.mp4", 30, 5, "a"), feed, &r) > 0);
    CHECK_INT(cg_segmenter_finish(r.s), 0);
    /* Cut at the first AAC frame boundary past 2 s: 94 frames. */
    CHECK(r.nsegs >= 3);
    for (size_t i = 0; i + 1 < r.nsegs; i++) {
        CHECK_INT(r.segs[i].duration, 94 * 1024);
        CHECK_INT(r.segs[i + 1].start, r.segs[i].start + r.segs[i].duration);
        CHECK_INT(r.segs[i].nkeys, 1);
        CHECK_INT(r.segs[i].keys[0], r.segs[i].start);
    }
    for (size_t i = 0; i < r.nsegs; i++)
        check_segment(&r, i, "aac", 48000, -1);
    check_whole(&r, 5.0, 'a');
    end_run(&r);
}

static void test_reconnect_discontinuity(void)
{
    run r;
    cg_segmenter_cfg cfg = {.video = 1, .audio = 1};
    if (start_run(&r, &cfg))
        return;
    const char *m = media("g1.mp4", 30, 6, "av");
    CHECK(mu_feed(m, feed, &r) > 0);
    CHECK_INT(cg_segmenter_discontinuity(r.s), 0);
    /* The publisher comes back; its clock starts again from zero. */
    CHECK(mu_feed(m, feed, &r) > 0);
    CHECK_INT(cg_segmenter_finish(r.s), 0);
    CHECK_INT(r.inits, 2);
    CHECK_INT(r.nsegs, 6);
    for (size_t i = 0; i < r.nsegs && i < 6; i++) {
        /* One continuous timeline across the two sessions. */
        CHECK_INT(r.segs[i].start, (int64_t)i * 180000);
        CHECK_INT(r.segs[i].period, i < 3 ? 0 : 1);
        CHECK_INT(r.segs[i].disc, i == 3);
        check_segment(&r, i, "aac", 90000, -1);
    }
    end_run(&r);
}

static void test_corrupt_frame_waits_for_keyframe(void)
{
    run r;
    cg_segmenter_cfg cfg = {.video = 1, .audio = 1};
    if (start_run(&r, &cfg))
        return;
    r.corrupt_at = 40; /* mid-GOP in the second second */
    CHECK(mu_feed(media("g1.mp4", 30, 6, "av"), feed, &r) > 0);
    CHECK_INT(cg_segmenter_finish(r.s), 0);
    cg_segmenter_stats st;
    cg_segmenter_get_stats(r.s, &st);
    CHECK_INT(st.dropped_corrupt, 1);
    /* frames 41..59 dropped until the keyframe at 2 s */
    CHECK_INT(st.dropped_wait_key, 19);
    CHECK_INT(r.need_key, 1);
    CHECK_INT(r.nsegs, 3);
    /* Still decodes without a single error: frame 39 is held over the gap,
     * so the segment keeps its 2 s with 40 pictures. */
    CHECK_INT(r.segs[0].duration, 180000);
    for (size_t i = 0; i < r.nsegs; i++)
        check_segment(&r, i, "aac", 90000, i == 0 ? 40 : -1);
    end_run(&r);
}

static void test_max_segment_forces_cut(void)
{
    run r;
    cg_segmenter_cfg cfg = {.video = 1, .audio = 1, .target_ms = 1000, .max_segment_ms = 2000};
    if (start_run(&r, &cfg))
        return;
    CHECK(mu_feed(media("g3.mp4", 90, 7, "av"), feed, &r) > 0);
    CHECK_INT(cg_segmenter_finish(r.s), 0);
    cg_segmenter_stats st;
    cg_segmenter_get_stats(r.s, &st);
    CHECK_INT(st.forced_cuts, 2);
    /* [0,2) forced, gap to the keyframe at 3 s, [3,5) forced, [6,7). */
    CHECK_INT(r.nsegs, 3);
    if (r.nsegs == 3) {
        CHECK_INT(r.segs[0].start, 0);
        CHECK_INT(r.segs[0].duration, 180000);
        CHECK_INT(r.segs[1].start, 270000);
        CHECK_INT(r.segs[1].disc, 1);
        CHECK_INT(r.segs[2].start, 540000);
        CHECK_INT(r.segs[2].disc, 1);
    }
    for (size_t i = 0; i < r.nsegs; i++)
        check_segment(&r, i, "aac", 90000, -1);
    end_run(&r);
}

static cg_frame *make_frame(int kind, int codec, const void *data, size_t len, int64_t pts)
{
    cg_frame *f = NULL;
    cg_frame_new(&f, len);
    memcpy(f->data, data, len);
    f->kind = kind;
    f->codec = codec;
    f->timescale = kind == CG_MEDIA_VIDEO ? 90000 : 48000;
    f->pts = f->dts = pts;
    f->flags = kind == CG_MEDIA_AUDIO ? CG_FRAME_KEY : 0;
    return f;
}

static void test_no_keyframe_no_output(void)
{
    run r;
    cg_segmenter_cfg cfg = {.video = 1, .audio = 1};
    if (start_run(&r, &cfg))
        return;
    /* Non-IDR slices only: nothing can start; keyframes are requested. */
    static const uint8_t slice[] = {0, 0, 0, 1, 0x41, 0x9a, 0x00, 0x10};
    for (int i = 0; i < 90; i++) {
        cg_frame *f = make_frame(CG_MEDIA_VIDEO, CG_CODEC_H264, slice, sizeof(slice), i * 3000);
        CHECK_INT(cg_segmenter_push(r.s, f), 0);
        cg_frame_unref(f);
    }
    CHECK_INT(cg_segmenter_finish(r.s), 0);
    CHECK_INT(r.inits, 0);
    CHECK_INT(r.nsegs, 0);
    /* 3 s without a keyframe, requests once per 2 s target. */
    CHECK_INT(r.need_key, 2);
    cg_frame *f = make_frame(CG_MEDIA_VIDEO, CG_CODEC_H264, slice, sizeof(slice), 0);
    CHECK_INT(cg_segmenter_push(r.s, f), CG_ESTATE);
    cg_frame_unref(f);
    end_run(&r);
}

int main(void)
{
    /* libavcodec's encoder statistics are not test output. */
    av_log_set_level(AV_LOG_ERROR);
    if (mu_tmpdir(media_dir, sizeof(media_dir), "media") != 0)
        return 1;
    RUN(test_gop_1s_aac);
    RUN(test_repeated_sps_one_period);
    RUN(test_gop_3s_never_cut_mid_gop);
    RUN(test_opus_kept);
    RUN(test_audio_only);
    RUN(test_reconnect_discontinuity);
    RUN(test_corrupt_frame_waits_for_keyframe);
    RUN(test_max_segment_forces_cut);
    RUN(test_no_keyframe_no_output);
    mu_rm_rf(media_dir);
    return TEST_RESULT();
}
