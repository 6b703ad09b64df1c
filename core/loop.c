/* Design: one epoll set, one eventfd for posts and stop, one timer heap.
 * Each iteration waits until the earliest timer, dispatches fd events,
 * drains the post queue (bounded: at most its length at entry, so posts
 * made by posted functions wait for the next turn), then fires due timers. */
#include "loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "err.h"

typedef struct fd_entry {
    int fd;
    cg_fd_cb cb;
    void *arg;
    struct fd_entry *next;
} fd_entry;

typedef struct post_item {
    cg_post_fn fn;
    void *arg;
} post_item;

struct cg_loop {
    int ep;
    int wakefd;
    atomic_int stopping;

    fd_entry *fds;

    cg_timer **heap;
    size_t heap_len;
    size_t heap_cap;

    pthread_mutex_t mu;
    post_item *posts;
    size_t post_cap;
    size_t post_head;
    size_t post_len;
};

int cg_loop_new(cg_loop **out, size_t max_posts)
{
    cg_loop *l = calloc(1, sizeof(*l));
    if (!l)
        return CG_ENOMEM;
    l->ep = -1;
    l->wakefd = -1;
    pthread_mutex_init(&l->mu, NULL);
    int err = CG_ENOMEM;
    l->post_cap = max_posts ? max_posts : 1;
    l->posts = calloc(l->post_cap, sizeof(*l->posts));
    if (!l->posts)
        goto fail;
    err = CG_EIO;
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    if (l->ep < 0)
        goto fail;
    l->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->wakefd < 0)
        goto fail;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(l->ep, EPOLL_CTL_ADD, l->wakefd, &ev) < 0)
        goto fail;
    *out = l;
    return 0;
fail:
    cg_loop_free(l);
    return err;
}

void cg_loop_free(cg_loop *l)
{
    if (!l)
        return;
    while (l->fds) {
        fd_entry *e = l->fds;
        l->fds = e->next;
        free(e);
    }
    if (l->wakefd >= 0)
        close(l->wakefd);
    if (l->ep >= 0)
        close(l->ep);
    free(l->heap);
    free(l->posts);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

int cg_loop_add_fd(cg_loop *l, int fd, uint32_t events, cg_fd_cb cb, void *arg)
{
    fd_entry *e = calloc(1, sizeof(*e));
    if (!e)
        return CG_ENOMEM;
    e->fd = fd;
    e->cb = cb;
    e->arg = arg;
    struct epoll_event ev = {.events = events, .data.ptr = e};
    if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        free(e);
        return CG_EIO;
    }
    e->next = l->fds;
    l->fds = e;
    return 0;
}

int cg_loop_del_fd(cg_loop *l, int fd)
{
    for (fd_entry **pp = &l->fds; *pp; pp = &(*pp)->next) {
        if ((*pp)->fd == fd) {
            fd_entry *e = *pp;
            *pp = e->next;
            epoll_ctl(l->ep, EPOLL_CTL_DEL, fd, NULL);
            free(e);
            return 0;
        }
    }
    return CG_ENOTFOUND;
}

/* --- timer heap ------------------------------------------------------- */

static void heap_swap(cg_loop *l, size_t a, size_t b)
{
    cg_timer *t = l->heap[a];
    l->heap[a] = l->heap[b];
    l->heap[b] = t;
    l->heap[a]->heap_idx = a;
    l->heap[b]->heap_idx = b;
}

static void heap_up(cg_loop *l, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (l->heap[parent]->at_us <= l->heap[i]->at_us)
            break;
        heap_swap(l, i, parent);
        i = parent;
    }
}

static void heap_down(cg_loop *l, size_t i)
{
    for (;;) {
        size_t left = 2 * i + 1, right = left + 1, min = i;
        if (left < l->heap_len && l->heap[left]->at_us < l->heap[min]->at_us)
            min = left;
        if (right < l->heap_len && l->heap[right]->at_us < l->heap[min]->at_us)
            min = right;
        if (min == i)
            return;
        heap_swap(l, i, min);
        i = min;
    }
}

static void heap_remove(cg_loop *l, cg_timer *t)
{
    size_t i = t->heap_idx;
    l->heap_len--;
    if (i != l->heap_len) {
        l->heap[i] = l->heap[l->heap_len];
        l->heap[i]->heap_idx = i;
        heap_down(l, i);
        heap_up(l, i);
    }
    t->armed = 0;
    t->heap_idx = SIZE_MAX;
}

