/* egress/feed on a real media thread: one feed per stream from the moment
 * it opens; one shared cg_pkt per publisher packet handed to every viewer
 * (the same object, with its H.264 flags); the history answers by SSRC and
 * seq; the GOP cache holds the packets since the keyframe; the per-stream
 * viewer limit; keyframe requests from several viewers give one PLI, and
 * a deferred one after the second; on_end when the stream closes, and the
 * feed is gone after. */
#include <time.h>

#include "cg_test.h"
#include "core/err.h"
#include "core/frame.h"
#include "core/hub.h"
#include "egress/feed.h"
#include "ingest/media.h"
#include "rtc/rtp.h"

#define MAX_SEEN 64

typedef struct out_rec {
    cg_pkt *seen[MAX_SEEN];
    size_t n;
    int ended;
} out_rec;

static int publisher_tag;
static int keyframe_requests;

static void request_kf(void *publisher)
{
    CHECK(publisher == &publisher_tag);
    keyframe_requests++;
}

static void on_pkt(void *arg, int kind, cg_pkt *p, uint64_t now)
{
    (void)kind, (void)now;
    out_rec *o = arg;
    if (o->n < MAX_SEEN)
        o->seen[o->n++] = cg_pkt_ref(p);
}

static void on_end(void *arg)
{
    out_rec *o = arg;
    o->ended++;
}

typedef struct t_state {
    cg_stream *s;
    out_rec a, b, c;
    int rc_c;
} t_state;

static void publish(cg_stream *s, uint16_t seq, uint32_t ts, uint8_t nal, int marker)
{
    uint8_t pl[200], buf[300];
    memset(pl, 0x11, sizeof(pl));
    pl[0] = nal;
    size_t len = 0;
    CHECK_INT(
        cg_rtp_build(buf, sizeof(buf), &len, 102, marker, seq, ts, 0xabcdef01, pl, sizeof(pl)), 0);
    cg_stream_publish_rtp(s, CG_MEDIA_VIDEO, buf, len, 1000 + seq);
}

