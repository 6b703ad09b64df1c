/* Filesystem backend: atomic publish, no escape from the root, failures
 * that leave earlier objects intact and no partial files behind. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/err.h"
#include "storage/fs.h"
#include "storage/storage.h"
#include "cg_test.h"

static char base[256]; /* test scratch directory */
static char root[300]; /* the store's root, inside base */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void rm_rf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int exists(const char *rel_to_base)
{
    char p[600];
    struct stat st;
    snprintf(p, sizeof(p), "%s/%s", base, rel_to_base);
    return stat(p, &st) == 0;
}

/* Counts files whose name ends in ".tmp" anywhere under dir. */
static size_t tmp_count;
static int count_tmp(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    size_t n = strlen(path);
    if (flag == FTW_F && n > 4 && strcmp(path + n - 4, ".tmp") == 0)
        tmp_count++;
    return 0;
}

static size_t tmp_files(void)
{
    tmp_count = 0;
    nftw(root, count_tmp, 16, FTW_PHYS);
    return tmp_count;
}

static cg_storage *new_store(void)
{
    rm_rf(root);
    cg_storage *s = NULL;
    CHECK_INT(cg_storage_fs_new(&s, root), 0);
    return s;
}

static int get_str(cg_storage *s, const char *name, char *out, size_t cap)
{
    cg_dbuf d;
    cg_dbuf_init(&d, cap);
    int rc = cg_storage_get(s, name, &d);
    snprintf(out, cap, "%s", rc ? "" : cg_dbuf_str(&d));
    cg_dbuf_free(&d);
    return rc;
}

static void test_put_get(void)
{
    cg_storage *s = new_store();
    char buf[256];
    CHECK_STR(cg_storage_backend(s), "fs");
    CHECK_INT(cg_storage_put(s, "b1/seg-0.m4s", "hello", 5, CG_STORAGE_NOREPLACE), 0);
    CHECK_INT(get_str(s, "b1/seg-0.m4s", buf, sizeof(buf)), 0);
    CHECK_STR(buf, "hello");
    /* Published segments are never rewritten. */
    CHECK_INT(cg_storage_put(s, "b1/seg-0.m4s", "XX", 2, CG_STORAGE_NOREPLACE), CG_EEXIST);
    CHECK_INT(get_str(s, "b1/seg-0.m4s", buf, sizeof(buf)), 0);
    CHECK_STR(buf, "hello");
    /* Without NOREPLACE an object is replaced whole (indexes, playlists). */
    CHECK_INT(cg_storage_put(s, "b1/index.jsonl", "one\n", 4, 0), 0);
    CHECK_INT(cg_storage_put(s, "b1/index.jsonl", "two\n", 4, 0), 0);
    CHECK_INT(get_str(s, "b1/index.jsonl", buf, sizeof(buf)), 0);
    CHECK_STR(buf, "two\n");
    CHECK_INT(tmp_files(), 0);

    cg_storage_stat st;
    CHECK_INT(cg_storage_stat_obj(s, "b1/seg-0.m4s", &st), 0);
    CHECK_INT(st.size, 5);
    CHECK(st.mtime_us > 0);
    CHECK_INT(cg_storage_stat_obj(s, "b1/nope", &st), CG_ENOTFOUND);
    CHECK_INT(cg_storage_stat_obj(s, "b1", &st), CG_ENOTFOUND); /* a directory */

    cg_storage_obj *o = NULL;
    CHECK_INT(cg_storage_open(s, "b1/seg-0.m4s", &o), 0);
    CHECK_INT(cg_storage_obj_size(o), 5);
    CHECK(cg_storage_obj_fd(o) >= 0);
    size_t got = 0;
    CHECK_INT(cg_storage_obj_read(o, 1, buf, 3, &got), 0);
    CHECK_INT(got, 3);
    CHECK_MEM(buf, "ell", 3);
    CHECK_INT(cg_storage_obj_read(o, 3, buf, 100, &got), 0);
    CHECK_INT(got, 2);
    CHECK_INT(cg_storage_obj_read(o, 5, buf, 100, &got), 0);
    CHECK_INT(got, 0);
    cg_storage_obj_close(o);
    CHECK_INT(cg_storage_open(s, "b1/missing", &o), CG_ENOTFOUND);

    /* get refuses objects larger than the caller's bound. */
    cg_dbuf d;
    cg_dbuf_init(&d, 5);
    CHECK_INT(cg_storage_get(s, "b1/seg-0.m4s", &d), CG_ENOSPC);
    cg_dbuf_free(&d);

    CHECK_INT(cg_storage_del(s, "b1/seg-0.m4s"), 0);
    CHECK_INT(cg_storage_del(s, "b1/seg-0.m4s"), CG_ENOTFOUND);
    CHECK_INT(cg_storage_put(s, "empty", "", 0, 0), 0);
    CHECK_INT(cg_storage_stat_obj(s, "empty", &st), 0);
    CHECK_INT(st.size, 0);
    cg_storage_free(s);
    cg_storage_free(NULL);
}

