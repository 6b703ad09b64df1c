/* The recorder over a real event loop, hub, packagers and the filesystem
 * store: broadcast ids, a stream becoming a broadcast, a reconnect within
 * the grace continuing it with a discontinuity, a track change starting a
 * new one, keyframe requests reaching the publisher, a full disk marking
 * the broadcast degraded (API stats and metrics), shutdown finishing live
 * broadcasts at once, a restart loading recordings, crash leftovers
 * repaired at startup, and retention (hours, forever, live window).
 * Thumbnails: every video segment gets one (listener told, API bits set,
 * found again after a restart), audio-only broadcasts none, and the live
 * window's retention deletes them with their segments. */
#include <errno.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/err.h"
#include "core/hub.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "packager/index.h"
#include "packager/recorder.h"
#include "packager/thumbs.h"
#include "storage/fs.h"
#include "media_util.h"
#include "cg_test.h"

#define MAX_FRAMES 4096

static char base[256];

/* ---- the media loop ---- */

static cg_loop *loop;
static cg_hub *hub;
static pthread_t loop_thread;

static void *loop_main(void *arg)
{
    cg_loop_run(loop);
    return NULL;
}

typedef struct call {
    void (*fn)(void *);
    void *arg;
    int done;
} call;

static void call_run(void *p)
{
    call *c = p;
    c->fn(c->arg);
    __atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Runs fn(arg) on the loop and waits. */
static void on_loop(void (*fn)(void *), void *arg)
{
    call c = {.fn = fn, .arg = arg};
    while (cg_loop_post(loop, call_run, &c) == CG_EFULL)
        sleep_ms(1);
    while (!__atomic_load_n(&c.done, __ATOMIC_ACQUIRE))
        sleep_ms(1);
}

/* ---- a publisher ---- */

typedef struct publisher {
    const char *name;
    int video, audio;
    cg_stream *s;
    int keyframe_requests; /* loop */
} publisher;

static void request_keyframe(void *p)
{
    ((publisher *)p)->keyframe_requests++;
}

static void do_open(void *arg)
{
    publisher *p = arg;
    cg_stream_info info = {
        .has_video = p->video, .has_audio = p->audio, .request_keyframe = request_keyframe};
    CHECK_INT(cg_hub_open(hub, p->name, p, &info, &p->s), 0);
}

static void do_close(void *arg)
{
    publisher *p = arg;
    cg_hub_close(hub, p->s);
    p->s = NULL;
}

typedef struct media {
    cg_frame *f[MAX_FRAMES];
    size_t n;
} media;

static void collect(void *arg, cg_frame *f)
{
    media *m = arg;
    if (m->n < MAX_FRAMES)
        m->f[m->n++] = cg_frame_ref(f);
}

/* Loads a file's frames with their capture times moved to now, as a
 * publisher would stamp them. */
static void load(media *m, const char *path)
{
    m->n = 0;
    CHECK(mu_feed(path, collect, m) > 0);
    uint64_t now = cg_wall_us();
    for (size_t i = 0; i < m->n; i++)
        m->f[i]->wall_us = m->f[i]->wall_us - MU_WALL_BASE + now;
}

static void unload(media *m)
{
    for (size_t i = 0; i < m->n; i++)
        cg_frame_unref(m->f[i]);
    m->n = 0;
}

typedef struct batch {
    publisher *p;
    media *m;
    size_t from, to;
} batch;

static void do_publish(void *arg)
{
    batch *b = arg;
    for (size_t i = b->from; i < b->to; i++)
        cg_stream_publish(b->p->s, b->m->f[i]);
}

/* Publishes frames [from, to) in small batches, letting the packager's
 * queue drain so that nothing is dropped. */
static void publish(cg_recorder *r, publisher *p, media *m, size_t from, size_t to)
{
    for (size_t i = from; i < to; i += 16) {
        batch b = {.p = p, .m = m, .from = i, .to = i + 16 < to ? i + 16 : to};
        on_loop(do_publish, &b);
        for (int k = 0; k < 2000; k++) {
            cg_recorder_info in;
            if (cg_recorder_find_live(r, p->name, &in) != 0)
                break;
            size_t q = in.stats.queue_len;
            cg_recorder_info_clear(&in);
            if (q < 128)
                break;
            sleep_ms(2);
        }
    }
}

/* Index of the first frame at or after t seconds (by pts). */
static size_t frame_at(const media *m, double t)
{
    for (size_t i = 0; i < m->n; i++)
        if ((double)m->f[i]->pts / m->f[i]->timescale >= t)
            return i;
    return m->n;
}

/* ---- recorder helpers ---- */

static cg_storage *new_store(const char *name, char *root, size_t cap)
{
    snprintf(root, cap, "%s/%s", base, name);
    cg_storage *st = NULL;
    CHECK_INT(cg_storage_fs_new(&st, root), 0);
    return st;
}

static void config(cg_config *cfg, uint64_t retention_us)
{
    CHECK_INT(cg_config_defaults(cfg), 0);
    cfg->segment_duration_us = 1000000u;
    cfg->live_window = 2;
    cfg->reconnect_grace_us = 400000u;
    cfg->retention_us = retention_us;
}

static void do_attach(void *arg)
{
    cg_recorder_attach(arg, hub);
}

/* What the thumbnail listener heard. */
typedef struct thumb_log {
    pthread_mutex_t mu;
    size_t n;
    uint64_t last_seq;
    char url[128];
    char stream[CG_STREAM_NAME_MAX + 1];
} thumb_log;

static thumb_log thumbs_heard = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void on_thumb(void *arg, const cg_recorder_thumb *ev)
{
    thumb_log *t = arg;
    pthread_mutex_lock(&t->mu);
    t->n++;
    t->last_seq = ev->segment;
    snprintf(t->url, sizeof(t->url), "%s", ev->url);
    snprintf(t->stream, sizeof(t->stream), "%s", ev->stream);
    pthread_mutex_unlock(&t->mu);
}

static size_t thumbs_heard_count(void)
{
    pthread_mutex_lock(&thumbs_heard.mu);
    size_t n = thumbs_heard.n;
    pthread_mutex_unlock(&thumbs_heard.mu);
    return n;
}

static cg_recorder *new_recorder(cg_storage *st, const cg_config *cfg)
{
    cg_recorder *r = NULL;
    CHECK_INT(cg_recorder_new(&r, st, cfg, loop), 0);
    if (r) {
        cg_recorder_set_thumb_listener(r, on_thumb, &thumbs_heard);
        on_loop(do_attach, r);
    }
    return r;
}

/* How many of segments [from, n) of id have a thumbnail per the API. */
static size_t thumbs_made(cg_recorder *r, const char *id, size_t from, size_t n)
{
    uint8_t bits[512] = {0};
    if (n > sizeof(bits) * 8 || cg_recorder_thumbs_made(r, id, bits, n) != 0)
        return 0;
    size_t c = 0;
    for (size_t i = from; i < n; i++)
        c += bits[i / 8] >> (i % 8) & 1;
    return c;
}

/* Waits until segments [from, n) of id all have a thumbnail (they are
 * made in order, so every earlier one is done too). */
static int wait_thumbs(cg_recorder *r, const char *id, size_t from, size_t n)
{
    for (int i = 0; i < 3000; i++) {
        if (thumbs_made(r, id, from, n) == n - from)
            return 1;
        sleep_ms(10);
    }
    return 0;
}

/* Waits until broadcast id has ended and its packager is freed; 1 if it
 * did. */
static int wait_ended(cg_recorder *r, const char *id)
{
    for (int i = 0; i < 3000; i++) {
        cg_recorder_info in;
        if (cg_recorder_find(r, id, &in) != 0)
            return 0;
        int done = !in.live && !in.running;
        cg_recorder_info_clear(&in);
        if (done)
            return 1;
        sleep_ms(10);
    }
    return 0;
}

/* Lookups that keep nothing: 0 or the error. */
static int find_rc(cg_recorder *r, const char *id)
{
    cg_recorder_info in;
    int rc = cg_recorder_find(r, id, &in);
    if (!rc)
        cg_recorder_info_clear(&in);
    return rc;
}

static int find_live_rc(cg_recorder *r, const char *stream)
{
    cg_recorder_info in;
    int rc = cg_recorder_find_live(r, stream, &in);
    if (!rc)
        cg_recorder_info_clear(&in);
    return rc;
}

static int file_exists(const char *root, const char *dir, const char *leaf)
{
    char path[1024];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/%s/%s", root, dir, leaf);
    return stat(path, &sb) == 0;
}

static size_t segment_count(cg_recorder *r, const char *id)
{
    cg_recorder_info in;
    if (cg_recorder_find(r, id, &in) != 0)
        return 0;
    size_t n = cg_timeline_count(in.tl);
    cg_recorder_info_clear(&in);
    return n;
}

static int64_t metric(const char *name)
{
    cg_dbuf d;
    cg_dbuf_init(&d, 1 << 20);
    cg_metrics_render(&d);
    char key[128];
    snprintf(key, sizeof(key), "\n%s ", name);
    const char *p = strstr(cg_dbuf_str(&d), key);
    int64_t v = p ? strtoll(p + strlen(key), NULL, 10) : -1;
    cg_dbuf_free(&d);
    return v;
}

static char media_g1[512]; /* 1 s GOP, 8 s, video + Opus */
static char media_g2[512]; /* 2 s GOP, 6 s, video only */
static char saved_id[CG_TL_ID_MAX + 1];
static size_t saved_count;

/* ---- tests ---- */

static void test_ids(void)
{
    char id[CG_TL_ID_MAX + 1], s[CG_STREAM_NAME_MAX + 1];
    /* 2023-11-14T22:13:20Z */
    CHECK_INT(cg_recorder_make_id("cam-1", 1700000000123456ull, 0x00ab, id, sizeof(id)), 0);
    CHECK_STR(id, "cam-1-20231114T221320Z-00ab");
    CHECK(cg_tl_id_valid(id));
    CHECK_INT(cg_recorder_id_stream(id, s, sizeof(s)), 0);
    CHECK_STR(s, "cam-1");

    /* A 64-character stream name is cut so the id stays within 64. */
    char longname[CG_STREAM_NAME_MAX + 1];
    memset(longname, 'a', CG_STREAM_NAME_MAX);
    longname[CG_STREAM_NAME_MAX] = '\0';
    CHECK_INT(cg_recorder_make_id(longname, 1700000000000000ull, 0xffff, id, sizeof(id)), 0);
    CHECK_INT(strlen(id), CG_TL_ID_MAX);
    CHECK(cg_tl_id_valid(id));
    CHECK_INT(cg_recorder_id_stream(id, s, sizeof(s)), 0);
    CHECK_INT(strlen(s), CG_TL_ID_MAX - 22);

    CHECK_INT(cg_recorder_make_id("bad/name", 0, 0, id, sizeof(id)), CG_EINVAL);
    CHECK_INT(cg_recorder_make_id("", 0, 0, id, sizeof(id)), CG_EINVAL);
    CHECK_INT(cg_recorder_make_id("x", 0, 0, id, 10), CG_ENOSPC);
    /* Ids of another shape name their stream whole. */
    CHECK_INT(cg_recorder_id_stream("b1", s, sizeof(s)), 0);
    CHECK_STR(s, "b1");
    CHECK_INT(cg_recorder_id_stream("x-20231114T221320Z-00AB", s, sizeof(s)), 0);
    CHECK_STR(s, "x-20231114T221320Z-00AB");
    CHECK_INT(cg_recorder_id_stream("../x", s, sizeof(s)), CG_EINVAL);
}

static void test_broadcast_lifecycle(void)
{
    char root[400];
    cg_storage *st = new_store("life", root, sizeof(root));
    cg_config cfg;
    config(&cfg, CG_RETENTION_FOREVER);
    cg_recorder *r = new_recorder(st, &cfg);
    media m;
    load(&m, media_g1);

    publisher p = {.name = "cam", .video = 1, .audio = 1};
    on_loop(do_open, &p);
    cg_recorder_info in;
    CHECK_INT(cg_recorder_find_live(r, "cam", &in), 0);
    char id[CG_TL_ID_MAX + 1];
    snprintf(id, sizeof(id), "%s", in.id);
    CHECK(strncmp(id, "cam-", 4) == 0);
    CHECK_INT(in.live, 1);
    CHECK_INT(in.publishing, 1);
    CHECK_STR(in.dir + strlen(CG_RECORDER_PREFIX) + 1, id);
    cg_recorder_info_clear(&in);
    CHECK_INT(metric("clipgate_broadcasts_live"), 1);

    /* First session: 4 s, then the publisher drops. */
    size_t half = frame_at(&m, 4.0);
    publish(r, &p, &m, 0, half);
    on_loop(do_close, &p);
    CHECK_INT(cg_recorder_find_live(r, "cam", &in), 0); /* within the grace */
    CHECK_STR(in.id, id);
    CHECK_INT(in.publishing, 0);
    cg_recorder_info_clear(&in);

    /* It comes back at once: same broadcast, new period. */
    on_loop(do_open, &p);
    CHECK_INT(cg_recorder_find_live(r, "cam", &in), 0);
    CHECK_STR(in.id, id);
    CHECK_INT(in.publishing, 1);
    cg_recorder_info_clear(&in);
    publish(r, &p, &m, 0, m.n);
    on_loop(do_close, &p);
    CHECK(wait_ended(r, id));

    CHECK_INT(find_live_rc(r, "cam"), CG_ENOTFOUND);
    CHECK_INT(cg_recorder_find_latest(r, "cam", &in), 0);
    CHECK_STR(in.id, id);
    cg_tl_snap *snap = NULL;
    CHECK_INT(cg_timeline_snapshot(in.tl, &snap), 0);
    size_t n = snap ? cg_tl_snap_count(snap) : 0;
    /* 4 s + 8 s at a 1 s GOP, the last one of each session included. */
    CHECK(n >= 10);
    int disc = 0, period1 = 0;
    for (size_t i = 1; i < n; i++) {
        const cg_tl_segment *sg = cg_tl_snap_seg(snap, i);
        disc += (sg->flags & CG_TL_DISCONTINUITY) != 0;
        period1 += sg->period == 1;
    }
    CHECK_INT(disc, 1);
    CHECK(period1 > 0);
    CHECK_INT(cg_tl_snap_info(snap)->state, CG_TL_ENDED);
    cg_tl_snap_free(snap);
    CHECK_INT(in.stats.degraded, 0);
    CHECK_INT(in.stats.frames_dropped_full, 0);
    CHECK(file_exists(root, in.dir, "init.mp4"));
    CHECK(file_exists(root, in.dir, "init-1.mp4"));
    CHECK(file_exists(root, in.dir, "seg-0.m4s"));
    CHECK(file_exists(root, in.dir, CG_TL_INDEX_NAME));
    /* A thumbnail per segment, both periods' (init.mp4 and init-1.mp4). */
    size_t heard_before = thumbs_heard_count();
    CHECK(wait_thumbs(r, id, 0, n));
    for (size_t seq = 0; seq < n; seq++) {
        char leaf[32];
        cg_thumbs_name(seq, leaf, sizeof(leaf));
        CHECK(file_exists(root, in.dir, leaf));
    }
    CHECK(thumbs_heard_count() >= heard_before);
    pthread_mutex_lock(&thumbs_heard.mu);
    CHECK_STR(thumbs_heard.stream, "cam");
    char want[128];
    cg_thumbs_url(id, thumbs_heard.last_seq, want, sizeof(want));
    CHECK_STR(thumbs_heard.url, want);
    pthread_mutex_unlock(&thumbs_heard.mu);
    CHECK(metric("clipgate_thumbnails_total") >= (int64_t)n);
    CHECK_INT(metric("clipgate_thumbnails_failed_total"), 0);
    CHECK_INT(cg_recorder_thumbs_made(r, "nope", (uint8_t[1]){0}, 1), CG_ENOTFOUND);
    CHECK_INT(cg_recorder_thumbs_made(r, "../x", (uint8_t[1]){0}, 1), CG_EINVAL);
    cg_recorder_info_clear(&in);
    CHECK_INT(metric("clipgate_broadcasts_live"), 0);

    cg_recorder_info *list = NULL;
    size_t ln = 0;
    CHECK_INT(cg_recorder_list(r, &list, &ln), 0);
    CHECK_INT(ln, 1);
    if (ln)
        CHECK_STR(list[0].id, id);
    cg_recorder_list_free(list, ln);
    snprintf(saved_id, sizeof(saved_id), "%s", id);
    saved_count = n;

    cg_recorder_free(r);
    unload(&m);

    /* A restart loads it as an ended recording of stream "cam". */
    r = new_recorder(st, &cfg);
    CHECK_INT(cg_recorder_find(r, saved_id, &in), 0);
    CHECK_STR(in.stream, "cam");
    CHECK_INT(in.live, 0);
    CHECK_INT(in.has_stats, 0);
    CHECK_INT(cg_timeline_count(in.tl), saved_count);
    cg_recorder_info_clear(&in);
    /* Its thumbnails are found on disk. */
    CHECK_INT(thumbs_made(r, saved_id, 0, saved_count), saved_count);
    cg_recorder_free(r);
    cg_storage_free(st);
    cg_config_clear(&cfg);
}

static void test_audio_only_no_thumbnails(void)
{
    char root[400], media_a[400];
    snprintf(media_a, sizeof(media_a), "%s/a.mp4", base);
    CHECK_INT(mu_make_media(media_a, 30, 4, "a"), 0);
    cg_storage *st = new_store("audio", root, sizeof(root));
    cg_config cfg;
    config(&cfg, CG_RETENTION_FOREVER);
    cfg.reconnect_grace_us = 0;
    cg_recorder *r = new_recorder(st, &cfg);
    media m;
    load(&m, media_a);
    int64_t made = metric("clipgate_thumbnails_total");
    int64_t failed = metric("clipgate_thumbnails_failed_total");
    size_t heard = thumbs_heard_count();
    publisher p = {.name = "radio", .audio = 1};
    on_loop(do_open, &p);
    cg_recorder_info in;
    CHECK_INT(cg_recorder_find_live(r, "radio", &in), 0);
    char id[CG_TL_ID_MAX + 1], dir[CG_RECORDER_DIR_MAX];
    snprintf(id, sizeof(id), "%s", in.id);
    snprintf(dir, sizeof(dir), "%s", in.dir);
    cg_recorder_info_clear(&in);
    publish(r, &p, &m, 0, m.n);
    on_loop(do_close, &p);
    CHECK(wait_ended(r, id));
    size_t n = segment_count(r, id);
    CHECK(n >= 2);
    /* Nothing was even queued: freeing waits for the worker. */
    cg_recorder_free(r);
    CHECK(!file_exists(root, dir, "thumb-0.jpg"));
    CHECK_INT(metric("clipgate_thumbnails_total"), made);
    CHECK_INT(metric("clipgate_thumbnails_failed_total"), failed);
    CHECK_INT(thumbs_heard_count(), heard);
    unload(&m);
    cg_storage_free(st);
    cg_config_clear(&cfg);
}

/* Rewrites a finished broadcast as a crash leaves it: no end line, a torn
 * last line, an unpublished upload and a segment the index never got. */
static void test_crash_leftovers_repaired(void)
{
    char root[400];
    snprintf(root, sizeof(root), "%s/life", base);
    cg_storage *st = NULL;
    CHECK_INT(cg_storage_fs_new(&st, root), 0);
    char dir[CG_RECORDER_DIR_MAX], index[CG_STORAGE_NAME_MAX + 1];
    snprintf(dir, sizeof(dir), "%s/%s", CG_RECORDER_PREFIX, saved_id);
    cg_index_name(dir, CG_TL_INDEX_NAME, index, sizeof(index));
    cg_dbuf d;
    cg_dbuf_init(&d, 1 << 24);
    CHECK_INT(cg_storage_get(st, index, &d), 0);
    char *end = strstr(d.p, "{\"type\":\"end\"");
    CHECK(end != NULL);
    if (end)
        d.len = (size_t)(end - d.p);
    cg_dbuf_adds(&d, "{\"type\":\"segment\",\"seq\":");
    CHECK_INT(cg_storage_put(st, index, d.p, d.len, 0), 0);
    cg_dbuf_free(&d);
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s/seg-%zu.m4s", root, dir, saved_count);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("orphan", f);
        fclose(f);
    }
    snprintf(path, sizeof(path), "%s/%s/seg-%zu.m4s.1234.tmp", root, dir, saved_count + 1);
    f = fopen(path, "w");
    if (f) {
        fputs("partial", f);
        fclose(f);
    }

    cg_config cfg;
    config(&cfg, CG_RETENTION_FOREVER);
    cg_recorder *r = new_recorder(st, &cfg);
    cg_recorder_info in;
    CHECK_INT(cg_recorder_find(r, saved_id, &in), 0);
    CHECK_INT(in.live, 0); /* live at the crash, ended now */
    CHECK_INT(cg_timeline_count(in.tl), saved_count);
    cg_recorder_info_clear(&in);
    char leaf[64];
    snprintf(leaf, sizeof(leaf), "seg-%zu.m4s", saved_count);
    CHECK(!file_exists(root, dir, leaf));
    CHECK(access(path, F_OK) != 0);
    cg_dbuf_init(&d, 1 << 24);
    CHECK_INT(cg_storage_get(st, index, &d), 0);
    CHECK(strstr(cg_dbuf_str(&d), "{\"type\":\"end\"") != NULL);
    cg_dbuf_free(&d);
    cg_recorder_free(r);
    cg_storage_free(st);
    cg_config_clear(&cfg);
}

