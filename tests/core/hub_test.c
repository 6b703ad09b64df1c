/* core/hub: several stream observers (the recorder and the WHEP feeds) are
 * told in the order they were added, on open before the stream's sinks
 * run and on close before the sinks' on_end; the bound; removal by arg. */
#include "cg_test.h"
#include "core/err.h"
#include "core/hub.h"

static char events[64];
static size_t n_events;

static void note(char c)
{
    if (n_events < sizeof(events) - 1)
        events[n_events++] = c;
}

static void open_a(void *arg, cg_stream *s)
{
    (void)arg, (void)s;
    note('A');
}
static void close_a(void *arg, cg_stream *s)
{
    (void)arg, (void)s;
    note('a');
}
static void open_b(void *arg, cg_stream *s)
{
    (void)arg;
    CHECK(cg_stream_name(s) != NULL);
    note('B');
}
static void close_b(void *arg, cg_stream *s)
{
    (void)arg, (void)s;
    note('b');
}
static void sink_end(void *arg)
{
    (void)arg;
    note('e');
}
static void sink_rtp(void *arg, int kind, const uint8_t *p, size_t n, uint64_t now)
{
    (void)arg, (void)kind, (void)p, (void)n, (void)now;
    note('r');
}

static void test_observers(void)
{
    cg_hub *hub = NULL;
    CHECK_INT(cg_hub_new(&hub), 0);
    int tag_a, tag_b, tag_x;
    cg_hub_observer a = {.on_open = open_a, .on_close = close_a, .arg = &tag_a};
    cg_hub_observer b = {.on_open = open_b, .on_close = close_b, .arg = &tag_b};
    CHECK_INT(cg_hub_add_observer(hub, &a), 0);
    CHECK_INT(cg_hub_add_observer(hub, &b), 0);
    cg_stream_info info = {.has_video = 1};
    cg_stream *s = NULL;
    CHECK_INT(cg_hub_open(hub, "cam", &tag_x, &info, &s), 0);
    cg_rtp_sink sink = {.on_rtp = sink_rtp, .on_end = sink_end, .arg = &tag_x};
    CHECK_INT(cg_stream_add_rtp_sink(s, &sink), 0);
    uint8_t pkt[12] = {0x80};
    cg_stream_publish_rtp(s, 0, pkt, sizeof(pkt), 1);
    cg_hub_close(hub, s);
    events[n_events] = 0;
    CHECK_STR(events, "ABrabe");

    /* Removed by arg: only A is told now. */
    n_events = 0;
    cg_hub_remove_observer(hub, &tag_b);
    cg_hub_remove_observer(hub, &tag_x); /* unknown: ignored */
    CHECK_INT(cg_hub_open(hub, "cam", &tag_x, &info, &s), 0);
    cg_hub_close(hub, s);
    events[n_events] = 0;
    CHECK_STR(events, "Aa");

    /* Bounded. */
    for (int i = 1; i < CG_HUB_MAX_OBSERVERS; i++)
        CHECK_INT(cg_hub_add_observer(hub, &b), 0);
    CHECK_INT(cg_hub_add_observer(hub, &b), CG_ELIMIT);
    cg_hub_free(hub);
}

int main(void)
{
    RUN(test_observers);
    return TEST_RESULT();
}
