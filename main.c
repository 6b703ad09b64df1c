/* clipgate: the binary. Parses the configuration, prepares the data
 * directory, starts every subsystem, then waits for SIGTERM or SIGINT and
 * stops them in reverse order.
 *
 * Signals are blocked in every thread (the mask is set before any thread is
 * created and inherited) and taken synchronously with sigwait() here, so no
 * handler runs at an arbitrary point inside a library.
 *
 * Exit status: 0 after a clean shutdown, 2 when the configuration is wrong
 * or the server cannot start with it (one line on stderr says why), 1 on
 * other failures. */
#include <errno.h>
#include <libavutil/log.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clip/store.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/metrics.h"
#include "egress/feed.h"
#include "events/emit.h"
#include "events/server.h"
#include "http/server.h"
#include "http/services.h"
#include "ingest/media.h"
#include "packager/recorder.h"
#include "storage/fs.h"

#define EXIT_CONFIG 2

/* Everything the process runs. Subsystems are created in app_init() in
 * dependency order and stopped in app_stop() in reverse. */
typedef struct cg_app {
    cg_config cfg;
    cg_http_server *http;
    cg_media *media;          /* UDP :media-port, ICE/DTLS/SRTP, every WebRTC session */
    cg_storage *storage;      /* the data dir: recordings and their indexes */
    cg_recorder *recorder;    /* a broadcast per stream, recordings, retention */
    cg_clip_store *clips;     /* persisted clips */
    cg_services svc;          /* what HTTP handlers reach */
    cg_events_server *events; /* WebSocket :events-port; NULL when off */
} cg_app;

/* Creates path and its missing parents (mkdir -p). On failure writes the
 * reason to err and returns CG_EIO. */
static int mkdir_p(const char *path, char *err, size_t errlen)
{
    size_t len = strlen(path);
    char *p = malloc(len + 1);
    if (!p)
        return CG_ENOMEM;
    memcpy(p, path, len + 1);
    int rc = 0;
    /* Each prefix ending before a "/" (skipping a leading one), then the whole. */
    for (size_t i = 1; i <= len && rc == 0; i++) {
        if (i < len && p[i] != '/')
            continue;
        char saved = p[i];
        p[i] = '\0';
        struct stat st;
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "--data-dir: cannot create \"%s\": %s", p, strerror(errno));
            rc = CG_EIO;
        } else if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
            snprintf(err, errlen,
                     "--data-dir: cannot create \"%s\": %s exists and is not a directory", path, p);
            rc = CG_EIO;
        }
        p[i] = saved;
    }
    free(p);
    if (rc == 0 && access(path, W_OK | X_OK) != 0) {
        snprintf(err, errlen, "--data-dir: \"%s\" is not writable: %s", path, strerror(errno));
        rc = CG_EIO;
    }
    return rc;
}

/* Host part of the URLs printed at startup. */
static void display_host(const cg_config *cfg, char *out, size_t n)
{
    const char *h = cfg->bind;
    if (strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0)
        h = cfg->public_ip.n ? cfg->public_ip.v[0] : "127.0.0.1";
    snprintf(out, n, strchr(h, ':') ? "[%s]" : "%s", h);
}

/* ---- live events: the producers' listeners, on their threads ---- */

static cg_events *events_bus(cg_app *app)
{
    return app->events ? cg_events_server_bus(app->events) : NULL;
}

static void on_recorder_event(void *arg, const cg_recorder_event *e)
{
    cg_events *ev = arg;
    switch (e->type) {
    case CG_RECORDER_EV_STARTED:
        cg_events_stream_started(ev, e->stream, e->broadcast, e->video, e->audio);
        break;
    case CG_RECORDER_EV_SEGMENT:
        cg_events_segment(ev, e->stream, e->broadcast, e->segment, e->start_s, e->duration_s,
                          e->wall_us);
        break;
    case CG_RECORDER_EV_ENDED:
        cg_events_stream_ended(ev, e->stream, e->broadcast, e->duration_s);
        break;
    default:
        break;
    }
}

static void on_clip_created(void *arg, const cg_clip_meta *m)
{
    char stream[CG_STREAM_NAME_MAX + 1];
    if (cg_recorder_id_stream(m->broadcast, stream, sizeof(stream)) != 0)
        stream[0] = '\0';
    cg_events_clip_created(arg, m->id, m->broadcast, stream, (double)m->start_us / 1e6,
                           (double)m->duration_us / 1e6);
}

static void on_viewers(void *arg, const char *stream, size_t viewers)
{
    cg_events_viewers(arg, stream, viewers);
}

static void attach_recorder(cg_media *m, void *arg)
{
    cg_recorder_attach(arg, cg_media_hub(m));
}

