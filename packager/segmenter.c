/* Segmenter (see segmenter.h for the rules).
 *
 * Clocks: frames arrive on the broadcast epoch (video 90 kHz, audio
 * 48 kHz). Each period maps them onto the timeline with one shift per
 * track, fixed when the period starts on its first keyframe: video
 * timeline = pts + v_shift, audio mux time (48 kHz) = pts + a_shift. The
 * video track's decode times in the fMP4 are timeline times, so a
 * segment's tfdt is its timeline start. */
#include "packager/segmenter.h"

#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavutil/mathematics.h>

#include "core/buf.h"
#include "core/err.h"
#include "packager/aac.h"
#include "packager/fmp4.h"
#include "packager/timeline.h"

#define VIDEO_TS 90000
#define AUDIO_TS 48000
/* Duration given to the last video frame when nothing tells us better. */
#define DEFAULT_FRAME_90K 3000
#define MAX_FRAME_BYTES (16u << 20)
#define MAX_PS_BYTES 4096
/* Video frames queued while a cut waits for audio (about 2 s at 30 fps). */
#define VQ_MAX 64
/* Audio held while a period waits for its first keyframe (320 ms of 20 ms
 * Opus frames): a keyframe takes longer to encode and send than the audio
 * captured just after it, which therefore arrives first. */
#define AQ_MAX 16
/* How long (timeline units per second) a cut waits for the transcoded audio
 * to reach the keyframe: the AAC encoder's output lags its input by about
 * two frames (43 ms); a publisher's audio may lag more, or be muted. */
#define CUT_WAIT_DIV 4 /* 1/4 s */

enum nal_type { NAL_IDR = 5, NAL_SPS = 7, NAL_PPS = 8, NAL_AUD = 9, NAL_FILLER = 12 };

struct cg_segmenter {
    cg_segmenter_cfg cfg;
    cg_segmenter_cb cb;
    uint32_t ts;
    int64_t target;  /* timeline units */
    int64_t max_seg; /* timeline units */
    cg_segmenter_stats st;
    int finished;

    /* period */
    int in_period;
    uint32_t period;
    uint32_t next_period;
    cg_fmp4 *mux;
    cg_aac *aac;
    uint8_t ps[MAX_PS_BYTES];
    size_t ps_len;
    int64_t v_shift;
    int64_t a_shift;
    int64_t a_floor; /* audio earlier than this (48 kHz mux time) is dropped */
    int64_t timeline_end;
    int pending_disc;

    /* segment */
    int open;
    int wait_key;
    int64_t seg_start;
    uint64_t seg_wall;
    int64_t keys[CG_TL_MAX_KEYS];
    uint32_t nkeys;
    int64_t last_req_raw; /* raw 90 kHz pts of the last keyframe request */
    int have_req;

    /* video: frames wait here until the next one gives their duration,
     * and, while a cut is pending, until the cut is made */
    struct vq_item {
        cg_frame *f;
        int64_t t;
    } vq[VQ_MAX];
    size_t vq_n;
    int64_t last_vdur;
    int64_t v_end;
    int cut_pending;
    int64_t cut_at;
    uint64_t cut_wall;

    /* audio */
    cg_frame *aq[AQ_MAX]; /* held before the period's keyframe, oldest first */
    size_t aq_n;
    int64_t a_next;     /* lowest acceptable next audio mux time */
    int64_t a_end;      /* end of the last audio sample written (48 kHz) */
    uint64_t a_wall;    /* wall clock of the Opus frame being processed */
    int64_t a_wall_pts; /* its pts, 48 kHz */

    cg_dbuf scratch;
    cg_dbuf segbuf;
};

static int64_t to_ts(int64_t v, uint32_t from, uint32_t to)
{
    return from == to ? v : av_rescale(v, to, from);
}

/* Timeline (video) time to 48 kHz audio mux time. */
static int64_t tl_to_audio(const cg_segmenter *s, int64_t t)
{
    return to_ts(t, s->ts, AUDIO_TS);
}

/* ---- bitstream helpers (on the bounds-checked reader) ---- */

/* Next NAL unit of an Annex B buffer: payload without start code and
 * without the trailing zero bytes that belong to the next start code. */
