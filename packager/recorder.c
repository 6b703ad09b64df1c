/* Broadcast manager (see recorder.h).
 *
 * Ownership of a broadcast record (struct bcast):
 *   - the registry list and the fields marked "mu" belong to r->mu;
 *   - the fields marked "loop" belong to the media loop (no lock);
 *   - the record is freed only by the janitor (retention, empty broadcasts)
 *     or by cg_recorder_free, and only once its packager is gone, nothing
 *     on the loop refers to it (not open) and no keyframe request for it is
 *     queued on the loop (kf_posted).
 *
 * Why a janitor thread frees packagers: cg_packager_free joins the worker,
 * which may still be draining its queue or writing the last segment when
 * the loop calls finish; EV_ENDED comes from the worker itself, which
 * cannot join itself. The janitor wakes on EV_ENDED, joins (the worker is
 * returning by then) and frees, keeping every wait off the media loop. It
 * also runs retention, which deletes files. */
#include "packager/recorder.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/random.h"
#include "packager/index.h"
#include "packager/thumbs.h"

#define ID_SUFFIX_LEN 22 /* "-yyyymmddThhmmssZ-hhhh" */
#define RETENTION_HOURS_INTERVAL_US (60u * 1000000u)
/* With --retention live, ended broadcasts are kept this many live windows
 * so that players reach the end of what they loaded, and segments this
 * many windows behind the live edge. */
#define LIVE_KEEP_WINDOWS 2

typedef struct bcast bcast;

struct bcast {
    bcast *next; /* mu */
    cg_recorder *r;
    char id[CG_TL_ID_MAX + 1];
    char stream[CG_STREAM_NAME_MAX + 1];
    char dir[CG_RECORDER_DIR_MAX];
    cg_timeline *tl;       /* our reference; the pointer never changes */
    uint64_t created_wall; /* ordering: newest first */
    int video, audio;

    /* mu */
    cg_packager *pk; /* until the janitor frees it */
    cg_packager_stats final;
    int has_stats;
    int publishing;
    int ended_ev;          /* EV_ENDED came: the janitor frees pk */
    uint64_t live_deleted; /* --retention live: seg files below are gone */
    uint8_t *thumbs;       /* bit per segment: thumb-<n>.jpg is stored */
    size_t thumbs_bytes;

    /* loop */
    int open;        /* cg_packager_finish not called yet */
    cg_packager *lp; /* = pk while open */
    cg_stream *stream_ptr;
    cg_timer grace;

    /* atomics */
    int kf_posted;        /* a keyframe request is queued on the loop */
    int degraded_counted; /* counted in clipgate_broadcast_degraded */
};

struct cg_recorder {
    cg_storage *st;
    const cg_config *cfg;
    cg_loop *loop;
    cg_recorder_listener_fn listen_fn; /* set before any broadcast starts */
    void *listen_arg;
    cg_hub *hub;  /* loop */
    int stopping; /* loop: no new broadcasts */

    pthread_mutex_t pass_mu; /* one retention pass at a time */
    pthread_mutex_t mu;
    pthread_cond_t wake;   /* janitor: something to reap, or quit */
    pthread_cond_t reaped; /* shutdown: a packager was freed */
    bcast *head;           /* mu */
    int quit;              /* mu */
    int shut_down;         /* caller's thread */
    pthread_t janitor;
    int janitor_started;

    cg_thumbs *thumbs;
    cg_recorder_thumb_fn thumb_fn; /* set before any broadcast starts */
    void *thumb_arg;
};

static struct {
    cg_metric *live, *degraded, *write_errors, *segments, *deleted;
} g_m;
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void metrics_register(void)
{
    cg_metrics_gauge(&g_m.live, "clipgate_broadcasts_live",
                     "broadcasts being recorded (publishing or within reconnect grace)", NULL);
    cg_metrics_gauge(&g_m.degraded, "clipgate_broadcast_degraded",
                     "live broadcasts that lost a segment to a storage failure", NULL);
    cg_metrics_counter(&g_m.write_errors, "clipgate_segment_write_errors_total",
                       "segments that could not be stored (full disk, I/O error)", NULL);
    cg_metrics_counter(&g_m.segments, "clipgate_segments_published_total",
                       "media segments stored and added to a timeline", NULL);
    cg_metrics_counter(&g_m.deleted, "clipgate_recordings_deleted_total",
                       "broadcasts deleted by retention", NULL);
}

/* ---- ids ---- */

int cg_recorder_make_id(const char *stream, uint64_t wall_us, uint16_t rnd, char *out, size_t cap)
{
    if (!stream || !out || !cg_stream_name_valid(stream))
        return CG_EINVAL;
    time_t secs = (time_t)(wall_us / 1000000u);
    struct tm tm;
    if (!gmtime_r(&secs, &tm))
        return CG_EINVAL;
    size_t n = strlen(stream);
    if (n > CG_TL_ID_MAX - ID_SUFFIX_LEN)
        n = CG_TL_ID_MAX - ID_SUFFIX_LEN;
    int w = snprintf(out, cap, "%.*s-%04d%02d%02dT%02d%02d%02dZ-%04x", (int)n, stream,
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (unsigned)rnd);
    if (w < 0 || (size_t)w >= cap)
        return CG_ENOSPC;
    return cg_tl_id_valid(out) ? 0 : CG_EINVAL;
}

