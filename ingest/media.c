#include "ingest/media.h"

#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "ingest/whip.h"
#include "rtc/srtp.h"

#define MEDIA_POSTS 4096
#define MAX_PUBLIC_IPS 8
#define STATS_INTERVAL_US 1000000u

/* Datagrams the transport drops before any session sees them, by reason
 * (clipgate_udp_dropped_total{reason}). */
static const struct drop_reason {
    const char *reason;
    size_t offset; /* of the counter in cg_transport_stats */
} drop_reasons[] = {
    {"unauthenticated", offsetof(cg_transport_stats, unauthenticated_addr)},
    {"unknown", offsetof(cg_transport_stats, unknown_class)},
    {"no_session", offsetof(cg_transport_stats, no_peer)},
};
#define N_DROP_REASONS (sizeof(drop_reasons) / sizeof(drop_reasons[0]))

struct cg_media {
    cg_media_cfg cfg;
    char *bind;
    char *dump_dir;
    char *ips[MAX_PUBLIC_IPS];
    cg_loop *loop;
    cg_cert *cert;
    cg_transport *transport;
    cg_hub *hub;
    struct cg_whip *whips;
    struct cg_viewer *viewers;
    struct cg_feed *feeds;
    pthread_t thread;
    int thread_started;
    cg_timer stats_timer;
    cg_metric *dropped[N_DROP_REASONS];
    uint64_t dropped_synced[N_DROP_REASONS];
};

typedef struct media_call {
    cg_media *m;
    cg_media_fn fn;
    void *arg;
} media_call;

static void media_call_run(void *p)
{
    media_call *c = p;
    c->fn(c->m, c->arg);
}

int cg_media_call(cg_media *m, cg_media_fn fn, void *arg)
{
    media_call c = {.m = m, .fn = fn, .arg = arg};
    return cg_loop_call(m->loop, media_call_run, &c);
}

static uint64_t stat_at(const cg_transport_stats *st, size_t offset)
{
    uint64_t v;
    memcpy(&v, (const char *)st + offset, sizeof(v));
    return v;
}

/* Copies the transport's drop counters into /metrics once a second. */
static void stats_timer_cb(cg_loop *loop, void *arg)
{
    cg_media *m = arg;
    cg_transport_stats st;
    cg_transport_get_stats(m->transport, &st);
    for (size_t i = 0; i < N_DROP_REASONS; i++) {
        uint64_t v = stat_at(&st, drop_reasons[i].offset);
        if (v > m->dropped_synced[i]) {
            cg_metric_add(m->dropped[i], v - m->dropped_synced[i]);
            m->dropped_synced[i] = v;
        }
    }
    cg_loop_timer_set(loop, &m->stats_timer, cg_now_us() + STATS_INTERVAL_US, stats_timer_cb, m);
}

static void metrics_init(cg_media *m)
{
    cg_metric *fam;
    int rc = cg_metrics_counter(&fam, "clipgate_udp_dropped_total",
                                "media datagrams dropped before reaching a session", "reason");
    for (size_t i = 0; rc == 0 && i < N_DROP_REASONS; i++)
        rc = cg_metric_labels(fam, &m->dropped[i], drop_reasons[i].reason, NULL);
    if (rc)
        cg_warn("media", "UDP drop metrics unavailable: %s", cg_strerror(rc));
}

static void *media_thread(void *arg)
{
    cg_media *m = arg;
    int rc = cg_loop_run(m->loop);
    if (rc)
        cg_error("media", "event loop failed: %s", cg_strerror(rc));
    return NULL;
}

int cg_media_new(cg_media **out, const cg_media_cfg *cfg)
{
    cg_media *m = calloc(1, sizeof(*m));
    if (!m)
        return CG_ENOMEM;
    m->cfg = *cfg;
    int rc = CG_ENOMEM;
    m->bind = strdup(cfg->bind ? cfg->bind : "0.0.0.0");
    if (!m->bind)
        goto fail;
    m->cfg.bind = m->bind;
    if (cfg->dump_dir && *cfg->dump_dir) {
        if (!(m->dump_dir = strdup(cfg->dump_dir)))
            goto fail;
        m->cfg.dump_dir = m->dump_dir;
    } else {
        m->cfg.dump_dir = NULL;
    }
    size_t n = cfg->n_public_ips < MAX_PUBLIC_IPS ? cfg->n_public_ips : MAX_PUBLIC_IPS;
    for (size_t i = 0; i < n; i++)
        if (!(m->ips[i] = strdup(cfg->public_ips[i])))
            goto fail;
    m->cfg.public_ips = (const char *const *)m->ips;
    m->cfg.n_public_ips = n;
    if ((rc = cg_srtp_global_init()) != 0)
        goto fail;
    if ((rc = cg_loop_new(&m->loop, MEDIA_POSTS)) != 0)
        goto fail;
    if ((rc = cg_cert_new(&m->cert)) != 0)
        goto fail;
    if ((rc = cg_transport_new(&m->transport, m->loop, m->bind, cfg->port, m->cert)) != 0)
        goto fail;
    if ((rc = cg_hub_new(&m->hub)) != 0)
        goto fail;
    metrics_init(m);
    /* Armed before the thread starts, so no other thread touches the loop. */
    cg_loop_timer_set(m->loop, &m->stats_timer, cg_now_us() + STATS_INTERVAL_US, stats_timer_cb, m);
    if (pthread_create(&m->thread, NULL, media_thread, m) != 0) {
        rc = CG_EIO;
        goto fail;
    }
    m->thread_started = 1;
    *out = m;
    return 0;
fail:
    cg_media_free(m);
    return rc;
}

void cg_media_viewers_changed(cg_media *m, const char *stream, size_t viewers)
{
    if (m->cfg.on_viewers)
        m->cfg.on_viewers(m->cfg.viewers_arg, stream, viewers);
}

static void shutdown_sessions(cg_media *m, void *arg)
{
    cg_whip_close_all(m);
    cg_loop_timer_cancel(m->loop, &m->stats_timer);
}

void cg_media_end_sessions(cg_media *m)
{
    if (m && m->thread_started)
        cg_media_call(m, shutdown_sessions, NULL);
}

void cg_media_free(cg_media *m)
{
    if (!m)
        return;
    if (m->thread_started) {
        cg_media_call(m, shutdown_sessions, NULL);
        cg_loop_stop(m->loop);
        pthread_join(m->thread, NULL);
    }
    cg_hub_free(m->hub);
    cg_transport_free(m->transport);
    cg_cert_free(m->cert);
    cg_loop_free(m->loop);
    for (size_t i = 0; i < MAX_PUBLIC_IPS; i++)
        free(m->ips[i]);
    free(m->bind);
    free(m->dump_dir);
    free(m);
}

cg_loop *cg_media_loop(cg_media *m) { return m->loop; }
struct cg_whip **cg_media_whips(cg_media *m) { return &m->whips; }
struct cg_viewer **cg_media_viewers(cg_media *m) { return &m->viewers; }
struct cg_feed **cg_media_feeds(cg_media *m) { return &m->feeds; }
cg_transport *cg_media_transport(cg_media *m) { return m->transport; }
cg_hub *cg_media_hub(cg_media *m) { return m->hub; }
const cg_media_cfg *cg_media_config(const cg_media *m) { return &m->cfg; }
const char *cg_media_fingerprint(const cg_media *m) { return cg_cert_fingerprint(m->cert); }
uint16_t cg_media_port(const cg_media *m) { return cg_transport_port(m->transport); }
