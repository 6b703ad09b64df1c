/* Design: a WHIP session lives on the media thread. Its peer (transport.h)
 * hands it decrypted RTP and RTCP. RTP goes, per track, through the receiver
 * (reorder buffer, loss detection) and then the depacketizer, whose access
 * units are rebased onto the broadcast's clock and published to the stream
 * in the hub. One timer per session drives reorder deadlines, NACKs and
 * receiver reports. Keyframe requests are rate-limited to one per second.
 *
 * Clock: the broadcast epoch is the wall-clock time of the first frame of
 * either track. Each track maps its first frame onto that epoch (through
 * the publisher's sender reports when one has arrived, else arrival time)
 * and then advances by RTP time, so pts stay exact and monotonic. */
#include "ingest/whip.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/hub.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/random.h"
#include "ingest/dump.h"
#include "ingest/h264_depack.h"
#include "ingest/opus_depack.h"
#include "rtc/dtls.h"
#include "rtc/ice.h"
#include "rtc/rtcp.h"
#include "rtc/rtp.h"
#include "rtc/rtp_recv.h"

#define RR_INTERVAL_US 1000000u
#define KEYFRAME_MIN_INTERVAL_US 1000000u
#define MAX_FRAME_BYTES (4u << 20)
#define PKT_MAX 1600
#define RTCP_MAX 1200

typedef struct track {
    int present;
    int kind;
    int codec;
    uint8_t pt;
    int rtx_pt;
    uint32_t clock;
    int nack, pli, fir;
    uint32_t ssrc;
    int ssrc_known;
    cg_rtp_recv *recv;
    cg_h264_depack *h264;
    cg_opus_depack *opus;
    /* rebasing onto the broadcast clock */
    int based;
    int64_t base_ext_ts;
    int64_t base_pts;
    /* observations */
    uint64_t frames, keyframes, bytes;
    uint64_t first_frame_us, last_frame_us;
    uint64_t last_key_us, key_interval_us;
    uint64_t unknown_pt, rtx_errors, rtp_errors;
    /* this stream's series in /metrics and what was added to them */
    cg_metric *m_received, *m_lost, *m_recovered;
    uint64_t synced_received, synced_lost, synced_recovered;
} track;

struct cg_whip {
    cg_media *m;
    cg_whip *next;
    char id[CG_WHIP_ID_LEN + 1];
    char stream_name[CG_STREAM_NAME_MAX + 1];
    char etag[40];
    char remote_ufrag[257];
    char user_agent[128];
    cg_stream *stream;
    cg_peer *peer;
    track video, audio;
    uint32_t our_ssrc;
    cg_timer timer;
    uint64_t next_rr_us;
    uint64_t last_keyreq_us;
    uint64_t keyframe_requests;
    uint8_t fir_seq;
    int have_epoch;
    uint64_t epoch_wall_us;
    uint64_t created_us, created_wall_us, connected_us;
    uint64_t first_key_us; /* first complete keyframe delivered (monotonic) */
    uint64_t sr_count;
    cg_dump *dump;
    char ice_ufrag[9];
    cg_metric *m_frames;
    uint64_t synced_stun_bad, synced_srtp_auth;
};

/* The media thread owns the list; see cg_media_whips(). */
static cg_whip **whip_list(cg_media *m)
{
    return (cg_whip **)cg_media_whips(m);
}

static void session_timer_cb(cg_loop *loop, void *arg);

/* --- metrics ------------------------------------------------------------------
 * Process-wide families in the registry (core/metrics.h), registered once.
 * Nothing is counted twice per packet: the session timer adds what the
 * receivers and the peer counted since its last tick (about once a second),
 * and once more when the session ends, so /metrics and the stream JSON
 * agree. Video frames are counted as they are delivered (one atomic add). */

static struct {
    cg_metric *sessions, *sessions_total, *dtls_failures, *stun_bad_integrity;
    cg_metric *srtp_auth_failures, *rtp_received, *rtp_lost, *rtp_recovered, *video_frames;
} g_metrics;