static int is_digits(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return 0;
    return 1;
}

int cg_recorder_id_stream(const char *id, char *out, size_t cap)
{
    if (!id || !out || !cg_tl_id_valid(id))
        return CG_EINVAL;
    size_t n = strlen(id);
    if (n > ID_SUFFIX_LEN) {
        const char *s = id + n - ID_SUFFIX_LEN;
        int shaped = s[0] == '-' && is_digits(s + 1, 8) && s[9] == 'T' && is_digits(s + 10, 6) &&
                     s[16] == 'Z' && s[17] == '-';
        for (int i = 18; shaped && i < 22; i++)
            shaped = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');
        if (shaped)
            n -= ID_SUFFIX_LEN;
    }
    if (n > CG_STREAM_NAME_MAX)
        n = CG_STREAM_NAME_MAX;
    if (n + 1 > cap)
        return CG_ENOSPC;
    memcpy(out, id, n);
    out[n] = '\0';
    return 0;
}

/* ---- records ---- */

static bcast *bcast_alloc(cg_recorder *r, const char *id, const char *stream)
{
    bcast *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->r = r;
    snprintf(b->id, sizeof(b->id), "%s", id);
    snprintf(b->stream, sizeof(b->stream), "%s", stream);
    snprintf(b->dir, sizeof(b->dir), "%s/%s", CG_RECORDER_PREFIX, id);
    b->grace.heap_idx = SIZE_MAX;
    return b;
}

static void bcast_free(bcast *b)
{
    if (!b)
        return;
    cg_timeline_unref(b->tl);
    free(b->thumbs);
    free(b);
}

/* mu held. */
static bcast *find_id_locked(cg_recorder *r, const char *id)
{
    for (bcast *b = r->head; b; b = b->next)
        if (strcmp(b->id, id) == 0)
            return b;
    return NULL;
}

/* mu held. Marks segment seq of b as having a thumbnail. */
static void thumb_mark_locked(bcast *b, uint64_t seq)
{
    if (seq >= CG_TL_MAX_SEGMENTS)
        return;
    size_t need = (size_t)(seq / 8) + 1;
    if (need > b->thumbs_bytes) {
        size_t cap = b->thumbs_bytes ? b->thumbs_bytes : 64;
        while (cap < need)
            cap *= 2;
        uint8_t *t = realloc(b->thumbs, cap);
        if (!t)
            return; /* the API then omits it; the file is still served */
        memset(t + b->thumbs_bytes, 0, cap - b->thumbs_bytes);
        b->thumbs = t;
        b->thumbs_bytes = cap;
    }
    b->thumbs[seq / 8] |= (uint8_t)(1u << (seq % 8));
}

static int tl_live(cg_timeline *tl)
{
    cg_tl_info info;
    cg_timeline_info(tl, &info);
    return info.state == CG_TL_LIVE;
}

/* ---- packager events (worker threads) ---- */

static void kf_on_loop(void *arg)
{
    bcast *b = arg;
    if (b->stream_ptr)
        cg_stream_request_keyframe(b->stream_ptr);
    /* Last touch: once cleared, the janitor may free b. */
    __atomic_store_n(&b->kf_posted, 0, __ATOMIC_RELEASE);
}

/* A broadcast's end, told on the thumbnail worker once the thumbnails
 * queued before it are out: the end comes after them. */
typedef struct ended_note {
    cg_recorder *r;
    char stream[CG_STREAM_NAME_MAX + 1];
    char broadcast[CG_TL_ID_MAX + 1];
    double duration_s;
} ended_note;

static void tell_ended(void *arg)
{
    ended_note *note = arg;
    cg_recorder_event out = {.type = CG_RECORDER_EV_ENDED,
                             .stream = note->stream,
                             .broadcast = note->broadcast,
                             .duration_s = note->duration_s};
    note->r->listen_fn(note->r->listen_arg, &out);
    free(note);
}

/* Tells the listener of published segments and of the end (worker). */
static void notify_packager_event(bcast *b, const cg_packager_event *ev)
{
    cg_recorder *r = b->r;
    if (!r->listen_fn || (ev->type != CG_PACKAGER_EV_SEGMENT && ev->type != CG_PACKAGER_EV_ENDED))
        return;
    cg_recorder_event out = {.stream = b->stream, .broadcast = b->id};
    if (ev->type == CG_PACKAGER_EV_SEGMENT) {
        double ts = ev->timescale ? (double)ev->timescale : 1.0;
        out.type = CG_RECORDER_EV_SEGMENT;
        out.segment = ev->seq;
        out.start_s = (double)ev->start / ts;
        out.duration_s = (double)ev->duration / ts;
        out.wall_us = ev->wall_us;
    } else {
        out.type = CG_RECORDER_EV_ENDED;
        cg_tl_snap *snap = NULL;
        if (cg_timeline_snapshot(b->tl, &snap) == 0) {
            size_t n = cg_tl_snap_count(snap);
            uint32_t ts = cg_tl_snap_info(snap)->timescale;
            if (n && ts) {
                const cg_tl_segment *last = cg_tl_snap_seg(snap, n - 1);
                out.duration_s = (double)(last->start + last->duration) / ts;
            }
            cg_tl_snap_free(snap);
        }
        ended_note *note = b->video && r->thumbs ? malloc(sizeof(*note)) : NULL;
        if (note) {
            note->r = r;
            memcpy(note->stream, b->stream, sizeof(note->stream));
            memcpy(note->broadcast, b->id, sizeof(note->broadcast));
            note->duration_s = out.duration_s;
            /* Refused (queue full): told now, before its last thumbnails. */
            if (cg_thumbs_after(r->thumbs, tell_ended, note) == 0)
                return;
            free(note);
        }
    }
    r->listen_fn(r->listen_arg, &out);
}

