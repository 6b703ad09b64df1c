/* Event loop: epoll for file descriptors, a min-heap of timers, and an
 * eventfd so other threads can post work to it.
 *
 * Threads: a loop is run by exactly one thread. Only cg_loop_post() and
 * cg_loop_stop() may be called from other threads; everything else belongs
 * to the loop's thread. Callbacks must not block (no disk I/O, no waits). */
#ifndef CG_LOOP_H
#define CG_LOOP_H

#include <stddef.h>
#include <stdint.h>

typedef struct cg_loop cg_loop;

typedef void (*cg_fd_cb)(cg_loop *loop, int fd, uint32_t events, void *arg);
typedef void (*cg_timer_cb)(cg_loop *loop, void *arg);
typedef void (*cg_post_fn)(void *arg);

/* A timer is owned by its user (usually embedded in a session) and linked
 * into the loop's heap while armed. Zero-initialise before first use. */
typedef struct cg_timer {
    uint64_t at_us;   /* monotonic deadline */
    cg_timer_cb cb;
    void *arg;
    size_t heap_idx;  /* SIZE_MAX when not armed */
    int armed;
} cg_timer;

/* max_posts: bound of the cross-thread queue (policy when full: refuse,
 * cg_loop_post returns CG_EFULL). Returns 0, CG_ENOMEM or CG_EIO. */
int cg_loop_new(cg_loop **out, size_t max_posts);
/* Accepts NULL. Pending posts are dropped without being run. */
void cg_loop_free(cg_loop *loop);

/* events: EPOLLIN/EPOLLOUT. arg is borrowed. Returns 0 or CG_EIO. */
int cg_loop_add_fd(cg_loop *loop, int fd, uint32_t events, cg_fd_cb cb, void *arg);
int cg_loop_del_fd(cg_loop *loop, int fd);

/* Arms (or re-arms) t to fire at monotonic time at_us. */
void cg_loop_timer_set(cg_loop *loop, cg_timer *t, uint64_t at_us, cg_timer_cb cb, void *arg);
void cg_loop_timer_cancel(cg_loop *loop, cg_timer *t);

/* Any thread: queue fn(arg) to run on the loop thread.
 * Returns 0, CG_EFULL (queue at its bound) or CG_ESTATE (loop stopping). */
int cg_loop_post(cg_loop *loop, cg_post_fn fn, void *arg);

/* Any thread but the loop's own: runs fn(arg) on the loop thread and waits
 * until it has returned. A full post queue is retried for up to a second
 * (media work drains it quickly). No timeout once posted: loop callbacks
 * never block, and owners stop callers before they stop the loop.
 * Returns 0, CG_EFULL or CG_ESTATE (loop stopping). */
int cg_loop_call(cg_loop *loop, cg_post_fn fn, void *arg);

/* Runs until cg_loop_stop(). Returns 0 or CG_EIO. */
int cg_loop_run(cg_loop *loop);
/* Any thread. */
void cg_loop_stop(cg_loop *loop);

#endif
