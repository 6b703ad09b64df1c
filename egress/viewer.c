/* Design: see egress/viewer.h. The session list lives on the media object
 * and is touched only on the media thread. Each packet the feed hands over
 * is copied once into the viewer's send buffer (which keeps room for the
 * SRTP tag, so it is protected in place) and sent.
 *
 * Video states: WAIT_CONNECT until DTLS is up; REPLAY while the GOP cache
 * is replayed (live video is not forwarded then: it reaches the viewer
 * through the next fresh snapshot); WAIT_KEY while waiting for the
 * publisher's next keyframe (no cache, or nothing in it); LIVE. */
#include "egress/viewer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/frame.h"
#include "core/hub.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/random.h"
#include "egress/feed.h"
#include "egress/pkt.h"
#include "egress/replay.h"
#include "egress/report.h"
#include "egress/rewriter.h"
#include "egress/stall.h"
#include "ingest/whip.h"
#include "rtc/dtls.h"
#include "rtc/ice.h"
#include "rtc/rtcp.h"
#include "rtc/rtp.h"
#include "rtc/transport.h"

#define OUT_MAX 1600
#define SRTP_TRAILER 16
#define RTCP_MAX 1200
/* While a connected viewer waits for a keyframe, the request is repeated
 * at this pace; the feed's limiter lets one a second through. */
#define KEYREQ_RETRY_US 500000u
/* GOP replay pacing: at most 12 packets or 14.4 kB every 5 ms, i.e. about
 * 2,400 packets or 2.9 MB (23 Mbit/s) a second: a 10 s GOP at 4 Mbit/s
 * replays in under 2 s, its keyframe in the first few ticks; the 128
 * packets a simple receiver buffers (aiortc) span about 50 ms, time for
 * a NACK and its answer when a keyframe packet is lost. */
#define REPLAY_TICK_US 5000u
#define REPLAY_PKTS_PER_TICK 12
#define REPLAY_BYTES_PER_TICK 14400
#define REPLAY_MAX_ROUNDS 64
/* Packets taken from the history to bridge a GOP change during a replay. */
#define REPLAY_MAX_FILL 256
/* Replayed frames are as far apart on the viewer's timeline as they were
 * sent (so a receiver's jitter estimate is not fooled), at least 2 ms. */
#define REPLAY_TS_MIN_STEP 180u
#define RTCP_INTERVAL_US 1000000u
#define NACK_MAP 1024

enum video_state { WAIT_CONNECT, REPLAY, WAIT_KEY, LIVE };

typedef struct vtrack {
    cg_rewriter *rw;
    uint32_t ssrc; /* ours */
    uint32_t clock;
    uint64_t packets, octets; /* sent, for SRs (octets: payload) */
    cg_report_rx rx;          /* from the viewer's receiver reports */
} vtrack;

/* Counters, and what was last added to the feed's totals and /metrics. */
typedef struct vcounts {
    uint64_t nacks, resent_plain, resent_rtx, nack_misses;
    uint64_t bytes, packets, dropped, replayed;
} vcounts;

struct cg_viewer {
    cg_media *m;
    cg_viewer *next;
    char id[CG_VIEWER_ID_LEN + 1];
    char stream_name[CG_STREAM_NAME_MAX + 1];
    char etag[40];
    char remote_ufrag[257];
    char addr[64];
    cg_feed *feed;
    cg_peer *peer;
    vtrack video, audio;
    int rtx_pt; /* -1: resend plain */
    uint32_t rtx_ssrc;
    uint16_t rtx_seq;
    enum video_state vstate;
    cg_replay replay;
    cg_timer tick_timer; /* replay pacing, keyframe retries */
    cg_timer rtcp_timer;
    cg_report_sr_log sr_log;
    uint64_t connected_us;
    uint64_t replay_frame_us; /* when the last replayed frame began */
    uint32_t replay_src_ts;   /* its source timestamp */
    int key_seen;             /* the first keyframe has begun */
    uint32_t key_ts;          /* its source timestamp */
    int64_t ttff_ms;          /* -1 until its last packet went out */
    uint64_t dropped_waiting, keyframe_requests;
    uint64_t frames_published; /* video frames the publisher sent while connected */
    uint64_t frames_sent;      /* video frames sent (last packets), replayed included */
    uint64_t frames_replayed;  /* of those, from the GOP cache */
    cg_stall publisher_stall;  /* live frames' arrival, judged as a player judges freezes */
    vcounts c, synced;
    uint8_t out[OUT_MAX + SRTP_TRAILER];
    uint8_t rtx_out[OUT_MAX + SRTP_TRAILER];
};

static cg_viewer **viewer_list(cg_media *m)
{
    return (cg_viewer **)cg_media_viewers(m);
}

static void tick_timer_cb(cg_loop *loop, void *arg);