static int count_calls(void *arg, const char *name, const cg_storage_stat *st)
{
    return 0;
}

static void test_traversal(void)
{
    cg_storage *s = new_store();
    static const char *const bad[] = {"../x",   "/etc/passwd",     "a/../../b", "a//b",
                                      "%2e%2e", "../outside/evil", "x.tmp"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_INT(cg_storage_put(s, bad[i], "x", 1, 0), CG_EINVAL);
        CHECK_INT(cg_storage_append(s, bad[i], "x", 1), CG_EINVAL);
        CHECK_INT(cg_storage_del(s, bad[i]), CG_EINVAL);
        cg_storage_obj *o = NULL;
        CHECK_INT(cg_storage_open(s, bad[i], &o), CG_EINVAL);
        cg_storage_stat st;
        CHECK_INT(cg_storage_stat_obj(s, bad[i], &st), CG_EINVAL);
        CHECK_INT(cg_storage_list(s, bad[i], count_calls, NULL), CG_EINVAL);
    }
    /* Nothing appeared beside the root. */
    CHECK(!exists("x"));
    CHECK(!exists("outside"));
    CHECK(!exists("b"));
    /* A file planted next to the root cannot be read through the store. */
    char p[600];
    snprintf(p, sizeof(p), "%s/secret", base);
    FILE *f = fopen(p, "w");
    fputs("secret", f);
    fclose(f);
    cg_storage_obj *o = NULL;
    CHECK_INT(cg_storage_open(s, "../secret", &o), CG_EINVAL);
    CHECK(o == NULL);
    /* Dotted names that are not traversal stay inside. */
    CHECK_INT(cg_storage_put(s, "..a", "in", 2, 0), 0);
    snprintf(p, sizeof(p), "%s/..a", root);
    struct stat st;
    CHECK_INT(stat(p, &st), 0);
    cg_storage_free(s);
}

static int collect(void *arg, const char *name, const cg_storage_stat *st)
{
    cg_dbuf *d = arg;
    /* Sorted insertion is not needed: the test checks membership. */
    cg_dbuf_printf(d, "[%s:%llu]", name, (unsigned long long)st->size);
    return 0;
}

static int stop_at_first(void *arg, const char *name, const cg_storage_stat *st)
{
    (*(int *)arg)++;
    return 42;
}

static void test_list_and_discard(void)
{
    cg_storage *s = new_store();
    CHECK_INT(cg_storage_put(s, "a/b/1", "1", 1, 0), 0);
    CHECK_INT(cg_storage_put(s, "a/b/2", "22", 2, 0), 0);
    CHECK_INT(cg_storage_put(s, "a/c", "333", 3, 0), 0);
    CHECK_INT(cg_storage_put(s, "ab", "4444", 4, 0), 0);
    /* A crash leftover: an upload never renamed into place. */
    char p[600];
    snprintf(p, sizeof(p), "%s/a/b/3.Zx81.tmp", root);
    FILE *f = fopen(p, "w");
    fputs("partial", f);
    fclose(f);

    cg_dbuf d;
    cg_dbuf_init(&d, 4096);
    CHECK_INT(cg_storage_list(s, "a", collect, &d), 0);
    const char *l = cg_dbuf_str(&d);
    CHECK(strstr(l, "[a/b/1:1]") != NULL);
    CHECK(strstr(l, "[a/b/2:2]") != NULL);
    CHECK(strstr(l, "[a/c:3]") != NULL);
    CHECK(strstr(l, "ab:") == NULL); /* "ab" is not under "a/" */
    CHECK(strstr(l, "tmp") == NULL);
    cg_dbuf_free(&d);
    cg_dbuf_init(&d, 4096);
    CHECK_INT(cg_storage_list(s, "", collect, &d), 0);
    CHECK(strstr(cg_dbuf_str(&d), "[ab:4]") != NULL);
    CHECK(strstr(cg_dbuf_str(&d), "[a/c:3]") != NULL);
    cg_dbuf_free(&d);
    int calls = 0;
    CHECK_INT(cg_storage_list(s, "a", stop_at_first, &calls), 42);
    CHECK_INT(calls, 1);
    CHECK_INT(cg_storage_list(s, "nope", collect, &d), CG_ENOTFOUND);

    size_t removed = 99;
    CHECK_INT(cg_storage_discard_partial(s, "a", &removed), 0);
    CHECK_INT(removed, 1);
    CHECK_INT(tmp_files(), 0);
    CHECK_INT(cg_storage_discard_partial(s, "never/written", &removed), 0);
    CHECK_INT(removed, 0);
    cg_storage_free(s);
}

