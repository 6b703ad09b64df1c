/* The events of the contract (README "Live events"), field by field. */
#include "events/emit.h"
#include "core/err.h"
#include "cg_test.h"

static uint64_t fixed_clock(void)
{
    return 1796644800123456ull; /* 2026-12-07T12:00:00.123456Z */
}

static cg_events *ev;
static cg_events_client *client;

/* The next message without its envelope's time, as text. */
static void expect(const char *want)
{
    cg_events_msg *m = NULL;
    CHECK_INT(cg_events_next(client, &m), 0);
    if (!m)
        return;
    CHECK_STR((const char *)cg_events_msg_text(m, NULL), want);
    cg_events_msg_unref(m);
}

#define T "\"time\":\"2026-12-07T12:00:00.123Z\""

static void test_each_event(void)
{
    CHECK_INT(cg_events_stream_started(ev, "cam", "cam-b", 1, 0), 0);
    expect("{\"type\":\"stream.started\",\"seq\":1," T
           ",\"stream\":\"cam\",\"broadcast\":\"cam-b\","
           "\"video\":true,\"audio\":false}");
    CHECK_INT(cg_events_segment(ev, "cam", "cam-b", 4, 8.0, 2.0, 1796644798100000ull), 0);
    expect("{\"type\":\"segment\",\"seq\":2," T ",\"stream\":\"cam\",\"broadcast\":\"cam-b\","
           "\"segment\":4,\"start\":8.0,\"duration\":2.0,\"pdt\":\"2026-12-07T11:59:58.100Z\"}");
    CHECK_INT(cg_events_thumbnail(ev, "cam", "cam-b", 4, "/recordings/cam-b/thumbs/4.jpg"), 0);
    expect("{\"type\":\"thumbnail\",\"seq\":3," T ",\"stream\":\"cam\",\"broadcast\":\"cam-b\","
           "\"segment\":4,\"url\":\"/recordings/cam-b/thumbs/4.jpg\"}");
    CHECK_INT(cg_events_clip_created(ev, "AbCd1234EfGh5678", "cam-b", "cam", 3.0, 5.0), 0);
    expect("{\"type\":\"clip.created\",\"seq\":4," T ",\"id\":\"AbCd1234EfGh5678\","
           "\"broadcast\":\"cam-b\",\"stream\":\"cam\",\"start\":3.0,\"duration\":5.0,"
           "\"mp4\":\"/clips/AbCd1234EfGh5678.mp4\",\"m3u8\":\"/clips/AbCd1234EfGh5678.m3u8\"}");
    CHECK_INT(cg_events_viewers(ev, "cam", 2), 0);
    expect("{\"type\":\"viewers\",\"seq\":5," T ",\"stream\":\"cam\",\"viewers\":2}");
    CHECK_INT(cg_events_stream_ended(ev, "cam", "cam-b", 20.1), 0);
    expect("{\"type\":\"stream.ended\",\"seq\":6," T ",\"stream\":\"cam\",\"broadcast\":\"cam-b\","
           "\"duration\":20.1}");
}

static void test_bad_input(void)
{
    /* Not UTF-8: refused, nothing sent (not an event without fields). */
    CHECK_INT(cg_events_viewers(ev, "\xff\xfe", 1), CG_EINVAL);
    CHECK_INT(cg_events_pending(client), 0);
    /* Events off. */
    CHECK_INT(cg_events_viewers(NULL, "cam", 1), 0);
    CHECK_INT(cg_events_segment(NULL, "cam", "b", 0, 0, 2, 0), 0);
}

int main(void)
{
    cg_events_cfg cfg = {.queue_len = 16, .wall_us = fixed_clock};
    CHECK_INT(cg_events_new(&ev, &cfg), 0);
    CHECK_INT(cg_events_join(ev, &client), 0);
    cg_events_msg *hello = NULL;
    CHECK_INT(cg_events_next(client, &hello), 0);
    cg_events_msg_unref(hello);
    RUN(test_each_event);
    RUN(test_bad_input);
    cg_events_leave(client);
    cg_events_free(ev);
    return TEST_RESULT();
}