static void watch_feeds(cg_media *m, void *arg)
{
    *(int *)arg = cg_feed_watch(m);
}

/* A segment's thumbnail is stored (thumbnail worker): the "thumbnail"
 * event. It follows its segment's "segment" event, which goes out before
 * the segment is queued for a thumbnail. */
static void on_thumbnail(void *arg, const cg_recorder_thumb *t)
{
    cg_events_thumbnail(arg, t->stream, t->broadcast, t->segment, t->url);
}

static int app_init(cg_app *app, char *err, size_t errlen)
{
    const cg_config *cfg = &app->cfg;
    cg_media_cfg mcfg = {
        .bind = cfg->bind,
        .port = (uint16_t)cfg->media_port,
        .public_ips = (const char *const *)cfg->public_ip.v,
        .n_public_ips = cfg->public_ip.n,
        .max_sessions = (size_t)cfg->max_sessions,
        .consent_timeout_us = cfg->consent_timeout_us,
        .dump_dir = cfg->dump_dir,
        .max_viewers = (size_t)cfg->max_viewers,
        .max_viewers_per_stream = (size_t)cfg->max_viewers_per_stream,
        .gop_cache = cfg->gop_cache,
    };
    if (cfg->dump_dir && mkdir_p(cfg->dump_dir, err, errlen) != 0)
        return CG_EIO;
    /* Events first: every producer below may emit from its first moment. */
    int rc;
    if (cfg->events_port) {
        cg_events_server_cfg ecfg = {
            .bind = cfg->bind,
            .port = (uint16_t)cfg->events_port,
            .tls_cert = cfg->tls_cert,
            .tls_key = cfg->tls_key,
            .queue_len = (size_t)cfg->events_queue,
        };
        rc = cg_events_server_new(&app->events, &ecfg);
        if (rc) {
            snprintf(err, errlen, "cannot start the events server on %s port %d: %s", cfg->bind,
                     cfg->events_port,
                     rc == CG_EIO       ? strerror(errno)
                     : rc == CG_ECRYPTO ? "the TLS certificate or key was refused"
                                        : cg_strerror(rc));
            return rc;
        }
    }
    if (app->events) {
        mcfg.on_viewers = on_viewers;
        mcfg.viewers_arg = events_bus(app);
    }
    rc = cg_media_new(&app->media, &mcfg);
    if (rc) {
        snprintf(err, errlen, "cannot start media on UDP %s port %d: %s%s%s", cfg->bind,
                 cfg->media_port, cg_strerror(rc), rc == CG_EIO ? ": " : "",
                 rc == CG_EIO ? strerror(errno) : "");
        return rc;
    }
    rc = cg_storage_fs_new(&app->storage, cfg->data_dir);
    if (rc) {
        snprintf(err, errlen, "cannot open the data directory \"%s\": %s", cfg->data_dir,
                 cg_strerror(rc));
        return rc;
    }
    /* Recovers the recordings left in the data dir before anything is
     * served, then watches the hub for streams from the media thread. */
    rc = cg_recorder_new(&app->recorder, app->storage, cfg, cg_media_loop(app->media));
    if (!rc && app->events) {
        cg_recorder_set_listener(app->recorder, on_recorder_event, events_bus(app));
        cg_recorder_set_thumb_listener(app->recorder, on_thumbnail, events_bus(app));
    }
    if (!rc)
        rc = cg_media_call(app->media, attach_recorder, app->recorder);
    if (rc) {
        snprintf(err, errlen, "cannot start the recorder: %s", cg_strerror(rc));
        return rc;
    }
    /* WHEP: a feed per live stream, from the moment it opens. */
    int frc = 0;
    rc = cg_media_call(app->media, watch_feeds, &frc);
    if (rc || frc) {
        snprintf(err, errlen, "cannot start WHEP playback: %s", cg_strerror(rc ? rc : frc));
        return rc ? rc : frc;
    }
    rc = cg_clip_store_new(&app->clips, app->storage);
    if (rc) {
        snprintf(err, errlen, "cannot load the persisted clips: %s", cg_strerror(rc));
        return rc;
    }
    if (app->events)
        cg_clip_store_set_listener(app->clips, on_clip_created, events_bus(app));
    app->svc.cfg = cfg;
    app->svc.media = app->media;
    app->svc.recorder = app->recorder;
    app->svc.clips = app->clips;
    rc = cg_http_server_new(&app->http, cfg);
    if (rc) {
        snprintf(err, errlen, "cannot create the HTTP server: %s", cg_strerror(rc));
        return rc;
    }
    if ((rc = cg_whip_routes_add(app->http, &app->svc)) != 0 ||
        (rc = cg_whep_routes_add(app->http, &app->svc)) != 0 ||
        (rc = cg_api_routes_add(app->http, &app->svc)) != 0 ||
        (rc = cg_hls_routes_add(app->http, &app->svc)) != 0 ||
        (rc = cg_recordings_routes_add(app->http, &app->svc)) != 0 ||
        (rc = cg_clips_routes_add(app->http, &app->svc)) != 0 ||
        (rc = cg_ui_routes_add(app->http, &app->svc)) != 0) {
        snprintf(err, errlen, "cannot register routes: %s", cg_strerror(rc));
        return rc;
    }
    rc = cg_http_server_start(app->http);
    if (rc) {
        snprintf(err, errlen, "cannot start the HTTP server on %s port %d: %s", cfg->bind,
                 cfg->http_port, cg_http_server_error(app->http));
        return rc;
    }
    char host[64];
    display_host(cfg, host, sizeof(host));
    const char *scheme = cfg->tls_cert ? "https" : "http";
    unsigned port = cg_http_server_port(app->http);
    cg_info("main", "clipgate %s listening on %s://%s:%u/ (WHIP: %s://%s:%u/whip/{stream})",
            CG_VERSION, scheme, host, port, scheme, host, port);
    if (app->events)
        cg_info("main", "live events on %s://%s:%u%s", cfg->tls_cert ? "wss" : "ws", host,
                cg_events_server_port(app->events), CG_EVENTS_PATH);
    return 0;
}