static void test_write_failure(void)
{
    cg_storage *s = new_store();
    char buf[64];
    static char big[4000];
    memset(big, 'z', sizeof(big));
    CHECK_INT(cg_storage_put(s, "b/seg-0.m4s", "first", 5, CG_STORAGE_NOREPLACE), 0);
    /* The disk fills up part way through the next segment. */
    cg_storage_fs_set_fault(s, 1000, ENOSPC);
    CHECK_INT(cg_storage_put(s, "b/seg-1.m4s", big, sizeof(big), CG_STORAGE_NOREPLACE), CG_ENOSPC);
    cg_storage_stat st;
    CHECK_INT(cg_storage_stat_obj(s, "b/seg-1.m4s", &st), CG_ENOTFOUND);
    CHECK_INT(tmp_files(), 0);
    CHECK_INT(get_str(s, "b/seg-0.m4s", buf, sizeof(buf)), 0);
    CHECK_STR(buf, "first");
    /* A replace that fails keeps the old object whole. */
    CHECK_INT(cg_storage_put(s, "b/seg-0.m4s", big, sizeof(big), 0), CG_ENOSPC);
    CHECK_INT(get_str(s, "b/seg-0.m4s", buf, sizeof(buf)), 0);
    CHECK_STR(buf, "first");
    /* Other errors map to CG_EIO. */
    cg_storage_fs_set_fault(s, 0, EIO);
    CHECK_INT(cg_storage_put(s, "b/seg-1.m4s", "x", 1, 0), CG_EIO);
    CHECK_INT(tmp_files(), 0);
    /* Space comes back: writing resumes. */
    cg_storage_fs_set_fault(s, -1, 0);
    CHECK_INT(cg_storage_put(s, "b/seg-1.m4s", big, sizeof(big), CG_STORAGE_NOREPLACE), 0);
    CHECK_INT(cg_storage_stat_obj(s, "b/seg-1.m4s", &st), 0);
    CHECK_INT(st.size, sizeof(big));
    cg_storage_free(s);
}

static void test_append(void)
{
    cg_storage *s = new_store();
    char buf[128];
    CHECK_INT(cg_storage_append(s, "b/index.jsonl", "line1\n", 6), 0);
    CHECK_INT(cg_storage_append(s, "b/index.jsonl", "line2\n", 6), 0);
    CHECK_INT(get_str(s, "b/index.jsonl", buf, sizeof(buf)), 0);
    CHECK_STR(buf, "line1\nline2\n");
    /* A torn append is cut back: the index never holds half a record. */
    cg_storage_fs_set_fault(s, 3, ENOSPC);
    CHECK_INT(cg_storage_append(s, "b/index.jsonl", "line3\n", 6), CG_ENOSPC);
    CHECK_INT(get_str(s, "b/index.jsonl", buf, sizeof(buf)), 0);
    CHECK_STR(buf, "line1\nline2\n");
    /* A first append that fails leaves no object. */
    cg_storage_fs_set_fault(s, 2, ENOSPC);
    CHECK_INT(cg_storage_append(s, "c/index.jsonl", "head\n", 5), CG_ENOSPC);
    cg_storage_stat st;
    CHECK_INT(cg_storage_stat_obj(s, "c/index.jsonl", &st), CG_ENOTFOUND);
    cg_storage_fs_set_fault(s, -1, 0);
    CHECK_INT(cg_storage_append(s, "b/index.jsonl", "line3\n", 6), 0);
    CHECK_INT(get_str(s, "b/index.jsonl", buf, sizeof(buf)), 0);
    CHECK_STR(buf, "line1\nline2\nline3\n");
    cg_storage_free(s);
}

