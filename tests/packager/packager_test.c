/* The packager end to end on real media and the filesystem store: the
 * recording playlist decodes as a whole with ffmpeg, a full disk degrades
 * the broadcast without harming earlier segments, a kill -9 mid-broadcast
 * recovers to a playable VOD, and a full queue drops newest frames without
 * breaking decoding. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "core/err.h"
#include "packager/index.h"
#include "packager/packager.h"
#include "packager/playlist.h"
#include "storage/backend.h"
#include "storage/fs.h"
#include "media_util.h"
#include "cg_test.h"

/* The tests feed faster than real time: a queue that holds a whole file
 * keeps drops out of the tests that are not about them. */
#define BIG_QUEUE 4096

static char base[256];
static char media_g1[512];      /* 1 s GOP, 6 s */
static char media_g1_long[512]; /* 1 s GOP, 8 s */

typedef struct events {
    pthread_mutex_t mu;
    int segments, need_key, failed, recovered, ended;
    int last_err;
    cg_storage *fault_store; /* set: fail the segment after seq 0 once */
    int fail_armed;
    int block_first; /* hold the worker at the first segment */
    int blocked;
    int released;
} events;

static void on_event(void *arg, const cg_packager_event *ev)
{
    events *e = arg;
    pthread_mutex_lock(&e->mu);
    CHECK_STR(ev->broadcast_id, "b1");
    switch (ev->type) {
    case CG_PACKAGER_EV_SEGMENT:
        e->segments++;
        if (e->fault_store && ev->seq == 0 && !e->fail_armed) {
            e->fail_armed = 1;
            cg_storage_fs_set_fault(e->fault_store, 0, ENOSPC); /* the disk is full now */
        }
        break;
    case CG_PACKAGER_EV_NEED_KEYFRAME:
        e->need_key++;
        break;
    case CG_PACKAGER_EV_WRITE_FAILED:
        e->failed++;
        e->last_err = ev->err;
        if (e->fault_store)
            cg_storage_fs_set_fault(e->fault_store, -1, 0); /* space freed */
        break;
    case CG_PACKAGER_EV_RECOVERED:
        e->recovered++;
        break;
    case CG_PACKAGER_EV_ENDED:
        e->ended++;
        break;
    }
    int block = e->block_first && ev->type == CG_PACKAGER_EV_SEGMENT;
    pthread_mutex_unlock(&e->mu);
    if (block)
        __atomic_store_n(&e->blocked, 1, __ATOMIC_RELEASE);
    while (block && !__atomic_load_n(&e->released, __ATOMIC_ACQUIRE)) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
}

static cg_storage *new_store(const char *name, char *root, size_t cap)
{
    snprintf(root, cap, "%s/%s", base, name);
    cg_storage *st = NULL;
    CHECK_INT(cg_storage_fs_new(&st, root), 0);
    return st;
}

typedef struct feeder {
    cg_packager *p;
    int pushed, full;
    events *ev;
    int sleep_us;
} feeder;