static void test_retention_hours(void)
{
    char root[400];
    snprintf(root, sizeof(root), "%s/life", base);
    cg_storage *st = NULL;
    CHECK_INT(cg_storage_fs_new(&st, root), 0);
    cg_config cfg;
    config(&cfg, CG_RETENTION_FOREVER);
    cg_recorder *r = new_recorder(st, &cfg);
    cg_recorder_info in;
    CHECK_INT(cg_recorder_find(r, saved_id, &in), 0);
    cg_tl_info ti;
    cg_timeline_info(in.tl, &ti);
    cg_recorder_info_clear(&in);
    uint64_t hour = 3600ull * 1000000u;
    CHECK(ti.end_wall_us > 0);
    /* Forever: never, however late. */
    CHECK_INT(cg_recorder_retention_pass(r, ti.end_wall_us + 1000 * hour), 0);
    cg_recorder_free(r);

    cfg.retention_us = hour;
    r = new_recorder(st, &cfg);
    CHECK_INT(cg_recorder_retention_pass(r, ti.end_wall_us + 59 * 60 * 1000000ull), 0);
    CHECK_INT(cg_recorder_find(r, saved_id, &in), 0);
    cg_recorder_info_clear(&in);
    int64_t deleted_before = metric("clipgate_recordings_deleted_total");
    CHECK_INT(cg_recorder_retention_pass(r, ti.end_wall_us + hour), 1);
    CHECK_INT(metric("clipgate_recordings_deleted_total"), deleted_before + 1);
    CHECK_INT(find_rc(r, saved_id), CG_ENOTFOUND);
    char dir[CG_RECORDER_DIR_MAX];
    snprintf(dir, sizeof(dir), "%s/%s", CG_RECORDER_PREFIX, saved_id);
    CHECK(!file_exists(root, dir, CG_TL_INDEX_NAME));
    CHECK(!file_exists(root, dir, "seg-0.m4s"));
    CHECK(!file_exists(root, dir, "init.mp4"));
    cg_recorder_free(r);
    cg_storage_free(st);
    cg_config_clear(&cfg);
}

