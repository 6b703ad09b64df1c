/* Fuzz target for the segmenter: its Annex B splitter and SPS/PPS
 * handling, the Opus TOC reader, the keyframe and cut rules, and the
 * libavformat/libavcodec calls behind them, driven by arbitrary frames as
 * a broken or hostile publisher could send them.
 *
 * Input: one config byte (bit 0 video, bit 1 audio, bit 2 keep Opus, bit 3
 * short 0.5 s target and 1 s cap), then records
 *   type:u8 flags:u8 dpts:u16 len:u16 data[len]   (len cut to what is left)
 * type & 3: 0 video frame, 1 audio frame, 2 gap, 3 reconnect; flags bit 0
 * keyframe, bit 1 corrupt; dpts advances that track's clock (90 kHz video,
 * 48 kHz audio).
 * Seeds in fuzz/corpus/segmenter/: a few seconds of ffmpeg-made H.264
 * (64x64 baseline) with Opus silence frames, a reconnect in the middle, an
 * audio-only run.
 *
 * Invariants (abort otherwise): push returns only documented codes; every
 * segment is non-empty, lasts > 0, starts at or after the previous one's
 * end, never goes back a period, and has its keyframes inside it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/log.h>

#include "core/buf.h"
#include "core/err.h"
#include "packager/segmenter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RECORDS 3000

typedef struct state {
    int64_t end;
    uint32_t period;
    int any;
} state;

static void on_init(void *arg, uint32_t period, const uint8_t *data, size_t len)
{
    if (!data || !len)
        abort();
}

static void on_segment(void *arg, const cg_segment_out *seg)
{
    state *s = arg;
    if (!seg->len || seg->duration <= 0 || seg->start < 0)
        abort();
    if (s->any && (seg->start < s->end || seg->period < s->period))
        abort();
    for (uint32_t k = 0; k < seg->nkeys; k++) {
        if (seg->keys[k] < seg->start || seg->keys[k] >= seg->start + seg->duration)
            abort();
        if (k && seg->keys[k] <= seg->keys[k - 1])
            abort();
    }
    s->any = 1;
    s->end = seg->start + seg->duration;
    s->period = seg->period;
}

static void on_need_keyframe(void *arg, int64_t overdue)
{
    if (overdue < 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    av_log_set_level(AV_LOG_QUIET);
    cg_rd r;
    cg_rd_init(&r, data, size);
    uint8_t conf;
    if (cg_rd_u8(&r, &conf))
        return 0;
    cg_segmenter_cfg cfg = {
        .video = conf & 1,
        .audio = (conf >> 1) & 1,
        .audio_out = (conf & 4) ? CG_AUDIO_OUT_OPUS : CG_AUDIO_OUT_AAC,
        .target_ms = (conf & 8) ? 500 : 0,
        .max_segment_ms = (conf & 8) ? 1000 : 0,
    };
    if (!cfg.video && !cfg.audio)
        cfg.video = 1;
    state st = {0};
    cg_segmenter_cb cb = {.on_init = on_init,
                          .on_segment = on_segment,
                          .on_need_keyframe = on_need_keyframe,
                          .arg = &st};
    cg_segmenter *s = NULL;
    if (cg_segmenter_new(&s, &cfg, &cb) != 0)
        return 0;
    int64_t vpts = 0, apts = 0;
    for (int n = 0; n < MAX_RECORDS; n++) {
        uint8_t type, flags;
        uint16_t dpts, len;
        if (cg_rd_u8(&r, &type) || cg_rd_u8(&r, &flags) || cg_rd_u16(&r, &dpts) ||
            cg_rd_u16(&r, &len))
            break;
        if (len > cg_rd_left(&r))
            len = (uint16_t)cg_rd_left(&r);
        const uint8_t *p;
        cg_rd_ptr(&r, &p, len);
        if ((type & 3) == 2) {
            cg_segmenter_gap(s);
            continue;
        }
        if ((type & 3) == 3) {
            if (cg_segmenter_discontinuity(s) != 0)
                abort();
            continue;
        }
        int video = (type & 3) == 0;
        int64_t *pts = video ? &vpts : &apts;
        *pts += dpts;
        cg_frame *f = NULL;
        if (cg_frame_new(&f, len) != 0)
            break;
        if (len)
            memcpy(f->data, p, len);
        f->kind = video ? CG_MEDIA_VIDEO : CG_MEDIA_AUDIO;
        f->codec = video ? CG_CODEC_H264 : CG_CODEC_OPUS;
        f->timescale = video ? 90000 : 48000;
        f->pts = f->dts = *pts;
        f->flags = ((flags & 1) ? CG_FRAME_KEY : 0) | ((flags & 2) ? CG_FRAME_CORRUPT : 0);
        f->wall_us = 1700000000000000ull + (uint64_t)(*pts * 1000000 / f->timescale);
        int rc = cg_segmenter_push(s, f);
        cg_frame_unref(f);
        if (rc != 0 && rc != CG_ENOMEM && !(rc == CG_EINVAL && len == 0))
            abort();
    }
    if (cg_segmenter_finish(s) != 0)
        abort();
    cg_segmenter_free(s);
    return 0;
}
