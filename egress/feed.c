/* Design: see egress/feed.h. The feed list hangs off the media object
 * (cg_media_feeds) and is touched only on the media thread. Attached
 * viewers sit in a growable array (bounded by max-viewers-per-stream, or
 * by CG_FEED_MAX_OUTS when that is 0), walked in attach order for each
 * packet. */
#include "egress/feed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/frame.h"
#include "core/hub.h"
#include "core/log.h"
#include "egress/feedback.h"
#include "egress/history.h"
#include "ingest/whip.h"

/* NACK history: about a second of video at several Mbit/s; older packets
 * would come too late to be played. Policy when full: drop oldest. */
#define HISTORY_PACKETS 2048
#define HISTORY_AGE_US 1000000u
/* GOP cache bounds: a 10 s GOP at 8 Mbit/s fits. Policy when full: the
 * GOP is released and caching resumes at the next keyframe (gop.h). */
#define GOP_MAX_PACKETS 16384
#define GOP_MAX_BYTES (12u << 20)
#define KEYFRAME_INTERVAL_US 1000000u
/* A deferred request fires this much after the interval ends, so the
 * publisher side's own one-a-second limit (ingest/whip.c, measured from a
 * moment a little later than ours) lets it through. */
#define KEYFRAME_SLACK_US 20000u
/* Hard bound on viewers per stream when max-viewers-per-stream is 0. */
#define CG_FEED_MAX_OUTS 100000

struct cg_feed {
    cg_media *m;
    cg_feed *next;
    cg_stream *stream;
    char name[CG_STREAM_NAME_MAX + 1];
    cg_gop *gop; /* NULL with gop-cache off */
    cg_history *history;
    uint32_t history_ssrc;
    int history_started;
    cg_kfreq kf;
    cg_timer kf_timer;
    cg_feed_out *outs;
    size_t n_outs, cap_outs, max_outs;
    cg_report_ref last[2]; /* [0] video, [1] audio: last packet forwarded */
    cg_feed_totals totals;
};

static cg_feed **feed_list(cg_media *m)
{
    return (cg_feed **)cg_media_feeds(m);
}

static int kind_index(int kind)
{
    return kind == CG_MEDIA_VIDEO ? 0 : 1;
}

/* --- keyframe requests --------------------------------------------------------- */

static void kf_timer_cb(cg_loop *loop, void *arg)
{
    cg_feed *f = arg;
    uint64_t next;
    if (cg_kfreq_poll(&f->kf, cg_now_us(), &next))
        cg_stream_request_keyframe(f->stream);
    if (next != UINT64_MAX)
        cg_loop_timer_set(loop, &f->kf_timer, next + KEYFRAME_SLACK_US, kf_timer_cb, f);
}

void cg_feed_request_keyframe(cg_feed *f, uint64_t now_us)
{
    if (cg_kfreq_ask(&f->kf, now_us)) {
        cg_stream_request_keyframe(f->stream);
        return;
    }
    uint64_t next;
    cg_kfreq_poll(&f->kf, now_us, &next);
    if (next != UINT64_MAX)
        cg_loop_timer_set(cg_media_loop(f->m), &f->kf_timer, next + KEYFRAME_SLACK_US, kf_timer_cb,
                          f);
}

/* --- packets from the publisher ------------------------------------------------ */

static void keep_history(cg_feed *f, cg_pkt *p)
{
    if (f->history_started && p->ssrc != f->history_ssrc) {
        /* A new publisher source: its sequence numbers start afresh. */
        cg_history_free(f->history);
        f->history = NULL;
        if (cg_history_new(&f->history, HISTORY_PACKETS, HISTORY_AGE_US) != 0)
            return;
    }
    f->history_started = 1;
    f->history_ssrc = p->ssrc;
    if (f->history)
        cg_history_put(f->history, p);
}

static void on_stream_rtp(void *arg, int kind, const uint8_t *rtp, size_t len, uint64_t now)
{
    cg_feed *f = arg;
    cg_pkt *p = NULL;
    if (cg_pkt_new(&p, rtp, len, 0, now) != 0)
        return;
    cg_report_ref *last = &f->last[kind_index(kind)];
    *last = (cg_report_ref){.valid = 1,
                            .ssrc = p->ssrc,
                            .ts = p->ts,
                            .arrival_us = now,
                            .clock = kind == CG_MEDIA_VIDEO ? 90000 : 48000};
    if (kind == CG_MEDIA_VIDEO) {
        /* Not shared yet: the flags are set before anyone else sees it. */
        p->flags = cg_pkt_h264_flags(cg_pkt_payload(p), p->payload_len);
        if (p->flags & CG_PKT_KEY_START)
            cg_kfreq_keyframe(&f->kf);
        keep_history(f, p);
        if (f->gop)
            cg_gop_push(f->gop, p);
    }
    /* A viewer may detach during its call. */
    for (size_t i = 0; i < f->n_outs;) {
        cg_feed_out o = f->outs[i];
        o.on_pkt(o.arg, kind, p, now);
        if (i < f->n_outs && f->outs[i].arg == o.arg)
            i++;
    }
    cg_pkt_unref(p);
}