static int next_nal(cg_rd *r, const uint8_t **nal, size_t *len)
{
    /* find a start code */
    for (;;) {
        if (cg_rd_left(r) < 3)
            return CG_ENOTFOUND;
        const uint8_t *c = cg_rd_cur(r);
        if (c[0] == 0 && c[1] == 0 && c[2] == 1)
            break;
        cg_rd_skip(r, 1);
    }
    cg_rd_skip(r, 3);
    const uint8_t *start = cg_rd_cur(r);
    size_t n = 0;
    while (cg_rd_left(r) >= 3) {
        const uint8_t *c = cg_rd_cur(r);
        if (c[0] == 0 && c[1] == 0 && (c[2] == 1 || c[2] == 0))
            break;
        cg_rd_skip(r, 1);
        n++;
    }
    if (cg_rd_left(r) < 3) {
        n += cg_rd_left(r);
        cg_rd_skip(r, cg_rd_left(r));
    }
    while (n && start[n - 1] == 0)
        n--;
    *nal = start;
    *len = n;
    return 0;
}

static const uint8_t start_code[4] = {0, 0, 0, 1};

/* 1 if the parameter sets gathered so far (Annex B) hold this exact NAL. */
static int ps_has(const uint8_t *ps, size_t psn, const uint8_t *nal, size_t n)
{
    cg_rd r;
    cg_rd_init(&r, ps, psn);
    const uint8_t *q;
    size_t m;
    while (next_nal(&r, &q, &m) == 0)
        if (m == n && memcmp(q, nal, n) == 0)
            return 1;
    return 0;
}

/* Splits an access unit into its parameter sets (ps, Annex B) and the rest
 * (out, Annex B, without SPS/PPS/AUD/filler). Either output may be NULL.
 * A parameter set repeated in one access unit is kept once: publishers
 * repeat them a varying number of times per keyframe (webrtcbin sends an
 * IDR with three or four copies of the same SPS), and the copies must not
 * read as new codec parameters. */
static int split_au(const uint8_t *p, size_t len, uint8_t *ps, size_t *ps_len, cg_dbuf *out,
                    int *has_idr)
{
    cg_rd r;
    cg_rd_init(&r, p, len);
    const uint8_t *nal;
    size_t n;
    size_t psn = 0;
    *has_idr = 0;
    while (next_nal(&r, &nal, &n) == 0) {
        if (n == 0)
            continue;
        int type = nal[0] & 0x1f;
        if (type == NAL_SPS || type == NAL_PPS) {
            if (ps && ps_has(ps, psn, nal, n))
                continue;
            if (ps) {
                if (psn + 4 + n > MAX_PS_BYTES)
                    return CG_ELIMIT;
                memcpy(ps + psn, start_code, 4);
                memcpy(ps + psn + 4, nal, n);
            }
            psn += 4 + n;
            continue;
        }
        if (type == NAL_AUD || type == NAL_FILLER)
            continue;
        if (type == NAL_IDR)
            *has_idr = 1;
        if (out) {
            cg_dbuf_add(out, start_code, 4);
            cg_dbuf_add(out, nal, n);
        }
    }
    if (ps_len)
        *ps_len = psn;
    return out ? cg_dbuf_err(out) : 0;
}

/* Samples in an Opus packet at 48 kHz, from its TOC (RFC 6716 3.1), or 0
 * if the packet is malformed. */
static int64_t opus_samples(const uint8_t *p, size_t len)
{
    static const uint16_t silk[4] = {480, 960, 1920, 2880};
    static const uint16_t hybrid[2] = {480, 960};
    static const uint16_t celt[4] = {120, 240, 480, 960};
    cg_rd r;
    cg_rd_init(&r, p, len);
    uint8_t toc, count;
    if (cg_rd_u8(&r, &toc))
        return 0;
    unsigned config = toc >> 3;
    int64_t per = config < 12   ? silk[config % 4]
                  : config < 16 ? hybrid[config % 2]
                                : celt[config % 4];
    int64_t frames;
    switch (toc & 3) {
    case 0:
        frames = 1;
        break;
    case 1:
    case 2:
        frames = 2;
        break;
    default:
        if (cg_rd_u8(&r, &count))
            return 0;
        frames = count & 0x3f;
        break;
    }
    int64_t total = frames * per;
    return total > 0 && total <= 5760 ? total : 0;
}

