/* Thumbnailer (see thumbs.h).
 *
 * One worker thread owns every libav* context it makes; a job's contexts
 * live for that job only. The queue holds heap items, each a copy of a job
 * or a call queued by cg_thumbs_after; the worker frees each once handled.
 * Counters are atomics, so stats and metrics are read from any thread
 * without a lock. */
#include "packager/thumbs.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>

#include "core/clock.h"
#include "packager/avin.h"
#include "core/err.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/queue.h"
#include "packager/index.h"

#define IO_BUF 32768
/* Broadcasts whose failure was logged recently: a failing broadcast fails
 * every segment, and its id stays in here while it does. */
#define LOGGED_FAILURES 16

struct cg_thumbs {
    cg_storage *st;
    cg_thumbs_cfg cfg;
    cg_queue *q;
    pthread_t worker;
    int started;
    int stopped; /* caller's thread */

    /* worker only */
    char logged[LOGGED_FAILURES][CG_TL_ID_MAX + 1];
    size_t logged_next;

    /* atomics */
    uint64_t made, failed, skipped, work_us;
};

static struct {
    cg_metric *made, *failed, *skipped, *work_us;
} g_m;
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void metrics_register(void)
{
    cg_metrics_counter(&g_m.made, "clipgate_thumbnails_total", "segment thumbnails made and stored",
                       NULL);
    cg_metrics_counter(&g_m.failed, "clipgate_thumbnails_failed_total",
                       "segment thumbnails that could not be made (decode or storage error)", NULL);
    cg_metrics_counter(&g_m.skipped, "clipgate_thumbnails_skipped_total",
                       "segments left without a thumbnail because the thumbnail queue was full",
                       NULL);
    cg_metrics_counter(&g_m.work_us, "clipgate_thumbnail_work_microseconds_total",
                       "time spent reading, decoding, scaling and encoding thumbnails", NULL);
}

typedef struct item {
    cg_thumbs_job job;
    void (*after)(void *arg); /* set: a call, not a job */
    void *after_arg;
} item;

static void add(uint64_t *v, uint64_t n)
{
    __atomic_add_fetch(v, n, __ATOMIC_RELAXED);
}

/* ---- names ---- */

int cg_thumbs_name(uint64_t seq, char *out, size_t cap)
{
    int n = snprintf(out, cap, "thumb-%" PRIu64 ".jpg", seq);
    return n < 0 || (size_t)n >= cap ? CG_ENOSPC : 0;
}

int cg_thumbs_parse_name(const char *leaf, uint64_t *seq)
{
    if (!leaf || strncmp(leaf, "thumb-", 6) != 0)
        return 0;
    const char *p = leaf + 6, *digits = p;
    uint64_t v = 0;
    while (*p >= '0' && *p <= '9' && p - digits < 19)
        v = v * 10 + (uint64_t)(*p++ - '0');
    if (p == digits || strcmp(p, ".jpg") != 0 || (digits[0] == '0' && p - digits > 1))
        return 0;
    *seq = v;
    return 1;
}

int cg_thumbs_url(const char *broadcast, uint64_t seq, char *out, size_t cap)
{
    int n = snprintf(out, cap, "/recordings/%s/thumbs/%" PRIu64 ".jpg", broadcast, seq);
    return n < 0 || (size_t)n >= cap ? CG_ENOSPC : 0;
}

/* ---- one thumbnail ---- */

/* Demuxes the init segment and the media segment (objs, read back-to-back
 * as one fragmented MP4; only what the demuxer asks for is read) up to the
 * first video packet and decodes it alone into frame. */