static void on_packager_event(void *arg, const cg_packager_event *ev)
{
    bcast *b = arg;
    cg_recorder *r = b->r;
    notify_packager_event(b, ev);
    switch (ev->type) {
    case CG_PACKAGER_EV_SEGMENT:
        cg_metric_inc(g_m.segments);
        if (b->video && r->thumbs) {
            cg_thumbs_job job = {.seq = ev->seq, .period = ev->period};
            snprintf(job.dir, sizeof(job.dir), "%s", b->dir);
            memcpy(job.broadcast, b->id, sizeof(job.broadcast));
            memcpy(job.stream, b->stream, sizeof(job.stream));
            /* Queued after whatever announces the segment, so that its
             * thumbnail is heard of after it. A full queue skips this one
             * and counts it. */
            cg_thumbs_submit(r->thumbs, &job);
        }
        break;
    case CG_PACKAGER_EV_NEED_KEYFRAME:
        /* One request in flight at most; the publisher side rate-limits
         * PLI/FIR as well. */
        if (!__atomic_exchange_n(&b->kf_posted, 1, __ATOMIC_ACQ_REL) &&
            cg_loop_post(r->loop, kf_on_loop, b) != 0)
            __atomic_store_n(&b->kf_posted, 0, __ATOMIC_RELEASE);
        break;
    case CG_PACKAGER_EV_WRITE_FAILED:
        cg_metric_inc(g_m.write_errors);
        if (!__atomic_exchange_n(&b->degraded_counted, 1, __ATOMIC_ACQ_REL))
            cg_metric_inc(g_m.degraded);
        break;
    case CG_PACKAGER_EV_ENDED:
        pthread_mutex_lock(&r->mu);
        b->ended_ev = 1;
        pthread_cond_signal(&r->wake);
        pthread_mutex_unlock(&r->mu);
        break;
    default:
        break;
    }
}

/* ---- thumbnails (thumb worker) ---- */

static void on_thumb_done(void *arg, const cg_thumbs_result *res)
{
    cg_recorder *r = arg;
    if (res->err)
        return;
    const cg_thumbs_job *job = res->job;
    pthread_mutex_lock(&r->mu);
    bcast *b = find_id_locked(r, job->broadcast);
    if (b)
        thumb_mark_locked(b, job->seq);
    pthread_mutex_unlock(&r->mu);
    char url[CG_TL_ID_MAX + 64];
    if (b && r->thumb_fn && cg_thumbs_url(job->broadcast, job->seq, url, sizeof(url)) == 0) {
        cg_recorder_thumb ev = {
            .stream = job->stream, .broadcast = job->broadcast, .segment = job->seq, .url = url};
        r->thumb_fn(r->thumb_arg, &ev);
    }
}

void cg_recorder_set_thumb_listener(cg_recorder *r, cg_recorder_thumb_fn fn, void *arg)
{
    r->thumb_fn = fn;
    r->thumb_arg = arg;
}

int cg_recorder_thumbs_made(cg_recorder *r, const char *id, uint8_t *bits, size_t n)
{
    if (!r || !id || (!bits && n) || !cg_tl_id_valid(id))
        return CG_EINVAL;
    size_t bytes = (n + 7) / 8;
    memset(bits, 0, bytes);
    pthread_mutex_lock(&r->mu);
    bcast *b = find_id_locked(r, id);
    if (b && b->thumbs)
        memcpy(bits, b->thumbs, bytes < b->thumbs_bytes ? bytes : b->thumbs_bytes);
    pthread_mutex_unlock(&r->mu);
    if (b && n % 8)
        bits[bytes - 1] &= (uint8_t)((1u << (n % 8)) - 1);
    return b ? 0 : CG_ENOTFOUND;
}

/* Startup (one thread, before the janitor and the worker run, so mu is not
 * needed): the thumbnails a broadcast found on disk already has. */
static int scan_thumb(void *arg, const char *name, const cg_storage_stat *st)
{
    bcast *b = arg;
    size_t dl = strlen(b->dir);
    uint64_t seq;
    if (strncmp(name, b->dir, dl) == 0 && name[dl] == '/' && !strchr(name + dl + 1, '/') &&
        cg_thumbs_parse_name(name + dl + 1, &seq) && seq < cg_timeline_count(b->tl))
        thumb_mark_locked(b, seq);
    return 0;
}

/* ---- media loop ---- */

static void sink_frame(void *arg, cg_frame *f)
{
    bcast *b = arg;
    if (b->lp)
        cg_packager_push(b->lp, f); /* a full queue drops and counts */
}

