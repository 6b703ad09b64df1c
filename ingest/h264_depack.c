/* H.264 depacketizer: see h264_depack.h for the contract.
 *
 * One access unit is assembled at a time in a bounded buffer, already in
 * Annex B form, so closing it costs one copy into the frame (plus the
 * parameter sets when an IDR lacks them). Facts the close needs (slices
 * present, IDR, B-slice, first macroblock, where the first slice starts,
 * whether SPS/PPS came first) are noted as each NAL unit starts, from its
 * first bytes, so they are known even for an AU whose data is dropped.
 *
 * Loss policy: any gap, broken fragment or malformed aggregate marks the
 * AU corrupt and sets need_idr; while need_idr is set only an AU holding an
 * IDR slice whose first slice starts at macroblock 0 (its beginning was
 * not lost) and that arrived whole clears it and is given out. */
#include "ingest/h264_depack.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "rtc/rtp.h"

/* Largest SPS or PPS we cache. Real ones are tens of bytes; scaling
 * matrices can bring an SPS to a few hundred. */
#define PARAM_MAX 1024

enum {
    NAL_SLICE = 1,
    NAL_IDR = 5,
    NAL_SEI = 6,
    NAL_SPS = 7,
    NAL_PPS = 8,
    NAL_AUD = 9,
    NAL_STAP_A = 24,
    NAL_STAP_B = 25,
    NAL_MTAP16 = 26,
    NAL_MTAP24 = 27,
    NAL_FU_A = 28,
    NAL_FU_B = 29,
};

static const uint8_t start_code[4] = {0, 0, 0, 1};

struct cg_h264_depack {
    size_t max_frame;
    cg_dbuf au; /* Annex B bytes of the AU being built */

    /* The AU being built. */
    int au_open;
    uint32_t au_ts;
    int64_t au_ext;
    int au_corrupt;   /* lost or malformed data: never given out */
    int au_oversize;  /* passed max_frame: dropped */
    int au_stray;     /* same timestamp as an AU already closed by marker */
    int au_has_vcl, au_has_idr, au_has_b;
    int au_sps_first, au_pps_first; /* SPS / PPS before the first slice */
    size_t au_first_vcl;            /* offset of the first slice's start code */
    int au_first_mb_known;
    uint32_t au_first_mb;

    /* FU-A reassembly. */
    int fu_active;
    uint8_t fu_type;
    int fu_keep;     /* appended to the AU (not an AUD) */
    size_t fu_start; /* offset of its start code in au */

    int last_marked; /* an AU was closed by its marker ... */
    uint32_t last_marked_ts; /* ... with this timestamp */

    cg_rtp_ts_ext ts; /* RTP timestamps extended to 64 bits */

    int need_idr;
    int had_idr;

    uint8_t sps[PARAM_MAX], pps[PARAM_MAX];
    size_t sps_len, pps_len;

    cg_h264_depack_stats st;
};

int cg_h264_depack_new(cg_h264_depack **out, size_t max_frame_bytes)
{
    if (max_frame_bytes == 0 || max_frame_bytes >= SIZE_MAX / 2)
        return CG_EINVAL;
    cg_h264_depack *d = calloc(1, sizeof(*d));
    if (!d)
        return CG_ENOMEM;
    d->max_frame = max_frame_bytes;
    /* +1: cg_dbuf keeps room for a terminating NUL. */
    cg_dbuf_init(&d->au, max_frame_bytes + 1);
    /* Nothing before the first IDR can be decoded. */
    d->need_idr = 1;
    *out = d;
    return 0;
}

void cg_h264_depack_free(cg_h264_depack *d)
{
    if (!d)
        return;
    cg_dbuf_free(&d->au);
    free(d);
}

static void open_au(cg_h264_depack *d, uint32_t ts, int64_t ext)
{
    d->au_open = 1;
    d->au_ts = ts;
    d->au_ext = ext;
    d->au_corrupt = d->au_oversize = 0;
    d->au_stray = d->last_marked && ts == d->last_marked_ts;
    d->au_has_vcl = d->au_has_idr = d->au_has_b = 0;
    d->au_sps_first = d->au_pps_first = 0;
    d->au_first_vcl = 0;
    d->au_first_mb_known = 0;
    d->au_first_mb = 0;
    d->fu_active = 0;
    /* Keep the allocation: the next AU is about as large. */
    d->au.len = 0;
    d->au.err = 0;
}

static int au_buffering(const cg_h264_depack *d)
{
    return !d->au_corrupt && !d->au_oversize;
}

