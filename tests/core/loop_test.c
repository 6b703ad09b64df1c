#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cg_test.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/loop.h"
#include "core/queue.h"

typedef struct order {
    int seen[8];
    int n;
    cg_loop *loop;
} order;

static void record_timer(cg_loop *loop, void *arg)
{
    int **pp = arg;
    order *o = (order *)pp[0];
    o->seen[o->n++] = *(int *)pp[1];
    if (o->n == 3)
        cg_loop_stop(loop);
}

/* Timers fire in deadline order whatever the order they were armed in; a
 * cancelled one never fires; re-arming moves it. */
static void test_timers(void)
{
    cg_loop *loop;
    CHECK_INT(cg_loop_new(&loop, 16), 0);
    order o = {.loop = loop};
    int ids[4] = {1, 2, 3, 4};
    void *args[4][2];
    cg_timer t[4] = {{0}};
    uint64_t now = cg_now_us();
    uint64_t at[4] = {now + 30000, now + 10000, now + 20000, now + 5000};
    for (int i = 0; i < 4; i++) {
        args[i][0] = &o;
        args[i][1] = &ids[i];
        cg_loop_timer_set(loop, &t[i], at[i], record_timer, args[i]);
    }
    cg_loop_timer_cancel(loop, &t[3]);               /* never fires */
    cg_loop_timer_set(loop, &t[0], now + 1000, record_timer, args[0]); /* now first */
    CHECK_INT(cg_loop_run(loop), 0);
    CHECK_INT(o.n, 3);
    CHECK_INT(o.seen[0], 1);
    CHECK_INT(o.seen[1], 2);
    CHECK_INT(o.seen[2], 3);
    cg_loop_free(loop);
}

typedef struct shared {
    cg_loop *loop;
    int value;
    pthread_t loop_thread;
    int ran_on_loop_thread;
} shared;

static void *run_loop(void *arg)
{
    shared *s = arg;
    cg_loop_run(s->loop);
    return NULL;
}

static void set_value(void *arg)
{
    shared *s = arg;
    s->value = 42;
    s->ran_on_loop_thread = pthread_equal(pthread_self(), s->loop_thread);
}

static void count_post(void *arg)
{
    shared *s = arg;
    s->value++;
}

/* cg_loop_call runs on the loop's thread and returns after it ran; posts
 * beyond the bound are refused, not queued without limit; a stopped loop
 * refuses posts. */
static void test_cross_thread(void)
{
    shared s = {0};
    CHECK_INT(cg_loop_new(&s.loop, 4), 0);
    for (int i = 0; i < 4; i++)
        CHECK_INT(cg_loop_post(s.loop, count_post, &s), 0);
    CHECK_INT(cg_loop_post(s.loop, count_post, &s), CG_EFULL);
    pthread_create(&s.loop_thread, NULL, run_loop, &s);
    CHECK_INT(cg_loop_call(s.loop, set_value, &s), 0);
    /* The four earlier posts ran before the call (FIFO), then set 42. */
    CHECK_INT(s.value, 42);
    CHECK_INT(s.ran_on_loop_thread, 1);
    cg_loop_stop(s.loop);
    pthread_join(s.loop_thread, NULL);
    CHECK_INT(cg_loop_post(s.loop, count_post, &s), CG_ESTATE);
    cg_loop_free(s.loop);
}

static void on_fd(cg_loop *loop, int fd, uint32_t events, void *arg)
{
    uint64_t v;
    CHECK_INT(read(fd, &v, sizeof(v)), (long long)sizeof(v));
    *(uint64_t *)arg += v;
    cg_loop_stop(loop);
}

static void test_fd(void)
{
    cg_loop *loop;
    CHECK_INT(cg_loop_new(&loop, 4), 0);
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    uint64_t got = 0;
    CHECK_INT(cg_loop_add_fd(loop, fd, EPOLLIN, on_fd, &got), 0);
    uint64_t seven = 7;
    CHECK_INT(write(fd, &seven, sizeof(seven)), (long long)sizeof(seven));
    CHECK_INT(cg_loop_run(loop), 0);
    CHECK_INT(got, 7);
    CHECK_INT(cg_loop_del_fd(loop, fd), 0);
    CHECK_INT(cg_loop_del_fd(loop, fd), CG_ENOTFOUND);
    close(fd);
    cg_loop_free(loop);
}

/* Bounded queue: drop-newest refuses, drop-oldest evicts, close drains. */
static void test_queue(void)
{
    cg_queue *q;
    CHECK_INT(cg_queue_new(&q, 2), 0);
    int a = 1, b = 2, c = 3;
    void *ev = NULL, *item = NULL;
    CHECK_INT(cg_queue_push(q, &a, CG_QUEUE_DROP_NEWEST, NULL), 0);
    CHECK_INT(cg_queue_push(q, &b, CG_QUEUE_DROP_NEWEST, NULL), 0);
    CHECK_INT(cg_queue_push(q, &c, CG_QUEUE_DROP_NEWEST, NULL), CG_EFULL);
    CHECK_INT(cg_queue_push(q, &c, CG_QUEUE_DROP_OLDEST, &ev), 0);
    CHECK(ev == &a);
    CHECK_INT(cg_queue_pop(q, &item, 0), 0);
    CHECK(item == &b);
    cg_queue_close(q);
    CHECK_INT(cg_queue_push(q, &a, CG_QUEUE_DROP_NEWEST, NULL), CG_ESTATE);
    CHECK_INT(cg_queue_pop(q, &item, 1000), 0);
    CHECK(item == &c);
    CHECK_INT(cg_queue_pop(q, &item, 1000), CG_ESTATE);
    CHECK_INT(cg_queue_len(q), 0);
    cg_queue_free(q);
    CHECK_INT(cg_queue_new(&q, 0), CG_EINVAL);
}

int main(void)
{
    RUN(test_timers);
    RUN(test_cross_thread);
    RUN(test_fd);
    RUN(test_queue);
    return TEST_RESULT();
}
