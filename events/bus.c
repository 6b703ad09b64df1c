/* Live events bus (see bus.h).
 *
 * One mutex guards the client list, every client's ring and the seq
 * counter. A message's refcount is atomic because clients release their
 * references on the consumer thread without the lock. */
#include "events/bus.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/metrics.h"

struct cg_events_msg {
    int refs; /* atomic */
    uint64_t seq;
    size_t len;
    size_t headroom;
    unsigned char data[]; /* headroom bytes, then len bytes of text and a NUL */
};

struct cg_events_client {
    cg_events *ev;
    cg_events_client *prev, *next; /* ev->mu */
    cg_events_msg **ring;          /* ev->mu: queue_len slots */
    size_t head, count;            /* ev->mu */
    bool dropped;                  /* ev->mu: queue overflowed; sticky */
};

struct cg_events {
    pthread_mutex_t mu;
    size_t queue_len, max_clients, headroom;
    void (*wake)(void *arg); /* mu */
    void *wake_arg;          /* mu */
    uint64_t (*wall_us)(void);
    cg_events_client *clients; /* mu */
    uint64_t seq;              /* mu: last stamped */
    cg_events_stats stats;     /* mu */
};

static struct {
    cg_metric *published, *clients, *joined, *dropped, *rejected;
} g_m;
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void metrics_register(void)
{
    cg_metrics_counter(&g_m.published, "clipgate_events_published_total",
                       "live events stamped and queued for the WebSocket clients", NULL);
    cg_metrics_gauge(&g_m.clients, "clipgate_events_clients",
                     "WebSocket events clients connected now", NULL);
    cg_metrics_counter(&g_m.joined, "clipgate_events_clients_total",
                       "WebSocket events clients ever connected", NULL);
    cg_metrics_counter(&g_m.dropped, "clipgate_events_clients_dropped_total",
                       "events clients disconnected (close 1008) because their queue was full",
                       NULL);
    cg_metrics_counter(&g_m.rejected, "clipgate_events_clients_rejected_total",
                       "events clients refused because the client limit was reached", NULL);
}

int cg_events_rfc3339(uint64_t wall_us, char *out, size_t cap)
{
    if (!out)
        return CG_EINVAL;
    time_t secs = (time_t)(wall_us / 1000000u);
    struct tm tm;
    if (!gmtime_r(&secs, &tm))
        return CG_EINVAL;
    int n = snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (unsigned)(wall_us % 1000000u / 1000u));
    return n < 0 || (size_t)n >= cap ? CG_ENOSPC : 0;
}

int cg_events_new(cg_events **out, const cg_events_cfg *cfg)
{
    if (!out || !cfg)
        return CG_EINVAL;
    pthread_once(&metrics_once, metrics_register);
    cg_events *ev = calloc(1, sizeof(*ev));
    if (!ev)
        return CG_ENOMEM;
    pthread_mutex_init(&ev->mu, NULL);
    ev->queue_len = cfg->queue_len ? cfg->queue_len : CG_EVENTS_DEFAULT_QUEUE;
    ev->max_clients = cfg->max_clients ? cfg->max_clients : CG_EVENTS_DEFAULT_CLIENTS;
    ev->headroom = cfg->headroom;
    ev->wake = cfg->wake;
    ev->wake_arg = cfg->wake_arg;
    ev->wall_us = cfg->wall_us ? cfg->wall_us : cg_wall_us;
    *out = ev;
    return 0;
}

static void client_free_locked(cg_events_client *c)
{
    cg_events *ev = c->ev;
    if (c->prev)
        c->prev->next = c->next;
    else
        ev->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    for (size_t i = 0; i < c->count; i++)
        cg_events_msg_unref(c->ring[(c->head + i) % ev->queue_len]);
    free(c->ring);
    free(c);
    ev->stats.clients--;
    cg_metric_sub(g_m.clients, 1);
}