static int decode_first(cg_storage_obj *const objs[2], AVFrame *frame)
{
    cg_avin in;
    AVCodecContext *dec = NULL;
    AVPacket *pkt = NULL;
    int rc = CG_ENOMEM;
    int ret = cg_avin_open(&in, objs, 2, IO_BUF);
    if (ret < 0) {
        rc = in.err ? in.err : ret == AVERROR(ENOMEM) ? CG_ENOMEM : CG_EPROTO;
        goto out;
    }
    AVFormatContext *ic = in.ic;
    if (!(pkt = av_packet_alloc()))
        goto out;
    int vi = -1;
    for (unsigned i = 0; i < ic->nb_streams; i++) {
        AVStream *st = ic->streams[i];
        if (vi < 0 && st->codecpar->codec_id == AV_CODEC_ID_H264)
            vi = (int)i;
        else
            st->discard = AVDISCARD_ALL;
    }
    if (vi < 0) {
        rc = CG_EUNSUPP;
        goto out;
    }
    const AVCodec *codec = avcodec_find_decoder(AV_CODEC_ID_H264);
    if (!codec) {
        rc = CG_EUNSUPP;
        goto out;
    }
    if (!(dec = avcodec_alloc_context3(codec)))
        goto out;
    if ((ret = avcodec_parameters_to_context(dec, ic->streams[vi]->codecpar)) < 0) {
        rc = cg_avin_err(ret);
        goto out;
    }
    /* One picture: threads would only add their start-up and delay. */
    dec->thread_count = 1;
    if ((ret = avcodec_open2(dec, codec, NULL)) < 0) {
        rc = cg_avin_err(ret);
        goto out;
    }
    for (;;) {
        ret = av_read_frame(ic, pkt);
        if (ret < 0) {
            rc = in.err ? in.err : ret == AVERROR_EOF ? CG_EPROTO : cg_avin_err(ret);
            goto out;
        }
        if (pkt->stream_index == vi)
            break;
        av_packet_unref(pkt);
    }
    /* Segments start on a keyframe; anything else would decode to a
     * picture made from missing references. */
    if (!(pkt->flags & AV_PKT_FLAG_KEY)) {
        rc = CG_EPROTO;
        goto out;
    }
    rc = CG_EPROTO;
    if (avcodec_send_packet(dec, pkt) < 0 || avcodec_send_packet(dec, NULL) < 0)
        goto out;
    if (avcodec_receive_frame(dec, frame) < 0 || frame->width <= 0 || frame->height <= 0)
        goto out;
    rc = 0;
out:
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    cg_avin_close(&in);
    return rc;
}

/* Scales frame to width (height keeps the aspect, rounded to even) and
 * encodes it as a full-range 4:2:0 JPEG appended to out. */
static int encode_jpeg(const AVFrame *frame, int width, int qscale, cg_dbuf *out, int *w, int *h)
{
    int height =
        (int)(((int64_t)frame->height * width + frame->width) / (2 * (int64_t)frame->width)) * 2;
    if (height < 2)
        height = 2;
    struct SwsContext *sws = NULL;
    AVFrame *dst = NULL;
    AVCodecContext *enc = NULL;
    AVPacket *pkt = NULL;
    int rc = CG_ENOMEM;
    const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
    if (!codec) {
        rc = CG_EUNSUPP;
        goto out;
    }
    sws = sws_getContext(frame->width, frame->height, frame->format, width, height,
                         AV_PIX_FMT_YUVJ420P, SWS_BICUBIC, NULL, NULL, NULL);
    if (!sws) {
        rc = CG_EUNSUPP; /* a pixel format swscale cannot read */
        goto out;
    }
    if (!(dst = av_frame_alloc()) || !(pkt = av_packet_alloc()))
        goto out;
    dst->format = AV_PIX_FMT_YUVJ420P;
    dst->width = width;
    dst->height = height;
    if (av_frame_get_buffer(dst, 0) < 0)
        goto out;
    if (sws_scale(sws, (const uint8_t *const *)frame->data, frame->linesize, 0, frame->height,
                  dst->data, dst->linesize) != height) {
        rc = CG_EIO;
        goto out;
    }
    if (!(enc = avcodec_alloc_context3(codec)))
        goto out;
    enc->width = width;
    enc->height = height;
    enc->pix_fmt = AV_PIX_FMT_YUVJ420P;
    enc->color_range = AVCOL_RANGE_JPEG;
    enc->time_base = (AVRational){1, 25};
    enc->flags |= AV_CODEC_FLAG_QSCALE;
    enc->global_quality = FF_QP2LAMBDA * qscale;
    enc->thread_count = 1;
    int ret = avcodec_open2(enc, codec, NULL);
    if (ret < 0) {
        rc = cg_avin_err(ret);
        goto out;
    }
    dst->pts = 0;
    dst->quality = enc->global_quality;
    rc = CG_EIO;
    if (avcodec_send_frame(enc, dst) < 0 || avcodec_send_frame(enc, NULL) < 0 ||
        avcodec_receive_packet(enc, pkt) < 0)
        goto out;
    cg_dbuf_add(out, pkt->data, (size_t)pkt->size);
    rc = cg_dbuf_err(out);
    if (!rc) {
        if (w)
            *w = width;
        if (h)
            *h = height;
    }
out:
    av_packet_free(&pkt);
    avcodec_free_context(&enc);
    av_frame_free(&dst);
    sws_freeContext(sws);
    return rc;
}