static void write_local(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_put_file(void)
{
    cg_storage *s = new_store();
    char local[600], buf[64];
    struct stat st;
    /* Same filesystem: the file is moved in. */
    snprintf(local, sizeof(local), "%s/clip-local.mp4", base);
    write_local(local, "clipdata");
    CHECK_INT(cg_storage_put_file(s, "clips/c1.mp4", local, CG_STORAGE_NOREPLACE), 0);
    CHECK(stat(local, &st) != 0);
    CHECK_INT(get_str(s, "clips/c1.mp4", buf, sizeof(buf)), 0);
    CHECK_STR(buf, "clipdata");
    write_local(local, "other");
    CHECK_INT(cg_storage_put_file(s, "clips/c1.mp4", local, CG_STORAGE_NOREPLACE), CG_EEXIST);
    CHECK_INT(stat(local, &st), 0); /* left for the caller */
    unlink(local);
    CHECK_INT(cg_storage_put_file(s, "clips/c2.mp4", local, 0), CG_ENOTFOUND);

    /* Another filesystem (tmpfs, when there is one): copied, then removed. */
    struct statvfs a, b;
    if (statvfs("/dev/shm", &a) == 0 && statvfs(root, &b) == 0 && a.f_fsid != b.f_fsid) {
        snprintf(local, sizeof(local), "/dev/shm/cg-fs-test-%d.mp4", (int)getpid());
        write_local(local, "across");
        CHECK_INT(cg_storage_put_file(s, "clips/c3.mp4", local, 0), 0);
        CHECK(stat(local, &st) != 0);
        CHECK_INT(get_str(s, "clips/c3.mp4", buf, sizeof(buf)), 0);
        CHECK_STR(buf, "across");
        CHECK_INT(tmp_files(), 0);
        unlink(local);
    } else {
        fprintf(stderr, "note: no second filesystem, cross-device copy not exercised\n");
    }
    cg_storage_free(s);
}

/* A real full disk: a 64 KiB tmpfs in a private mount namespace (needs
 * root; skipped otherwise). Runs in a child so the namespace dies with it. */
static void test_real_enospc(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
            _exit(77);
        char mnt[600];
        snprintf(mnt, sizeof(mnt), "%s/tiny", base);
        mkdir(mnt, 0755);
        if (mount("tmpfs", mnt, "tmpfs", 0, "size=64k") != 0)
            _exit(77);
        char r[700];
        snprintf(r, sizeof(r), "%s/data", mnt);
        cg_storage *s = NULL;
        if (cg_storage_fs_new(&s, r) != 0)
            _exit(1);
        int fails = 0;
        static char chunk[16384];
        memset(chunk, 'q', sizeof(chunk));
        if (cg_storage_put(s, "b/seg-0.m4s", chunk, 1000, 0) != 0)
            fails++;
        int rc = 0;
        char name[64];
        /* Fill the disk segment by segment until it refuses. */
        for (int i = 1; i < 64 && rc == 0; i++) {
            snprintf(name, sizeof(name), "b/seg-%d.m4s", i);
            rc = cg_storage_put(s, name, chunk, sizeof(chunk), CG_STORAGE_NOREPLACE);
        }
        if (rc != CG_ENOSPC)
            fails++;
        cg_storage_stat st;
        if (cg_storage_stat_obj(s, name, &st) != CG_ENOTFOUND)
            fails++;
        if (cg_storage_stat_obj(s, "b/seg-0.m4s", &st) != 0 || st.size != 1000)
            fails++;
        /* The refused upload left no tmp file behind. */
        char bdir[800];
        snprintf(bdir, sizeof(bdir), "%s/b", r);
        DIR *d = opendir(bdir);
        struct dirent *e;
        while (d && (e = readdir(d)))
            if (strstr(e->d_name, ".tmp"))
                fails++;
        if (d)
            closedir(d);
        cg_storage_free(s);
        umount(mnt);
        _exit(fails ? 1 : 0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
        fprintf(stderr, "note: cannot mount a tmpfs here, real ENOSPC not exercised\n");
        return;
    }
    CHECK(WIFEXITED(status));
    CHECK_INT(WEXITSTATUS(status), 0);
}

int main(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(base, sizeof(base), "%s/cg-fs-test-XXXXXX", t && t[0] ? t : "/tmp");
    if (!mkdtemp(base)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(root, sizeof(root), "%s/data", base);
    RUN(test_put_get);
    RUN(test_traversal);
    RUN(test_list_and_discard);
    RUN(test_write_failure);
    RUN(test_append);
    RUN(test_put_file);
    RUN(test_real_enospc);
    rm_rf(base);
    return TEST_RESULT();
}
