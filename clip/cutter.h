/* Clip cutter: turns a planned clip (clip/range.h) into files a player
 * takes as they are, without re-encoding anything.
 *
 *   cg_clip_write_mp4   a standalone MP4 (moov before mdat, so it plays
 *                       while it downloads) made from the broadcast's
 *                       stored CMAF init + media segments: the samples are
 *                       copied, only the container changes;
 *   cg_clip_playlist    an HLS VOD playlist over the stored segments
 *                       themselves (no new media at all).
 *
 * Cutting does storage reads and a local file write: call it on a worker
 * thread, never on an event loop. Different clips may be cut concurrently
 * on different threads. */
#ifndef CG_CLIP_CUTTER_H
#define CG_CLIP_CUTTER_H

#include "clip/range.h"
#include "core/buf.h"
#include "packager/timeline.h"
#include "storage/storage.h"

/* Writes the clip described by plan (from cg_clip_plan_range/last on the
 * same snap) as an MP4 at out_path, a local, seekable temporary file
 * chosen by the caller (replaced if present; on failure it may be left
 * behind for the caller to remove). st, dir, snap, plan are borrowed; dir
 * is the broadcast's storage prefix ("recordings/<id>").
 *
 * PRECISE: the samples start at the keyframe at or before plan->start_us;
 * an edit list makes playback begin exactly at start_us (the frames
 * before it are decoded, not shown). Audio frames wholly before start_us
 * are dropped; the one straddling it is trimmed by the audio track's edit
 * list. KEYFRAME: the samples start at the keyframe (an IDR), no edit
 * list. Both end with the last video frame before start + duration and
 * the audio up to that instant. Timestamps in the file start at 0.
 *
 * Returns 0, CG_EINVAL (bad arguments or a plan that does not fit snap),
 * CG_ENOTFOUND (a segment or init segment is missing from storage),
 * CG_EUNSUPP (the clip spans a reconnect: segments of two periods, with
 * different init segments), CG_EIO (storage read, demuxing or writing
 * failed), CG_ENOMEM. */
int cg_clip_write_mp4(cg_storage *st, const char *dir, const cg_tl_snap *snap,
                      const cg_clip_plan *plan, const char *out_path);

/* Appends an HLS VOD playlist of the clip to out: the stored segments
 * first_seg..last_seg (URIs = uri_prefix + segment name; EXT-X-MAP with
 * the init segment, repeated after a period change, with
 * EXT-X-DISCONTINUITY), EXT-X-START:TIME-OFFSET=<clip start - first
 * segment start>,PRECISE=YES, EXT-X-PROGRAM-DATE-TIME on every segment,
 * EXT-X-ENDLIST. snap, plan, uri_prefix (NULL = "") are borrowed.
 * Returns 0, CG_EINVAL, or the buffer's CG_ENOSPC/CG_ENOMEM. */
int cg_clip_playlist(const cg_tl_snap *snap, const cg_clip_plan *plan, const char *uri_prefix,
                     cg_dbuf *out);

#endif
