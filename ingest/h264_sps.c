#include "ingest/h264_sps.h"

#include <string.h>

#include "core/buf.h"
#include "core/err.h"

/* Exp-Golomb bit reader over the byte reader of core/buf.h. It drops the
 * emulation-prevention byte of every 00 00 03 sequence as it goes, so the
 * parsers below see the RBSP without a copy. */
typedef struct bitrd {
    cg_rd rd;
    uint8_t cur;  /* byte being consumed */
    int left;     /* bits of cur not yet consumed */
    int zeros;    /* zero bytes just read, for emulation prevention */
} bitrd;

static void br_init(bitrd *b, const uint8_t *p, size_t n)
{
    cg_rd_init(&b->rd, p, n);
    b->cur = 0;
    b->left = 0;
    b->zeros = 0;
}

static int br_next_byte(bitrd *b)
{
    uint8_t x;
    int rc = cg_rd_u8(&b->rd, &x);
    if (rc)
        return rc;
    if (b->zeros >= 2 && x == 0x03) {
        b->zeros = 0;
        rc = cg_rd_u8(&b->rd, &x);
        if (rc)
            return rc;
    }
    b->zeros = x == 0 ? b->zeros + 1 : 0;
    b->cur = x;
    b->left = 8;
    return 0;
}

static int br_bit(bitrd *b, uint32_t *v)
{
    if (b->left == 0) {
        int rc = br_next_byte(b);
        if (rc)
            return rc;
    }
    b->left--;
    *v = (b->cur >> b->left) & 1u;
    return 0;
}

/* u(n), n <= 32 */
static int br_u(bitrd *b, int n, uint32_t *v)
{
    uint32_t acc = 0;
    for (int i = 0; i < n; i++) {
        uint32_t bit;
        int rc = br_bit(b, &bit);
        if (rc)
            return rc;
        acc = (acc << 1) | bit;
    }
    *v = acc;
    return 0;
}

static int br_flag(bitrd *b, int *v)
{
    uint32_t bit;
    int rc = br_bit(b, &bit);
    if (rc == 0)
        *v = (int)bit;
    return rc;
}

/* ue(v) per §9.1; codes longer than 32 bits cannot be valid in any field. */
static int br_ue(bitrd *b, uint32_t *v)
{
    int lz = 0;
    for (;;) {
        uint32_t bit;
        int rc = br_bit(b, &bit);
        if (rc)
            return rc;
        if (bit)
            break;
        if (++lz > 31)
            return CG_EPROTO;
    }
    uint32_t rest;
    int rc = br_u(b, lz, &rest);
    if (rc)
        return rc;
    *v = (uint32_t)(((uint64_t)1 << lz) - 1 + rest);
    return 0;
}

static int br_se(bitrd *b, int32_t *v)
{
    uint32_t k;
    int rc = br_ue(b, &k);
    if (rc)
        return rc;
    *v = (k & 1) ? (int32_t)((k >> 1) + 1) : -(int32_t)(k >> 1);
    return 0;
}

/* ue(v) with an upper bound: a larger value is a protocol error. */
static int br_ue_max(bitrd *b, uint32_t max, uint32_t *v)
{
    int rc = br_ue(b, v);
    if (rc == 0 && *v > max)
        return CG_EPROTO;
    return rc;
}

#define TRY(x)                                                                \
    do {                                                                      \
        int rc_ = (x);                                                        \
        if (rc_)                                                              \
            return rc_;                                                       \
    } while (0)

static int skip_scaling_list(bitrd *b, int size)
{
    int32_t last = 8, next = 8;
    for (int j = 0; j < size; j++) {
        if (next != 0) {
            int32_t delta;
            TRY(br_se(b, &delta));
            if (delta < -128 || delta > 127)
                return CG_EPROTO;
            next = (last + delta + 256) % 256;
        }
        if (next != 0)
            last = next;
    }
    return 0;
}

static int skip_hrd(bitrd *b)
{
    uint32_t cpb_cnt_minus1, v;
    TRY(br_ue_max(b, 31, &cpb_cnt_minus1));
    TRY(br_u(b, 8, &v)); /* bit_rate_scale, cpb_size_scale */
    for (uint32_t i = 0; i <= cpb_cnt_minus1; i++) {
        TRY(br_ue(b, &v)); /* bit_rate_value_minus1 */
        TRY(br_ue(b, &v)); /* cpb_size_value_minus1 */
        TRY(br_u(b, 1, &v)); /* cbr_flag */
    }
    return br_u(b, 20, &v); /* four 5-bit delay and offset lengths */
}

/* Annex E.1.1. Fields land in *s as soon as they are complete, so a VUI cut
 * short still leaves what was read. */
