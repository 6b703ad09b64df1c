/* WebSocket events server (see server.h).
 *
 * Everything libwebsockets does happens on the service thread: the
 * protocol callback, the session list, closing clients. Other threads
 * touch only the bus and call lws_cancel_service() (documented as safe
 * from any thread) through the bus's wake callback.
 *
 * A client the bus dropped has a socket that does not drain: it gets no
 * more events, and its 1008 close is written as soon as the socket can
 * take it; if it cannot within DROP_GRACE_S, lws_set_timeout() cuts the
 * connection (the way libwebsockets closes a connection from outside its
 * callbacks). */
#include "events/server.h"

#include <libwebsockets.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/metrics.h"

/* Socket send buffer of each client: a few hundred events, far more than a
 * reading client ever has in flight, small enough that one that stopped
 * reading fills it and its bus queue soon (the kernel doubles it). */
#define SNDBUF_BYTES (16 * 1024)
/* Clients have nothing to say; what they send is read in small pieces and
 * ignored. */
#define RX_BUFFER_BYTES 1024
/* A dropped client gets this long to read what its socket holds and its
 * 1008 close before the connection is cut. */
#define DROP_GRACE_S 10
/* A client silent this long is pinged; one that does not answer (pong or
 * anything) within the second interval is hung up: a peer that vanished
 * without a FIN does not hold a client slot for ever. */
static const lws_retry_bo_t idle_policy = {
    .secs_since_valid_ping = 30,
    .secs_since_valid_hangup = 75,
};
/* On stop, clients get this long to receive their 1001 close. */
#define STOP_GRACE_US 500000u

typedef struct session session;

struct session {
    session *prev, *next; /* the server's list (service thread) */
    struct lws *wsi;
    cg_events_client *client; /* NULL: refused (close_code says why) */
    int close_code;
    bool listed;
    bool dropping; /* the bus dropped it: 1008 at the next writable, or cut */
};

struct cg_events_server {
    struct lws_context *ctx;
    struct lws_vhost *vhost;
    cg_events *bus;
    uint16_t port;
    bool tls;
    pthread_t thread;
    bool thread_started;
    int stopping; /* atomic: set by stop() */
    int done;     /* atomic: the service thread left its loop */
    session *sessions;
    size_t n_sessions;
    uint64_t stop_deadline; /* service thread */
};

static struct {
    cg_metric *sent, *refused_http;
} g_m;
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void metrics_register(void)
{
    cg_metrics_counter(&g_m.sent, "clipgate_events_messages_sent_total",
                       "event messages written to WebSocket clients", NULL);
    cg_metrics_counter(&g_m.refused_http, "clipgate_events_http_refused_total",
                       "requests on the events port that were not a WebSocket on /events", NULL);
}

static void lws_log(int level, const char *line)
{
    /* lws lines end with a newline; ours add one. */
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    cg_log(level == LLL_ERR ? CG_LOG_ERROR : CG_LOG_WARN, "events", "libwebsockets: %.*s", (int)n,
           line);
}

static void wake(void *arg)
{
    cg_events_server *s = arg;
    lws_cancel_service(s->ctx);
}

/* ---- plain HTTP answers ---- */