/* Display size from the SPS, through libavcodec's H.264 parser. */
static void probe_dims(const uint8_t *au, size_t len, int *w, int *h)
{
    *w = *h = 0;
    AVCodecParserContext *pc = av_parser_init(AV_CODEC_ID_H264);
    AVCodecContext *ctx = avcodec_alloc_context3(NULL);
    uint8_t *buf = av_mallocz(len + AV_INPUT_BUFFER_PADDING_SIZE);
    if (pc && ctx && buf && len <= INT32_MAX) {
        memcpy(buf, au, len);
        pc->flags |= PARSER_FLAG_COMPLETE_FRAMES;
        uint8_t *o = NULL;
        int olen = 0;
        av_parser_parse2(pc, ctx, &o, &olen, buf, (int)len, AV_NOPTS_VALUE, AV_NOPTS_VALUE, 0);
        *w = pc->width > 0 ? pc->width : ctx->width;
        *h = pc->height > 0 ? pc->height : ctx->height;
    }
    av_free(buf);
    avcodec_free_context(&ctx);
    if (pc)
        av_parser_close(pc);
}

/* OpusHead for the dOps box: 2 channels, no pre-skip (a WebRTC stream
 * joined mid-way has no encoder priming at its start), 48 kHz. */
static void opus_head(uint8_t out[19])
{
    static const uint8_t head[19] = {'O', 'p', 'u',  's',  'H', 'e', 'a', 'd', 1, 2,
                                     0,   0,   0x80, 0xbb, 0,   0,   0,   0,   0};
    memcpy(out, head, sizeof(head));
}

/* ---- construction ---- */

int cg_segmenter_new(cg_segmenter **out, const cg_segmenter_cfg *cfg, const cg_segmenter_cb *cb)
{
    if (!out || !cfg || !cb || (!cfg->video && !cfg->audio))
        return CG_EINVAL;
    cg_segmenter *s = calloc(1, sizeof(*s));
    if (!s)
        return CG_ENOMEM;
    s->cfg = *cfg;
    s->cb = *cb;
    if (!s->cfg.target_ms)
        s->cfg.target_ms = 2000;
    if (!s->cfg.max_segment_ms)
        s->cfg.max_segment_ms = 30000;
    if (s->cfg.max_segment_ms < s->cfg.target_ms)
        s->cfg.max_segment_ms = s->cfg.target_ms;
    if (!s->cfg.max_segment_bytes)
        s->cfg.max_segment_bytes = 64u << 20;
    s->ts = cfg->video ? VIDEO_TS : AUDIO_TS;
    s->target = (int64_t)s->cfg.target_ms * s->ts / 1000;
    s->max_seg = (int64_t)s->cfg.max_segment_ms * s->ts / 1000;
    cg_dbuf_init(&s->scratch, MAX_FRAME_BYTES);
    cg_dbuf_init(&s->segbuf, s->cfg.max_segment_bytes + 1);
    *out = s;
    return 0;
}

static void end_period(cg_segmenter *s)
{
    cg_fmp4_free(s->mux);
    s->mux = NULL;
    cg_aac_free(s->aac);
    s->aac = NULL;
    for (size_t i = 0; i < s->vq_n; i++)
        cg_frame_unref(s->vq[i].f);
    s->vq_n = 0;
    s->in_period = 0;
    s->open = 0;
    s->wait_key = 0;
    s->cut_pending = 0;
}

static void aq_clear(cg_segmenter *s)
{
    for (size_t i = 0; i < s->aq_n; i++)
        cg_frame_unref(s->aq[i]);
    s->aq_n = 0;
}

void cg_segmenter_free(cg_segmenter *s)
{
    if (!s)
        return;
    end_period(s);
    aq_clear(s);
    cg_dbuf_free(&s->scratch);
    cg_dbuf_free(&s->segbuf);
    free(s);
}

uint32_t cg_segmenter_timescale(const cg_segmenter *s)
{
    return s->ts;
}

void cg_segmenter_get_stats(const cg_segmenter *s, cg_segmenter_stats *st)
{
    *st = s->st;
}

/* The muxer failed: give up this period; the next keyframe starts anew. */
static void mux_failed(cg_segmenter *s)
{
    s->st.mux_errors++;
    end_period(s);
    s->pending_disc = 1;
}

static void request_key(cg_segmenter *s, int64_t raw, int64_t overdue)
{
    if (s->have_req && raw - s->last_req_raw < s->target && raw >= s->last_req_raw)
        return; /* rate limit: once per target duration */
    s->have_req = 1;
    s->last_req_raw = raw;
    s->st.keyframe_requests++;
    if (s->cb.on_need_keyframe)
        s->cb.on_need_keyframe(s->cb.arg, overdue > 0 ? overdue : 0);
}

