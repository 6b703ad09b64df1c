/* The contract between the storage front (storage/storage.c) and a backend.
 * Only backends include this. The front has validated every name and
 * prefix before an op is called, so a backend may map names to its own
 * namespace directly. Ops return the codes documented in storage.h. */
#ifndef CG_STORAGE_BACKEND_H
#define CG_STORAGE_BACKEND_H

#include "storage/storage.h"

typedef struct cg_storage_ops {
    const char *name;
    int (*put)(cg_storage *s, const char *name, const void *data, size_t len, unsigned flags);
    int (*put_file)(cg_storage *s, const char *name, const char *local_path, unsigned flags);
    int (*append)(cg_storage *s, const char *name, const void *data, size_t len);
    int (*stat)(cg_storage *s, const char *name, cg_storage_stat *st);
    int (*del)(cg_storage *s, const char *name);
    int (*list)(cg_storage *s, const char *prefix, cg_storage_list_cb cb, void *arg);
    int (*discard_partial)(cg_storage *s, const char *prefix, size_t *removed);
    int (*open)(cg_storage *s, const char *name, cg_storage_obj **out);
    /* Frees the backend, including the cg_storage it is embedded in. */
    void (*destroy)(cg_storage *s);
} cg_storage_ops;

/* A backend embeds this as its first member. */
struct cg_storage {
    const cg_storage_ops *ops;
};

typedef struct cg_storage_obj_ops {
    int (*read)(cg_storage_obj *o, uint64_t off, void *buf, size_t len, size_t *got);
    int (*fd)(const cg_storage_obj *o);
    void (*close)(cg_storage_obj *o);
} cg_storage_obj_ops;

/* An open object embeds this as its first member; size and mtime are
 * filled at open. */
struct cg_storage_obj {
    const cg_storage_obj_ops *ops;
    uint64_t size;
    uint64_t mtime_us;
};

#endif