static void app_stop(cg_app *app)
{
    /* HTTP first: no new requests reach subsystems that are shutting down,
     * and no handler is left waiting on the media thread. */
    cg_http_server_stop(app->http);
    /* Publishers go first (their streams close), then every broadcast is
     * finished at once, without reconnect grace, and written out while the
     * media loop still runs; only then does the loop stop. */
    cg_media_end_sessions(app->media);
    cg_recorder_shutdown(app->recorder);
    cg_media_free(app->media);
    app->media = NULL;
    /* Last: clients get the stream.ended events of the shutdown above,
     * then a 1001 close. */
    cg_events_server_stop(app->events);
}

static void app_free(cg_app *app)
{
    cg_http_server_free(app->http);
    app->http = NULL;
    cg_media_free(app->media);
    app->media = NULL;
    cg_recorder_free(app->recorder);
    app->recorder = NULL;
    cg_clip_store_free(app->clips);
    app->clips = NULL;
    cg_storage_free(app->storage);
    app->storage = NULL;
    cg_events_server_free(app->events);
    app->events = NULL;
    cg_config_clear(&app->cfg);
}

int main(int argc, char **argv)
{
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    /* A peer closing mid-response must be an EPIPE, not the end of us. */
    signal(SIGPIPE, SIG_IGN);
    cg_metrics_init();

    cg_app app;
    memset(&app, 0, sizeof(app));
    char err[512];
    int action = CG_CONFIG_RUN;
    if (cg_config_load(&app.cfg, argc, argv, &action, err, sizeof(err)) != 0) {
        fprintf(stderr, "clipgate: %s\n", err);
        return EXIT_CONFIG;
    }
    if (action == CG_CONFIG_HELP) {
        cg_dbuf d;
        cg_dbuf_init(&d, 1 << 16);
        cg_config_usage(&d, "clipgate");
        fputs(cg_dbuf_str(&d), stdout);
        cg_dbuf_free(&d);
        cg_config_clear(&app.cfg);
        return 0;
    }
    if (action == CG_CONFIG_VERSION) {
        printf("clipgate %s\n", CG_VERSION);
        cg_config_clear(&app.cfg);
        return 0;
    }
    cg_log_set_level(app.cfg.log_level);
    /* libav* logs to stderr on its own; keep only its errors unless debugging. */
    av_log_set_level(app.cfg.log_level >= CG_LOG_DEBUG ? AV_LOG_INFO : AV_LOG_ERROR);
    if (mkdir_p(app.cfg.data_dir, err, sizeof(err)) != 0) {
        fprintf(stderr, "clipgate: %s\n", err);
        cg_config_clear(&app.cfg);
        return EXIT_CONFIG;
    }
    if (cg_config_default_public_ips(&app.cfg) != 0) {
        fprintf(stderr, "clipgate: out of memory\n");
        cg_config_clear(&app.cfg);
        return 1;
    }
    if (!app.cfg.publish_token)
        cg_warn("main", "no --publish-token: anyone who can reach this server may publish");

    int status = 0;
    if (app_init(&app, err, sizeof(err)) != 0) {
        fprintf(stderr, "clipgate: %s\n", err);
        status = EXIT_CONFIG;
    } else {
        int sig = 0;
        while (sigwait(&stop_signals, &sig) != 0)
            ;
        cg_info("main", "received %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    }
    app_stop(&app);
    app_free(&app);
    if (status == 0)
        cg_info("main", "stopped");
    return status;
}
