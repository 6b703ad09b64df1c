/* Upstream keyframe requests of one stream, aggregated over its viewers.
 *
 * Viewers' PLI/FIR and viewer joins all ask for a keyframe; the publisher
 * gets at most one request per interval. A request inside the interval is
 * remembered and due when the interval ends, so the last viewer to ask is
 * not left waiting for the publisher's own next keyframe. Sans-I/O: the
 * caller passes `now` and sends the PLI when told to. */
#ifndef CG_EGRESS_FEEDBACK_H
#define CG_EGRESS_FEEDBACK_H

#include <stdint.h>

typedef struct cg_kfreq {
    uint64_t interval_us;
    uint64_t last_sent_us;
    int sent_once;
    int pending;
    uint64_t asked, sent; /* stats: requests from viewers, PLIs upstream */
} cg_kfreq;

/* Sets up a limiter allowing one upstream request per interval_us. */
void cg_kfreq_init(cg_kfreq *k, uint64_t interval_us);

/* A viewer asks for a keyframe (PLI, FIR or join). Returns 1 when the
 * caller should send a PLI upstream now, 0 when it is deferred. */
int cg_kfreq_ask(cg_kfreq *k, uint64_t now_us);

/* Call at the deadline (or on any tick). Returns 1 when a deferred request
 * is due now (send a PLI), 0 otherwise; *deadline_us is set to when to call
 * again, or UINT64_MAX when nothing is pending. */
int cg_kfreq_poll(cg_kfreq *k, uint64_t now_us, uint64_t *deadline_us);

/* A keyframe arrived from the publisher: pending requests are answered. */
void cg_kfreq_keyframe(cg_kfreq *k);

#endif
