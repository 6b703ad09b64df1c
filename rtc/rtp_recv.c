#include "rtp_recv.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "rtc/rtp.h"

/* RFC 3550 A.1 calls a jump of this size a dropout or a restart. */
#define JUMP_MAX 3000
#define NACK_MIN_SPACING_US 20000ull
#define US_PER_S 1000000ull
/* Extended sequence numbers start here, not at 0, so that a packet from
 * just before the first one can be placed without underflow. */
#define EXT_START (1ull << 32)
#define SLOT_MIN_CAP 1500

enum slot_state {
    SLOT_EMPTY = 0,
    SLOT_MISSING,  /* a later packet arrived; this one is awaited */
    SLOT_PRESENT,  /* held, not yet released */
    SLOT_RELEASED, /* handed out by pop: a second copy is a duplicate */
    SLOT_LOST,     /* given up: a copy now is late */
};

typedef struct slot {
    uint64_t ext;
    uint64_t t; /* PRESENT: arrival; MISSING: when the gap was seen */
    uint64_t last_nack;
    uint8_t *buf;
    size_t cap, len;
    uint8_t state, nacks, disc;
} slot;

struct cg_rtp_recv {
    cg_rtp_recv_cfg cfg;
    slot *ring;
    size_t nslots;
    uint64_t rtt_us;

    int started;
    uint64_t next;        /* next extended seq to release */
    uint64_t highest;     /* highest extended seq accepted */
    uint64_t skip_to;     /* seqs below this are released without waiting */
    uint64_t first_ext;   /* for the expected count of the RR */
    uint64_t report_base; /* highest - report_base = the RR's extended seq */
    uint16_t off;         /* wire seq + off = low 16 bits of the extended seq */
    int gap_pending;      /* a seq was given up since the last release */

    /* Restart candidate: the first packet after a big jump, held until the
     * packet after it confirms the new sequence. */
    int cand_valid, cand_rtx;
    uint16_t cand_seq;
    uint32_t cand_ts;
    uint8_t *cand_buf;
    size_t cand_cap, cand_len;
    uint64_t cand_t;

    int transit_valid;
    uint32_t last_transit;
    uint64_t jitter_q4; /* jitter * 16, RFC 3550 A.8 integer form */

    int have_sr;
    uint64_t sr_ntp, sr_at;
    uint32_t sr_rtp;

    uint64_t received; /* accepted + late: the RR's "received" */
    uint64_t expected_prior, received_prior;

    cg_rtp_recv_stats st;
};

static slot *slot_of(const cg_rtp_recv *r, uint64_t ext)
{
    return &r->ring[ext % r->nslots];
}

static uint64_t nack_spacing(const cg_rtp_recv *r)
{
    return r->rtt_us > NACK_MIN_SPACING_US ? r->rtt_us : NACK_MIN_SPACING_US;
}