static void add_key(cg_segmenter *s, int64_t t)
{
    if (s->nkeys < CG_TL_MAX_KEYS)
        s->keys[s->nkeys++] = t;
}

static void open_segment(cg_segmenter *s, int64_t t, uint64_t wall, int after_gap)
{
    s->open = 1;
    s->wait_key = 0;
    s->seg_start = t;
    s->seg_wall = wall;
    s->nkeys = 0;
    s->have_req = 0;
    if (after_gap && s->cfg.video) {
        /* Audio before the picture resumes would only be silence to the
         * viewer and would start the segment before its keyframe. */
        int64_t a = tl_to_audio(s, t);
        if (a > s->a_floor)
            s->a_floor = a;
    }
}

/* Flushes the fragment and hands the segment out. */
static int emit_segment(cg_segmenter *s)
{
    if (!s->open)
        return 0;
    s->open = 0;
    int64_t end = s->cfg.video ? s->v_end : s->a_end;
    s->segbuf.len = 0;
    s->segbuf.err = 0;
    int rc = cg_fmp4_flush(s->mux, &s->segbuf);
    if (rc) {
        mux_failed(s);
        return rc;
    }
    if (!s->segbuf.len || end <= s->seg_start)
        return 0; /* nothing was written */
    cg_segment_out seg = {
        .data = (const uint8_t *)s->segbuf.p,
        .len = s->segbuf.len,
        .period = s->period,
        .discontinuity = s->pending_disc || s->seg_start > s->timeline_end,
        .start = s->seg_start,
        .duration = end - s->seg_start,
        .wall_us = s->seg_wall,
        .keys = s->keys,
        .nkeys = s->nkeys,
    };
    s->timeline_end = end;
    s->pending_disc = 0;
    s->st.segments++;
    if (s->cb.on_segment)
        s->cb.on_segment(s->cb.arg, &seg);
    return 0;
}

/* Writes one video frame (taking its reference) into the open segment. */
static int write_video(cg_segmenter *s, cg_frame *f, int64_t t, int64_t dur)
{
    if (dur <= 0)
        dur = s->last_vdur > 0 ? s->last_vdur : DEFAULT_FRAME_90K;
    int key = (f->flags & CG_FRAME_KEY) != 0;
    s->scratch.len = 0;
    s->scratch.err = 0;
    int idr;
    int rc = split_au(f->data, f->len, NULL, NULL, &s->scratch, &idr);
    if (!rc && s->scratch.len)
        rc = cg_fmp4_write(s->mux, CG_FMP4_VIDEO, (const uint8_t *)s->scratch.p, s->scratch.len, t,
                           dur, key);
    cg_frame_unref(f);
    if (rc == CG_ELIMIT || rc == CG_ENOSPC) {
        s->st.dropped_corrupt++; /* absurd frame: skip it, keep the clock */
        rc = 0;
    } else if (rc) {
        mux_failed(s);
        return rc;
    }
    if (key)
        add_key(s, t);
    s->last_vdur = dur;
    s->v_end = t + dur;
    return 0;
}

static void vq_push(cg_segmenter *s, cg_frame *f, int64_t t)
{
    s->vq[s->vq_n].f = cg_frame_ref(f);
    s->vq[s->vq_n].t = t;
    s->vq_n++;
}

/* Writes queued frames whose duration is known (a later frame follows)
 * and that end at or before limit. */
static int vq_write(cg_segmenter *s, int64_t limit)
{
    size_t i = 0;
    int rc = 0;
    while (!rc && s->in_period && i + 1 < s->vq_n && s->vq[i + 1].t <= limit) {
        cg_frame *f = s->vq[i].f;
        s->vq[i].f = NULL; /* write_video owns it now, even if it fails */
        rc = write_video(s, f, s->vq[i].t, s->vq[i + 1].t - s->vq[i].t);
        i++;
    }
    if (!s->in_period)
        return rc; /* end_period already released the queue */
    memmove(s->vq, s->vq + i, (s->vq_n - i) * sizeof(s->vq[0]));
    s->vq_n -= i;
    return rc;
}

/* Writes every queued frame; the last one lasts until end (or as long as
 * the frame before it when end is not after it). */
