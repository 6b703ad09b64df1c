#include "egress/rewriter.h"

#include <stdlib.h>

#include "core/err.h"
#include "rtc/rtp.h"

/* A jump back further than this is a restarted sequence, not a duplicate. */
#define RESYNC_BACK 16384

typedef struct map_entry {
    uint32_t orig_ssrc;
    uint32_t out_ts;
    uint16_t out_seq;
    uint16_t orig_seq;
    uint8_t valid;
} map_entry;

struct cg_rewriter {
    cg_rewriter_cfg cfg;
    map_entry *map;
    size_t mask;
    int started;
    uint32_t src_ssrc;
    uint16_t last_orig;   /* last source seq forwarded in this epoch */
    uint32_t last_src_ts; /* its source timestamp */
    uint16_t seq_off;
    uint32_t ts_off;
    cg_rewriter_stats st;
};

int cg_rewriter_new(cg_rewriter **out, const cg_rewriter_cfg *cfg)
{
    if (!out || !cfg || cfg->pt > 127 || cfg->map_size < 16 || cfg->map_size > 32768 ||
        (cfg->map_size & (cfg->map_size - 1)))
        return CG_EINVAL;
    cg_rewriter *rw = calloc(1, sizeof(*rw));
    if (!rw)
        goto fail;
    rw->map = calloc(cfg->map_size, sizeof(*rw->map));
    if (!rw->map)
        goto fail;
    rw->cfg = *cfg;
    rw->mask = cfg->map_size - 1;
    *out = rw;
    return 0;
fail:
    cg_rewriter_free(rw);
    return CG_ENOMEM;
}

void cg_rewriter_free(cg_rewriter *rw)
{
    if (!rw)
        return;
    free(rw->map);
    free(rw);
}

static int build(const cg_rewriter *rw, const cg_pkt *p, uint16_t seq, uint32_t ts, uint8_t *out,
                 size_t cap, size_t *len)
{
    if (cap < rw->cfg.trailer || cap - rw->cfg.trailer < CG_RTP_HDR_LEN + p->payload_len)
        return CG_ENOSPC;
    return cg_rtp_build(out, cap - rw->cfg.trailer, len, rw->cfg.pt, p->marker, seq, ts,
                        rw->cfg.ssrc, cg_pkt_payload(p), p->payload_len);
}

/* step 0: live, the offsets stay. step > 0: replay, a new source timestamp
 * comes out at most step after the previous one (the offset shrinks). */
static int write_pkt(cg_rewriter *rw, const cg_pkt *p, uint32_t step, uint8_t *out, size_t cap,
                     size_t *len)
{
    uint16_t seq_off = rw->seq_off;
    uint32_t ts_off = rw->ts_off;
    int new_epoch = 0;
    if (!rw->started) {
        seq_off = (uint16_t)(rw->cfg.seq_start - p->seq);
        ts_off = rw->cfg.ts_start - p->ts;
        new_epoch = 1;
    } else {
        int16_t d = (int16_t)(uint16_t)(p->seq - rw->last_orig);
        if (p->ssrc != rw->src_ssrc || d < -RESYNC_BACK) {
            seq_off = (uint16_t)(rw->st.last_seq + 1u - p->seq);
            ts_off = rw->st.last_ts + rw->cfg.ts_gap - p->ts;
            new_epoch = 1;
        } else if (d <= 0) {
            rw->st.skipped++;
            return CG_EEXIST;
        } else if (step && p->ts != rw->last_src_ts) {
            uint32_t real = p->ts - rw->last_src_ts;
            if (real < 0x80000000u && real > step)
                ts_off = rw->st.last_ts + step - p->ts;
        }
    }
    uint16_t seq = (uint16_t)(p->seq + seq_off);
    uint32_t ts = p->ts + ts_off;
    int rc = build(rw, p, seq, ts, out, cap, len);
    if (rc < 0)
        return rc;
    /* Output seqs skipped over (a gap upstream) must not answer NACKs with
     * what the map held a whole ring ago. */
    if (rw->started && !new_epoch) {
        uint16_t gap = (uint16_t)(seq - rw->st.last_seq - 1u);
        for (uint32_t i = 1; i <= gap && i <= rw->mask + 1; i++)
            rw->map[(uint16_t)(rw->st.last_seq + i) & rw->mask].valid = 0;
    }
    map_entry *e = &rw->map[seq & rw->mask];
    *e = (map_entry){
        .orig_ssrc = p->ssrc, .out_ts = ts, .out_seq = seq, .orig_seq = p->seq, .valid = 1};
    if (new_epoch)
        rw->st.epochs++;
    rw->started = 1;
    rw->src_ssrc = p->ssrc;
    rw->seq_off = seq_off;
    rw->ts_off = ts_off;
    rw->last_orig = p->seq;
    rw->last_src_ts = p->ts;
    rw->st.last_seq = seq;
    rw->st.last_ts = ts;
    rw->st.forwarded++;
    return 0;
}

