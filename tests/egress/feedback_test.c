/* egress/feedback: keyframe requests from many viewers reach the publisher
 * at most once per interval; one asked inside the interval is sent when it
 * ends unless a keyframe came meanwhile. */
#include "cg_test.h"
#include "egress/feedback.h"

static void test_rate_limit(void)
{
    cg_kfreq k;
    cg_kfreq_init(&k, 1000000);
    uint64_t dl = 0;
    CHECK_INT(cg_kfreq_poll(&k, 0, &dl), 0);
    CHECK(dl == UINT64_MAX);
    CHECK_INT(cg_kfreq_ask(&k, 5000000), 1); /* first join */
    /* 20 viewers send PLIs within the next 0.9 s */
    int sent = 0;
    for (int i = 0; i < 20; i++)
        sent += cg_kfreq_ask(&k, 5000000 + (uint64_t)i * 45000);
    CHECK_INT(sent, 0);
    CHECK_INT(cg_kfreq_poll(&k, 5500000, &dl), 0);
    CHECK_INT(dl, 6000000);
    CHECK_INT(cg_kfreq_poll(&k, 6000000, &dl), 1);
    CHECK(dl == UINT64_MAX);
    CHECK_INT(cg_kfreq_poll(&k, 6100000, &dl), 0);
    /* a keyframe answers a pending request */
    CHECK_INT(cg_kfreq_ask(&k, 6200000), 0);
    cg_kfreq_keyframe(&k);
    CHECK_INT(cg_kfreq_poll(&k, 7000000, &dl), 0);
    CHECK(dl == UINT64_MAX);
    CHECK_INT(cg_kfreq_ask(&k, 7000000), 1);
    CHECK_INT(k.asked, 23);
    CHECK_INT(k.sent, 3);
}

int main(void)
{
    RUN(test_rate_limit);
    return TEST_RESULT();
}