/* Writes a whole problem+json response. Returns 0 or -1 (close). */
static int send_problem(struct lws *wsi, unsigned status, const char *title, const char *detail,
                        bool upgrade)
{
    char body[512];
    int blen =
        snprintf(body, sizeof(body),
                 "{\"type\":\"about:blank\",\"title\":\"%s\",\"status\":%u,\"detail\":\"%s\"}",
                 title, status, detail);
    if (blen < 0 || (size_t)blen >= sizeof(body))
        return -1;
    unsigned char buf[LWS_PRE + 1024];
    unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
    if (lws_add_http_common_headers(wsi, status, "application/problem+json", (lws_filepos_t)blen,
                                    &p, end) ||
        (upgrade && lws_add_http_header_by_name(wsi, (const unsigned char *)"upgrade:",
                                                (const unsigned char *)"websocket", 9, &p, end)) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"access-control-allow-origin:",
                                    (const unsigned char *)"*", 1, &p, end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    unsigned char out[LWS_PRE + sizeof(body)];
    memcpy(out + LWS_PRE, body, (size_t)blen);
    if (lws_write(wsi, out + LWS_PRE, (size_t)blen, LWS_WRITE_HTTP_FINAL) != blen)
        return -1;
    cg_metric_inc(g_m.refused_http);
    return 0;
}

static int answer_http(struct lws *wsi, const char *path)
{
    int rc;
    if (path && strcmp(path, CG_EVENTS_PATH) == 0)
        rc = send_problem(wsi, 426, "Upgrade Required",
                          "This URL is a WebSocket: connect to it with a WebSocket client "
                          "(new WebSocket(\\\"ws://host:port/events\\\") in a browser).",
                          true);
    else
        rc = send_problem(wsi, 404, "Not Found",
                          "The events port serves only the WebSocket at /events "
                          "(ws://host:port/events); the HTTP API is on the HTTP port.",
                          false);
    if (rc)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* ---- sessions ---- */

static void session_list(cg_events_server *s, session *ss, struct lws *wsi)
{
    ss->wsi = wsi;
    ss->prev = NULL;
    ss->next = s->sessions;
    if (s->sessions)
        s->sessions->prev = ss;
    s->sessions = ss;
    ss->listed = true;
    s->n_sessions++;
}

static void session_unlist(cg_events_server *s, session *ss)
{
    if (!ss->listed)
        return;
    if (ss->prev)
        ss->prev->next = ss->next;
    else
        s->sessions = ss->next;
    if (ss->next)
        ss->next->prev = ss->prev;
    ss->listed = false;
    s->n_sessions--;
}

static int close_with(struct lws *wsi, int code, const char *why)
{
    lws_close_reason(wsi, (enum lws_close_status)code, (unsigned char *)why, strlen(why));
    return -1;
}

static const char *close_text(int code)
{
    switch (code) {
    case LWS_CLOSE_STATUS_POLICY_VIOLATION:
        return "too slow: the events queue for this client was full";
    case 1013:
        return "too many events clients: try again later";
    case LWS_CLOSE_STATUS_GOINGAWAY:
        return "server shutting down";
    default:
        return "server error";
    }
}

/* Writes the client's next message; asks for another callback while more
 * are queued. */
static int on_writable(cg_events_server *s, session *ss)
{
    if (__atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE))
        ss->close_code = LWS_CLOSE_STATUS_GOINGAWAY;
    if (ss->close_code)
        return close_with(ss->wsi, ss->close_code, close_text(ss->close_code));
    cg_events_msg *m = NULL;
    int rc = cg_events_next(ss->client, &m);
    if (rc == CG_ELIMIT) /* dropped: what is left of its queue is discarded */
        return close_with(ss->wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
                          close_text(LWS_CLOSE_STATUS_POLICY_VIOLATION));
    if (rc)
        return 0;
    size_t len;
    unsigned char *text = cg_events_msg_text(m, &len);
    int n = lws_write(ss->wsi, text, len, LWS_WRITE_TEXT);
    cg_events_msg_unref(m);
    if (n < 0 || (size_t)n < len)
        return -1;
    cg_metric_inc(g_m.sent);
    if (cg_events_pending(ss->client))
        lws_callback_on_writable(ss->wsi);
    return 0;
}

/* The bus or stop() woke the service thread. */
static void on_wake(cg_events_server *s)
{
    bool stopping = __atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE);
    for (session *ss = s->sessions; ss; ss = ss->next) {
        if (ss->client && !ss->dropping && cg_events_dropped(ss->client)) {
            /* Its socket does not drain: a writable callback may never
             * come, so the connection is cut after a grace. */
            ss->dropping = true;
            cg_warn("events", "client dropped: its queue of events was full (close 1008)");
            lws_set_timeout(ss->wsi, PENDING_TIMEOUT_USER_OK, DROP_GRACE_S);
            lws_callback_on_writable(ss->wsi);
        } else if (stopping || !ss->client || cg_events_pending(ss->client)) {
            /* Stopping: on_writable closes with 1001; clients that cannot
             * take it are closed when the grace runs out. */
            lws_callback_on_writable(ss->wsi);
        }
    }
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct lws_context *ctx = lws_get_context(wsi);
    cg_events_server *s = ctx ? lws_context_user(ctx) : NULL;
    session *ss = user;
    char path[128];

    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return answer_http(wsi, in);

    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) <= 0 ||
            strcmp(path, CG_EVENTS_PATH) != 0) {
            answer_http(wsi, "");
            return -1;
        }
        return 0;

    case LWS_CALLBACK_ESTABLISHED: {
        memset(ss, 0, sizeof(*ss));
        int fd = lws_get_socket_fd(wsi);
        int sndbuf = SNDBUF_BYTES;
        if (fd >= 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
        session_list(s, ss, wsi);
        int rc = __atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE)
                     ? CG_ESTATE
                     : cg_events_join(s->bus, &ss->client);
        if (rc == CG_ELIMIT)
            ss->close_code = 1013;
        else if (rc == CG_ESTATE)
            ss->close_code = LWS_CLOSE_STATUS_GOINGAWAY;
        else if (rc)
            ss->close_code = LWS_CLOSE_STATUS_UNEXPECTED_CONDITION;
        lws_callback_on_writable(wsi);
        return 0;
    }

    case LWS_CALLBACK_SERVER_WRITEABLE:
        return on_writable(s, ss);

    case LWS_CALLBACK_RECEIVE:
        return 0; /* clients have nothing to tell us */

    case LWS_CALLBACK_CLOSED:
        session_unlist(s, ss);
        cg_events_leave(ss->client);
        ss->client = NULL;
        return 0;

    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (s)
            on_wake(s);
        return 0;

    default:
        return 0;
    }
}