/* Appends to the AU unless it is already lost. 0 or CG_ENOMEM. */
static int au_put(cg_h264_depack *d, const void *p, size_t n)
{
    if (!au_buffering(d))
        return 0;
    cg_dbuf_add(&d->au, p, n);
    if (d->au.err == CG_ENOSPC) {
        d->au_oversize = 1;
        return 0;
    }
    if (d->au.err) {
        d->au_corrupt = 1;
        return CG_ENOMEM;
    }
    return 0;
}

static void mark_corrupt(cg_h264_depack *d)
{
    d->au_corrupt = 1;
    d->fu_active = 0;
}

/* Notes what a NAL unit means for its AU from its first bytes (a whole NAL,
 * or the head of a fragmented one). off: where its start code goes. */
static void note_nal_start(cg_h264_depack *d, const uint8_t *nal, size_t n, size_t off)
{
    int type = nal[0] & 0x1f;
    if (type >= 1 && type <= 5) {
        uint32_t first_mb;
        int slice_type;
        int ok = cg_h264_slice_info(nal, n, &first_mb, &slice_type) == 0;
        if (!d->au_has_vcl) {
            d->au_has_vcl = 1;
            d->au_first_vcl = off;
            d->au_first_mb_known = ok;
            d->au_first_mb = ok ? first_mb : 0;
        }
        if (type == NAL_IDR)
            d->au_has_idr = 1;
        if (ok && cg_h264_slice_is_b(slice_type))
            d->au_has_b = 1;
    } else if (!d->au_has_vcl && type == NAL_SPS) {
        d->au_sps_first = 1;
    } else if (!d->au_has_vcl && type == NAL_PPS) {
        d->au_pps_first = 1;
    }
}

/* Caches a complete SPS or PPS. */
static void note_nal_end(cg_h264_depack *d, const uint8_t *nal, size_t n)
{
    int type = nal[0] & 0x1f;
    if (n > PARAM_MAX)
        return;
    if (type == NAL_SPS) {
        memcpy(d->sps, nal, n);
        d->sps_len = n;
        cg_h264_sps sps;
        if (cg_h264_sps_parse(nal, n, &sps) == 0) {
            d->st.sps = sps;
            d->st.have_sps = 1;
        }
    } else if (type == NAL_PPS) {
        memcpy(d->pps, nal, n);
        d->pps_len = n;
    }
}

/* One whole NAL unit (single-NAL packet or STAP-A member), n >= 1. */
static int take_nal(cg_h264_depack *d, const uint8_t *nal, size_t n)
{
    int type = nal[0] & 0x1f;
    if (type == NAL_AUD)
        return 0; /* we delimit AUs ourselves; muxers add their own */
    if (type == 0 || type >= NAL_STAP_A) {
        d->st.ignored_nals++;
        return 0;
    }
    note_nal_start(d, nal, n, d->au.len);
    note_nal_end(d, nal, n);
    int rc = au_put(d, start_code, sizeof(start_code));
    if (rc == 0)
        rc = au_put(d, nal, n);
    return rc;
}

/* A packet that is not an FU-A continuation ends any FU-A in progress. */
static void fu_interrupted(cg_h264_depack *d)
{
    if (!d->fu_active)
        return;
    d->st.fua_errors++;
    mark_corrupt(d);
}

static int push_stap_a(cg_h264_depack *d, const uint8_t *p, size_t len)
{
    cg_rd r;
    uint16_t size;
    /* Check every size first: a bad aggregate is dropped whole, so no
     * parameter set is cached from a packet we otherwise discard. */
    cg_rd_init(&r, p + 1, len - 1);
    size_t count = 0;
    while (cg_rd_left(&r) > 0) {
        if (cg_rd_u16(&r, &size) || size == 0 || cg_rd_skip(&r, size)) {
            d->st.stap_errors++;
            mark_corrupt(d);
            return 0;
        }
        count++;
    }
    if (count == 0) {
        d->st.stap_errors++;
        mark_corrupt(d);
        return 0;
    }
    cg_rd_init(&r, p + 1, len - 1);
    while (cg_rd_left(&r) > 0) {
        const uint8_t *nal;
        (void)cg_rd_u16(&r, &size);
        (void)cg_rd_ptr(&r, &nal, size);
        int rc = take_nal(d, nal, size);
        if (rc)
            return rc;
    }
    return 0;
}

