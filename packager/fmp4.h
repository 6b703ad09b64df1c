/* CMAF fragmented-MP4 writer on libavformat's mp4 muxer, entirely in
 * memory: the init segment comes out of cg_fmp4_new, each media segment
 * out of cg_fmp4_flush. The packager owns one per period (a run of
 * segments with the same codec parameters).
 *
 * Muxer flags, and why:
 *   frag_custom   we decide where fragments end (at keyframes, by the
 *                 segment target), by flushing with av_write_frame(NULL);
 *   cmaf          CMAF brand (cmfc), empty moov, default-base-is-moof,
 *                 no sidx: the moof/mdat pair is self-contained, which is
 *                 what HLS fMP4 segments are;
 *   frag_discont  each fragment's tfdt is its first sample's decode time
 *                 instead of the previous fragment's end (set again after
 *                 every flush), so tfdt equals the timeline's media time in
 *                 every period and after gaps, and each track keeps its
 *                 own start (audio may begin a few ms after video) without
 *                 an edit list, which empty_moov could not write anyway;
 *   skip_trailer  no mfra at the end: nothing may follow the last segment.
 * delay_moov is not used: it would hold the init segment back until the
 * first fragment, and we publish init.mp4 before it.
 *
 * H.264 goes in as Annex B (start codes); the muxer rewrites it to
 * length-prefixed NAL units and builds the avcC from the Annex B SPS/PPS
 * we give as extradata. Parameter sets are stripped from the samples by
 * the caller, so the avc1 sample entry is the only place they live.
 *
 * Not thread-safe; one thread (the packager worker) drives it. */
#ifndef CG_FMP4_H
#define CG_FMP4_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

typedef struct cg_fmp4 cg_fmp4;

enum cg_fmp4_audio {
    CG_FMP4_AUDIO_NONE = 0,
    CG_FMP4_AUDIO_AAC = 1,
    CG_FMP4_AUDIO_OPUS = 2,
};

enum cg_fmp4_track {
    CG_FMP4_VIDEO = 0,
    CG_FMP4_AUDIO = 1,
};

typedef struct cg_fmp4_cfg {
    /* Video: SPS and PPS NAL units in Annex B (borrowed, copied); NULL for
     * an audio-only stream. Timescale 90000. */
    const uint8_t *avc_ps;
    size_t avc_ps_len;
    int width, height;
    /* Audio: codec, and its decoder config (AAC AudioSpecificConfig or a
     * 19-byte OpusHead; borrowed, copied). Timescale 48000. */
    int audio;
    const uint8_t *audio_config;
    size_t audio_config_len;
    int channels;
    /* Largest media segment accepted, in bytes. */
    size_t max_segment_bytes;
} cg_fmp4_cfg;

/* Gives a writer and appends the init segment (ftyp+moov) to init.
 * Returns 0, CG_EINVAL, CG_ENOMEM, CG_EUNSUPP (libavformat refused the
 * configuration). */
int cg_fmp4_new(cg_fmp4 **out, const cg_fmp4_cfg *cfg, cg_dbuf *init);
/* Accepts NULL and a writer in any state. */
void cg_fmp4_free(cg_fmp4 *m);

/* Adds one sample to the current fragment. data is borrowed (copied);
 * dts (= pts, no B-frames) and duration are in the track's timescale, dts
 * increasing per track. Returns 0, CG_EINVAL, CG_ENOMEM or CG_EIO (the
 * muxer refused it). */
int cg_fmp4_write(cg_fmp4 *m, int track, const uint8_t *data, size_t len, int64_t dts,
                  int64_t duration, int key);
/* Ends the current fragment and appends it (moof+mdat) to seg. With no
 * samples since the last flush nothing is appended. Returns 0, CG_ENOSPC
 * (larger than max_segment_bytes), CG_ENOMEM or CG_EIO. */
int cg_fmp4_flush(cg_fmp4 *m, cg_dbuf *seg);

#endif
