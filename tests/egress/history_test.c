/* egress/history: lookup by sequence number across the 16-bit wrap,
 * eviction by count (drop oldest) and by age, refusals, balanced refs. */
#include "cg_test.h"
#include "core/err.h"
#include "egress/history.h"
#include "rtc/rtp.h"

static cg_pkt *mk(uint16_t seq, uint64_t now)
{
    uint8_t buf[64], payload[4] = {(uint8_t)(seq >> 8), (uint8_t)seq, 0xab, 0xcd};
    size_t len = 0;
    cg_rtp_build(buf, sizeof(buf), &len, 96, 0, seq, seq * 3000u, 0x1234, payload, 4);
    cg_pkt *p = NULL;
    cg_pkt_new(&p, buf, len, 0, now);
    return p;
}

/* Stores seq and drops the caller's reference. */
static int put(cg_history *h, uint16_t seq, uint64_t now)
{
    cg_pkt *p = mk(seq, now);
    int rc = cg_history_put(h, p);
    cg_pkt_unref(p);
    return rc;
}

static int has(cg_history *h, uint16_t seq, uint64_t now)
{
    cg_pkt *p = NULL;
    int rc = cg_history_get(h, seq, now, &p);
    if (rc == 0) {
        CHECK_INT(p->seq, seq);
        CHECK_INT(cg_pkt_payload(p)[1], (uint8_t)seq);
        cg_pkt_unref(p);
    }
    return rc == 0;
}

static void test_wrap(void)
{
    cg_history *h = NULL;
    CHECK_INT(cg_history_new(&h, 100, 1000000), 0); /* rounded to 128 */
    for (unsigned i = 0; i < 100; i++)
        CHECK_INT(put(h, (uint16_t)(65500 + i), 1000 + i), 0);
    CHECK(has(h, 65500, 2000));
    CHECK(has(h, 65535, 2000));
    CHECK(has(h, 0, 2000));
    CHECK(has(h, 63, 2000));
    CHECK(!has(h, 64, 2000));
    CHECK(!has(h, 65499, 2000));
    CHECK(!has(h, 30000, 2000));
    cg_history_stats st;
    cg_history_stats_get(h, &st);
    CHECK_INT(st.count, 100);
    CHECK_INT(st.hits, 4);
    CHECK_INT(st.misses, 3);
    cg_history_free(h);
}

static void test_count_eviction(void)
{
    cg_history *h = NULL;
    CHECK_INT(cg_history_new(&h, 16, 1000000), 0);
    for (unsigned i = 0; i < 40; i++)
        CHECK_INT(put(h, (uint16_t)(65530 + i), 10), 0);
    /* newest 16 remain: 65530+24 .. 65530+39 = 18..33 */
    CHECK(!has(h, 17, 10));
    for (uint16_t s = 18; s <= 33; s++)
        CHECK(has(h, s, 10));
    cg_history_stats st;
    cg_history_stats_get(h, &st);
    CHECK_INT(st.count, 16);
    CHECK_INT(st.evicted_count, 24);
    /* too old to store, duplicate, late but inside the ring */
    CHECK_INT(put(h, 17, 10), CG_ERANGE);
    CHECK_INT(put(h, 20, 10), CG_EEXIST);
    /* a jump beyond the ring clears it */
    CHECK_INT(put(h, 1000, 10), 0);
    CHECK(!has(h, 33, 10));
    CHECK(has(h, 1000, 10));
    cg_history_stats_get(h, &st);
    CHECK_INT(st.count, 1);
    cg_history_free(h);
}

static void test_gap_and_late(void)
{
    cg_history *h = NULL;
    CHECK_INT(cg_history_new(&h, 64, 1000000), 0);
    CHECK_INT(put(h, 10, 0), 0);
    CHECK_INT(put(h, 14, 0), 0);
    CHECK(!has(h, 12, 0));
    CHECK_INT(put(h, 12, 0), 0); /* late (e.g. recovered upstream) */
    CHECK(has(h, 12, 0));
    CHECK(has(h, 10, 0));
    CHECK(!has(h, 11, 0));
    cg_history_free(h);
}

static void test_age(void)
{
    cg_history *h = NULL;
    CHECK_INT(cg_history_new(&h, 1024, 1000000), 0);
    /* 50 packets/s for 3 s */
    for (unsigned i = 0; i < 150; i++)
        CHECK_INT(put(h, (uint16_t)(65000 + i), (uint64_t)i * 20000), 0);
    uint64_t now = 149 * 20000;
    /* 1 s window: arrival >= now - 1 s */
    CHECK(has(h, (uint16_t)(65000 + 99), now));
    CHECK(!has(h, (uint16_t)(65000 + 98), now));
    cg_history_stats st;
    cg_history_stats_get(h, &st);
    CHECK_INT(st.count, 51);
    CHECK_INT(st.evicted_age, 99);
    /* later, with no new packets: expire releases the rest but the newest */
    cg_history_expire(h, now + 990000);
    cg_history_stats_get(h, &st);
    CHECK_INT(st.count, 1);
    CHECK(!has(h, (uint16_t)(65000 + 148), now + 990000));
    CHECK(has(h, (uint16_t)(65000 + 149), now + 990000));
    CHECK(!has(h, (uint16_t)(65000 + 149), now + 1000001));
    cg_history_free(h);
}

static void test_args(void)
{
    cg_history *h = (cg_history *)1;
    CHECK_INT(cg_history_new(&h, 0, 1), CG_EINVAL);
    CHECK_INT(cg_history_new(&h, 40000, 1), CG_EINVAL);
    CHECK(h == (cg_history *)1);
    cg_history_free(NULL);
    CHECK_INT(cg_history_new(&h, 8, 1), 0);
    cg_pkt *p = NULL;
    CHECK_INT(cg_history_get(h, 1, 0, &p), CG_ENOTFOUND);
    CHECK_INT(cg_history_put(h, NULL), CG_EINVAL);
    cg_history_free(h);
}

int main(void)
{
    RUN(test_wrap);
    RUN(test_count_eviction);
    RUN(test_gap_and_late);
    RUN(test_age);
    RUN(test_args);
    return TEST_RESULT();
}