static const cg_metric_def metric_defs[] = {
    {&g_metrics.sessions, 1, "clipgate_whip_sessions", "WHIP publishing sessions open now", NULL},
    {&g_metrics.sessions_total, 0, "clipgate_whip_sessions_total",
     "WHIP publishing sessions created", NULL},
    {&g_metrics.dtls_failures, 0, "clipgate_dtls_failures_total",
     "sessions ended because DTLS failed (fingerprint mismatch, alert, timeout)", NULL},
    {&g_metrics.stun_bad_integrity, 0, "clipgate_stun_bad_integrity_total",
     "STUN requests for a session ignored for a wrong MESSAGE-INTEGRITY", NULL},
    {&g_metrics.srtp_auth_failures, 0, "clipgate_srtp_auth_failures_total",
     "SRTP/SRTCP packets from a session's address dropped for a failed auth tag", NULL},
    {&g_metrics.rtp_received, 0, "clipgate_rtp_packets_received_total",
     "RTP packets received from publishers", "stream,kind"},
    {&g_metrics.rtp_lost, 0, "clipgate_rtp_packets_lost_total",
     "RTP packets given up as lost (after NACKs)", "stream,kind"},
    {&g_metrics.rtp_recovered, 0, "clipgate_rtp_packets_recovered_total",
     "RTP packets recovered by NACK or RTX", "stream,kind"},
    {&g_metrics.video_frames, 0, "clipgate_video_frames_total",
     "video frames (access units) received from publishers", "stream"},
};

static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void metrics_register(void)
{
    cg_metrics_register_table(metric_defs, sizeof(metric_defs) / sizeof(metric_defs[0]), "media");
}

/* A series that cannot be created stays NULL and is not counted. */
static void metrics_attach(cg_whip *w)
{
    track *ts[2] = {&w->video, &w->audio};
    for (int i = 0; i < 2; i++) {
        track *t = ts[i];
        if (!t->present)
            continue;
        const char *kind = t->kind == CG_MEDIA_VIDEO ? "video" : "audio";
        cg_metric_labels(g_metrics.rtp_received, &t->m_received, w->stream_name, kind, NULL);
        cg_metric_labels(g_metrics.rtp_lost, &t->m_lost, w->stream_name, kind, NULL);
        cg_metric_labels(g_metrics.rtp_recovered, &t->m_recovered, w->stream_name, kind, NULL);
    }
    if (w->video.present)
        cg_metric_labels(g_metrics.video_frames, &w->m_frames, w->stream_name, NULL);
}

static void add_delta(cg_metric *m, uint64_t value, uint64_t *synced)
{
    if (value > *synced) {
        cg_metric_add(m, value - *synced);
        *synced = value;
    }
}

static void metrics_sync(cg_whip *w)
{
    track *ts[2] = {&w->video, &w->audio};
    for (int i = 0; i < 2; i++) {
        track *t = ts[i];
        if (!t->present)
            continue;
        cg_rtp_recv_stats rs;
        cg_rtp_recv_get_stats(t->recv, &rs);
        add_delta(t->m_received, rs.packets, &t->synced_received);
        add_delta(t->m_lost, rs.lost, &t->synced_lost);
        add_delta(t->m_recovered, rs.recovered, &t->synced_recovered);
    }
    cg_peer_stats ps;
    cg_peer_get_stats(w->peer, &ps);
    add_delta(g_metrics.stun_bad_integrity, ps.stun_bad_auth, &w->synced_stun_bad);
    add_delta(g_metrics.srtp_auth_failures, ps.srtp_auth_fail, &w->synced_srtp_auth);
}

/* --- RTCP out ---------------------------------------------------------------- */

static size_t add_report_blocks(cg_whip *w, uint64_t now, cg_rtcp_report_block *rb)
{
    size_t n = 0;
    track *ts[2] = {&w->video, &w->audio};
    for (int i = 0; i < 2; i++)
        if (ts[i]->present && ts[i]->ssrc_known)
            cg_rtp_recv_report(ts[i]->recv, now, ts[i]->ssrc, &rb[n++]);
    return n;
}

static void send_rtcp(cg_whip *w, uint8_t *buf, cg_wr *wr)
{
    if (cg_wr_err(wr) == 0 && cg_peer_connected(w->peer))
        cg_peer_send_rtcp(w->peer, buf, cg_wr_len(wr), RTCP_MAX + 64);
}

/* Every compound RTCP packet starts with a receiver report (RFC 3550 §6.1). */
static void rtcp_begin(cg_whip *w, uint64_t now, cg_wr *wr)
{
    cg_rtcp_report_block rb[2];
    size_t n = add_report_blocks(w, now, rb);
    cg_rtcp_build_rr(wr, w->our_ssrc, rb, n);
}