/* --- metrics ------------------------------------------------------------------
 * Process-wide families, registered once. The viewer adds what it counted
 * to them and to its feed's totals once a second and when it ends. */

static struct {
    cg_metric *viewers, *viewers_total, *nacks, *resent, *resent_plain, *resent_rtx;
    cg_metric *nack_misses, *bytes, *packets, *dropped, *replayed, *first_frames, *ttff_ms;
} g_metrics;

static const cg_metric_def metric_defs[] = {
    {&g_metrics.viewers, 1, "clipgate_whep_viewers", "WHEP viewers now", NULL},
    {&g_metrics.viewers_total, 0, "clipgate_whep_viewers_total", "WHEP viewers created", NULL},
    {&g_metrics.nacks, 0, "clipgate_whep_nacks_received_total",
     "sequence numbers NACKed by WHEP viewers", NULL},
    {&g_metrics.resent, 0, "clipgate_whep_packets_resent_total",
     "NACKed packets resent to WHEP viewers from the stream history", "kind"},
    {&g_metrics.nack_misses, 0, "clipgate_whep_nack_misses_total",
     "NACKed packets no longer in the stream history", NULL},
    {&g_metrics.bytes, 0, "clipgate_whep_bytes_sent_total",
     "RTP bytes sent to WHEP viewers (before SRTP)", NULL},
    {&g_metrics.packets, 0, "clipgate_whep_packets_sent_total", "RTP packets sent to WHEP viewers",
     NULL},
    {&g_metrics.dropped, 0, "clipgate_whep_packets_dropped_total",
     "RTP packets to WHEP viewers dropped because the send failed (socket buffer full)", NULL},
    {&g_metrics.replayed, 0, "clipgate_whep_packets_replayed_total",
     "packets sent to joining WHEP viewers from the GOP cache", NULL},
    {&g_metrics.first_frames, 0, "clipgate_whep_first_frames_total",
     "WHEP viewers that got their first keyframe", NULL},
    {&g_metrics.ttff_ms, 0, "clipgate_whep_ttff_milliseconds_total",
     "sum of WHEP time to first frame (DTLS connected to last packet of the first keyframe)", NULL},
};

static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void metrics_register(void)
{
    cg_metrics_register_table(metric_defs, sizeof(metric_defs) / sizeof(metric_defs[0]), "media");
    cg_metric_labels(g_metrics.resent, &g_metrics.resent_plain, "plain", NULL);
    cg_metric_labels(g_metrics.resent, &g_metrics.resent_rtx, "rtx", NULL);
}

static void sync_one(uint64_t now, uint64_t *synced, uint64_t *total, cg_metric *metric)
{
    if (now > *synced) {
        *total += now - *synced;
        cg_metric_add(metric, now - *synced);
        *synced = now;
    }
}

static void sync_counts(cg_viewer *v)
{
    if (!v->feed)
        return;
    cg_feed_totals *t = cg_feed_totals_of(v->feed);
    sync_one(v->c.nacks, &v->synced.nacks, &t->nacks, g_metrics.nacks);
    sync_one(v->c.resent_plain, &v->synced.resent_plain, &t->resent_plain, g_metrics.resent_plain);
    sync_one(v->c.resent_rtx, &v->synced.resent_rtx, &t->resent_rtx, g_metrics.resent_rtx);
    sync_one(v->c.nack_misses, &v->synced.nack_misses, &t->nack_misses, g_metrics.nack_misses);
    sync_one(v->c.bytes, &v->synced.bytes, &t->bytes_sent, g_metrics.bytes);
    sync_one(v->c.packets, &v->synced.packets, &t->packets_sent, g_metrics.packets);
    sync_one(v->c.dropped, &v->synced.dropped, &t->send_dropped, g_metrics.dropped);
    sync_one(v->c.replayed, &v->synced.replayed, &t->replayed, g_metrics.replayed);
}

/* --- sending ------------------------------------------------------------------- */

/* Protects and sends what is in buf (len bytes); counts it. */
static int send_out(cg_viewer *v, vtrack *t, uint8_t *buf, size_t len, size_t payload)
{
    int rc = cg_peer_send_rtp(v->peer, buf, len, OUT_MAX + SRTP_TRAILER);
    if (rc) {
        v->c.dropped++;
        return rc;
    }
    v->c.packets++;
    v->c.bytes += len;
    if (t) {
        t->packets++;
        t->octets += payload;
    }
    return 0;
}

/* Time to first frame: from DTLS connected to the last packet (marker) of
 * the first keyframe sent. */