static const struct lws_protocols protocols[] = {
    {
        .name = "clipgate-events",
        .callback = callback,
        .per_session_data_size = sizeof(session),
        .rx_buffer_size = RX_BUFFER_BYTES,
    },
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void *service_thread(void *arg)
{
    cg_events_server *s = arg;
    for (;;) {
        if (__atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE)) {
            if (!s->stop_deadline)
                s->stop_deadline = cg_now_us() + STOP_GRACE_US;
            if (s->n_sessions == 0 || cg_now_us() > s->stop_deadline)
                break;
        }
        if (lws_service(s->ctx, 0) < 0)
            break;
    }
    __atomic_store_n(&s->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static bool any_address(const char *bind)
{
    return !bind || !*bind || strcmp(bind, "0.0.0.0") == 0 || strcmp(bind, "::") == 0;
}

/* Binds and closes a socket on the port first: libwebsockets reports a
 * taken port only in its log (and leaks a little on that path), so this
 * gives the caller errno. 0 or CG_EIO with errno set. */
static int port_free(const char *bind_addr, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t len;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (any_address(bind_addr) && !(bind_addr && strchr(bind_addr, ':'))) {
        v4->sin_family = AF_INET;
        v4->sin_addr.s_addr = htonl(INADDR_ANY);
        v4->sin_port = htons(port);
        len = sizeof(*v4);
    } else if (inet_pton(AF_INET, bind_addr ? bind_addr : "", &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        len = sizeof(*v4);
    } else if (inet_pton(AF_INET6, bind_addr ? bind_addr : "::", &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        len = sizeof(*v6);
    } else {
        return 0; /* an interface name: let libwebsockets decide */
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return CG_EIO;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    int rc = bind(fd, (struct sockaddr *)&ss, len) == 0 ? 0 : CG_EIO;
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int cg_events_server_new(cg_events_server **out, const cg_events_server_cfg *cfg)
{
    if (!out || !cfg || !cfg->port || !cfg->tls_cert != !cfg->tls_key)
        return CG_EINVAL;
    pthread_once(&metrics_once, metrics_register);
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
    if (port_free(cfg->bind, cfg->port) != 0)
        return CG_EIO;
    cg_events_server *s = calloc(1, sizeof(*s));
    if (!s)
        return CG_ENOMEM;
    cg_events_cfg bc = {
        .queue_len = cfg->queue_len, .max_clients = cfg->max_clients, .headroom = LWS_PRE};
    int rc = cg_events_new(&s->bus, &bc);
    if (rc)
        goto fail;

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = cfg->port;
    info.iface = any_address(cfg->bind) ? NULL : cfg->bind;
    info.protocols = protocols;
    info.user = s;
    info.gid = -1;
    info.uid = -1;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
    info.retry_and_idle_policy = &idle_policy;
    if (cfg->bind && strchr(cfg->bind, '.') && !any_address(cfg->bind))
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    if (cfg->tls_cert) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = cfg->tls_cert;
        info.ssl_private_key_filepath = cfg->tls_key;
        s->tls = true;
    }
    /* The port was free a moment ago: a failure here is most likely the
     * certificate or key being refused. */
    rc = cfg->tls_cert ? CG_ECRYPTO : CG_EIO;
    s->ctx = lws_create_context(&info);
    if (!s->ctx)
        goto fail;
    s->vhost = lws_get_vhost_by_name(s->ctx, "default");
    int port = s->vhost ? lws_get_vhost_listen_port(s->vhost) : -1;
    if (port <= 0)
        goto fail;
    s->port = (uint16_t)port;
    cg_events_set_wake(s->bus, wake, s);
    if (pthread_create(&s->thread, NULL, service_thread, s) != 0)
        goto fail;
    s->thread_started = true;
    *out = s;
    return 0;
fail:
    cg_events_server_free(s);
    return rc;
}

cg_events *cg_events_server_bus(cg_events_server *s)
{
    return s->bus;
}

uint16_t cg_events_server_port(const cg_events_server *s)
{
    return s->port;
}

void cg_events_server_stop(cg_events_server *s)
{
    if (!s || !s->thread_started)
        return;
    __atomic_store_n(&s->stopping, 1, __ATOMIC_RELEASE);
    /* lws may sleep in poll() for long; keep waking it until it is out. */
    while (!__atomic_load_n(&s->done, __ATOMIC_ACQUIRE)) {
        lws_cancel_service(s->ctx);
        usleep(10000);
    }
    pthread_join(s->thread, NULL);
    s->thread_started = false;
    cg_events_set_wake(s->bus, NULL, NULL);
}

void cg_events_server_free(cg_events_server *s)
{
    if (!s)
        return;
    cg_events_server_stop(s);
    if (s->bus)
        cg_events_set_wake(s->bus, NULL, NULL);
    /* Closes what is left; CLOSED callbacks leave the bus. */
    if (s->ctx)
        lws_context_destroy(s->ctx);
    cg_events_free(s->bus);
    free(s);
}