static void send_nacks(cg_whip *w, track *t, uint64_t now)
{
    if (!t->nack || !t->ssrc_known)
        return;
    uint16_t seqs[64];
    size_t n = cg_rtp_recv_nacks(t->recv, now, seqs, 64);
    if (!n)
        return;
    uint8_t buf[RTCP_MAX + 64];
    cg_wr wr;
    cg_wr_init(&wr, buf, RTCP_MAX);
    rtcp_begin(w, now, &wr);
    cg_rtcp_build_nack(&wr, w->our_ssrc, t->ssrc, seqs, n);
    send_rtcp(w, buf, &wr);
}

void cg_whip_request_keyframe(cg_whip *w)
{
    uint64_t now = cg_now_us();
    track *t = &w->video;
    if (!t->present || !t->ssrc_known || !cg_peer_connected(w->peer))
        return;
    if (w->last_keyreq_us && now - w->last_keyreq_us < KEYFRAME_MIN_INTERVAL_US)
        return;
    w->last_keyreq_us = now;
    w->keyframe_requests++;
    uint8_t buf[RTCP_MAX + 64];
    cg_wr wr;
    cg_wr_init(&wr, buf, RTCP_MAX);
    rtcp_begin(w, now, &wr);
    /* PLI is what every publisher here understands; FIR only if offered. */
    cg_rtcp_build_pli(&wr, w->our_ssrc, t->ssrc);
    if (t->fir)
        cg_rtcp_build_fir(&wr, w->our_ssrc, t->ssrc, w->fir_seq++);
    send_rtcp(w, buf, &wr);
}

static void request_keyframe_cb(void *publisher)
{
    cg_whip_request_keyframe(publisher);
}

/* --- frames ------------------------------------------------------------------ */

static void deliver(cg_whip *w, track *t, cg_frame *f, uint64_t now)
{
    uint64_t wall = 0;
    int have_sr = cg_rtp_recv_wall_us(t->recv, (uint32_t)f->pts, &wall) == 0;
    if (!have_sr)
        wall = cg_wall_us();
    if (!w->have_epoch) {
        w->have_epoch = 1;
        w->epoch_wall_us = wall;
    }
    if (!t->based) {
        t->based = 1;
        t->base_ext_ts = f->pts;
        int64_t off_us = (int64_t)(wall - w->epoch_wall_us);
        t->base_pts = off_us * (int64_t)t->clock / 1000000;
    }
    int64_t pts = t->base_pts + (f->pts - t->base_ext_ts);
    f->pts = f->dts = pts;
    f->wall_us = w->epoch_wall_us + (uint64_t)(pts > 0 ? pts : 0) * 1000000u / t->clock;
    t->frames++;
    t->bytes += f->len;
    if (t->kind == CG_MEDIA_VIDEO)
        cg_metric_inc(w->m_frames);
    if (!t->first_frame_us)
        t->first_frame_us = now;
    t->last_frame_us = now;
    if (t->kind == CG_MEDIA_VIDEO && (f->flags & CG_FRAME_KEY)) {
        if (t->last_key_us)
            t->key_interval_us = now - t->last_key_us;
        t->last_key_us = now;
        t->keyframes++;
        if (!w->first_key_us)
            w->first_key_us = now;
    }
    cg_stream_publish(w->stream, f);
    if (w->dump)
        cg_dump_push(w->dump, f);
}

static void depacketize(cg_whip *w, track *t, const uint8_t *pkt, size_t len, int gap, uint64_t now)
{
    cg_rtp_hdr h;
    if (cg_rtp_parse(&h, pkt, len) != 0) {
        t->rtp_errors++;
        return;
    }
    cg_frame *out[2];
    size_t n = 0;
    if (t->codec == CG_CODEC_H264) {
        uint64_t dropped_before = 0;
        cg_h264_depack_stats st;
        cg_h264_depack_get_stats(t->h264, &st);
        dropped_before = st.dropped_frames;
        cg_h264_depack_push(t->h264, h.payload, h.payload_len, h.ts, h.marker, gap, out, &n);
        cg_h264_depack_get_stats(t->h264, &st);
        /* A frame was lost: the decoder chain is broken until the next
         * IDR, so ask for one instead of waiting out the GOP. */
        if (st.dropped_frames > dropped_before)
            cg_whip_request_keyframe(w);
    } else {
        cg_opus_depack_push(t->opus, h.payload, h.payload_len, h.ts, &out[0]);
        n = out[0] ? 1 : 0;
    }
    for (size_t i = 0; i < n; i++) {
        deliver(w, t, out[i], now);
        cg_frame_unref(out[i]);
    }
}

