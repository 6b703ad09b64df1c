/* H.264 RTP depacketizer (RFC 6184, packetization-mode 0 and 1): RTP
 * payloads in, Annex B access units out. Sans-I/O: no clock, no socket, no
 * logging; the caller reads the counters and logs.
 *
 * The caller is the per-track receiver, which has already reordered the
 * packets and flags a gap when some never came. Because a decoder given a
 * picture with missing slices, or a picture that references a lost one,
 * shows corruption until the next IDR, this module drops every frame from
 * the first loss until a complete IDR access unit arrives and says so in
 * need_keyframe, so the receiver can ask the sender for one (PLI).
 *
 * One access unit is buffered at a time (bounded by max_frame_bytes), plus
 * the latest SPS and PPS. Not thread-safe: one depacketizer per track, used
 * from the thread that owns the track. */
#ifndef CG_H264_DEPACK_H
#define CG_H264_DEPACK_H

#include <stddef.h>
#include <stdint.h>

#include "core/frame.h"
#include "ingest/h264_sps.h"

typedef struct cg_h264_depack cg_h264_depack;

typedef struct cg_h264_depack_stats {
    uint64_t packets;        /* payloads pushed */
    uint64_t frames;         /* access units given out */
    uint64_t keyframes;      /* of which IDR */
    uint64_t dropped_frames; /* incomplete AU dropped because of a gap, or
                                dropped while waiting for an IDR after one */
    uint64_t fua_errors;     /* FU-A out of order or unterminated; FU-B */
    uint64_t stap_errors;    /* STAP-A with bad sizes; STAP-B, MTAP */
    uint64_t bframes;        /* frames given out holding a B-slice */
    int have_sps;
    cg_h264_sps sps;         /* latest SPS that parsed */
    /* Added. */
    uint64_t skipped_frames;  /* non-IDR frames before the first IDR */
    uint64_t oversize_frames; /* AUs larger than max_frame_bytes, dropped */
    uint64_t stray_packets;   /* packets of an AU already closed by its marker */
    uint64_t ignored_nals;    /* NAL types 0, 30, 31 (unspecified) */
    int need_keyframe;        /* frames are being dropped until an IDR */
} cg_h264_depack_stats;

/* max_frame_bytes bounds one access unit (e.g. 4 MiB); when exceeded, the
 * AU is dropped and counted in oversize_frames, and frames are dropped until
 * the next IDR. Gives *out on success.
 * Returns 0, CG_EINVAL (max_frame_bytes is 0), CG_ENOMEM. */
int cg_h264_depack_new(cg_h264_depack **out, size_t max_frame_bytes);
/* Accepts NULL. */
void cg_h264_depack_free(cg_h264_depack *d);

/* Push the payload of one RTP packet, in sequence order. Borrows payload.
 * gap_before: the receiver lost packets just before this one.
 *
 * Access units are delimited by a change of RTP timestamp and by the marker
 * bit (a marker only closes an AU once it holds a slice or is known to be
 * damaged, so a parameter-set packet wrongly marked does not split a
 * picture). A packet with the timestamp of an AU already closed by its
 * marker is stray: counted, never given out, and if it holds a slice the
 * picture given out was incomplete, so an IDR is awaited.
 * When an AU completes, it is given through out[] (room for 2: a previous
 * AU closed by the timestamp change, and the current one closed by its
 * marker); *n_out says how many; the caller takes ownership of each
 * (cg_frame_unref).
 *
 * Frame data is Annex B (00 00 00 01 before each NAL). SPS and PPS seen
 * in-band (single NAL, STAP-A) or from sprop-parameter-sets are cached and
 * inserted just before the first slice of every IDR AU that does not
 * already carry them. Frames holding an IDR slice get CG_FRAME_KEY.
 * pts = dts = the 64-bit extended RTP timestamp (unwrapped across 2^32),
 * timescale 90000, duration 0, wall_us 0 (the caller knows the clock).
 * AUD NAL units (type 9) are dropped; SEI and the rest are kept.
 * Empty payloads (padding-only packets) are ignored.
 *
 * Returns 0 or CG_ENOMEM (the AU being built is lost; frames already in
 * out[] are still the caller's). Malformed payloads are counted, never an
 * error. */
int cg_h264_depack_push(cg_h264_depack *d, const uint8_t *payload, size_t len, uint32_t rtp_ts,
                        int marker, int gap_before, cg_frame **out, size_t *n_out);

/* Force out what is buffered (end of stream): at most one frame through
 * out[0]; the caller takes it. Returns 0 or CG_ENOMEM. */
int cg_h264_depack_flush(cg_h264_depack *d, cg_frame **out, size_t *n_out);

/* sprop-parameter-sets from the SDP fmtp (base64, comma-separated), cached
 * like in-band parameter sets. Borrows sprop.
 * Returns 0, or CG_EPROTO (bad base64, a set that is not an SPS or PPS, or
 * one larger than the cache); nothing is cached then. */
int cg_h264_depack_set_sprop(cg_h264_depack *d, const char *sprop);

void cg_h264_depack_get_stats(const cg_h264_depack *d, cg_h264_depack_stats *st);

/* Borrowed views of the latest SPS and PPS NAL units (no start code), valid
 * until the next push or set_sprop; for building avcC extradata.
 * Returns 0 or CG_ENOTFOUND (one of them not seen yet). */
int cg_h264_depack_params(const cg_h264_depack *d, const uint8_t **sps, size_t *sps_len,
                          const uint8_t **pps, size_t *pps_len);

#endif