/* Ends the broadcast now: no more frames, the packager drains and ends. */
static void finish_bcast(bcast *b)
{
    cg_recorder *r = b->r;
    cg_loop_timer_cancel(r->loop, &b->grace);
    if (!b->open)
        return;
    b->open = 0;
    cg_packager *p = b->lp;
    b->lp = NULL;
    cg_packager_finish(p);
    cg_info(b->stream, "broadcast %s finishing", b->id);
}

static void grace_expired(cg_loop *loop, void *arg)
{
    bcast *b = arg;
    cg_info(b->stream, "publisher did not come back within the reconnect grace");
    finish_bcast(b);
}

static void attach(bcast *b, cg_stream *s)
{
    cg_frame_sink sink = {.on_frame = sink_frame, .on_end = NULL, .arg = b};
    if (cg_stream_add_sink(s, &sink) != 0) {
        cg_warn(b->stream, "too many consumers on the stream: broadcast %s not recorded", b->id);
        finish_bcast(b);
        return;
    }
    b->stream_ptr = s;
    pthread_mutex_lock(&b->r->mu);
    b->publishing = 1;
    pthread_mutex_unlock(&b->r->mu);
}

static void start_bcast(cg_recorder *r, cg_stream *s, const cg_stream_info *si)
{
    const char *name = cg_stream_name(s);
    const cg_config *cfg = r->cfg;
    char id[CG_TL_ID_MAX + 1];
    uint64_t wall = cg_wall_us();
    int rc = CG_EEXIST;
    for (int tries = 0; tries < 16 && rc == CG_EEXIST; tries++) {
        rc = cg_recorder_make_id(name, wall, (uint16_t)cg_random_u32(), id, sizeof(id));
        if (rc)
            break;
        pthread_mutex_lock(&r->mu);
        if (find_id_locked(r, id))
            rc = CG_EEXIST;
        pthread_mutex_unlock(&r->mu);
    }
    bcast *b = rc ? NULL : bcast_alloc(r, id, name);
    if (!b) {
        cg_error(name, "cannot start a broadcast: %s", cg_strerror(rc ? rc : CG_ENOMEM));
        return;
    }
    b->created_wall = wall;
    b->video = si->has_video;
    b->audio = si->has_audio;
    cg_packager_cfg pc;
    cg_packager_cfg_default(&pc);
    pc.dir = b->dir;
    pc.video = b->video;
    pc.audio = b->audio;
    pc.audio_out = cfg->audio_codec == CG_AUDIO_OPUS ? CG_AUDIO_OUT_OPUS : CG_AUDIO_OUT_AAC;
    if (cfg->segment_duration_us)
        pc.target_ms = (uint32_t)(cfg->segment_duration_us / 1000u);
    pc.on_event = on_packager_event;
    pc.event_arg = b;
    cg_packager *p = NULL;
    if ((rc = cg_packager_new(&p, r->st, id, &pc)) != 0) {
        cg_error(name, "cannot start a broadcast: packager: %s", cg_strerror(rc));
        bcast_free(b);
        return;
    }
    b->tl = cg_timeline_ref(cg_packager_timeline(p));
    b->lp = p;
    b->open = 1;
    pthread_mutex_lock(&r->mu);
    b->pk = p;
    b->next = r->head;
    r->head = b;
    pthread_mutex_unlock(&r->mu);
    cg_metric_inc(g_m.live);
    cg_info(name, "broadcast %s started (%s%s%s)", id, b->video ? "video" : "",
            b->video && b->audio ? "+" : "", b->audio ? "audio" : "");
    /* Before attach: no frame, hence no segment, can precede it. */
    if (r->listen_fn) {
        cg_recorder_event ev = {.type = CG_RECORDER_EV_STARTED,
                                .stream = b->stream,
                                .broadcast = b->id,
                                .video = b->video,
                                .audio = b->audio};
        r->listen_fn(r->listen_arg, &ev);
    }
    attach(b, s);
}

static void on_stream_open(void *arg, cg_stream *s)
{
    cg_recorder *r = arg;
    if (r->stopping)
        return;
    const cg_stream_info *si = cg_stream_get_info(s);
    const char *name = cg_stream_name(s);
    if (!si->has_video && !si->has_audio) {
        cg_info(name, "no H.264 or Opus track: not recorded");
        return;
    }
    /* A publisher coming back within the grace period continues its
     * broadcast, unless its tracks changed (a different recording then). */
    bcast *cont = NULL, *stale = NULL;
    pthread_mutex_lock(&r->mu);
    for (bcast *b = r->head; b; b = b->next) {
        if (!b->open || b->stream_ptr || strcmp(b->stream, name) != 0)
            continue;
        if (b->video == si->has_video && b->audio == si->has_audio)
            cont = b;
        else
            stale = b;
        break;
    }
    pthread_mutex_unlock(&r->mu);
    if (cont && cg_packager_discontinuity(cont->lp) == 0) {
        cg_loop_timer_cancel(r->loop, &cont->grace);
        cg_info(name, "publisher is back: broadcast %s continues", cont->id);
        attach(cont, s);
        return;
    }
    if (cont)
        finish_bcast(cont);
    if (stale)
        finish_bcast(stale);
    start_bcast(r, s, si);
}