static void test_track_change_and_empty(void)
{
    char root[400];
    cg_storage *st = new_store("tracks", root, sizeof(root));
    cg_config cfg;
    config(&cfg, CG_RETENTION_FOREVER);
    cfg.reconnect_grace_us = 10u * 1000000u;
    cg_recorder *r = new_recorder(st, &cfg);
    publisher p = {.name = "t", .video = 1, .audio = 1};
    on_loop(do_open, &p);
    cg_recorder_info in;
    CHECK_INT(cg_recorder_find_live(r, "t", &in), 0);
    char first[CG_TL_ID_MAX + 1];
    snprintf(first, sizeof(first), "%s", in.id);
    cg_recorder_info_clear(&in);
    on_loop(do_close, &p);
    /* Back within the grace but audio only: another recording. */
    p.video = 0;
    on_loop(do_open, &p);
    CHECK_INT(cg_recorder_find_live(r, "t", &in), 0);
    CHECK(strcmp(in.id, first) != 0);
    cg_recorder_info_clear(&in);
    /* The first one ended without a segment and is dropped. */
    int gone = 0;
    for (int i = 0; i < 500 && !gone; i++) {
        gone = find_rc(r, first) == CG_ENOTFOUND;
        if (!gone)
            sleep_ms(10);
    }
    CHECK(gone);
    on_loop(do_close, &p);
    /* A stream with neither track is not recorded. */
    publisher q = {.name = "none"};
    on_loop(do_open, &q);
    CHECK_INT(find_live_rc(r, "none"), CG_ENOTFOUND);
    on_loop(do_close, &q);
    cg_recorder_free(r);
    cg_storage_free(st);
    cg_config_clear(&cfg);
}

