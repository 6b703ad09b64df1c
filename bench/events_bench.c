/* Cost of publishing a live event (events/bus.h) on the producer's thread
 * (the media loop, a packager worker) by number of connected clients: a
 * "segment" event's fields packed with jansson, stamped, serialised once
 * and queued on every client, while one consumer thread drains every
 * client as the WebSocket service thread would (without the sockets).
 *
 *   events_bench [--events N]
 *
 * Prints a Markdown section for bench/results.md. Figures are wall-clock
 * on a shared machine: compare rows of one run. */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "events/bus.h"
#include "events/emit.h"

#define MAX_CLIENTS 256

typedef struct drain {
    cg_events_client *c[MAX_CLIENTS];
    size_t n;
    int stop; /* atomic */
    uint64_t taken, dropped;
} drain;

static void *consume(void *arg)
{
    drain *d = arg;
    for (;;) {
        int any = 0;
        for (size_t i = 0; i < d->n; i++) {
            cg_events_msg *m;
            int rc;
            while ((rc = cg_events_next(d->c[i], &m)) == 0) {
                cg_events_msg_unref(m);
                d->taken++;
                any = 1;
            }
        }
        if (!any) {
            if (__atomic_load_n(&d->stop, __ATOMIC_ACQUIRE))
                break;
            sched_yield();
        }
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    size_t events = 50000;
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--events") == 0)
            events = strtoul(argv[++i], NULL, 10);
    /* Queues hold every event, so no client is dropped however far the
     * drain falls behind: this measures the producer, not the policy. */
    if (events < 1 || events > 65535)
        events = 50000;
    static const size_t counts[] = {0, 1, 10, 100, 256};
    uint64_t *lat = malloc(events * sizeof(*lat));
    if (!lat)
        return 1;
    printf("# Live events: publishing cost\n\n"
           "`bench/events_bench` (run by `bench/run.sh events`): %zu \"segment\" events "
           "published from one thread, fields packed, stamped, serialised once and queued on "
           "every client, while one thread drains the clients (no sockets). Time per event "
           "on the producer's thread:\n\n"
           "| clients | mean µs | p50 µs | p99 µs | max µs |\n"
           "|---:|---:|---:|---:|---:|\n",
           events);
    for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
        cg_events_cfg cfg = {.queue_len = 65536, .max_clients = MAX_CLIENTS, .headroom = 16};
        cg_events *ev = NULL;
        if (cg_events_new(&ev, &cfg) != 0)
            return 1;
        drain d = {.n = counts[k]};
        for (size_t i = 0; i < d.n; i++)
            if (cg_events_join(ev, &d.c[i]) != 0)
                return 1;
        pthread_t t;
        pthread_create(&t, NULL, consume, &d);
        uint64_t total0 = cg_now_us();
        for (size_t i = 0; i < events; i++) {
            uint64_t t0 = cg_now_us();
            cg_events_segment(ev, "cam", "cam-20261207T120000Z-1a2b", i, (double)i * 2.0, 2.0,
                              cg_wall_us());
            lat[i] = cg_now_us() - t0;
        }
        uint64_t total = cg_now_us() - total0;
        __atomic_store_n(&d.stop, 1, __ATOMIC_RELEASE);
        pthread_join(t, NULL);
        cg_events_stats st;
        cg_events_get_stats(ev, &st);
        qsort(lat, events, sizeof(*lat), cmp_u64);
        printf("| %zu | %.2f | %llu | %llu | %llu |\n", counts[k], (double)total / (double)events,
               (unsigned long long)lat[events / 2], (unsigned long long)lat[events * 99 / 100],
               (unsigned long long)lat[events - 1]);
        if (st.dropped)
            fprintf(stderr, "events_bench: %llu clients dropped\n", (unsigned long long)st.dropped);
        for (size_t i = 0; i < d.n; i++)
            cg_events_leave(d.c[i]);
        cg_events_free(ev);
    }
    printf("\nThe clock reads whole microseconds, so p50 and p99 round down; the max is a "
           "preemption of the producer thread on a shared machine. A live stream makes one "
           "segment event every 2 s.\n");
    free(lat);
    return 0;
}
