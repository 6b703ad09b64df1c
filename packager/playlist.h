/* HLS media playlists generated from a timeline snapshot, on request.
 * Sans-I/O: a snapshot and parameters in, text appended to a cg_dbuf out;
 * no clock is read (EXT-X-PROGRAM-DATE-TIME comes from the segments'
 * capture times).
 *
 * Three views of one timeline:
 *   live       rolling window of the last N segments (sliding MEDIA-SEQUENCE)
 *   preview    the last D seconds (capped), as a sliding window too; its
 *              first segment's start is reported for the Preview-Start-Seconds
 *              header and the broadcast id for Stream-Media-Id
 *   recording  every segment: EVENT while live, VOD + ENDLIST once ended
 * Every view ends with EXT-X-ENDLIST once the broadcast has ended.
 *
 * URIs are the segment and init file names with a caller-given prefix, so
 * the same files can be served under /live/{stream}/ and
 * /recordings/{broadcast}/ (prefix "" keeps them relative). */
#ifndef CG_PLAYLIST_H
#define CG_PLAYLIST_H

#include <stdint.h>

#include "core/buf.h"
#include "packager/timeline.h"

typedef struct cg_playlist_cfg {
    const char *uri_prefix; /* borrowed; prepended to every URI; NULL = "" */
    uint32_t target_ms;     /* configured segment target: TARGETDURATION floor */
    uint32_t window;        /* live window, in segments (>= 1) */
} cg_playlist_cfg;

/* Defaults: prefix "", target 2000 ms, window 6. */
void cg_playlist_cfg_default(cg_playlist_cfg *cfg);

/* Live rolling playlist. Returns 0, CG_EINVAL, CG_EAGAIN (no segment yet),
 * or the buffer's CG_ENOSPC/CG_ENOMEM. */
int cg_playlist_live(const cg_tl_snap *snap, const cg_playlist_cfg *cfg, cg_dbuf *out);

/* Default and hard cap of the preview window. */
#define CG_PREVIEW_CAP_MS_DEFAULT (10u * 60u * 1000u)

typedef struct cg_preview_info {
    int64_t start; /* first segment's start, timescale units */
    uint32_t timescale;
    char start_seconds[32]; /* the same as decimal seconds, "12.345" */
    char broadcast_id[CG_TL_ID_MAX + 1];
    uint64_t duration_ms; /* window asked for, after the cap */
} cg_preview_info;

/* Preview playlist of the last duration_ms (capped at cap_ms): the
 * shortest run of final segments lasting at least that long (all of them
 * if the broadcast is shorter). Fills *info. Returns 0, CG_EINVAL
 * (duration 0), CG_EAGAIN (no segment yet), CG_ENOSPC/CG_ENOMEM. */
int cg_playlist_preview(const cg_tl_snap *snap, const cg_playlist_cfg *cfg, uint64_t duration_ms,
                        uint64_t cap_ms, cg_preview_info *info, cg_dbuf *out);

/* Whole-broadcast playlist. Returns 0, CG_EINVAL, CG_EAGAIN (live with no
 * segment yet), CG_ENOTFOUND (ended without any segment),
 * CG_ENOSPC/CG_ENOMEM. */
int cg_playlist_recording(const cg_tl_snap *snap, const cg_playlist_cfg *cfg, cg_dbuf *out);

/* Formats wall-clock microseconds as ISO 8601 UTC with milliseconds,
 * "2024-05-06T07:08:09.123Z". out holds at least 32 bytes. */
void cg_playlist_iso8601(uint64_t wall_us, char *out, size_t cap);

#endif