static void feed(void *arg, cg_frame *f)
{
    feeder *fd = arg;
    int blocked = fd->ev && __atomic_load_n(&fd->ev->blocked, __ATOMIC_ACQUIRE) &&
                  !__atomic_load_n(&fd->ev->released, __ATOMIC_ACQUIRE);
    /* In the overflow test, drops must happen only while the worker is
     * held: otherwise wait for room, however slow the machine is. */
    for (int i = 0; fd->ev && !blocked && i < 10000; i++) {
        blocked = __atomic_load_n(&fd->ev->blocked, __ATOMIC_ACQUIRE) &&
                  !__atomic_load_n(&fd->ev->released, __ATOMIC_ACQUIRE);
        if (blocked)
            break;
        cg_packager_stats st;
        cg_packager_get_stats(fd->p, &st);
        if (st.queue_len < st.queue_cap)
            break;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    int rc = cg_packager_push(fd->p, f);
    if (rc == CG_EFULL) {
        fd->full++;
        /* Enough overflow: let the worker go on. */
        if (fd->ev && fd->full == 30)
            __atomic_store_n(&fd->ev->released, 1, __ATOMIC_RELEASE);
    } else {
        CHECK_INT(rc, 0);
        fd->pushed++;
    }
    /* In the overflow test, feed at a pace the worker keeps except while
     * it is held, so the drops happen exactly there. */
    int sleep_us = fd->sleep_us;
    if (fd->ev && !blocked)
        sleep_us = 3000;
    if (sleep_us) {
        struct timespec ts = {0, sleep_us * 1000L};
        nanosleep(&ts, NULL);
    }
}

/* Writes the recording playlist of tl into the store beside the segments
 * and returns its path on disk. */
static void write_playlist(cg_storage *st, const char *root, const char *dir, cg_timeline *tl,
                           char *path, size_t cap, cg_dbuf *text)
{
    cg_tl_snap *snap = NULL;
    CHECK_INT(cg_timeline_snapshot(tl, &snap), 0);
    cg_playlist_cfg cfg;
    cg_playlist_cfg_default(&cfg);
    cg_dbuf_init(text, 1 << 20);
    CHECK_INT(cg_playlist_recording(snap, &cfg, text), 0);
    char name[256];
    snprintf(name, sizeof(name), "%s/index.m3u8", dir);
    CHECK_INT(cg_storage_put(st, name, text->p, text->len, 0), 0);
    snprintf(path, cap, "%s/%s", root, name);
    cg_tl_snap_free(snap);
}

/* Every indexed segment decodes with its init segment and lasts, for
 * ffprobe, what the index says within one frame. */
static void check_index_against_ffprobe(const char *root, const char *dir, cg_storage *st)
{
    cg_timeline *tl = NULL;
    CHECK_INT(cg_index_load(st, dir, &tl, NULL), 0);
    if (!tl)
        return;
    cg_tl_snap *snap = NULL;
    CHECK_INT(cg_timeline_snapshot(tl, &snap), 0);
    for (size_t i = 0; i < cg_tl_snap_count(snap); i++) {
        const cg_tl_segment *s = cg_tl_snap_seg(snap, i);
        char init[600], seg[600], both[600], out[8192], leaf[32];
        cg_tl_init_name(s->period, leaf, sizeof(leaf));
        snprintf(init, sizeof(init), "%s/%s/%s", root, dir, leaf);
        cg_tl_segment_name(s->seq, leaf, sizeof(leaf));
        snprintf(seg, sizeof(seg), "%s/%s/%s", root, dir, leaf);
        snprintf(both, sizeof(both), "%s/check.mp4", base);
        CHECK_INT(mu_concat(init, seg, both), 0);
        int rc = mu_decode(both, out, sizeof(out));
        CHECK_INT(rc, 0);
        CHECK_STR(out, "");
        /* The first decoded picture is a keyframe. */
        static char probe[1 << 17];
        CHECK_INT(mu_probe(both, probe, sizeof(probe)), 0);
        int first_key;
        CHECK(mu_frames(probe, 'v', &first_key) > 0);
        CHECK_INT(first_key, 1);
        double secs = mu_video_span(both);
        double want = (double)s->duration / 90000.0;
        if (fabs(secs - want) > 1.0 / 30 + 1e-6)
            fprintf(stderr, "seg %zu: ffprobe %.3f s, index %.3f s\n", i, secs, want);
        CHECK(fabs(secs - want) <= 1.0 / 30 + 1e-6);
        struct stat sb;
        CHECK_INT(stat(seg, &sb), 0);
        CHECK_INT(sb.st_size, s->bytes);
        unlink(both);
    }
    cg_tl_snap_free(snap);
    cg_timeline_unref(tl);
}

/* Decodes a playlist whole; returns seconds of video (frames / 30). */
static double decode_playlist(const char *path, const char *acodec)
{
    char out[8192];
    int rc = mu_decode(path, out, sizeof(out));
    if (rc != 0 || out[0])
        fprintf(stderr, "playlist decode (%d): %s\n", rc, out);
    CHECK_INT(rc, 0);
    CHECK_STR(out, "");
    static char probe[1 << 18];
    CHECK_INT(mu_probe(path, probe, sizeof(probe)), 0);
    int first_key;
    double frames = mu_frames(probe, 'v', &first_key);
    CHECK_INT(first_key, 1);
    mu_stream(probe, 'v', out, sizeof(out));
    double vstart = mu_field(out, "start_time");
    mu_stream(probe, 'a', out, sizeof(out));
    char codec[32];
    mu_field_str(out, "codec_name", codec, sizeof(codec));
    CHECK_STR(codec, acodec);
    double astart = mu_field(out, "start_time");
    if (!(fabs(astart - vstart) <= 0.040))
        fprintf(stderr, "audio starts %.4f, video %.4f\n", astart, vstart);
    CHECK(fabs(astart - vstart) <= 0.040);
    return frames / 30.0;
}

static cg_packager *start(cg_storage *st, events *ev, const char *dir, size_t queue_len)
{
    cg_packager_cfg cfg;
    cg_packager_cfg_default(&cfg);
    cfg.dir = dir;
    cfg.on_event = on_event;
    cfg.event_arg = ev;
    if (queue_len)
        cfg.queue_len = queue_len;
    cg_packager *p = NULL;
    CHECK_INT(cg_packager_new(&p, st, "b1", &cfg), 0);
    return p;
}

static void wait_segments(cg_packager *p, size_t n)
{
    for (int i = 0; i < 3000 && cg_timeline_count(cg_packager_timeline(p)) < n; i++) {
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
}

static void test_recording_decodes(void)
{
    char root[400];
    cg_storage *st = new_store("rec", root, sizeof(root));
    events ev = {.mu = PTHREAD_MUTEX_INITIALIZER};
    cg_packager *p = start(st, &ev, "recordings/b1", BIG_QUEUE);
    feeder fd = {.p = p};
    CHECK(mu_feed(media_g1, feed, &fd) > 0);

    /* While live: an EVENT playlist without ENDLIST. */
    wait_segments(p, 2);
    cg_tl_snap *snap = NULL;
    CHECK_INT(cg_timeline_snapshot(cg_packager_timeline(p), &snap), 0);
    cg_playlist_cfg pc;
    cg_playlist_cfg_default(&pc);
    cg_dbuf d;
    cg_dbuf_init(&d, 1 << 16);
    CHECK_INT(cg_playlist_recording(snap, &pc, &d), 0);
    CHECK(strstr(cg_dbuf_str(&d), "#EXT-X-PLAYLIST-TYPE:EVENT\n") != NULL);
    CHECK(strstr(cg_dbuf_str(&d), "ENDLIST") == NULL);
    cg_dbuf_free(&d);
    cg_tl_snap_free(snap);

    CHECK_INT(cg_packager_finish(p), 0);
    CHECK_INT(cg_packager_finish(p), CG_ESTATE);
    cg_timeline *tl = cg_timeline_ref(cg_packager_timeline(p));
    cg_packager_free(p);
    CHECK_INT(cg_packager_push(NULL, NULL), CG_EINVAL);

    CHECK_INT(ev.segments, 3);
    CHECK_INT(ev.ended, 1);
    CHECK_INT(ev.failed, 0);
    CHECK_INT(ev.need_key, 0);
    cg_tl_info info;
    cg_timeline_info(tl, &info);
    CHECK_INT(info.state, CG_TL_ENDED);
    CHECK_INT(info.degraded, 0);
    CHECK_INT(cg_timeline_count(tl), 3);
    /* Broadcast start = first keyframe's capture time; end = last
     * segment's end. */
    CHECK_INT(info.start_wall_us, MU_WALL_BASE + 6500);
    CHECK_INT(info.end_wall_us, MU_WALL_BASE + 6500 + 6000000);

    char path[600];
    write_playlist(st, root, "recordings/b1", tl, path, sizeof(path), &d);
    CHECK(strstr(cg_dbuf_str(&d), "#EXT-X-PLAYLIST-TYPE:VOD\n") != NULL);
    CHECK(strstr(cg_dbuf_str(&d), "#EXT-X-ENDLIST\n") != NULL);
    cg_dbuf_free(&d);
    /* The whole recording: zero decode errors, 6 s like the input. */
    double secs = decode_playlist(path, "aac");
    CHECK(fabs(secs - 6.0) <= 1.0 / 30 + 1e-6);
    check_index_against_ffprobe(root, "recordings/b1", st);

    /* The index on disk rebuilds the same timeline. */
    cg_timeline *back = NULL;
    CHECK_INT(cg_index_load(st, "recordings/b1", &back, NULL), 0);
    cg_tl_snap *a = NULL, *b = NULL;
    CHECK_INT(cg_timeline_snapshot(tl, &a), 0);
    CHECK_INT(cg_timeline_snapshot(back, &b), 0);
    CHECK_INT(cg_tl_snap_count(b), cg_tl_snap_count(a));
    for (size_t i = 0; i < cg_tl_snap_count(a) && i < cg_tl_snap_count(b); i++) {
        const cg_tl_segment *x = cg_tl_snap_seg(a, i), *y = cg_tl_snap_seg(b, i);
        CHECK_INT(y->start, x->start);
        CHECK_INT(y->duration, x->duration);
        CHECK_INT(y->bytes, x->bytes);
        CHECK_INT(y->wall_us, x->wall_us);
        CHECK_INT(y->nkeys, x->nkeys);
    }
    CHECK_INT(cg_tl_snap_info(b)->state, CG_TL_ENDED);
    cg_tl_snap_free(a);
    cg_tl_snap_free(b);
    cg_timeline_unref(back);
    cg_timeline_unref(tl);
    cg_storage_free(st);
}

static void test_full_disk_degrades(void)
{
    char root[400];
    cg_storage *st = new_store("full", root, sizeof(root));
    events ev = {.mu = PTHREAD_MUTEX_INITIALIZER, .fault_store = st};
    cg_packager *p = start(st, &ev, "b1", BIG_QUEUE);
    feeder fd = {.p = p};
    CHECK(mu_feed(media_g1_long, feed, &fd) > 0);
    cg_packager_finish(p);
    cg_timeline *tl = cg_timeline_ref(cg_packager_timeline(p));
    cg_packager_free(p);
    cg_packager_stats s;
    (void)s;

    /* 4 segments cut, the second one hit the full disk. */
    CHECK_INT(ev.failed, 1);
    CHECK_INT(ev.last_err, CG_ENOSPC);
    CHECK_INT(ev.recovered, 1);
    CHECK_INT(ev.segments, 3);
    cg_tl_info info;
    cg_timeline_info(tl, &info);
    CHECK_INT(info.degraded, 1);
    CHECK_INT(info.lost_segments, 1);
    CHECK_INT(cg_timeline_count(tl), 3);
    cg_tl_snap *snap = NULL;
    CHECK_INT(cg_timeline_snapshot(tl, &snap), 0);
    if (cg_tl_snap_count(snap) == 3) {
        CHECK_INT(cg_tl_snap_seg(snap, 0)->start, 0);
        /* The lost 2 s are a hole in the timeline, flagged. */
        CHECK_INT(cg_tl_snap_seg(snap, 1)->start, 360000);
        CHECK_INT(cg_tl_snap_seg(snap, 1)->flags, CG_TL_DISCONTINUITY);
        CHECK_INT(cg_tl_snap_seg(snap, 2)->flags, 0);
    }
    cg_tl_snap_free(snap);
    /* Earlier segments intact, no partial files. */
    check_index_against_ffprobe(root, "b1", st);
    size_t removed = 9;
    CHECK_INT(cg_storage_discard_partial(st, "b1", &removed), 0);
    CHECK_INT(removed, 0);
    cg_storage_stat sst;
    CHECK_INT(cg_storage_stat_obj(st, "b1/seg-3.m4s", &sst), CG_ENOTFOUND);

    char path[600];
    cg_dbuf d;
    write_playlist(st, root, "b1", tl, path, sizeof(path), &d);
    CHECK(strstr(cg_dbuf_str(&d), "#EXT-X-DISCONTINUITY\n") != NULL);
    cg_dbuf_free(&d);
    double secs = decode_playlist(path, "aac");
    CHECK(fabs(secs - 6.0) <= 1.0 / 30 + 1e-6); /* 8 s minus the lost 2 s */
    cg_timeline_unref(tl);
    cg_storage_free(st);
}

/* A store whose appends fail on demand, over the fs store: the index
 * line of a segment fails after its file was renamed into place. */
typedef struct flaky {
    cg_storage base;
    cg_storage *inner;
    int fail_appends; /* count of appends to fail */
    int ok_appends;   /* appends allowed before failing */
} flaky;

static int fl_put(cg_storage *s, const char *n, const void *d, size_t l, unsigned f)
{
    return cg_storage_put(((flaky *)s)->inner, n, d, l, f);
}
static int fl_put_file(cg_storage *s, const char *n, const char *p, unsigned f)
{
    return cg_storage_put_file(((flaky *)s)->inner, n, p, f);
}
static int fl_append(cg_storage *s, const char *n, const void *d, size_t l)
{
    flaky *fl = (flaky *)s;
    if (fl->ok_appends-- <= 0 && fl->fail_appends > 0) {
        fl->fail_appends--;
        return CG_EIO;
    }
    return cg_storage_append(fl->inner, n, d, l);
}
static int fl_stat(cg_storage *s, const char *n, cg_storage_stat *st)
{
    return cg_storage_stat_obj(((flaky *)s)->inner, n, st);
}
static int fl_del(cg_storage *s, const char *n)
{
    return cg_storage_del(((flaky *)s)->inner, n);
}
static int fl_list(cg_storage *s, const char *p, cg_storage_list_cb cb, void *a)
{
    return cg_storage_list(((flaky *)s)->inner, p, cb, a);
}
static int fl_discard(cg_storage *s, const char *p, size_t *r)
{
    return cg_storage_discard_partial(((flaky *)s)->inner, p, r);
}
static int fl_open(cg_storage *s, const char *n, cg_storage_obj **o)
{
    return cg_storage_open(((flaky *)s)->inner, n, o);
}
static void fl_destroy(cg_storage *s)
{
    (void)s; /* lives on the test's stack */
}
static const cg_storage_ops flaky_ops = {
    .name = "flaky",
    .put = fl_put,
    .put_file = fl_put_file,
    .append = fl_append,
    .stat = fl_stat,
    .del = fl_del,
    .list = fl_list,
    .discard_partial = fl_discard,
    .open = fl_open,
    .destroy = fl_destroy,
};

static void test_index_failure_unpublishes_segment(void)
{
    char root[400];
    cg_storage *inner = new_store("flaky", root, sizeof(root));
    /* Appends: seg 0 line ok, seg 1 line fails, then all ok. */
    flaky fl = {.base = {.ops = &flaky_ops}, .inner = inner, .fail_appends = 1, .ok_appends = 1};
    events ev = {.mu = PTHREAD_MUTEX_INITIALIZER};
    cg_packager *p = start(&fl.base, &ev, "b1", BIG_QUEUE);
    feeder fd = {.p = p};
    CHECK(mu_feed(media_g1, feed, &fd) > 0);
    cg_packager_finish(p);
    cg_packager_stats s;
    cg_packager_free(p);
    (void)s;
    CHECK_INT(ev.failed, 1);
    CHECK_INT(ev.last_err, CG_EIO);
    CHECK_INT(ev.segments, 2);
    /* The segment whose line failed is not left behind under its name:
     * seg-1 is the next segment that made it. */
    cg_timeline *tl = NULL;
    CHECK_INT(cg_index_load(inner, "b1", &tl, NULL), 0);
    CHECK_INT(cg_timeline_count(tl), 2);
    cg_timeline_unref(tl);
    cg_storage_stat sst;
    CHECK_INT(cg_storage_stat_obj(inner, "b1/seg-2.m4s", &sst), CG_ENOTFOUND);
    check_index_against_ffprobe(root, "b1", inner);
    cg_storage_free(inner);
}

static void test_kill_9_then_recover(void)
{
    char root[400];
    snprintf(root, sizeof(root), "%s/crash", base);
    pid_t pid = fork();
    if (pid == 0) {
        /* The doomed server: packages slowly until killed. */
        cg_storage *st = NULL;
        if (cg_storage_fs_new(&st, root) != 0)
            _exit(2);
        cg_packager_cfg cfg;
        cg_packager_cfg_default(&cfg);
        cg_packager *p = NULL;
        if (cg_packager_new(&p, st, "b1", &cfg) != 0)
            _exit(2);
        feeder fd = {.p = p, .sleep_us = 8000};
        mu_feed(media_g1_long, feed, &fd);
        pause();
        _exit(3);
    }
    /* Wait for two indexed segments, then pull the plug. */
    char index[600];
    snprintf(index, sizeof(index), "%s/b1/index.jsonl", root);
    int ready = 0;
    for (int i = 0; i < 6000 && !ready; i++) {
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
        FILE *f = fopen(index, "r");
        char buf[8192] = "";
        if (f) {
            size_t n = fread(buf, 1, sizeof(buf) - 1, f);
            buf[n] = '\0';
            fclose(f);
        }
        ready = strstr(buf, "\"seq\":1,") != NULL;
    }
    CHECK(ready);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status));

    cg_storage *st = NULL;
    CHECK_INT(cg_storage_fs_new(&st, root), 0);
    cg_timeline *tl = NULL;
    cg_index_recovery rep;
    CHECK_INT(cg_index_recover(st, "b1", &tl, &rep), 0);
    size_t n = tl ? cg_timeline_count(tl) : 0;
    CHECK(n >= 2);
    CHECK_INT(rep.ended_now, 1);
    CHECK_INT(rep.missing, 0);
    if (tl) {
        /* Served as VOD, decodable end to end, and each segment checks. */
        char path[600];
        cg_dbuf d;
        write_playlist(st, root, "b1", tl, path, sizeof(path), &d);
        CHECK(strstr(cg_dbuf_str(&d), "#EXT-X-ENDLIST\n") != NULL);
        cg_dbuf_free(&d);
        double secs = decode_playlist(path, "aac");
        CHECK(fabs(secs - 2.0 * (double)n) <= 1.0 / 30 + 1e-6);
        check_index_against_ffprobe(root, "b1", st);
        cg_timeline_unref(tl);
    }
    cg_storage_free(st);
}

