/* RTCP towards WHEP viewers, the arithmetic part (sans-I/O): the RTP
 * timestamp a sender report gives for "now", built from the publisher's
 * RTP-to-wall-clock mapping so that browsers keep audio and video in sync,
 * and per-viewer reception figures from the viewer's receiver reports.
 *
 * Sender report timestamps: the NTP time in our SR is our wall clock when
 * it is sent (the viewer echoes it back as LSR, which gives the RTT). Each
 * track's RTP timestamp for that instant is taken from the publisher's own
 * mapping (its SRs), shifted into our time by one offset for the whole
 * stream, measured on a reference track (video when there is video): the
 * offset between the two clocks cancels out, and the A/V relation the
 * publisher stated is passed on unchanged. Before the publisher's first SR,
 * each track is extrapolated from its last packet's arrival. */
#ifndef CG_EGRESS_REPORT_H
#define CG_EGRESS_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "rtc/rtcp.h"

/* The last packet forwarded on a track, as a point of reference. */
typedef struct cg_report_ref {
    int valid;
    uint32_t ssrc, ts;   /* publisher's */
    uint64_t arrival_us; /* monotonic */
    uint32_t clock;      /* Hz */
    int have_wall;       /* wall_us known from the publisher's SR mapping */
    uint64_t wall_us;    /* publisher's wall clock of ts */
} cg_report_ref;

/* The publisher's RTP timestamp of track t at monotonic now_us. ref is the
 * stream's reference track (may be t itself). Both must be valid. */
uint32_t cg_report_ts_now(const cg_report_ref *t, const cg_report_ref *ref, uint64_t now_us);

/* The NTP middle 32 bits of the last SRs sent to one viewer, to check the
 * LSR its receiver reports echo (a report about an SR we never sent gives
 * no RTT). */
#define CG_REPORT_SR_LOG 8
typedef struct cg_report_sr_log {
    uint32_t mid[CG_REPORT_SR_LOG];
    size_t next;
} cg_report_sr_log;

void cg_report_sr_sent(cg_report_sr_log *log, uint64_t ntp);

/* What one viewer's receiver reports say about one of our tracks. */
typedef struct cg_report_rx {
    uint64_t reports; /* report blocks applied */
    double loss;      /* fraction lost in the last interval, 0..1 */
    int32_t cumulative_lost;
    uint32_t ext_highest_seq;
    double jitter_ms;
    int64_t rtt_us; /* -1 until a report echoes an SR we sent */
} cg_report_rx;

void cg_report_rx_init(cg_report_rx *rx);

/* Applies a report block about our track (clock: its RTP clock rate).
 * now_ntp: our wall clock now as NTP. The RTT is taken only when the
 * block's LSR is one of the SRs in log and the result is not negative. */
void cg_report_rx_apply(cg_report_rx *rx, const cg_rtcp_report_block *rb, uint32_t clock,
                        const cg_report_sr_log *log, uint64_t now_ntp);

#endif