static int push_fu_a(cg_h264_depack *d, const uint8_t *p, size_t len)
{
    cg_rd r;
    uint8_t ind, fh;
    cg_rd_init(&r, p, len);
    if (cg_rd_u8(&r, &ind) || cg_rd_u8(&r, &fh)) {
        d->st.fua_errors++;
        mark_corrupt(d);
        return 0;
    }
    const uint8_t *frag = cg_rd_cur(&r);
    size_t flen = cg_rd_left(&r);
    int start = fh & 0x80, end = fh & 0x40;
    uint8_t type = fh & 0x1f;
    int rc = 0;

    if (start) {
        fu_interrupted(d);
        if (type == 0 || type >= NAL_STAP_A) {
            d->st.fua_errors++;
            mark_corrupt(d);
            return 0;
        }
        uint8_t head[64];
        head[0] = (uint8_t)((ind & 0xe0) | type);
        size_t hn = flen < sizeof(head) - 1 ? flen : sizeof(head) - 1;
        memcpy(head + 1, frag, hn);
        d->fu_active = 1;
        d->fu_type = type;
        d->fu_keep = type != NAL_AUD;
        d->fu_start = d->au.len;
        if (d->fu_keep) {
            note_nal_start(d, head, hn + 1, d->au.len);
            rc = au_put(d, start_code, sizeof(start_code));
            if (rc == 0)
                rc = au_put(d, head, 1);
        }
    } else if (!d->fu_active || type != d->fu_type) {
        /* After a reported gap this is expected; otherwise the sender or
         * the receiver broke the stream. */
        if (!d->au_corrupt)
            d->st.fua_errors++;
        mark_corrupt(d);
        return 0;
    }
    if (rc == 0 && d->fu_keep)
        rc = au_put(d, frag, flen);
    if (rc == 0 && end) {
        d->fu_active = 0;
        if (d->fu_keep && au_buffering(d)) {
            size_t at = d->fu_start + sizeof(start_code);
            note_nal_end(d, (const uint8_t *)d->au.p + at, d->au.len - at);
        }
    }
    return rc;
}

static int push_payload(cg_h264_depack *d, const uint8_t *p, size_t len)
{
    int type = p[0] & 0x1f;
    if (type == NAL_FU_A)
        return push_fu_a(d, p, len);
    fu_interrupted(d);
    switch (type) {
    case NAL_STAP_A:
        return push_stap_a(d, p, len);
    case NAL_STAP_B:
    case NAL_MTAP16:
    case NAL_MTAP24:
        /* Interleaved mode only, which we never negotiate. */
        d->st.stap_errors++;
        mark_corrupt(d);
        return 0;
    case NAL_FU_B:
        d->st.fua_errors++;
        mark_corrupt(d);
        return 0;
    default:
        return take_nal(d, p, len);
    }
}

/* Builds the frame: the AU with the cached SPS/PPS put just before its
 * first slice when it is an IDR that lacks them. */
static int emit(cg_h264_depack *d, cg_frame **out, size_t *n_out)
{
    int add_sps = d->au_has_idr && !d->au_sps_first && d->sps_len > 0;
    int add_pps = d->au_has_idr && !d->au_pps_first && d->pps_len > 0;
    size_t extra = (add_sps ? sizeof(start_code) + d->sps_len : 0) +
                   (add_pps ? sizeof(start_code) + d->pps_len : 0);
    cg_frame *f;
    if (cg_frame_new(&f, d->au.len + extra)) {
        d->need_idr = 1;
        return CG_ENOMEM;
    }
    cg_wr w;
    cg_wr_init(&w, f->data, f->len);
    cg_wr_bytes(&w, d->au.p, d->au_first_vcl);
    if (add_sps) {
        cg_wr_bytes(&w, start_code, sizeof(start_code));
        cg_wr_bytes(&w, d->sps, d->sps_len);
    }
    if (add_pps) {
        cg_wr_bytes(&w, start_code, sizeof(start_code));
        cg_wr_bytes(&w, d->pps, d->pps_len);
    }
    cg_wr_bytes(&w, d->au.p + d->au_first_vcl, d->au.len - d->au_first_vcl);
    f->kind = CG_MEDIA_VIDEO;
    f->codec = CG_CODEC_H264;
    f->flags = d->au_has_idr ? CG_FRAME_KEY : 0;
    f->timescale = 90000;
    f->pts = f->dts = d->au_ext;
    out[(*n_out)++] = f;
    d->st.frames++;
    if (d->au_has_idr) {
        d->st.keyframes++;
        d->had_idr = 1;
    }
    if (d->au_has_b)
        d->st.bframes++;
    return 0;
}

/* tail_lost: packets were lost between this AU's last packet and the next
 * one, and no marker said the AU was over, so its end may be missing. */
