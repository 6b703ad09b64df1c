/* The thumbnailer on segments our packager made from ffmpeg-encoded media:
 * each segment gets a 320-wide JPEG whose picture is the segment's
 * keyframe as ffmpeg decodes and scales it (PSNR against ffmpeg's own
 * extraction, and clearly worse against another segment's keyframe),
 * across a reconnect (second init segment); audio-only, missing and
 * corrupt segments fail and are counted; a full queue skips and counts;
 * a thumbnail already stored is kept; a call queued after jobs runs after
 * their outcomes. */
#include <math.h>
#include <pthread.h>
#include <time.h>

#include "core/err.h"
#include "packager/index.h"
#include "packager/packager.h"
#include "packager/thumbs.h"
#include "storage/fs.h"
#include "media_util.h"
#include "cg_test.h"

#define MAX_SEGS 16
#define BIG_QUEUE 4096

static char base[256];

typedef struct seg_ev {
    pthread_mutex_t mu;
    int n;
    uint64_t seq[MAX_SEGS];
    uint32_t period[MAX_SEGS];
} seg_ev;

static void on_pk_event(void *arg, const cg_packager_event *ev)
{
    seg_ev *e = arg;
    if (ev->type != CG_PACKAGER_EV_SEGMENT)
        return;
    pthread_mutex_lock(&e->mu);
    if (e->n < MAX_SEGS) {
        e->seq[e->n] = ev->seq;
        e->period[e->n] = ev->period;
        e->n++;
    }
    pthread_mutex_unlock(&e->mu);
}

typedef struct feeder {
    cg_packager *p;
    int frames;
    int disc_at; /* frame index of a reconnect, 0: none */
} feeder;

static void feed(void *arg, cg_frame *f)
{
    feeder *fd = arg;
    if (fd->disc_at && fd->frames == fd->disc_at)
        CHECK_INT(cg_packager_discontinuity(fd->p), 0);
    CHECK_INT(cg_packager_push(fd->p, f), 0);
    fd->frames++;
}

/* H.264 of the given size, 30 fps, a keyframe every gop frames, from
 * testsrc2 (a moving pattern), with Opus when av. */
static int make_video(const char *path, const char *size, int gop, int seconds, int av)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=%s:rate=30 %s -t %d "
             "-c:v libx264 -profile:v baseline -preset veryfast -pix_fmt yuv420p -sc_threshold 0 "
             "-bf 0 -g %d -keyint_min %d %s '%s'",
             size, av ? "-f lavfi -i sine=frequency=440:sample_rate=48000" : "", seconds, gop, gop,
             av ? "-c:a libopus -b:a 64k -ac 2 -ar 48000" : "-an", path);
    char out[4096];
    int rc = mu_run(cmd, out, sizeof(out));
    if (rc)
        fprintf(stderr, "ffmpeg failed (%d): %s\n", rc, out);
    return rc;
}

/* Packages media into st under dir; records the segment events. */
static void package(cg_storage *st, const char *dir, const char *media, int video, int audio,
                    int disc_at, seg_ev *ev)
{
    cg_packager_cfg cfg;
    cg_packager_cfg_default(&cfg);
    cfg.video = video;
    cfg.audio = audio;
    cfg.queue_len = BIG_QUEUE;
    cfg.dir = dir;
    cfg.on_event = on_pk_event;
    cfg.event_arg = ev;
    cg_packager *p = NULL;
    CHECK_INT(cg_packager_new(&p, st, dir, &cfg), 0);
    if (!p)
        return;
    feeder fd = {.p = p, .disc_at = disc_at};
    CHECK(mu_feed(media, feed, &fd) > 0);
    cg_packager_finish(p);
    cg_packager_free(p);
}

typedef struct results {
    pthread_mutex_t mu;
    int n;
    int err[MAX_SEGS * 2];
    uint64_t seq[MAX_SEGS * 2];
    int w, h;
    /* Queue test: hold the worker in its first callback. */
    int hold, holding, released;
} results;

