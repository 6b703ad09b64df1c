#include "events/bus.h"
#include "core/err.h"
#include "cg_test.h"

#include <pthread.h>
#include <sched.h>

static uint64_t fixed_clock(void)
{
    return 1796644800123456ull; /* 2026-12-07T12:00:00.123456Z */
}

static int wakes;
static void count_wake(void *arg)
{
    (void)arg;
    __atomic_add_fetch(&wakes, 1, __ATOMIC_RELAXED);
}

static cg_events *bus(size_t queue_len, size_t max_clients, size_t headroom)
{
    cg_events_cfg cfg = {.queue_len = queue_len,
                         .max_clients = max_clients,
                         .headroom = headroom,
                         .wake = count_wake,
                         .wall_us = fixed_clock};
    cg_events *ev = NULL;
    CHECK_INT(cg_events_new(&ev, &cfg), 0);
    return ev;
}

/* Takes the next message's text into out (empty on error); returns the rc. */
static int next_text(cg_events_client *c, char *out, size_t cap, uint64_t *seq)
{
    cg_events_msg *m = NULL;
    int rc = cg_events_next(c, &m);
    out[0] = '\0';
    if (rc == 0) {
        size_t len;
        const unsigned char *t = cg_events_msg_text(m, &len);
        CHECK_INT(strlen((const char *)t), len);
        snprintf(out, cap, "%s", (const char *)t);
        if (seq)
            *seq = cg_events_msg_seq(m);
        cg_events_msg_unref(m);
    }
    return rc;
}

static void test_rfc3339(void)
{
    char s[32];
    CHECK_INT(cg_events_rfc3339(0, s, sizeof(s)), 0);
    CHECK_STR(s, "1970-01-01T00:00:00.000Z");
    CHECK_INT(cg_events_rfc3339(fixed_clock(), s, sizeof(s)), 0);
    CHECK_STR(s, "2026-12-07T12:00:00.123Z");
    CHECK_INT(cg_events_rfc3339(fixed_clock(), s, 24), CG_ENOSPC);
}

static void test_envelope_and_hello(void)
{
    cg_events *ev = bus(8, 4, 16);
    char t[512];
    uint64_t seq = 99;
    cg_events_client *a = NULL;
    CHECK_INT(cg_events_join(ev, &a), 0);
    CHECK_INT(next_text(a, t, sizeof(t), &seq), 0);
    CHECK_STR(t,
              "{\"type\":\"hello\",\"seq\":0,\"time\":\"2026-12-07T12:00:00.123Z\",\"version\":1}");
    CHECK_INT(seq, 0);
    CHECK_INT(next_text(a, t, sizeof(t), NULL), CG_EAGAIN);

    json_t *f = json_pack("{s:s,s:s,s:I,s:f,s:b}", "stream", "cam \"1\"", "broadcast", "b1",
                          "segment", (json_int_t)7, "duration", 2.0, "audio", 1);
    CHECK_INT(cg_events_emit(ev, "segment", f), 0);
    CHECK_INT(cg_events_emit(ev, "stream.ended", NULL), 0);
    CHECK_INT(cg_events_pending(a), 2);
    CHECK_INT(next_text(a, t, sizeof(t), &seq), 0);
    CHECK_STR(t, "{\"type\":\"segment\",\"seq\":1,\"time\":\"2026-12-07T12:00:00.123Z\","
                 "\"stream\":\"cam \\\"1\\\"\",\"broadcast\":\"b1\",\"segment\":7,"
                 "\"duration\":2.0,\"audio\":true}");
    CHECK_INT(seq, 1);
    CHECK_INT(next_text(a, t, sizeof(t), &seq), 0);
    CHECK_STR(t, "{\"type\":\"stream.ended\",\"seq\":2,\"time\":\"2026-12-07T12:00:00.123Z\"}");
    json_t *parsed = json_loads(t, 0, NULL);
    CHECK(json_is_object(parsed));
    json_decref(parsed);

    /* A client joining later starts at the last seq. */
    cg_events_client *b = NULL;
    CHECK_INT(cg_events_join(ev, &b), 0);
    CHECK_INT(next_text(b, t, sizeof(t), &seq), 0);
    CHECK(strstr(t, "\"type\":\"hello\",\"seq\":2,") != NULL);
    CHECK_INT(cg_events_last_seq(ev), 2);

    /* The headroom before the text is the consumer's scratch. */
    CHECK_INT(cg_events_emit(ev, "viewers", json_pack("{s:s,s:i}", "stream", "s", "viewers", 3)),
              0);
    cg_events_msg *m = NULL;
    CHECK_INT(cg_events_next(b, &m), 0);
    size_t len;
    unsigned char *p = cg_events_msg_text(m, &len);
    memset(p - 16, 0xAA, 16);
    CHECK(strncmp((const char *)p, "{\"type\":\"viewers\"", 17) == 0);
    cg_events_msg_unref(m);
    cg_events_leave(a);
    cg_events_leave(b);
    cg_events_free(ev);
}

