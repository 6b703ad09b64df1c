/* Object-name rules of the storage front, which every backend relies on to
 * keep names inside its namespace. */
#include "core/err.h"
#include "storage/storage.h"
#include "cg_test.h"

static void test_valid_names(void)
{
    static const char *const ok[] = {
        "index.jsonl",
        "b1/seg-0.m4s",
        "recordings/abc_DEF-9/init.mp4",
        "a.b.c",
        "..a",
        "a..",
        "x/.hidden",
        "0",
        "tmp",
        "a.tmpx",
        "a/b/c/d/e/f",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (!cg_storage_name_valid(ok[i]))
            fprintf(stderr, "refused valid name %s\n", ok[i]);
        CHECK(cg_storage_name_valid(ok[i]));
    }
}

static void test_traversal_refused(void)
{
    static const char *const bad[] = {
        "../x",
        "/etc/passwd",
        "a/../../b",
        "a//b",
        "%2e%2e",
        "..",
        ".",
        "...",
        "a/./b",
        "a/..",
        "./a",
        "a/",
        "/",
        "",
        "a\\b",
        "a b",
        "a\nb",
        "a/b.tmp",
        "x.tmp",
        "~/x",
        "a:b",
        "..%2f..%2fetc",
        "\xc0\xae\xc0\xae/x",
        "a/../b",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (cg_storage_name_valid(bad[i]))
            fprintf(stderr, "accepted bad name \"%s\"\n", bad[i]);
        CHECK(!cg_storage_name_valid(bad[i]));
    }
    CHECK(!cg_storage_name_valid(NULL));
    /* The empty prefix (whole store) is only accepted where a prefix is. */
    CHECK(cg_storage_prefix_valid(""));
    CHECK(cg_storage_prefix_valid("a/b"));
    CHECK(!cg_storage_prefix_valid("a/../b"));
    CHECK(!cg_storage_prefix_valid(NULL));
}

static void test_length_limit(void)
{
    char name[CG_STORAGE_NAME_MAX + 2];
    memset(name, 'a', sizeof(name));
    name[CG_STORAGE_NAME_MAX] = '\0';
    CHECK(cg_storage_name_valid(name));
    name[CG_STORAGE_NAME_MAX] = 'a';
    name[CG_STORAGE_NAME_MAX + 1] = '\0';
    CHECK(!cg_storage_name_valid(name));
}

int main(void)
{
    RUN(test_valid_names);
    RUN(test_traversal_refused);
    RUN(test_length_limit);
    return TEST_RESULT();
}