static void on_done(void *arg, const cg_thumbs_result *res)
{
    results *r = arg;
    pthread_mutex_lock(&r->mu);
    if (r->n < MAX_SEGS * 2) {
        r->err[r->n] = res->err;
        r->seq[r->n] = res->job->seq;
        r->n++;
    }
    if (!res->err) {
        r->w = res->width;
        r->h = res->height;
    }
    int hold = r->hold && r->n == 1;
    pthread_mutex_unlock(&r->mu);
    if (hold) {
        __atomic_store_n(&r->holding, 1, __ATOMIC_RELEASE);
        while (!__atomic_load_n(&r->released, __ATOMIC_ACQUIRE)) {
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
        }
    }
}

/* cg_thumbs_after's call: notes how many outcomes came before it. */
typedef struct after_mark {
    results *r;
    int seen;
    int ran;
} after_mark;

static void mark_after(void *arg)
{
    after_mark *m = arg;
    pthread_mutex_lock(&m->r->mu);
    m->seen = m->r->n;
    pthread_mutex_unlock(&m->r->mu);
    m->ran++;
}

static cg_thumbs_job job_for(const char *dir, uint64_t seq, uint32_t period)
{
    cg_thumbs_job j = {.seq = seq, .period = period};
    snprintf(j.dir, sizeof(j.dir), "%s", dir);
    snprintf(j.broadcast, sizeof(j.broadcast), "%s", dir);
    snprintf(j.stream, sizeof(j.stream), "cam");
    return j;
}

/* Decodes a JPEG to its luma plane (malloc'd, w*h bytes). */
static uint8_t *jpeg_luma(const uint8_t *p, size_t len, int *w, int *h, int *pix_fmt)
{
    const AVCodec *c = avcodec_find_decoder(AV_CODEC_ID_MJPEG);
    AVCodecContext *dec = avcodec_alloc_context3(c);
    AVPacket *pkt = av_packet_alloc();
    AVFrame *fr = av_frame_alloc();
    uint8_t *out = NULL;
    if (avcodec_open2(dec, c, NULL) == 0 && av_new_packet(pkt, (int)len) == 0) {
        memcpy(pkt->data, p, len);
        if (avcodec_send_packet(dec, pkt) == 0 && avcodec_receive_frame(dec, fr) == 0) {
            *w = fr->width;
            *h = fr->height;
            *pix_fmt = fr->format;
            out = malloc((size_t)fr->width * (size_t)fr->height);
            for (int y = 0; out && y < fr->height; y++)
                memcpy(out + (size_t)y * (size_t)fr->width, fr->data[0] + y * fr->linesize[0],
                       (size_t)fr->width);
        }
    }
    av_frame_free(&fr);
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    return out;
}

/* ffmpeg's own picture of a segment's first frame, scaled as ffmpeg's
 * scale filter does (320:-2), full range, as raw luma (malloc'd). */
static uint8_t *ffmpeg_luma(const char *root, const char *dir, uint64_t seq, uint32_t period, int w,
                            int h)
{
    char init[700], seg[700], cat[700], raw[700], cmd[4096], out[4096];
    char leaf[32];
    cg_tl_init_name(period, leaf, sizeof(leaf));
    snprintf(init, sizeof(init), "%s/%s/%s", root, dir, leaf);
    cg_tl_segment_name(seq, leaf, sizeof(leaf));
    snprintf(seg, sizeof(seg), "%s/%s/%s", root, dir, leaf);
    snprintf(cat, sizeof(cat), "%s/ref-%" PRIu64 ".mp4", base, seq);
    snprintf(raw, sizeof(raw), "%s/ref-%" PRIu64 ".y", base, seq);
    if (mu_concat(init, seg, cat) != 0)
        return NULL;
    snprintf(cmd, sizeof(cmd),
             "ffmpeg -nostdin -v error -y -i '%s' -map 0:v:0 -frames:v 1 "
             "-vf scale=320:-2,format=yuvj420p -f rawvideo '%s'",
             cat, raw);
    if (mu_run(cmd, out, sizeof(out)) != 0) {
        fprintf(stderr, "ffmpeg: %s\n", out);
        return NULL;
    }
    size_t n = (size_t)w * (size_t)h;
    uint8_t *y = malloc(n);
    FILE *f = fopen(raw, "rb");
    size_t got = f && y ? fread(y, 1, n, f) : 0;
    if (f)
        fclose(f);
    if (got != n) {
        free(y);
        return NULL;
    }
    return y;
}

