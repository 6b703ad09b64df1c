/* Packager: queue, worker thread, publishing (see packager.h).
 *
 * Ordering of a segment's publication, which is what crash recovery relies
 * on: index header (once) -> init segment of its period (once) -> segment
 * file (tmp + rename) -> index line (fsync) -> in-memory timeline -> event.
 * A crash between two steps leaves at worst a file the index does not
 * name, which recovery deletes. */
#include "packager/packager.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/queue.h"
#include "packager/index.h"

/* Queue items that are not frames. Static addresses cannot collide with a
 * frame's. */
static const char marker_gap;
static const char marker_disc;

struct cg_packager {
    char id[CG_TL_ID_MAX + 1];
    char dir[CG_STORAGE_NAME_MAX + 1];
    cg_storage *st;
    cg_packager_cfg cfg;
    cg_queue *q;
    pthread_t thread;
    int thread_started;
    cg_segmenter *seg;
    cg_timeline *tl;

    /* producer side (media loop) */
    int finish_requested;
    int need_gap_marker;
    int need_disc_marker;

    /* worker side */
    int header_written;
    int index_refused; /* an index already existed: this id is taken */
    uint32_t init_period;
    uint8_t *init;
    size_t init_len;
    int init_stored;
    int failing; /* written by the worker, read by stats */
    int force_disc;
    uint64_t end_wall;

    /* shared counters (atomics) */
    uint64_t frames_in, dropped_full, segments, bytes, write_errors, lost;
    int degraded, ended;
    pthread_mutex_t stats_mu;
    cg_segmenter_stats seg_stats;
};

void cg_packager_cfg_default(cg_packager_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->video = 1;
    cfg->audio = 1;
    cfg->audio_out = CG_AUDIO_OUT_AAC;
    cfg->aac_bitrate = 128000;
    cfg->target_ms = 2000;
    cfg->max_segment_ms = 30000;
    cfg->queue_len = 512;
}

static void add(uint64_t *v, uint64_t n)
{
    __atomic_add_fetch(v, n, __ATOMIC_RELAXED);
}

static uint64_t get(const uint64_t *v)
{
    return __atomic_load_n(v, __ATOMIC_RELAXED);
}

static void emit(cg_packager *p, cg_packager_event *ev)
{
    ev->broadcast_id = p->id;
    if (p->cfg.on_event)
        p->cfg.on_event(p->cfg.event_arg, ev);
}

/* ---- worker side: segmenter callbacks ---- */

static void on_init(void *arg, uint32_t period, const uint8_t *data, size_t len)
{
    cg_packager *p = arg;
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) {
        free(p->init);
        p->init = NULL;
        p->init_len = 0;
        return; /* its segments will fail to publish and be counted */
    }
    memcpy(copy, data, len);
    free(p->init);
    p->init = copy;
    p->init_len = len;
    p->init_period = period;
    p->init_stored = 0;
}

static void on_need_keyframe(void *arg, int64_t overdue)
{
    cg_packager *p = arg;
    cg_packager_event ev = {.type = CG_PACKAGER_EV_NEED_KEYFRAME,
                            .overdue = overdue,
                            .timescale = cg_segmenter_timescale(p->seg)};
    emit(p, &ev);
}

static int obj_name(cg_packager *p, const char *leaf, char *out, size_t cap)
{
    return cg_index_name(p->dir, leaf, out, cap);
}

