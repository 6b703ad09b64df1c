#include "ingest/dump.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/queue.h"
#include "ingest/h264_sps.h"

#define DUMP_QUEUE 1024

struct cg_dump {
    char *path;
    int has_video, has_audio;
    cg_queue *q;
    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;
    cg_dump_stats stats;
    /* worker-only state */
    AVFormatContext *fmt;
    int failed;
    int vidx, aidx;
    int64_t last_dts[2];
};

/* Collects SPS and PPS NAL units (with start codes) from an Annex B access
 * unit: the muxer turns them into avcC. */
static int annexb_params(const cg_frame *f, uint8_t **out, size_t *out_len, cg_h264_sps *sps)
{
    const uint8_t *p = f->data, *end = f->data + f->len;
    uint8_t *buf = malloc(f->len + 8);
    size_t n = 0;
    if (!buf)
        return CG_ENOMEM;
    while (p + 3 <= end) {
        /* find start code */
        const uint8_t *s = p;
        while (s + 3 <= end && !(s[0] == 0 && s[1] == 0 && s[2] == 1))
            s++;
        if (s + 3 > end)
            break;
        const uint8_t *nal = s + 3;
        const uint8_t *e = nal;
        while (e + 3 <= end && !(e[0] == 0 && e[1] == 0 && (e[2] == 1 || (e[2] == 0 && e + 4 <= end && e[3] == 1))))
            e++;
        if (e + 3 > end)
            e = end;
        int type = nal < end ? (nal[0] & 0x1f) : 0;
        if (type == 7)
            cg_h264_sps_parse(nal, (size_t)(e - nal), sps);
        if (type == 7 || type == 8) {
            static const uint8_t sc[4] = {0, 0, 0, 1};
            memcpy(buf + n, sc, 4);
            memcpy(buf + n + 4, nal, (size_t)(e - nal));
            n += 4 + (size_t)(e - nal);
        }
        p = e;
    }
    if (n == 0) {
        free(buf);
        return CG_ENOTFOUND;
    }
    *out = buf;
    *out_len = n;
    return 0;
}

static int set_extradata(AVCodecParameters *par, const uint8_t *p, size_t n)
{
    par->extradata = av_mallocz(n + AV_INPUT_BUFFER_PADDING_SIZE);
    if (!par->extradata)
        return CG_ENOMEM;
    memcpy(par->extradata, p, n);
    par->extradata_size = (int)n;
    return 0;
}

static int open_output(cg_dump *d, const cg_frame *first_video)
{
    int rc = avformat_alloc_output_context2(&d->fmt, NULL, "matroska", d->path);
    if (rc < 0 || !d->fmt)
        return CG_ENOMEM;
    d->vidx = d->aidx = -1;
    if (d->has_video) {
        AVStream *st = avformat_new_stream(d->fmt, NULL);
        if (!st)
            return CG_ENOMEM;
        st->codecpar->codec_type = AVMEDIA_TYPE_VIDEO;
        st->codecpar->codec_id = AV_CODEC_ID_H264;
        st->time_base = (AVRational){1, 90000};
        uint8_t *ps;
        size_t ps_len;
        cg_h264_sps sps = {0};
        if (first_video && annexb_params(first_video, &ps, &ps_len, &sps) == 0) {
            st->codecpar->width = (int)sps.width;
            st->codecpar->height = (int)sps.height;
            rc = set_extradata(st->codecpar, ps, ps_len);
            free(ps);
            if (rc)
                return rc;
        }
        d->vidx = st->index;
    }
    if (d->has_audio) {
        AVStream *st = avformat_new_stream(d->fmt, NULL);
        if (!st)
            return CG_ENOMEM;
        st->codecpar->codec_type = AVMEDIA_TYPE_AUDIO;
        st->codecpar->codec_id = AV_CODEC_ID_OPUS;
        st->codecpar->sample_rate = 48000;
        av_channel_layout_default(&st->codecpar->ch_layout, 2);
        st->time_base = (AVRational){1, 48000};
        /* RFC 7845 identification header: the Matroska Opus codec private. */
        const uint8_t head[19] = {'O', 'p', 'u', 's', 'H', 'e', 'a', 'd', 1, 2,
                                  0x38, 0x01, 0x80, 0xbb, 0, 0, 0, 0, 0};
        st->codecpar->initial_padding = 312;
        if ((rc = set_extradata(st->codecpar, head, sizeof(head))) != 0)
            return rc;
        d->aidx = st->index;
    }
    if (avio_open(&d->fmt->pb, d->path, AVIO_FLAG_WRITE) < 0)
        return CG_EIO;
    if (avformat_write_header(d->fmt, NULL) < 0)
        return CG_EIO;
    d->last_dts[0] = d->last_dts[1] = INT64_MIN;
    return 0;
}

static void count(cg_dump *d, uint64_t *field)
{
    pthread_mutex_lock(&d->mu);
    (*field)++;
    pthread_mutex_unlock(&d->mu);
}

