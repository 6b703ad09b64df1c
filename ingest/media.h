/* The media thread: one event loop that owns the shared UDP transport, the
 * stream hub and every WebRTC session (WHIP publishers now, WHEP viewers
 * later). Other threads (HTTP handlers) never touch that state directly:
 * they call cg_media_call(), which runs a function on the media thread and
 * waits for it to finish. Functions run that way must not block. */
#ifndef CG_INGEST_MEDIA_H
#define CG_INGEST_MEDIA_H

#include <stddef.h>
#include <stdint.h>

#include "core/hub.h"
#include "core/loop.h"
#include "rtc/cert.h"
#include "rtc/transport.h"

typedef struct cg_media cg_media;

typedef struct cg_media_cfg {
    const char *bind;              /* UDP bind address */
    uint16_t port;                 /* UDP port (0: ephemeral, for tests) */
    const char *const *public_ips; /* host candidates put in answers */
    size_t n_public_ips;
    size_t max_sessions;
    uint64_t consent_timeout_us;
    const char *dump_dir;          /* diagnostics dump directory, NULL = off */
    size_t max_viewers;            /* WHEP viewers in all (0: no limit) */
    size_t max_viewers_per_stream; /* WHEP viewers of one stream (0: no limit) */
    int gop_cache;                 /* WHEP: replay the current GOP to joining viewers */
    /* Told on the media thread when a stream's WHEP viewer count changes
     * (stream borrowed for the call; viewers: the count now). Must not
     * block. NULL: nobody listens. */
    void (*on_viewers)(void *arg, const char *stream, size_t viewers);
    void *viewers_arg;
} cg_media_cfg;

/* Copies cfg (and its strings). Starts the media thread.
 * Returns 0, CG_EIO (UDP bind failed), CG_ENOMEM, CG_ECRYPTO. */
int cg_media_new(cg_media **out, const cg_media_cfg *cfg);
/* Ends every session cleanly, stops and joins the thread. Accepts NULL. */
void cg_media_free(cg_media *m);
/* Any thread but the media thread: ends every session cleanly (their
 * streams close) and waits, leaving the loop running so that what consumes
 * those streams (the recorder) can still finish on it. Shutdown calls it
 * before cg_media_free. Accepts NULL. */
void cg_media_end_sessions(cg_media *m);

typedef void (*cg_media_fn)(cg_media *m, void *arg);
/* Runs fn(m, arg) on the media thread and waits for it to return.
 * 0, CG_EFULL (command queue full), CG_ESTATE (stopping). */
int cg_media_call(cg_media *m, cg_media_fn fn, void *arg);

/* Media-thread accessors. */
cg_loop *cg_media_loop(cg_media *m);
cg_transport *cg_media_transport(cg_media *m);
cg_hub *cg_media_hub(cg_media *m);
const cg_media_cfg *cg_media_config(const cg_media *m);
/* Head of the WHIP session list (owned by ingest/whip.c). */
struct cg_whip **cg_media_whips(cg_media *m);
/* Head of the WHEP viewer list (owned by egress/viewer.c). */
struct cg_viewer **cg_media_viewers(cg_media *m);
/* Head of the per-stream WHEP feed list (owned by egress/feed.c). */
struct cg_feed **cg_media_feeds(cg_media *m);
/* Media thread: egress calls it where a viewer of stream is added and
 * where one is removed, with the count after the change; it tells
 * cfg.on_viewers. */
void cg_media_viewers_changed(cg_media *m, const char *stream, size_t viewers);
/* Any thread: the certificate's SHA-256 fingerprint, the UDP port. */
const char *cg_media_fingerprint(const cg_media *m);
uint16_t cg_media_port(const cg_media *m);

#endif
