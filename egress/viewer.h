/* One WHEP viewer session (draft-ietf-wish-whep) on the media thread.
 *
 * A viewer owns a cg_peer (rtc/transport.h, same ICE-lite/DTLS/SRTP as a
 * WHIP publisher, DTLS server unless the viewer offered passive) and is an
 * RTP sink of one stream (core/hub.h). Every in-order publisher packet is
 * rewritten for the viewer (egress/rewriter.h: its SSRC and payload type,
 * seq and ts shifted by fixed offsets) and sent with SRTP once the peer is
 * connected. Video starts at a keyframe: packets are dropped until one
 * begins, and a keyframe is asked of the publisher when the viewer
 * connects. The viewer's PLI/FIR become upstream keyframe requests (the
 * publisher side rate-limits them). The viewer's NACKs are answered from a
 * per-viewer history of the video packets sent to it (egress/history.h),
 * with the seq and ts they first had; audio is not resent.
 *
 * Threads: everything runs on the media thread; HTTP handlers reach it
 * through cg_media_call. A session ends on DELETE (cg_viewer_destroy),
 * ICE consent expiry or DTLS failure, or when the stream closes. */
#ifndef CG_EGRESS_VIEWER_H
#define CG_EGRESS_VIEWER_H

#include <stddef.h>
#include <stdint.h>

#include "ingest/media.h"

typedef struct cg_viewer cg_viewer;

#define CG_VIEWER_ID_LEN 16

typedef struct cg_viewer_params {
    const char *stream;
    const char *remote_ufrag, *remote_pwd;
    const char *remote_fp_alg, *remote_fp;
    int dtls_role; /* ours: CG_DTLS_SERVER or CG_DTLS_CLIENT */
    int video_pt;  /* payload type negotiated with the viewer; -1: no video */
    int audio_pt;  /* -1: no audio */
} cg_viewer_params;

typedef struct cg_viewer_created {
    char id[CG_VIEWER_ID_LEN + 1];
    char ufrag[9];
    char pwd[25];
    char etag[40];
    uint32_t video_ssrc, audio_ssrc; /* ours, for the answer's a=ssrc */
} cg_viewer_created;

/* What a WHEP answer needs from the stream before negotiating. Media
 * thread. Returns 0 or CG_ENOTFOUND (nobody publishes the stream). */
int cg_viewer_stream_caps(cg_media *m, const char *stream, int *has_video, int *has_audio,
                          uint32_t *h264_plid);

/* Creates a viewer of a live stream (p and its strings borrowed). Media
 * thread. Returns 0, CG_ENOTFOUND (no publisher), CG_EINVAL, CG_ELIMIT
 * (too many viewers on the stream), CG_ENOMEM, CG_EEXIST. */
int cg_viewer_create(cg_media *m, const cg_viewer_params *p, cg_viewer_created *out);
/* Borrowed pointer or NULL. Media thread. */
cg_viewer *cg_viewer_find(cg_media *m, const char *id);
/* Ends the session and frees it. Media thread. */
void cg_viewer_destroy(cg_viewer *v);
const char *cg_viewer_stream(const cg_viewer *v);
const char *cg_viewer_etag(const cg_viewer *v);
/* Viewers of a stream now. Media thread. */
size_t cg_viewer_count(cg_media *m, const char *stream);

#endif