static void test_invalid(void)
{
    cg_events *ev = bus(8, 4, 0);
    CHECK_INT(cg_events_emit(ev, "", NULL), CG_EINVAL);
    CHECK_INT(cg_events_emit(ev, NULL, NULL), CG_EINVAL);
    CHECK_INT(cg_events_emit(ev, "hello", NULL), CG_EINVAL);
    CHECK_INT(cg_events_emit(ev, "Stream started", NULL), CG_EINVAL);
    CHECK_INT(cg_events_emit(ev, "a23456789012345678901234567890123", NULL), CG_EINVAL);
    CHECK_INT(cg_events_emit(ev, "x", json_array()), CG_EINVAL);
    CHECK_INT(cg_events_emit(ev, "x", json_pack("{s:i}", "seq", 1)), CG_EINVAL);
    CHECK_INT(cg_events_emit(ev, "x", json_pack("{s:s}", "time", "now")), CG_EINVAL);
    CHECK_INT(cg_events_emit(ev, "x", json_pack("{s:s}", "type", "y")), CG_EINVAL);
    CHECK_INT(cg_events_last_seq(ev), 0); /* nothing was stamped */
    /* Events off: the fields are released, nothing fails. */
    CHECK_INT(cg_events_emit(NULL, "x", json_pack("{s:i}", "a", 1)), 0);
    cg_events_free(ev);
    cg_events_free(NULL);
    cg_events_leave(NULL);
}

/* A client that does not take its messages is dropped when its queue is
 * full; the others get every event and the producer is never refused. */
static void test_slow_client_dropped(void)
{
    wakes = 0;
    cg_events *ev = bus(4, 8, 0);
    cg_events_client *fast = NULL, *slow = NULL;
    CHECK_INT(cg_events_join(ev, &fast), 0);
    CHECK_INT(cg_events_join(ev, &slow), 0);
    char t[256];
    uint64_t seq = 0, want = 0;
    CHECK_INT(next_text(fast, t, sizeof(t), &seq), 0); /* hello */
    for (int i = 1; i <= 20; i++) {
        CHECK_INT(cg_events_emit(ev, "segment", json_pack("{s:i}", "segment", i)), 0);
        CHECK_INT(next_text(fast, t, sizeof(t), &seq), 0);
        CHECK_INT(seq, ++want);
        /* slow holds hello + 3 events, then the 4th event overflows it. */
        CHECK_INT(cg_events_pending(slow), i < 4 ? i + 1 : 4);
    }
    cg_events_stats st;
    cg_events_get_stats(ev, &st);
    CHECK_INT(st.dropped, 1);
    CHECK_INT(st.published, 20);
    CHECK_INT(st.clients, 2);
    CHECK_INT(next_text(slow, t, sizeof(t), NULL), CG_ELIMIT);
    CHECK_INT(next_text(slow, t, sizeof(t), NULL), CG_ELIMIT); /* sticky */
    CHECK_INT(wakes, 20);
    cg_events_leave(slow);
    cg_events_get_stats(ev, &st);
    CHECK_INT(st.clients, 1);
    cg_events_leave(fast);
    /* Nobody listening: no wake. */
    CHECK_INT(cg_events_emit(ev, "segment", NULL), 0);
    CHECK_INT(wakes, 20);
    cg_events_free(ev);
}

