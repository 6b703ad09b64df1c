/* Filesystem backend (see fs.h for the guarantees). All I/O is blocking:
 * callers are worker threads, never the media loop. */
#include "storage/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/random.h"
#include "storage/backend.h"

/* Directory nesting the walkers follow; names are short, so anything deeper
 * was not made by us. */
#define FS_MAX_DEPTH 32
/* Room for a name plus the ".<16 random>.tmp" suffix. */
#define FS_PATH_MAX (CG_STORAGE_NAME_MAX + 32)

typedef struct fs_store {
    cg_storage base;
    int root_fd;
    pthread_mutex_t fault_mu;
    int64_t fault_ok; /* bytes still allowed; < 0: no fault */
    int fault_err;
} fs_store;

typedef struct fs_obj {
    cg_storage_obj base;
    int fd;
} fs_obj;

static int err_from_errno(int e)
{
    switch (e) {
    case ENOSPC:
    case EDQUOT:
        return CG_ENOSPC;
    case ENOENT:
    case ENOTDIR:
        return CG_ENOTFOUND;
    case EEXIST:
        return CG_EEXIST;
    case ENOMEM:
        return CG_ENOMEM;
    default:
        return CG_EIO;
    }
}

/* How many of n bytes the fault hook lets through (n when off). */
static size_t fault_allow(fs_store *fs, size_t n)
{
    pthread_mutex_lock(&fs->fault_mu);
    if (fs->fault_ok >= 0) {
        if ((uint64_t)fs->fault_ok < n)
            n = (size_t)fs->fault_ok;
        fs->fault_ok -= (int64_t)n;
    }
    pthread_mutex_unlock(&fs->fault_mu);
    return n;
}

static int fault_errno(fs_store *fs)
{
    pthread_mutex_lock(&fs->fault_mu);
    int e = fs->fault_err;
    pthread_mutex_unlock(&fs->fault_mu);
    return e;
}

