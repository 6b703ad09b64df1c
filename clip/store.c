/* Persisted clips: metadata registry over clips/<id>/ in the store. */
#include "clip/store.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/random.h"
#include "packager/playlist.h"

#define META_MAX (64u << 10)
#define META_LEAF "clip.json"

struct cg_clip_store {
    cg_storage *st;
    pthread_mutex_t lock;
    cg_clip_meta *v; /* ordered by creation, oldest first */
    size_t n, cap;
    cg_clip_store_listener_fn listen_fn; /* set before serving */
    void *listen_arg;
};

int cg_clip_id_valid(const char *id)
{
    size_t n = 0;
    for (; id[n]; n++) {
        char c = id[n];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            return 0;
    }
    return n == CG_CLIP_ID_LEN;
}

int cg_clip_store_make_id(char *out, size_t cap)
{
    if (cap < CG_CLIP_ID_LEN + 1)
        return CG_ENOSPC;
    return cg_random_token(out, CG_CLIP_ID_LEN);
}

int cg_clip_store_name(const char *id, const char *leaf, char *out, size_t cap)
{
    if (!cg_clip_id_valid(id))
        return CG_EINVAL;
    int n = snprintf(out, cap, CG_CLIP_PREFIX "/%s/%s", id, leaf);
    if (n < 0 || (size_t)n >= cap)
        return CG_ENOSPC;
    return cg_storage_name_valid(out) ? 0 : CG_EINVAL;
}

/* --- metadata JSON ----------------------------------------------------------------- */

static double secs(int64_t us)
{
    /* Millisecond precision, like the Clip-* headers. */
    return (double)((us + (us >= 0 ? 500 : -500)) / 1000) / 1000.0;
}

int cg_clip_meta_format(const cg_clip_meta *m, cg_dbuf *out)
{
    char created[40], url[64];
    cg_playlist_iso8601(m->created_wall_us, created, sizeof(created));
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(m->id));
    json_object_set_new(o, "broadcast", json_string(m->broadcast));
    json_object_set_new(o, "title", json_string(m->title));
    json_object_set_new(o, "mode", json_string(m->mode ? "keyframe" : "precise"));
    json_object_set_new(o, "requested",
                        json_pack("{s:f,s:f}", "start", secs(m->req_start_us), "duration",
                                  secs(m->req_duration_us)));
    json_object_set_new(o, "actual",
                        json_pack("{s:f,s:f,s:f}", "start", secs(m->start_us), "duration",
                                  secs(m->duration_us), "keyframe", secs(m->keyframe_us)));
    json_t *urls = json_object();
    snprintf(url, sizeof(url), "/clips/%s.mp4", m->id);
    json_object_set_new(urls, "mp4", json_string(url));
    snprintf(url, sizeof(url), "/clips/%s.m3u8", m->id);
    json_object_set_new(urls, "hls", json_string(url));
    json_object_set_new(o, "urls", urls);
    json_object_set_new(o, "created_at", json_string(created));
    json_object_set_new(o, "bytes", json_integer((json_int_t)m->bytes));
    /* Exact values for reloading; the fields above are rounded for people. */
    json_object_set_new(
        o, "us",
        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "req_start", (json_int_t)m->req_start_us,
                  "req_duration", (json_int_t)m->req_duration_us, "start", (json_int_t)m->start_us,
                  "duration", (json_int_t)m->duration_us, "keyframe", (json_int_t)m->keyframe_us,
                  "created_wall", (json_int_t)m->created_wall_us));
    char *text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(12));
    json_decref(o);
    if (!text)
        return CG_ENOMEM;
    cg_dbuf_adds(out, text);
    free(text);
    return cg_dbuf_err(out);
}

static int copy_str(json_t *o, const char *key, char *out, size_t cap)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (!s || strlen(s) >= cap)
        return CG_EPROTO;
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

static int get_i64(json_t *o, const char *key, int64_t *v)
{
    json_t *j = json_object_get(o, key);
    if (!json_is_integer(j))
        return CG_EPROTO;
    *v = (int64_t)json_integer_value(j);
    return 0;
}

