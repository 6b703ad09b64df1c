/* SPS and slice header parsing. Known answers: the SPS of each x264 fixture
 * as ffmpeg's trace_headers bitstream filter decodes it, the picture types
 * ffprobe reports, and SPS units written bit by bit below from the syntax
 * tables of H.264 §7.3.2.1.1 and Annex E.1.1 for the cases x264 never
 * produces (field coding, 4:4:4 cropping, POC type 1, HRD, no VUI). */
#include "cg_test.h"
#include "core/err.h"
#include "h264_annexb.h"
#include "ingest/h264_sps.h"

static void check_fixture_sps(const char *rel, const cg_h264_sps *want)
{
    tstream s;
    CHECK_INT(tstream_load(&s, rel), 0);
    const tnal *t = tstream_find(&s, 7);
    CHECK(t != NULL);
    if (!t) {
        tstream_free(&s);
        return;
    }
    cg_h264_sps got;
    CHECK_INT(cg_h264_sps_parse(t->p, t->len, &got), 0);
    CHECK_INT(got.profile_idc, want->profile_idc);
    CHECK_INT(got.constraint_flags, want->constraint_flags);
    CHECK_INT(got.level_idc, want->level_idc);
    CHECK_INT(got.sps_id, want->sps_id);
    CHECK_INT(got.width, want->width);
    CHECK_INT(got.height, want->height);
    CHECK_INT(got.coded_width, want->coded_width);
    CHECK_INT(got.coded_height, want->coded_height);
    CHECK_INT(got.num_ref_frames, want->num_ref_frames);
    CHECK_INT(got.frame_mbs_only, want->frame_mbs_only);
    CHECK_INT(got.has_timing, want->has_timing);
    CHECK_INT(got.num_units_in_tick, want->num_units_in_tick);
    CHECK_INT(got.time_scale, want->time_scale);
    CHECK_INT(got.max_num_reorder_frames, want->max_num_reorder_frames);
    CHECK_INT(got.chroma_format_idc, 1);
    CHECK_INT(got.bit_depth_luma, 8);

    /* Every cut of a real SPS is either refused as truncated or, once the
     * mandatory part is in, accepted with the VUI read so far. */
    for (size_t n = 0; n < t->len; n++) {
        cg_h264_sps part;
        int rc = cg_h264_sps_parse(t->p, n, &part);
        CHECK(rc == CG_ETRUNC || rc == 0);
        if (rc == 0)
            CHECK_INT(part.width, want->width);
    }
    tstream_free(&s);
}

static void test_fixture_sps(void)
{
    /* 640x360 constrained baseline: 368 coded lines, bottom crop 4 x 2. */
    cg_h264_sps base = {.profile_idc = 66, .constraint_flags = 0xc0, .level_idc = 30,
                        .width = 640, .height = 360, .coded_width = 640, .coded_height = 368,
                        .num_ref_frames = 3, .frame_mbs_only = 1, .has_timing = 1,
                        .num_units_in_tick = 1, .time_scale = 60, .max_num_reorder_frames = 0};
    check_fixture_sps("tests/fixtures/h264/baseline_640x360.h264", &base);
    check_fixture_sps("tests/fixtures/h264/slices4_640x360.h264", &base);
    cg_h264_sps high = {.profile_idc = 100, .constraint_flags = 0, .level_idc = 31,
                        .width = 1280, .height = 720, .coded_width = 1280, .coded_height = 720,
                        .num_ref_frames = 4, .frame_mbs_only = 1, .has_timing = 1,
                        .num_units_in_tick = 1, .time_scale = 60, .max_num_reorder_frames = 2};
    check_fixture_sps("tests/fixtures/h264/high_bf2_1280x720.h264", &high);
    cg_h264_sps main = {.profile_idc = 77, .constraint_flags = 0x40, .level_idc = 40,
                        .width = 1920, .height = 1080, .coded_width = 1920, .coded_height = 1088,
                        .num_ref_frames = 4, .frame_mbs_only = 1, .has_timing = 1,
                        .num_units_in_tick = 1, .time_scale = 50, .max_num_reorder_frames = 2};
    check_fixture_sps("tests/fixtures/h264/main_1920x1080.h264", &main);
}

/* Counts pictures by the type of their first slice; ffprobe's answers for
 * these files: baseline 2 I + 58 P, high 1 I + 14 P + 15 B, 1080p 1 I +
 * 1 P + 3 B. */
