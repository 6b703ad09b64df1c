/* Paced replay of a stream's current GOP to one joining WHEP viewer, so its
 * first picture comes from the cache instead of the publisher's next
 * keyframe.
 *
 * Sans-I/O: the viewer calls cg_replay_tick on a timer; the replay asks for
 * GOP snapshots (egress/gop.h) and hands packets to a send callback, which
 * rewrites them (cg_rewriter_write_replay compresses their timestamps) and
 * sends them. A snapshot begins with the keyframe, so the keyframe goes
 * first. When a snapshot is used up, a fresh one is taken: packets that
 * arrived meanwhile are replayed too, starting after the last one sent (or
 * from the start of a newer GOP); when a fresh snapshot holds nothing new,
 * the replay has caught up and the viewer switches to live packets.
 *
 * Bounds: per tick at most pkts_per_tick packets and bytes_per_tick bytes
 * (at least one packet), so a long GOP at a high bitrate does not overflow
 * socket buffers; one snapshot held at a time (itself bounded by the GOP
 * cache); at most max_rounds snapshots, after which the replay gives up
 * (policy: the viewer goes live and waits for the next keyframe). */
#ifndef CG_EGRESS_REPLAY_H
#define CG_EGRESS_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "egress/gop.h"
#include "egress/pkt.h"

typedef struct cg_replay_cfg {
    size_t pkts_per_tick;  /* > 0 */
    size_t bytes_per_tick; /* > 0 */
    size_t max_rounds;     /* snapshots before giving up, > 0 */
} cg_replay_cfg;

/* Fills snap with the stream's current GOP (cg_gop_snapshot). */
typedef int (*cg_replay_snap_fn)(void *arg, cg_gop_snap *snap);
/* Sends p (borrowed). Returns 0 when sent, CG_EEXIST when the viewer had it
 * already (costs no budget), anything else when it was dropped (counted,
 * costs budget). */
typedef int (*cg_replay_send_fn)(void *arg, const cg_pkt *p);

typedef struct cg_replay {
    cg_replay_cfg cfg;
    cg_gop_snap snap;
    size_t pos;
    int have_last;
    uint32_t last_ssrc;
    uint16_t last_seq;
    int gave_up;      /* max_rounds reached */
    uint64_t sent;    /* packets sent */
    uint64_t dropped; /* send failed */
    uint64_t skipped; /* already sent */
    uint64_t bytes;   /* RTP bytes of the packets sent */
    uint64_t rounds;  /* snapshots taken */
    uint64_t ticks;   /* ticks that sent something */
} cg_replay;

/* cfg copied. */
void cg_replay_init(cg_replay *r, const cg_replay_cfg *cfg);

/* Sends the next packets within one tick's budget. Returns 1 when there is
 * more to send (call again next tick), 0 when the replay is over (caught up,
 * nothing cached, or given up: see gave_up), or a negative CG_E* code from
 * snap (the replay is over too). */
int cg_replay_tick(cg_replay *r, cg_replay_snap_fn snap, cg_replay_send_fn send, void *arg);

/* Releases the snapshot held. Safe to call twice. */
void cg_replay_release(cg_replay *r);

#endif