/* --- lifecycle ----------------------------------------------------------------- */

static void feed_free(cg_feed *f)
{
    if (!f)
        return;
    cg_gop_free(f->gop);
    cg_history_free(f->history);
    free(f->outs);
    free(f);
}

static void on_stream_open(void *arg, cg_stream *s)
{
    cg_media *m = arg;
    const cg_media_cfg *cfg = cg_media_config(m);
    cg_feed *f = calloc(1, sizeof(*f));
    if (!f)
        goto fail;
    f->m = m;
    f->stream = s;
    snprintf(f->name, sizeof(f->name), "%s", cg_stream_name(s));
    f->max_outs = cfg->max_viewers_per_stream ? cfg->max_viewers_per_stream : CG_FEED_MAX_OUTS;
    cg_kfreq_init(&f->kf, KEYFRAME_INTERVAL_US);
    if (cg_history_new(&f->history, HISTORY_PACKETS, HISTORY_AGE_US) != 0)
        goto fail;
    if (cfg->gop_cache && cg_gop_new(&f->gop, GOP_MAX_PACKETS, GOP_MAX_BYTES) != 0)
        goto fail;
    cg_rtp_sink sink = {.on_rtp = on_stream_rtp, .arg = f};
    if (cg_stream_add_rtp_sink(s, &sink) != 0)
        goto fail;
    f->next = *feed_list(m);
    *feed_list(m) = f;
    return;
fail:
    cg_error(cg_stream_name(s), "WHEP feed not created: viewers cannot play this stream");
    feed_free(f);
}

static void on_stream_close(void *arg, cg_stream *s)
{
    cg_media *m = arg;
    cg_feed *f = NULL;
    for (cg_feed **pp = feed_list(m); *pp; pp = &(*pp)->next) {
        if ((*pp)->stream == s) {
            f = *pp;
            *pp = f->next;
            break;
        }
    }
    if (!f)
        return;
    cg_stream_remove_rtp_sink(s, f);
    cg_loop_timer_cancel(cg_media_loop(m), &f->kf_timer);
    while (f->n_outs) {
        cg_feed_out o = f->outs[--f->n_outs];
        if (o.on_end)
            o.on_end(o.arg);
    }
    feed_free(f);
}

int cg_feed_watch(cg_media *m)
{
    cg_hub_observer obs = {.on_open = on_stream_open, .on_close = on_stream_close, .arg = m};
    return cg_hub_add_observer(cg_media_hub(m), &obs);
}

cg_feed *cg_feed_find(cg_media *m, const char *stream)
{
    for (cg_feed *f = *feed_list(m); f; f = f->next)
        if (strcmp(f->name, stream) == 0)
            return f;
    return NULL;
}

int cg_feed_attach(cg_feed *f, const cg_feed_out *o)
{
    if (f->n_outs >= f->max_outs)
        return CG_ELIMIT;
    if (f->n_outs == f->cap_outs) {
        size_t cap = f->cap_outs ? f->cap_outs * 2 : 8;
        cg_feed_out *n = realloc(f->outs, cap * sizeof(*n));
        if (!n)
            return CG_ENOMEM;
        f->outs = n;
        f->cap_outs = cap;
    }
    f->outs[f->n_outs++] = *o;
    f->totals.viewers++;
    return 0;
}

void cg_feed_detach(cg_feed *f, void *arg)
{
    for (size_t i = 0; i < f->n_outs; i++) {
        if (f->outs[i].arg == arg) {
            memmove(&f->outs[i], &f->outs[i + 1], (f->n_outs - i - 1) * sizeof(f->outs[0]));
            f->n_outs--;
            return;
        }
    }
}

size_t cg_feed_viewer_count(const cg_feed *f)
{
    return f->n_outs;
}
cg_stream *cg_feed_stream(const cg_feed *f)
{
    return f->stream;
}
int cg_feed_gop_enabled(const cg_feed *f)
{
    return f->gop != NULL;
}

