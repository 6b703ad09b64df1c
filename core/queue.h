/* Bounded multi-producer multi-consumer queue of pointers, for handing work
 * to worker threads (packager, clip cutter, disk writer).
 *
 * Policy when full is chosen per push: CG_QUEUE_DROP_NEWEST refuses the new
 * item (the caller keeps it and counts the drop), CG_QUEUE_DROP_OLDEST
 * evicts the oldest item into *evicted for the caller to release. */
#ifndef CG_QUEUE_H
#define CG_QUEUE_H

#include <stddef.h>
#include <stdint.h>

typedef struct cg_queue cg_queue;

enum cg_queue_policy {
    CG_QUEUE_DROP_NEWEST = 0,
    CG_QUEUE_DROP_OLDEST = 1,
};

/* Returns 0, CG_EINVAL (cap 0) or CG_ENOMEM. */
int cg_queue_new(cg_queue **out, size_t cap);
/* Accepts NULL. Items still queued are not freed: drain first. */
void cg_queue_free(cg_queue *q);

/* Takes item on success. Returns 0 or CG_EFULL (DROP_NEWEST: item not
 * taken) or CG_ESTATE (queue closed: item not taken). With DROP_OLDEST
 * returns 0 and gives the evicted item through *evicted (NULL if none). */
int cg_queue_push(cg_queue *q, void *item, int policy, void **evicted);
/* Waits up to timeout_us (0: do not wait; UINT64_MAX: forever).
 * Gives an item, or returns CG_EAGAIN on timeout, CG_ESTATE if closed and
 * empty. */
int cg_queue_pop(cg_queue *q, void **item, uint64_t timeout_us);
/* Wakes all waiters; later pushes fail, pops drain what is left. */
void cg_queue_close(cg_queue *q);
size_t cg_queue_len(cg_queue *q);

#endif