static void count_types(const char *rel, int *i_out, int *p_out, int *b_out)
{
    tstream s;
    *i_out = *p_out = *b_out = 0;
    CHECK_INT(tstream_load(&s, rel), 0);
    for (size_t a = 0; a < s.n_au; a++) {
        for (size_t k = s.au[a].first; k < s.au[a].first + s.au[a].count; k++) {
            const tnal *t = &s.nal[k];
            if (t->type != 1 && t->type != 5)
                continue;
            int st = -1;
            CHECK_INT(cg_h264_slice_type(t->p, t->len, &st), 0);
            if (t->type == 5)
                CHECK(st == 2 || st == 7);
            if (st % 5 == 2)
                (*i_out)++;
            else if (st % 5 == 0)
                (*p_out)++;
            else if (cg_h264_slice_is_b(st))
                (*b_out)++;
            break;
        }
    }
    tstream_free(&s);
}

static void test_slice_types(void)
{
    int i, p, b;
    count_types("tests/fixtures/h264/baseline_640x360.h264", &i, &p, &b);
    CHECK_INT(i, 2);
    CHECK_INT(p, 58);
    CHECK_INT(b, 0);
    count_types("tests/fixtures/h264/high_bf2_1280x720.h264", &i, &p, &b);
    CHECK_INT(i, 1);
    CHECK_INT(p, 14);
    CHECK_INT(b, 15);
    count_types("tests/fixtures/h264/main_1920x1080.h264", &i, &p, &b);
    CHECK_INT(i, 1);
    CHECK_INT(p, 1);
    CHECK_INT(b, 3);

    /* Every slice of the 4-slice stream: x264 cuts the 23 rows of 40
     * macroblocks at rows 6, 12 and 17 (trace_headers: 0, 240, 480, 680). */
    static const uint32_t first_mbs[4] = {0, 240, 480, 680};
    tstream s;
    CHECK_INT(tstream_load(&s, "tests/fixtures/h264/slices4_640x360.h264"), 0);
    CHECK_INT(s.n_au, 30);
    size_t slices = 0;
    for (size_t k = 0; k < s.n_nal; k++) {
        if (s.nal[k].type != 1 && s.nal[k].type != 5)
            continue;
        uint32_t mb = 9999;
        int st;
        CHECK_INT(cg_h264_slice_info(s.nal[k].p, s.nal[k].len, &mb, &st), 0);
        CHECK_INT(mb, first_mbs[slices % 4]);
        slices++;
    }
    CHECK_INT(slices, 120);
    tstream_free(&s);

    int st;
    static const uint8_t not_slice[] = {0x67, 0x42};
    static const uint8_t cut[] = {0x65};
    static const uint8_t type10[] = {0x41, 0x8b, 0x80}; /* ue 0, ue 10 */
    static const uint8_t type9[] = {0x41, 0x8a, 0x80};  /* ue 0, ue 9: SI */
    CHECK_INT(cg_h264_slice_type(not_slice, sizeof(not_slice), &st), CG_EPROTO);
    CHECK_INT(cg_h264_slice_type(cut, sizeof(cut), &st), CG_ETRUNC);
    CHECK_INT(cg_h264_slice_type(type10, sizeof(type10), &st), CG_EPROTO);
    CHECK_INT(cg_h264_slice_type(type9, sizeof(type9), &st), 0);
    CHECK_INT(st, 9);
}

/* Bit writer producing a NAL unit: RBSP bits, stop bit, then emulation
 * prevention (§7.4.1), independently of the parser's reader. */
typedef struct bw {
    uint8_t rbsp[512];
    size_t bits;
} bw;

static void bw_u(bw *w, int n, uint64_t v)
{
    for (int i = n - 1; i >= 0; i--) {
        if ((v >> i) & 1)
            w->rbsp[w->bits / 8] |= (uint8_t)(0x80 >> (w->bits % 8));
        w->bits++;
    }
}

static void bw_ue(bw *w, uint32_t v)
{
    uint64_t x = (uint64_t)v + 1;
    int len = 0;
    while ((x >> len) > 1)
        len++;
    bw_u(w, len, 0);
    bw_u(w, len + 1, x);
}

static void bw_se(bw *w, int32_t v)
{
    bw_ue(w, v > 0 ? (uint32_t)(2 * v - 1) : (uint32_t)(-2 * (int64_t)v));
}

