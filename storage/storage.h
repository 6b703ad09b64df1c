/* Object storage: where segments, init segments, timeline indexes and clips
 * live. Callers see named objects, never paths, so the filesystem backend
 * (storage/fs.h) and a later object-store backend are interchangeable.
 *
 * Names are relative, '/'-separated segments of [A-Za-z0-9._-]; a segment
 * may not be empty or made only of dots, and a name may not end in ".tmp"
 * (reserved for a backend's unpublished uploads). Every entry point checks
 * the name before the backend sees it, so no name can reach outside the
 * store (CG_EINVAL).
 *
 * Publishing is atomic: a reader sees either no object or the whole object,
 * never a prefix of it. A failed write leaves earlier objects intact and no
 * partial object behind.
 *
 * Reading does not expose a file descriptor as the only way in: an open
 * object is read by offset (cg_storage_obj_read), which an object store can
 * serve with ranged GETs; cg_storage_obj_fd() is an optional fast path
 * (sendfile) that a backend may not have.
 *
 * Thread-safety: every function may be called from any thread at once, for
 * different names. Two concurrent writers of one name are a caller bug (the
 * last rename wins, nothing is torn). */
#ifndef CG_STORAGE_H
#define CG_STORAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

typedef struct cg_storage cg_storage;
typedef struct cg_storage_obj cg_storage_obj;

/* Longest accepted object name, in bytes, without the NUL. */
#define CG_STORAGE_NAME_MAX 512

typedef struct cg_storage_stat {
    uint64_t size;
    uint64_t mtime_us; /* last modification, wall clock, microseconds */
} cg_storage_stat;

enum cg_storage_put_flags {
    /* Fail with CG_EEXIST instead of replacing an existing object: media
     * segments are never rewritten once published. */
    CG_STORAGE_NOREPLACE = 1u << 0,
};

/* Returns 1 if name is a valid object name, else 0. */
int cg_storage_name_valid(const char *name);
/* Like cg_storage_name_valid but also accepts "" (the whole store): the
 * form taken by list and discard_partial. */
int cg_storage_prefix_valid(const char *prefix);

/* Destroys the store (its backend state, not the objects). Accepts NULL. */
void cg_storage_free(cg_storage *s);

/* Short backend name ("fs"), static. */
const char *cg_storage_backend(const cg_storage *s);

/* Publishes len bytes (borrowed) as name, atomically and durably (on disk
 * before return). Returns 0, CG_EINVAL (bad name), CG_EEXIST (NOREPLACE and
 * the object exists), CG_ENOSPC (storage full), CG_EIO. */
int cg_storage_put(cg_storage *s, const char *name, const void *data, size_t len, unsigned flags);

/* Publishes the content of the local file at local_path as name, with the
 * guarantees of cg_storage_put. The local file is consumed: on success it no
 * longer exists (a backend may move it instead of copying); on failure it is
 * left where it was for the caller to remove. Returns as cg_storage_put, and
 * CG_ENOTFOUND if local_path does not exist. */
int cg_storage_put_file(cg_storage *s, const char *name, const char *local_path, unsigned flags);

/* Appends len bytes to name (created if missing), durably. Readers may see
 * the object grow; an append that fails leaves the object exactly as it was
 * before the call. This is how append-only indexes are kept; a backend
 * without native appends rewrites the object atomically. Returns 0,
 * CG_EINVAL, CG_ENOSPC, CG_EIO. */
int cg_storage_append(cg_storage *s, const char *name, const void *data, size_t len);

/* Returns 0 and fills *st, CG_EINVAL, CG_ENOTFOUND or CG_EIO. */
int cg_storage_stat_obj(cg_storage *s, const char *name, cg_storage_stat *st);

/* Reads a whole object into out (initialised by the caller with its
 * maximum; contents are appended). Returns 0, CG_EINVAL, CG_ENOTFOUND,
 * CG_ENOSPC (larger than out's maximum), CG_ENOMEM, CG_EIO. */
int cg_storage_get(cg_storage *s, const char *name, cg_dbuf *out);

/* Deletes an object. Returns 0, CG_EINVAL, CG_ENOTFOUND, CG_EIO. */
int cg_storage_del(cg_storage *s, const char *name);

/* Calls cb once per published object whose name starts with prefix + "/"
 * (or every object for prefix ""), in no particular order, with the full
 * name (borrowed for the call). Unpublished uploads are not listed. A
 * non-zero return from cb stops the walk and is returned. Returns 0,
 * CG_EINVAL, CG_ENOTFOUND (no such prefix), CG_EIO, or cb's value. */
typedef int (*cg_storage_list_cb)(void *arg, const char *name, const cg_storage_stat *st);
int cg_storage_list(cg_storage *s, const char *prefix, cg_storage_list_cb cb, void *arg);

/* Removes uploads that were started under prefix and never published (left
 * by a crash), and reports how many through *removed (may be NULL). Only
 * call it when nobody is writing under prefix. Returns 0, CG_EINVAL,
 * CG_EIO. */
int cg_storage_discard_partial(cg_storage *s, const char *prefix, size_t *removed);

/* Opens an object for reading; gives *out (close it with
 * cg_storage_obj_close). The object's size is fixed at open. Returns 0,
 * CG_EINVAL, CG_ENOTFOUND, CG_ENOMEM, CG_EIO. */
int cg_storage_open(cg_storage *s, const char *name, cg_storage_obj **out);
uint64_t cg_storage_obj_size(const cg_storage_obj *o);
uint64_t cg_storage_obj_mtime_us(const cg_storage_obj *o);
/* Reads up to len bytes at off into buf (borrowed); *got is how many
 * (0 at the end). Returns 0 or CG_EIO. */
int cg_storage_obj_read(cg_storage_obj *o, uint64_t off, void *buf, size_t len, size_t *got);
/* A file descriptor holding the object (borrowed, valid until close), for
 * zero-copy serving, or -1 when the backend has none: then use
 * cg_storage_obj_read. */
int cg_storage_obj_fd(const cg_storage_obj *o);
/* Accepts NULL. */
void cg_storage_obj_close(cg_storage_obj *o);

#endif