int cg_thumbs_make(cg_storage *st, const char *init_name, const char *seg_name, int width,
                   int qscale, cg_dbuf *jpeg, int *w, int *h)
{
    if (!width)
        width = CG_THUMBS_WIDTH;
    if (!qscale)
        qscale = CG_THUMBS_QSCALE;
    if (!st || !init_name || !seg_name || !jpeg || width < 16 || width > 4096 || (width & 1) ||
        qscale < 2 || qscale > 31)
        return CG_EINVAL;
    cg_storage_obj *objs[2] = {NULL, NULL};
    int rc = cg_storage_open(st, init_name, &objs[0]);
    if (!rc)
        rc = cg_storage_open(st, seg_name, &objs[1]);
    AVFrame *frame = rc ? NULL : av_frame_alloc();
    if (!rc && !frame)
        rc = CG_ENOMEM;
    if (!rc)
        rc = decode_first(objs, frame);
    if (!rc)
        rc = encode_jpeg(frame, width, qscale, jpeg, w, h);
    av_frame_free(&frame);
    cg_storage_obj_close(objs[0]);
    cg_storage_obj_close(objs[1]);
    return rc;
}

/* ---- worker ---- */

/* 1 the first time a broadcast fails (while it stays among the recent
 * ones). */
static int first_failure(cg_thumbs *t, const char *id)
{
    for (size_t i = 0; i < LOGGED_FAILURES; i++)
        if (strcmp(t->logged[i], id) == 0)
            return 0;
    snprintf(t->logged[t->logged_next], sizeof(t->logged[0]), "%s", id);
    t->logged_next = (t->logged_next + 1) % LOGGED_FAILURES;
    return 1;
}

static const char *why(int err)
{
    switch (err) {
    case CG_EUNSUPP:
        return "the segment has no H.264 track";
    case CG_EPROTO:
        return "its first video frame could not be decoded";
    case CG_ENOTFOUND:
        return "the segment or its init segment is missing";
    default:
        return cg_strerror(err);
    }
}

static void run_job(cg_thumbs *t, const cg_thumbs_job *job)
{
    char init_leaf[32], seg_leaf[32], thumb_leaf[32];
    char init_name[CG_STORAGE_NAME_MAX + 1], seg_name[CG_STORAGE_NAME_MAX + 1],
        thumb_name[CG_STORAGE_NAME_MAX + 1];
    cg_thumbs_result res = {.job = job, .name = thumb_name};
    thumb_name[0] = '\0';
    cg_tl_init_name(job->period, init_leaf, sizeof(init_leaf));
    cg_tl_segment_name(job->seq, seg_leaf, sizeof(seg_leaf));
    cg_thumbs_name(job->seq, thumb_leaf, sizeof(thumb_leaf));
    int rc = cg_index_name(job->dir, init_leaf, init_name, sizeof(init_name));
    if (!rc)
        rc = cg_index_name(job->dir, seg_leaf, seg_name, sizeof(seg_name));
    if (!rc)
        rc = cg_index_name(job->dir, thumb_leaf, thumb_name, sizeof(thumb_name));
    cg_dbuf jpeg;
    cg_dbuf_init(&jpeg, CG_THUMBS_MAX_BYTES);
    uint64_t t0 = cg_now_us();
    if (!rc)
        rc = cg_thumbs_make(t->st, init_name, seg_name, t->cfg.width, t->cfg.qscale, &jpeg,
                            &res.width, &res.height);
    res.work_us = cg_now_us() - t0;
    /* Never rewritten: a thumbnail made before (by an earlier run) stays. */
    if (!rc) {
        rc = cg_storage_put(t->st, thumb_name, jpeg.p, jpeg.len, CG_STORAGE_NOREPLACE);
        if (rc == CG_EEXIST)
            rc = 0;
    }
    cg_dbuf_free(&jpeg);
    res.err = rc;
    add(&t->work_us, res.work_us);
    cg_metric_add(g_m.work_us, res.work_us);
    if (!rc) {
        add(&t->made, 1);
        cg_metric_inc(g_m.made);
    } else {
        add(&t->failed, 1);
        cg_metric_inc(g_m.failed);
        if (first_failure(t, job->broadcast))
            cg_warn(job->stream,
                    "broadcast %s: no thumbnail for segment %" PRIu64 ": %s (logged once per "
                    "broadcast; see clipgate_thumbnails_failed_total)",
                    job->broadcast, job->seq, why(rc));
    }
    if (t->cfg.on_done)
        t->cfg.on_done(t->cfg.done_arg, &res);
}