static size_t bw_nal(bw *w, uint8_t *out)
{
    bw_u(w, 1, 1);
    while (w->bits % 8)
        w->bits++;
    size_t n = 0, zeros = 0;
    for (size_t i = 0; i < w->bits / 8; i++) {
        uint8_t b = w->rbsp[i];
        if (zeros >= 2 && b <= 3) {
            out[n++] = 3;
            zeros = 0;
        }
        out[n++] = b;
        zeros = b == 0 ? zeros + 1 : 0;
    }
    return n;
}

static int has_epb(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 2 < n; i++)
        if (p[i] == 0 && p[i + 1] == 0 && p[i + 2] == 3)
            return 1;
    return 0;
}

/* 1080i main-style SPS: field coded (68 macroblock rows in 34 map-unit
 * pairs), bottom crop 2 in units of 4 lines, POC type 1, no VUI. */
static size_t build_interlaced(uint8_t *out, uint32_t sps_id, uint32_t poc_type, uint32_t w_mbs_minus1,
                               uint32_t crop_bottom)
{
    bw w;
    memset(&w, 0, sizeof(w));
    bw_u(&w, 8, 0x67);
    bw_u(&w, 8, 77);   /* profile_idc: main */
    bw_u(&w, 8, 0x00); /* constraint flags */
    bw_u(&w, 8, 41);   /* level_idc */
    bw_ue(&w, sps_id);
    bw_ue(&w, 0); /* log2_max_frame_num_minus4 */
    bw_ue(&w, poc_type);
    if (poc_type == 0)
        bw_ue(&w, 2); /* log2_max_pic_order_cnt_lsb_minus4 */
    if (poc_type == 1) {
        bw_u(&w, 1, 0); /* delta_pic_order_always_zero_flag */
        bw_se(&w, -2);  /* offset_for_non_ref_pic */
        bw_se(&w, 1);   /* offset_for_top_to_bottom_field */
        bw_ue(&w, 3);   /* num_ref_frames_in_pic_order_cnt_cycle */
        bw_se(&w, 4);
        bw_se(&w, -4);
        bw_se(&w, 100);
    }
    bw_ue(&w, 2); /* max_num_ref_frames */
    bw_u(&w, 1, 0);
    bw_ue(&w, w_mbs_minus1);
    bw_ue(&w, 33); /* pic_height_in_map_units_minus1 */
    bw_u(&w, 1, 0); /* frame_mbs_only_flag */
    bw_u(&w, 1, 1); /* mb_adaptive_frame_field_flag */
    bw_u(&w, 1, 1); /* direct_8x8_inference_flag */
    bw_u(&w, 1, 1); /* frame_cropping_flag */
    bw_ue(&w, 0);
    bw_ue(&w, 0);
    bw_ue(&w, 0);
    bw_ue(&w, crop_bottom);
    bw_u(&w, 1, 0); /* vui_parameters_present_flag */
    return bw_nal(&w, out);
}

static void test_built_interlaced(void)
{
    uint8_t nal[600];
    size_t n = build_interlaced(nal, 5, 1, 119, 2);
    cg_h264_sps s;
    CHECK_INT(cg_h264_sps_parse(nal, n, &s), 0);
    CHECK_INT(s.sps_id, 5);
    CHECK_INT(s.profile_idc, 77);
    CHECK_INT(s.level_idc, 41);
    CHECK_INT(s.frame_mbs_only, 0);
    CHECK_INT(s.coded_width, 1920);
    CHECK_INT(s.coded_height, 1088);
    CHECK_INT(s.width, 1920);
    CHECK_INT(s.height, 1080);
    CHECK_INT(s.num_ref_frames, 2);
    CHECK_INT(s.has_timing, 0);
    CHECK_INT(s.max_num_reorder_frames, -1);
    CHECK_INT(s.sar_num, 0);
    /* Without a VUI nothing is optional: every cut is truncation. */
    for (size_t k = 0; k < n; k++)
        CHECK_INT(cg_h264_sps_parse(nal, k, &s), CG_ETRUNC);

    CHECK_INT(cg_h264_sps_parse(nal, build_interlaced(nal, 32, 0, 119, 2), &s), CG_EPROTO);
    CHECK_INT(cg_h264_sps_parse(nal, build_interlaced(nal, 0, 3, 119, 2), &s), CG_EPROTO);
    /* Crop of 272 * 4 lines swallows the picture. */
    CHECK_INT(cg_h264_sps_parse(nal, build_interlaced(nal, 0, 0, 119, 272), &s), CG_EPROTO);
    CHECK_INT(cg_h264_sps_parse(nal, build_interlaced(nal, 0, 0, 119, 271), &s), 0);
    CHECK_INT(s.height, 4);
    /* 1024 macroblocks wide is the limit; one more is refused. */
    CHECK_INT(cg_h264_sps_parse(nal, build_interlaced(nal, 0, 0, 1023, 0), &s), 0);
    CHECK_INT(s.width, 16384);
    CHECK_INT(cg_h264_sps_parse(nal, build_interlaced(nal, 0, 0, 1024, 0), &s), CG_EUNSUPP);
    /* A ue(v) with 32 leading zeros cannot be valid. */
    CHECK_INT(cg_h264_sps_parse(nal, build_interlaced(nal, 0, 0, 0xffffffffu, 0), &s), CG_EPROTO);

    n = build_interlaced(nal, 0, 0, 119, 2);
    nal[0] = 0x68; /* a PPS */
    CHECK_INT(cg_h264_sps_parse(nal, n, &s), CG_EPROTO);
    nal[0] = 0xe7; /* forbidden_zero_bit set */
    CHECK_INT(cg_h264_sps_parse(nal, n, &s), CG_EPROTO);
}

