/* Receive side of one media SSRC: reorder buffer, loss detection feeding
 * NACKs, RTX-recovered packets, reception statistics for RTCP receiver
 * reports, and the sender-report mapping from RTP time to wall clock.
 *
 * Sans-I/O and single-threaded: the media loop pushes packets (after SRTP
 * unprotect and RTX unwrap) with the current monotonic time, drains
 * cg_rtp_recv_pop until CG_EAGAIN, sends what cg_rtp_recv_nacks returns,
 * and arms a timer at cg_rtp_recv_deadline.
 *
 * Sequence numbers are extended to 64 bits (RFC 3550 A.1 style). The
 * first packet starts the sequence. A jump of more than 3000 either way is
 * taken as a sender restart once the packet after it confirms it (a single
 * stray packet is not enough); the new sequence is then spliced after the
 * old one, so everything still held is released first and the first new
 * packet comes out with gap_before = 1.
 *
 * Bound: the sequence span held is max_packets. A packet that would widen it
 * further makes the oldest held packets releasable at once, their missing
 * predecessors counted as lost. Storage is a ring of 2 * max_packets slots:
 * a newer packet overwrites an unreleased older one only when they are that
 * far apart (a forward jump of more than max_packets, or a caller that stops
 * popping), and the older seq is then counted as lost. Every seq is either
 * released once or counted lost once. */
#ifndef CG_RTC_RTP_RECV_H
#define CG_RTC_RTP_RECV_H

#include <stddef.h>
#include <stdint.h>

#include "rtc/rtcp.h"

typedef struct cg_rtp_recv cg_rtp_recv;

typedef struct cg_rtp_recv_cfg {
    uint32_t clock_rate; /* 90000 video, 48000 Opus */
    size_t max_packets;  /* reorder span bound, 1..32768 (e.g. 512) */
    /* How long a gap is held before giving up (e.g. 150 ms video, 60 ms audio). */
    uint64_t max_delay_us;
    int nack_enabled;          /* only when the peer offered nack */
    unsigned nack_max_retries; /* per missing seq, e.g. 3 (at most 255) */
} cg_rtp_recv_cfg;

typedef struct cg_rtp_recv_stats {
    uint64_t packets;         /* accepted into the buffer (not duplicates, not late) */
    uint64_t bytes;           /* whole RTP packets, headers included */
    uint64_t duplicates;      /* same seq already held or already released */
    uint64_t late;            /* arrived after its seq was given up */
    uint64_t lost;            /* seqs given up without being released */
    uint64_t recovered;       /* filled a gap after a NACK for it, or via RTX */
    uint64_t nacks_sent;      /* seqs handed out by cg_rtp_recv_nacks, retries included */
    uint64_t reordered;       /* filled a gap without NACK or RTX */
    uint64_t resyncs;         /* sequence restarts (jumps > 3000, confirmed) */
    uint32_t jitter;          /* RFC 3550 A.8, in clock units */
    uint32_t ext_highest_seq; /* cycles << 16 | highest seq, as in the RR */
} cg_rtp_recv_stats;

/* Copies cfg. Returns 0, CG_EINVAL (clock_rate 0, max_packets out of range,
 * nack_max_retries > 255), CG_ENOMEM. *out is written only on success. */
int cg_rtp_recv_new(cg_rtp_recv **out, const cg_rtp_recv_cfg *cfg);
/* Accepts NULL. */
void cg_rtp_recv_free(cg_rtp_recv *r);

/* RTT used to space NACK retries (0 = unknown: 20 ms spacing). */
void cg_rtp_recv_set_rtt(cg_rtp_recv *r, uint64_t rtt_us);

/* Copies the packet in (pkt is borrowed). is_rtx_recovered: 1 when it came
 * from RTX unwrapping. Returns 0 (held; also for an unconfirmed restart
 * candidate), CG_EEXIST (duplicate: dropped, counted), CG_EPROTO
 * (unparsable), CG_ERANGE (too old: already given up, counted as late),
 * CG_ENOMEM. */
int cg_rtp_recv_push(cg_rtp_recv *r, const uint8_t *pkt, size_t len, int is_rtx_recovered,
                     uint64_t now_us);

/* In-order release into out (borrowed). Gives the next packet when it is in
 * sequence, or when the gap before it has waited max_delay_us or was pushed
 * out by the span bound (then *gap_before = 1; also set on the first packet
 * after a restart). Returns 0, CG_EAGAIN (nothing releasable yet),
 * CG_ENOSPC (cap smaller than the packet; it stays queued; 1500 is enough
 * for what WebRTC senders produce). */
int cg_rtp_recv_pop(cg_rtp_recv *r, uint64_t now_us, uint8_t *out, size_t cap, size_t *len,
                    int *gap_before);

/* Writes the sequence numbers to NACK now into seqs (borrowed), ascending in
 * sequence order, and returns how many. Each missing seq is NACKed at most
 * nack_max_retries times, spaced by max(rtt, 20 ms), and never once its gap
 * has waited max_delay_us. Returns 0 when nack_enabled is off. */
size_t cg_rtp_recv_nacks(cg_rtp_recv *r, uint64_t now_us, uint16_t *seqs, size_t cap);

/* Earliest monotonic time at which pop or nacks may produce something new
 * (a time <= now means "now"), UINT64_MAX if none. */
uint64_t cg_rtp_recv_deadline(const cg_rtp_recv *r);

/* Sender report from the publisher: maps RTP time to wall clock (for A/V
 * sync) and records LSR and its arrival time for the RR's DLSR. */
void cg_rtp_recv_on_sr(cg_rtp_recv *r, uint64_t ntp, uint32_t rtp_ts, uint64_t now_us);

/* Wall-clock microseconds (Unix epoch) of an RTP timestamp via the latest SR;
 * rtp_ts may lie up to 2^31 ticks either side of the SR's (timestamps wrap).
 * Returns 0, CG_ENOTFOUND before any SR, CG_ERANGE if it would fall before
 * 1970. */
int cg_rtp_recv_wall_us(const cg_rtp_recv *r, uint32_t rtp_ts, uint64_t *wall_us);

/* Fills rb (borrowed) for our RR: fraction lost since the previous call,
 * cumulative lost (expected - received, RFC 3550 A.3), extended highest seq,
 * jitter, LSR and DLSR (1/65536 s since that SR arrived). */
void cg_rtp_recv_report(cg_rtp_recv *r, uint64_t now_us, uint32_t ssrc, cg_rtcp_report_block *rb);

void cg_rtp_recv_get_stats(const cg_rtp_recv *r, cg_rtp_recv_stats *st);

#endif