static void drain(cg_whip *w, track *t, uint64_t now)
{
    uint8_t pkt[PKT_MAX];
    size_t len;
    int gap;
    while (cg_rtp_recv_pop(t->recv, now, pkt, sizeof(pkt), &len, &gap) == 0) {
        /* WHEP viewers get the packet before the depacketizer sees it. */
        cg_stream_publish_rtp(w->stream, t->kind, pkt, len, now);
        depacketize(w, t, pkt, len, gap, now);
    }
}

static void rearm(cg_whip *w)
{
    uint64_t at = w->next_rr_us;
    track *ts[2] = {&w->video, &w->audio};
    for (int i = 0; i < 2; i++) {
        if (!ts[i]->present)
            continue;
        uint64_t d = cg_rtp_recv_deadline(ts[i]->recv);
        if (d < at)
            at = d;
    }
    cg_loop_timer_set(cg_media_loop(w->m), &w->timer, at, session_timer_cb, w);
}

static void session_timer_cb(cg_loop *loop, void *arg)
{
    cg_whip *w = arg;
    uint64_t now = cg_now_us();
    track *ts[2] = {&w->video, &w->audio};
    for (int i = 0; i < 2; i++) {
        if (!ts[i]->present)
            continue;
        drain(w, ts[i], now);
        send_nacks(w, ts[i], now);
    }
    if (now >= w->next_rr_us) {
        w->next_rr_us = now + RR_INTERVAL_US;
        metrics_sync(w);
        if (cg_peer_connected(w->peer)) {
            uint8_t buf[RTCP_MAX + 64];
            cg_wr wr;
            cg_wr_init(&wr, buf, RTCP_MAX);
            rtcp_begin(w, now, &wr);
            cg_rtcp_build_sdes_cname(&wr, w->our_ssrc, "clipgate");
            send_rtcp(w, buf, &wr);
        }
    }
    rearm(w);
}

/* --- peer callbacks ---------------------------------------------------------- */

static void on_rtp(void *owner, uint8_t *pkt, size_t len, uint64_t now)
{
    cg_whip *w = owner;
    cg_rtp_hdr h;
    if (cg_rtp_parse(&h, pkt, len) != 0) {
        w->video.rtp_errors++;
        return;
    }
    track *t = NULL;
    int rtx = 0;
    if (w->video.present && h.pt == w->video.pt) {
        t = &w->video;
    } else if (w->audio.present && h.pt == w->audio.pt) {
        t = &w->audio;
    } else if (w->video.present && w->video.rtx_pt >= 0 && h.pt == w->video.rtx_pt) {
        t = &w->video;
        rtx = 1;
    }
    if (!t) {
        w->video.unknown_pt++;
        return;
    }
    if (rtx) {
        if (!t->ssrc_known)
            return;
        uint8_t orig[PKT_MAX];
        size_t olen;
        if (cg_rtp_rtx_unwrap(pkt, len, t->pt, t->ssrc, orig, sizeof(orig), &olen) != 0) {
            t->rtx_errors++;
            return;
        }
        if (olen == 0)
            return; /* padding-only RTX probe */
        cg_rtp_recv_push(t->recv, orig, olen, 1, now);
    } else {
        if (!t->ssrc_known) {
            t->ssrc = h.ssrc;
            t->ssrc_known = 1;
            if (t->kind == CG_MEDIA_VIDEO)
                cg_whip_request_keyframe(w);
        } else if (h.ssrc != t->ssrc) {
            t->unknown_pt++;
            return;
        }
        cg_rtp_recv_push(t->recv, pkt, len, 0, now);
    }
    drain(w, t, now);
    send_nacks(w, t, now);
    rearm(w);
}