static void note_keyframe(cg_viewer *v, const cg_pkt *p, uint64_t now)
{
    if (!v->key_seen && (p->flags & CG_PKT_KEY_START)) {
        v->key_seen = 1;
        v->key_ts = p->ts;
    }
    if (v->key_seen && v->ttff_ms < 0 && p->ts == v->key_ts && p->marker) {
        v->ttff_ms = (int64_t)(now - v->connected_us) / 1000;
        cg_feed_add_ttff(v->feed, (uint32_t)v->ttff_ms);
        cg_metric_inc(g_metrics.first_frames);
        cg_metric_add(g_metrics.ttff_ms, (uint64_t)v->ttff_ms);
        cg_info(v->stream_name, "viewer %s: first keyframe sent %lld ms after connecting (%s)",
                v->id, (long long)v->ttff_ms, v->vstate == REPLAY ? "from the GOP cache" : "live");
    }
}

/* Rewrites and sends a video packet; replay compresses its timestamp.
 * Returns 0, CG_EEXIST (sent already) or a send error. */
static int send_video(cg_viewer *v, const cg_pkt *p, int replay, uint64_t now)
{
    size_t n;
    int rc;
    if (replay) {
        /* A new frame is stamped after the previous one by the time that
         * passed between their sends. */
        uint64_t gap_us = v->replay_frame_us ? now - v->replay_frame_us : 0;
        uint32_t step = gap_us * 90 / 1000 > REPLAY_TS_MIN_STEP ? (uint32_t)(gap_us * 90 / 1000)
                                                                : REPLAY_TS_MIN_STEP;
        rc = cg_rewriter_write_replay(v->video.rw, p, step, v->out, OUT_MAX, &n);
        if (rc == 0 && (!v->replay_frame_us || p->ts != v->replay_src_ts)) {
            v->replay_frame_us = now;
            v->replay_src_ts = p->ts;
        }
    } else {
        rc = cg_rewriter_write(v->video.rw, p, v->out, OUT_MAX, &n);
    }
    if (rc)
        return rc;
    /* Counted when written: a packet lost on send is resent on NACK. */
    note_keyframe(v, p, now);
    v->frames_sent += p->marker;
    v->frames_replayed += (uint64_t)(replay && p->marker);
    return send_out(v, &v->video, v->out, n, p->payload_len);
}

static int replay_snap(void *arg, cg_gop_snap *snap)
{
    cg_viewer *v = arg;
    return cg_feed_snapshot(v->feed, snap);
}

/* Packets between the last one replayed and p, from the stream's history:
 * when a new keyframe replaces the GOP during the replay, the end of the
 * old GOP is no longer in a snapshot, and without them the viewer would
 * see a gap and NACK what it was never sent. */
static void replay_fill_gap(cg_viewer *v, const cg_pkt *p, uint64_t now)
{
    cg_rewriter_stats st;
    cg_rewriter_stats_get(v->video.rw, &st);
    if (!st.forwarded || st.src_ssrc != p->ssrc)
        return;
    uint16_t gap = (uint16_t)(p->seq - st.src_seq - 1u);
    if (gap == 0 || gap > REPLAY_MAX_FILL)
        return;
    for (uint16_t i = 1; i <= gap; i++) {
        cg_pkt *h = NULL;
        if (cg_feed_history_get(v->feed, p->ssrc, (uint16_t)(st.src_seq + i), now, &h) != 0)
            continue; /* lost upstream too: the viewer sees the gap */
        if (send_video(v, h, 1, now) == 0)
            v->c.replayed++;
        cg_pkt_unref(h);
    }
}

static int replay_send(void *arg, const cg_pkt *p)
{
    cg_viewer *v = arg;
    uint64_t now = cg_now_us();
    replay_fill_gap(v, p, now);
    int rc = send_video(v, p, 1, now);
    if (rc == 0)
        v->c.replayed++;
    return rc;
}

static void request_keyframe(cg_viewer *v)
{
    v->keyframe_requests++;
    if (v->feed)
        cg_feed_request_keyframe(v->feed, cg_now_us());
}

static void wait_for_keyframe(cg_viewer *v)
{
    v->vstate = WAIT_KEY;
    request_keyframe(v);
    cg_loop_timer_set(cg_media_loop(v->m), &v->tick_timer, cg_now_us() + KEYREQ_RETRY_US,
                      tick_timer_cb, v);
}

static void tick_timer_cb(cg_loop *loop, void *arg)
{
    cg_viewer *v = arg;
    if (!v->feed)
        return;
    if (v->vstate == WAIT_KEY) {
        request_keyframe(v);
        cg_loop_timer_set(loop, &v->tick_timer, cg_now_us() + KEYREQ_RETRY_US, tick_timer_cb, v);
        return;
    }
    if (v->vstate != REPLAY)
        return;
    int rc = cg_replay_tick(&v->replay, replay_snap, replay_send, v);
    if (rc == 1) {
        cg_loop_timer_set(loop, &v->tick_timer, cg_now_us() + REPLAY_TICK_US, tick_timer_cb, v);
        return;
    }
    cg_replay_release(&v->replay);
    if (v->replay.sent == 0) {
        /* Nothing cached yet: wait for the publisher's keyframe. */
        wait_for_keyframe(v);
        return;
    }
    v->vstate = LIVE;
    cg_info(v->stream_name,
            "viewer %s: GOP replayed (%llu packets, %llu kB in %llu ticks, %llu snapshots%s), "
            "live now",
            v->id, (unsigned long long)v->replay.sent, (unsigned long long)(v->replay.bytes / 1000),
            (unsigned long long)v->replay.ticks, (unsigned long long)v->replay.rounds,
            v->replay.gave_up ? ", gave up" : "");
}