static int parse_vui(bitrd *b, cg_h264_sps *s)
{
    int flag;
    uint32_t v;
    TRY(br_flag(b, &flag)); /* aspect_ratio_info_present_flag */
    if (flag) {
        /* Table E-1: sample aspect ratios for aspect_ratio_idc 1..16. */
        static const uint8_t sar[17][2] = {
            {0, 0},    {1, 1},   {12, 11}, {10, 11}, {16, 11}, {40, 33},
            {24, 11},  {20, 11}, {32, 11}, {80, 33}, {18, 11}, {15, 11},
            {64, 33},  {160, 99}, {4, 3},  {3, 2},   {2, 1},
        };
        uint32_t idc;
        TRY(br_u(b, 8, &idc));
        if (idc == 255) {
            uint32_t w, h;
            TRY(br_u(b, 16, &w));
            TRY(br_u(b, 16, &h));
            s->sar_num = w;
            s->sar_den = h;
        } else if (idc < 17) {
            s->sar_num = sar[idc][0];
            s->sar_den = sar[idc][1];
        }
    }
    TRY(br_flag(b, &flag)); /* overscan_info_present_flag */
    if (flag)
        TRY(br_u(b, 1, &v));
    TRY(br_flag(b, &flag)); /* video_signal_type_present_flag */
    if (flag) {
        TRY(br_u(b, 4, &v)); /* video_format, video_full_range_flag */
        TRY(br_flag(b, &flag)); /* colour_description_present_flag */
        if (flag)
            TRY(br_u(b, 24, &v));
    }
    TRY(br_flag(b, &flag)); /* chroma_loc_info_present_flag */
    if (flag) {
        TRY(br_ue(b, &v));
        TRY(br_ue(b, &v));
    }
    TRY(br_flag(b, &flag)); /* timing_info_present_flag */
    if (flag) {
        uint32_t units, scale;
        TRY(br_u(b, 32, &units));
        TRY(br_u(b, 32, &scale));
        TRY(br_u(b, 1, &v)); /* fixed_frame_rate_flag */
        s->has_timing = 1;
        s->num_units_in_tick = units;
        s->time_scale = scale;
    }
    int nal_hrd, vcl_hrd;
    TRY(br_flag(b, &nal_hrd));
    if (nal_hrd)
        TRY(skip_hrd(b));
    TRY(br_flag(b, &vcl_hrd));
    if (vcl_hrd)
        TRY(skip_hrd(b));
    if (nal_hrd || vcl_hrd)
        TRY(br_u(b, 1, &v)); /* low_delay_hrd_flag */
    TRY(br_u(b, 1, &v)); /* pic_struct_present_flag */
    TRY(br_flag(b, &flag)); /* bitstream_restriction_flag */
    if (flag) {
        uint32_t reorder;
        TRY(br_u(b, 1, &v)); /* motion_vectors_over_pic_boundaries_flag */
        for (int i = 0; i < 4; i++)
            TRY(br_ue(b, &v)); /* bytes/pic, bits/mb, log2 max mv h/v */
        TRY(br_ue_max(b, 16, &reorder));
        TRY(br_ue_max(b, 16, &v)); /* max_dec_frame_buffering */
        s->max_num_reorder_frames = (int)reorder;
    }
    return 0;
}

/* Profiles whose SPS carries chroma format, bit depth and scaling lists. */
static int profile_has_chroma_info(uint8_t p)
{
    static const uint8_t high[] = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135};
    for (size_t i = 0; i < sizeof(high); i++)
        if (high[i] == p)
            return 1;
    return 0;
}

/* 16384 pixels either way is beyond every level of the spec (level 6.2
 * allows 8704 x 8704 at most); it also keeps the size arithmetic small. */
#define MAX_MBS 1024u