static void on_rtcp(void *owner, uint8_t *pkt, size_t len, uint64_t now)
{
    cg_whip *w = owner;
    cg_rtcp_iter it;
    cg_rtcp_pkt p;
    cg_rtcp_iter_init(&it, pkt, len);
    while (cg_rtcp_next(&it, &p) == 0) {
        if (p.type != CG_RTCP_SR)
            continue;
        track *ts[2] = {&w->video, &w->audio};
        for (int i = 0; i < 2; i++) {
            if (ts[i]->present && ts[i]->ssrc_known && ts[i]->ssrc == p.sender_ssrc) {
                cg_rtp_recv_on_sr(ts[i]->recv, p.ntp, p.rtp_ts, now);
                w->sr_count++;
            }
        }
    }
}

static void on_connected(void *owner, uint64_t now)
{
    cg_whip *w = owner;
    w->connected_us = now;
    cg_info(w->stream_name, "publisher connected (session %s)", w->id);
}

static void on_closed(void *owner, int reason)
{
    cg_whip *w = owner;
    cg_info(w->stream_name, "publisher gone (%s)",
            reason == CG_PEER_CLOSED_CONSENT ? "ICE consent expired" : "DTLS failed");
    if (reason == CG_PEER_CLOSED_DTLS)
        cg_metric_inc(g_metrics.dtls_failures);
    cg_whip_destroy(w);
}

static const cg_peer_cbs whip_peer_cbs = {
    .on_rtp = on_rtp,
    .on_rtcp = on_rtcp,
    .on_connected = on_connected,
    .on_closed = on_closed,
};

/* --- lifecycle --------------------------------------------------------------- */

static int track_init(track *t, int kind, const cg_whip_track_params *p)
{
    t->kind = kind;
    t->present = p->present;
    if (!p->present)
        return 0;
    t->codec = p->codec;
    t->pt = p->pt;
    t->rtx_pt = p->rtx_pt;
    t->nack = p->nack;
    t->pli = p->pli;
    t->fir = p->fir;
    t->clock = kind == CG_MEDIA_VIDEO ? 90000 : 48000;
    cg_rtp_recv_cfg rc = {
        .clock_rate = t->clock,
        .max_packets = kind == CG_MEDIA_VIDEO ? 2048 : 256,
        .max_delay_us = kind == CG_MEDIA_VIDEO ? 200000 : 80000,
        .nack_enabled = p->nack,
        .nack_max_retries = 4,
    };
    int err = cg_rtp_recv_new(&t->recv, &rc);
    if (err)
        return err;
    if (p->codec == CG_CODEC_H264) {
        if ((err = cg_h264_depack_new(&t->h264, MAX_FRAME_BYTES)) != 0)
            return err;
        if (p->sprop && *p->sprop)
            cg_h264_depack_set_sprop(t->h264, p->sprop);
    } else if ((err = cg_opus_depack_new(&t->opus)) != 0) {
        return err;
    }
    return 0;
}

static void track_free(track *t)
{
    cg_rtp_recv_free(t->recv);
    cg_h264_depack_free(t->h264);
    cg_opus_depack_free(t->opus);
    memset(t, 0, sizeof(*t));
}

static void make_etag(cg_whip *w)
{
    char r[17];
    cg_random_token(r, 16);
    snprintf(w->etag, sizeof(w->etag), "\"%s\"", r);
}

size_t cg_whip_count(cg_media *m)
{
    size_t n = 0;
    for (cg_whip *w = *whip_list(m); w; w = w->next)
        n++;
    return n;
}

