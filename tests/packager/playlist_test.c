/* Playlists from a small synthetic timeline, compared with the exact text
 * a player will get: live window, preview window, EVENT and VOD
 * recordings, discontinuity after a reconnect. */
#include "core/err.h"
#include "packager/playlist.h"
#include "cg_test.h"

#define W0 1700000000000000ull /* 2023-11-14T22:13:20.000Z */

/* Ten segments of 2 s, except #4 (2.5 s) and #9 (2.0005 s: EXTINF rounds
 * to 2.001). The publisher reconnected before #7 after 5 s away: new
 * period (init-1.mp4), discontinuity, the media timeline goes on while the
 * wall clock jumps. */
static cg_timeline *make_timeline(void)
{
    static const int64_t dur[10] = {180000, 180000, 180000, 180000, 225000,
                                    180000, 180000, 180000, 180000, 180045};
    cg_timeline *tl = NULL;
    if (cg_timeline_new(&tl, "b1", 90000) != 0)
        return NULL;
    cg_timeline_set_start(tl, W0);
    int64_t start = 0;
    for (uint64_t i = 0; i < 10; i++) {
        uint64_t wall = W0 + (uint64_t)start * 1000000u / 90000u + (i >= 7 ? 5000000u : 0);
        cg_tl_segment s = {.seq = i,
                           .period = i >= 7 ? 1 : 0,
                           .flags = i == 7 ? CG_TL_DISCONTINUITY : 0,
                           .start = start,
                           .duration = dur[i],
                           .wall_us = wall,
                           .bytes = 100};
        int64_t key = start;
        s.keys = &key;
        s.nkeys = 1;
        CHECK_INT(cg_timeline_append(tl, &s), 0);
        start += dur[i];
    }
    return tl;
}

static const char seg4_to_9[] = "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:28.000Z\n"
                                "#EXTINF:2.500,\n"
                                "seg-4.m4s\n"
                                "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:30.500Z\n"
                                "#EXTINF:2.000,\n"
                                "seg-5.m4s\n"
                                "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:32.500Z\n"
                                "#EXTINF:2.000,\n"
                                "seg-6.m4s\n"
                                "#EXT-X-DISCONTINUITY\n"
                                "#EXT-X-MAP:URI=\"init-1.mp4\"\n"
                                "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:39.500Z\n"
                                "#EXTINF:2.000,\n"
                                "seg-7.m4s\n"
                                "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:41.500Z\n"
                                "#EXTINF:2.000,\n"
                                "seg-8.m4s\n"
                                "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:43.500Z\n"
                                "#EXTINF:2.001,\n"
                                "seg-9.m4s\n";

static const char seg0_to_3[] = "#EXT-X-MAP:URI=\"init.mp4\"\n"
                                "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.000Z\n"
                                "#EXTINF:2.000,\n"
                                "seg-0.m4s\n"
                                "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:22.000Z\n"
                                "#EXTINF:2.000,\n"
                                "seg-1.m4s\n"
                                "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:24.000Z\n"
                                "#EXTINF:2.000,\n"
                                "seg-2.m4s\n"
                                "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:26.000Z\n"
                                "#EXTINF:2.000,\n"
                                "seg-3.m4s\n";

static void expect(const char *got, const char *const *parts)
{
    char want[8192] = "";
    for (size_t i = 0; parts[i]; i++)
        strncat(want, parts[i], sizeof(want) - strlen(want) - 1);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "--- got:\n%s--- want:\n%s---\n", got, want);
    CHECK_STR(got, want);
}