/* High 4:4:4 10-bit SPS with scaling lists, 1919x1080 (crop units of one
 * pixel in 4:4:4), and a VUI with every optional part. */
static size_t build_444(uint8_t *out, size_t *vui_byte)
{
    bw w;
    memset(&w, 0, sizeof(w));
    bw_u(&w, 8, 0x67);
    bw_u(&w, 8, 244);
    bw_u(&w, 8, 0x00);
    bw_u(&w, 8, 51);
    bw_ue(&w, 1);   /* sps_id */
    bw_ue(&w, 3);   /* chroma_format_idc 4:4:4 */
    bw_u(&w, 1, 0); /* separate_colour_plane_flag */
    bw_ue(&w, 2);   /* bit_depth_luma_minus8 */
    bw_ue(&w, 2);   /* bit_depth_chroma_minus8 */
    bw_u(&w, 1, 0); /* qpprime_y_zero_transform_bypass_flag */
    bw_u(&w, 1, 1); /* seq_scaling_matrix_present_flag: 12 lists in 4:4:4 */
    for (int i = 0; i < 12; i++) {
        int present = i == 0 || i == 7 || i == 11;
        bw_u(&w, 1, (uint64_t)present);
        if (!present)
            continue;
        int size = i < 6 ? 16 : 64;
        if (i == 7) {
            bw_se(&w, -8); /* nextScale 0 at once: use the default list */
            continue;
        }
        for (int j = 0; j < size; j++)
            bw_se(&w, j % 2 ? 3 : -2);
    }
    bw_ue(&w, 4);   /* log2_max_frame_num_minus4 */
    bw_ue(&w, 2);   /* pic_order_cnt_type */
    bw_ue(&w, 4);   /* max_num_ref_frames */
    bw_u(&w, 1, 0);
    bw_ue(&w, 119); /* 1920 */
    bw_ue(&w, 67);  /* 1088 */
    bw_u(&w, 1, 1); /* frame_mbs_only_flag */
    bw_u(&w, 1, 1);
    bw_u(&w, 1, 1); /* frame_cropping_flag */
    bw_ue(&w, 0);
    bw_ue(&w, 1);   /* right: 1 pixel */
    bw_ue(&w, 0);
    bw_ue(&w, 8);   /* bottom: 8 lines */
    bw_u(&w, 1, 1); /* vui_parameters_present_flag */
    *vui_byte = (w.bits - 1) / 8; /* the byte holding the flag */
    bw_u(&w, 1, 1);   /* aspect_ratio_info_present_flag */
    bw_u(&w, 8, 255); /* Extended_SAR */
    bw_u(&w, 16, 4);
    bw_u(&w, 16, 3);
    bw_u(&w, 1, 1); /* overscan_info_present_flag */
    bw_u(&w, 1, 0);
    bw_u(&w, 1, 1); /* video_signal_type_present_flag */
    bw_u(&w, 3, 5);
    bw_u(&w, 1, 1);
    bw_u(&w, 1, 1); /* colour_description_present_flag */
    bw_u(&w, 8, 9);
    bw_u(&w, 8, 16);
    bw_u(&w, 8, 9);
    bw_u(&w, 1, 1); /* chroma_loc_info_present_flag */
    bw_ue(&w, 2);
    bw_ue(&w, 2);
    bw_u(&w, 1, 1); /* timing_info_present_flag */
    bw_u(&w, 32, 1); /* 31 zero bits: the NAL needs an escape */
    bw_u(&w, 32, 120000);
    bw_u(&w, 1, 1);
    bw_u(&w, 1, 1); /* nal_hrd_parameters_present_flag */
    bw_ue(&w, 1);   /* cpb_cnt_minus1: two schedules */
    bw_u(&w, 4, 2);
    bw_u(&w, 4, 3);
    for (int i = 0; i < 2; i++) {
        bw_ue(&w, 5000 * (uint32_t)(i + 1));
        bw_ue(&w, 8000);
        bw_u(&w, 1, (uint64_t)i);
    }
    bw_u(&w, 5, 23);
    bw_u(&w, 5, 23);
    bw_u(&w, 5, 23);
    bw_u(&w, 5, 24);
    bw_u(&w, 1, 0); /* vcl_hrd_parameters_present_flag */
    bw_u(&w, 1, 0); /* low_delay_hrd_flag */
    bw_u(&w, 1, 0); /* pic_struct_present_flag */
    bw_u(&w, 1, 1); /* bitstream_restriction_flag */
    bw_u(&w, 1, 1);
    bw_ue(&w, 2);
    bw_ue(&w, 1);
    bw_ue(&w, 16);
    bw_ue(&w, 16);
    bw_ue(&w, 3); /* max_num_reorder_frames */
    bw_ue(&w, 4); /* max_dec_frame_buffering */
    return bw_nal(&w, out);
}