static double psnr(const uint8_t *a, const uint8_t *b, size_t n)
{
    double se = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        se += d * d;
    }
    if (se == 0)
        return 99.0;
    return 10.0 * log10(255.0 * 255.0 * (double)n / se);
}

static void test_segments_get_their_keyframe(void)
{
    char root[400], media[400];
    snprintf(root, sizeof(root), "%s/store", base);
    snprintf(media, sizeof(media), "%s/av.mp4", base);
    CHECK_INT(make_video(media, "640x360", 30, 9, 1), 0);
    cg_storage *st = NULL;
    CHECK_INT(cg_storage_fs_new(&st, root), 0);
    seg_ev ev = {.mu = PTHREAD_MUTEX_INITIALIZER};
    /* A reconnect after 5 s (400 audio and video frames): the segments
     * after it need init-1.mp4. */
    package(st, "b1", media, 1, 1, 400, &ev);
    CHECK(ev.n >= 4);
    int periods = 0;
    for (int i = 0; i < ev.n; i++)
        periods += ev.period[i] > 0;
    CHECK(periods >= 1 && periods < ev.n);

    results res = {.mu = PTHREAD_MUTEX_INITIALIZER};
    cg_thumbs_cfg cfg = {.on_done = on_done, .done_arg = &res};
    cg_thumbs *t = NULL;
    CHECK_INT(cg_thumbs_new(&t, st, &cfg), 0);
    for (int i = 0; i < ev.n; i++) {
        cg_thumbs_job j = job_for("b1", ev.seq[i], ev.period[i]);
        CHECK_INT(cg_thumbs_submit(t, &j), 0);
    }
    /* Queued behind every job: runs once all their outcomes are out. */
    after_mark mark = {.r = &res};
    CHECK_INT(cg_thumbs_after(t, mark_after, &mark), 0);
    cg_thumbs_stop(t); /* makes what is queued */
    CHECK_INT(mark.ran, 1);
    CHECK_INT(mark.seen, ev.n);
    cg_thumbs_job j = job_for("b1", 0, 0);
    CHECK_INT(cg_thumbs_submit(t, &j), CG_ESTATE);
    CHECK_INT(cg_thumbs_after(t, mark_after, &mark), CG_ESTATE);
    CHECK_INT(cg_thumbs_after(t, NULL, &mark), CG_EINVAL);
    cg_thumbs_stats s;
    cg_thumbs_get_stats(t, &s);
    CHECK_INT(s.made, ev.n);
    CHECK_INT(s.failed, 0);
    CHECK_INT(s.skipped, 0);
    CHECK(s.work_us > 0);
    CHECK_INT(res.n, ev.n);
    for (int i = 0; i < res.n; i++) {
        CHECK_INT(res.err[i], 0);
        CHECK_INT(res.seq[i], ev.seq[i]);
    }
    CHECK_INT(res.w, 320);
    CHECK_INT(res.h, 180);
    cg_thumbs_free(t);

    /* Each JPEG is the picture ffmpeg gets from that segment's first
     * frame; another segment's keyframe (the pattern moves) matches much
     * worse, so a shuffled or stale thumbnail fails. */
    double worst_own = 99, best_other = 0;
    for (int i = 0; i < ev.n; i++) {
        char name[128];
        snprintf(name, sizeof(name), "b1/thumb-%" PRIu64 ".jpg", ev.seq[i]);
        cg_dbuf d;
        cg_dbuf_init(&d, CG_THUMBS_MAX_BYTES);
        CHECK_INT(cg_storage_get(st, name, &d), 0);
        CHECK(d.len > 1000 && (uint8_t)d.p[0] == 0xFF && (uint8_t)d.p[1] == 0xD8);
        int w = 0, h = 0, fmt = -1;
        uint8_t *y = jpeg_luma((const uint8_t *)d.p, d.len, &w, &h, &fmt);
        cg_dbuf_free(&d);
        CHECK(y != NULL);
        CHECK_INT(w, 320);
        CHECK_INT(h, 180);
        CHECK_INT(fmt, AV_PIX_FMT_YUVJ420P);
        uint8_t *own = ffmpeg_luma(root, "b1", ev.seq[i], ev.period[i], 320, 180);
        int k = (i + 2) % ev.n;
        uint8_t *other = ffmpeg_luma(root, "b1", ev.seq[k], ev.period[k], 320, 180);
        CHECK(own && other);
        if (y && own && other) {
            double p_own = psnr(y, own, 320 * 180), p_other = psnr(y, other, 320 * 180);
            fprintf(stderr, "  segment %d: PSNR %.1f dB own keyframe, %.1f dB segment %d's\n", i,
                    p_own, p_other, k);
            if (p_own < worst_own)
                worst_own = p_own;
            if (p_other > best_other)
                best_other = p_other;
        }
        free(y);
        free(own);
        free(other);
    }
    CHECK(worst_own > 35.0);
    CHECK(best_other < worst_own - 6.0);
    cg_storage_free(st);
}

