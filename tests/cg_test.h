/* Minimal unit-test helpers: CHECK records a failure and goes on, so one run
 * reports every broken expectation; main returns non-zero if any failed. */
#ifndef CG_TEST_H
#define CG_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cg_test_failures;

#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            cg_test_failures++;                                               \
        }                                                                     \
    } while (0)

#define CHECK_INT(a, b)                                                       \
    do {                                                                      \
        long long va_ = (long long)(a), vb_ = (long long)(b);                 \
        if (va_ != vb_) {                                                     \
            fprintf(stderr, "%s:%d: CHECK_INT failed: %s == %lld, expected %s == %lld\n", \
                    __FILE__, __LINE__, #a, va_, #b, vb_);                    \
            cg_test_failures++;                                               \
        }                                                                     \
    } while (0)

#define CHECK_STR(a, b)                                                       \
    do {                                                                      \
        const char *sa_ = (a), *sb_ = (b);                                    \
        if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0) {                          \
            fprintf(stderr, "%s:%d: CHECK_STR failed: %s == \"%s\", expected \"%s\"\n", \
                    __FILE__, __LINE__, #a, sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)"); \
            cg_test_failures++;                                               \
        }                                                                     \
    } while (0)

#define CHECK_MEM(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)

#define RUN(fn)                                                               \
    do {                                                                      \
        int before_ = cg_test_failures;                                       \
        fn();                                                                 \
        fprintf(stderr, "%s %s\n", cg_test_failures == before_ ? "ok  " : "FAIL", #fn); \
    } while (0)

#define TEST_RESULT() (cg_test_failures ? 1 : 0)

/* Reads a whole file relative to the source tree (CG_SOURCE_DIR); returns a
 * malloc'd NUL-terminated buffer or NULL. */
static inline char *cg_test_read_file(const char *rel, size_t *len)
{
    const char *root = getenv("CG_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", root ? root : ".", rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        if (len)
            *len = (size_t)n;
    }
    return buf;
}

#endif