/* --- packets from the feed ----------------------------------------------------- */

static void on_feed_pkt(void *arg, int kind, cg_pkt *p, uint64_t now)
{
    cg_viewer *v = arg;
    if (!v->connected_us)
        return;
    if (kind == CG_MEDIA_AUDIO) {
        size_t n;
        if (v->audio.rw && cg_rewriter_write(v->audio.rw, p, v->out, OUT_MAX, &n) == 0)
            send_out(v, &v->audio, v->out, n, p->payload_len);
        return;
    }
    if (!v->video.rw)
        return;
    v->frames_published += p->marker;
    switch (v->vstate) {
    case WAIT_CONNECT:
    case REPLAY: /* it comes with the next snapshot */
        return;
    case WAIT_KEY:
        /* A decoder can only start at a keyframe: SPS or IDR begins one. */
        if (!(p->flags & CG_PKT_KEY_START)) {
            v->dropped_waiting++;
            return;
        }
        v->vstate = LIVE;
        cg_loop_timer_cancel(cg_media_loop(v->m), &v->tick_timer);
        cg_info(v->stream_name, "viewer %s: video starts at a live keyframe (%llu packets skipped)",
                v->id, (unsigned long long)v->dropped_waiting);
        break;
    case LIVE:
        break;
    }
    if (p->marker)
        cg_stall_frame(&v->publisher_stall, now);
    send_video(v, p, 0, now);
}

static void on_feed_end(void *arg)
{
    cg_viewer *v = arg;
    cg_info(v->stream_name, "viewer %s: publisher gone", v->id);
    sync_counts(v);
    v->feed = NULL; /* the feed detached us */
    cg_viewer_destroy(v);
}

/* --- RTCP from the viewer ------------------------------------------------------ */

/* Resends what the viewer lost from the stream's history, with the seq and
 * ts it first had: as RTX when negotiated, else plain. */
static void answer_nack(cg_viewer *v, const cg_rtcp_pkt *p, uint64_t now)
{
    if (!v->video.rw || p->media_ssrc != v->video.ssrc)
        return;
    for (size_t i = 0; i < p->n_nack; i++) {
        v->c.nacks++;
        uint32_t orig_ssrc;
        uint16_t orig_seq;
        cg_pkt *src = NULL;
        if (cg_rewriter_lookup(v->video.rw, p->nack[i], &orig_ssrc, &orig_seq) != 0 ||
            cg_feed_history_get(v->feed, orig_ssrc, orig_seq, now, &src) != 0) {
            v->c.nack_misses++;
            continue;
        }
        size_t n;
        int rc = cg_rewriter_resend(v->video.rw, p->nack[i], src, v->out, OUT_MAX, &n);
        cg_pkt_unref(src);
        if (rc)
            continue;
        if (v->rtx_pt >= 0) {
            size_t rn;
            if (cg_rtp_rtx_wrap(v->out, n, (uint8_t)v->rtx_pt, v->rtx_ssrc, v->rtx_seq, v->rtx_out,
                                OUT_MAX, &rn) != 0)
                continue;
            v->rtx_seq++;
            if (send_out(v, NULL, v->rtx_out, rn, 0) == 0)
                v->c.resent_rtx++;
        } else if (send_out(v, NULL, v->out, n, 0) == 0) {
            v->c.resent_plain++;
        }
    }
}

static void apply_reports(cg_viewer *v, const cg_rtcp_pkt *p)
{
    uint64_t now_ntp = cg_ntp_from_wall_us(cg_wall_us());
    for (size_t i = 0; i < p->n_reports; i++) {
        const cg_rtcp_report_block *rb = &p->reports[i];
        vtrack *t = rb->ssrc == v->video.ssrc && v->video.rw   ? &v->video
                    : rb->ssrc == v->audio.ssrc && v->audio.rw ? &v->audio
                                                               : NULL;
        if (t)
            cg_report_rx_apply(&t->rx, rb, t->clock, &v->sr_log, now_ntp);
    }
}