static void on_stream_close(void *arg, cg_stream *s)
{
    cg_recorder *r = arg;
    bcast *found = NULL;
    pthread_mutex_lock(&r->mu);
    for (bcast *b = r->head; b && !found; b = b->next) {
        if (b->stream_ptr == s) {
            found = b;
            b->publishing = 0;
        }
    }
    pthread_mutex_unlock(&r->mu);
    if (!found)
        return;
    cg_stream_remove_sink(s, found);
    found->stream_ptr = NULL;
    uint64_t grace = r->cfg->reconnect_grace_us;
    if (r->stopping || grace == 0) {
        finish_bcast(found);
        return;
    }
    cg_loop_timer_set(r->loop, &found->grace, cg_now_us() + grace, grace_expired, found);
}

void cg_recorder_set_listener(cg_recorder *r, cg_recorder_listener_fn fn, void *arg)
{
    r->listen_fn = fn;
    r->listen_arg = arg;
}

void cg_recorder_attach(cg_recorder *r, cg_hub *hub)
{
    r->hub = hub;
    cg_hub_observer obs = {.on_open = on_stream_open, .on_close = on_stream_close, .arg = r};
    if (cg_hub_add_observer(hub, &obs) != 0)
        cg_error("recorder", "cannot watch the stream hub: too many observers");
}

static void stop_on_loop(void *arg)
{
    cg_recorder *r = arg;
    r->stopping = 1;
    if (r->hub)
        cg_hub_remove_observer(r->hub, r);
    pthread_mutex_lock(&r->mu);
    for (bcast *b = r->head; b; b = b->next) {
        if (b->stream_ptr) {
            cg_stream_remove_sink(b->stream_ptr, b);
            b->stream_ptr = NULL;
            b->publishing = 0;
        }
        /* finish only closes a queue: fine under the lock. */
        finish_bcast(b);
    }
    pthread_mutex_unlock(&r->mu);
}

/* ---- deleting ---- */

typedef struct names {
    char **v;
    size_t n, cap;
    const char *skip; /* collected separately (the index) */
} names;

static int collect_name(void *arg, const char *name, const cg_storage_stat *st)
{
    names *c = arg;
    if (c->skip && strcmp(name, c->skip) == 0)
        return 0;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        char **t = realloc(c->v, cap * sizeof(*t));
        if (!t)
            return CG_ENOMEM;
        c->v = t;
        c->cap = cap;
    }
    if (!(c->v[c->n] = strdup(name)))
        return CG_ENOMEM;
    c->n++;
    return 0;
}

static void names_free(names *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->v[i]);
    free(c->v);
}

/* Deletes every object of a broadcast, its index last: an interrupted
 * delete leaves an index naming missing files, which recovery trims. */
static int delete_files(cg_recorder *r, const char *dir)
{
    char index[CG_STORAGE_NAME_MAX + 1];
    int rc = cg_index_name(dir, CG_TL_INDEX_NAME, index, sizeof(index));
    if (rc)
        return rc;
    names c = {.skip = index};
    rc = cg_storage_list(r->st, dir, collect_name, &c);
    if (rc == CG_ENOTFOUND)
        rc = 0;
    for (size_t i = 0; i < c.n && !rc; i++) {
        int d = cg_storage_del(r->st, c.v[i]);
        if (d && d != CG_ENOTFOUND)
            rc = d;
    }
    names_free(&c);
    if (!rc) {
        rc = cg_storage_del(r->st, index);
        if (rc == CG_ENOTFOUND)
            rc = 0;
    }
    return rc;
}

/* mu held. 1 when nothing but the registry refers to b any more. */
static int releasable(bcast *b)
{
    return !b->pk && !b->open && !__atomic_load_n(&b->kf_posted, __ATOMIC_ACQUIRE) &&
           !tl_live(b->tl);
}

/* mu held; unlinks b from the registry. */
static void unlink_locked(cg_recorder *r, bcast *b)
{
    for (bcast **pp = &r->head; *pp; pp = &(*pp)->next) {
        if (*pp == b) {
            *pp = b->next;
            return;
        }
    }
}

/* mu held, released during the deletes. Removes b from the registry, then
 * its files. Returns 1 if b was deleted. */
static int delete_bcast_locked(cg_recorder *r, bcast *b, const char *why)
{
    unlink_locked(r, b);
    pthread_mutex_unlock(&r->mu);
    int rc = delete_files(r, b->dir);
    if (rc)
        cg_warn(b->stream,
                "broadcast %s: deleting its files failed (%s); retried at the next start", b->id,
                cg_strerror(rc));
    else
        cg_info(b->stream, "broadcast %s deleted (%s)", b->id, why);
    bcast_free(b);
    pthread_mutex_lock(&r->mu);
    return 1;
}

static uint64_t end_wall(bcast *b)
{
    cg_tl_info info;
    cg_timeline_info(b->tl, &info);
    if (info.end_wall_us)
        return info.end_wall_us;
    return info.start_wall_us ? info.start_wall_us : b->created_wall;
}

static uint64_t target_us(const cg_recorder *r)
{
    return r->cfg->segment_duration_us ? r->cfg->segment_duration_us : 2000000u;
}

/* --retention live: segment files more than LIVE_KEEP_WINDOWS windows
 * behind the live edge. mu held, released during the deletes. */
