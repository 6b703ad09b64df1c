/* H.264 bitstream headers (ITU-T H.264 §7.3.2.1, §7.3.3, Annex E): the
 * sequence parameter set and the first fields of a slice header.
 *
 * Ingest needs the SPS for three things: the display size and level to
 * report and to build avcC, the VUI timing, and max_num_reorder_frames to
 * tell a broadcaster that B-frames are on. Pure functions, no allocation.
 * Input NAL units are as they travel (emulation-prevention bytes still in
 * place); the reader removes them on the fly. */
#ifndef CG_H264_SPS_H
#define CG_H264_SPS_H

#include <stddef.h>
#include <stdint.h>

typedef struct cg_h264_sps {
    uint8_t profile_idc, constraint_flags, level_idc;
    uint32_t sps_id, width, height; /* cropped display size */
    uint32_t num_ref_frames;
    int frame_mbs_only;
    int has_timing; /* VUI timing_info_present_flag */
    uint32_t num_units_in_tick, time_scale;
    int max_num_reorder_frames; /* -1 if not signalled; > 0 means B-frames possible */
    /* Added: what a muxer or decoder configuration also needs. */
    uint32_t chroma_format_idc;   /* 1 (4:2:0) unless a high profile says otherwise */
    uint32_t bit_depth_luma, bit_depth_chroma;
    uint32_t coded_width, coded_height; /* before cropping */
    uint32_t sar_num, sar_den;    /* sample aspect ratio, 0/0 if not signalled */
} cg_h264_sps;

/* nal: one SPS NAL unit without start code (header byte included),
 * emulation-prevention bytes still in place. Borrows nal; fills *out only
 * on success.
 * Returns 0, CG_ETRUNC (ends before the last mandatory field), CG_EPROTO
 * (not an SPS, or a value outside its range), CG_EUNSUPP (valid but beyond
 * what we handle: pictures wider or taller than 16384 pixels).
 * A VUI cut short is tolerated (some encoders write one): the VUI fields
 * read so far are kept, the rest stay at their defaults. */
int cg_h264_sps_parse(const uint8_t *nal, size_t n, cg_h264_sps *out);

/* slice_type of a slice NAL (types 1 and 5): 0..9 per the spec (P=0/5,
 * B=1/6, I=2/7, SP=3/8, SI=4/9); used to warn about B-frames. Borrows nal.
 * Returns 0, CG_ETRUNC, CG_EPROTO (not a slice, or slice_type > 9). */
int cg_h264_slice_type(const uint8_t *nal, size_t n, int *slice_type);

/* Same, also giving first_mb_in_slice (0 for the first slice of a picture,
 * which is how the depacketizer knows a picture starts at its beginning). */
int cg_h264_slice_info(const uint8_t *nal, size_t n, uint32_t *first_mb, int *slice_type);

/* True for slice types that predict from two lists (B-slices). */
static inline int cg_h264_slice_is_b(int slice_type) { return slice_type % 5 == 1; }

#endif