static void test_queue_full_drops_newest(void)
{
    char root[400];
    cg_storage *st = new_store("queue", root, sizeof(root));
    events ev = {.mu = PTHREAD_MUTEX_INITIALIZER, .block_first = 1};
    cg_packager *p = start(st, &ev, "b1", 16);
    feeder fd = {.p = p, .ev = &ev};
    CHECK(mu_feed(media_g1_long, feed, &fd) > 0);
    __atomic_store_n(&ev.released, 1, __ATOMIC_RELEASE);
    cg_packager_stats s;
    cg_packager_get_stats(p, &s);
    CHECK_INT(s.queue_cap, 16);
    CHECK_INT(s.frames_dropped_full, fd.full);
    CHECK_INT(s.frames_in, fd.pushed);
    cg_packager_finish(p);
    CHECK_INT(cg_packager_push(p, NULL), CG_EINVAL);
    cg_timeline *tl = cg_timeline_ref(cg_packager_timeline(p));
    cg_packager_free(p);
    /* Drops happen while the worker is held; the release at the 30th may
     * reach the worker a frame late. */
    CHECK(fd.full >= 30 && fd.full <= 32);
    /* After the hole the worker waited for a keyframe and asked for one;
     * what was published decodes without a single error. */
    CHECK(ev.need_key >= 1);
    CHECK(cg_timeline_count(tl) >= 2);
    check_index_against_ffprobe(root, "b1", st);
    char path[600];
    cg_dbuf d;
    write_playlist(st, root, "b1", tl, path, sizeof(path), &d);
    cg_dbuf_free(&d);
    char out[8192];
    CHECK_INT(mu_decode(path, out, sizeof(out)), 0);
    CHECK_STR(out, "");
    cg_timeline_unref(tl);
    cg_storage_free(st);
}