static void test_built_444(void)
{
    uint8_t nal[600];
    size_t vui_byte;
    size_t n = build_444(nal, &vui_byte);
    CHECK(has_epb(nal, n));
    cg_h264_sps s;
    CHECK_INT(cg_h264_sps_parse(nal, n, &s), 0);
    CHECK_INT(s.profile_idc, 244);
    CHECK_INT(s.sps_id, 1);
    CHECK_INT(s.chroma_format_idc, 3);
    CHECK_INT(s.bit_depth_luma, 10);
    CHECK_INT(s.bit_depth_chroma, 10);
    CHECK_INT(s.width, 1919);
    CHECK_INT(s.height, 1080);
    CHECK_INT(s.num_ref_frames, 4);
    CHECK_INT(s.sar_num, 4);
    CHECK_INT(s.sar_den, 3);
    CHECK_INT(s.has_timing, 1);
    CHECK_INT(s.num_units_in_tick, 1);
    CHECK_INT(s.time_scale, 120000);
    CHECK_INT(s.max_num_reorder_frames, 3);

    /* A VUI cut short keeps what it read: the picture size always, the
     * SAR once past it, timing never half. */
    CHECK(!has_epb(nal, vui_byte + 1)); /* so RBSP and NAL offsets agree there */
    for (size_t k = 0; k < n; k++) {
        cg_h264_sps part;
        int rc = cg_h264_sps_parse(nal, k, &part);
        if (k <= vui_byte) {
            CHECK_INT(rc, CG_ETRUNC);
            continue;
        }
        CHECK_INT(rc, 0);
        CHECK_INT(part.width, 1919);
        CHECK(part.has_timing == 0 || (part.num_units_in_tick == 1 && part.time_scale == 120000));
        CHECK(part.max_num_reorder_frames == -1 || part.max_num_reorder_frames == 3);
    }
    /* A delta_scale outside -128..127 is invalid. */
    bw w;
    memset(&w, 0, sizeof(w));
    bw_u(&w, 8, 0x67);
    bw_u(&w, 8, 100);
    bw_u(&w, 16, 0x001f);
    bw_ue(&w, 0);
    bw_ue(&w, 1);
    bw_ue(&w, 0);
    bw_ue(&w, 0);
    bw_u(&w, 1, 0);
    bw_u(&w, 1, 1); /* scaling matrix */
    bw_u(&w, 1, 1); /* list 0 present */
    bw_se(&w, 128);
    n = bw_nal(&w, nal);
    CHECK_INT(cg_h264_sps_parse(nal, n, &s), CG_EPROTO);
}

int main(void)
{
    RUN(test_fixture_sps);
    RUN(test_slice_types);
    RUN(test_built_interlaced);
    RUN(test_built_444);
    return TEST_RESULT();
}
