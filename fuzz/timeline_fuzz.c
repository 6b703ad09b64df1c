/* Fuzz target for the timeline index: the line parser and the loader that
 * rebuilds a broadcast after a crash, then every playlist view of what was
 * loaded (the loader must only accept timelines the playlists can render).
 *
 * Input: the text of an index.jsonl, as found on disk after anything from
 * a clean stop to a torn write or corruption.
 * Seeds in fuzz/corpus/timeline/: a clean index, one with a reconnect and a
 * lost segment, a torn tail, strays and garbage lines, an audio-only one.
 *
 * Invariants (abort otherwise): parse results respect the documented
 * ranges; a loaded timeline's segments are in seq order with no overlap
 * and keys inside their segment; playlists succeed or fail only with the
 * documented codes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "packager/playlist.h"
#include "packager/timeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_line(const uint8_t *data, size_t size)
{
    static cg_tl_line line;
    int rc = cg_tl_parse_line((const char *)data, size, &line);
    if (rc == 0 && line.type == CG_TL_LINE_SEGMENT &&
        (line.seg.duration <= 0 || line.seg.start < 0 || line.seg.nkeys > CG_TL_MAX_KEYS))
        abort();
    if (rc != 0 && rc != CG_EPROTO && rc != CG_EUNSUPP && rc != CG_ELIMIT)
        abort();
}

static void render(const cg_tl_snap *snap)
{
    cg_playlist_cfg cfg;
    cg_playlist_cfg_default(&cfg);
    cfg.uri_prefix = "/recordings/x/";
    cg_dbuf d;
    cg_preview_info info;
    for (int view = 0; view < 3; view++) {
        cg_dbuf_init(&d, 1 << 20);
        int rc = view == 0   ? cg_playlist_live(snap, &cfg, &d)
                 : view == 1 ? cg_playlist_preview(snap, &cfg, 5000, 600000, &info, &d)
                             : cg_playlist_recording(snap, &cfg, &d);
        if (rc != 0 && rc != CG_EAGAIN && rc != CG_ENOTFOUND && rc != CG_ENOSPC)
            abort();
        if (rc == 0 && strncmp(cg_dbuf_str(&d), "#EXTM3U\n", 8) != 0)
            abort();
        cg_dbuf_free(&d);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_line(data, size);
    cg_timeline *tl = NULL;
    cg_tl_load_report rep;
    int rc = cg_tl_load_text((const char *)data, size, &tl, &rep);
    if (rc != 0) {
        if (rc != CG_EPROTO && rc != CG_ENOMEM)
            abort();
        return 0;
    }
    cg_tl_snap *snap = NULL;
    if (cg_timeline_snapshot(tl, &snap) == 0) {
        size_t n = cg_tl_snap_count(snap);
        if (n != rep.segments)
            abort();
        for (size_t i = 0; i < n; i++) {
            const cg_tl_segment *s = cg_tl_snap_seg(snap, i);
            if (s->seq != i || s->duration <= 0)
                abort();
            if (i && s->start <
                         cg_tl_snap_seg(snap, i - 1)->start + cg_tl_snap_seg(snap, i - 1)->duration)
                abort();
            for (uint32_t k = 0; k < s->nkeys; k++)
                if (s->keys[k] < s->start || s->keys[k] >= s->start + s->duration)
                    abort();
        }
        render(snap);
        cg_tl_snap_free(snap);
    }
    cg_timeline_unref(tl);
    return 0;
}
