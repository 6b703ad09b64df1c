/* Index persistence and crash recovery on the filesystem store: after a
 * simulated kill -9 (torn last line, a segment renamed but never indexed,
 * an upload never renamed), recovery keeps exactly the complete segments. */
#include <errno.h>

#include "core/err.h"
#include "packager/index.h"
#include "storage/fs.h"
#include "media_util.h"
#include "cg_test.h"

static char base[256];

static cg_storage *store(void)
{
    char root[400];
    snprintf(root, sizeof(root), "%s/data", base);
    mu_rm_rf(root);
    cg_storage *st = NULL;
    CHECK_INT(cg_storage_fs_new(&st, root), 0);
    return st;
}

static int exists(cg_storage *st, const char *name)
{
    cg_storage_stat s;
    return cg_storage_stat_obj(st, name, &s) == 0;
}

static void get_text(cg_storage *st, const char *name, cg_dbuf *d)
{
    cg_dbuf_init(d, 1 << 20);
    CHECK_INT(cg_storage_get(st, name, d), 0);
}

/* A broadcast that published n segments of 2 s, each 100+i bytes. */
static void publish(cg_storage *st, const char *dir, int n)
{
    cg_tl_info info = {.timescale = 90000, .start_wall_us = 1700000000000000ull};
    memcpy(info.id, "b1", 3);
    CHECK_INT(cg_index_create(st, dir, &info), 0);
    char name[256];
    snprintf(name, sizeof(name), "%s/init.mp4", dir);
    CHECK_INT(cg_storage_put(st, name, "init", 4, CG_STORAGE_NOREPLACE), 0);
    for (int i = 0; i < n; i++) {
        char body[200];
        memset(body, 'a' + i, sizeof(body));
        snprintf(name, sizeof(name), "%s/seg-%d.m4s", dir, i);
        CHECK_INT(cg_storage_put(st, name, body, 100 + (size_t)i, CG_STORAGE_NOREPLACE), 0);
        int64_t key = (int64_t)i * 180000;
        cg_tl_segment s = {.seq = (uint64_t)i,
                           .start = key,
                           .duration = 180000,
                           .wall_us = 1700000000000000ull + (uint64_t)i * 2000000u,
                           .bytes = 100 + (uint64_t)i,
                           .keys = &key,
                           .nkeys = 1};
        CHECK_INT(cg_index_append_segment(st, dir, &s, 90000), 0);
    }
}

static void test_create_load(void)
{
    cg_storage *st = store();
    publish(st, "rec/b1", 2);
    cg_tl_info info = {.timescale = 90000};
    memcpy(info.id, "b1", 3);
    /* Broadcast ids are unique: a second index is refused. */
    CHECK_INT(cg_index_create(st, "rec/b1", &info), CG_EEXIST);
    cg_timeline *tl = NULL;
    cg_tl_load_report rep;
    CHECK_INT(cg_index_load(st, "rec/b1", &tl, &rep), 0);
    CHECK_INT(cg_timeline_count(tl), 2);
    CHECK_INT(rep.bad_lines, 0);
    CHECK_INT(rep.torn_tail, 0);
    cg_timeline_unref(tl);
    CHECK_INT(cg_index_load(st, "rec/none", &tl, &rep), CG_ENOTFOUND);
    CHECK_INT(cg_index_load(st, "../x", &tl, &rep), CG_EINVAL);
    CHECK_INT(cg_storage_put(st, "rec/junk/index.jsonl", "junk\n", 5, 0), 0);
    CHECK_INT(cg_index_load(st, "rec/junk", &tl, &rep), CG_EPROTO);

    /* A full disk while appending leaves the index as it was. */
    cg_dbuf before, after;
    get_text(st, "rec/b1/index.jsonl", &before);
    cg_storage_fs_set_fault(st, 10, ENOSPC);
    int64_t key = 360000;
    cg_tl_segment s = {
        .seq = 2, .start = 360000, .duration = 180000, .bytes = 1, .keys = &key, .nkeys = 1};
    CHECK_INT(cg_index_append_segment(st, "rec/b1", &s, 90000), CG_ENOSPC);
    cg_storage_fs_set_fault(st, -1, 0);
    get_text(st, "rec/b1/index.jsonl", &after);
    CHECK_STR(cg_dbuf_str(&after), cg_dbuf_str(&before));
    cg_dbuf_free(&before);
    cg_dbuf_free(&after);
    cg_storage_free(st);
}