static void test_keyframes_degraded_shutdown(void)
{
    char root[400];
    cg_storage *st = new_store("degraded", root, sizeof(root));
    cg_config cfg;
    config(&cfg, CG_RETENTION_FOREVER);
    cg_recorder *r = new_recorder(st, &cfg);
    media m;
    load(&m, media_g2);
    publisher p = {.name = "d", .video = 1, .audio = 0};
    on_loop(do_open, &p);
    cg_recorder_info in;
    CHECK_INT(cg_recorder_find_live(r, "d", &in), 0);
    char id[CG_TL_ID_MAX + 1];
    snprintf(id, sizeof(id), "%s", in.id);
    cg_recorder_info_clear(&in);

    publish(r, &p, &m, 0, frame_at(&m, 2.5));
    for (int i = 0; i < 500 && segment_count(r, id) < 1; i++)
        sleep_ms(10);
    CHECK_INT(segment_count(r, id), 1);
    /* 2 s GOP against a 1 s target: the packager asked for keyframes and
     * the publisher heard it on the loop. */
    for (int i = 0; i < 500 && __atomic_load_n(&p.keyframe_requests, __ATOMIC_RELAXED) == 0; i++)
        sleep_ms(10);
    CHECK(__atomic_load_n(&p.keyframe_requests, __ATOMIC_RELAXED) > 0);

    /* The disk fills up: segments are lost, the broadcast goes on. */
    int64_t errors_before = metric("clipgate_segment_write_errors_total");
    cg_storage_fs_set_fault(st, 0, ENOSPC);
    publish(r, &p, &m, frame_at(&m, 2.5), frame_at(&m, 4.5));
    int failing = 0;
    for (int i = 0; i < 500 && !failing; i++) {
        CHECK_INT(cg_recorder_find_live(r, "d", &in), 0);
        failing = in.stats.failing;
        cg_recorder_info_clear(&in);
        if (!failing)
            sleep_ms(10);
    }
    CHECK(failing);
    CHECK_INT(cg_recorder_find_live(r, "d", &in), 0);
    CHECK_INT(in.stats.degraded, 1);
    CHECK(in.stats.write_errors > 0);
    CHECK_INT(in.publishing, 1);
    cg_recorder_info_clear(&in);
    CHECK_INT(metric("clipgate_broadcast_degraded"), 1);
    CHECK(metric("clipgate_segment_write_errors_total") > errors_before);
    cg_storage_fs_set_fault(st, -1, 0);
    publish(r, &p, &m, frame_at(&m, 4.5), m.n);

    /* Shutdown while it is live: finished at once and written out. */
    cg_recorder_shutdown(r);
    CHECK_INT(cg_recorder_find(r, id, &in), 0);
    CHECK_INT(in.live, 0);
    CHECK_INT(in.stats.ended, 1);
    CHECK_INT(in.stats.degraded, 1);
    CHECK(cg_timeline_count(in.tl) >= 2);
    cg_recorder_info_clear(&in);
    CHECK_INT(metric("clipgate_broadcast_degraded"), 0);
    CHECK_INT(metric("clipgate_broadcasts_live"), 0);
    on_loop(do_close, &p); /* no longer observed: nothing happens */
    cg_recorder_free(r);
    unload(&m);
    cg_storage_free(st);
    cg_config_clear(&cfg);
}