static void test_sizes(void)
{
    /* 4:3 and an odd shape: height keeps the aspect, rounded to even;
     * smaller sources are scaled up to the width. */
    static const struct {
        const char *size;
        int h;
    } cases[] = {{"640x480", 240}, {"176x144", 262}, {"1280x720", 180}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char root[400], media[400], dir[16];
        snprintf(root, sizeof(root), "%s/sizes", base);
        snprintf(media, sizeof(media), "%s/v-%zu.mp4", base, i);
        snprintf(dir, sizeof(dir), "s%zu", i);
        CHECK_INT(make_video(media, cases[i].size, 30, 3, 0), 0);
        cg_storage *st = NULL;
        CHECK_INT(cg_storage_fs_new(&st, root), 0);
        seg_ev ev = {.mu = PTHREAD_MUTEX_INITIALIZER};
        package(st, dir, media, 1, 0, 0, &ev);
        CHECK(ev.n >= 1);
        char init[64], seg[64];
        snprintf(init, sizeof(init), "%s/init.mp4", dir);
        snprintf(seg, sizeof(seg), "%s/seg-0.m4s", dir);
        cg_dbuf d;
        cg_dbuf_init(&d, CG_THUMBS_MAX_BYTES);
        int w = 0, h = 0;
        CHECK_INT(cg_thumbs_make(st, init, seg, 0, 0, &d, &w, &h), 0);
        CHECK_INT(w, 320);
        CHECK_INT(h, cases[i].h);
        int jw = 0, jh = 0, fmt = -1;
        uint8_t *y = jpeg_luma((const uint8_t *)d.p, d.len, &jw, &jh, &fmt);
        CHECK(y != NULL);
        CHECK_INT(jw, 320);
        CHECK_INT(jh, cases[i].h);
        free(y);
        cg_dbuf_free(&d);
        cg_storage_free(st);
    }
}

