/* Timeline model, snapshots under a concurrent writer, the index line
 * format and the loader's handling of torn and stray lines. */
#include <pthread.h>

#include "core/err.h"
#include "packager/timeline.h"
#include "cg_test.h"

static cg_tl_segment seg(uint64_t seq, int64_t start, int64_t dur)
{
    cg_tl_segment s = {.seq = seq,
                       .start = start,
                       .duration = dur,
                       .wall_us = 1700000000000000ull + (uint64_t)start * 1000000u / 90000u,
                       .bytes = 1000 + seq};
    return s;
}

static void test_append_rules(void)
{
    cg_timeline *tl = NULL;
    CHECK_INT(cg_timeline_new(&tl, "b1", 90000), 0);
    CHECK_INT(cg_timeline_new(&tl, "bad/id", 90000), CG_EINVAL);
    CHECK_INT(cg_timeline_new(&tl, "b1", 0), CG_EINVAL);
    cg_tl_segment s0 = seg(0, 0, 180000);
    int64_t k0[2] = {0, 90000};
    s0.keys = k0;
    s0.nkeys = 2;
    CHECK_INT(cg_timeline_append(tl, &s0), 0);
    /* seq must follow, time must not go back, keys must be inside. */
    cg_tl_segment bad = seg(5, 180000, 180000);
    CHECK_INT(cg_timeline_append(tl, &bad), CG_EINVAL);
    bad = seg(1, 170000, 180000);
    CHECK_INT(cg_timeline_append(tl, &bad), CG_EINVAL);
    bad = seg(1, 180000, 0);
    CHECK_INT(cg_timeline_append(tl, &bad), CG_EINVAL);
    int64_t kout[1] = {360000};
    bad = seg(1, 180000, 180000);
    bad.keys = kout;
    bad.nkeys = 1;
    CHECK_INT(cg_timeline_append(tl, &bad), CG_EINVAL);
    /* A gap (lost segment) is allowed. */
    cg_tl_segment s1 = seg(1, 540000, 180000);
    s1.flags = CG_TL_DISCONTINUITY;
    CHECK_INT(cg_timeline_append(tl, &s1), 0);
    CHECK_INT(cg_timeline_count(tl), 2);

    cg_tl_snap *snap = NULL;
    CHECK_INT(cg_timeline_snapshot(tl, &snap), 0);
    /* Keys were copied: the caller's array is not referenced. */
    k0[1] = 12345;
    CHECK_INT(cg_tl_snap_seg(snap, 0)->keys[1], 90000);
    size_t idx = 99;
    CHECK_INT(cg_tl_snap_find(snap, 0, &idx), 0);
    CHECK_INT(idx, 0);
    CHECK_INT(cg_tl_snap_find(snap, 179999, &idx), 0);
    CHECK_INT(idx, 0);
    CHECK_INT(cg_tl_snap_find(snap, 180000, &idx), CG_ENOTFOUND); /* in the gap */
    CHECK_INT(cg_tl_snap_find(snap, 600000, &idx), 0);
    CHECK_INT(idx, 1);
    CHECK_INT(cg_tl_snap_find(snap, 720000, &idx), CG_ENOTFOUND);
    CHECK_INT(cg_tl_snap_find(snap, -1, &idx), CG_ENOTFOUND);
    CHECK(cg_tl_snap_seg(snap, 2) == NULL);

    /* Appends after a snapshot do not change it; ended refuses appends. */
    cg_tl_segment s2 = seg(2, 720000, 90000);
    CHECK_INT(cg_timeline_append(tl, &s2), 0);
    CHECK_INT(cg_tl_snap_count(snap), 2);
    cg_timeline_add_lost(tl, 1);
    cg_timeline_set_ended(tl, 1700000009000000ull);
    cg_tl_segment s3 = seg(3, 810000, 90000);
    CHECK_INT(cg_timeline_append(tl, &s3), CG_ESTATE);
    CHECK_INT(cg_tl_snap_info(snap)->state, CG_TL_LIVE);
    cg_tl_info info;
    cg_timeline_info(tl, &info);
    CHECK_INT(info.state, CG_TL_ENDED);
    CHECK_INT(info.degraded, 1);
    CHECK_INT(info.lost_segments, 1);
    /* The snapshot keeps the timeline alive after its owner lets go. */
    cg_timeline_unref(tl);
    CHECK_STR(cg_tl_snap_info(snap)->id, "b1");
    CHECK_INT(cg_tl_snap_seg(snap, 1)->start, 540000);
    cg_tl_snap_free(snap);
    cg_tl_snap_free(NULL);
    cg_timeline_unref(NULL);
}