static int vq_write_all(cg_segmenter *s, int64_t end)
{
    int rc = vq_write(s, INT64_MAX);
    if (!rc && s->in_period && s->vq_n) {
        cg_frame *f = s->vq[0].f;
        int64_t t = s->vq[0].t;
        s->vq_n = 0;
        rc = write_video(s, f, t, end - t);
    }
    return rc;
}

/* Makes the pending cut: everything before the keyframe is written, so
 * the segment ends there and the keyframe opens the next one. */
static int complete_cut(cg_segmenter *s)
{
    if (!s->cut_pending)
        return 0;
    s->cut_pending = 0;
    int rc = vq_write(s, s->cut_at);
    if (!rc && s->in_period)
        rc = emit_segment(s);
    if (rc || !s->in_period)
        return rc;
    open_segment(s, s->cut_at, s->cut_wall, 0);
    return vq_write(s, INT64_MAX);
}

/* Writes one audio sample (48 kHz pts on the broadcast epoch). */
static int write_audio(cg_segmenter *s, const uint8_t *data, size_t len, int64_t pts, int64_t dur)
{
    int64_t d = pts + s->a_shift;
    if (d < s->a_floor)
        return 0; /* encoder priming, or before the segment's picture */
    if (d < s->a_next) {
        s->st.dropped_bad_ts++;
        return 0;
    }
    /* This packet's capture time, from the Opus frame it came out of. */
    int64_t dw = (pts - s->a_wall_pts) * 1000000 / AUDIO_TS;
    uint64_t wall = (uint64_t)((int64_t)s->a_wall + dw);
    if (!s->cfg.video) {
        if (!s->open) {
            open_segment(s, d, wall, 0);
            add_key(s, d);
        } else if (d - s->seg_start >= s->target) {
            int rc = emit_segment(s);
            if (rc || !s->in_period)
                return rc;
            open_segment(s, d, wall, 0);
            add_key(s, d);
        }
    } else {
        /* Audio has reached the keyframe: the cut can be made. */
        if (s->cut_pending && d >= tl_to_audio(s, s->cut_at)) {
            int rc = complete_cut(s);
            if (rc || !s->in_period)
                return rc;
        }
        if (!s->open) {
            s->st.dropped_wait_key++;
            return 0;
        }
    }
    int rc = cg_fmp4_write(s->mux, CG_FMP4_AUDIO, data, len, d, dur, 1);
    if (rc) {
        mux_failed(s);
        return rc;
    }
    s->a_next = d + 1;
    s->a_end = d + dur;
    return 0;
}

static int drain_aac(cg_segmenter *s)
{
    const uint8_t *data;
    size_t len;
    int64_t pts, dur;
    while (s->aac && cg_aac_pull(s->aac, &data, &len, &pts, &dur) == 0) {
        int rc = write_audio(s, data, len, pts, dur);
        if (rc)
            return rc;
    }
    return 0;
}

/* Starts a period whose timeline begins at timeline_end with the frame
 * whose raw time (in the timeline's clock) is raw. */
static int start_period(cg_segmenter *s, const uint8_t *ps, size_t ps_len, const cg_frame *key,
                        int64_t raw)
{
    cg_fmp4_cfg mc = {.max_segment_bytes = s->cfg.max_segment_bytes, .channels = 2};
    uint8_t head[19];
    int rc = 0;
    if (s->cfg.video) {
        mc.avc_ps = ps;
        mc.avc_ps_len = ps_len;
        probe_dims(key->data, key->len, &mc.width, &mc.height);
    }
    if (s->cfg.audio && s->cfg.audio_out == CG_AUDIO_OUT_AAC) {
        rc = cg_aac_new(&s->aac, s->cfg.aac_bitrate);
        if (rc)
            return rc;
        mc.audio = CG_FMP4_AUDIO_AAC;
        mc.audio_config = cg_aac_config(s->aac, &mc.audio_config_len);
    } else if (s->cfg.audio) {
        opus_head(head);
        mc.audio = CG_FMP4_AUDIO_OPUS;
        mc.audio_config = head;
        mc.audio_config_len = sizeof(head);
    }
    cg_dbuf init;
    cg_dbuf_init(&init, 1u << 20);
    rc = cg_fmp4_new(&s->mux, &mc, &init);
    if (rc) {
        cg_dbuf_free(&init);
        cg_aac_free(s->aac);
        s->aac = NULL;
        return rc;
    }
    if (ps_len && ps != s->ps) {
        memcpy(s->ps, ps, ps_len);
        s->ps_len = ps_len;
    }
    s->in_period = 1;
    s->period = s->next_period++;
    s->st.periods++;
    if (s->period > 0)
        s->pending_disc = 1;
    int64_t p = s->timeline_end;
    if (s->cfg.video) {
        s->v_shift = p - raw;
        s->a_shift = to_ts(p - raw, VIDEO_TS, AUDIO_TS);
    } else {
        s->a_shift = p - raw;
    }
    s->a_floor = tl_to_audio(s, p);
    s->a_next = s->a_floor;
    s->a_end = s->a_floor;
    s->v_end = p;
    s->last_vdur = 0;
    if (s->cb.on_init)
        s->cb.on_init(s->cb.arg, s->period, (const uint8_t *)init.p, init.len);
    cg_dbuf_free(&init);
    return 0;
}