static void test_existing_broadcast_refused(void)
{
    char root[400];
    cg_storage *st = new_store("dup", root, sizeof(root));
    CHECK_INT(cg_storage_put(st, "b1/index.jsonl", "{}\n", 3, 0), 0);
    events ev = {.mu = PTHREAD_MUTEX_INITIALIZER};
    cg_packager *p = start(st, &ev, "b1", BIG_QUEUE);
    feeder fd = {.p = p};
    CHECK(mu_feed(media_g1, feed, &fd) > 0);
    cg_packager_free(p); /* finishes by itself */
    CHECK_INT(ev.failed, 3);
    CHECK_INT(ev.last_err, CG_EEXIST);
    CHECK_INT(ev.ended, 1);
    cg_dbuf d;
    cg_dbuf_init(&d, 1024);
    CHECK_INT(cg_storage_get(st, "b1/index.jsonl", &d), 0);
    CHECK_STR(cg_dbuf_str(&d), "{}\n");
    cg_dbuf_free(&d);
    cg_storage_stat sst;
    CHECK_INT(cg_storage_stat_obj(st, "b1/seg-0.m4s", &sst), CG_ENOTFOUND);

    cg_packager_cfg cfg;
    cg_packager_cfg_default(&cfg);
    CHECK_INT(cg_packager_new(&p, st, "bad id", &cfg), CG_EINVAL);
    cfg.dir = "../escape";
    CHECK_INT(cg_packager_new(&p, st, "b1", &cfg), CG_EINVAL);
    cfg.dir = NULL;
    cfg.video = cfg.audio = 0;
    CHECK_INT(cg_packager_new(&p, st, "b1", &cfg), CG_EINVAL);
    cg_storage_free(st);
}

int main(void)
{
    av_log_set_level(AV_LOG_ERROR);
    if (mu_tmpdir(base, sizeof(base), "packager") != 0)
        return 1;
    snprintf(media_g1, sizeof(media_g1), "%s/g1.mp4", base);
    snprintf(media_g1_long, sizeof(media_g1_long), "%s/g1-8s.mp4", base);
    if (mu_make_media(media_g1, 30, 6, "av") != 0 || mu_make_media(media_g1_long, 30, 8, "av") != 0)
        return 1;
    RUN(test_recording_decodes);
    RUN(test_full_disk_degrades);
    RUN(test_index_failure_unpublishes_segment);
    RUN(test_kill_9_then_recover);
    RUN(test_queue_full_drops_newest);
    RUN(test_existing_broadcast_refused);
    mu_rm_rf(base);
    return TEST_RESULT();
}
