#include "queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "err.h"

struct cg_queue {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    void **items;
    size_t cap;
    size_t head;
    size_t len;
    int closed;
};

int cg_queue_new(cg_queue **out, size_t cap)
{
    if (cap == 0)
        return CG_EINVAL;
    cg_queue *q = calloc(1, sizeof(*q));
    if (!q)
        return CG_ENOMEM;
    q->items = calloc(cap, sizeof(void *));
    if (!q->items) {
        free(q);
        return CG_ENOMEM;
    }
    q->cap = cap;
    pthread_mutex_init(&q->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->cv, &ca);
    pthread_condattr_destroy(&ca);
    *out = q;
    return 0;
}

void cg_queue_free(cg_queue *q)
{
    if (!q)
        return;
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    free(q->items);
    free(q);
}

int cg_queue_push(cg_queue *q, void *item, int policy, void **evicted)
{
    if (evicted)
        *evicted = NULL;
    pthread_mutex_lock(&q->mu);
    if (q->closed) {
        pthread_mutex_unlock(&q->mu);
        return CG_ESTATE;
    }
    if (q->len == q->cap) {
        if (policy != CG_QUEUE_DROP_OLDEST || !evicted) {
            pthread_mutex_unlock(&q->mu);
            return CG_EFULL;
        }
        *evicted = q->items[q->head];
        q->head = (q->head + 1) % q->cap;
        q->len--;
    }
    q->items[(q->head + q->len) % q->cap] = item;
    q->len++;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

int cg_queue_pop(cg_queue *q, void **item, uint64_t timeout_us)
{
    struct timespec dl;
    if (timeout_us && timeout_us != UINT64_MAX) {
        clock_gettime(CLOCK_MONOTONIC, &dl);
        dl.tv_sec += (time_t)(timeout_us / 1000000u);
        dl.tv_nsec += (long)(timeout_us % 1000000u) * 1000;
        if (dl.tv_nsec >= 1000000000L) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&q->mu);
    while (q->len == 0 && !q->closed && timeout_us) {
        if (timeout_us == UINT64_MAX) {
            pthread_cond_wait(&q->cv, &q->mu);
        } else if (pthread_cond_timedwait(&q->cv, &q->mu, &dl) == ETIMEDOUT) {
            break;
        }
    }
    int rc;
    if (q->len) {
        *item = q->items[q->head];
        q->head = (q->head + 1) % q->cap;
        q->len--;
        rc = 0;
    } else {
        rc = q->closed ? CG_ESTATE : CG_EAGAIN;
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}

void cg_queue_close(cg_queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

size_t cg_queue_len(cg_queue *q)
{
    pthread_mutex_lock(&q->mu);
    size_t n = q->len;
    pthread_mutex_unlock(&q->mu);
    return n;
}
