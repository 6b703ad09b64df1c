/* Clip time syntax and range planning on synthetic timelines. */
#include "clip/range.h"
#include "core/err.h"
#include "cg_test.h"

#define S(x) ((int64_t)((x)*1000000.0 + 0.5)) /* seconds -> us */

static void expect_time(const char *s, int64_t want)
{
    int64_t us = -1;
    int rc = cg_clip_parse_time(s, &us);
    if (rc != 0 || us != want)
        fprintf(stderr, "parse_time(\"%s\"): rc=%d us=%lld, expected %lld\n", s, rc, (long long)us,
                (long long)want);
    CHECK_INT(rc, 0);
    CHECK_INT(us, want);
}

static void expect_bad_time(const char *s)
{
    int64_t us = 12345;
    int rc = cg_clip_parse_time(s, &us);
    if (rc != CG_EINVAL)
        fprintf(stderr, "parse_time(\"%s\") accepted: %lld\n", s ? s : "(null)", (long long)us);
    CHECK_INT(rc, CG_EINVAL);
    CHECK_INT(us, 12345); /* nothing written */
}

static void test_parse_time(void)
{
    expect_time("600", S(600));
    expect_time("600.5", S(600.5));
    expect_time("600s", S(600));
    expect_time("600.25s", S(600.25));
    expect_time("5m", S(300));
    expect_time("1.5m", S(90));
    expect_time("1m30s", S(90));
    expect_time("1m30.5s", S(90.5));
    expect_time("1h", S(3600));
    expect_time("1h2m3s", S(3723));
    expect_time("2h30s", S(7230));
    expect_time("0", 0);
    expect_time("0s", 0);
    expect_time("0.000001", 1);
    expect_time("0.0000019", 1); /* below a microsecond: truncated */
    expect_time("007", S(7));
    expect_time("0.1m", S(6));
    expect_time("0.000000001h", 3); /* 3.6 us, truncated */
    expect_time("2400h", 2400ll * 3600 * 1000000);
    expect_time("8640000", CG_CLIP_TIME_MAX_US);

    expect_bad_time(NULL);
    expect_bad_time("");
    expect_bad_time("-5");
    expect_bad_time("+5");
    expect_bad_time(" 5");
    expect_bad_time("5 ");
    expect_bad_time("5x");
    expect_bad_time("s");
    expect_bad_time("m");
    expect_bad_time(".5");
    expect_bad_time("5.");
    expect_bad_time("5.s");
    expect_bad_time("1.2.3");
    expect_bad_time("nan");
    expect_bad_time("NaN");
    expect_bad_time("inf");
    expect_bad_time("1e3");
    expect_bad_time("0x10");
    expect_bad_time("5ss");
    expect_bad_time("30s1m"); /* units out of order */
    expect_bad_time("1m1m");
    expect_bad_time("1m30"); /* a bare number only on its own */
    expect_bad_time("5M");
    expect_bad_time("8640000.000001");
    expect_bad_time("2401h");
    expect_bad_time("99999999999999999999999");
    expect_bad_time("9223372036854775807");
    expect_bad_time("1000000000000000000000000000000000000000000000000000000000000000000s");
    expect_bad_time("5\n");
    expect_bad_time("1,5");
}

static void test_parse_mode(void)
{
    int mode = 99;
    CHECK_INT(cg_clip_parse_mode(NULL, &mode), 0);
    CHECK_INT(mode, CG_CLIP_PRECISE);
    CHECK_INT(cg_clip_parse_mode("keyframe", &mode), 0);
    CHECK_INT(mode, CG_CLIP_KEYFRAME);
    CHECK_INT(cg_clip_parse_mode("precise", &mode), 0);
    CHECK_INT(mode, CG_CLIP_PRECISE);
    mode = 99;
    CHECK_INT(cg_clip_parse_mode("", &mode), CG_EINVAL);
    CHECK_INT(cg_clip_parse_mode("Keyframe", &mode), CG_EINVAL);
    CHECK_INT(cg_clip_parse_mode("precise ", &mode), CG_EINVAL);
    CHECK_INT(cg_clip_parse_mode("key", &mode), CG_EINVAL);
    CHECK_INT(mode, 99);
    CHECK_INT(cg_clip_parse_mode("precise", NULL), CG_EINVAL);
    CHECK_STR(cg_clip_mode_name(CG_CLIP_KEYFRAME), "keyframe");
    CHECK_STR(cg_clip_mode_name(CG_CLIP_PRECISE), "precise");
}

/* Segments of 2 s at 90 kHz from first_start: keys at each start, and an
 * extra one at +1 s in segment 0; segment `nokey` (if >= 0) was cut by
 * the hard cap without a keyframe. */