int cg_whip_create(cg_media *m, const cg_whip_params *p, cg_whip_created *out)
{
    const cg_media_cfg *cfg = cg_media_config(m);
    if (!cg_stream_name_valid(p->stream))
        return CG_EINVAL;
    if (cg_hub_find(cg_media_hub(m), p->stream))
        return CG_EEXIST;
    if (cfg->max_sessions && cg_whip_count(m) >= cfg->max_sessions)
        return CG_ELIMIT;
    cg_whip *w = calloc(1, sizeof(*w));
    if (!w)
        return CG_ENOMEM;
    w->m = m;
    snprintf(w->stream_name, sizeof(w->stream_name), "%s", p->stream);
    snprintf(w->user_agent, sizeof(w->user_agent), "%s", p->user_agent ? p->user_agent : "");
    snprintf(w->remote_ufrag, sizeof(w->remote_ufrag), "%s",
             p->remote_ufrag ? p->remote_ufrag : "");
    uint8_t idb[CG_WHIP_ID_LEN / 2];
    int rc = cg_random_bytes(idb, sizeof(idb));
    if (rc)
        goto fail;
    for (size_t i = 0; i < sizeof(idb); i++)
        snprintf(w->id + 2 * i, 3, "%02x", idb[i]);
    make_etag(w);
    w->our_ssrc = cg_random_u32();
    w->created_us = cg_now_us();
    w->created_wall_us = cg_wall_us();
    w->next_rr_us = w->created_us + RR_INTERVAL_US;
    if ((rc = track_init(&w->video, CG_MEDIA_VIDEO, &p->video)) != 0 ||
        (rc = track_init(&w->audio, CG_MEDIA_AUDIO, &p->audio)) != 0)
        goto fail;
    if ((rc = cg_ice_gen_credentials(out->ufrag, out->pwd)) != 0)
        goto fail;
    cg_peer_params pp = {
        .id = w->stream_name,
        .local_ufrag = out->ufrag,
        .local_pwd = out->pwd,
        .remote_ufrag = p->remote_ufrag,
        .remote_pwd = p->remote_pwd,
        .dtls_role = p->dtls_role,
        .remote_fp_alg = p->remote_fp_alg,
        .remote_fp = p->remote_fp,
        .consent_timeout_us = cfg->consent_timeout_us,
    };
    if ((rc = cg_peer_new(&w->peer, cg_media_transport(m), &pp, &whip_peer_cbs, w)) != 0)
        goto fail;
    cg_stream_info info = {
        .has_video = w->video.present,
        .has_audio = w->audio.present,
        .request_keyframe = request_keyframe_cb,
    };
    if ((rc = cg_hub_open(cg_media_hub(m), p->stream, w, &info, &w->stream)) != 0)
        goto fail;
    if (cfg->dump_dir) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s-%s.mkv", cfg->dump_dir, w->stream_name, w->id);
        if (cg_dump_new(&w->dump, path, w->video.present, w->audio.present) != 0)
            cg_warn(w->stream_name, "diagnostics dump disabled: cannot start writer");
    }
    w->next = *whip_list(m);
    *whip_list(m) = w;
    rearm(w);
    memcpy(out->id, w->id, sizeof(w->id));
    memcpy(out->etag, w->etag, sizeof(w->etag));
    snprintf(w->ice_ufrag, sizeof(w->ice_ufrag), "%s", out->ufrag);
    pthread_once(&metrics_once, metrics_register);
    metrics_attach(w);
    cg_metric_inc(g_metrics.sessions);
    cg_metric_inc(g_metrics.sessions_total);
    cg_info(w->stream_name, "WHIP session %s created", w->id);
    return 0;
fail:
    cg_peer_free(w->peer);
    track_free(&w->video);
    track_free(&w->audio);
    free(w);
    return rc;
}

cg_whip *cg_whip_find(cg_media *m, const char *id)
{
    for (cg_whip *w = *whip_list(m); w; w = w->next)
        if (strcmp(w->id, id) == 0)
            return w;
    return NULL;
}