static void test_failures_counted(void)
{
    char root[400], media[400];
    snprintf(root, sizeof(root), "%s/fail", base);
    snprintf(media, sizeof(media), "%s/a.mp4", base);
    CHECK_INT(mu_make_media(media, 30, 3, "a"), 0);
    cg_storage *st = NULL;
    CHECK_INT(cg_storage_fs_new(&st, root), 0);
    seg_ev ev = {.mu = PTHREAD_MUTEX_INITIALIZER};
    package(st, "audio", media, 0, 1, 0, &ev);
    CHECK(ev.n >= 1);
    /* A video broadcast whose segment is then damaged. */
    char vmedia[400];
    snprintf(vmedia, sizeof(vmedia), "%s/v.mp4", base);
    CHECK_INT(make_video(vmedia, "320x240", 30, 3, 0), 0);
    seg_ev vev = {.mu = PTHREAD_MUTEX_INITIALIZER};
    package(st, "video", vmedia, 1, 0, 0, &vev);
    CHECK(vev.n >= 1);
    cg_dbuf d;
    cg_dbuf_init(&d, 64u << 20);
    CHECK_INT(cg_storage_get(st, "video/seg-0.m4s", &d), 0);
    /* Keep the boxes, garble the picture data behind the moof. */
    for (size_t i = d.len / 4; i < d.len; i++)
        d.p[i] ^= 0x5A;
    CHECK_INT(cg_storage_put(st, "video/seg-9.m4s", "junk", 4, 0), 0);
    CHECK_INT(cg_storage_put(st, "video/seg-8.m4s", d.p, d.len, 0), 0);
    cg_dbuf_free(&d);

    results res = {.mu = PTHREAD_MUTEX_INITIALIZER};
    cg_thumbs_cfg cfg = {.on_done = on_done, .done_arg = &res};
    cg_thumbs *t = NULL;
    CHECK_INT(cg_thumbs_new(&t, st, &cfg), 0);
    cg_thumbs_job jobs[] = {
        job_for("audio", 0, 0), /* no video track */
        job_for("video", 7, 0), /* no such segment */
        job_for("video", 9, 0), /* not MP4 */
        job_for("video", 0, 3), /* no such init segment */
    };
    for (size_t i = 0; i < sizeof(jobs) / sizeof(jobs[0]); i++)
        CHECK_INT(cg_thumbs_submit(t, &jobs[i]), 0);
    cg_thumbs_job garbled = job_for("video", 8, 0);
    CHECK_INT(cg_thumbs_submit(t, &garbled), 0);
    cg_thumbs_stop(t);
    cg_thumbs_stats s;
    cg_thumbs_get_stats(t, &s);
    CHECK_INT(res.n, 5);
    CHECK_INT(res.err[0], CG_EUNSUPP);
    CHECK_INT(res.err[1], CG_ENOTFOUND);
    CHECK(res.err[2] != 0);
    CHECK_INT(res.err[3], CG_ENOTFOUND);
    /* A garbled picture either fails or still gives a JPEG (the decoder
     * conceals); it never crashes. */
    CHECK_INT(s.made + s.failed, 5);
    CHECK(s.failed >= 4);
    cg_storage_stat sst;
    CHECK_INT(cg_storage_stat_obj(st, "audio/thumb-0.jpg", &sst), CG_ENOTFOUND);
    CHECK_INT(cg_storage_stat_obj(st, "video/thumb-7.jpg", &sst), CG_ENOTFOUND);
    cg_thumbs_free(t);

    CHECK_INT(cg_thumbs_new(&t, st, &(cg_thumbs_cfg){.width = 321}), CG_EINVAL);
    CHECK_INT(cg_thumbs_new(&t, st, &(cg_thumbs_cfg){.qscale = 1}), CG_EINVAL);
    CHECK_INT(cg_thumbs_new(&t, NULL, NULL), CG_EINVAL);
    cg_storage_free(st);
}