static void on_rtcp(void *owner, uint8_t *pkt, size_t len, uint64_t now)
{
    cg_viewer *v = owner;
    if (!v->feed)
        return;
    cg_rtcp_iter it;
    cg_rtcp_pkt p;
    cg_rtcp_iter_init(&it, pkt, len);
    while (cg_rtcp_next(&it, &p) == 0) {
        if (p.type == CG_RTCP_PSFB &&
            (p.count_or_fmt == CG_RTCP_FMT_PLI || p.count_or_fmt == CG_RTCP_FMT_FIR))
            request_keyframe(v);
        else if (p.type == CG_RTCP_RTPFB && p.count_or_fmt == CG_RTCP_FMT_NACK)
            answer_nack(v, &p, now);
        else if (p.type == CG_RTCP_RR || p.type == CG_RTCP_SR)
            apply_reports(v, &p);
    }
}

/* --- RTCP to the viewer -------------------------------------------------------- */

/* One SR for a track that has sent something, mapped from the publisher's
 * clock (egress/report.h). 0 when written. */
static int build_sr(cg_viewer *v, vtrack *t, int kind, uint64_t now, uint64_t ntp, cg_wr *w)
{
    cg_report_ref tr, ref;
    if (!t->rw || t->packets == 0 || cg_feed_report_refs(v->feed, kind, &tr, &ref) != 0)
        return CG_ENOTFOUND;
    uint32_t src_ts = cg_report_ts_now(&tr, &ref, now), out_ts;
    if (cg_rewriter_map_ts(t->rw, tr.ssrc, src_ts, &out_ts) != 0)
        return CG_ESTATE;
    cg_rtcp_build_sr(w, t->ssrc, ntp, out_ts, (uint32_t)t->packets, (uint32_t)t->octets, NULL, 0);
    return 0;
}

static void send_reports(cg_viewer *v, uint64_t now)
{
    uint8_t buf[RTCP_MAX + 64];
    cg_wr w;
    cg_wr_init(&w, buf, RTCP_MAX);
    uint64_t ntp = cg_ntp_from_wall_us(cg_wall_us());
    int n = 0;
    /* While the GOP is replayed the video offset still moves: no SR. */
    if (v->vstate == LIVE)
        n += build_sr(v, &v->video, CG_MEDIA_VIDEO, now, ntp, &w) == 0;
    n += build_sr(v, &v->audio, CG_MEDIA_AUDIO, now, ntp, &w) == 0;
    if (!n)
        return;
    cg_rtcp_build_sdes_cname(&w, v->video.rw ? v->video.ssrc : v->audio.ssrc, "clipgate");
    if (cg_wr_err(&w))
        return;
    if (cg_peer_send_rtcp(v->peer, buf, cg_wr_len(&w), sizeof(buf)) == 0)
        cg_report_sr_sent(&v->sr_log, ntp);
}

static void rtcp_timer_cb(cg_loop *loop, void *arg)
{
    cg_viewer *v = arg;
    if (!v->feed)
        return;
    send_reports(v, cg_now_us());
    sync_counts(v);
    cg_loop_timer_set(loop, &v->rtcp_timer, cg_now_us() + RTCP_INTERVAL_US, rtcp_timer_cb, v);
}

/* --- peer callbacks ------------------------------------------------------------ */

static void on_rtp(void *owner, uint8_t *pkt, size_t len, uint64_t now)
{
    (void)owner, (void)pkt, (void)len, (void)now; /* a recvonly viewer sends none */
}

static void on_connected(void *owner, uint64_t now)
{
    cg_viewer *v = owner;
    v->connected_us = now;
    struct sockaddr_storage a;
    if (cg_peer_remote_addr(v->peer, &a) == 0)
        cg_addr_format(&a, v->addr, sizeof(v->addr));
    cg_info(v->stream_name, "viewer %s connected from %s", v->id, v->addr);
    cg_loop *loop = cg_media_loop(v->m);
    cg_loop_timer_set(loop, &v->rtcp_timer, now + RTCP_INTERVAL_US, rtcp_timer_cb, v);
    if (!v->video.rw || !v->feed)
        return;
    if (!cg_feed_gop_enabled(v->feed)) {
        wait_for_keyframe(v);
        return;
    }
    /* The cached GOP now; a fresh keyframe soon keeps the catch-up short. */
    request_keyframe(v);
    v->vstate = REPLAY;
    cg_replay_cfg rc = {.pkts_per_tick = REPLAY_PKTS_PER_TICK,
                        .bytes_per_tick = REPLAY_BYTES_PER_TICK,
                        .max_rounds = REPLAY_MAX_ROUNDS};
    cg_replay_init(&v->replay, &rc);
    tick_timer_cb(loop, v);
}

static void on_closed(void *owner, int reason)
{
    cg_viewer *v = owner;
    cg_info(v->stream_name, "viewer %s gone (%s)", v->id,
            reason == CG_PEER_CLOSED_CONSENT ? "ICE consent expired" : "DTLS failed");
    cg_viewer_destroy(v);
}

static const cg_peer_cbs viewer_peer_cbs = {
    .on_rtp = on_rtp,
    .on_rtcp = on_rtcp,
    .on_connected = on_connected,
    .on_closed = on_closed,
};

