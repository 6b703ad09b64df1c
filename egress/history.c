#include "egress/history.h"

#include <stdlib.h>

#include "core/err.h"

#define HISTORY_MAX 32768

typedef struct slot {
    cg_pkt *pkt;
    int64_t ext; /* extended sequence number of pkt */
} slot;

struct cg_history {
    slot *ring;
    size_t mask;
    uint64_t max_age_us;
    int have;     /* a packet was ever stored: head is valid */
    int64_t head; /* newest extended seq stored */
    int64_t tail; /* no packet older than this is held */
    cg_history_stats st;
};

int cg_history_new(cg_history **out, size_t capacity, uint64_t max_age_us)
{
    if (!out || capacity == 0 || capacity > HISTORY_MAX)
        return CG_EINVAL;
    size_t cap = 1;
    while (cap < capacity)
        cap <<= 1;
    cg_history *h = calloc(1, sizeof(*h));
    if (!h)
        goto fail;
    h->ring = calloc(cap, sizeof(*h->ring));
    if (!h->ring)
        goto fail;
    h->mask = cap - 1;
    h->max_age_us = max_age_us;
    *out = h;
    return 0;
fail:
    cg_history_free(h);
    return CG_ENOMEM;
}

static void slot_clear(cg_history *h, slot *s)
{
    if (s->pkt) {
        s->pkt = cg_pkt_unref(s->pkt);
        h->st.count--;
    }
}

void cg_history_free(cg_history *h)
{
    if (!h)
        return;
    if (h->ring)
        for (size_t i = 0; i <= h->mask; i++)
            slot_clear(h, &h->ring[i]);
    free(h->ring);
    free(h);
}

/* The extended sequence number nearest to the newest one stored. */
static int64_t unwrap(const cg_history *h, uint16_t seq)
{
    if (!h->have)
        return (int64_t)seq + 65536; /* room to go back without turning negative */
    int16_t d = (int16_t)(uint16_t)(seq - (uint16_t)h->head);
    return h->head + d;
}

static int too_old(const cg_history *h, const cg_pkt *p, uint64_t now_us)
{
    return now_us > p->arrival_us && now_us - p->arrival_us > h->max_age_us;
}

void cg_history_expire(cg_history *h, uint64_t now_us)
{
    if (!h || !h->have)
        return;
    /* Arrival order follows sequence order closely enough: stop at the first
     * young packet rather than scanning the whole ring. */
    while (h->tail <= h->head) {
        slot *s = &h->ring[(size_t)h->tail & h->mask];
        if (s->pkt && s->ext == h->tail) {
            if (!too_old(h, s->pkt, now_us))
                break;
            slot_clear(h, s);
            h->st.evicted_age++;
        }
        h->tail++;
    }
}

int cg_history_put(cg_history *h, cg_pkt *p)
{
    if (!h || !p)
        return CG_EINVAL;
    int64_t ext = unwrap(h, p->seq);
    int64_t size = (int64_t)h->mask + 1;
    if (!h->have) {
        h->have = 1;
        h->head = h->tail = ext;
    } else if (ext > h->head) {
        if (ext - h->head >= size) {
            /* A jump past the whole ring: everything held is older. */
            for (size_t i = 0; i <= h->mask; i++)
                if (h->ring[i].pkt) {
                    slot_clear(h, &h->ring[i]);
                    h->st.evicted_count++;
                }
            h->tail = ext;
        } else {
            /* Slots between the old head and ext are reused: drop oldest. */
            for (int64_t e = h->head + 1; e <= ext; e++) {
                slot *s = &h->ring[(size_t)e & h->mask];
                if (s->pkt) {
                    slot_clear(h, s);
                    h->st.evicted_count++;
                }
            }
            if (h->tail < ext - size + 1)
                h->tail = ext - size + 1;
        }
        h->head = ext;
    } else if (h->head - ext >= size || ext < h->tail) {
        h->st.refused++;
        return CG_ERANGE;
    }
    slot *s = &h->ring[(size_t)ext & h->mask];
    if (s->pkt && s->ext == ext) {
        h->st.refused++;
        return CG_EEXIST;
    }
    slot_clear(h, s);
    s->pkt = cg_pkt_ref(p);
    s->ext = ext;
    h->st.count++;
    h->st.inserted++;
    cg_history_expire(h, p->arrival_us);
    return 0;
}

int cg_history_get(cg_history *h, uint16_t seq, uint64_t now_us, cg_pkt **out)
{
    if (!h || !out)
        return CG_EINVAL;
    if (h->have) {
        int64_t ext = unwrap(h, seq);
        slot *s = &h->ring[(size_t)ext & h->mask];
        if (ext >= h->tail && ext <= h->head && s->pkt && s->ext == ext &&
            !too_old(h, s->pkt, now_us)) {
            h->st.hits++;
            *out = cg_pkt_ref(s->pkt);
            return 0;
        }
    }
    h->st.misses++;
    return CG_ENOTFOUND;
}

void cg_history_stats_get(const cg_history *h, cg_history_stats *st)
{
    if (h && st)
        *st = h->st;
}