int cg_rewriter_write(cg_rewriter *rw, const cg_pkt *p, uint8_t *out, size_t cap, size_t *len)
{
    if (!rw || !p || !out || !len)
        return CG_EINVAL;
    return write_pkt(rw, p, 0, out, cap, len);
}

int cg_rewriter_write_replay(cg_rewriter *rw, const cg_pkt *p, uint32_t step, uint8_t *out,
                             size_t cap, size_t *len)
{
    if (!rw || !p || !out || !len || step == 0)
        return CG_EINVAL;
    return write_pkt(rw, p, step, out, cap, len);
}

static const map_entry *find(const cg_rewriter *rw, uint16_t out_seq)
{
    if (!rw->started)
        return NULL;
    const map_entry *e = &rw->map[out_seq & rw->mask];
    /* Not ahead of what was sent, and still in the ring. */
    uint16_t back = (uint16_t)(rw->st.last_seq - out_seq);
    if (!e->valid || e->out_seq != out_seq || back > rw->mask)
        return NULL;
    return e;
}

int cg_rewriter_lookup(const cg_rewriter *rw, uint16_t out_seq, uint32_t *orig_ssrc,
                       uint16_t *orig_seq)
{
    if (!rw || !orig_ssrc || !orig_seq)
        return CG_EINVAL;
    const map_entry *e = find(rw, out_seq);
    if (!e)
        return CG_ENOTFOUND;
    *orig_ssrc = e->orig_ssrc;
    *orig_seq = e->orig_seq;
    return 0;
}

int cg_rewriter_resend(cg_rewriter *rw, uint16_t out_seq, const cg_pkt *p, uint8_t *out, size_t cap,
                       size_t *len)
{
    if (!rw || !p || !out || !len)
        return CG_EINVAL;
    const map_entry *e = find(rw, out_seq);
    if (!e)
        return CG_ENOTFOUND;
    if (e->orig_ssrc != p->ssrc || e->orig_seq != p->seq)
        return CG_EINVAL;
    int rc = build(rw, p, out_seq, e->out_ts, out, cap, len);
    if (rc == 0)
        rw->st.resent++;
    return rc;
}

int cg_rewriter_map_ts(const cg_rewriter *rw, uint32_t ssrc, uint32_t ts, uint32_t *out_ts)
{
    if (!rw || !out_ts)
        return CG_EINVAL;
    if (!rw->started || ssrc != rw->src_ssrc)
        return CG_ESTATE;
    *out_ts = ts + rw->ts_off;
    return 0;
}

void cg_rewriter_stats_get(const cg_rewriter *rw, cg_rewriter_stats *st)
{
    if (rw && st) {
        *st = rw->st;
        st->src_ssrc = rw->src_ssrc;
        st->src_seq = rw->last_orig;
    }
}