/* Writes all of data or returns a CG_E* code. */
static int write_all(fs_store *fs, int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len) {
        size_t allow = fault_allow(fs, len);
        if (allow == 0)
            return err_from_errno(fault_errno(fs));
        ssize_t n = write(fd, p, allow);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return err_from_errno(errno);
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static uint64_t mtime_us(const struct stat *st)
{
    return (uint64_t)st->st_mtim.tv_sec * 1000000u + (uint64_t)st->st_mtim.tv_nsec / 1000u;
}

/* Splits name at its last '/': copies the directory part into dir ("" for
 * a top-level name). */
static void dir_of(const char *name, char *dir, size_t cap)
{
    const char *slash = strrchr(name, '/');
    size_t n = slash ? (size_t)(slash - name) : 0;
    if (n >= cap)
        n = cap - 1;
    memcpy(dir, name, n);
    dir[n] = '\0';
}

/* mkdir -p of a name's directory, relative to the root. */
static int make_parents(fs_store *fs, const char *name)
{
    char path[FS_PATH_MAX];
    size_t len = strlen(name);
    if (len >= sizeof(path))
        return CG_EINVAL;
    memcpy(path, name, len + 1);
    for (size_t i = 0; i < len; i++) {
        if (path[i] != '/')
            continue;
        path[i] = '\0';
        if (mkdirat(fs->root_fd, path, 0755) != 0 && errno != EEXIST)
            return err_from_errno(errno);
        path[i] = '/';
    }
    return 0;
}

/* Opens the directory holding name, for fsync after a rename or create. */
static int open_parent(fs_store *fs, const char *name)
{
    char dir[FS_PATH_MAX];
    dir_of(name, dir, sizeof(dir));
    return openat(fs->root_fd, dir[0] ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static int sync_parent(fs_store *fs, const char *name)
{
    int dfd = open_parent(fs, name);
    if (dfd < 0)
        return err_from_errno(errno);
    int rc = fsync(dfd) == 0 ? 0 : err_from_errno(errno);
    close(dfd);
    return rc;
}

static int tmp_name(const char *name, char *out, size_t cap)
{
    char rnd[17];
    if (cg_random_token(rnd, 16))
        return CG_EIO;
    int n = snprintf(out, cap, "%s.%s.tmp", name, rnd);
    return n > 0 && (size_t)n < cap ? 0 : CG_EINVAL;
}

/* Moves the synced file tmp (relative to from_fd) to name, honouring
 * NOREPLACE atomically, then makes the rename durable. Sets *xdev when tmp
 * is on another filesystem (nothing was moved). */
static int publish(fs_store *fs, int from_fd, const char *tmp, const char *name, unsigned flags,
                   int *xdev)
{
    *xdev = 0;
    int r;
    if (flags & CG_STORAGE_NOREPLACE) {
        r = renameat2(from_fd, tmp, fs->root_fd, name, RENAME_NOREPLACE);
        if (r != 0 && (errno == EINVAL || errno == ENOSYS)) {
            /* Filesystem without RENAME_NOREPLACE: link() refuses an
             * existing target just as atomically. */
            r = linkat(from_fd, tmp, fs->root_fd, name, 0);
            if (r == 0)
                unlinkat(from_fd, tmp, 0);
        }
    } else {
        r = renameat(from_fd, tmp, fs->root_fd, name);
    }
    if (r != 0) {
        *xdev = errno == EXDEV;
        return err_from_errno(errno);
    }
    return sync_parent(fs, name);
}

static int fs_put(cg_storage *s, const char *name, const void *data, size_t len, unsigned flags)
{
    fs_store *fs = (fs_store *)s;
    char tmp[FS_PATH_MAX];
    int rc = make_parents(fs, name);
    if (!rc)
        rc = tmp_name(name, tmp, sizeof(tmp));
    if (rc)
        return rc;
    int fd = openat(fs->root_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return err_from_errno(errno);
    rc = write_all(fs, fd, data, len);
    if (!rc && fsync(fd) != 0)
        rc = err_from_errno(errno);
    if (close(fd) != 0 && !rc)
        rc = err_from_errno(errno);
    int xdev;
    if (!rc)
        rc = publish(fs, fs->root_fd, tmp, name, flags, &xdev);
    if (rc)
        unlinkat(fs->root_fd, tmp, 0); /* may already be gone: fine */
    return rc;
}

static int copy_fd(fs_store *fs, int in, int out)
{
    uint8_t buf[65536];
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return err_from_errno(errno);
        }
        if (n == 0)
            return 0;
        int rc = write_all(fs, out, buf, (size_t)n);
        if (rc)
            return rc;
    }
}

static int fs_put_file(cg_storage *s, const char *name, const char *local_path, unsigned flags)
{
    fs_store *fs = (fs_store *)s;
    int in = open(local_path, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return err_from_errno(errno);
    int rc = make_parents(fs, name);
    if (rc) {
        close(in);
        return rc;
    }
    /* Same filesystem: the file itself becomes the object. The caller may
     * not have synced it, so do that before it can be seen. */
    if (fsync(in) != 0) {
        rc = err_from_errno(errno);
        close(in);
        return rc;
    }
    int xdev;
    rc = publish(fs, AT_FDCWD, local_path, name, flags, &xdev);
    if (!xdev) {
        close(in);
        return rc;
    }
    /* Another filesystem: copy into a tmp beside the name. */
    char tmp[FS_PATH_MAX];
    rc = tmp_name(name, tmp, sizeof(tmp));
    if (rc) {
        close(in);
        return rc;
    }
    int out = openat(fs->root_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0) {
        rc = err_from_errno(errno);
        close(in);
        return rc;
    }
    rc = copy_fd(fs, in, out);
    close(in);
    if (!rc && fsync(out) != 0)
        rc = err_from_errno(errno);
    if (close(out) != 0 && !rc)
        rc = err_from_errno(errno);
    if (!rc)
        rc = publish(fs, fs->root_fd, tmp, name, flags, &xdev);
    if (rc)
        unlinkat(fs->root_fd, tmp, 0);
    else
        unlink(local_path);
    return rc;
}

static int fs_append(cg_storage *s, const char *name, const void *data, size_t len)
{
    fs_store *fs = (fs_store *)s;
    int rc = make_parents(fs, name);
    if (rc)
        return rc;
    int created = 1;
    int fd = openat(fs->root_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST) {
        created = 0;
        fd = openat(fs->root_fd, name, O_WRONLY | O_APPEND | O_CLOEXEC);
    }
    if (fd < 0)
        return err_from_errno(errno);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = err_from_errno(errno);
        close(fd);
        return rc;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return CG_EIO;
    }
    rc = write_all(fs, fd, data, len);
    if (!rc && fdatasync(fd) != 0)
        rc = err_from_errno(errno);
    if (rc) {
        /* Cut the partial record off so the next append starts clean. */
        if (created) {
            unlinkat(fs->root_fd, name, 0);
        } else if (ftruncate(fd, st.st_size) == 0) {
            fdatasync(fd);
        }
    }
    close(fd);
    if (!rc && created)
        rc = sync_parent(fs, name);
    return rc;
}

static int fs_stat(cg_storage *s, const char *name, cg_storage_stat *out)
{
    fs_store *fs = (fs_store *)s;
    struct stat st;
    if (fstatat(fs->root_fd, name, &st, 0) != 0)
        return err_from_errno(errno);
    if (!S_ISREG(st.st_mode))
        return CG_ENOTFOUND;
    out->size = (uint64_t)st.st_size;
    out->mtime_us = mtime_us(&st);
    return 0;
}

static int fs_del(cg_storage *s, const char *name)
{
    fs_store *fs = (fs_store *)s;
    if (unlinkat(fs->root_fd, name, 0) != 0)
        return errno == EISDIR ? CG_ENOTFOUND : err_from_errno(errno);
    return 0;
}

/* Depth-first walk over the regular files under the directory dfd (which
 * it closes), whose name relative to the root is in path[0..len). */
typedef int (*walk_fn)(fs_store *fs, int dfd, const char *leaf, const char *path,
                       const struct stat *st, void *arg);

static int walk(fs_store *fs, int dfd, char *path, size_t len, int depth, walk_fn fn, void *arg)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return err_from_errno(errno);
    }
    int rc = 0;
    struct dirent *e;
    while (!rc && (errno = 0, e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        size_t n = strlen(e->d_name);
        size_t sep = len ? 1 : 0;
        if (len + sep + n > CG_STORAGE_NAME_MAX)
            continue; /* cannot be one of ours */
        if (sep)
            path[len] = '/';
        memcpy(path + len + sep, e->d_name, n + 1);
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, 0) != 0)
            continue; /* deleted under us */
        if (S_ISDIR(st.st_mode)) {
            if (depth >= FS_MAX_DEPTH)
                continue;
            int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (sub >= 0)
                rc = walk(fs, sub, path, len + sep + n, depth + 1, fn, arg);
        } else if (S_ISREG(st.st_mode)) {
            rc = fn(fs, dirfd(d), e->d_name, path, &st, arg);
        }
        path[len] = '\0';
    }
    closedir(d);
    return rc;
}