/* --- lifecycle ----------------------------------------------------------------- */

int cg_viewer_stream_caps(cg_media *m, const char *stream, int *has_video, int *has_audio,
                          uint32_t *h264_plid)
{
    cg_stream *s = cg_hub_find(cg_media_hub(m), stream);
    if (!s)
        return CG_ENOTFOUND;
    const cg_stream_info *info = cg_stream_get_info(s);
    *has_video = info->has_video;
    *has_audio = info->has_audio;
    cg_whip *w = cg_stream_publisher(s);
    *h264_plid = w && info->has_video ? cg_whip_h264_profile(w) : 0;
    return 0;
}

static uint32_t nonzero_ssrc(void)
{
    uint32_t s;
    do
        s = cg_random_u32();
    while (s == 0);
    return s;
}

static int track_new(vtrack *t, int pt, uint32_t clock, uint32_t ts_gap)
{
    t->ssrc = nonzero_ssrc();
    t->clock = clock;
    cg_report_rx_init(&t->rx);
    cg_rewriter_cfg rc = {
        .ssrc = t->ssrc,
        .pt = (uint8_t)pt,
        .seq_start = (uint16_t)cg_random_u32(),
        .ts_start = cg_random_u32(),
        .ts_gap = ts_gap,
        .map_size = NACK_MAP,
        .trailer = SRTP_TRAILER,
    };
    return cg_rewriter_new(&t->rw, &rc);
}

/* Where a viewer joins and leaves the stream: the one place for what
 * follows the viewer count. */
static void viewer_added(cg_viewer *v)
{
    cg_media_viewers_changed(v->m, v->stream_name, cg_viewer_count(v->m, v->stream_name));
    cg_metric_inc(g_metrics.viewers);
    cg_metric_inc(g_metrics.viewers_total);
    cg_info(v->stream_name, "WHEP viewer %s created (%zu viewers)", v->id,
            cg_feed_viewer_count(v->feed));
}

static void viewer_removed(cg_viewer *v)
{
    cg_media_viewers_changed(v->m, v->stream_name, cg_viewer_count(v->m, v->stream_name));
    cg_metric_sub(g_metrics.viewers, 1);
}

static int check_limits(cg_media *m, cg_feed *f, cg_viewer_created *out)
{
    const cg_media_cfg *cfg = cg_media_config(m);
    size_t all = 0;
    for (cg_viewer *v = *viewer_list(m); v; v = v->next)
        all++;
    if (cfg->max_viewers && all >= cfg->max_viewers) {
        out->limit = "max-viewers";
        out->limit_value = cfg->max_viewers;
        return CG_ELIMIT;
    }
    if (cfg->max_viewers_per_stream && cg_feed_viewer_count(f) >= cfg->max_viewers_per_stream) {
        out->limit = "max-viewers-per-stream";
        out->limit_value = cfg->max_viewers_per_stream;
        return CG_ELIMIT;
    }
    return 0;
}

static void viewer_free(cg_viewer *v)
{
    cg_peer_free(v->peer);
    cg_rewriter_free(v->video.rw);
    cg_rewriter_free(v->audio.rw);
    cg_replay_release(&v->replay);
    free(v);
}