/* True once `since` lies at least max_delay_us before now. */
static int waited(const cg_rtp_recv *r, uint64_t since, uint64_t now)
{
    return now >= since && now - since >= r->cfg.max_delay_us;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

int cg_rtp_recv_new(cg_rtp_recv **out, const cg_rtp_recv_cfg *cfg)
{
    if (!out || !cfg || cfg->clock_rate == 0 || cfg->max_packets == 0 || cfg->max_packets > 32768 ||
        cfg->nack_max_retries > 255)
        return CG_EINVAL;
    cg_rtp_recv *r = calloc(1, sizeof(*r));
    if (!r)
        goto fail;
    r->cfg = *cfg;
    r->nslots = cfg->max_packets * 2;
    r->ring = calloc(r->nslots, sizeof(*r->ring));
    if (!r->ring)
        goto fail;
    *out = r;
    return 0;
fail:
    cg_rtp_recv_free(r);
    return CG_ENOMEM;
}

void cg_rtp_recv_free(cg_rtp_recv *r)
{
    if (!r)
        return;
    if (r->ring) {
        for (size_t i = 0; i < r->nslots; i++)
            free(r->ring[i].buf);
    }
    free(r->ring);
    free(r->cand_buf);
    free(r);
}

void cg_rtp_recv_set_rtt(cg_rtp_recv *r, uint64_t rtt_us)
{
    r->rtt_us = rtt_us;
}

static int reserve(uint8_t **buf, size_t *cap, size_t len)
{
    if (*cap >= len)
        return 0;
    size_t ncap = len < SLOT_MIN_CAP ? SLOT_MIN_CAP : len;
    uint8_t *b = realloc(*buf, ncap);
    if (!b)
        return CG_ENOMEM;
    *buf = b;
    *cap = ncap;
    return 0;
}

static void fill(slot *s, uint64_t ext, const uint8_t *pkt, size_t len, uint64_t now, int disc)
{
    memcpy(s->buf, pkt, len);
    s->len = len;
    s->ext = ext;
    s->t = now;
    s->state = SLOT_PRESENT;
    s->disc = (uint8_t)disc;
}

static void update_jitter(cg_rtp_recv *r, uint32_t ts, uint64_t now)
{
    uint64_t rate = r->cfg.clock_rate;
    uint32_t arrival = (uint32_t)((now / US_PER_S) * rate + (now % US_PER_S) * rate / US_PER_S);
    uint32_t transit = arrival - ts;
    if (r->transit_valid) {
        int32_t d = (int32_t)(transit - r->last_transit);
        uint64_t ad = d < 0 ? (uint64_t)(-(int64_t)d) : (uint64_t)d;
        r->jitter_q4 = r->jitter_q4 + ad - ((r->jitter_q4 + 8) >> 4);
    }
    r->last_transit = transit;
    r->transit_valid = 1;
}

/* A packet beyond the highest: apply the span bound, then mark the seqs in
 * between as awaited, starting their NACK and give-up clocks now. */
static void advance(cg_rtp_recv *r, uint64_t ext, uint64_t now)
{
    uint64_t span = r->cfg.max_packets;
    if (ext - r->next >= span && ext - span + 1 > r->skip_to)
        r->skip_to = ext - span + 1;
    uint64_t from = r->highest + 1 > r->skip_to ? r->highest + 1 : r->skip_to;
    for (uint64_t e = from; e < ext; e++) {
        slot *s = slot_of(r, e);
        /* Whatever the slot held is older than skip_to: pop counts it. */
        s->ext = e;
        s->state = SLOT_MISSING;
        s->t = now;
        s->last_nack = 0;
        s->nacks = 0;
        s->disc = 0;
    }
}

static int insert(cg_rtp_recv *r, uint64_t ext, const uint8_t *pkt, size_t len, uint32_t ts,
                  int rtx, uint64_t now, int disc)
{
    slot *s = slot_of(r, ext);
    if (ext < r->next) {
        if (s->ext == ext && s->state == SLOT_RELEASED) {
            r->st.duplicates++;
            return CG_EEXIST;
        }
        r->st.late++;
        r->received++;
        return CG_ERANGE;
    }
    if (ext <= r->highest) {
        if (s->ext == ext && s->state == SLOT_PRESENT) {
            r->st.duplicates++;
            return CG_EEXIST;
        }
        if (s->ext > ext && s->state != SLOT_EMPTY) {
            /* Its slot went to a newer packet while the caller was not
             * popping; pop counts this seq as lost. */
            r->st.late++;
            r->received++;
            return CG_ERANGE;
        }
        int nacked = s->ext == ext && s->state == SLOT_MISSING && s->nacks > 0;
        if (reserve(&s->buf, &s->cap, len))
            return CG_ENOMEM;
        fill(s, ext, pkt, len, now, disc);
        if (rtx || nacked)
            r->st.recovered++;
        else
            r->st.reordered++;
    } else {
        if (reserve(&s->buf, &s->cap, len))
            return CG_ENOMEM;
        advance(r, ext, now);
        fill(s, ext, pkt, len, now, disc);
        r->highest = ext;
        /* RTX copies left the sender late on purpose: they would read as
         * network jitter. */
        if (!rtx)
            update_jitter(r, ts, now);
    }
    r->st.packets++;
    r->st.bytes += len;
    r->received++;
    return 0;
}

/* A jump of more than JUMP_MAX: hold the packet as a restart candidate; if it
 * is the successor of the previous candidate, the sender did restart. The
 * new sequence is spliced right after the highest seq so that the buffer,
 * the NACK state and the expected count all carry on; what is still held
 * is released first. */
static int on_jump(cg_rtp_recv *r, const cg_rtp_hdr *h, const uint8_t *pkt, size_t len, int rtx,
                   uint64_t now)
{
    if (r->cand_valid && h->seq == (uint16_t)(r->cand_seq + 1)) {
        uint64_t e = r->highest + 1;
        r->cand_valid = 0;
        r->skip_to = e;
        r->off = (uint16_t)((uint16_t)e - r->cand_seq);
        r->report_base = e - r->cand_seq;
        r->transit_valid = 0;
        r->st.resyncs++;
        int rc = insert(r, e, r->cand_buf, r->cand_len, r->cand_ts, r->cand_rtx, r->cand_t, 1);
        if (rc)
            return rc;
        return insert(r, e + 1, pkt, len, h->ts, rtx, now, 0);
    }
    if (reserve(&r->cand_buf, &r->cand_cap, len))
        return CG_ENOMEM;
    memcpy(r->cand_buf, pkt, len);
    r->cand_len = len;
    r->cand_seq = h->seq;
    r->cand_ts = h->ts;
    r->cand_rtx = rtx;
    r->cand_t = now;
    r->cand_valid = 1;
    return 0;
}

int cg_rtp_recv_push(cg_rtp_recv *r, const uint8_t *pkt, size_t len, int is_rtx_recovered,
                     uint64_t now_us)
{
    cg_rtp_hdr h;
    if (cg_rtp_parse(&h, pkt, len))
        return CG_EPROTO;
    if (!r->started) {
        uint64_t ext = EXT_START + h.seq;
        r->started = 1;
        r->next = r->skip_to = r->first_ext = ext;
        r->highest = ext - 1;
        r->report_base = EXT_START;
        return insert(r, ext, pkt, len, h.ts, is_rtx_recovered, now_us, 0);
    }
    uint16_t s = (uint16_t)(h.seq + r->off);
    int d = (int16_t)(uint16_t)(s - (uint16_t)r->highest);
    if (d > JUMP_MAX || d < -JUMP_MAX)
        return on_jump(r, &h, pkt, len, is_rtx_recovered, now_us);
    uint64_t ext = d >= 0 ? r->highest + (uint64_t)d : r->highest - (uint64_t)(-d);
    return insert(r, ext, pkt, len, h.ts, is_rtx_recovered, now_us, 0);
}

int cg_rtp_recv_pop(cg_rtp_recv *r, uint64_t now_us, uint8_t *out, size_t cap, size_t *len,
                    int *gap_before)
{
    if (!r->started)
        return CG_EAGAIN;
    /* Each extended seq is visited once over the receiver's life, so the
     * walk below is amortised O(1) per packet even after a long jump. */
    while (r->next <= r->highest) {
        slot *s = slot_of(r, r->next);
        int ours = s->ext == r->next;
        if (ours && s->state == SLOT_PRESENT) {
            if (cap < s->len)
                return CG_ENOSPC;
            memcpy(out, s->buf, s->len);
            *len = s->len;
            *gap_before = r->gap_pending || s->disc;
            r->gap_pending = 0;
            s->state = SLOT_RELEASED;
            r->next++;
            return 0;
        }
        int give_up =
            r->next < r->skip_to || !ours || s->state != SLOT_MISSING || waited(r, s->t, now_us);
        if (!give_up)
            return CG_EAGAIN;
        if (ours)
            s->state = SLOT_LOST;
        r->st.lost++;
        r->gap_pending = 1;
        r->next++;
    }
    return CG_EAGAIN;
}

size_t cg_rtp_recv_nacks(cg_rtp_recv *r, uint64_t now_us, uint16_t *seqs, size_t cap)
{
    if (!r->cfg.nack_enabled || !r->started || cap == 0)
        return 0;
    uint64_t spacing = nack_spacing(r);
    uint64_t from = r->next > r->skip_to ? r->next : r->skip_to;
    size_t n = 0;
    for (uint64_t e = from; e <= r->highest && n < cap; e++) {
        slot *s = slot_of(r, e);
        if (s->ext != e || s->state != SLOT_MISSING || s->nacks >= r->cfg.nack_max_retries)
            continue;
        /* Past max_delay the gap is released anyway: a retransmission
         * would only arrive late. */
        if (now_us < s->t || waited(r, s->t, now_us))
            continue;
        if (s->nacks && now_us - s->last_nack < spacing)
            continue;
        seqs[n++] = (uint16_t)((uint16_t)e - r->off);
        s->nacks++;
        s->last_nack = now_us;
        r->st.nacks_sent++;
    }
    return n;
}

uint64_t cg_rtp_recv_deadline(const cg_rtp_recv *r)
{
    if (!r->started || r->next > r->highest)
        return UINT64_MAX;
    const slot *s = slot_of(r, r->next);
    if (r->next < r->skip_to || s->ext != r->next || s->state != SLOT_MISSING)
        return 0;
    uint64_t best = sat_add(s->t, r->cfg.max_delay_us);
    if (!r->cfg.nack_enabled)
        return best;
    uint64_t spacing = nack_spacing(r);
    for (uint64_t e = r->next; e <= r->highest; e++) {
        s = slot_of(r, e);
        if (s->ext != e || s->state != SLOT_MISSING || s->nacks >= r->cfg.nack_max_retries)
            continue;
        uint64_t at = s->nacks ? sat_add(s->last_nack, spacing) : s->t;
        if (at < sat_add(s->t, r->cfg.max_delay_us) && at < best)
            best = at;
    }
    return best;
}

void cg_rtp_recv_on_sr(cg_rtp_recv *r, uint64_t ntp, uint32_t rtp_ts, uint64_t now_us)
{
    r->have_sr = 1;
    r->sr_ntp = ntp;
    r->sr_rtp = rtp_ts;
    r->sr_at = now_us;
}

int cg_rtp_recv_wall_us(const cg_rtp_recv *r, uint32_t rtp_ts, uint64_t *wall_us)
{
    if (!r->have_sr)
        return CG_ENOTFOUND;
    /* The signed 32-bit difference is what makes a timestamp wrap between
     * the SR and rtp_ts harmless. */
    int64_t d = (int32_t)(rtp_ts - r->sr_rtp);
    int64_t rate = r->cfg.clock_rate;
    int64_t us = d >= 0 ? (d * 1000000 + rate / 2) / rate : -((-d * 1000000 + rate / 2) / rate);
    int64_t base = (int64_t)cg_ntp_to_wall_us(r->sr_ntp);
    if (base + us < 0)
        return CG_ERANGE;
    *wall_us = (uint64_t)(base + us);
    return 0;
}

static uint32_t ext_highest(const cg_rtp_recv *r)
{
    return r->started ? (uint32_t)(r->highest - r->report_base) : 0;
}

void cg_rtp_recv_report(cg_rtp_recv *r, uint64_t now_us, uint32_t ssrc, cg_rtcp_report_block *rb)
{
    memset(rb, 0, sizeof(*rb));
    rb->ssrc = ssrc;
    if (r->started) {
        uint64_t expected = r->highest - r->first_ext + 1;
        int64_t lost = (int64_t)expected - (int64_t)r->received;
        if (lost > 0x7fffff)
            lost = 0x7fffff;
        if (lost < -0x800000)
            lost = -0x800000;
        rb->cumulative_lost = (int32_t)lost;
        int64_t exp_int = (int64_t)(expected - r->expected_prior);
        int64_t rec_int = (int64_t)(r->received - r->received_prior);
        int64_t lost_int = exp_int - rec_int;
        if (exp_int > 0 && lost_int > 0) {
            int64_t f = lost_int * 256 / exp_int;
            rb->fraction_lost = (uint8_t)(f > 255 ? 255 : f);
        }
        r->expected_prior = expected;
        r->received_prior = r->received;
        rb->ext_highest_seq = ext_highest(r);
        rb->jitter = (uint32_t)((r->jitter_q4 >> 4) > UINT32_MAX ? UINT32_MAX : r->jitter_q4 >> 4);
    }
    if (r->have_sr) {
        rb->lsr = cg_ntp_mid32(r->sr_ntp);
        /* DLSR is 16.16 seconds: saturate after about 18 hours. */
        uint64_t dt = now_us > r->sr_at ? now_us - r->sr_at : 0;
        uint64_t dlsr = dt / US_PER_S * 65536 + dt % US_PER_S * 65536 / US_PER_S;
        rb->dlsr = dlsr > UINT32_MAX ? UINT32_MAX : (uint32_t)dlsr;
    }
}

void cg_rtp_recv_get_stats(const cg_rtp_recv *r, cg_rtp_recv_stats *st)
{
    *st = r->st;
    st->jitter = (uint32_t)((r->jitter_q4 >> 4) > UINT32_MAX ? UINT32_MAX : r->jitter_q4 >> 4);
    st->ext_highest_seq = ext_highest(r);
}