static void test_live_window(void)
{
    cg_timeline *tl = make_timeline();
    cg_tl_snap *snap = NULL;
    CHECK_INT(cg_timeline_snapshot(tl, &snap), 0);
    cg_playlist_cfg cfg;
    cg_playlist_cfg_default(&cfg);
    cg_dbuf d;
    cg_dbuf_init(&d, 1 << 16);
    CHECK_INT(cg_playlist_live(snap, &cfg, &d), 0);
    /* Window of 6: #4..#9; the 2.5 s segment sets TARGETDURATION 3, and
     * the hold-back is three target durations. */
    const char *const live6[] = {"#EXTM3U\n"
                                 "#EXT-X-VERSION:7\n"
                                 "#EXT-X-TARGETDURATION:3\n"
                                 "#EXT-X-SERVER-CONTROL:HOLD-BACK=9.000\n"
                                 "#EXT-X-MEDIA-SEQUENCE:4\n"
                                 "#EXT-X-INDEPENDENT-SEGMENTS\n"
                                 "#EXT-X-MAP:URI=\"init.mp4\"\n",
                                 seg4_to_9, NULL};
    expect(cg_dbuf_str(&d), live6);
    cg_dbuf_free(&d);

    /* Window of 2 under /live/s1/: the discontinuity has slid out, so the
     * sequence counts it; the period's own init; the configured 4 s
     * target is the floor. */
    cfg.window = 2;
    cfg.target_ms = 4000;
    cfg.uri_prefix = "/live/s1/";
    cg_dbuf_init(&d, 1 << 16);
    CHECK_INT(cg_playlist_live(snap, &cfg, &d), 0);
    const char *const live2[] = {"#EXTM3U\n"
                                 "#EXT-X-VERSION:7\n"
                                 "#EXT-X-TARGETDURATION:4\n"
                                 "#EXT-X-SERVER-CONTROL:HOLD-BACK=12.000\n"
                                 "#EXT-X-MEDIA-SEQUENCE:8\n"
                                 "#EXT-X-DISCONTINUITY-SEQUENCE:1\n"
                                 "#EXT-X-INDEPENDENT-SEGMENTS\n"
                                 "#EXT-X-MAP:URI=\"/live/s1/init-1.mp4\"\n"
                                 "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:41.500Z\n"
                                 "#EXTINF:2.000,\n"
                                 "/live/s1/seg-8.m4s\n"
                                 "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:43.500Z\n"
                                 "#EXTINF:2.001,\n"
                                 "/live/s1/seg-9.m4s\n",
                                 NULL};
    expect(cg_dbuf_str(&d), live2);
    cg_dbuf_free(&d);
    cfg.window = 0;
    cg_dbuf_init(&d, 1 << 16);
    CHECK_INT(cg_playlist_live(snap, &cfg, &d), CG_EINVAL);
    cg_dbuf_free(&d);
    /* Output bounded by the caller's buffer. */
    cfg.window = 6;
    cg_dbuf_init(&d, 100);
    CHECK_INT(cg_playlist_live(snap, &cfg, &d), CG_ENOSPC);
    cg_dbuf_free(&d);
    cg_tl_snap_free(snap);
    cg_timeline_unref(tl);
}

static void test_preview(void)
{
    cg_timeline *tl = make_timeline();
    cg_tl_snap *snap = NULL;
    CHECK_INT(cg_timeline_snapshot(tl, &snap), 0);
    cg_playlist_cfg cfg;
    cg_playlist_cfg_default(&cfg);
    cg_preview_info info;
    cg_dbuf d;
    cg_dbuf_init(&d, 1 << 16);
    /* Last 5 s: #9 (2.0005) + #8 + #7 reach 6.0005 s. */
    CHECK_INT(cg_playlist_preview(snap, &cfg, 5000, CG_PREVIEW_CAP_MS_DEFAULT, &info, &d), 0);
    const char *const prev5[] = {"#EXTM3U\n"
                                 "#EXT-X-VERSION:7\n"
                                 "#EXT-X-TARGETDURATION:3\n"
                                 "#EXT-X-SERVER-CONTROL:HOLD-BACK=9.000\n"
                                 "#EXT-X-MEDIA-SEQUENCE:7\n"
                                 "#EXT-X-INDEPENDENT-SEGMENTS\n",
                                 strstr(seg4_to_9, "#EXT-X-DISCONTINUITY\n"), NULL};
    expect(cg_dbuf_str(&d), prev5);
    CHECK_STR(info.start_seconds, "14.500");
    CHECK_INT(info.start, 1305000);
    CHECK_INT(info.timescale, 90000);
    CHECK_STR(info.broadcast_id, "b1");
    CHECK_INT(info.duration_ms, 5000);
    cg_dbuf_free(&d);

    /* Exact media time decides: 4.0 s is covered by #8 + #9 (4.0005 s),
     * 4.001 s is not. */
    cg_dbuf_init(&d, 1 << 16);
    CHECK_INT(cg_playlist_preview(snap, &cfg, 4000, 0, &info, &d), 0);
    CHECK_STR(info.start_seconds, "16.500");
    cg_dbuf_free(&d);
    cg_dbuf_init(&d, 1 << 16);
    CHECK_INT(cg_playlist_preview(snap, &cfg, 4001, 0, &info, &d), 0);
    CHECK_STR(info.start_seconds, "14.500");
    cg_dbuf_free(&d);

    /* An hour asked, capped at 10 minutes: still the whole (short)
     * broadcast, from 0. */
    cg_dbuf_init(&d, 1 << 16);
    CHECK_INT(cg_playlist_preview(snap, &cfg, 3600000, CG_PREVIEW_CAP_MS_DEFAULT, &info, &d), 0);
    CHECK_INT(info.duration_ms, 600000);
    CHECK_STR(info.start_seconds, "0.000");
    CHECK(strstr(cg_dbuf_str(&d), "#EXT-X-MEDIA-SEQUENCE:0\n") != NULL);
    cg_dbuf_free(&d);
    cg_dbuf_init(&d, 1 << 16);
    CHECK_INT(cg_playlist_preview(snap, &cfg, 0, 0, &info, &d), CG_EINVAL);
    cg_dbuf_free(&d);
    cg_tl_snap_free(snap);
    cg_timeline_unref(tl);
}