static cg_timeline *make_tl(int nseg, int64_t first_start, int nokey)
{
    cg_timeline *tl = NULL;
    CHECK_INT(cg_timeline_new(&tl, "b1", 90000), 0);
    for (int i = 0; i < nseg; i++) {
        int64_t start = first_start + (int64_t)i * 180000;
        int64_t keys[2] = {start, start + 90000};
        cg_tl_segment s = {.seq = (uint64_t)i,
                           .start = start,
                           .duration = 180000,
                           .wall_us = 1700000000000000ull + (uint64_t)start * 100 / 9,
                           .bytes = 1000,
                           .nkeys = i == nokey ? 0 : (i == 0 ? 2 : 1),
                           .keys = keys};
        CHECK_INT(cg_timeline_append(tl, &s), 0);
    }
    return tl;
}

static cg_tl_snap *snap_of(cg_timeline *tl)
{
    cg_tl_snap *s = NULL;
    CHECK_INT(cg_timeline_snapshot(tl, &s), 0);
    return s;
}

static void test_plan_live(void)
{
    cg_timeline *tl = make_tl(3, 0, -1); /* 0..6 s, live */
    cg_tl_snap *snap = snap_of(tl);
    cg_clip_plan p;
    char why[256] = "";

    /* 1.5 s for 1 s: keyframe at 1 s (the extra one in segment 0), ends
     * at 2.5 s in segment 1. */
    CHECK_INT(cg_clip_plan_range(snap, S(1.5), S(1), CG_CLIP_PRECISE, 0, &p, why, sizeof(why)), 0);
    CHECK_INT(p.req_start_us, S(1.5));
    CHECK_INT(p.req_duration_us, S(1));
    CHECK_INT(p.keyframe_us, S(1));
    CHECK_INT(p.start_us, S(1.5));
    CHECK_INT(p.duration_us, S(1));
    CHECK_INT(p.first_seg, 0);
    CHECK_INT(p.last_seg, 1);
    CHECK_INT(p.mode, CG_CLIP_PRECISE);
    CHECK_INT(p.avail_start_us, 0);
    CHECK_INT(p.avail_end_us, S(6));

    /* Keyframe mode: starts at the keyframe, same end. */
    CHECK_INT(cg_clip_plan_range(snap, S(1.5), S(1), CG_CLIP_KEYFRAME, 0, &p, why, sizeof(why)), 0);
    CHECK_INT(p.start_us, S(1));
    CHECK_INT(p.duration_us, S(1.5));
    CHECK_INT(p.keyframe_us, S(1));

    /* 3 s: keyframe at 2 s, segment 1. Ending exactly on a segment
     * boundary does not pull in the next segment. */
    CHECK_INT(cg_clip_plan_range(snap, S(3), S(1), CG_CLIP_PRECISE, 0, &p, why, sizeof(why)), 0);
    CHECK_INT(p.keyframe_us, S(2));
    CHECK_INT(p.first_seg, 1);
    CHECK_INT(p.last_seg, 1);
    /* On a keyframe: it is the keyframe. */
    CHECK_INT(cg_clip_plan_range(snap, S(4), S(2), CG_CLIP_KEYFRAME, 0, &p, why, sizeof(why)), 0);
    CHECK_INT(p.keyframe_us, S(4));
    CHECK_INT(p.start_us, S(4));
    CHECK_INT(p.duration_us, S(2));
    CHECK_INT(p.first_seg, 2);
    CHECK_INT(p.last_seg, 2);
    /* The whole broadcast. */
    CHECK_INT(cg_clip_plan_range(snap, 0, S(6), CG_CLIP_PRECISE, 0, &p, why, sizeof(why)), 0);
    CHECK_INT(p.first_seg, 0);
    CHECK_INT(p.last_seg, 2);

    /* Past the live edge: come back when the end exists. */
    CHECK_INT(cg_clip_plan_range(snap, S(5), S(3), CG_CLIP_PRECISE, 0, &p, why, sizeof(why)),
              CG_EAGAIN);
    CHECK_INT(p.retry_after_s, 2);
    CHECK(strstr(why, "live edge") != NULL);
    CHECK_INT(cg_clip_plan_range(snap, S(5), S(1.2), CG_CLIP_PRECISE, 0, &p, why, sizeof(why)),
              CG_EAGAIN);
    CHECK_INT(p.retry_after_s, 1); /* 0.2 s, rounded up */
    CHECK_INT(cg_clip_plan_range(snap, S(5), S(1) + 1, CG_CLIP_PRECISE, 0, &p, why, sizeof(why)),
              CG_EAGAIN);
    CHECK_INT(p.retry_after_s, 1);
    CHECK_INT(cg_clip_plan_range(snap, S(600), S(30), CG_CLIP_PRECISE, 0, &p, why, sizeof(why)),
              CG_EAGAIN);
    CHECK_INT(p.retry_after_s, 624);
    CHECK_INT(p.avail_end_us, S(6));

    /* Bad requests. */
    why[0] = '\0';
    CHECK_INT(cg_clip_plan_range(snap, S(1), 0, CG_CLIP_PRECISE, 0, &p, why, sizeof(why)),
              CG_EINVAL);
    CHECK(why[0] != '\0');
    CHECK_INT(cg_clip_plan_range(snap, S(1), -1, CG_CLIP_PRECISE, 0, &p, why, sizeof(why)),
              CG_EINVAL);
    CHECK_INT(cg_clip_plan_range(snap, -1, S(1), CG_CLIP_PRECISE, 0, &p, why, sizeof(why)),
              CG_EINVAL);
    CHECK_INT(cg_clip_plan_range(snap, 0, S(4), CG_CLIP_PRECISE, S(3), &p, why, sizeof(why)),
              CG_EINVAL);
    CHECK(strstr(why, "3.000 seconds") != NULL);
    CHECK_INT(cg_clip_plan_range(snap, 0, S(3), CG_CLIP_PRECISE, S(3), &p, NULL, 0), 0);
    CHECK_INT(cg_clip_plan_range(snap, 0, S(1), 7, 0, &p, why, sizeof(why)), CG_EINVAL);
    CHECK_INT(cg_clip_plan_range(NULL, 0, S(1), 0, 0, &p, why, sizeof(why)), CG_EINVAL);
    CHECK_INT(cg_clip_plan_range(snap, INT64_MAX, INT64_MAX, 0, 0, &p, why, sizeof(why)),
              CG_EINVAL);

    /* last=: the end of the last segment minus N. */
    CHECK_INT(cg_clip_plan_last(snap, S(2.5), CG_CLIP_PRECISE, 0, &p, why, sizeof(why)), 0);
    CHECK_INT(p.req_start_us, S(3.5));
    CHECK_INT(p.start_us, S(3.5));
    CHECK_INT(p.duration_us, S(2.5));
    CHECK_INT(p.keyframe_us, S(2));
    CHECK_INT(p.first_seg, 1);
    CHECK_INT(p.last_seg, 2);
    CHECK_INT(cg_clip_plan_last(snap, S(2.5), CG_CLIP_KEYFRAME, 0, &p, why, sizeof(why)), 0);
    CHECK_INT(p.start_us, S(2));
    CHECK_INT(p.duration_us, S(4));
    /* Longer than the broadcast: all of it. */
    CHECK_INT(cg_clip_plan_last(snap, S(30), CG_CLIP_PRECISE, 0, &p, why, sizeof(why)), 0);
    CHECK_INT(p.start_us, 0);
    CHECK_INT(p.duration_us, S(6));
    CHECK_INT(cg_clip_plan_last(snap, 0, CG_CLIP_PRECISE, 0, &p, why, sizeof(why)), CG_EINVAL);
    CHECK_INT(cg_clip_plan_last(snap, S(31), CG_CLIP_PRECISE, S(30), &p, why, sizeof(why)),
              CG_EINVAL);
    cg_tl_snap_free(snap);

    /* Ended: past the end is out of range, not "later". */
    cg_timeline_set_ended(tl, 1700000006000000ull);
    snap = snap_of(tl);
    CHECK_INT(cg_clip_plan_range(snap, S(5), S(3), CG_CLIP_PRECISE, 0, &p, why, sizeof(why)),
              CG_ERANGE);
    CHECK_INT(p.avail_start_us, 0);
    CHECK_INT(p.avail_end_us, S(6));
    CHECK(strstr(why, "0.000 to 6.000") != NULL);
    CHECK_INT(cg_clip_plan_range(snap, S(7), S(1), CG_CLIP_PRECISE, 0, &p, why, sizeof(why)),
              CG_ERANGE);
    CHECK_INT(cg_clip_plan_range(snap, S(5), S(1), CG_CLIP_PRECISE, 0, &p, why, sizeof(why)), 0);
    CHECK_INT(p.last_seg, 2);
    CHECK_INT(cg_clip_plan_last(snap, S(1), CG_CLIP_PRECISE, 0, &p, why, sizeof(why)), 0);
    CHECK_INT(p.start_us, S(5));
    cg_tl_snap_free(snap);
    cg_timeline_unref(tl);
}