int cg_clip_meta_parse(const char *text, size_t len, cg_clip_meta *out)
{
    json_t *o = json_loadb(text, len, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return CG_EPROTO;
    }
    cg_clip_meta m;
    memset(&m, 0, sizeof(m));
    json_t *us = json_object_get(o, "us");
    const char *mode = json_string_value(json_object_get(o, "mode"));
    int64_t created = 0;
    int rc = copy_str(o, "id", m.id, sizeof(m.id));
    if (!rc)
        rc = copy_str(o, "broadcast", m.broadcast, sizeof(m.broadcast));
    if (!rc)
        rc = copy_str(o, "title", m.title, sizeof(m.title));
    if (!rc && (!mode || (strcmp(mode, "precise") && strcmp(mode, "keyframe"))))
        rc = CG_EPROTO;
    if (!rc)
        m.mode = strcmp(mode, "keyframe") == 0;
    if (!rc && !json_is_object(us))
        rc = CG_EPROTO;
    if (!rc)
        rc = get_i64(us, "req_start", &m.req_start_us);
    if (!rc)
        rc = get_i64(us, "req_duration", &m.req_duration_us);
    if (!rc)
        rc = get_i64(us, "start", &m.start_us);
    if (!rc)
        rc = get_i64(us, "duration", &m.duration_us);
    if (!rc)
        rc = get_i64(us, "keyframe", &m.keyframe_us);
    if (!rc)
        rc = get_i64(us, "created_wall", &created);
    json_t *bytes = json_object_get(o, "bytes");
    if (!rc && (!json_is_integer(bytes) || json_integer_value(bytes) < 0))
        rc = CG_EPROTO;
    if (!rc && (!cg_clip_id_valid(m.id) || !cg_tl_id_valid(m.broadcast)))
        rc = CG_EPROTO;
    if (!rc) {
        m.bytes = (uint64_t)json_integer_value(bytes);
        m.created_wall_us = (uint64_t)created;
        *out = m;
    }
    json_decref(o);
    return rc;
}

/* --- registry ---------------------------------------------------------------------- */

/* Caller holds the lock. */
static int push(cg_clip_store *cs, const cg_clip_meta *m)
{
    if (cs->n == cs->cap) {
        size_t cap = cs->cap ? cs->cap * 2 : 16;
        cg_clip_meta *v = realloc(cs->v, cap * sizeof(*v));
        if (!v)
            return CG_ENOMEM;
        cs->v = v;
        cs->cap = cap;
    }
    /* Keep creation order (loading walks the store in no order). */
    size_t i = cs->n;
    while (i > 0 && cs->v[i - 1].created_wall_us > m->created_wall_us)
        i--;
    memmove(&cs->v[i + 1], &cs->v[i], (cs->n - i) * sizeof(*m));
    cs->v[i] = *m;
    cs->n++;
    return 0;
}

static ssize_t find(const cg_clip_store *cs, const char *id)
{
    for (size_t i = 0; i < cs->n; i++)
        if (strcmp(cs->v[i].id, id) == 0)
            return (ssize_t)i;
    return -1;
}

static int load_one(void *arg, const char *name, const cg_storage_stat *st)
{
    cg_clip_store *cs = arg;
    size_t plen = strlen(CG_CLIP_PREFIX "/");
    size_t len = strlen(name);
    size_t leaf = strlen("/" META_LEAF);
    /* clips/<id>/clip.json only */
    if (len != plen + CG_CLIP_ID_LEN + leaf || strcmp(name + len - leaf, "/" META_LEAF) != 0)
        return 0;
    cg_dbuf d;
    cg_dbuf_init(&d, META_MAX);
    cg_clip_meta m;
    int rc = cg_storage_get(cs->st, name, &d);
    if (!rc)
        rc = cg_clip_meta_parse(d.p ? d.p : "", d.len, &m);
    cg_dbuf_free(&d);
    if (!rc && strncmp(name + plen, m.id, CG_CLIP_ID_LEN) != 0)
        rc = CG_EPROTO;
    if (rc) {
        cg_warn("clips", "skipping %s: %s", name, cg_strerror(rc));
        return 0;
    }
    pthread_mutex_lock(&cs->lock);
    rc = push(cs, &m);
    pthread_mutex_unlock(&cs->lock);
    return rc;
}

int cg_clip_store_new(cg_clip_store **out, cg_storage *st)
{
    cg_clip_store *cs = calloc(1, sizeof(*cs));
    if (!cs)
        return CG_ENOMEM;
    cs->st = st;
    pthread_mutex_init(&cs->lock, NULL);
    int rc = cg_storage_list(st, CG_CLIP_PREFIX, load_one, cs);
    if (rc == CG_ENOTFOUND)
        rc = 0;
    if (rc)
        goto fail;
    if (cs->n)
        cg_info("clips", "%zu persisted clips loaded", cs->n);
    *out = cs;
    return 0;
fail:
    cg_clip_store_free(cs);
    return rc;
}

void cg_clip_store_free(cg_clip_store *cs)
{
    if (!cs)
        return;
    pthread_mutex_destroy(&cs->lock);
    free(cs->v);
    free(cs);
}

