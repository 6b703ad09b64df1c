/* The WHEP side of one live stream: a single RTP sink on the stream hub
 * shared by every viewer of the stream.
 *
 * For each publisher packet the feed makes ONE refcounted cg_pkt (with its
 * H.264 flags) and keeps it in the stream's packet history (video, about
 * a second, per publisher SSRC: viewers' NACKs are answered from it and
 * never passed upstream) and in the GOP cache (egress/gop.h, unless
 * gop-cache is off), then hands it to each attached viewer, which rewrites
 * the header, copies it once into its send buffer and protects it. The
 * feed also owns the stream's upstream keyframe-request limiter
 * (egress/feedback.h): joins and viewers' PLI/FIR give at most one PLI per
 * second to the publisher.
 *
 * Lifetime: a feed exists from the moment the stream opens (so the GOP
 * cache is warm for the first viewer) until it closes; viewers attach and
 * detach meanwhile. When the stream closes, each attached viewer is told
 * (on_end) and detached. Totals over the feed's viewers (NACKs, resends,
 * bytes, time to first frame) are kept here for the stream's JSON.
 *
 * Threads: media thread only. */
#ifndef CG_EGRESS_FEED_H
#define CG_EGRESS_FEED_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "egress/gop.h"
#include "egress/pkt.h"
#include "egress/report.h"
#include "ingest/media.h"

typedef struct cg_feed cg_feed;

/* An attached viewer. p is borrowed for the call (cg_pkt_ref to keep it).
 * kind: CG_MEDIA_VIDEO or CG_MEDIA_AUDIO. */
typedef struct cg_feed_out {
    void (*on_pkt)(void *arg, int kind, cg_pkt *p, uint64_t now_us);
    void (*on_end)(void *arg); /* stream closed; detached after the call */
    void *arg;
} cg_feed_out;

/* Totals over every viewer the stream has had, added by the viewers. */
#define CG_FEED_TTFF_KEEP 64
typedef struct cg_feed_totals {
    uint64_t viewers;      /* attached since the stream opened */
    uint64_t nacks;        /* sequence numbers NACKed by viewers */
    uint64_t resent_plain; /* NACK answers sent as plain retransmissions */
    uint64_t resent_rtx;   /* ... sent as RTX */
    uint64_t nack_misses;  /* NACKed packets no longer in the history */
    uint64_t bytes_sent;   /* RTP bytes sent to viewers (before SRTP) */
    uint64_t packets_sent;
    uint64_t send_dropped; /* packets dropped because the send failed */
    uint64_t replayed;     /* packets sent to joining viewers from the GOP cache */
    uint64_t ttff_count;
    uint32_t ttff_ms[CG_FEED_TTFF_KEEP]; /* the last ones, a ring */
} cg_feed_totals;

/* Follows the media's hub: a feed per stream that opens. Media thread.
 * Returns 0, CG_ELIMIT (hub observers), CG_ENOMEM. */
int cg_feed_watch(cg_media *m);

/* Borrowed pointer or NULL. Media thread. */
cg_feed *cg_feed_find(cg_media *m, const char *stream);

/* Attaches a viewer (o copied). Returns 0, CG_ELIMIT (the configured
 * max-viewers-per-stream), CG_ENOMEM. */
int cg_feed_attach(cg_feed *f, const cg_feed_out *o);
/* Detaches the viewer whose arg this is; unknown args are ignored. */
void cg_feed_detach(cg_feed *f, void *arg);
size_t cg_feed_viewer_count(const cg_feed *f);

cg_stream *cg_feed_stream(const cg_feed *f);
/* 1 when gop-cache is on. */
int cg_feed_gop_enabled(const cg_feed *f);

/* The current GOP for a joining viewer (n = 0 when there is none or the
 * cache is off). Release with cg_gop_snap_release. Returns 0, CG_ENOMEM. */
int cg_feed_snapshot(cg_feed *f, cg_gop_snap *snap);

/* The video packet with this publisher SSRC and seq from the history (or,
 * for a replayed packet older than the history, from the GOP cache), for a
 * NACK. Gives a reference. Returns 0 or CG_ENOTFOUND. */
int cg_feed_history_get(cg_feed *f, uint32_t ssrc, uint16_t seq, uint64_t now_us, cg_pkt **out);

/* A viewer asks for a keyframe (join, PLI, FIR): goes upstream through the
 * stream's limiter (at most one PLI per second; a request inside the
 * second is sent when it ends unless a keyframe came meanwhile). */
void cg_feed_request_keyframe(cg_feed *f, uint64_t now_us);

/* Reference points for sender reports: the last packet of each track with
 * the publisher's wall-clock mapping. *ref is the stream's reference track
 * (video when present). Returns 0 or CG_ENOTFOUND (nothing forwarded on
 * this track yet). */
int cg_feed_report_refs(cg_feed *f, int kind, cg_report_ref *track, cg_report_ref *ref);

/* Totals to add to (the viewers of this feed add their counts). */
cg_feed_totals *cg_feed_totals_of(cg_feed *f);
/* Records one viewer's time to first frame. */
void cg_feed_add_ttff(cg_feed *f, uint32_t ms);

/* Adds the "whep" object (totals; per-viewer entries come from
 * the viewers) to a stream's JSON. */
json_t *cg_feed_totals_json(const cg_feed *f);

#endif