static void test_plan_edges(void)
{
    cg_clip_plan p;
    char why[256];
    /* Recording starting at 1 s (earlier segments expired). */
    cg_timeline *tl = make_tl(3, 90000, -1);
    cg_tl_snap *snap = snap_of(tl);
    CHECK_INT(cg_clip_plan_range(snap, S(0.5), S(2), CG_CLIP_PRECISE, 0, &p, why, sizeof(why)),
              CG_ERANGE);
    CHECK_INT(p.avail_start_us, S(1));
    CHECK_INT(p.avail_end_us, S(7));
    CHECK(strstr(why, "before the recording") != NULL);
    CHECK_INT(cg_clip_plan_range(snap, S(1), S(2), CG_CLIP_PRECISE, 0, &p, why, sizeof(why)), 0);
    CHECK_INT(p.keyframe_us, S(1));
    cg_tl_snap_free(snap);
    cg_timeline_unref(tl);

    /* Segment 1 has no keyframe: the search goes back to segment 0. */
    tl = make_tl(3, 0, 1);
    snap = snap_of(tl);
    CHECK_INT(cg_clip_plan_range(snap, S(3), S(2), CG_CLIP_KEYFRAME, 0, &p, why, sizeof(why)), 0);
    CHECK_INT(p.keyframe_us, S(1));
    CHECK_INT(p.first_seg, 0);
    CHECK_INT(p.last_seg, 2);
    CHECK_INT(p.start_us, S(1));
    CHECK_INT(p.duration_us, S(4));
    cg_tl_snap_free(snap);
    cg_timeline_unref(tl);

    /* No segment yet. */
    CHECK_INT(cg_timeline_new(&tl, "b2", 90000), 0);
    snap = snap_of(tl);
    CHECK_INT(cg_clip_plan_range(snap, 0, S(1), CG_CLIP_PRECISE, 0, &p, why, sizeof(why)),
              CG_ENOTFOUND);
    CHECK_INT(cg_clip_plan_last(snap, S(1), CG_CLIP_PRECISE, 0, &p, why, sizeof(why)),
              CG_ENOTFOUND);
    cg_tl_snap_free(snap);
    cg_timeline_unref(tl);

    /* A first segment off the microsecond grid (1 tick = 11.1 us): the
     * available start is rounded up, and asking for it works. */
    CHECK_INT(cg_timeline_new(&tl, "b4", 90000), 0);
    int64_t k1 = 1;
    cg_tl_segment s1 = {.seq = 0, .start = 1, .duration = 180000, .nkeys = 1, .keys = &k1};
    CHECK_INT(cg_timeline_append(tl, &s1), 0);
    snap = snap_of(tl);
    CHECK_INT(cg_clip_plan_range(snap, 11, S(1), CG_CLIP_PRECISE, 0, &p, why, sizeof(why)),
              CG_ERANGE);
    CHECK_INT(p.avail_start_us, 12);
    CHECK_INT(p.avail_end_us, 2000011);
    CHECK_INT(cg_clip_plan_range(snap, p.avail_start_us, p.avail_end_us - p.avail_start_us,
                                 CG_CLIP_PRECISE, 0, &p, why, sizeof(why)),
              0);
    CHECK_INT(p.keyframe_us, 11);
    CHECK_INT(cg_clip_plan_last(snap, S(5), CG_CLIP_PRECISE, 0, &p, why, sizeof(why)), 0);
    CHECK_INT(p.start_us, 12);
    CHECK_INT(p.duration_us, 2000011 - 12);
    cg_tl_snap_free(snap);
    cg_timeline_unref(tl);

    /* Audio-only timeline at 48 kHz. */
    CHECK_INT(cg_timeline_new(&tl, "b3", 48000), 0);
    int64_t key = 0;
    cg_tl_segment s = {.seq = 0, .start = 0, .duration = 96000, .nkeys = 1, .keys = &key};
    CHECK_INT(cg_timeline_append(tl, &s), 0);
    snap = snap_of(tl);
    CHECK_INT(cg_clip_plan_range(snap, S(0.5), S(1), CG_CLIP_PRECISE, 0, &p, why, sizeof(why)), 0);
    CHECK_INT(p.keyframe_us, 0);
    CHECK_INT(p.avail_end_us, S(2));
    cg_tl_snap_free(snap);
    cg_timeline_unref(tl);
}

int main(void)
{
    RUN(test_parse_time);
    RUN(test_parse_mode);
    RUN(test_plan_live);
    RUN(test_plan_edges);
    return TEST_RESULT();
}