int cg_clip_store_commit(cg_clip_store *cs, const cg_clip_meta *m)
{
    char name[CG_STORAGE_NAME_MAX + 1];
    int rc = cg_clip_store_name(m->id, META_LEAF, name, sizeof(name));
    if (rc)
        return rc;
    cg_dbuf d;
    cg_dbuf_init(&d, META_MAX);
    rc = cg_clip_meta_format(m, &d);
    if (!rc)
        rc = cg_storage_put(cs->st, name, d.p, d.len, CG_STORAGE_NOREPLACE);
    cg_dbuf_free(&d);
    if (rc)
        return rc;
    pthread_mutex_lock(&cs->lock);
    rc = find(cs, m->id) >= 0 ? CG_EEXIST : push(cs, m);
    pthread_mutex_unlock(&cs->lock);
    if (!rc && cs->listen_fn)
        cs->listen_fn(cs->listen_arg, m);
    return rc;
}

void cg_clip_store_set_listener(cg_clip_store *cs, cg_clip_store_listener_fn fn, void *arg)
{
    cs->listen_fn = fn;
    cs->listen_arg = arg;
}

int cg_clip_store_get(cg_clip_store *cs, const char *id, cg_clip_meta *out)
{
    pthread_mutex_lock(&cs->lock);
    ssize_t i = find(cs, id);
    if (i >= 0)
        *out = cs->v[i];
    pthread_mutex_unlock(&cs->lock);
    return i >= 0 ? 0 : CG_ENOTFOUND;
}

int cg_clip_store_list(cg_clip_store *cs, const char *broadcast, cg_clip_meta **out, size_t *n)
{
    pthread_mutex_lock(&cs->lock);
    cg_clip_meta *v = malloc((cs->n ? cs->n : 1) * sizeof(*v));
    size_t k = 0;
    for (size_t i = cs->n; v && i-- > 0;)
        if (!broadcast || strcmp(cs->v[i].broadcast, broadcast) == 0)
            v[k++] = cs->v[i];
    pthread_mutex_unlock(&cs->lock);
    if (!v)
        return CG_ENOMEM;
    *out = v;
    *n = k;
    return 0;
}

/* Collects the names under a clip's prefix (deleting inside the walk
 * would change what the walk is reading). */
typedef struct names {
    char **v;
    size_t n, cap;
    int err;
} names;

static int collect(void *arg, const char *name, const cg_storage_stat *st)
{
    names *ns = arg;
    if (ns->n == ns->cap) {
        size_t cap = ns->cap ? ns->cap * 2 : 32;
        char **v = realloc(ns->v, cap * sizeof(*v));
        if (!v)
            return CG_ENOMEM;
        ns->v = v;
        ns->cap = cap;
    }
    ns->v[ns->n] = strdup(name);
    if (!ns->v[ns->n])
        return CG_ENOMEM;
    ns->n++;
    return 0;
}

int cg_clip_store_purge(cg_clip_store *cs, const char *id)
{
    char prefix[CG_STORAGE_NAME_MAX + 1];
    if (!cg_clip_id_valid(id))
        return CG_EINVAL;
    snprintf(prefix, sizeof(prefix), CG_CLIP_PREFIX "/%s", id);
    names ns = {0};
    int rc = cg_storage_list(cs->st, prefix, collect, &ns);
    if (rc == CG_ENOTFOUND)
        rc = 0;
    /* The metadata goes first: a clip half deleted is no longer listed. */
    char meta[CG_STORAGE_NAME_MAX + 1];
    cg_clip_store_name(id, META_LEAF, meta, sizeof(meta));
    int drc = cg_storage_del(cs->st, meta);
    if (drc && drc != CG_ENOTFOUND && !rc)
        rc = drc;
    for (size_t i = 0; i < ns.n; i++) {
        if (strcmp(ns.v[i], meta) != 0) {
            drc = cg_storage_del(cs->st, ns.v[i]);
            if (drc && drc != CG_ENOTFOUND && !rc)
                rc = drc;
        }
        free(ns.v[i]);
    }
    free(ns.v);
    return rc;
}

int cg_clip_store_delete(cg_clip_store *cs, const char *id)
{
    pthread_mutex_lock(&cs->lock);
    ssize_t i = find(cs, id);
    if (i >= 0) {
        memmove(&cs->v[i], &cs->v[i + 1], (cs->n - (size_t)i - 1) * sizeof(cs->v[0]));
        cs->n--;
    }
    pthread_mutex_unlock(&cs->lock);
    if (i < 0)
        return CG_ENOTFOUND;
    return cg_clip_store_purge(cs, id);
}
