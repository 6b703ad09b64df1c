/* Storage front: name validation and dispatch to the backend. Validation
 * lives here, once, so that no backend can forget it. */
#include "storage/storage.h"

#include <string.h>

#include "core/err.h"
#include "storage/backend.h"

static int name_char_ok(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

int cg_storage_name_valid(const char *name)
{
    if (!name)
        return 0;
    size_t len = strnlen(name, CG_STORAGE_NAME_MAX + 1);
    if (len == 0 || len > CG_STORAGE_NAME_MAX)
        return 0;
    /* Reserved for unpublished uploads, so a published name can never be
     * mistaken for (or clobbered by) a temporary file. */
    if (len >= 4 && memcmp(name + len - 4, ".tmp", 4) == 0)
        return 0;
    size_t seg_len = 0, seg_dots = 0;
    for (size_t i = 0; i <= len; i++) {
        char c = name[i];
        if (c == '/' || c == '\0') {
            /* Empty segments ("a//b", "/abs", "dir/") and all-dot segments
             * (".", "..", "...") are how paths escape or alias. */
            if (seg_len == 0 || seg_dots == seg_len)
                return 0;
            seg_len = seg_dots = 0;
            continue;
        }
        if (!name_char_ok(c))
            return 0;
        seg_len++;
        if (c == '.')
            seg_dots++;
    }
    return 1;
}

int cg_storage_prefix_valid(const char *prefix)
{
    return prefix && (prefix[0] == '\0' || cg_storage_name_valid(prefix));
}

void cg_storage_free(cg_storage *s)
{
    if (s)
        s->ops->destroy(s);
}

const char *cg_storage_backend(const cg_storage *s)
{
    return s->ops->name;
}

int cg_storage_put(cg_storage *s, const char *name, const void *data, size_t len, unsigned flags)
{
    if (!s || !cg_storage_name_valid(name) || (!data && len))
        return CG_EINVAL;
    return s->ops->put(s, name, data, len, flags);
}

int cg_storage_put_file(cg_storage *s, const char *name, const char *local_path, unsigned flags)
{
    if (!s || !cg_storage_name_valid(name) || !local_path)
        return CG_EINVAL;
    return s->ops->put_file(s, name, local_path, flags);
}

int cg_storage_append(cg_storage *s, const char *name, const void *data, size_t len)
{
    if (!s || !cg_storage_name_valid(name) || (!data && len))
        return CG_EINVAL;
    return s->ops->append(s, name, data, len);
}

int cg_storage_stat_obj(cg_storage *s, const char *name, cg_storage_stat *st)
{
    if (!s || !cg_storage_name_valid(name) || !st)
        return CG_EINVAL;
    return s->ops->stat(s, name, st);
}

int cg_storage_get(cg_storage *s, const char *name, cg_dbuf *out)
{
    if (!out)
        return CG_EINVAL;
    cg_storage_obj *o;
    int rc = cg_storage_open(s, name, &o);
    if (rc)
        return rc;
    uint64_t size = cg_storage_obj_size(o);
    /* Refuse before reading anything: a half-read object is useless. */
    if (size >= out->max || out->len + size + 1 > out->max) {
        cg_storage_obj_close(o);
        return CG_ENOSPC;
    }
    uint8_t chunk[16384];
    uint64_t off = 0;
    while (off < size) {
        size_t want = size - off < sizeof(chunk) ? (size_t)(size - off) : sizeof(chunk);
        size_t got = 0;
        rc = cg_storage_obj_read(o, off, chunk, want, &got);
        if (rc)
            break;
        if (got == 0) {
            /* The object shrank under us: only possible if someone broke
             * the never-rewrite rule. */
            rc = CG_EIO;
            break;
        }
        cg_dbuf_add(out, chunk, got);
        off += got;
    }
    cg_storage_obj_close(o);
    if (!rc)
        rc = cg_dbuf_err(out);
    return rc;
}

int cg_storage_del(cg_storage *s, const char *name)
{
    if (!s || !cg_storage_name_valid(name))
        return CG_EINVAL;
    return s->ops->del(s, name);
}

int cg_storage_list(cg_storage *s, const char *prefix, cg_storage_list_cb cb, void *arg)
{
    if (!s || !cg_storage_prefix_valid(prefix) || !cb)
        return CG_EINVAL;
    return s->ops->list(s, prefix, cb, arg);
}

int cg_storage_discard_partial(cg_storage *s, const char *prefix, size_t *removed)
{
    size_t dummy;
    if (!s || !cg_storage_prefix_valid(prefix))
        return CG_EINVAL;
    return s->ops->discard_partial(s, prefix, removed ? removed : &dummy);
}

int cg_storage_open(cg_storage *s, const char *name, cg_storage_obj **out)
{
    if (!s || !cg_storage_name_valid(name) || !out)
        return CG_EINVAL;
    return s->ops->open(s, name, out);
}

uint64_t cg_storage_obj_size(const cg_storage_obj *o)
{
    return o->size;
}

uint64_t cg_storage_obj_mtime_us(const cg_storage_obj *o)
{
    return o->mtime_us;
}

int cg_storage_obj_read(cg_storage_obj *o, uint64_t off, void *buf, size_t len, size_t *got)
{
    if (!o || (!buf && len) || !got)
        return CG_EINVAL;
    *got = 0;
    if (off >= o->size || len == 0)
        return 0;
    if (len > o->size - off)
        len = (size_t)(o->size - off);
    return o->ops->read(o, off, buf, len, got);
}

int cg_storage_obj_fd(const cg_storage_obj *o)
{
    return o && o->ops->fd ? o->ops->fd(o) : -1;
}

void cg_storage_obj_close(cg_storage_obj *o)
{
    if (o)
        o->ops->close(o);
}
