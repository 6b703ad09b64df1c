/* Design: see egress/viewer.h. The session list lives here and is touched
 * only on the media thread (there is one media thread per process). Each
 * publisher packet reaching a viewer is copied once into a cg_pkt (its
 * classification and the rewriter's input) and once into the viewer's send
 * buffer, which keeps room for the SRTP tag so it is protected in place. */
#include "egress/viewer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/frame.h"
#include "core/hub.h"
#include "core/log.h"
#include "core/random.h"
#include "egress/history.h"
#include "egress/pkt.h"
#include "egress/rewriter.h"
#include "ingest/whip.h"
#include "rtc/ice.h"
#include "rtc/rtcp.h"
#include "rtc/transport.h"

#define OUT_MAX 1600
#define SRTP_TRAILER 16
/* While a connected viewer waits for its first keyframe, the request is
 * repeated at this pace: the publisher side takes at most one a second, so
 * a join right after another request would otherwise wait out the GOP. */
#define KEYREQ_RETRY_US 500000u
/* Video packets kept per viewer to answer its NACKs: a second at several
 * Mbit/s; older ones would arrive too late to be played. Drop oldest. */
#define HISTORY_PACKETS 1024
#define HISTORY_AGE_US 1000000u

struct cg_viewer {
    cg_media *m;
    cg_viewer *next;
    char id[CG_VIEWER_ID_LEN + 1];
    char stream_name[CG_STREAM_NAME_MAX + 1];
    char etag[40];
    cg_stream *stream;
    cg_peer *peer;
    cg_rewriter *video, *audio;
    cg_history *history; /* video packets forwarded, by publisher seq */
    uint32_t video_ssrc; /* ours */
    cg_timer timer;
    int connected;
    int video_started; /* a keyframe has begun: video flows */
    uint64_t sent_video, sent_audio, dropped_waiting, send_errors, keyframe_requests;
    uint64_t nacked, resent;
    uint8_t out[OUT_MAX + SRTP_TRAILER];
};

/* The media thread owns the list; see cg_media_viewers(). */
static cg_viewer **viewer_list(cg_media *m) { return (cg_viewer **)cg_media_viewers(m); }

static void request_keyframe(cg_viewer *v)
{
    v->keyframe_requests++;
    cg_stream_request_keyframe(v->stream);
}

static void retry_timer_cb(cg_loop *loop, void *arg)
{
    cg_viewer *v = arg;
    if (v->video_started || !v->stream)
        return;
    request_keyframe(v);
    cg_loop_timer_set(loop, &v->timer, cg_now_us() + KEYREQ_RETRY_US, retry_timer_cb, v);
}

/* --- RTP from the publisher ---------------------------------------------------- */

static void on_stream_rtp(void *arg, int kind, const uint8_t *rtp, size_t len, uint64_t now)
{
    cg_viewer *v = arg;
    cg_rewriter *rw = kind == CG_MEDIA_VIDEO ? v->video : v->audio;
    if (!rw || !v->connected)
        return;
    cg_pkt *p = NULL;
    if (cg_pkt_new(&p, rtp, len, 0, now) != 0)
        return;
    if (kind == CG_MEDIA_VIDEO && !v->video_started) {
        /* A decoder can only start at a keyframe: SPS or IDR begins one. */
        if (!(cg_pkt_h264_flags(cg_pkt_payload(p), p->payload_len) & CG_PKT_KEY_START)) {
            v->dropped_waiting++;
            cg_pkt_unref(p);
            return;
        }
        v->video_started = 1;
        cg_info(v->stream_name, "viewer %s: video starts at a keyframe (%llu packets skipped)",
                v->id, (unsigned long long)v->dropped_waiting);
    }
    size_t n;
    int rc = cg_rewriter_write(rw, p, v->out, sizeof(v->out) - SRTP_TRAILER, &n);
    if (rc == 0 && kind == CG_MEDIA_VIDEO)
        cg_history_put(v->history, p);
    cg_pkt_unref(p);
    if (rc)
        return;
    if (cg_peer_send_rtp(v->peer, v->out, n, sizeof(v->out)) != 0) {
        v->send_errors++;
        return;
    }
    if (kind == CG_MEDIA_VIDEO)
        v->sent_video++;
    else
        v->sent_audio++;
}

static void on_stream_end(void *arg)
{
    cg_viewer *v = arg;
    cg_info(v->stream_name, "viewer %s: publisher gone", v->id);
    v->stream = NULL; /* the hub detached us */
    cg_viewer_destroy(v);
}

/* --- peer callbacks ------------------------------------------------------------ */

static void on_rtp(void *owner, uint8_t *pkt, size_t len, uint64_t now)
{
    (void)owner, (void)pkt, (void)len, (void)now; /* a recvonly viewer sends none */
}

/* Resends what the viewer lost, with the seq and ts it first had. */
static void answer_nack(cg_viewer *v, const cg_rtcp_pkt *p, uint64_t now)
{
    if (!v->video || p->media_ssrc != v->video_ssrc)
        return;
    for (size_t i = 0; i < p->n_nack; i++) {
        v->nacked++;
        uint32_t orig_ssrc;
        uint16_t orig_seq;
        cg_pkt *src = NULL;
        if (cg_rewriter_lookup(v->video, p->nack[i], &orig_ssrc, &orig_seq) != 0 ||
            cg_history_get(v->history, orig_seq, now, &src) != 0)
            continue;
        size_t n;
        int rc = src->ssrc == orig_ssrc ? cg_rewriter_resend(v->video, p->nack[i], src, v->out,
                                                             sizeof(v->out) - SRTP_TRAILER, &n)
                                        : CG_ENOTFOUND;
        cg_pkt_unref(src);
        if (rc == 0 && cg_peer_send_rtp(v->peer, v->out, n, sizeof(v->out)) == 0)
            v->resent++;
    }
}