static void test_max_clients(void)
{
    cg_events *ev = bus(4, 2, 0);
    cg_events_client *a = NULL, *b = NULL, *c = NULL;
    CHECK_INT(cg_events_join(ev, &a), 0);
    CHECK_INT(cg_events_join(ev, &b), 0);
    CHECK_INT(cg_events_join(ev, &c), CG_ELIMIT);
    CHECK(c == NULL);
    cg_events_leave(a);
    CHECK_INT(cg_events_join(ev, &c), 0);
    cg_events_stats st;
    cg_events_get_stats(ev, &st);
    CHECK_INT(st.rejected, 1);
    CHECK_INT(st.joined, 3);
    /* Freeing the bus frees clients still joined, with their queues. */
    CHECK_INT(cg_events_emit(ev, "x", NULL), 0);
    cg_events_free(ev);
}

#define PRODUCERS 4
#define PER_PRODUCER 5000
#define CONSUMERS 3

typedef struct consumer {
    cg_events_client *c;
    int done; /* atomic: producers finished */
    int failures;
    size_t got;
} consumer;

static void *produce(void *arg)
{
    cg_events *ev = arg;
    static int next_id;
    int id = __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < PER_PRODUCER; i++)
        cg_events_emit(ev, "segment", json_pack("{s:i,s:i}", "producer", id, "n", i));
    return NULL;
}

/* Every event, in seq order without gaps, and each producer's events in
 * the order it emitted them. */
static void *consume(void *arg)
{
    consumer *k = arg;
    uint64_t last = 0;
    int seen_hello = 0;
    int per[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++)
        per[i] = -1;
    for (;;) {
        cg_events_msg *m = NULL;
        int rc = cg_events_next(k->c, &m);
        if (rc == CG_EAGAIN) {
            sched_yield();
            if (__atomic_load_n(&k->done, __ATOMIC_ACQUIRE) && cg_events_pending(k->c) == 0)
                break;
            continue;
        }
        if (rc != 0) {
            k->failures++;
            break;
        }
        uint64_t seq = cg_events_msg_seq(m);
        json_t *j = json_loads((const char *)cg_events_msg_text(m, NULL), 0, NULL);
        if (!seen_hello) {
            seen_hello = 1;
            last = seq;
        } else {
            if (seq != last + 1)
                k->failures++;
            last = seq;
            int p = (int)json_integer_value(json_object_get(j, "producer"));
            int n = (int)json_integer_value(json_object_get(j, "n"));
            if (p < 0 || p >= PRODUCERS || n != per[p] + 1)
                k->failures++;
            else
                per[p] = n;
            k->got++;
        }
        json_decref(j);
        cg_events_msg_unref(m);
    }
    return NULL;
}

static void test_threads(void)
{
    /* Queues large enough that nobody is dropped: this is about order. */
    cg_events *ev = bus(PRODUCERS * PER_PRODUCER + 1, 8, 16);
    consumer k[CONSUMERS];
    pthread_t ct[CONSUMERS], pt[PRODUCERS];
    memset(k, 0, sizeof(k));
    for (int i = 0; i < CONSUMERS; i++) {
        CHECK_INT(cg_events_join(ev, &k[i].c), 0);
        pthread_create(&ct[i], NULL, consume, &k[i]);
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_create(&pt[i], NULL, produce, ev);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(pt[i], NULL);
    for (int i = 0; i < CONSUMERS; i++)
        __atomic_store_n(&k[i].done, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < CONSUMERS; i++) {
        pthread_join(ct[i], NULL);
        CHECK_INT(k[i].failures, 0);
        CHECK_INT(k[i].got, PRODUCERS * PER_PRODUCER);
        cg_events_leave(k[i].c);
    }
    CHECK_INT(cg_events_last_seq(ev), PRODUCERS * PER_PRODUCER);
    cg_events_free(ev);
}

int main(void)
{
    RUN(test_rfc3339);
    RUN(test_envelope_and_hello);
    RUN(test_invalid);
    RUN(test_slow_client_dropped);
    RUN(test_max_clients);
    RUN(test_threads);
    return TEST_RESULT();
}