void cg_whip_destroy(cg_whip *w)
{
    cg_whip **head = whip_list(w->m);
    for (cg_whip **pp = head; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
    cg_loop_timer_cancel(cg_media_loop(w->m), &w->timer);
    /* Flush what the depacketizer still holds so the recording ends on the
     * last complete frame. */
    if (w->video.present && w->video.h264) {
        cg_frame *out[2];
        size_t n = 0;
        cg_h264_depack_flush(w->video.h264, out, &n);
        for (size_t i = 0; i < n; i++) {
            deliver(w, &w->video, out[i], cg_now_us());
            cg_frame_unref(out[i]);
        }
    }
    cg_info(w->stream_name, "WHIP session %s ended: %llu video frames, %llu audio frames", w->id,
            (unsigned long long)w->video.frames, (unsigned long long)w->audio.frames);
    metrics_sync(w);
    cg_metric_sub(g_metrics.sessions, 1);
    cg_hub_close(cg_media_hub(w->m), w->stream);
    cg_peer_free(w->peer);
    cg_dump_free(w->dump);
    track_free(&w->video);
    track_free(&w->audio);
    free(w);
}

void cg_whip_close_all(cg_media *m)
{
    while (*whip_list(m))
        cg_whip_destroy(*whip_list(m));
}

const char *cg_whip_stream(const cg_whip *w)
{
    return w->stream_name;
}
const char *cg_whip_etag(const cg_whip *w)
{
    return w->etag;
}
const char *cg_whip_remote_ufrag(const cg_whip *w)
{
    return w->remote_ufrag;
}
uint64_t cg_whip_video_frames(const cg_whip *w)
{
    return w->video.frames;
}

int cg_whip_wall_us(const cg_whip *w, int kind, uint32_t rtp_ts, uint64_t *wall_us)
{
    const track *t = kind == CG_MEDIA_VIDEO ? &w->video : &w->audio;
    if (!t->present || !t->recv)
        return CG_ENOTFOUND;
    return cg_rtp_recv_wall_us(t->recv, rtp_ts, wall_us);
}

uint32_t cg_whip_h264_profile(const cg_whip *w)
{
    if (!w->video.present || !w->video.h264)
        return 0;
    cg_h264_depack_stats hs;
    cg_h264_depack_get_stats(w->video.h264, &hs);
    if (!hs.have_sps)
        return 0;
    return (uint32_t)hs.sps.profile_idc << 16 | (uint32_t)hs.sps.constraint_flags << 8 |
           hs.sps.level_idc;
}

int cg_whip_ice_restart(cg_whip *w, const char *remote_ufrag, const char *remote_pwd,
                        cg_whip_created *out)
{
    int rc = cg_ice_gen_credentials(out->ufrag, out->pwd);
    if (rc)
        return rc;
    rc = cg_peer_ice_restart(w->peer, out->ufrag, out->pwd, remote_ufrag, remote_pwd);
    if (rc)
        return rc;
    snprintf(w->remote_ufrag, sizeof(w->remote_ufrag), "%s", remote_ufrag ? remote_ufrag : "");
    make_etag(w);
    snprintf(w->ice_ufrag, sizeof(w->ice_ufrag), "%s", out->ufrag);
    memcpy(out->id, w->id, sizeof(w->id));
    memcpy(out->etag, w->etag, sizeof(w->etag));
    return 0;
}

/* --- API description ----------------------------------------------------------- */

static json_t *track_json(const track *t, uint64_t now)
{
    json_t *o = json_object();
    cg_rtp_recv_stats rs;
    cg_rtp_recv_get_stats(t->recv, &rs);
    json_object_set_new(o, "codec", json_string(t->codec == CG_CODEC_H264 ? "H264" : "opus"));
    json_object_set_new(o, "payload_type", json_integer(t->pt));
    json_object_set_new(o, "ssrc", json_integer(t->ssrc));
    json_object_set_new(o, "frames", json_integer((json_int_t)t->frames));
    json_object_set_new(o, "packets_received", json_integer((json_int_t)rs.packets));
    json_object_set_new(o, "packets_lost", json_integer((json_int_t)rs.lost));
    json_object_set_new(o, "packets_recovered", json_integer((json_int_t)rs.recovered));
    json_object_set_new(o, "packets_duplicate", json_integer((json_int_t)rs.duplicates));
    json_object_set_new(o, "nacks_sent", json_integer((json_int_t)rs.nacks_sent));
    json_object_set_new(o, "jitter_ms", json_real(t->clock ? rs.jitter * 1000.0 / t->clock : 0));
    double secs = t->first_frame_us && t->last_frame_us > t->first_frame_us
                      ? (t->last_frame_us - t->first_frame_us) / 1e6
                      : 0;
    json_object_set_new(o, "bitrate_kbps", json_real(secs > 0 ? t->bytes * 8.0 / secs / 1000 : 0));
    if (t->kind == CG_MEDIA_VIDEO) {
        json_object_set_new(o, "frame_rate",
                            json_real(secs > 0 && t->frames > 1 ? (t->frames - 1) / secs : 0));
        json_object_set_new(o, "keyframes", json_integer((json_int_t)t->keyframes));
        json_object_set_new(o, "keyframe_interval_s", json_real(t->key_interval_us / 1e6));
        cg_h264_depack_stats hs;
        cg_h264_depack_get_stats(t->h264, &hs);
        json_object_set_new(o, "frames_dropped", json_integer((json_int_t)hs.dropped_frames));
        json_object_set_new(o, "bframes", json_integer((json_int_t)hs.bframes));
        if (hs.have_sps) {
            json_object_set_new(o, "width", json_integer(hs.sps.width));
            json_object_set_new(o, "height", json_integer(hs.sps.height));
            char prof[16];
            snprintf(prof, sizeof(prof), "%02x%02x%02x", hs.sps.profile_idc,
                     hs.sps.constraint_flags, hs.sps.level_idc);
            json_object_set_new(o, "profile_level_id", json_string(prof));
        }
    }
    (void)now;
    return o;
}

void cg_whip_describe(const cg_whip *w, json_t *obj)
{
    uint64_t now = cg_now_us();
    json_object_set_new(obj, "state",
                        json_string(cg_peer_connected(w->peer) ? "live" : "connecting"));
    json_object_set_new(obj, "session", json_string(w->id));
    /* Not a secret (STUN carries it in clear); lets an operator match
     * checks in a packet capture to this session. */
    json_object_set_new(obj, "ice_ufrag", json_string(w->ice_ufrag));
    struct sockaddr_storage a;
    if (cg_peer_remote_addr(w->peer, &a) == 0) {
        char s[64];
        cg_addr_format(&a, s, sizeof(s));
        json_object_set_new(obj, "publisher_address", json_string(s));
    }
    if (w->user_agent[0])
        json_object_set_new(obj, "user_agent", json_string(w->user_agent));
    json_object_set_new(obj, "started_at_ms",
                        json_integer((json_int_t)(w->created_wall_us / 1000)));
    json_object_set_new(obj, "uptime_s", json_real((now - w->created_us) / 1e6));
    cg_peer_stats ps;
    cg_peer_get_stats(w->peer, &ps);
    json_object_set_new(obj, "srtp_profile",
                        json_string(ps.srtp_profile == 7   ? "AEAD_AES_128_GCM"
                                    : ps.srtp_profile == 1 ? "AES_CM_128_HMAC_SHA1_80"
                                                           : "none"));
    /* Startup latency as the publisher sees it: from the WHIP POST (the
     * session is created while the request is answered) to ICE+DTLS
     * connected, and to the first keyframe a viewer could start on. */
    if (ps.connected_at_us >= w->created_us)
        json_object_set_new(obj, "connect_ms",
                            json_real((ps.connected_at_us - w->created_us) / 1e3));
    if (w->first_key_us)
        json_object_set_new(obj, "first_keyframe_ms",
                            json_real((w->first_key_us - w->created_us) / 1e3));
    json_object_set_new(obj, "srtp_auth_failures", json_integer((json_int_t)ps.srtp_auth_fail));
    json_object_set_new(obj, "stun_bad_integrity", json_integer((json_int_t)ps.stun_bad_auth));
    json_object_set_new(obj, "keyframe_requests", json_integer((json_int_t)w->keyframe_requests));
    json_object_set_new(obj, "sender_reports", json_integer((json_int_t)w->sr_count));
    if (w->video.present)
        json_object_set_new(obj, "video", track_json(&w->video, now));
    if (w->audio.present)
        json_object_set_new(obj, "audio", track_json(&w->audio, now));
    json_t *warn = json_array();
    if (w->video.present) {
        cg_h264_depack_stats hs;
        cg_h264_depack_get_stats(w->video.h264, &hs);
        if (hs.bframes)
            json_array_append_new(
                warn, json_string(
                          "B-frames seen: WebRTC players show them out of order. Turn B-frames off "
                          "(OBS: Profile baseline, or x264 option bframes=0)."));
        if (w->video.key_interval_us > 4000000u) {
            char s[200];
            snprintf(s, sizeof(s),
                     "Keyframe interval is %.1f s: viewers wait that long to start and clips "
                     "snap to keyframes. Set it to 1-2 s (OBS: Keyframe Interval 1 s).",
                     w->video.key_interval_us / 1e6);
            json_array_append_new(warn, json_string(s));
        }
    }
    if (w->connected_us && now - w->connected_us > 5000000u && w->sr_count == 0)
        json_array_append_new(
            warn,
            json_string(
                "No RTCP sender reports received: audio/video sync falls back to arrival time."));
    json_object_set_new(obj, "warnings", warn);
}