static void trim_live_locked(cg_recorder *r, bcast *b)
{
    uint64_t keep =
        (uint64_t)(r->cfg->live_window > 0 ? r->cfg->live_window : 6) * LIVE_KEEP_WINDOWS;
    uint64_t count = cg_timeline_count(b->tl);
    if (count <= keep || b->live_deleted >= count - keep)
        return;
    uint64_t from = b->live_deleted, to = count - keep;
    b->live_deleted = to; /* only retention passes use it */
    pthread_mutex_unlock(&r->mu);
    for (uint64_t seq = from; seq < to; seq++) {
        char leaf[32], name[CG_STORAGE_NAME_MAX + 1];
        cg_tl_segment_name(seq, leaf, sizeof(leaf));
        if (cg_index_name(b->dir, leaf, name, sizeof(name)) == 0)
            cg_storage_del(r->st, name);
        cg_thumbs_name(seq, leaf, sizeof(leaf));
        if (cg_index_name(b->dir, leaf, name, sizeof(name)) == 0)
            cg_storage_del(r->st, name);
    }
    pthread_mutex_lock(&r->mu);
    for (uint64_t seq = from; seq < to && seq / 8 < b->thumbs_bytes; seq++)
        b->thumbs[seq / 8] &= (uint8_t) ~(1u << (seq % 8));
}

size_t cg_recorder_retention_pass(cg_recorder *r, uint64_t now_wall_us)
{
    uint64_t keep_us = r->cfg->retention_us;
    int live_mode = keep_us == CG_RETENTION_LIVE;
    if (live_mode) {
        keep_us = target_us(r) * (uint64_t)(r->cfg->live_window > 0 ? r->cfg->live_window : 6) *
                  LIVE_KEEP_WINDOWS;
    }
    size_t deleted = 0;
    /* One pass at a time: a pass keeps using a broadcast it found live
     * while the lock is dropped. */
    pthread_mutex_lock(&r->pass_mu);
    pthread_mutex_lock(&r->mu);
    /* Deleting drops the lock; restart the walk after each one. */
    for (int again = 1; again;) {
        again = 0;
        for (bcast *b = r->head; b; b = b->next) {
            if (b->pk) {
                /* Only retention passes free a broadcast, so b stays
                 * valid while the lock is dropped. */
                if (live_mode && tl_live(b->tl))
                    trim_live_locked(r, b);
                continue;
            }
            if (!releasable(b))
                continue;
            if (cg_timeline_count(b->tl) == 0) {
                /* Nothing playable: a publisher that sent no keyframe,
                 * or a recording whose every file was lost. */
                delete_bcast_locked(r, b, "ended without a segment");
            } else if (keep_us != CG_RETENTION_FOREVER && now_wall_us >= end_wall(b) &&
                       now_wall_us - end_wall(b) >= keep_us) {
                delete_bcast_locked(r, b, "retention");
                cg_metric_inc(g_m.deleted);
                deleted++;
            } else {
                continue;
            }
            again = 1;
            break;
        }
    }
    pthread_mutex_unlock(&r->mu);
    pthread_mutex_unlock(&r->pass_mu);
    return deleted;
}

/* ---- janitor ---- */

/* mu held, released while freeing. Frees the packager of one ended
 * broadcast. Returns 1 if it did. */
static int reap_locked(cg_recorder *r)
{
    for (bcast *b = r->head; b; b = b->next) {
        if (!b->pk || !b->ended_ev)
            continue;
        cg_packager *p = b->pk;
        /* Final: the worker published its last stats before EV_ENDED. */
        cg_packager_get_stats(p, &b->final);
        b->has_stats = 1;
        b->pk = NULL;
        /* Counted out as it leaves the registry's "running" view. */
        cg_metric_sub(g_m.live, 1);
        if (__atomic_load_n(&b->degraded_counted, __ATOMIC_ACQUIRE))
            cg_metric_sub(g_m.degraded, 1);
        /* Once unlocked, a retention pass may delete b: keep what the log
         * line needs. */
        char id[CG_TL_ID_MAX + 1], stream[CG_STREAM_NAME_MAX + 1];
        memcpy(id, b->id, sizeof(id));
        memcpy(stream, b->stream, sizeof(stream));
        size_t count = cg_timeline_count(b->tl);
        int degraded = b->final.degraded;
        pthread_mutex_unlock(&r->mu);
        cg_packager_free(p);
        cg_info(stream, "broadcast %s ended: %zu segments%s", id, count,
                degraded ? ", degraded (segments lost)" : "");
        pthread_mutex_lock(&r->mu);
        pthread_cond_broadcast(&r->reaped);
        return 1;
    }
    return 0;
}

static int has_packagers_locked(cg_recorder *r)
{
    for (bcast *b = r->head; b; b = b->next)
        if (b->pk)
            return 1;
    return 0;
}

