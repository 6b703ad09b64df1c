/* The current group of pictures of a stream's video track, kept so that a
 * new WHEP viewer gets a decodable picture at once instead of waiting for
 * the publisher's next keyframe.
 *
 * Packets are pushed in sequence order (after the receive reorder buffer).
 * A packet flagged CG_PKT_KEY_START (SPS or IDR start, see egress/pkt.h)
 * with a timestamp other than the current keyframe's starts a new GOP and
 * releases the old one; SPS, PPS and the IDR's slices sharing a timestamp
 * (OBS sends them as separate packets, multi-slice IDRs have several FU-A
 * starts) stay in one keyframe. Before the first keyframe nothing is kept.
 *
 * Bounded by packet count and bytes. Policy when full: release the GOP and
 * stop caching until the next keyframe (a GOP with a hole is of no use to a
 * joining viewer); counted in stats. */
#ifndef CG_EGRESS_GOP_H
#define CG_EGRESS_GOP_H

#include <stddef.h>
#include <stdint.h>

#include "egress/pkt.h"

typedef struct cg_gop cg_gop;

typedef struct cg_gop_stats {
    size_t packets;     /* held now */
    size_t bytes;       /* RTP bytes held now */
    uint64_t keyframes; /* GOPs started */
    uint64_t overflows; /* GOPs abandoned because a bound was reached */
    int overflowed;     /* 1 while waiting for a keyframe after an overflow */
} cg_gop_stats;

/* Snapshot for a joining viewer: refs in sequence order. */
typedef struct cg_gop_snap {
    cg_pkt **pkts; /* n references, owned by the snapshot */
    size_t n;
} cg_gop_snap;

/* max_packets, max_bytes: bounds (> 0). Gives *out (cg_gop_free).
 * Returns 0, CG_EINVAL, CG_ENOMEM. */
int cg_gop_new(cg_gop **out, size_t max_packets, size_t max_bytes);
/* NULL is fine. */
void cg_gop_free(cg_gop *g);

/* Offers a video packet; the GOP takes its own reference when it keeps it
 * (the caller keeps its own). Returns 0 (kept), CG_EINVAL, CG_EAGAIN (not
 * kept: no keyframe yet, or waiting for one after an overflow), CG_ELIMIT
 * (this packet passed a bound: the GOP was released). */
int cg_gop_push(cg_gop *g, cg_pkt *p);

/* The kept packet with this SSRC and seq (NACKs for replayed packets,
 * which may be older than the stream's history keeps). Gives a reference.
 * Returns 0, CG_EINVAL, CG_ENOTFOUND. */
int cg_gop_get(const cg_gop *g, uint32_t ssrc, uint16_t seq, cg_pkt **out);

/* Drops what is kept, e.g. when the publisher goes away. */
void cg_gop_reset(cg_gop *g);

/* Fills snap with references to the kept packets (n = 0 when there is no
 * complete GOP to give). Release with cg_gop_snap_release. Returns 0,
 * CG_EINVAL, CG_ENOMEM. */
int cg_gop_snapshot(const cg_gop *g, cg_gop_snap *snap);
/* Releases the references and the array; snap may be zeroed or released. */
void cg_gop_snap_release(cg_gop_snap *snap);

void cg_gop_stats_get(const cg_gop *g, cg_gop_stats *st);

#endif