static int close_au(cg_h264_depack *d, int tail_lost, cg_frame **out, size_t *n_out)
{
    if (!d->au_open)
        return 0;
    d->au_open = 0;
    if (d->fu_active) {
        if (!d->au_corrupt && !tail_lost)
            d->st.fua_errors++;
        mark_corrupt(d);
    }
    if (tail_lost)
        mark_corrupt(d);
    if (!d->au_has_vcl && !d->au_corrupt)
        return 0; /* parameter sets or SEI alone: cached, nothing to show */
    if (d->au_stray) {
        /* Slices after the marker: the frame given out lacked them. */
        d->need_idr = 1;
        return 0;
    }
    if (d->au_oversize) {
        d->st.oversize_frames++;
        d->need_idr = 1;
        return 0;
    }
    if (d->au_corrupt) {
        d->st.dropped_frames++;
        d->need_idr = 1;
        return 0;
    }
    if (d->need_idr) {
        if (!d->au_has_idr || !d->au_first_mb_known || d->au_first_mb != 0) {
            if (d->had_idr)
                d->st.dropped_frames++;
            else
                d->st.skipped_frames++;
            return 0;
        }
        d->need_idr = 0;
    }
    return emit(d, out, n_out);
}

int cg_h264_depack_push(cg_h264_depack *d, const uint8_t *payload, size_t len, uint32_t rtp_ts,
                        int marker, int gap_before, cg_frame **out, size_t *n_out)
{
    *n_out = 0;
    d->st.packets++;
    if (len == 0) {
        /* Padding-only packet: carries no media and may reuse any
         * timestamp, so it must not delimit an AU. The gap still counts. */
        if (gap_before) {
            d->need_idr = 1;
            if (d->au_open)
                mark_corrupt(d);
        }
        return 0;
    }
    int64_t ext = cg_rtp_ts_extend(&d->ts, rtp_ts);
    int rc = 0;
    if (d->au_open && rtp_ts != d->au_ts) {
        rc = close_au(d, gap_before, out, n_out);
        d->last_marked = 0;
    }
    if (gap_before) {
        /* Whatever was lost (the end of the last AU, whole AUs, or the
         * start of this one) breaks the reference chain. */
        d->need_idr = 1;
        if (d->au_open)
            mark_corrupt(d);
    }
    if (!d->au_open)
        open_au(d, rtp_ts, ext);
    if (d->au_stray)
        d->st.stray_packets++;
    int rc2 = push_payload(d, payload, len);
    if (rc2)
        rc = rc2;
    /* A corrupt AU is closed by its marker even if the packet that held
     * its first slice was lost: it is dropped either way. */
    if (marker && (d->au_has_vcl || d->au_corrupt)) {
        d->last_marked = 1;
        d->last_marked_ts = rtp_ts;
        rc2 = close_au(d, 0, out, n_out);
        if (rc2)
            rc = rc2;
    }
    return rc;
}

int cg_h264_depack_flush(cg_h264_depack *d, cg_frame **out, size_t *n_out)
{
    *n_out = 0;
    return close_au(d, 0, out, n_out);
}

/* RFC 4648 base64, padding optional, no whitespace. Returns the decoded
 * length or -1. */
static long b64_decode(const char *s, size_t n, uint8_t *dst, size_t cap)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t len = 0, pad = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int v;
        if (c == '=') {
            pad++;
            continue;
        }
        if (pad)
            return -1; /* data after padding */
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '+')
            v = 62;
        else if (c == '/')
            v = 63;
        else
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (len == cap)
                return -1;
            dst[len++] = (uint8_t)(acc >> bits);
        }
    }
    if (pad > 2 || bits >= 6)
        return -1;
    return (long)len;
}

int cg_h264_depack_set_sprop(cg_h264_depack *d, const char *sprop)
{
    uint8_t sps[PARAM_MAX], pps[PARAM_MAX];
    size_t sps_len = 0, pps_len = 0;
    const char *p = sprop;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n > 0) {
            uint8_t nal[PARAM_MAX];
            long got = b64_decode(p, n, nal, sizeof(nal));
            if (got <= 0)
                return CG_EPROTO;
            int type = nal[0] & 0x1f;
            if (type == NAL_SPS) {
                memcpy(sps, nal, (size_t)got);
                sps_len = (size_t)got;
            } else if (type == NAL_PPS) {
                memcpy(pps, nal, (size_t)got);
                pps_len = (size_t)got;
            } else {
                return CG_EPROTO;
            }
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    if (sps_len == 0 && pps_len == 0)
        return CG_EPROTO;
    if (sps_len)
        note_nal_end(d, sps, sps_len);
    if (pps_len)
        note_nal_end(d, pps, pps_len);
    return 0;
}

void cg_h264_depack_get_stats(const cg_h264_depack *d, cg_h264_depack_stats *st)
{
    *st = d->st;
    st->need_keyframe = d->need_idr;
}

int cg_h264_depack_params(const cg_h264_depack *d, const uint8_t **sps, size_t *sps_len,
                          const uint8_t **pps, size_t *pps_len)
{
    if (d->sps_len == 0 || d->pps_len == 0)
        return CG_ENOTFOUND;
    *sps = d->sps;
    *sps_len = d->sps_len;
    *pps = d->pps;
    *pps_len = d->pps_len;
    return 0;
}
