/* Pauses in a stream of video frames, judged as a receiver judges a
 * freeze: an interval between two frames of at least max(3 x average,
 * average + 150 ms), the average taken over the previous 30 intervals
 * (at least 5), which is the rule WebRTC receivers (Chromium's getStats
 * freezeCount) apply to the frames they render.
 *
 * A WHEP viewer feeds it the arrival of each live frame from the
 * publisher, so a freeze its player reports can be told apart from one
 * the publisher caused by pausing (a loaded encoder, a stalled network):
 * the gateway forwards live frames as they come, so a pause upstream
 * reaches the player as it is. Sans-I/O: the caller passes `now`. */
#ifndef CG_EGRESS_STALL_H
#define CG_EGRESS_STALL_H

#include <stdint.h>

#define CG_STALL_WINDOW 30
#define CG_STALL_MIN_SAMPLES 5
#define CG_STALL_MIN_EXTRA_US 150000u

typedef struct cg_stall {
    uint64_t last_us;                    /* arrival of the last frame, 0: none yet */
    uint64_t intervals[CG_STALL_WINDOW]; /* ring of the last intervals (us) */
    uint64_t sum_us;                     /* their sum */
    unsigned n;                          /* how many the ring holds */
    unsigned pos;                        /* next slot */
    uint64_t frames;                     /* frames seen */
    uint64_t freezes;                    /* intervals that are freezes by the rule above */
    uint64_t max_gap_us;                 /* longest interval */
} cg_stall;

void cg_stall_init(cg_stall *s);

/* A frame arrived at now_us (not earlier than the previous one). Returns 1
 * when the interval since the previous frame is a freeze, else 0. */
int cg_stall_frame(cg_stall *s, uint64_t now_us);

#endif