static void *janitor_main(void *arg)
{
    cg_recorder *r = arg;
    uint64_t interval = r->cfg->retention_us == CG_RETENTION_LIVE
                            ? (target_us(r) > 1000000u ? target_us(r) : 1000000u)
                            : RETENTION_HOURS_INTERVAL_US;
    uint64_t next_pass = cg_now_us(); /* a first pass right after startup */
    pthread_mutex_lock(&r->mu);
    for (;;) {
        if (reap_locked(r)) {
            next_pass = 0; /* drop it at once if it ended without a segment */
            continue;
        }
        if (r->quit)
            break;
        uint64_t now = cg_now_us();
        if (now >= next_pass) {
            pthread_mutex_unlock(&r->mu);
            cg_recorder_retention_pass(r, cg_wall_us());
            pthread_mutex_lock(&r->mu);
            next_pass = cg_now_us() + interval;
            continue;
        }
        uint64_t wait = next_pass - now;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += (time_t)(wait / 1000000u);
        ts.tv_nsec += (long)(wait % 1000000u) * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&r->wake, &r->mu, &ts);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* ---- startup ---- */

typedef struct scan_ctx {
    names found; /* broadcast directories with an index */
} scan_ctx;

static int scan_one(void *arg, const char *name, const cg_storage_stat *st)
{
    scan_ctx *c = arg;
    /* recordings/<id>/index.jsonl, nothing deeper */
    const char *id = name + sizeof(CG_RECORDER_PREFIX);
    const char *slash = strchr(id, '/');
    if (!slash || strcmp(slash + 1, CG_TL_INDEX_NAME) != 0)
        return 0;
    size_t n = (size_t)(slash - id);
    char dir[CG_RECORDER_DIR_MAX];
    if (n == 0 || n > CG_TL_ID_MAX)
        return 0;
    snprintf(dir, sizeof(dir), "%s/%.*s", CG_RECORDER_PREFIX, (int)n, id);
    return collect_name(&c->found, dir, NULL);
}

static void recover_all(cg_recorder *r)
{
    scan_ctx c = {{0}};
    int rc = cg_storage_list(r->st, CG_RECORDER_PREFIX, scan_one, &c);
    if (rc && rc != CG_ENOTFOUND)
        cg_warn("recorder", "cannot list recordings: %s", cg_strerror(rc));
    size_t ok = 0, repaired = 0;
    for (size_t i = 0; i < c.found.n; i++) {
        const char *dir = c.found.v[i];
        const char *id = dir + sizeof(CG_RECORDER_PREFIX);
        char stream[CG_STREAM_NAME_MAX + 1];
        if (!cg_tl_id_valid(id) || cg_recorder_id_stream(id, stream, sizeof(stream)) != 0)
            continue;
        cg_timeline *tl = NULL;
        cg_index_recovery rep;
        rc = cg_index_recover(r->st, dir, &tl, &rep);
        if (rc) {
            cg_warn(stream, "broadcast %s not loaded: its index cannot be recovered (%s)", id,
                    cg_strerror(rc));
            continue;
        }
        cg_tl_info info;
        cg_timeline_info(tl, &info);
        if (strcmp(info.id, id) != 0) {
            cg_warn(stream, "broadcast %s not loaded: its index names broadcast %s", id, info.id);
            cg_timeline_unref(tl);
            continue;
        }
        if (rep.ended_now || rep.rewritten || rep.partial_removed || rep.orphans_removed) {
            repaired++;
            cg_info(stream,
                    "broadcast %s recovered after an unclean stop: %zu segments kept, %zu "
                    "missing, %zu torn lines, %zu unfinished and %zu unindexed files removed",
                    id, rep.load.segments - rep.missing, rep.missing,
                    rep.load.bad_lines + (size_t)rep.load.torn_tail, rep.partial_removed,
                    rep.orphans_removed);
        }
        bcast *b = bcast_alloc(r, id, stream);
        if (!b) {
            cg_timeline_unref(tl);
            continue;
        }
        b->tl = tl;
        b->created_wall = info.start_wall_us;
        b->live_deleted = 0;
        /* One listing per broadcast; a failure only hides thumbnails from
         * the API (the files are still served). */
        cg_storage_list(r->st, b->dir, scan_thumb, b);
        b->next = r->head;
        r->head = b;
        ok++;
    }
    names_free(&c.found);
    if (ok)
        cg_info("recorder", "%zu recordings loaded (%zu repaired)", ok, repaired);
}

int cg_recorder_new(cg_recorder **out, cg_storage *st, const cg_config *cfg, cg_loop *loop)
{
    if (!out || !st || !cfg || !loop)
        return CG_EINVAL;
    pthread_once(&metrics_once, metrics_register);
    cg_recorder *r = calloc(1, sizeof(*r));
    if (!r)
        return CG_ENOMEM;
    r->st = st;
    r->cfg = cfg;
    r->loop = loop;
    pthread_mutex_init(&r->mu, NULL);
    pthread_mutex_init(&r->pass_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->wake, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&r->reaped, NULL);
    recover_all(r);
    cg_thumbs_cfg tc = {.on_done = on_thumb_done, .done_arg = r};
    int rc = cg_thumbs_new(&r->thumbs, st, &tc);
    if (rc) {
        cg_recorder_free(r);
        return rc;
    }
    if (pthread_create(&r->janitor, NULL, janitor_main, r) != 0) {
        cg_recorder_free(r);
        return CG_EIO;
    }
    r->janitor_started = 1;
    *out = r;
    return 0;
}

static void noop(void *arg) {}

void cg_recorder_shutdown(cg_recorder *r)
{
    if (!r || r->shut_down)
        return;
    r->shut_down = 1;
    if (cg_loop_call(r->loop, stop_on_loop, r) != 0) {
        /* Only when the loop is already gone: nothing runs there now. */
        cg_warn("recorder", "media loop unavailable at shutdown: finishing broadcasts here");
        stop_on_loop(r);
    }
    pthread_mutex_lock(&r->mu);
    if (r->janitor_started) {
        while (has_packagers_locked(r))
            pthread_cond_wait(&r->reaped, &r->mu);
    }
    r->quit = 1;
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->mu);
    if (r->janitor_started) {
        pthread_join(r->janitor, NULL);
        r->janitor_started = 0;
    }
    /* Every packager is gone, so nothing submits any more: make the
     * thumbnails of the last segments, then stop. */
    cg_thumbs_stop(r->thumbs);
    /* No packager is left to ask for keyframes; posts run in order, so
     * once this one has run no request still points at a broadcast. */
    cg_loop_call(r->loop, noop, NULL);
}