static void step_open(cg_media *m, void *arg)
{
    t_state *t = arg;
    CHECK_INT(cg_feed_watch(m), 0);
    cg_stream_info info = {.has_video = 1, .request_keyframe = request_kf};
    CHECK_INT(cg_hub_open(cg_media_hub(m), "cam", &publisher_tag, &info, &t->s), 0);
    cg_feed *f = cg_feed_find(m, "cam");
    CHECK(f != NULL);
    if (!f)
        return;
    CHECK(cg_feed_gop_enabled(f));
    CHECK(cg_feed_stream(f) == t->s);
    /* One RTP sink for the stream, whatever the number of viewers. */
    CHECK_INT(cg_stream_rtp_sink_count(t->s), 1);
    cg_feed_out oa = {.on_pkt = on_pkt, .on_end = on_end, .arg = &t->a};
    cg_feed_out ob = {.on_pkt = on_pkt, .on_end = on_end, .arg = &t->b};
    cg_feed_out oc = {.on_pkt = on_pkt, .on_end = on_end, .arg = &t->c};
    CHECK_INT(cg_feed_attach(f, &oa), 0);
    CHECK_INT(cg_feed_attach(f, &ob), 0);
    t->rc_c = cg_feed_attach(f, &oc);
    CHECK_INT(cg_feed_viewer_count(f), 2);
    CHECK_INT(cg_stream_rtp_sink_count(t->s), 1);

    /* A P frame before any keyframe, then an IDR and two P frames. */
    publish(t->s, 10, 1000, 0x41, 1);
    publish(t->s, 11, 4000, 0x65, 0);
    publish(t->s, 12, 4000, 0x65, 1);
    publish(t->s, 13, 7000, 0x41, 1);
    publish(t->s, 14, 10000, 0x41, 1);
    CHECK_INT(t->a.n, 5);
    CHECK_INT(t->b.n, 5);
    for (size_t i = 0; i < t->a.n && i < t->b.n; i++)
        CHECK(t->a.seen[i] == t->b.seen[i]); /* shared, not copied */
    if (t->a.n == 5) {
        CHECK_INT(t->a.seen[0]->flags, 0);
        CHECK(t->a.seen[1]->flags & CG_PKT_IDR);
        CHECK_INT(t->a.seen[3]->seq, 13);
    }
    cg_pkt *h = NULL;
    CHECK_INT(cg_feed_history_get(f, 0xabcdef01, 12, 1014, &h), 0);
    if (h)
        CHECK(h == t->a.seen[2]);
    cg_pkt_unref(h);
    CHECK_INT(cg_feed_history_get(f, 0xabcdef02, 12, 1014, &h), CG_ENOTFOUND);
    CHECK_INT(cg_feed_history_get(f, 0xabcdef01, 99, 1014, &h), CG_ENOTFOUND);
    cg_gop_snap snap;
    CHECK_INT(cg_feed_snapshot(f, &snap), 0);
    CHECK_INT(snap.n, 4); /* from the IDR on */
    if (snap.n == 4)
        CHECK_INT(snap.pkts[0]->seq, 11);
    cg_gop_snap_release(&snap);

    /* Three viewers ask within the second: one PLI now, one deferred. */
    cg_feed_request_keyframe(f, 5000000);
    cg_feed_request_keyframe(f, 5000100);
    cg_feed_request_keyframe(f, 5000200);
    CHECK_INT(keyframe_requests, 1);
    cg_feed_totals *tot = cg_feed_totals_of(f);
    CHECK_INT(tot->viewers, 2);
    cg_feed_add_ttff(f, 30);
    cg_feed_add_ttff(f, 10);
    cg_feed_add_ttff(f, 20);
    json_t *j = cg_feed_totals_json(f);
    json_t *ttff = json_object_get(j, "ttff_ms");
    CHECK_INT(json_integer_value(json_object_get(ttff, "last")), 20);
    CHECK_INT(json_integer_value(json_object_get(ttff, "median")), 20);
    CHECK_INT(json_integer_value(json_object_get(j, "viewers")), 2);
    json_decref(j);
    cg_feed_detach(f, &t->b);
    CHECK_INT(cg_feed_viewer_count(f), 1);
}

static void step_close(cg_media *m, void *arg)
{
    t_state *t = arg;
    cg_hub_close(cg_media_hub(m), t->s);
    CHECK(cg_feed_find(m, "cam") == NULL);
}

/* keyframe_requests belongs to the media thread: read it there. */
static void read_requests(cg_media *m, void *arg)
{
    (void)m;
    *(int *)arg = keyframe_requests;
}

static void release(out_rec *o)
{
    for (size_t i = 0; i < o->n; i++)
        cg_pkt_unref(o->seen[i]);
}

static void test_feed(void)
{
    cg_media_cfg cfg = {.bind = "127.0.0.1",
                        .port = 0,
                        .max_sessions = 4,
                        .consent_timeout_us = 5000000,
                        .max_viewers_per_stream = 2,
                        .gop_cache = 1};
    cg_media *m = NULL;
    CHECK_INT(cg_media_new(&m, &cfg), 0);
    if (!m)
        return;
    t_state t = {0};
    CHECK_INT(cg_media_call(m, step_open, &t), 0);
    CHECK_INT(t.rc_c, CG_ELIMIT);
    /* The deferred request goes out after the limiter's second (the test's
     * `now` values were in the past, so at the next timer run). */
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 200 * 1000 * 1000};
    int n = 0;
    for (int i = 0; i < 10 && n < 2; i++) {
        nanosleep(&ts, NULL);
        CHECK_INT(cg_media_call(m, read_requests, &n), 0);
    }
    CHECK_INT(n, 2);
    CHECK_INT(cg_media_call(m, step_close, &t), 0);
    CHECK_INT(t.a.ended, 1);
    CHECK_INT(t.b.ended, 0); /* detached before */
    CHECK_INT(t.c.ended, 0); /* never attached */
    release(&t.a);
    release(&t.b);
    cg_media_free(m);
}

int main(void)
{
    RUN(test_feed);
    return TEST_RESULT();
}