/* Steps 1-4 of a publication; returns the first failure. */
static int store_segment(cg_packager *p, const cg_tl_segment *tseg, const cg_segment_out *seg)
{
    char leaf[32], name[CG_STORAGE_NAME_MAX + 1];
    int rc;
    if (p->index_refused)
        return CG_EEXIST;
    if (!p->header_written) {
        cg_tl_info info;
        cg_timeline_info(p->tl, &info);
        rc = cg_index_create(p->st, p->dir, &info);
        if (rc == CG_EEXIST)
            p->index_refused = 1;
        if (rc)
            return rc;
        p->header_written = 1;
    }
    if (!p->init || p->init_period != seg->period)
        return CG_ENOMEM; /* the init segment could not even be kept */
    if (!p->init_stored) {
        cg_tl_init_name(seg->period, leaf, sizeof(leaf));
        rc = obj_name(p, leaf, name, sizeof(name));
        if (!rc)
            rc = cg_storage_put(p->st, name, p->init, p->init_len, CG_STORAGE_NOREPLACE);
        if (rc && rc != CG_EEXIST)
            return rc;
        p->init_stored = 1;
        add(&p->bytes, p->init_len);
    }
    cg_tl_segment_name(tseg->seq, leaf, sizeof(leaf));
    rc = obj_name(p, leaf, name, sizeof(name));
    if (!rc)
        rc = cg_storage_put(p->st, name, seg->data, seg->len, CG_STORAGE_NOREPLACE);
    if (rc == CG_EEXIST) {
        /* Left by an earlier try whose index line failed and whose
         * cleanup failed too: the index decides, so replace it. */
        rc = cg_storage_put(p->st, name, seg->data, seg->len, 0);
    }
    if (rc)
        return rc;
    rc = cg_index_append_segment(p->st, p->dir, tseg, cg_segmenter_timescale(p->seg));
    if (rc)
        cg_storage_del(p->st, name); /* unnamed by the index: not published */
    return rc;
}

static void on_segment(void *arg, const cg_segment_out *seg)
{
    cg_packager *p = arg;
    uint32_t ts = cg_segmenter_timescale(p->seg);
    cg_tl_info info;
    cg_timeline_info(p->tl, &info);
    if (!info.start_wall_us) {
        /* The broadcast's clock starts with its first segment's keyframe. */
        cg_timeline_set_start(p->tl, p->cfg.start_wall_us ? p->cfg.start_wall_us : seg->wall_us);
    }
    cg_tl_segment tseg = {
        .seq = cg_timeline_count(p->tl),
        .period = seg->period,
        .flags = (seg->discontinuity || p->force_disc) ? CG_TL_DISCONTINUITY : 0,
        .start = seg->start,
        .duration = seg->duration,
        .wall_us = seg->wall_us,
        .bytes = seg->len,
        .nkeys = seg->nkeys,
        .keys = seg->keys,
    };
    p->end_wall = seg->wall_us + (uint64_t)seg->duration * 1000000u / ts;
    int rc = store_segment(p, &tseg, seg);
    if (!rc)
        rc = cg_timeline_append(p->tl, &tseg);
    if (rc) {
        add(&p->write_errors, 1);
        add(&p->lost, 1);
        __atomic_store_n(&p->degraded, 1, __ATOMIC_RELAXED);
        cg_timeline_add_lost(p->tl, 1);
        if (!p->failing)
            cg_warn(p->id, "segment at %.3f s not stored (%s): broadcast degraded",
                    (double)seg->start / ts, cg_strerror(rc));
        __atomic_store_n(&p->failing, 1, __ATOMIC_RELAXED);
        p->force_disc = 1; /* the timeline has a hole before the next one */
        cg_packager_event ev = {.type = CG_PACKAGER_EV_WRITE_FAILED,
                                .err = rc,
                                .start = seg->start,
                                .duration = seg->duration,
                                .timescale = ts};
        emit(p, &ev);
        return;
    }
    p->force_disc = 0;
    add(&p->segments, 1);
    add(&p->bytes, seg->len);
    if (p->failing) {
        __atomic_store_n(&p->failing, 0, __ATOMIC_RELAXED);
        cg_info(p->id, "segments are stored again from seq %llu", (unsigned long long)tseg.seq);
        cg_packager_event ev = {.type = CG_PACKAGER_EV_RECOVERED, .seq = tseg.seq, .timescale = ts};
        emit(p, &ev);
    }
    cg_packager_event ev = {.type = CG_PACKAGER_EV_SEGMENT,
                            .seq = tseg.seq,
                            .period = tseg.period,
                            .start = seg->start,
                            .duration = seg->duration,
                            .timescale = ts,
                            .bytes = seg->len,
                            .wall_us = seg->wall_us};
    emit(p, &ev);
}