static void test_recording_event_then_vod(void)
{
    cg_timeline *tl = make_timeline();
    cg_tl_snap *snap = NULL;
    CHECK_INT(cg_timeline_snapshot(tl, &snap), 0);
    cg_playlist_cfg cfg;
    cg_playlist_cfg_default(&cfg);
    cg_dbuf d;
    cg_dbuf_init(&d, 1 << 16);
    CHECK_INT(cg_playlist_recording(snap, &cfg, &d), 0);
    const char *const event[] = {"#EXTM3U\n"
                                 "#EXT-X-VERSION:7\n"
                                 "#EXT-X-TARGETDURATION:3\n"
                                 "#EXT-X-SERVER-CONTROL:HOLD-BACK=9.000\n"
                                 "#EXT-X-MEDIA-SEQUENCE:0\n"
                                 "#EXT-X-PLAYLIST-TYPE:EVENT\n"
                                 "#EXT-X-INDEPENDENT-SEGMENTS\n",
                                 seg0_to_3, seg4_to_9, NULL};
    expect(cg_dbuf_str(&d), event);
    cg_dbuf_free(&d);
    cg_tl_snap_free(snap);

    /* The broadcast ends: VOD, ENDLIST, no hold-back. */
    cg_timeline_set_ended(tl, W0 + 30000000u);
    CHECK_INT(cg_timeline_snapshot(tl, &snap), 0);
    cg_dbuf_init(&d, 1 << 16);
    CHECK_INT(cg_playlist_recording(snap, &cfg, &d), 0);
    const char *const vod[] = {"#EXTM3U\n"
                               "#EXT-X-VERSION:7\n"
                               "#EXT-X-TARGETDURATION:3\n"
                               "#EXT-X-MEDIA-SEQUENCE:0\n"
                               "#EXT-X-PLAYLIST-TYPE:VOD\n"
                               "#EXT-X-INDEPENDENT-SEGMENTS\n",
                               seg0_to_3, seg4_to_9, "#EXT-X-ENDLIST\n", NULL};
    expect(cg_dbuf_str(&d), vod);
    cg_dbuf_free(&d);
    /* A live playlist of an ended broadcast ends too. */
    cg_dbuf_init(&d, 1 << 16);
    CHECK_INT(cg_playlist_live(snap, &cfg, &d), 0);
    const char *txt = cg_dbuf_str(&d);
    CHECK(strlen(txt) > 15 && strcmp(txt + strlen(txt) - 15, "#EXT-X-ENDLIST\n") == 0);
    CHECK(strstr(txt, "HOLD-BACK") == NULL);
    cg_dbuf_free(&d);
    cg_tl_snap_free(snap);
    cg_timeline_unref(tl);
}

static void test_empty(void)
{
    cg_timeline *tl = NULL;
    CHECK_INT(cg_timeline_new(&tl, "e", 90000), 0);
    cg_tl_snap *snap = NULL;
    CHECK_INT(cg_timeline_snapshot(tl, &snap), 0);
    cg_playlist_cfg cfg;
    cg_playlist_cfg_default(&cfg);
    cg_preview_info info;
    cg_dbuf d;
    cg_dbuf_init(&d, 1 << 16);
    CHECK_INT(cg_playlist_live(snap, &cfg, &d), CG_EAGAIN);
    CHECK_INT(cg_playlist_preview(snap, &cfg, 5000, 0, &info, &d), CG_EAGAIN);
    CHECK_INT(cg_playlist_recording(snap, &cfg, &d), CG_EAGAIN);
    cg_tl_snap_free(snap);
    cg_timeline_set_ended(tl, W0);
    CHECK_INT(cg_timeline_snapshot(tl, &snap), 0);
    CHECK_INT(cg_playlist_recording(snap, &cfg, &d), CG_ENOTFOUND);
    CHECK_INT(d.len, 0);
    cg_dbuf_free(&d);
    cg_tl_snap_free(snap);
    cg_timeline_unref(tl);
}

static void test_iso8601(void)
{
    /* Expected values from Python's datetime (UTC). */
    static const struct {
        uint64_t us;
        const char *text;
    } v[] = {
        {0, "1970-01-01T00:00:00.000Z"},
        {951782400123456ull, "2000-02-29T00:00:00.123Z"},
        {1700000000999999ull, "2023-11-14T22:13:20.999Z"},
        {4102444800000000ull, "2100-01-01T00:00:00.000Z"},
    };
    char b[40];
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        cg_playlist_iso8601(v[i].us, b, sizeof(b));
        CHECK_STR(b, v[i].text);
    }
}

int main(void)
{
    RUN(test_live_window);
    RUN(test_preview);
    RUN(test_recording_event_then_vod);
    RUN(test_empty);
    RUN(test_iso8601);
    return TEST_RESULT();
}