static int open_prefix(fs_store *fs, const char *prefix, char *path)
{
    size_t len = strlen(prefix);
    memcpy(path, prefix, len + 1);
    int dfd = openat(fs->root_fd, prefix[0] ? prefix : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return dfd < 0 ? err_from_errno(errno) : dfd;
}

typedef struct list_ctx {
    cg_storage_list_cb cb;
    void *arg;
} list_ctx;

static int list_one(fs_store *fs, int dfd, const char *leaf, const char *path,
                    const struct stat *st, void *arg)
{
    list_ctx *c = arg;
    /* Unpublished uploads and foreign files with names we could never
     * have written are not objects. */
    if (!cg_storage_name_valid(path))
        return 0;
    cg_storage_stat ost = {.size = (uint64_t)st->st_size, .mtime_us = mtime_us(st)};
    return c->cb(c->arg, path, &ost);
}

static int fs_list(cg_storage *s, const char *prefix, cg_storage_list_cb cb, void *arg)
{
    fs_store *fs = (fs_store *)s;
    char path[CG_STORAGE_NAME_MAX + 1];
    int dfd = open_prefix(fs, prefix, path);
    if (dfd < 0)
        return dfd;
    list_ctx c = {.cb = cb, .arg = arg};
    return walk(fs, dfd, path, strlen(path), 0, list_one, &c);
}

static int discard_one(fs_store *fs, int dfd, const char *leaf, const char *path,
                       const struct stat *st, void *arg)
{
    size_t n = strlen(leaf);
    if (n > 4 && strcmp(leaf + n - 4, ".tmp") == 0 && unlinkat(dfd, leaf, 0) == 0)
        (*(size_t *)arg)++;
    return 0;
}

static int fs_discard_partial(cg_storage *s, const char *prefix, size_t *removed)
{
    fs_store *fs = (fs_store *)s;
    char path[CG_STORAGE_NAME_MAX + 1];
    *removed = 0;
    int dfd = open_prefix(fs, prefix, path);
    if (dfd == CG_ENOTFOUND)
        return 0; /* nothing was ever written there */
    if (dfd < 0)
        return dfd;
    return walk(fs, dfd, path, strlen(path), 0, discard_one, removed);
}

static int obj_read(cg_storage_obj *o, uint64_t off, void *buf, size_t len, size_t *got)
{
    fs_obj *f = (fs_obj *)o;
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(f->fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return CG_EIO;
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    *got = done;
    return 0;
}

static int obj_fd(const cg_storage_obj *o)
{
    return ((const fs_obj *)o)->fd;
}

static void obj_close(cg_storage_obj *o)
{
    fs_obj *f = (fs_obj *)o;
    close(f->fd);
    free(f);
}

static const cg_storage_obj_ops fs_obj_ops = {
    .read = obj_read,
    .fd = obj_fd,
    .close = obj_close,
};

static int fs_open(cg_storage *s, const char *name, cg_storage_obj **out)
{
    fs_store *fs = (fs_store *)s;
    int fd = openat(fs->root_fd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_from_errno(errno);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return CG_ENOTFOUND;
    }
    fs_obj *f = calloc(1, sizeof(*f));
    if (!f) {
        close(fd);
        return CG_ENOMEM;
    }
    f->base.ops = &fs_obj_ops;
    f->base.size = (uint64_t)st.st_size;
    f->base.mtime_us = mtime_us(&st);
    f->fd = fd;
    *out = &f->base;
    return 0;
}

static void fs_destroy(cg_storage *s)
{
    fs_store *fs = (fs_store *)s;
    if (fs->root_fd >= 0)
        close(fs->root_fd);
    pthread_mutex_destroy(&fs->fault_mu);
    free(fs);
}

static const cg_storage_ops fs_ops = {
    .name = "fs",
    .put = fs_put,
    .put_file = fs_put_file,
    .append = fs_append,
    .stat = fs_stat,
    .del = fs_del,
    .list = fs_list,
    .discard_partial = fs_discard_partial,
    .open = fs_open,
    .destroy = fs_destroy,
};

/* mkdir -p for the root itself, which is a host path, not an object name. */
static int mkdir_p(const char *dir)
{
    char path[PATH_MAX];
    size_t len = strlen(dir);
    if (len == 0 || len >= sizeof(path))
        return CG_EINVAL;
    memcpy(path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char c = path[i];
        path[i] = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return CG_EIO;
        path[i] = c;
    }
    return 0;
}

int cg_storage_fs_new(cg_storage **out, const char *root_dir)
{
    if (!out || !root_dir || !root_dir[0])
        return CG_EINVAL;
    int rc = mkdir_p(root_dir);
    if (rc)
        return rc;
    fs_store *fs = calloc(1, sizeof(*fs));
    if (!fs)
        return CG_ENOMEM;
    fs->base.ops = &fs_ops;
    fs->fault_ok = -1;
    pthread_mutex_init(&fs->fault_mu, NULL);
    fs->root_fd = open(root_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fs->root_fd < 0) {
        rc = CG_EIO;
        goto fail;
    }
    *out = &fs->base;
    return 0;
fail:
    fs_destroy(&fs->base);
    return rc;
}

void cg_storage_fs_set_fault(cg_storage *s, int64_t ok_bytes, int err)
{
    fs_store *fs = (fs_store *)s;
    pthread_mutex_lock(&fs->fault_mu);
    fs->fault_ok = ok_bytes;
    fs->fault_err = err;
    pthread_mutex_unlock(&fs->fault_mu);
}
