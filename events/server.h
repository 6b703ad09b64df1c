/* WebSocket events server: libwebsockets on --events-port, one service
 * thread, sending the bus's events (events/bus.h) to every client of
 * ws://HOST:PORT/events (wss:// with --tls-cert/--tls-key).
 *
 * Threads: producers call cg_events_emit() on the bus from any thread; the
 * bus wakes the service thread with lws_cancel_service(), which asks for a
 * writable callback on every client and writes each one's queued messages,
 * one message per callback, in order. Nothing a producer does waits for a
 * socket. Clients' own messages are read and ignored.
 *
 * Answers besides the WebSocket: a WebSocket handshake on another path
 * gets 404, a plain HTTP GET /events gets 426 (Upgrade Required), any other
 * plain HTTP request 404, each as application/problem+json. A client the
 * bus drops for falling behind gets no more events and is closed with 1008
 * once its socket takes the close frame (cut after 10 s if it never does,
 * its remaining queue discarded); a join over the client
 * limit is closed with 1013 (try again later); shutdown closes every client
 * with 1001 (going away).
 *
 * A client silent for 30 s is pinged (browsers answer on their own) and
 * hung up after 75 s without an answer.
 *
 * Each client's socket send buffer is fixed (SNDBUF_BYTES in server.c) so
 * that a client that stops reading is noticed after a bounded backlog: the
 * kernel's buffer, then queue_len messages on the bus. */
#ifndef CG_EVENTS_SERVER_H
#define CG_EVENTS_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "events/bus.h"

typedef struct cg_events_server cg_events_server;

#define CG_EVENTS_PATH "/events"

typedef struct cg_events_server_cfg {
    const char *bind;               /* listen address; NULL, "0.0.0.0" or "::": every address */
    uint16_t port;                  /* TCP port (1-65535) */
    const char *tls_cert, *tls_key; /* PEM paths: wss; both or neither */
    size_t queue_len;               /* per client; 0: CG_EVENTS_DEFAULT_QUEUE */
    size_t max_clients;             /* 0: CG_EVENTS_DEFAULT_CLIENTS */
} cg_events_server_cfg;

/* Creates the bus, binds the port and starts the service thread. cfg and
 * its strings are borrowed for the call. Gives the server. Returns 0,
 * CG_EINVAL, CG_EIO (the port cannot be bound: errno says why; thread),
 * CG_ECRYPTO (libwebsockets refused the TLS certificate or key) or
 * CG_ENOMEM. */
int cg_events_server_new(cg_events_server **out, const cg_events_server_cfg *cfg);

/* The bus to emit on (borrowed; valid until cg_events_server_free). */
cg_events *cg_events_server_bus(cg_events_server *s);

/* The TCP port bound. */
uint16_t cg_events_server_port(const cg_events_server *s);

/* Closes every client (1001), stops and joins the service thread. Events
 * emitted afterwards are stamped but go nowhere. Idempotent; any thread
 * but the service thread. */
void cg_events_server_stop(cg_events_server *s);

/* Stops if needed, frees the bus and the server. No producer may still be
 * emitting. Accepts NULL. */
void cg_events_server_free(cg_events_server *s);

#endif
