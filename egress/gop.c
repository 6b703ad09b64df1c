#include "egress/gop.h"

#include <stdlib.h>

#include "core/err.h"

struct cg_gop {
    cg_pkt **pkts; /* max_packets slots; the first n hold references */
    size_t n;
    size_t max_packets, max_bytes;
    size_t bytes;
    int active;      /* collecting a GOP that started with a keyframe */
    int waiting;     /* overflowed: skip until the next keyframe */
    uint32_t key_ts; /* timestamp of the current GOP's keyframe */
    uint64_t keyframes, overflows;
};

int cg_gop_new(cg_gop **out, size_t max_packets, size_t max_bytes)
{
    if (!out || max_packets == 0 || max_bytes == 0)
        return CG_EINVAL;
    cg_gop *g = calloc(1, sizeof(*g));
    if (!g)
        goto fail;
    g->pkts = calloc(max_packets, sizeof(*g->pkts));
    if (!g->pkts)
        goto fail;
    g->max_packets = max_packets;
    g->max_bytes = max_bytes;
    *out = g;
    return 0;
fail:
    cg_gop_free(g);
    return CG_ENOMEM;
}

static void release(cg_gop *g)
{
    for (size_t i = 0; i < g->n; i++)
        g->pkts[i] = cg_pkt_unref(g->pkts[i]);
    g->n = 0;
    g->bytes = 0;
}

void cg_gop_free(cg_gop *g)
{
    if (!g)
        return;
    if (g->pkts)
        release(g);
    free(g->pkts);
    free(g);
}

void cg_gop_reset(cg_gop *g)
{
    if (!g)
        return;
    release(g);
    g->active = 0;
    g->waiting = 0;
}

int cg_gop_push(cg_gop *g, cg_pkt *p)
{
    if (!g || !p)
        return CG_EINVAL;
    int key = (p->flags & CG_PKT_KEY_START) != 0;
    int same_key = (g->active || g->waiting) && p->ts == g->key_ts;
    if (key && !same_key) {
        release(g);
        g->active = 1;
        g->waiting = 0;
        g->key_ts = p->ts;
        g->keyframes++;
    }
    if (!g->active)
        return CG_EAGAIN;
    if (g->n == g->max_packets || g->bytes + p->len > g->max_bytes) {
        release(g);
        g->active = 0;
        g->waiting = 1;
        g->overflows++;
        return CG_ELIMIT;
    }
    g->pkts[g->n++] = cg_pkt_ref(p);
    g->bytes += p->len;
    return 0;
}

int cg_gop_get(const cg_gop *g, uint32_t ssrc, uint16_t seq, cg_pkt **out)
{
    if (!g || !out)
        return CG_EINVAL;
    if (!g->active || g->n == 0)
        return CG_ENOTFOUND;
    /* Packets are in sequence order; without upstream gaps the index is
     * the seq distance from the first, with gaps the packet is before it. */
    size_t i = (uint16_t)(seq - g->pkts[0]->seq);
    if (i >= g->n)
        i = g->n - 1;
    for (;; i--) {
        const cg_pkt *p = g->pkts[i];
        if (p->seq == seq && p->ssrc == ssrc) {
            *out = cg_pkt_ref(g->pkts[i]);
            return 0;
        }
        if (i == 0)
            return CG_ENOTFOUND;
    }
}

int cg_gop_snapshot(const cg_gop *g, cg_gop_snap *snap)
{
    if (!g || !snap)
        return CG_EINVAL;
    snap->pkts = NULL;
    snap->n = 0;
    if (!g->active || g->n == 0)
        return 0;
    snap->pkts = malloc(g->n * sizeof(*snap->pkts));
    if (!snap->pkts)
        return CG_ENOMEM;
    for (size_t i = 0; i < g->n; i++)
        snap->pkts[i] = cg_pkt_ref(g->pkts[i]);
    snap->n = g->n;
    return 0;
}

void cg_gop_snap_release(cg_gop_snap *snap)
{
    if (!snap)
        return;
    for (size_t i = 0; i < snap->n; i++)
        cg_pkt_unref(snap->pkts[i]);
    free(snap->pkts);
    snap->pkts = NULL;
    snap->n = 0;
}

void cg_gop_stats_get(const cg_gop *g, cg_gop_stats *st)
{
    if (!g || !st)
        return;
    st->packets = g->n;
    st->bytes = g->bytes;
    st->keyframes = g->keyframes;
    st->overflows = g->overflows;
    st->overflowed = g->waiting;
}