static void on_rtcp(void *owner, uint8_t *pkt, size_t len, uint64_t now)
{
    cg_viewer *v = owner;
    cg_rtcp_iter it;
    cg_rtcp_pkt p;
    cg_rtcp_iter_init(&it, pkt, len);
    while (cg_rtcp_next(&it, &p) == 0) {
        if (p.type == CG_RTCP_PSFB &&
            (p.count_or_fmt == CG_RTCP_FMT_PLI || p.count_or_fmt == CG_RTCP_FMT_FIR))
            request_keyframe(v);
        else if (p.type == CG_RTCP_RTPFB && p.count_or_fmt == CG_RTCP_FMT_NACK)
            answer_nack(v, &p, now);
    }
}

static void on_connected(void *owner, uint64_t now)
{
    cg_viewer *v = owner;
    (void)now;
    v->connected = 1;
    cg_info(v->stream_name, "viewer %s connected", v->id);
    if (v->video)
        retry_timer_cb(cg_media_loop(v->m), v);
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

static int rewriter_for(cg_rewriter **out, int pt, uint32_t ssrc, uint32_t ts_gap)
{
    cg_rewriter_cfg rc = {
        .ssrc = ssrc,
        .pt = (uint8_t)pt,
        .seq_start = (uint16_t)cg_random_u32(),
        .ts_start = cg_random_u32(),
        .ts_gap = ts_gap,
        .map_size = 1024,
        .trailer = SRTP_TRAILER,
    };
    return cg_rewriter_new(out, &rc);
}

static uint32_t nonzero_ssrc(void)
{
    uint32_t s;
    do
        s = cg_random_u32();
    while (s == 0);
    return s;
}

int cg_viewer_create(cg_media *m, const cg_viewer_params *p, cg_viewer_created *out)
{
    if (!p->stream || !cg_stream_name_valid(p->stream) || p->video_pt > 127 || p->audio_pt > 127 ||
        (p->video_pt < 0 && p->audio_pt < 0))
        return CG_EINVAL;
    cg_stream *s = cg_hub_find(cg_media_hub(m), p->stream);
    if (!s)
        return CG_ENOTFOUND;
    cg_viewer *v = calloc(1, sizeof(*v));
    if (!v)
        return CG_ENOMEM;
    v->m = m;
    snprintf(v->stream_name, sizeof(v->stream_name), "%s", p->stream);
    uint8_t idb[CG_VIEWER_ID_LEN / 2];
    int rc = cg_random_bytes(idb, sizeof(idb));
    if (rc)
        goto fail;
    for (size_t i = 0; i < sizeof(idb); i++)
        snprintf(v->id + 2 * i, 3, "%02x", idb[i]);
    char r[17];
    cg_random_token(r, 16);
    snprintf(v->etag, sizeof(v->etag), "\"%s\"", r);
    out->video_ssrc = out->audio_ssrc = 0;
    if (p->video_pt >= 0) {
        out->video_ssrc = nonzero_ssrc();
        v->video_ssrc = out->video_ssrc;
        if ((rc = rewriter_for(&v->video, p->video_pt, out->video_ssrc, 3000)) != 0 ||
            (rc = cg_history_new(&v->history, HISTORY_PACKETS, HISTORY_AGE_US)) != 0)
            goto fail;
    }
    if (p->audio_pt >= 0) {
        out->audio_ssrc = nonzero_ssrc();
        if ((rc = rewriter_for(&v->audio, p->audio_pt, out->audio_ssrc, 960)) != 0)
            goto fail;
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
    cg_rtp_sink sink = {.on_rtp = on_stream_rtp, .on_end = on_stream_end, .arg = v};
    if ((rc = cg_stream_add_rtp_sink(s, &sink)) != 0)
        goto fail;
    v->stream = s;
    v->next = *viewer_list(m);
    *viewer_list(m) = v;
    memcpy(out->id, v->id, sizeof(v->id));
    memcpy(out->etag, v->etag, sizeof(v->etag));
    cg_info(v->stream_name, "WHEP viewer %s created", v->id);
    return 0;
fail:
    cg_peer_free(v->peer);
    cg_rewriter_free(v->video);
    cg_rewriter_free(v->audio);
    cg_history_free(v->history);
    free(v);
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
    cg_loop_timer_cancel(cg_media_loop(v->m), &v->timer);
    if (v->stream)
        cg_stream_remove_rtp_sink(v->stream, v);
    cg_info(v->stream_name,
            "WHEP viewer %s ended: %llu video and %llu audio packets sent, %llu send errors, "
            "%llu packets NACKed, %llu resent",
            v->id, (unsigned long long)v->sent_video, (unsigned long long)v->sent_audio,
            (unsigned long long)v->send_errors, (unsigned long long)v->nacked,
            (unsigned long long)v->resent);
    cg_peer_free(v->peer);
    cg_rewriter_free(v->video);
    cg_rewriter_free(v->audio);
    cg_history_free(v->history);
    free(v);
}

const char *cg_viewer_stream(const cg_viewer *v)
{
    return v->stream_name;
}
const char *cg_viewer_etag(const cg_viewer *v)
{
    return v->etag;
}

size_t cg_viewer_count(cg_media *m, const char *stream)
{
    size_t n = 0;
    for (cg_viewer *v = *viewer_list(m); v; v = v->next)
        n += strcmp(v->stream_name, stream) == 0;
    return n;
}