static void test_names(void)
{
    char b[32];
    CHECK_INT(cg_tl_segment_name(42, b, sizeof(b)), 0);
    CHECK_STR(b, "seg-42.m4s");
    CHECK_INT(cg_tl_init_name(0, b, sizeof(b)), 0);
    CHECK_STR(b, "init.mp4");
    CHECK_INT(cg_tl_init_name(3, b, sizeof(b)), 0);
    CHECK_STR(b, "init-3.mp4");
    CHECK_INT(cg_tl_segment_name(42, b, 5), CG_ENOSPC);
    CHECK(cg_tl_id_valid("Ab-9_z"));
    CHECK(!cg_tl_id_valid(""));
    CHECK(!cg_tl_id_valid("a.b"));
    CHECK(!cg_tl_id_valid("../x"));
}

static void test_line_format(void)
{
    cg_dbuf d;
    cg_dbuf_init(&d, 4096);
    cg_tl_info info = {.timescale = 90000, .start_wall_us = 1700000000123456ull};
    memcpy(info.id, "b1", 3);
    cg_tl_format_broadcast(&info, &d);
    cg_tl_segment s = seg(7, 1260000, 181234);
    int64_t keys[2] = {1260000, 1350000};
    s.keys = keys;
    s.nkeys = 2;
    s.flags = CG_TL_DISCONTINUITY;
    s.period = 1;
    cg_tl_format_segment(&s, 90000, &d);
    cg_tl_format_end(1700000030000000ull, &d);
    CHECK_STR(cg_dbuf_str(&d),
              "{\"type\":\"broadcast\",\"v\":1,\"id\":\"b1\",\"timescale\":90000,"
              "\"start_wall_us\":1700000000123456}\n"
              "{\"type\":\"segment\",\"seq\":7,\"period\":1,\"start\":1260000,\"duration\":181234,"
              "\"start_s\":14.000000,\"duration_s\":2.013711,\"wall_us\":1700000014000000,"
              "\"bytes\":1007,\"keys\":[1260000,1350000],\"disc\":true}\n"
              "{\"type\":\"end\",\"wall_us\":1700000030000000}\n");

    /* Round trip through the parser. */
    cg_tl_line *l = malloc(sizeof(*l));
    const char *text = cg_dbuf_str(&d);
    const char *nl = strchr(text, '\n');
    CHECK_INT(cg_tl_parse_line(text, (size_t)(nl - text), l), 0);
    CHECK_INT(l->type, CG_TL_LINE_BROADCAST);
    CHECK_STR(l->id, "b1");
    CHECK_INT(l->timescale, 90000);
    CHECK_INT(l->wall_us, 1700000000123456ull);
    const char *l2 = nl + 1;
    nl = strchr(l2, '\n');
    CHECK_INT(cg_tl_parse_line(l2, (size_t)(nl - l2), l), 0);
    CHECK_INT(l->type, CG_TL_LINE_SEGMENT);
    CHECK_INT(l->seg.seq, 7);
    CHECK_INT(l->seg.period, 1);
    CHECK_INT(l->seg.start, 1260000);
    CHECK_INT(l->seg.duration, 181234);
    CHECK_INT(l->seg.bytes, 1007);
    CHECK_INT(l->seg.flags, CG_TL_DISCONTINUITY);
    CHECK_INT(l->seg.nkeys, 2);
    CHECK_INT(l->seg.keys[1], 1350000);
    const char *l3 = nl + 1;
    nl = strchr(l3, '\n');
    CHECK_INT(cg_tl_parse_line(l3, (size_t)(nl - l3), l), 0);
    CHECK_INT(l->type, CG_TL_LINE_END);
    CHECK_INT(l->wall_us, 1700000030000000ull);
    cg_dbuf_free(&d);
    free(l);
}

static int parse(const char *s)
{
    static cg_tl_line l;
    return cg_tl_parse_line(s, strlen(s), &l);
}