void cg_events_free(cg_events *ev)
{
    if (!ev)
        return;
    pthread_mutex_lock(&ev->mu);
    while (ev->clients)
        client_free_locked(ev->clients);
    pthread_mutex_unlock(&ev->mu);
    pthread_mutex_destroy(&ev->mu);
    free(ev);
}

void cg_events_set_wake(cg_events *ev, void (*wake)(void *arg), void *arg)
{
    pthread_mutex_lock(&ev->mu);
    ev->wake = wake;
    ev->wake_arg = arg;
    pthread_mutex_unlock(&ev->mu);
}

static bool type_valid(const char *type)
{
    size_t n = type ? strlen(type) : 0;
    if (n == 0 || n > CG_EVENTS_TYPE_MAX || strcmp(type, "hello") == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = type[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_'))
            return false;
    }
    return true;
}

/* Envelope: {"type":"<type>","seq":<20 digits>,"time":"<24 chars>" */
#define ENVELOPE_MAX (CG_EVENTS_TYPE_MAX + 80)

/* Allocates a message with room for an envelope and body_len more bytes. */
static cg_events_msg *msg_alloc(size_t headroom, size_t body_len)
{
    cg_events_msg *m = malloc(sizeof(*m) + headroom + ENVELOPE_MAX + body_len + 2);
    if (m) {
        m->refs = 1;
        m->headroom = headroom;
        m->len = 0;
        m->seq = 0;
    }
    return m;
}

/* Writes the envelope for (type, seq, now) and then body, the serialised
 * fields without their opening brace ("}" when empty, "\"k\":1}" else). */
static void msg_fill(cg_events_msg *m, const char *type, uint64_t seq, uint64_t wall_us,
                     const char *body, size_t body_len)
{
    char when[32];
    if (cg_events_rfc3339(wall_us, when, sizeof(when)) != 0)
        snprintf(when, sizeof(when), "1970-01-01T00:00:00.000Z");
    char *text = (char *)m->data + m->headroom;
    int n = snprintf(text, ENVELOPE_MAX, "{\"type\":\"%s\",\"seq\":%" PRIu64 ",\"time\":\"%s\"",
                     type, seq, when);
    size_t len = n > 0 ? (size_t)n : 0;
    if (body_len > 1)
        text[len++] = ',';
    memcpy(text + len, body, body_len);
    len += body_len;
    text[len] = '\0';
    m->len = len;
    m->seq = seq;
}

static cg_events_msg *msg_ref(cg_events_msg *m)
{
    __atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
    return m;
}

cg_events_msg *cg_events_msg_unref(cg_events_msg *m)
{
    if (m && __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(m);
    return NULL;
}

unsigned char *cg_events_msg_text(cg_events_msg *m, size_t *len)
{
    if (len)
        *len = m->len;
    return m->data + m->headroom;
}

uint64_t cg_events_msg_seq(const cg_events_msg *m)
{
    return m->seq;
}

int cg_events_emit(cg_events *ev, const char *type, json_t *fields)
{
    if (!ev) {
        json_decref(fields);
        return 0;
    }
    if (!type_valid(type) || (fields && !json_is_object(fields)) ||
        json_object_get(fields, "type") || json_object_get(fields, "seq") ||
        json_object_get(fields, "time")) {
        json_decref(fields);
        return CG_EINVAL;
    }
    char *body = NULL;
    if (fields) {
        body = json_dumps(fields, JSON_COMPACT | JSON_REAL_PRECISION(12));
        json_decref(fields);
        if (!body)
            return CG_ENOMEM;
    }
    /* Without the opening brace: "}" or "\"k\":1,...}". */
    const char *tail = body ? body + 1 : "}";
    size_t tail_len = strlen(tail);
    cg_events_msg *m = msg_alloc(ev->headroom, tail_len);
    if (!m) {
        free(body);
        return CG_ENOMEM;
    }

    bool wake = false;
    uint64_t dropped = 0;
    pthread_mutex_lock(&ev->mu);
    msg_fill(m, type, ++ev->seq, ev->wall_us(), tail, tail_len);
    ev->stats.published++;
    for (cg_events_client *c = ev->clients; c; c = c->next) {
        if (c->dropped)
            continue;
        if (c->count == ev->queue_len) {
            /* Policy: a client that cannot keep up is disconnected, never
             * waited for. */
            c->dropped = true;
            dropped++;
        } else {
            c->ring[(c->head + c->count) % ev->queue_len] = msg_ref(m);
            c->count++;
        }
        wake = true;
    }
    ev->stats.dropped += dropped;
    void (*wake_fn)(void *) = ev->wake;
    void *wake_arg = ev->wake_arg;
    pthread_mutex_unlock(&ev->mu);

    cg_events_msg_unref(m);
    free(body);
    cg_metric_inc(g_m.published);
    cg_metric_add(g_m.dropped, dropped);
    if (wake && wake_fn)
        wake_fn(wake_arg);
    return 0;
}

uint64_t cg_events_last_seq(cg_events *ev)
{
    pthread_mutex_lock(&ev->mu);
    uint64_t seq = ev->seq;
    pthread_mutex_unlock(&ev->mu);
    return seq;
}

void cg_events_get_stats(cg_events *ev, cg_events_stats *out)
{
    pthread_mutex_lock(&ev->mu);
    *out = ev->stats;
    pthread_mutex_unlock(&ev->mu);
}

int cg_events_join(cg_events *ev, cg_events_client **out)
{
    static const char hello_tail[] = "\"version\":1}";
    cg_events_client *c = calloc(1, sizeof(*c));
    cg_events_msg *hello = msg_alloc(ev->headroom, sizeof(hello_tail));
    if (c)
        c->ring = calloc(ev->queue_len, sizeof(*c->ring));
    if (!c || !c->ring || !hello) {
        if (c)
            free(c->ring);
        free(c);
        cg_events_msg_unref(hello);
        return CG_ENOMEM;
    }
    c->ev = ev;
    pthread_mutex_lock(&ev->mu);
    if (ev->stats.clients >= ev->max_clients) {
        ev->stats.rejected++;
        pthread_mutex_unlock(&ev->mu);
        free(c->ring);
        free(c);
        cg_events_msg_unref(hello);
        cg_metric_inc(g_m.rejected);
        return CG_ELIMIT;
    }
    /* Stamped under the lock: every event after it has a greater seq and
     * is queued behind it. */
    msg_fill(hello, "hello", ev->seq, ev->wall_us(), hello_tail, sizeof(hello_tail) - 1);
    c->ring[0] = hello;
    c->count = 1;
    c->next = ev->clients;
    if (ev->clients)
        ev->clients->prev = c;
    ev->clients = c;
    ev->stats.clients++;
    ev->stats.joined++;
    pthread_mutex_unlock(&ev->mu);
    cg_metric_add(g_m.clients, 1);
    cg_metric_inc(g_m.joined);
    *out = c;
    return 0;
}

void cg_events_leave(cg_events_client *c)
{
    if (!c)
        return;
    cg_events *ev = c->ev;
    pthread_mutex_lock(&ev->mu);
    client_free_locked(c);
    pthread_mutex_unlock(&ev->mu);
}

int cg_events_next(cg_events_client *c, cg_events_msg **out)
{
    cg_events *ev = c->ev;
    int rc = CG_EAGAIN;
    pthread_mutex_lock(&ev->mu);
    if (c->dropped) {
        rc = CG_ELIMIT;
    } else if (c->count) {
        *out = c->ring[c->head];
        c->ring[c->head] = NULL;
        c->head = (c->head + 1) % ev->queue_len;
        c->count--;
        rc = 0;
    }
    pthread_mutex_unlock(&ev->mu);
    return rc;
}

size_t cg_events_pending(cg_events_client *c)
{
    pthread_mutex_lock(&c->ev->mu);
    size_t n = c->count;
    pthread_mutex_unlock(&c->ev->mu);
    return n;
}

int cg_events_dropped(cg_events_client *c)
{
    pthread_mutex_lock(&c->ev->mu);
    int d = c->dropped;
    pthread_mutex_unlock(&c->ev->mu);
    return d;
}