static void publish_stats(cg_packager *p)
{
    pthread_mutex_lock(&p->stats_mu);
    cg_segmenter_get_stats(p->seg, &p->seg_stats);
    pthread_mutex_unlock(&p->stats_mu);
}

static void *worker(void *arg)
{
    cg_packager *p = arg;
    for (;;) {
        void *item;
        int rc = cg_queue_pop(p->q, &item, UINT64_MAX);
        if (rc == CG_ESTATE)
            break; /* closed and drained: the broadcast is over */
        if (rc)
            continue;
        if (item == &marker_gap) {
            cg_segmenter_gap(p->seg);
        } else if (item == &marker_disc) {
            cg_segmenter_discontinuity(p->seg);
        } else {
            cg_frame *f = item;
            if (cg_segmenter_push(p->seg, f) == CG_ENOMEM)
                cg_warn(p->id, "out of memory packaging a frame");
            cg_frame_unref(f);
        }
        publish_stats(p);
    }
    cg_segmenter_finish(p->seg);
    publish_stats(p);
    cg_tl_info info;
    cg_timeline_info(p->tl, &info);
    uint64_t end = p->end_wall ? p->end_wall : info.start_wall_us;
    if (p->header_written) {
        int rc = cg_index_append_end(p->st, p->dir, end);
        if (rc) {
            /* Recovery adds it at the next start; the segments are safe. */
            add(&p->write_errors, 1);
            cg_warn(p->id, "end of broadcast not written to the index (%s)", cg_strerror(rc));
        }
    }
    cg_timeline_set_ended(p->tl, end);
    __atomic_store_n(&p->ended, 1, __ATOMIC_RELEASE);
    cg_packager_event ev = {.type = CG_PACKAGER_EV_ENDED, .timescale = info.timescale};
    emit(p, &ev);
    return NULL;
}

/* ---- public ---- */

static void release(cg_packager *p)
{
    if (p->q) {
        void *item;
        while (cg_queue_pop(p->q, &item, 0) == 0)
            if (item != &marker_gap && item != &marker_disc)
                cg_frame_unref(item);
        cg_queue_free(p->q);
    }
    cg_segmenter_free(p->seg);
    cg_timeline_unref(p->tl);
    free(p->init);
    pthread_mutex_destroy(&p->stats_mu);
    free(p);
}

int cg_packager_new(cg_packager **out, cg_storage *st, const char *broadcast_id,
                    const cg_packager_cfg *cfg)
{
    if (!out || !st || !cfg || !cg_tl_id_valid(broadcast_id) || (!cfg->video && !cfg->audio))
        return CG_EINVAL;
    const char *dir = cfg->dir ? cfg->dir : broadcast_id;
    if (!cg_storage_name_valid(dir) || strlen(dir) > CG_STORAGE_NAME_MAX - 32)
        return CG_EINVAL;
    cg_packager *p = calloc(1, sizeof(*p));
    if (!p)
        return CG_ENOMEM;
    pthread_mutex_init(&p->stats_mu, NULL);
    memcpy(p->id, broadcast_id, strlen(broadcast_id) + 1);
    memcpy(p->dir, dir, strlen(dir) + 1);
    p->st = st;
    p->cfg = *cfg;
    p->cfg.dir = NULL; /* copied into p->dir */
    cg_packager_cfg def;
    cg_packager_cfg_default(&def);
    if (!p->cfg.queue_len)
        p->cfg.queue_len = def.queue_len;

    cg_segmenter_cfg sc = {
        .video = cfg->video,
        .audio = cfg->audio,
        .audio_out = cfg->audio_out,
        .aac_bitrate = cfg->aac_bitrate,
        .target_ms = cfg->target_ms,
        .max_segment_ms = cfg->max_segment_ms,
    };
    cg_segmenter_cb cb = {.on_init = on_init,
                          .on_segment = on_segment,
                          .on_need_keyframe = on_need_keyframe,
                          .arg = p};
    int rc = cg_segmenter_new(&p->seg, &sc, &cb);
    if (!rc)
        rc = cg_timeline_new(&p->tl, broadcast_id, cg_segmenter_timescale(p->seg));
    if (!rc)
        rc = cg_queue_new(&p->q, p->cfg.queue_len);
    if (rc)
        goto fail;
    if (cfg->start_wall_us)
        cg_timeline_set_start(p->tl, cfg->start_wall_us);
    if (pthread_create(&p->thread, NULL, worker, p) != 0) {
        rc = CG_EIO;
        goto fail;
    }
    p->thread_started = 1;
    *out = p;
    return 0;
fail:
    release(p);
    return rc;
}