static void *worker_main(void *arg)
{
    cg_thumbs *t = arg;
    void *p;
    while (cg_queue_pop(t->q, &p, UINT64_MAX) == 0) {
        item *it = p;
        if (it->after)
            it->after(it->after_arg);
        else
            run_job(t, &it->job);
        free(it);
    }
    return NULL;
}

/* ---- lifecycle ---- */

int cg_thumbs_new(cg_thumbs **out, cg_storage *st, const cg_thumbs_cfg *cfg)
{
    if (!out || !st)
        return CG_EINVAL;
    cg_thumbs_cfg c = cfg ? *cfg : (cg_thumbs_cfg){0};
    if (!c.queue_len)
        c.queue_len = CG_THUMBS_QUEUE;
    if (!c.width)
        c.width = CG_THUMBS_WIDTH;
    if (!c.qscale)
        c.qscale = CG_THUMBS_QSCALE;
    if (c.width < 16 || c.width > 4096 || (c.width & 1) || c.qscale < 2 || c.qscale > 31)
        return CG_EINVAL;
    pthread_once(&metrics_once, metrics_register);
    cg_thumbs *t = calloc(1, sizeof(*t));
    if (!t)
        return CG_ENOMEM;
    t->st = st;
    t->cfg = c;
    int rc = cg_queue_new(&t->q, c.queue_len);
    if (rc)
        goto fail;
    if (pthread_create(&t->worker, NULL, worker_main, t) != 0) {
        rc = CG_EIO;
        goto fail;
    }
    t->started = 1;
    *out = t;
    return 0;
fail:
    cg_thumbs_free(t);
    return rc;
}

int cg_thumbs_submit(cg_thumbs *t, const cg_thumbs_job *job)
{
    if (!t || !job || !job->dir[0] || !job->broadcast[0])
        return CG_EINVAL;
    item *copy = calloc(1, sizeof(*copy));
    int rc = copy ? 0 : CG_ENOMEM;
    if (copy) {
        copy->job = *job;
        rc = cg_queue_push(t->q, copy, CG_QUEUE_DROP_NEWEST, NULL);
    }
    if (rc) {
        free(copy);
        if (rc != CG_ESTATE) {
            add(&t->skipped, 1);
            cg_metric_inc(g_m.skipped);
        }
    }
    return rc;
}

int cg_thumbs_after(cg_thumbs *t, void (*fn)(void *arg), void *arg)
{
    if (!t || !fn)
        return CG_EINVAL;
    item *it = calloc(1, sizeof(*it));
    if (!it)
        return CG_ENOMEM;
    it->after = fn;
    it->after_arg = arg;
    int rc = cg_queue_push(t->q, it, CG_QUEUE_DROP_NEWEST, NULL);
    if (rc)
        free(it);
    return rc;
}

void cg_thumbs_stop(cg_thumbs *t)
{
    if (!t || t->stopped)
        return;
    t->stopped = 1;
    if (t->q)
        cg_queue_close(t->q);
    if (t->started) {
        pthread_join(t->worker, NULL);
        t->started = 0;
    }
}

void cg_thumbs_free(cg_thumbs *t)
{
    if (!t)
        return;
    cg_thumbs_stop(t);
    if (t->q) {
        /* Only when the worker never started: calls still run, jobs are
         * dropped. */
        void *p;
        while (cg_queue_pop(t->q, &p, 0) == 0) {
            item *it = p;
            if (it->after)
                it->after(it->after_arg);
            free(it);
        }
        cg_queue_free(t->q);
    }
    free(t);
}

void cg_thumbs_get_stats(cg_thumbs *t, cg_thumbs_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->made = __atomic_load_n(&t->made, __ATOMIC_RELAXED);
    out->failed = __atomic_load_n(&t->failed, __ATOMIC_RELAXED);
    out->skipped = __atomic_load_n(&t->skipped, __ATOMIC_RELAXED);
    out->work_us = __atomic_load_n(&t->work_us, __ATOMIC_RELAXED);
    out->queued = t->q ? cg_queue_len(t->q) : 0;
}