static void test_recover_after_kill(void)
{
    cg_storage *st = store();
    publish(st, "rec/b1", 4);
    /* The crash: seg-4 was renamed into place, its line torn mid-write;
     * seg-5 was still an upload; a reconnect's init-1 never got a
     * segment indexed. */
    CHECK_INT(cg_storage_put(st, "rec/b1/seg-4.m4s", "eeee", 4, CG_STORAGE_NOREPLACE), 0);
    const char torn[] = "{\"type\":\"segment\",\"seq\":4,\"start\":720000,\"dur";
    CHECK_INT(cg_storage_append(st, "rec/b1/index.jsonl", torn, sizeof(torn) - 1), 0);
    CHECK_INT(cg_storage_put(st, "rec/b1/init-1.mp4", "i1", 2, 0), 0);
    char tmp[600];
    snprintf(tmp, sizeof(tmp), "%s/data/rec/b1/seg-5.m4s.Qw3rTy.tmp", base);
    FILE *f = fopen(tmp, "w");
    fputs("half a segment", f);
    fclose(f);
    /* Files that are not ours are left alone. */
    CHECK_INT(cg_storage_put(st, "rec/b1/notes.txt", "mine", 4, 0), 0);

    cg_timeline *tl = NULL;
    cg_index_recovery rep;
    CHECK_INT(cg_index_recover(st, "rec/b1", &tl, &rep), 0);
    CHECK_INT(rep.load.torn_tail, 1);
    CHECK_INT(rep.load.bad_lines, 0);
    CHECK_INT(rep.missing, 0);
    CHECK_INT(rep.partial_removed, 1);
    CHECK_INT(rep.orphans_removed, 2);
    CHECK_INT(rep.rewritten, 1);
    CHECK_INT(rep.ended_now, 1);
    cg_tl_info info;
    cg_timeline_info(tl, &info);
    CHECK_INT(cg_timeline_count(tl), 4);
    CHECK_INT(info.state, CG_TL_ENDED);
    /* Ends where the last complete segment ends, on the wall clock. */
    CHECK_INT(info.end_wall_us, 1700000008000000ull);
    cg_timeline_unref(tl);
    for (int i = 0; i < 4; i++) {
        char name[64];
        snprintf(name, sizeof(name), "rec/b1/seg-%d.m4s", i);
        CHECK(exists(st, name));
    }
    CHECK(exists(st, "rec/b1/init.mp4"));
    CHECK(!exists(st, "rec/b1/seg-4.m4s"));
    CHECK(!exists(st, "rec/b1/init-1.mp4"));
    CHECK(exists(st, "rec/b1/notes.txt"));
    struct stat sb;
    CHECK(stat(tmp, &sb) != 0);

    /* The index now says exactly that, and ends cleanly. */
    cg_dbuf d;
    get_text(st, "rec/b1/index.jsonl", &d);
    const char *text = cg_dbuf_str(&d);
    CHECK(strncmp(text, "{\"type\":\"broadcast\",\"v\":1,\"id\":\"b1\"", 35) == 0);
    CHECK(strstr(text, "\"seq\":3,") != NULL);
    CHECK(strstr(text, "\"seq\":4,") == NULL);
    const char end_line[] = "{\"type\":\"end\",\"wall_us\":1700000008000000}\n";
    CHECK(strlen(text) > strlen(end_line) &&
          strcmp(text + strlen(text) - strlen(end_line), end_line) == 0);
    cg_dbuf_free(&d);

    /* Recovering again finds nothing to do. */
    CHECK_INT(cg_index_recover(st, "rec/b1", &tl, &rep), 0);
    CHECK_INT(rep.rewritten, 0);
    CHECK_INT(rep.ended_now, 0);
    CHECK_INT(rep.orphans_removed + rep.partial_removed + rep.missing, 0);
    CHECK_INT(cg_timeline_count(tl), 4);
    cg_timeline_unref(tl);
    cg_storage_free(st);
}

static void test_recover_missing_file(void)
{
    cg_storage *st = store();
    publish(st, "b2", 5);
    /* The store lost seg-2 (or it was cut short): keep #0-#1 only. */
    CHECK_INT(cg_storage_del(st, "b2/seg-2.m4s"), 0);
    cg_timeline *tl = NULL;
    cg_index_recovery rep;
    CHECK_INT(cg_index_recover(st, "b2", &tl, &rep), 0);
    CHECK_INT(cg_timeline_count(tl), 2);
    CHECK_INT(rep.missing, 3);
    CHECK_INT(rep.orphans_removed, 2); /* seg-3, seg-4 */
    CHECK_INT(rep.rewritten, 1);
    cg_timeline_unref(tl);
    CHECK(!exists(st, "b2/seg-3.m4s"));

    /* A size that does not match the index counts as missing. */
    publish(st, "b3", 3);
    CHECK_INT(cg_storage_put(st, "b3/seg-1.m4s", "short", 5, 0), 0);
    CHECK_INT(cg_index_recover(st, "b3", &tl, &rep), 0);
    CHECK_INT(cg_timeline_count(tl), 1);
    cg_timeline_unref(tl);
    /* A crash before the first segment: header only, nothing to serve. */
    cg_tl_info info = {.timescale = 90000, .start_wall_us = 5};
    memcpy(info.id, "b4", 3);
    CHECK_INT(cg_index_create(st, "b4", &info), 0);
    CHECK_INT(cg_storage_put(st, "b4/init.mp4", "i", 1, 0), 0);
    CHECK_INT(cg_index_recover(st, "b4", &tl, &rep), 0);
    CHECK_INT(cg_timeline_count(tl), 0);
    CHECK_INT(rep.orphans_removed, 1);
    cg_timeline_info(tl, &info);
    CHECK_INT(info.state, CG_TL_ENDED);
    CHECK_INT(info.end_wall_us, 5);
    cg_timeline_unref(tl);
    cg_storage_free(st);
}

int main(void)
{
    if (mu_tmpdir(base, sizeof(base), "index") != 0)
        return 1;
    RUN(test_create_load);
    RUN(test_recover_after_kill);
    RUN(test_recover_missing_file);
    mu_rm_rf(base);
    return TEST_RESULT();
}