void cg_loop_timer_cancel(cg_loop *l, cg_timer *t)
{
    if (t->armed)
        heap_remove(l, t);
}

void cg_loop_timer_set(cg_loop *l, cg_timer *t, uint64_t at_us, cg_timer_cb cb, void *arg)
{
    cg_loop_timer_cancel(l, t);
    if (l->heap_len == l->heap_cap) {
        size_t cap = l->heap_cap ? l->heap_cap * 2 : 64;
        cg_timer **h = realloc(l->heap, cap * sizeof(*h));
        if (!h)
            abort(); /* a timer we cannot arm would silently stall a session */
        l->heap = h;
        l->heap_cap = cap;
    }
    t->at_us = at_us;
    t->cb = cb;
    t->arg = arg;
    t->armed = 1;
    t->heap_idx = l->heap_len;
    l->heap[l->heap_len++] = t;
    heap_up(l, t->heap_idx);
}

/* --- cross-thread posts --------------------------------------------------- */

static void wake(cg_loop *l)
{
    uint64_t one = 1;
    ssize_t r = write(l->wakefd, &one, sizeof(one));
    (void)r; /* EAGAIN means the counter is already non-zero: still woken */
}

int cg_loop_post(cg_loop *l, cg_post_fn fn, void *arg)
{
    if (atomic_load(&l->stopping))
        return CG_ESTATE;
    pthread_mutex_lock(&l->mu);
    if (l->post_len == l->post_cap) {
        pthread_mutex_unlock(&l->mu);
        return CG_EFULL;
    }
    l->posts[(l->post_head + l->post_len) % l->post_cap] = (post_item){fn, arg};
    l->post_len++;
    pthread_mutex_unlock(&l->mu);
    wake(l);
    return 0;
}

static void run_posts(cg_loop *l)
{
    pthread_mutex_lock(&l->mu);
    size_t n = l->post_len;
    pthread_mutex_unlock(&l->mu);
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&l->mu);
        post_item it = l->posts[l->post_head];
        l->post_head = (l->post_head + 1) % l->post_cap;
        l->post_len--;
        pthread_mutex_unlock(&l->mu);
        it.fn(it.arg);
    }
}

typedef struct sync_call {
    cg_post_fn fn;
    void *arg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
} sync_call;

static void sync_call_run(void *p)
{
    sync_call *c = p;
    c->fn(c->arg);
    pthread_mutex_lock(&c->mu);
    c->done = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

int cg_loop_call(cg_loop *l, cg_post_fn fn, void *arg)
{
    sync_call c = {.fn = fn, .arg = arg};
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.cv, NULL);
    int rc;
    for (int tries = 0; (rc = cg_loop_post(l, sync_call_run, &c)) == CG_EFULL && tries < 1000;
         tries++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    if (rc == 0) {
        pthread_mutex_lock(&c.mu);
        while (!c.done)
            pthread_cond_wait(&c.cv, &c.mu);
        pthread_mutex_unlock(&c.mu);
    }
    pthread_mutex_destroy(&c.mu);
    pthread_cond_destroy(&c.cv);
    return rc;
}

void cg_loop_stop(cg_loop *l)
{
    atomic_store(&l->stopping, 1);
    wake(l);
}

int cg_loop_run(cg_loop *l)
{
    struct epoll_event evs[64];
    while (!atomic_load(&l->stopping)) {
        int timeout_ms = -1;
        if (l->heap_len) {
            uint64_t now = cg_now_us();
            uint64_t at = l->heap[0]->at_us;
            timeout_ms = at <= now ? 0 : (int)((at - now + 999) / 1000);
        }
        int n = epoll_wait(l->ep, evs, 64, timeout_ms);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return CG_EIO;
        }
        for (int i = 0; i < n; i++) {
            fd_entry *e = evs[i].data.ptr;
            if (!e) {
                uint64_t v;
                ssize_t r = read(l->wakefd, &v, sizeof(v));
                (void)r;
                continue;
            }
            e->cb(l, e->fd, evs[i].events, e->arg);
        }
        run_posts(l);
        uint64_t now = cg_now_us();
        while (l->heap_len && l->heap[0]->at_us <= now) {
            cg_timer *t = l->heap[0];
            heap_remove(l, t);
            t->cb(l, t->arg);
        }
    }
    return 0;
}