static void test_retention_live_window(void)
{
    char root[400];
    cg_storage *st = new_store("livewin", root, sizeof(root));
    cg_config cfg;
    config(&cfg, CG_RETENTION_LIVE);
    cg_recorder *r = new_recorder(st, &cfg);
    media m;
    load(&m, media_g1);
    publisher p = {.name = "lw", .video = 1, .audio = 1};
    on_loop(do_open, &p);
    cg_recorder_info in;
    CHECK_INT(cg_recorder_find_live(r, "lw", &in), 0);
    char id[CG_TL_ID_MAX + 1], dir[CG_RECORDER_DIR_MAX];
    snprintf(id, sizeof(id), "%s", in.id);
    snprintf(dir, sizeof(dir), "%s", in.dir);
    cg_recorder_info_clear(&in);
    publish(r, &p, &m, 0, m.n);
    for (int i = 0; i < 1000 && segment_count(r, id) < 7; i++)
        sleep_ms(10);
    size_t n = segment_count(r, id);
    CHECK(n >= 7);
    /* The janitor may have trimmed already (live mode runs it every
     * segment), clearing the oldest ones: wait for the kept ones. */
    CHECK(wait_thumbs(r, id, n - 4, n));
    cg_recorder_retention_pass(r, cg_wall_us());
    /* Window 2, kept twice over: the last 4 segments stay, and so do their
     * thumbnails. */
    for (size_t seq = 0; seq < n; seq++) {
        char leaf[32], thumb[32];
        cg_tl_segment_name(seq, leaf, sizeof(leaf));
        cg_thumbs_name(seq, thumb, sizeof(thumb));
        if (seq + 4 < n) {
            CHECK(!file_exists(root, dir, leaf));
            CHECK(!file_exists(root, dir, thumb));
        } else {
            CHECK(file_exists(root, dir, leaf));
            CHECK(file_exists(root, dir, thumb));
        }
    }
    CHECK_INT(thumbs_made(r, id, 0, n), 4);
    CHECK(file_exists(root, dir, "init.mp4"));
    on_loop(do_close, &p);
    /* Ended: the whole broadcast goes once players are done with it (the
     * janitor may get there first, by the real clock). */
    int ended = 0;
    for (int i = 0; i < 3000 && !ended; i++) {
        if (cg_recorder_find(r, id, &in) != 0)
            break;
        ended = !in.live && !in.running;
        cg_recorder_info_clear(&in);
        if (!ended)
            sleep_ms(10);
    }
    cg_recorder_retention_pass(r, cg_wall_us() + 3600ull * 1000000u);
    CHECK_INT(find_rc(r, id), CG_ENOTFOUND);
    CHECK(!file_exists(root, dir, CG_TL_INDEX_NAME));
    CHECK(!file_exists(root, dir, "init.mp4"));
    cg_recorder_free(r);
    unload(&m);
    cg_storage_free(st);
    cg_config_clear(&cfg);
}

