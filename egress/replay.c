#include "egress/replay.h"

#include <string.h>

#include "core/err.h"

void cg_replay_init(cg_replay *r, const cg_replay_cfg *cfg)
{
    memset(r, 0, sizeof(*r));
    r->cfg = *cfg;
}

void cg_replay_release(cg_replay *r)
{
    cg_gop_snap_release(&r->snap);
    r->pos = 0;
}

/* Where to resume in a fresh snapshot: after the last packet sent when it
 * is still there, else at the start (a newer GOP began). */
static size_t resume_at(const cg_replay *r)
{
    if (!r->have_last)
        return 0;
    for (size_t i = r->snap.n; i-- > 0;) {
        const cg_pkt *p = r->snap.pkts[i];
        if (p->ssrc == r->last_ssrc && p->seq == r->last_seq)
            return i + 1;
    }
    return 0;
}

/* Takes a fresh snapshot. 1: something new to send, 0: caught up. */
static int next_round(cg_replay *r, cg_replay_snap_fn snap, void *arg, int *err)
{
    cg_replay_release(r);
    if (r->rounds >= r->cfg.max_rounds) {
        r->gave_up = 1;
        return 0;
    }
    r->rounds++;
    int rc = snap(arg, &r->snap);
    if (rc) {
        *err = rc;
        return 0;
    }
    r->pos = resume_at(r);
    if (r->pos < r->snap.n)
        return 1;
    cg_replay_release(r);
    return 0;
}

int cg_replay_tick(cg_replay *r, cg_replay_snap_fn snap, cg_replay_send_fn send, void *arg)
{
    size_t pkts = 0, bytes = 0;
    int err = 0;
    for (;;) {
        if (r->pos >= r->snap.n && !next_round(r, snap, arg, &err))
            break;
        const cg_pkt *p = r->snap.pkts[r->pos];
        if (pkts > 0 && (pkts >= r->cfg.pkts_per_tick || bytes + p->len > r->cfg.bytes_per_tick)) {
            r->ticks++;
            return 1;
        }
        r->pos++;
        int rc = send(arg, p);
        if (rc == CG_EEXIST) {
            r->skipped++;
            continue;
        }
        r->have_last = 1;
        r->last_ssrc = p->ssrc;
        r->last_seq = p->seq;
        pkts++;
        bytes += p->len;
        if (rc == 0) {
            r->sent++;
            r->bytes += p->len;
        } else {
            r->dropped++;
        }
    }
    if (pkts)
        r->ticks++;
    return err ? err : 0;
}