void cg_recorder_free(cg_recorder *r)
{
    if (!r)
        return;
    cg_recorder_shutdown(r);
    while (r->head) {
        bcast *b = r->head;
        r->head = b->next;
        cg_packager_free(b->pk); /* NULL unless shutdown could not wait */
        bcast_free(b);
    }
    cg_thumbs_free(r->thumbs);
    pthread_mutex_destroy(&r->mu);
    pthread_mutex_destroy(&r->pass_mu);
    pthread_cond_destroy(&r->wake);
    pthread_cond_destroy(&r->reaped);
    free(r);
}

cg_storage *cg_recorder_storage(cg_recorder *r)
{
    return r->st;
}

/* ---- lookups ---- */

/* mu held. */
static void fill_info(bcast *b, cg_recorder_info *out)
{
    memset(out, 0, sizeof(*out));
    memcpy(out->id, b->id, sizeof(out->id));
    memcpy(out->stream, b->stream, sizeof(out->stream));
    memcpy(out->dir, b->dir, sizeof(out->dir));
    out->tl = cg_timeline_ref(b->tl);
    out->live = tl_live(b->tl);
    out->publishing = b->publishing;
    out->running = b->pk != NULL;
    if (b->pk) {
        cg_packager_get_stats(b->pk, &out->stats);
        out->has_stats = 1;
    } else if (b->has_stats) {
        out->stats = b->final;
        out->has_stats = 1;
    }
}

void cg_recorder_info_clear(cg_recorder_info *info)
{
    if (!info)
        return;
    info->tl = cg_timeline_unref(info->tl);
}

int cg_recorder_find(cg_recorder *r, const char *id, cg_recorder_info *out)
{
    if (!r || !id || !out || !cg_tl_id_valid(id))
        return CG_EINVAL;
    pthread_mutex_lock(&r->mu);
    bcast *b = find_id_locked(r, id);
    if (b)
        fill_info(b, out);
    pthread_mutex_unlock(&r->mu);
    return b ? 0 : CG_ENOTFOUND;
}

static int find_stream(cg_recorder *r, const char *stream, int live_only, cg_recorder_info *out)
{
    if (!r || !stream || !out || !cg_stream_name_valid(stream))
        return CG_EINVAL;
    pthread_mutex_lock(&r->mu);
    bcast *best = NULL;
    for (bcast *b = r->head; b; b = b->next) {
        if (strcmp(b->stream, stream) != 0 || (live_only && !tl_live(b->tl)))
            continue;
        if (!best || b->created_wall > best->created_wall)
            best = b;
    }
    if (best)
        fill_info(best, out);
    pthread_mutex_unlock(&r->mu);
    return best ? 0 : CG_ENOTFOUND;
}

int cg_recorder_find_live(cg_recorder *r, const char *stream, cg_recorder_info *out)
{
    return find_stream(r, stream, 1, out);
}

int cg_recorder_find_latest(cg_recorder *r, const char *stream, cg_recorder_info *out)
{
    return find_stream(r, stream, 0, out);
}

static int newest_first(const void *a, const void *b)
{
    const cg_recorder_info *x = a, *y = b;
    cg_tl_info ix, iy;
    cg_timeline_info(x->tl, &ix);
    cg_timeline_info(y->tl, &iy);
    if (ix.start_wall_us != iy.start_wall_us)
        return ix.start_wall_us > iy.start_wall_us ? -1 : 1;
    return strcmp(y->id, x->id);
}

int cg_recorder_list(cg_recorder *r, cg_recorder_info **out, size_t *n)
{
    pthread_mutex_lock(&r->mu);
    size_t count = 0;
    for (bcast *b = r->head; b; b = b->next)
        count++;
    cg_recorder_info *v = calloc(count ? count : 1, sizeof(*v));
    if (!v) {
        pthread_mutex_unlock(&r->mu);
        return CG_ENOMEM;
    }
    size_t i = 0;
    for (bcast *b = r->head; b; b = b->next)
        fill_info(b, &v[i++]);
    pthread_mutex_unlock(&r->mu);
    qsort(v, count, sizeof(*v), newest_first);
    *out = v;
    *n = count;
    return 0;
}

void cg_recorder_list_free(cg_recorder_info *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        cg_recorder_info_clear(&list[i]);
    free(list);
}