int main(void)
{
    av_log_set_level(AV_LOG_ERROR);
    cg_metrics_init();
    if (mu_tmpdir(base, sizeof(base), "recorder") != 0)
        return 1;
    snprintf(media_g1, sizeof(media_g1), "%s/g1.mp4", base);
    snprintf(media_g2, sizeof(media_g2), "%s/g2.mp4", base);
    if (mu_make_media(media_g1, 30, 8, "av") != 0 || mu_make_media(media_g2, 60, 6, "v") != 0)
        return 1;
    if (cg_loop_new(&loop, 4096) != 0 || cg_hub_new(&hub) != 0 ||
        pthread_create(&loop_thread, NULL, loop_main, NULL) != 0)
        return 1;
    RUN(test_ids);
    RUN(test_broadcast_lifecycle);
    RUN(test_crash_leftovers_repaired);
    RUN(test_retention_hours);
    RUN(test_track_change_and_empty);
    RUN(test_audio_only_no_thumbnails);
    RUN(test_keyframes_degraded_shutdown);
    RUN(test_retention_live_window);
    cg_loop_stop(loop);
    pthread_join(loop_thread, NULL);
    cg_hub_free(hub);
    cg_loop_free(loop);
    mu_rm_rf(base);
    return TEST_RESULT();
}
