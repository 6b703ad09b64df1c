/* One WHEP viewer session (draft-ietf-wish-whep) on the media thread.
 *
 * A viewer owns a cg_peer (rtc/transport.h, same ICE-lite/DTLS/SRTP as a
 * WHIP publisher, DTLS server unless the viewer offered passive) and is
 * attached to its stream's feed (egress/feed.h), which hands it each
 * publisher packet once as a shared cg_pkt. The viewer rewrites it
 * (egress/rewriter.h: its SSRC and payload type, seq and ts shifted),
 * copies it once into its send buffer and protects it with SRTP.
 *
 * Video start: when DTLS connects, the viewer gets the stream's current GOP
 * from the cache at once (egress/replay.h: keyframe first, paced, with
 * compressed timestamps), then live packets; one keyframe request goes
 * upstream (through the feed's limiter). With gop-cache off, or before the
 * cache holds a keyframe, video waits for the publisher's next keyframe,
 * asked for every 500 ms until it comes. Time to first frame is DTLS
 * connected → last packet of the first keyframe sent.
 *
 * RTCP: the viewer's PLI/FIR become upstream keyframe requests (the feed's
 * limiter); its NACKs are answered from the stream's history (as RTX when
 * negotiated, else plain), never passed upstream; its receiver reports
 * give loss, jitter and RTT. Sender reports go to it about every second,
 * built from the publisher's RTP-to-wall-clock mapping (egress/report.h).
 *
 * Slow and dead viewers: a packet whose send fails (socket buffer full) is
 * dropped and counted; the session ends on DELETE (cg_viewer_destroy), ICE
 * consent expiry or DTLS failure, or when the stream closes. */
#ifndef CG_EGRESS_VIEWER_H
#define CG_EGRESS_VIEWER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest/media.h"

typedef struct cg_viewer cg_viewer;

#define CG_VIEWER_ID_LEN 16

typedef struct cg_viewer_params {
    const char *stream;
    const char *remote_ufrag, *remote_pwd;
    const char *remote_fp_alg, *remote_fp;
    int dtls_role;    /* ours: CG_DTLS_SERVER or CG_DTLS_CLIENT */
    int video_pt;     /* payload type negotiated with the viewer; -1: no video */
    int video_rtx_pt; /* its RTX payload type; -1: resend plain */
    int audio_pt;     /* -1: no audio */
} cg_viewer_params;

typedef struct cg_viewer_created {
    char id[CG_VIEWER_ID_LEN + 1];
    char ufrag[9];
    char pwd[25];
    char etag[40];
    uint32_t video_ssrc, video_rtx_ssrc, audio_ssrc; /* ours, for the answer */
    /* On CG_ELIMIT: the option that was reached and its value. */
    const char *limit;
    size_t limit_value;
} cg_viewer_created;

/* What a WHEP answer needs from the stream before negotiating. Media
 * thread. Returns 0 or CG_ENOTFOUND (nobody publishes the stream). */
int cg_viewer_stream_caps(cg_media *m, const char *stream, int *has_video, int *has_audio,
                          uint32_t *h264_plid);

/* Creates a viewer of a live stream (p and its strings borrowed). Media
 * thread. Returns 0, CG_ENOTFOUND (no publisher), CG_EINVAL, CG_ELIMIT
 * (max-viewers or max-viewers-per-stream reached: out->limit names it),
 * CG_ENOMEM, CG_EEXIST. */
int cg_viewer_create(cg_media *m, const cg_viewer_params *p, cg_viewer_created *out);
/* Borrowed pointer or NULL. Media thread. */
cg_viewer *cg_viewer_find(cg_media *m, const char *id);
/* Ends the session and frees it. Media thread. */
void cg_viewer_destroy(cg_viewer *v);
const char *cg_viewer_stream(const cg_viewer *v);
const char *cg_viewer_etag(const cg_viewer *v);
/* The viewer's current ICE ufrag (from the offer or the last restart). */
const char *cg_viewer_remote_ufrag(const cg_viewer *v);
/* ICE restart: new local credentials into out (ufrag, pwd, etag), the
 * remote ones from the PATCH body. Media thread. Returns 0, CG_ENOMEM. */
int cg_viewer_ice_restart(cg_viewer *v, const char *remote_ufrag, const char *remote_pwd,
                          cg_viewer_created *out);
/* Viewers of a stream now. Media thread. */
size_t cg_viewer_count(cg_media *m, const char *stream);

/* Adds "viewers" (count) and "whep" (totals and one entry per viewer) to
 * a stream's JSON. Media thread. */
void cg_viewer_describe_stream(cg_media *m, const char *stream, json_t *obj);

#endif
