#include "core/buf.h"
#include "core/err.h"
#include "cg_test.h"

static void test_reader_bounds(void)
{
    const uint8_t in[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07};
    cg_rd r;
    cg_rd_init(&r, in, sizeof(in));
    uint8_t a;
    uint16_t b;
    uint32_t c;
    CHECK_INT(cg_rd_u8(&r, &a), 0);
    CHECK_INT(a, 1);
    CHECK_INT(cg_rd_u16(&r, &b), 0);
    CHECK_INT(b, 0x0203);
    CHECK_INT(cg_rd_u32(&r, &c), 0);
    CHECK_INT(c, 0x04050607);
    CHECK_INT(cg_rd_left(&r), 0);
    /* A failed read does not move the cursor. */
    CHECK_INT(cg_rd_u8(&r, &a), CG_ETRUNC);
    CHECK_INT(r.pos, 7);
    cg_rd_init(&r, in, 3);
    CHECK_INT(cg_rd_u32(&r, &c), CG_ETRUNC);
    CHECK_INT(r.pos, 0);
    cg_rd sub;
    CHECK_INT(cg_rd_sub(&r, &sub, 2), 0);
    CHECK_INT(cg_rd_left(&sub), 2);
    CHECK_INT(cg_rd_skip(&sub, 3), CG_ETRUNC);
    CHECK_INT(cg_rd_sub(&r, &sub, 2), CG_ETRUNC);
}

static void test_writer_sticky(void)
{
    uint8_t out[5];
    cg_wr w;
    cg_wr_init(&w, out, sizeof(out));
    cg_wr_u16(&w, 0xabcd);
    cg_wr_u16(&w, 0x1234);
    CHECK_INT(cg_wr_err(&w), 0);
    cg_wr_u16(&w, 0x5678); /* does not fit */
    CHECK_INT(cg_wr_err(&w), CG_ENOSPC);
    cg_wr_u8(&w, 0xff); /* would fit, but the error is sticky */
    CHECK_INT(cg_wr_len(&w), 4);
    CHECK_INT(out[0], 0xab);
    CHECK_INT(out[3], 0x34);
}

static void test_dbuf_max(void)
{
    cg_dbuf d;
    cg_dbuf_init(&d, 16);
    cg_dbuf_printf(&d, "%d-%s", 42, "abc");
    CHECK_STR(cg_dbuf_str(&d), "42-abc");
    cg_dbuf_adds(&d, "0123456789");
    CHECK_INT(cg_dbuf_err(&d), CG_ENOSPC);
    CHECK_STR(cg_dbuf_str(&d), "42-abc");
    cg_dbuf_free(&d);
}

static void test_strerror(void)
{
    CHECK_STR(cg_strerror(CG_ETRUNC), "input truncated");
    CHECK_STR(cg_strerror(-999), "unknown error");
    CHECK_STR(cg_strerror(7), "unknown error");
}

int main(void)
{
    RUN(test_reader_bounds);
    RUN(test_writer_sticky);
    RUN(test_dbuf_max);
    RUN(test_strerror);
    return TEST_RESULT();
}