/* Queues a marker that must stay in order with the frames. */
static int push_marker(cg_packager *p, const char *marker, int *pending)
{
    if (!*pending)
        return 0;
    int rc = cg_queue_push(p->q, (void *)marker, CG_QUEUE_DROP_NEWEST, NULL);
    if (rc == 0)
        *pending = 0;
    return rc;
}

int cg_packager_push(cg_packager *p, cg_frame *f)
{
    if (!p || !f)
        return CG_EINVAL;
    if (p->finish_requested)
        return CG_ESTATE;
    /* A marker that did not fit earlier goes first; if it still does not
     * fit, neither would the frame. */
    int rc = push_marker(p, &marker_disc, &p->need_disc_marker);
    if (!rc)
        rc = push_marker(p, &marker_gap, &p->need_gap_marker);
    if (!rc) {
        cg_frame_ref(f);
        rc = cg_queue_push(p->q, f, CG_QUEUE_DROP_NEWEST, NULL);
        if (rc)
            cg_frame_unref(f);
    }
    if (rc) {
        add(&p->dropped_full, 1);
        if (f->kind == CG_MEDIA_VIDEO)
            p->need_gap_marker = 1;
        return rc == CG_EFULL ? CG_EFULL : rc;
    }
    add(&p->frames_in, 1);
    return 0;
}

int cg_packager_discontinuity(cg_packager *p)
{
    if (!p || p->finish_requested)
        return CG_ESTATE;
    p->need_disc_marker = 1;
    push_marker(p, &marker_disc, &p->need_disc_marker);
    return 0;
}

int cg_packager_finish(cg_packager *p)
{
    if (!p || p->finish_requested)
        return CG_ESTATE;
    p->finish_requested = 1;
    /* A marker still waiting for room would be lost by closing: the
     * segmenter closes its last period at the end anyway. */
    cg_queue_close(p->q);
    return 0;
}

void cg_packager_free(cg_packager *p)
{
    if (!p)
        return;
    if (!p->finish_requested)
        cg_packager_finish(p);
    if (p->thread_started)
        pthread_join(p->thread, NULL);
    release(p);
}

cg_timeline *cg_packager_timeline(cg_packager *p)
{
    return p->tl;
}

void cg_packager_get_stats(cg_packager *p, cg_packager_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->frames_in = get(&p->frames_in);
    st->frames_dropped_full = get(&p->dropped_full);
    st->queue_len = cg_queue_len(p->q);
    st->queue_cap = p->cfg.queue_len;
    st->segments = get(&p->segments);
    st->bytes = get(&p->bytes);
    st->write_errors = get(&p->write_errors);
    st->segments_lost = get(&p->lost);
    st->degraded = __atomic_load_n(&p->degraded, __ATOMIC_RELAXED);
    st->failing = __atomic_load_n(&p->failing, __ATOMIC_RELAXED);
    st->ended = __atomic_load_n(&p->ended, __ATOMIC_ACQUIRE);
    pthread_mutex_lock(&p->stats_mu);
    st->seg = p->seg_stats;
    pthread_mutex_unlock(&p->stats_mu);
}