int cg_feed_snapshot(cg_feed *f, cg_gop_snap *snap)
{
    if (!f->gop) {
        *snap = (cg_gop_snap){0};
        return 0;
    }
    return cg_gop_snapshot(f->gop, snap);
}

int cg_feed_history_get(cg_feed *f, uint32_t ssrc, uint16_t seq, uint64_t now_us, cg_pkt **out)
{
    if (f->history && f->history_started && ssrc == f->history_ssrc &&
        cg_history_get(f->history, seq, now_us, out) == 0)
        return 0;
    /* A replayed packet older than the history may still be in the GOP. */
    return f->gop ? cg_gop_get(f->gop, ssrc, seq, out) : CG_ENOTFOUND;
}

static void with_wall(const cg_feed *f, int kind, cg_report_ref *r)
{
    cg_whip *w = cg_stream_publisher(f->stream);
    r->have_wall = w && cg_whip_wall_us(w, kind, r->ts, &r->wall_us) == 0;
}

int cg_feed_report_refs(cg_feed *f, int kind, cg_report_ref *track, cg_report_ref *ref)
{
    int i = kind_index(kind);
    if (!f->last[i].valid)
        return CG_ENOTFOUND;
    *track = f->last[i];
    with_wall(f, kind, track);
    if (f->last[0].valid) {
        *ref = f->last[0];
        with_wall(f, CG_MEDIA_VIDEO, ref);
    } else {
        *ref = *track;
    }
    return 0;
}

cg_feed_totals *cg_feed_totals_of(cg_feed *f)
{
    return &f->totals;
}

void cg_feed_add_ttff(cg_feed *f, uint32_t ms)
{
    f->totals.ttff_ms[f->totals.ttff_count % CG_FEED_TTFF_KEEP] = ms;
    f->totals.ttff_count++;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

json_t *cg_feed_totals_json(const cg_feed *f)
{
    const cg_feed_totals *t = &f->totals;
    json_t *o = json_object();
    json_object_set_new(o, "viewers", json_integer((json_int_t)f->n_outs));
    json_object_set_new(o, "viewers_total", json_integer((json_int_t)t->viewers));
    json_object_set_new(o, "gop_cache", json_boolean(f->gop != NULL));
    json_t *ttff = json_object();
    size_t n = t->ttff_count < CG_FEED_TTFF_KEEP ? t->ttff_count : CG_FEED_TTFF_KEEP;
    if (n) {
        uint32_t sorted[CG_FEED_TTFF_KEEP];
        memcpy(sorted, t->ttff_ms, n * sizeof(sorted[0]));
        qsort(sorted, n, sizeof(sorted[0]), cmp_u32);
        uint32_t last = t->ttff_ms[(t->ttff_count - 1) % CG_FEED_TTFF_KEEP];
        json_object_set_new(ttff, "last", json_integer(last));
        json_object_set_new(ttff, "median", json_integer(sorted[n / 2]));
    } else {
        json_object_set_new(ttff, "last", json_null());
        json_object_set_new(ttff, "median", json_null());
    }
    json_object_set_new(ttff, "count", json_integer((json_int_t)t->ttff_count));
    json_object_set_new(o, "ttff_ms", ttff);
    json_object_set_new(o, "nacks_received", json_integer((json_int_t)t->nacks));
    json_t *resent = json_object();
    json_object_set_new(resent, "plain", json_integer((json_int_t)t->resent_plain));
    json_object_set_new(resent, "rtx", json_integer((json_int_t)t->resent_rtx));
    json_object_set_new(o, "packets_resent", resent);
    json_object_set_new(o, "nack_misses", json_integer((json_int_t)t->nack_misses));
    json_object_set_new(o, "packets_sent", json_integer((json_int_t)t->packets_sent));
    json_object_set_new(o, "bytes_sent", json_integer((json_int_t)t->bytes_sent));
    json_object_set_new(o, "packets_dropped", json_integer((json_int_t)t->send_dropped));
    json_object_set_new(o, "packets_replayed", json_integer((json_int_t)t->replayed));
    if (f->gop) {
        cg_gop_stats gs;
        cg_gop_stats_get(f->gop, &gs);
        json_t *g = json_object();
        json_object_set_new(g, "packets", json_integer((json_int_t)gs.packets));
        json_object_set_new(g, "bytes", json_integer((json_int_t)gs.bytes));
        json_object_set_new(g, "keyframes", json_integer((json_int_t)gs.keyframes));
        json_object_set_new(g, "overflows", json_integer((json_int_t)gs.overflows));
        json_object_set_new(o, "gop", g);
    }
    return o;
}