int cg_viewer_create(cg_media *m, const cg_viewer_params *p, cg_viewer_created *out)
{
    if (!p->stream || !cg_stream_name_valid(p->stream) || p->video_pt > 127 || p->audio_pt > 127 ||
        p->video_rtx_pt > 127 || (p->video_pt < 0 && p->audio_pt < 0))
        return CG_EINVAL;
    pthread_once(&metrics_once, metrics_register);
    cg_feed *f = cg_feed_find(m, p->stream);
    if (!f)
        return CG_ENOTFOUND;
    int rc = check_limits(m, f, out);
    if (rc)
        return rc;
    cg_viewer *v = calloc(1, sizeof(*v));
    if (!v)
        return CG_ENOMEM;
    v->m = m;
    v->ttff_ms = -1;
    v->rtx_pt = -1;
    snprintf(v->stream_name, sizeof(v->stream_name), "%s", p->stream);
    snprintf(v->addr, sizeof(v->addr), "-");
    snprintf(v->remote_ufrag, sizeof(v->remote_ufrag), "%s",
             p->remote_ufrag ? p->remote_ufrag : "");
    uint8_t idb[CG_VIEWER_ID_LEN / 2];
    if ((rc = cg_random_bytes(idb, sizeof(idb))) != 0)
        goto fail;
    for (size_t i = 0; i < sizeof(idb); i++)
        snprintf(v->id + 2 * i, 3, "%02x", idb[i]);
    char r[17];
    cg_random_token(r, 16);
    snprintf(v->etag, sizeof(v->etag), "\"%s\"", r);
    out->video_ssrc = out->video_rtx_ssrc = out->audio_ssrc = 0;
    if (p->video_pt >= 0) {
        if ((rc = track_new(&v->video, p->video_pt, 90000, 3000)) != 0)
            goto fail;
        out->video_ssrc = v->video.ssrc;
        if (p->video_rtx_pt >= 0) {
            v->rtx_pt = p->video_rtx_pt;
            v->rtx_ssrc = nonzero_ssrc();
            v->rtx_seq = (uint16_t)cg_random_u32();
            out->video_rtx_ssrc = v->rtx_ssrc;
        }
    }
    if (p->audio_pt >= 0) {
        if ((rc = track_new(&v->audio, p->audio_pt, 48000, 960)) != 0)
            goto fail;
        out->audio_ssrc = v->audio.ssrc;
    }
    if ((rc = cg_ice_gen_credentials(out->ufrag, out->pwd)) != 0)
        goto fail;
    cg_peer_params pp = {
        .id = v->stream_name,
        .local_ufrag = out->ufrag,
        .local_pwd = out->pwd,
        .remote_ufrag = p->remote_ufrag,
        .remote_pwd = p->remote_pwd,
        .dtls_role = p->dtls_role,
        .remote_fp_alg = p->remote_fp_alg,
        .remote_fp = p->remote_fp,
        .consent_timeout_us = cg_media_config(m)->consent_timeout_us,
    };
    if ((rc = cg_peer_new(&v->peer, cg_media_transport(m), &pp, &viewer_peer_cbs, v)) != 0)
        goto fail;
    cg_feed_out fo = {.on_pkt = on_feed_pkt, .on_end = on_feed_end, .arg = v};
    if ((rc = cg_feed_attach(f, &fo)) != 0)
        goto fail;
    v->feed = f;
    v->next = *viewer_list(m);
    *viewer_list(m) = v;
    memcpy(out->id, v->id, sizeof(v->id));
    memcpy(out->etag, v->etag, sizeof(v->etag));
    viewer_added(v);
    return 0;
fail:
    viewer_free(v);
    return rc;
}

cg_viewer *cg_viewer_find(cg_media *m, const char *id)
{
    for (cg_viewer *v = *viewer_list(m); v; v = v->next)
        if (strcmp(v->id, id) == 0)
            return v;
    return NULL;
}

void cg_viewer_destroy(cg_viewer *v)
{
    for (cg_viewer **pp = viewer_list(v->m); *pp; pp = &(*pp)->next) {
        if (*pp == v) {
            *pp = v->next;
            break;
        }
    }
    cg_loop *loop = cg_media_loop(v->m);
    cg_loop_timer_cancel(loop, &v->tick_timer);
    cg_loop_timer_cancel(loop, &v->rtcp_timer);
    if (v->feed) {
        sync_counts(v);
        cg_feed_detach(v->feed, v);
    }
    viewer_removed(v);
    cg_info(v->stream_name,
            "WHEP viewer %s ended: %llu video and %llu audio packets sent, %llu replayed, "
            "%llu dropped on send, %llu packets NACKed, %llu resent (%llu as RTX), %llu NACKed "
            "packets no longer held, %llu keyframe requests; %llu video frames published while "
            "connected, %llu sent (%llu replayed); live, the publisher paused like a freeze %llu "
            "times (longest gap %llu ms)",
            v->id, (unsigned long long)v->video.packets, (unsigned long long)v->audio.packets,
            (unsigned long long)v->c.replayed, (unsigned long long)v->c.dropped,
            (unsigned long long)v->c.nacks,
            (unsigned long long)(v->c.resent_plain + v->c.resent_rtx),
            (unsigned long long)v->c.resent_rtx, (unsigned long long)v->c.nack_misses,
            (unsigned long long)v->keyframe_requests, (unsigned long long)v->frames_published,
            (unsigned long long)v->frames_sent, (unsigned long long)v->frames_replayed,
            (unsigned long long)v->publisher_stall.freezes,
            (unsigned long long)(v->publisher_stall.max_gap_us / 1000));
    viewer_free(v);
}

const char *cg_viewer_stream(const cg_viewer *v)
{
    return v->stream_name;
}
const char *cg_viewer_etag(const cg_viewer *v)
{
    return v->etag;
}
const char *cg_viewer_remote_ufrag(const cg_viewer *v)
{
    return v->remote_ufrag;
}

int cg_viewer_ice_restart(cg_viewer *v, const char *remote_ufrag, const char *remote_pwd,
                          cg_viewer_created *out)
{
    int rc = cg_ice_gen_credentials(out->ufrag, out->pwd);
    if (rc)
        return rc;
    if ((rc = cg_peer_ice_restart(v->peer, out->ufrag, out->pwd, remote_ufrag, remote_pwd)) != 0)
        return rc;
    snprintf(v->remote_ufrag, sizeof(v->remote_ufrag), "%s", remote_ufrag);
    cg_info(v->stream_name, "viewer %s: ICE restart", v->id);
    char r[17];
    cg_random_token(r, 16);
    snprintf(v->etag, sizeof(v->etag), "\"%s\"", r);
    memcpy(out->etag, v->etag, sizeof(v->etag));
    memcpy(out->id, v->id, sizeof(v->id));
    return 0;
}

