/* WHIP publishing sessions (RFC 9725) on the media thread: each session is
 * one publisher's WebRTC peer, its tracks (RTP receiver + depacketizer) and
 * the live stream it feeds in the hub.
 *
 * Threads: every function here runs on the media thread (the HTTP layer
 * reaches it through cg_media_call). SDP is parsed and negotiated by the
 * caller; a session receives the negotiated parameters. */
#ifndef CG_INGEST_WHIP_H
#define CG_INGEST_WHIP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/frame.h"
#include "ingest/media.h"

typedef struct cg_whip cg_whip;

#define CG_WHIP_ID_LEN 32 /* hex characters: 128 random bits */

typedef struct cg_whip_track_params {
    int present;
    int codec; /* CG_CODEC_H264 or CG_CODEC_OPUS */
    uint8_t pt;
    int rtx_pt; /* -1 if none */
    int nack, pli, fir;
    const char *sprop; /* H.264 sprop-parameter-sets, may be NULL */
} cg_whip_track_params;

typedef struct cg_whip_params {
    const char *stream;
    const char *remote_ufrag, *remote_pwd;
    const char *remote_fp_alg, *remote_fp;
    int dtls_role; /* ours: CG_DTLS_SERVER or CG_DTLS_CLIENT */
    cg_whip_track_params video, audio;
    const char *user_agent; /* for the API, may be NULL */
} cg_whip_params;

typedef struct cg_whip_created {
    char id[CG_WHIP_ID_LEN + 1];
    char ufrag[9];
    char pwd[25];
    char etag[40];
} cg_whip_created;

/* Creates a session and opens the stream in the hub.
 * CG_EEXIST: the stream already has a live publisher.
 * CG_ELIMIT: the configured session limit is reached.
 * CG_EINVAL: bad stream name. Others: CG_ENOMEM, CG_ECRYPTO. */
int cg_whip_create(cg_media *m, const cg_whip_params *p, cg_whip_created *out);
/* Looks up a session by id; NULL if unknown. */
cg_whip *cg_whip_find(cg_media *m, const char *id);
/* Ends the session (DELETE): closes the stream, frees everything. */
void cg_whip_destroy(cg_whip *w);
/* Ends every session (shutdown). */
void cg_whip_close_all(cg_media *m);
size_t cg_whip_count(cg_media *m);

const char *cg_whip_stream(const cg_whip *w);
const char *cg_whip_etag(const cg_whip *w);
/* The publisher's current ICE ufrag (from the offer or the last restart). */
const char *cg_whip_remote_ufrag(const cg_whip *w);
/* ICE restart: new local credentials (written to out), remote ones from
 * the PATCH body. Updates the ETag. */
int cg_whip_ice_restart(cg_whip *w, const char *remote_ufrag, const char *remote_pwd,
                        cg_whip_created *out);
/* Asks the publisher for a keyframe (PLI, and FIR when negotiated); at most
 * one request per second. */
void cg_whip_request_keyframe(cg_whip *w);

/* Adds the state of the stream's publisher to obj (the API's stream JSON). */
void cg_whip_describe(const cg_whip *w, json_t *obj);
/* Frames per stream: for tests and the API. */
uint64_t cg_whip_video_frames(const cg_whip *w);
/* Wall-clock microseconds of an RTP timestamp of the publisher's track
 * (kind: CG_MEDIA_VIDEO or CG_MEDIA_AUDIO) on the publisher's own clock, via
 * its latest sender report: the same clock for both tracks, so viewers'
 * sender reports built from it keep lip sync. Returns 0, CG_ENOTFOUND (no
 * such track or no SR yet), CG_ERANGE. */
int cg_whip_wall_us(const cg_whip *w, int kind, uint32_t rtp_ts, uint64_t *wall_us);

/* The publisher's H.264 profile-level-id from its SPS (0x42e01f...), or 0
 * before the first SPS. For WHEP answers. */
uint32_t cg_whip_h264_profile(const cg_whip *w);

#endif
