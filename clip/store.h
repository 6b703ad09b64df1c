/* Persisted clips: clips cut once and kept in storage apart from their
 * recording, so they outlive its retention.
 *
 * Storage layout: clips/<id>/clip.mp4 (faststart MP4), clips/<id>/clip.m3u8
 * (VOD playlist) with copies of the init and media segments it names
 * (init*.mp4, seg-*.m4s), and clips/<id>/clip.json, the metadata. clip.json
 * is written last: a clip exists once its metadata does, so a crash while
 * writing leaves unlisted files and never a listed clip without its media.
 *
 * Threads: the registry is a list under one mutex, held only to copy
 * metadata; storage I/O (loading at startup, deleting) runs on the
 * caller's thread without the lock. */
#ifndef CG_CLIP_STORE_H
#define CG_CLIP_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "packager/timeline.h"
#include "storage/storage.h"

typedef struct cg_clip_store cg_clip_store;

/* Storage prefix under which clips live. */
#define CG_CLIP_PREFIX "clips"
#define CG_CLIP_ID_LEN 16 /* random [A-Za-z0-9] characters */
#define CG_CLIP_TITLE_MAX 200

/* One clip's metadata. Times are microseconds since the broadcast began. */
typedef struct cg_clip_meta {
    char id[CG_CLIP_ID_LEN + 1];
    char broadcast[CG_TL_ID_MAX + 1];
    char title[CG_CLIP_TITLE_MAX + 1];
    int mode; /* enum cg_clip_mode */
    int64_t req_start_us, req_duration_us;
    int64_t start_us, duration_us, keyframe_us;
    uint64_t created_wall_us;
    uint64_t bytes; /* size of clip.mp4 */
} cg_clip_meta;

/* Gives a store over st (borrowed; must outlive it) holding every clip
 * whose clips/<id>/clip.json is in the store (blocking I/O: call before
 * serving). Unreadable metadata is skipped with a warning.
 * Returns 0, CG_ENOMEM, CG_EIO. */
int cg_clip_store_new(cg_clip_store **out, cg_storage *st);
/* Accepts NULL. */
void cg_clip_store_free(cg_clip_store *cs);

/* Writes a fresh random id (CG_CLIP_ID_LEN + 1 bytes). Returns 0 or CG_EIO. */
int cg_clip_store_make_id(char *out, size_t cap);
/* 1 if id has the shape of a clip id. */
int cg_clip_id_valid(const char *id);

/* Object name of a clip's file leaf ("clip.mp4") into out. Returns 0,
 * CG_EINVAL or CG_ENOSPC. */
int cg_clip_store_name(const char *id, const char *leaf, char *out, size_t cap);

/* Writes clips/<id>/clip.json from m (borrowed) and registers the clip;
 * its media files must already be stored. Returns 0, CG_EINVAL, CG_EEXIST,
 * CG_ENOSPC, CG_ENOMEM, CG_EIO. */
int cg_clip_store_commit(cg_clip_store *cs, const cg_clip_meta *m);

/* Told of every clip committed (m borrowed for the call), on the
 * committing thread (an HTTP handler) once the clip is listed. Do not
 * block and do not call back into the store. */
typedef void (*cg_clip_store_listener_fn)(void *arg, const cg_clip_meta *m);
/* Sets the listener (NULL: none) before the store is used by other
 * threads; fn and arg must outlive the store. */
void cg_clip_store_set_listener(cg_clip_store *cs, cg_clip_store_listener_fn fn, void *arg);

/* Copies the clip's metadata into *out. Returns 0, CG_ENOTFOUND. */
int cg_clip_store_get(cg_clip_store *cs, const char *id, cg_clip_meta *out);

/* Gives every clip (of broadcast, when not NULL), newest first, as a
 * malloc'ed array (free() it). Returns 0 or CG_ENOMEM. */
int cg_clip_store_list(cg_clip_store *cs, const char *broadcast, cg_clip_meta **out, size_t *n);

/* Unregisters the clip and deletes every object under clips/<id>/.
 * Returns 0, CG_ENOTFOUND, CG_EIO. */
int cg_clip_store_delete(cg_clip_store *cs, const char *id);

/* Deletes every object under clips/<id>/ (a clip that failed half-way).
 * Returns 0 or CG_EIO. */
int cg_clip_store_purge(cg_clip_store *cs, const char *id);

/* Appends the metadata as JSON text (the clip.json form, also the API's)
 * to out. Returns 0, CG_ENOMEM or out's error. */
int cg_clip_meta_format(const cg_clip_meta *m, cg_dbuf *out);
/* Parses the clip.json form (borrowed text). Returns 0 or CG_EPROTO. */
int cg_clip_meta_parse(const char *text, size_t len, cg_clip_meta *out);

#endif