size_t cg_viewer_count(cg_media *m, const char *stream)
{
    cg_feed *f = cg_feed_find(m, stream);
    return f ? cg_feed_viewer_count(f) : 0;
}

/* --- JSON ---------------------------------------------------------------------- */

static json_t *rx_json(const vtrack *t)
{
    if (!t->rw || !t->rx.reports)
        return json_null();
    json_t *o = json_object();
    json_object_set_new(o, "loss", json_real(t->rx.loss));
    json_object_set_new(o, "lost", json_integer(t->rx.cumulative_lost));
    json_object_set_new(o, "jitter_ms", json_real(t->rx.jitter_ms));
    json_object_set_new(o, "rtt_ms",
                        t->rx.rtt_us >= 0 ? json_real(t->rx.rtt_us / 1000.0) : json_null());
    return o;
}

static const char *const state_names[] = {"connecting", "replay", "waiting_keyframe", "live"};

static json_t *viewer_json(const cg_viewer *v)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(v->id));
    json_object_set_new(o, "address", json_string(v->addr));
    json_object_set_new(o, "connected", json_boolean(v->connected_us != 0));
    json_object_set_new(o, "state", json_string(state_names[v->vstate]));
    json_object_set_new(o, "ttff_ms", v->ttff_ms >= 0 ? json_integer(v->ttff_ms) : json_null());
    json_object_set_new(o, "packets_sent", json_integer((json_int_t)v->c.packets));
    json_object_set_new(o, "frames_published", json_integer((json_int_t)v->frames_published));
    json_object_set_new(o, "frames_sent", json_integer((json_int_t)v->frames_sent));
    json_object_set_new(o, "frames_replayed", json_integer((json_int_t)v->frames_replayed));
    /* Pauses of the publisher while this viewer was live: a freeze its
     * player counts where the publisher paused as long is not ours. */
    json_object_set_new(o, "publisher_freezes",
                        json_integer((json_int_t)v->publisher_stall.freezes));
    json_object_set_new(o, "publisher_max_gap_ms",
                        json_integer((json_int_t)(v->publisher_stall.max_gap_us / 1000)));
    json_object_set_new(o, "packets_replayed", json_integer((json_int_t)v->c.replayed));
    json_object_set_new(o, "packets_dropped", json_integer((json_int_t)v->c.dropped));
    json_object_set_new(o, "nacks", json_integer((json_int_t)v->c.nacks));
    json_object_set_new(o, "resent",
                        json_integer((json_int_t)(v->c.resent_plain + v->c.resent_rtx)));
    json_object_set_new(o, "rtx", json_boolean(v->rtx_pt >= 0));
    cg_peer_stats ps;
    cg_peer_get_stats(v->peer, &ps);
    json_object_set_new(
        o, "srtp",
        ps.srtp_profile == CG_SRTP_AEAD_AES_128_GCM    ? json_string("AEAD_AES_128_GCM")
        : ps.srtp_profile == CG_SRTP_AES128_CM_SHA1_80 ? json_string("AES_CM_128_HMAC_SHA1_80")
                                                       : json_null());
    /* The video track's figures, audio's when there is no video. */
    const vtrack *t = v->video.rw ? &v->video : &v->audio;
    json_object_set_new(o, "loss", t->rx.reports ? json_real(t->rx.loss) : json_null());
    json_object_set_new(o, "jitter_ms", t->rx.reports ? json_real(t->rx.jitter_ms) : json_null());
    json_object_set_new(o, "rtt_ms",
                        t->rx.rtt_us >= 0 ? json_real(t->rx.rtt_us / 1000.0) : json_null());
    json_object_set_new(o, "video", rx_json(&v->video));
    json_object_set_new(o, "audio", rx_json(&v->audio));
    return o;
}

void cg_viewer_describe_stream(cg_media *m, const char *stream, json_t *obj)
{
    cg_feed *f = cg_feed_find(m, stream);
    json_object_set_new(obj, "viewers",
                        json_integer((json_int_t)(f ? cg_feed_viewer_count(f) : 0)));
    if (!f)
        return;
    json_t *w = cg_feed_totals_json(f);
    json_t *arr = json_array();
    for (cg_viewer *v = *viewer_list(m); v; v = v->next)
        if (v->feed == f)
            json_array_append_new(arr, viewer_json(v));
    json_object_set_new(w, "sessions", arr);
    json_object_set_new(obj, "whep", w);
}