static void test_queue_full_skips(void)
{
    char root[400], media[400];
    snprintf(root, sizeof(root), "%s/queue", base);
    snprintf(media, sizeof(media), "%s/q.mp4", base);
    CHECK_INT(make_video(media, "320x240", 30, 5, 0), 0);
    cg_storage *st = NULL;
    CHECK_INT(cg_storage_fs_new(&st, root), 0);
    seg_ev ev = {.mu = PTHREAD_MUTEX_INITIALIZER};
    package(st, "b1", media, 1, 0, 0, &ev);
    CHECK(ev.n >= 2);
    /* A thumbnail already there (an earlier run made it) is kept. */
    CHECK_INT(cg_storage_put(st, "b1/thumb-1.jpg", "old", 3, 0), 0);

    results res = {.mu = PTHREAD_MUTEX_INITIALIZER, .hold = 1};
    cg_thumbs_cfg cfg = {.queue_len = 2, .on_done = on_done, .done_arg = &res};
    cg_thumbs *t = NULL;
    CHECK_INT(cg_thumbs_new(&t, st, &cfg), 0);
    cg_thumbs_job j0 = job_for("b1", 0, 0), j1 = job_for("b1", 1, 0);
    CHECK_INT(cg_thumbs_submit(t, &j0), 0);
    /* The worker holds job 0 in its callback: the queue has room for two. */
    for (int i = 0; i < 5000 && !__atomic_load_n(&res.holding, __ATOMIC_ACQUIRE); i++) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    CHECK(__atomic_load_n(&res.holding, __ATOMIC_ACQUIRE));
    CHECK_INT(cg_thumbs_submit(t, &j1), 0);
    CHECK_INT(cg_thumbs_submit(t, &j0), 0);
    after_mark mark = {.r = &res};
    CHECK_INT(cg_thumbs_after(t, mark_after, &mark), CG_EFULL); /* not queued: not counted */
    CHECK_INT(cg_thumbs_submit(t, &j1), CG_EFULL);
    CHECK_INT(cg_thumbs_submit(t, &j1), CG_EFULL);
    cg_thumbs_stats s;
    cg_thumbs_get_stats(t, &s);
    CHECK_INT(s.skipped, 2);
    CHECK_INT(s.queued, 2);
    __atomic_store_n(&res.released, 1, __ATOMIC_RELEASE);
    cg_thumbs_stop(t);
    cg_thumbs_get_stats(t, &s);
    CHECK_INT(s.made, 3);
    CHECK_INT(s.failed, 0);
    CHECK_INT(s.queued, 0);
    cg_dbuf d;
    cg_dbuf_init(&d, 1024);
    CHECK_INT(cg_storage_get(st, "b1/thumb-1.jpg", &d), 0);
    CHECK_INT(d.len, 3);
    cg_dbuf_free(&d);
    cg_thumbs_free(t);
    cg_storage_free(st);
}

static void test_names(void)
{
    char s[32];
    uint64_t seq = 99;
    CHECK_INT(cg_thumbs_name(12, s, sizeof(s)), 0);
    CHECK_STR(s, "thumb-12.jpg");
    CHECK_INT(cg_thumbs_name(12, s, 8), CG_ENOSPC);
    CHECK(cg_thumbs_parse_name("thumb-0.jpg", &seq) && seq == 0);
    CHECK(cg_thumbs_parse_name("thumb-4194303.jpg", &seq) && seq == 4194303);
    static const char *bad[] = {"thumb-.jpg",   "thumb-01.jpg", "thumb-1.jpeg",
                                "thumb-1.jpgx", "thumb--1.jpg", "Thumb-1.jpg",
                                "seg-1.m4s",    "thumb-1",      "thumb-12345678901234567890.jpg",
                                "thumb- 1.jpg", "thumb-1a.jpg", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(!cg_thumbs_parse_name(bad[i], &seq));
    CHECK(!cg_thumbs_parse_name(NULL, &seq));
    char url[128];
    CHECK_INT(cg_thumbs_url("cam-20261207T120000Z-beef", 3, url, sizeof(url)), 0);
    CHECK_STR(url, "/recordings/cam-20261207T120000Z-beef/thumbs/3.jpg");
    CHECK_INT(cg_thumbs_url("cam", 3, url, 10), CG_ENOSPC);
}

int main(void)
{
    av_log_set_level(AV_LOG_QUIET);
    if (mu_tmpdir(base, sizeof(base), "thumbs") != 0)
        return 1;
    RUN(test_names);
    RUN(test_segments_get_their_keyframe);
    RUN(test_sizes);
    RUN(test_failures_counted);
    RUN(test_queue_full_skips);
    mu_rm_rf(base);
    return TEST_RESULT();
}