/* Ends the current period cleanly: every frame written, the audio encoder
 * drained, the last segment flushed. end: where the last video frame ends
 * (0: as long as the frame before it). */
static int close_period(cg_segmenter *s, int64_t end)
{
    if (!s->in_period)
        return 0;
    int rc = complete_cut(s);
    if (!rc && s->in_period)
        rc = vq_write_all(s, end);
    if (!rc && s->aac && cg_aac_drain(s->aac) == 0)
        rc = drain_aac(s);
    if (!rc && s->in_period)
        rc = emit_segment(s);
    end_period(s);
    return rc;
}

/* Closes an overlong segment at its last frame (no keyframe is coming). */
static int force_close(cg_segmenter *s, int64_t t)
{
    s->st.forced_cuts++;
    int rc = complete_cut(s);
    if (!rc && s->in_period)
        rc = vq_write_all(s, t);
    if (!rc && s->in_period)
        rc = emit_segment(s);
    s->wait_key = 1;
    return rc;
}

static int push_audio(cg_segmenter *s, cg_frame *f);

/* The period has started: the held audio goes in now; what was captured
 * before the keyframe is dropped by write_audio (or primes the AAC
 * encoder). */
static int replay_audio(cg_segmenter *s)
{
    size_t n = s->aq_n;
    s->aq_n = 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (!rc && s->in_period)
            rc = push_audio(s, s->aq[i]);
        cg_frame_unref(s->aq[i]);
    }
    return rc;
}

static int push_video(cg_segmenter *s, cg_frame *f)
{
    int64_t raw = to_ts(f->pts, f->timescale ? f->timescale : VIDEO_TS, VIDEO_TS);
    if (f->flags & CG_FRAME_CORRUPT) {
        s->st.dropped_corrupt++;
        if (s->in_period)
            s->wait_key = 1;
        request_key(s, raw, 0);
        return 0;
    }
    int key = (f->flags & CG_FRAME_KEY) != 0;
    uint8_t ps[MAX_PS_BYTES];
    size_t ps_len = 0;
    if (key) {
        int idr;
        if (split_au(f->data, f->len, ps, &ps_len, NULL, &idr) != 0)
            ps_len = 0;
        /* A keyframe we cannot describe in an init segment cannot start
         * anything. */
        if (!ps_len && !s->ps_len)
            key = 0;
    }

    if (!s->in_period) {
        if (!key) {
            s->st.dropped_before_start++;
            request_key(s, raw, 0);
            return 0;
        }
        int rc = start_period(s, ps_len ? ps : s->ps, ps_len ? ps_len : s->ps_len, f, raw);
        if (rc) {
            s->st.mux_errors++;
            return rc == CG_ENOMEM ? rc : 0;
        }
        open_segment(s, s->timeline_end, f->wall_us, 1);
        vq_push(s, f, s->timeline_end);
        return replay_audio(s);
    }

    int64_t t = raw + s->v_shift;
    if (key && ps_len && (ps_len != s->ps_len || memcmp(ps, s->ps, ps_len) != 0)) {
        /* New codec parameters need a new init segment. */
        int rc = close_period(s, t);
        s->ps_len = 0;
        if (rc == CG_ENOMEM)
            return rc;
        return push_video(s, f);
    }
    if (s->vq_n && t <= s->vq[s->vq_n - 1].t) {
        s->st.dropped_bad_ts++;
        return 0;
    }
    if (!s->open || s->wait_key) {
        if (!key) {
            if (s->open && t - s->seg_start >= s->max_seg) {
                s->st.dropped_wait_key++;
                return force_close(s, t);
            }
            s->st.dropped_wait_key++;
            request_key(s, raw, s->open ? t - s->seg_start - s->target : 0);
            return 0;
        }
        if (!s->open) {
            open_segment(s, t, f->wall_us, 1);
            vq_push(s, f, t);
            return 0;
        }
        s->wait_key = 0; /* resumes inside the open segment */
    }

    if (!s->cut_pending && t - s->seg_start >= s->target) {
        if (key) {
            s->cut_pending = 1;
            s->cut_at = t;
            s->cut_wall = f->wall_us;
        } else if (t - s->seg_start >= s->max_seg) {
            s->st.dropped_wait_key++;
            return force_close(s, t);
        } else {
            request_key(s, raw, t - s->seg_start - s->target);
        }
    }
    if (s->vq_n == VQ_MAX) {
        int rc = s->cut_pending ? complete_cut(s) : vq_write(s, INT64_MAX);
        if (rc || !s->in_period)
            return rc == CG_ENOMEM ? rc : 0;
    }
    vq_push(s, f, t);
    int rc = vq_write(s, s->cut_pending ? s->cut_at : INT64_MAX);
    /* Audio is late or absent: cut without it rather than hold video. */
    if (!rc && s->cut_pending && (!s->cfg.audio || t - s->cut_at >= (int64_t)s->ts / CUT_WAIT_DIV))
        rc = complete_cut(s);
    return rc == CG_ENOMEM ? rc : 0;
}