static void test_parser_rejects(void)
{
    /* Whitespace, key order and unknown fields (later versions) are fine. */
    CHECK_INT(parse(" { \"wall_us\" : 5 , \"type\" : \"end\", \"future\": {\"a\":[1,{\"b\":null}]},"
                    "\"x\":\"\\u00e9\\n\", \"y\": -1.5e3 } "),
              0);
    CHECK_INT(parse("{\"type\":\"segment\",\"seq\":0,\"start\":0,\"duration\":1,\"wall_us\":0,"
                    "\"bytes\":0}"),
              0);
    /* Torn, malformed or out of range. */
    static const char *const bad[] = {
        "",
        "{",
        "{\"type\":\"segment\",\"seq\":0,\"start\":0,\"duration\":1,\"wall_us\":0,\"bytes\"",
        "{\"type\":\"segment\",\"seq\":0,\"start\":0,\"duration\":0,\"wall_us\":0,\"bytes\":0}",
        "{\"type\":\"segment\",\"seq\":0,\"start\":-1,\"duration\":1,\"wall_us\":0,\"bytes\":0}",
        "{\"type\":\"segment\",\"seq\":0,\"start\":0,\"duration\":1.5,\"wall_us\":0,\"bytes\":0}",
        "{\"type\":\"segment\",\"seq\":0,\"start\":0,\"duration\":1,\"wall_us\":0}",
        "{\"type\":\"segment\",\"seq\":0,\"seq\":1,\"start\":0,\"duration\":1,\"wall_us\":0,"
        "\"bytes\":0}",
        "{\"type\":\"segment\",\"seq\":0,\"start\":0,\"duration\":9,\"wall_us\":0,\"bytes\":0,"
        "\"keys\":[9]}",
        "{\"type\":\"segment\",\"seq\":0,\"start\":0,\"duration\":9,\"wall_us\":0,\"bytes\":0,"
        "\"keys\":[2,1]}",
        "{\"type\":\"segment\",\"seq\":0,\"start\":0,\"duration\":99999999999999999999,"
        "\"wall_us\":0,\"bytes\":0}",
        "{\"type\":\"broadcast\",\"v\":1,\"id\":\"../x\",\"timescale\":90000,\"start_wall_us\":0}",
        "{\"type\":\"broadcast\",\"v\":1,\"id\":\"b\",\"timescale\":0,\"start_wall_us\":0}",
        "{\"type\":\"end\",\"wall_us\":1} trailing",
        "{\"type\":\"end\",\"wall_us\":1,}",
        "{\"type\":\"end\" \"wall_us\":1}",
        "{\"type\":\"end\",\"wall_us\":01}",
        "{\"type\":\"end\",\"wall_us\":1,\"z\":\"\x01\"}",
        "{\"type\":\"end\",\"wall_us\":1,\"z\":[[[[[[[[[[1]]]]]]]]]]}",
        "[1]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = parse(bad[i]);
        if (rc == 0)
            fprintf(stderr, "accepted: %s\n", bad[i]);
        CHECK(rc != 0);
    }
    CHECK_INT(parse("{\"type\":\"whatever\",\"wall_us\":1}"), CG_EUNSUPP);
    CHECK_INT(parse("{\"type\":\"broadcast\",\"v\":2,\"id\":\"b\",\"timescale\":1,"
                    "\"start_wall_us\":0}"),
              CG_EUNSUPP);
}

static const char index_text[] =
    "{\"type\":\"broadcast\",\"v\":1,\"id\":\"b7\",\"timescale\":90000,\"start_wall_us\":1000}\n"
    "{\"type\":\"segment\",\"seq\":0,\"start\":0,\"duration\":180000,\"wall_us\":1000,"
    "\"bytes\":10,\"keys\":[0]}\n"
    "this line is garbage\n"
    "{\"type\":\"segment\",\"seq\":5,\"start\":180000,\"duration\":180000,\"wall_us\":2001000,"
    "\"bytes\":10}\n"
    "{\"type\":\"segment\",\"seq\":1,\"start\":180000,\"duration\":180000,\"wall_us\":2001000,"
    "\"bytes\":11,\"keys\":[180000]}\n"
    "{\"type\":\"segment\",\"seq\":1,\"start\":360000,\"duration\":180000,\"wall_us\":4001000,"
    "\"bytes\":12}\n"
    "{\"type\":\"segment\",\"seq\":2,\"start\":360000,\"duration\":90000,\"wall_us\":4001000,"
    "\"bytes\":12,\"keys\":[360000]}\n"
    "{\"type\":\"segment\",\"seq\":3,\"start\":450000,\"dura";

