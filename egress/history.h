/* Packet history of one publisher SSRC, used to answer viewers' NACKs
 * without asking the publisher (the "NACK shield").
 *
 * A ring indexed by extended sequence number (16-bit seq unwrapped against
 * the newest one stored), bounded by count (a power of two) and by age.
 * Policy when full: drop oldest. A packet far ahead of the newest (a jump
 * of more than the ring) clears the ring; a packet older than the ring, or
 * a duplicate of one stored, is refused. Lookups ignore packets older than
 * max_age_us at `now`, and cg_history_expire releases them. */
#ifndef CG_EGRESS_HISTORY_H
#define CG_EGRESS_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "egress/pkt.h"

typedef struct cg_history cg_history;

typedef struct cg_history_stats {
    size_t count;           /* packets held now */
    uint64_t inserted;      /* packets stored */
    uint64_t evicted_count; /* dropped because the ring was full */
    uint64_t evicted_age;   /* dropped because older than max_age */
    uint64_t refused;       /* duplicates and too old to store */
    uint64_t hits, misses;  /* lookups */
} cg_history_stats;

/* capacity: at most this many packets, rounded up to a power of two
 * (1..32768). max_age_us: lookups older than this miss. Gives *out
 * (cg_history_free). Returns 0, CG_EINVAL (NULL, capacity 0 or above
 * 32768), CG_ENOMEM. */
int cg_history_new(cg_history **out, size_t capacity, uint64_t max_age_us);
/* Releases every packet it holds. NULL is fine. */
void cg_history_free(cg_history *h);

/* Stores a reference to p (the caller keeps its own). Releases packets that
 * fall out of the ring or are older than max_age at p's arrival time.
 * Returns 0, CG_EINVAL, CG_EEXIST (this sequence number is stored already;
 * the first copy stays), CG_ERANGE (older than the oldest slot). */
int cg_history_put(cg_history *h, cg_pkt *p);

/* Finds the packet with 16-bit sequence number seq that is at most max_age
 * old at now_us. Gives a new reference in *out (cg_pkt_unref it). Returns
 * 0, CG_EINVAL, CG_ENOTFOUND (never stored, evicted or too old). */
int cg_history_get(cg_history *h, uint16_t seq, uint64_t now_us, cg_pkt **out);

/* Releases packets older than max_age at now_us. */
void cg_history_expire(cg_history *h, uint64_t now_us);

void cg_history_stats_get(const cg_history *h, cg_history_stats *st);

#endif
