/* Live events bus: what the WebSocket events server (events/server.h)
 * sends, kept apart from any socket so it can be tested alone.
 *
 * Producers on any thread (the media loop, packager workers, HTTP handlers,
 * the thumbnail worker) hand the bus an event: a type and a JSON object of
 * fields. The bus stamps it with the next server-wide `seq` and the wall
 * clock `time`, serialises it once into a shared, refcounted message
 *   {"type":"segment","seq":42,"time":"2026-12-07T12:00:00.123Z",...fields}
 * and queues a reference on every client's queue. The consumer (one thread:
 * the server's service thread) takes each client's messages in order and
 * writes them out.
 *
 * Ordering: seq is assigned and the message is queued on every client under
 * one lock, so every client sees the events in seq order, each exactly
 * once, with no gaps, for as long as it stays connected. A client's first
 * message is {"type":"hello","seq":<last seq>,"time":...,"version":1};
 * every event after it has a greater seq.
 *
 * Bounds and policy: each client queue holds at most queue_len messages.
 * When an event finds a client's queue full, that client is marked dropped
 * (counted in clipgate_events_clients_dropped_total) and gets nothing more;
 * its consumer sees CG_ELIMIT and disconnects it (close code 1008). The
 * producer never waits for a client, and other clients are never delayed.
 * At most max_clients clients are joined at once.
 *
 * Cost for a producer: one json_dumps of the fields outside the lock, then
 * under the lock a copy into one allocation and a pointer push per client.
 * The wake callback runs after the lock is released. */
#ifndef CG_EVENTS_BUS_H
#define CG_EVENTS_BUS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cg_events cg_events;
typedef struct cg_events_client cg_events_client;
typedef struct cg_events_msg cg_events_msg;

#define CG_EVENTS_VERSION 1
#define CG_EVENTS_TYPE_MAX 32 /* bytes of an event type: [a-z0-9._] */
#define CG_EVENTS_DEFAULT_QUEUE 256
#define CG_EVENTS_DEFAULT_CLIENTS 256

typedef struct cg_events_cfg {
    size_t queue_len;   /* messages waiting per client; 0: CG_EVENTS_DEFAULT_QUEUE */
    size_t max_clients; /* 0: CG_EVENTS_DEFAULT_CLIENTS */
    size_t headroom;    /* scratch bytes before each message's text (LWS_PRE) */
    /* Called on the producer's thread, without the bus lock, after an event
     * was queued for at least one client or a client was dropped: wake the
     * consumer. Must not block. NULL: nobody to wake (tests poll). */
    void (*wake)(void *arg);
    void *wake_arg;
    /* Wall clock for "time" in microseconds since the epoch; NULL: the
     * real one (tests pass a fixed clock). */
    uint64_t (*wall_us)(void);
} cg_events_cfg;

/* Gives an empty bus (cfg borrowed for the call). Returns 0, CG_EINVAL or
 * CG_ENOMEM. */
int cg_events_new(cg_events **out, const cg_events_cfg *cfg);
/* Frees the bus and every client still joined (their pointers become
 * invalid). No producer may be running. Accepts NULL. */
void cg_events_free(cg_events *ev);

/* Replaces the wake callback (NULL: none); the server clears it before it
 * goes away. Any thread; a producer running concurrently calls the old or
 * the new one. */
void cg_events_set_wake(cg_events *ev, void (*wake)(void *arg), void *arg);

/* Producers, any thread. Publishes an event of type (borrowed; 1 to
 * CG_EVENTS_TYPE_MAX characters of [a-z0-9._], not "hello") with fields, a
 * JSON object or NULL; takes fields in every case. Field names "type",
 * "seq" and "time" belong to the envelope and are refused. ev may be NULL
 * (events are off): fields are released and 0 returned.
 * Returns 0, CG_EINVAL (bad type, fields not an object or using an
 * envelope name) or CG_ENOMEM. */
int cg_events_emit(cg_events *ev, const char *type, json_t *fields);

/* seq of the last event published (0 before the first). */
uint64_t cg_events_last_seq(cg_events *ev);

typedef struct cg_events_stats {
    uint64_t published; /* events stamped and fanned out */
    uint64_t clients;   /* joined now */
    uint64_t joined;    /* clients ever joined */
    uint64_t dropped;   /* clients dropped because their queue was full */
    uint64_t rejected;  /* joins refused at max_clients */
} cg_events_stats;

void cg_events_get_stats(cg_events *ev, cg_events_stats *out);

/* ---- consumer side: one thread per client (the server's) ---- */

/* Joins a client: its queue starts with the hello message. Gives the
 * client. Returns 0, CG_ELIMIT (max_clients joined now) or CG_ENOMEM. */
int cg_events_join(cg_events *ev, cg_events_client **out);
/* Removes the client and releases what it has not taken. Accepts NULL. */
void cg_events_leave(cg_events_client *c);

/* Takes the client's next message: gives a reference (release it with
 * cg_events_msg_unref). Returns 0, CG_EAGAIN (nothing queued) or
 * CG_ELIMIT (the client was dropped for falling behind: disconnect it). */
int cg_events_next(cg_events_client *c, cg_events_msg **out);
/* 1 when the client was dropped for falling behind (cg_events_next then
 * gives CG_ELIMIT), else 0. */
int cg_events_dropped(cg_events_client *c);
/* Messages queued for the client now. */
size_t cg_events_pending(cg_events_client *c);

/* The message's JSON text (len bytes, NUL-terminated); the cfg.headroom
 * bytes before it are scratch for the consumer thread (libwebsockets
 * writes its frame header there). Borrowed while the reference is held. */
unsigned char *cg_events_msg_text(cg_events_msg *m, size_t *len);
uint64_t cg_events_msg_seq(const cg_events_msg *m);
/* Drops a reference; the last one frees. Returns NULL; accepts NULL. */
cg_events_msg *cg_events_msg_unref(cg_events_msg *m);

/* Writes wall-clock time wall_us as RFC 3339 UTC with milliseconds,
 * "2026-12-07T12:00:00.123Z", into out (at least 25 bytes). Returns 0,
 * CG_EINVAL or CG_ENOSPC. */
int cg_events_rfc3339(uint64_t wall_us, char *out, size_t cap);

#endif