static void test_loader(void)
{
    cg_timeline *tl = NULL;
    cg_tl_load_report rep;
    CHECK_INT(cg_tl_load_text(index_text, strlen(index_text), &tl, &rep), 0);
    /* The garbage line, the out-of-order seq 5, the duplicate seq 1 are
     * dropped; the torn tail is reported and dropped. */
    CHECK_INT(rep.lines, 7);
    CHECK_INT(rep.bad_lines, 3);
    CHECK_INT(rep.torn_tail, 1);
    CHECK_INT(rep.segments, 3);
    cg_tl_snap *snap = NULL;
    CHECK_INT(cg_timeline_snapshot(tl, &snap), 0);
    CHECK_INT(cg_tl_snap_count(snap), 3);
    CHECK_INT(cg_tl_snap_seg(snap, 1)->bytes, 11);
    CHECK_INT(cg_tl_snap_seg(snap, 2)->duration, 90000);
    CHECK_INT(cg_tl_snap_info(snap)->start_wall_us, 1000);
    CHECK_INT(cg_tl_snap_info(snap)->state, CG_TL_LIVE);
    cg_tl_snap_free(snap);
    cg_timeline_unref(tl);

    /* With an end line, the broadcast is ended; lines after it are strays. */
    const char ended[] =
        "{\"type\":\"broadcast\",\"v\":1,\"id\":\"b7\",\"timescale\":48000,\"start_wall_us\":5}\n"
        "{\"type\":\"end\",\"wall_us\":77}\n"
        "{\"type\":\"segment\",\"seq\":0,\"start\":0,\"duration\":96000,\"wall_us\":5,"
        "\"bytes\":10}\n";
    CHECK_INT(cg_tl_load_text(ended, strlen(ended), &tl, &rep), 0);
    cg_tl_info info;
    cg_timeline_info(tl, &info);
    CHECK_INT(info.state, CG_TL_ENDED);
    CHECK_INT(info.end_wall_us, 77);
    CHECK_INT(info.timescale, 48000);
    CHECK_INT(cg_timeline_count(tl), 0);
    CHECK_INT(rep.bad_lines, 1);
    cg_timeline_unref(tl);

    /* No broadcast line: nothing to rebuild. */
    const char headless[] = "{\"type\":\"end\",\"wall_us\":77}\n";
    CHECK_INT(cg_tl_load_text(headless, strlen(headless), &tl, &rep), CG_EPROTO);
    CHECK_INT(cg_tl_load_text("", 0, &tl, &rep), CG_EPROTO);
}

/* One writer appends while readers take snapshots and walk them: under
 * ASan any read of a moved or freed chunk fails the run. */
typedef struct race {
    cg_timeline *tl;
    int done;
} race;

static void *writer(void *arg)
{
    race *r = arg;
    for (uint64_t i = 0; i < 3000; i++) {
        cg_tl_segment s = seg(i, (int64_t)i * 180000, 180000);
        int64_t k = s.start;
        s.keys = &k;
        s.nkeys = 1;
        if (cg_timeline_append(r->tl, &s) != 0)
            break;
    }
    __atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void test_concurrent_snapshots(void)
{
    race r = {0};
    CHECK_INT(cg_timeline_new(&r.tl, "race", 90000), 0);
    pthread_t t;
    pthread_create(&t, NULL, writer, &r);
    int bad = 0;
    size_t last = 0;
    while (!__atomic_load_n(&r.done, __ATOMIC_ACQUIRE)) {
        cg_tl_snap *s = NULL;
        if (cg_timeline_snapshot(r.tl, &s) != 0)
            continue;
        size_t n = cg_tl_snap_count(s);
        if (n < last)
            bad++;
        last = n;
        for (size_t i = 0; i < n; i++) {
            const cg_tl_segment *g = cg_tl_snap_seg(s, i);
            if (g->seq != i || g->start != (int64_t)i * 180000 || g->keys[0] != g->start)
                bad++;
        }
        cg_tl_snap_free(s);
    }
    pthread_join(t, NULL);
    CHECK_INT(bad, 0);
    CHECK_INT(cg_timeline_count(r.tl), 3000);
    cg_timeline_unref(r.tl);
}

int main(void)
{
    RUN(test_append_rules);
    RUN(test_names);
    RUN(test_line_format);
    RUN(test_parser_rejects);
    RUN(test_loader);
    RUN(test_concurrent_snapshots);
    return TEST_RESULT();
}