static int push_audio(cg_segmenter *s, cg_frame *f)
{
    if (!s->cfg.audio)
        return 0;
    int64_t raw = to_ts(f->pts, f->timescale ? f->timescale : AUDIO_TS, AUDIO_TS);
    if (f->flags & CG_FRAME_CORRUPT) {
        s->st.dropped_corrupt++;
        return 0;
    }
    if (!s->in_period) {
        if (s->cfg.video) {
            /* Nothing to show it with yet; it may belong after the coming
             * keyframe. Drop oldest when full. */
            if (s->aq_n == AQ_MAX) {
                cg_frame_unref(s->aq[0]);
                memmove(s->aq, s->aq + 1, (AQ_MAX - 1) * sizeof(s->aq[0]));
                s->aq_n--;
                s->st.dropped_before_start++;
            }
            s->aq[s->aq_n++] = cg_frame_ref(f);
            return 0;
        }
        int rc = start_period(s, NULL, 0, f, raw);
        if (rc) {
            s->st.mux_errors++;
            return rc == CG_ENOMEM ? rc : 0;
        }
    }
    s->a_wall = f->wall_us;
    s->a_wall_pts = raw;
    int rc;
    if (s->aac) {
        rc = cg_aac_push(s->aac, f->data, f->len, raw);
        if (rc == CG_EPROTO || rc == CG_EINVAL) {
            s->st.audio_errors++;
            rc = 0;
        }
        if (!rc)
            rc = drain_aac(s);
    } else {
        int64_t dur = opus_samples(f->data, f->len);
        if (!dur) {
            s->st.audio_errors++;
            return 0;
        }
        rc = write_audio(s, f->data, f->len, raw, dur);
    }
    return rc == CG_ENOMEM ? rc : 0;
}

int cg_segmenter_push(cg_segmenter *s, cg_frame *f)
{
    if (!s || !f || !f->data || !f->len)
        return CG_EINVAL;
    if (s->finished)
        return CG_ESTATE;
    s->st.frames++;
    if (f->kind == CG_MEDIA_VIDEO && f->codec == CG_CODEC_H264 && s->cfg.video)
        return push_video(s, f);
    if (f->kind == CG_MEDIA_AUDIO && f->codec == CG_CODEC_OPUS)
        return push_audio(s, f);
    return 0;
}

void cg_segmenter_gap(cg_segmenter *s)
{
    if (s->in_period && s->cfg.video)
        s->wait_key = 1;
}

int cg_segmenter_discontinuity(cg_segmenter *s)
{
    if (!s || s->finished)
        return CG_ESTATE;
    int rc = close_period(s, 0);
    s->pending_disc = 1;
    return rc == CG_ENOMEM ? rc : 0;
}

int cg_segmenter_finish(cg_segmenter *s)
{
    if (!s)
        return CG_EINVAL;
    if (s->finished)
        return 0;
    int rc = close_period(s, 0);
    aq_clear(s);
    s->finished = 1;
    return rc == CG_ENOMEM ? rc : 0;
}