int cg_h264_sps_parse(const uint8_t *nal, size_t n, cg_h264_sps *out)
{
    cg_h264_sps s;
    memset(&s, 0, sizeof(s));
    s.max_num_reorder_frames = -1;
    s.chroma_format_idc = 1;
    s.bit_depth_luma = s.bit_depth_chroma = 8;

    cg_rd r;
    cg_rd_init(&r, nal, n);
    uint8_t hdr;
    TRY(cg_rd_u8(&r, &hdr));
    if ((hdr & 0x80) || (hdr & 0x1f) != 7)
        return CG_EPROTO;
    TRY(cg_rd_u8(&r, &s.profile_idc));
    TRY(cg_rd_u8(&r, &s.constraint_flags));
    TRY(cg_rd_u8(&r, &s.level_idc));

    bitrd b;
    br_init(&b, cg_rd_cur(&r), cg_rd_left(&r));
    uint32_t v;
    int flag;
    TRY(br_ue_max(&b, 31, &s.sps_id));
    int separate_colour_plane = 0;
    if (profile_has_chroma_info(s.profile_idc)) {
        TRY(br_ue_max(&b, 3, &s.chroma_format_idc));
        if (s.chroma_format_idc == 3)
            TRY(br_flag(&b, &separate_colour_plane));
        TRY(br_ue_max(&b, 6, &v));
        s.bit_depth_luma = v + 8;
        TRY(br_ue_max(&b, 6, &v));
        s.bit_depth_chroma = v + 8;
        TRY(br_u(&b, 1, &v)); /* qpprime_y_zero_transform_bypass_flag */
        TRY(br_flag(&b, &flag)); /* seq_scaling_matrix_present_flag */
        if (flag) {
            int lists = s.chroma_format_idc != 3 ? 8 : 12;
            for (int i = 0; i < lists; i++) {
                int present;
                TRY(br_flag(&b, &present));
                if (present)
                    TRY(skip_scaling_list(&b, i < 6 ? 16 : 64));
            }
        }
    }
    TRY(br_ue_max(&b, 12, &v)); /* log2_max_frame_num_minus4 */
    uint32_t poc_type;
    TRY(br_ue_max(&b, 2, &poc_type));
    if (poc_type == 0) {
        TRY(br_ue_max(&b, 12, &v)); /* log2_max_pic_order_cnt_lsb_minus4 */
    } else if (poc_type == 1) {
        int32_t sv;
        uint32_t cycle;
        TRY(br_u(&b, 1, &v)); /* delta_pic_order_always_zero_flag */
        TRY(br_se(&b, &sv));  /* offset_for_non_ref_pic */
        TRY(br_se(&b, &sv));  /* offset_for_top_to_bottom_field */
        TRY(br_ue_max(&b, 255, &cycle));
        for (uint32_t i = 0; i < cycle; i++)
            TRY(br_se(&b, &sv));
    }
    TRY(br_ue_max(&b, 16, &s.num_ref_frames));
    TRY(br_u(&b, 1, &v)); /* gaps_in_frame_num_value_allowed_flag */
    uint32_t w_mbs, h_units;
    TRY(br_ue(&b, &w_mbs));
    TRY(br_ue(&b, &h_units));
    TRY(br_flag(&b, &s.frame_mbs_only));
    if (!s.frame_mbs_only)
        TRY(br_u(&b, 1, &v)); /* mb_adaptive_frame_field_flag */
    TRY(br_u(&b, 1, &v)); /* direct_8x8_inference_flag */
    uint32_t crop[4] = {0, 0, 0, 0}; /* left, right, top, bottom */
    TRY(br_flag(&b, &flag));
    if (flag)
        for (int i = 0; i < 4; i++)
            TRY(br_ue(&b, &crop[i]));
    int vui_present;
    TRY(br_flag(&b, &vui_present));

    /* Sizes (§7.4.2.1.1): ue values fit 32 bits, so bound them before any
     * multiplication. Field-coded streams count map units of two rows. */
    uint64_t w = (uint64_t)w_mbs + 1;
    uint64_t h = ((uint64_t)h_units + 1) * (s.frame_mbs_only ? 1 : 2);
    if (w > MAX_MBS || h > MAX_MBS)
        return CG_EUNSUPP;
    s.coded_width = (uint32_t)w * 16;
    s.coded_height = (uint32_t)h * 16;
    uint32_t chroma_array_type = separate_colour_plane ? 0 : s.chroma_format_idc;
    uint64_t cux = 1, cuy = s.frame_mbs_only ? 1 : 2;
    if (chroma_array_type == 1 || chroma_array_type == 2)
        cux = 2;
    if (chroma_array_type == 1)
        cuy *= 2;
    uint64_t crop_w = ((uint64_t)crop[0] + crop[1]) * cux;
    uint64_t crop_h = ((uint64_t)crop[2] + crop[3]) * cuy;
    if (crop_w >= s.coded_width || crop_h >= s.coded_height)
        return CG_EPROTO;
    s.width = s.coded_width - (uint32_t)crop_w;
    s.height = s.coded_height - (uint32_t)crop_h;

    if (vui_present) {
        int rc = parse_vui(&b, &s);
        if (rc && rc != CG_ETRUNC)
            return rc;
    }
    *out = s;
    return 0;
}

int cg_h264_slice_info(const uint8_t *nal, size_t n, uint32_t *first_mb, int *slice_type)
{
    cg_rd r;
    cg_rd_init(&r, nal, n);
    uint8_t hdr;
    TRY(cg_rd_u8(&r, &hdr));
    int type = hdr & 0x1f;
    if (type != 1 && type != 5)
        return CG_EPROTO;
    bitrd b;
    br_init(&b, cg_rd_cur(&r), cg_rd_left(&r));
    uint32_t mb, st;
    TRY(br_ue(&b, &mb));
    TRY(br_ue_max(&b, 9, &st));
    if (first_mb)
        *first_mb = mb;
    if (slice_type)
        *slice_type = (int)st;
    return 0;
}

int cg_h264_slice_type(const uint8_t *nal, size_t n, int *slice_type)
{
    return cg_h264_slice_info(nal, n, NULL, slice_type);
}