static void write_frame(cg_dump *d, cg_frame *f)
{
    int video = f->kind == CG_MEDIA_VIDEO;
    if (d->failed)
        return;
    if (!d->fmt) {
        int can_start = video ? (f->flags & CG_FRAME_KEY) != 0 : !d->has_video;
        if (can_start && video) {
            /* The file needs the picture size from an SPS: a keyframe whose
             * parameter sets were lost waits for the next one. */
            uint8_t *ps = NULL;
            size_t ps_len = 0;
            cg_h264_sps sps = {0};
            can_start = annexb_params(f, &ps, &ps_len, &sps) == 0 && sps.width && sps.height;
            free(ps);
        }
        if (!can_start) {
            count(d, &d->stats.dropped_before_keyframe);
            return;
        }
        int rc = open_output(d, video ? f : NULL);
        if (rc) {
            cg_error("dump", "cannot open %s: %s", d->path, cg_strerror(rc));
            if (d->fmt) {
                avio_closep(&d->fmt->pb);
                avformat_free_context(d->fmt);
                d->fmt = NULL;
            }
            d->failed = 1;
            pthread_mutex_lock(&d->mu);
            d->stats.write_error = 1;
            pthread_mutex_unlock(&d->mu);
            return;
        }
    }
    int idx = video ? d->vidx : d->aidx;
    if (idx < 0)
        return;
    int slot = video ? 0 : 1;
    if (f->dts <= d->last_dts[slot]) {
        count(d, &d->stats.dropped_non_monotonic);
        return;
    }
    d->last_dts[slot] = f->dts;
    AVPacket *pkt = av_packet_alloc();
    if (!pkt || av_new_packet(pkt, (int)f->len) < 0) {
        av_packet_free(&pkt);
        return;
    }
    memcpy(pkt->data, f->data, f->len);
    pkt->stream_index = idx;
    pkt->pts = f->pts;
    pkt->dts = f->dts;
    pkt->duration = f->duration;
    if (f->flags & CG_FRAME_KEY)
        pkt->flags |= AV_PKT_FLAG_KEY;
    AVRational tb = {1, (int)f->timescale};
    av_packet_rescale_ts(pkt, tb, d->fmt->streams[idx]->time_base);
    if (av_write_frame(d->fmt, pkt) < 0) {
        pthread_mutex_lock(&d->mu);
        d->stats.write_error = 1;
        pthread_mutex_unlock(&d->mu);
    } else {
        count(d, video ? &d->stats.video_frames : &d->stats.audio_frames);
    }
    av_packet_free(&pkt);
}

static void *worker(void *arg)
{
    cg_dump *d = arg;
    void *item;
    while (cg_queue_pop(d->q, &item, UINT64_MAX) == 0) {
        cg_frame *f = item;
        write_frame(d, f);
        cg_frame_unref(f);
    }
    if (d->fmt) {
        av_write_trailer(d->fmt);
        avio_closep(&d->fmt->pb);
        avformat_free_context(d->fmt);
        d->fmt = NULL;
    }
    return NULL;
}

int cg_dump_new(cg_dump **out, const char *path, int has_video, int has_audio)
{
    cg_dump *d = calloc(1, sizeof(*d));
    if (!d)
        return CG_ENOMEM;
    pthread_mutex_init(&d->mu, NULL);
    d->has_video = has_video;
    d->has_audio = has_audio;
    d->path = strdup(path);
    int rc = CG_ENOMEM;
    if (!d->path || (rc = cg_queue_new(&d->q, DUMP_QUEUE)) != 0)
        goto fail;
    if (pthread_create(&d->thread, NULL, worker, d) != 0) {
        rc = CG_EIO;
        goto fail;
    }
    d->thread_started = 1;
    *out = d;
    return 0;
fail:
    cg_dump_free(d);
    return rc;
}

int cg_dump_push(cg_dump *d, cg_frame *f)
{
    cg_frame_ref(f);
    if (cg_queue_push(d->q, f, CG_QUEUE_DROP_NEWEST, NULL) != 0) {
        cg_frame_unref(f);
        count(d, &d->stats.dropped_queue_full);
        return CG_EFULL;
    }
    return 0;
}

void cg_dump_get_stats(cg_dump *d, cg_dump_stats *st)
{
    pthread_mutex_lock(&d->mu);
    *st = d->stats;
    pthread_mutex_unlock(&d->mu);
}

void cg_dump_free(cg_dump *d)
{
    if (!d)
        return;
    if (d->q) {
        cg_queue_close(d->q);
        if (d->thread_started)
            pthread_join(d->thread, NULL);
        void *item;
        while (cg_queue_pop(d->q, &item, 0) == 0)
            cg_frame_unref(item);
        cg_queue_free(d->q);
    }
    pthread_mutex_destroy(&d->mu);
    free(d->path);
    free(d);
}
