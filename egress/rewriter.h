/* Per-viewer, per-track RTP rewriting for WHEP playback.
 *
 * Each viewer sees its own SSRC, sequence numbers and timestamps. Within
 * one publisher source (SSRC), the output is the input shifted by fixed
 * offsets fixed at the first packet: out_seq = seq + seq_off, out_ts = ts +
 * ts_off (mod 2^16 / 2^32). So the GOP replayed to a joining viewer and the
 * live packets after it form one continuous sequence, RTP timestamp deltas
 * are the publisher's, and a loss upstream stays a gap the viewer can see.
 * A packet whose sequence number is not after the last one forwarded is
 * refused (CG_EEXIST): a joining viewer can replay a GOP snapshot, then
 * replay a fresh snapshot and then live packets, and everything already sent
 * is skipped. A new source SSRC, or a jump back of more than 16384, starts
 * a new epoch that continues the output seq by one and the output ts by
 * ts_gap.
 *
 * The payload is copied once, into the caller's output buffer, behind a
 * plain 12-byte header (the publisher's CSRCs, extensions and padding are
 * not forwarded: extension ids are negotiated per viewer), leaving room
 * for the SRTP trailer so the caller can cg_srtp_protect in place.
 *
 * A bounded map (map_size entries, indexed by output seq) remembers which
 * packet each output seq carried, to answer the viewer's NACKs from the
 * stream's history with the same seq, ts and payload. */
#ifndef CG_EGRESS_REWRITER_H
#define CG_EGRESS_REWRITER_H

#include <stddef.h>
#include <stdint.h>

#include "egress/pkt.h"

typedef struct cg_rewriter cg_rewriter;

typedef struct cg_rewriter_cfg {
    uint32_t ssrc;      /* the viewer's SSRC for this track (random) */
    uint8_t pt;         /* payload type negotiated with the viewer */
    uint16_t seq_start; /* output seq of the first packet (random) */
    uint32_t ts_start;  /* output ts of the first packet (random) */
    uint32_t ts_gap;    /* output ts step across a source change (e.g. 3000) */
    size_t map_size;    /* NACK map entries: power of two, 16..32768 */
    size_t trailer;     /* bytes kept free after the packet (SRTP tag) */
} cg_rewriter_cfg;

typedef struct cg_rewriter_stats {
    uint64_t forwarded; /* packets written */
    uint64_t skipped;   /* refused as already forwarded or older */
    uint64_t epochs;    /* sources followed (1 after the first packet) */
    uint64_t resent;    /* packets rewritten again for NACKs */
    uint16_t last_seq;  /* last output seq written */
    uint32_t last_ts;   /* last output ts written */
    uint32_t src_ssrc;  /* source of the last packet written */
    uint16_t src_seq;   /* its source seq */
} cg_rewriter_stats;

/* cfg borrowed. Gives *out (cg_rewriter_free). Returns 0, CG_EINVAL (NULL,
 * pt > 127, map_size not a power of two in range), CG_ENOMEM. */
int cg_rewriter_new(cg_rewriter **out, const cg_rewriter_cfg *cfg);
/* NULL is fine. */
void cg_rewriter_free(cg_rewriter *rw);

/* Rewrites p (borrowed) into out (borrowed, cap bytes): header and payload,
 * *len set to their length; cap must also hold cfg.trailer more bytes.
 * Returns 0, CG_EINVAL, CG_EEXIST (p is not after the last packet
 * forwarded: drop it), CG_ENOSPC (out too small; state unchanged). */
int cg_rewriter_write(cg_rewriter *rw, const cg_pkt *p, uint8_t *out, size_t cap, size_t *len);

/* As cg_rewriter_write, for a GOP replayed to a joining viewer faster than
 * real time: a packet with a new source timestamp comes out step ticks
 * after the previous packet's output timestamp when the publisher spaced
 * them further apart (packets of one frame keep one timestamp). The offset
 * this leaves is kept, so live packets written after the replay continue
 * after the last replayed frame with the publisher's own spacing, and the
 * player is not a whole GOP behind live. Returns as cg_rewriter_write;
 * CG_EINVAL also for step 0. */
int cg_rewriter_write_replay(cg_rewriter *rw, const cg_pkt *p, uint32_t step, uint8_t *out,
                             size_t cap, size_t *len);

/* The source packet behind output seq out_seq, for a NACK. Returns 0,
 * CG_EINVAL, CG_ENOTFOUND (never sent, a gap, or older than the map). */
int cg_rewriter_lookup(const cg_rewriter *rw, uint16_t out_seq, uint32_t *orig_ssrc,
                       uint16_t *orig_seq);

/* Rewrites p (the packet cg_rewriter_lookup named, from the history) again
 * with output seq out_seq and the timestamp it was first sent with, for a
 * plain retransmission (wrap the result with cg_rtp_rtx_wrap for RTX).
 * Returns 0, CG_EINVAL (also when p is not the packet out_seq carried),
 * CG_ENOTFOUND, CG_ENOSPC. */
int cg_rewriter_resend(cg_rewriter *rw, uint16_t out_seq, const cg_pkt *p, uint8_t *out, size_t cap,
                       size_t *len);

/* Maps a timestamp of the current source to the viewer's timeline, for
 * sender reports built from the publisher's RTP/NTP mapping. Returns 0,
 * CG_EINVAL, CG_ESTATE (nothing forwarded yet, or ssrc is not the current
 * source). */
int cg_rewriter_map_ts(const cg_rewriter *rw, uint32_t ssrc, uint32_t ts, uint32_t *out_ts);

void cg_rewriter_stats_get(const cg_rewriter *rw, cg_rewriter_stats *st);

#endif
