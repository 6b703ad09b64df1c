/* egress/stall: intervals between frames judged as a receiver counts
 * freezes: nothing before 5 intervals, then at least max(3 x average,
 * average + 150 ms) over the last 30 intervals. */
#include "cg_test.h"
#include "egress/stall.h"

#define MS 1000u

/* Frames every period_ms from *t, n of them. */
static void frames(cg_stall *s, uint64_t *t, unsigned n, unsigned period_ms)
{
    for (unsigned i = 0; i < n; i++) {
        *t += period_ms * MS;
        CHECK_INT(cg_stall_frame(s, *t), 0);
    }
}

static void test_steady_then_pause(void)
{
    cg_stall s;
    cg_stall_init(&s);
    uint64_t t = 1000 * MS;
    CHECK_INT(cg_stall_frame(&s, t), 0);
    frames(&s, &t, 40, 33);
    /* average 33 ms: the limit is 183 ms */
    t += 182 * MS;
    CHECK_INT(cg_stall_frame(&s, t), 0);
    frames(&s, &t, 40, 33);
    t += 184 * MS;
    CHECK_INT(cg_stall_frame(&s, t), 1);
    CHECK_INT(s.freezes, 1);
    CHECK_INT(s.max_gap_us, 184 * MS);
    CHECK_INT(s.frames, 83);
}

static void test_slow_stream(void)
{
    /* 5 fps: 3 x average (600 ms) is the limit, not average + 150 */
    cg_stall s;
    cg_stall_init(&s);
    uint64_t t = 0;
    CHECK_INT(cg_stall_frame(&s, t + 1), 0);
    t = 1;
    frames(&s, &t, 30, 200);
    t += 590 * MS;
    CHECK_INT(cg_stall_frame(&s, t), 0);
    frames(&s, &t, 30, 200);
    t += 600 * MS;
    CHECK_INT(cg_stall_frame(&s, t), 1);
}

static void test_too_few_samples(void)
{
    /* a pause in the first 5 intervals is not judged */
    cg_stall s;
    cg_stall_init(&s);
    uint64_t t = 5 * MS;
    CHECK_INT(cg_stall_frame(&s, t), 0);
    frames(&s, &t, 3, 33);
    t += 500 * MS;
    CHECK_INT(cg_stall_frame(&s, t), 0);
    CHECK_INT(s.freezes, 0);
    CHECK_INT(s.max_gap_us, 500 * MS);
    /* a clock going back is a new start, not a huge interval */
    CHECK_INT(cg_stall_frame(&s, 1), 0);
    CHECK_INT(s.max_gap_us, 500 * MS);
}

static void test_window(void)
{
    /* a burst of frames 2 ms apart drags the average down: 160 ms after
     * it is a freeze; once 30 intervals at 33 ms replaced it, it is not */
    cg_stall s;
    cg_stall_init(&s);
    uint64_t t = 1000 * MS;
    CHECK_INT(cg_stall_frame(&s, t), 0);
    frames(&s, &t, 30, 2);
    t += 160 * MS;
    CHECK_INT(cg_stall_frame(&s, t), 1);
    frames(&s, &t, 30, 33);
    t += 160 * MS;
    CHECK_INT(cg_stall_frame(&s, t), 0);
    CHECK_INT(s.freezes, 1);
}

int main(void)
{
    RUN(test_steady_then_pause);
    RUN(test_slow_stream);
    RUN(test_too_few_samples);
    RUN(test_window);
    return TEST_RESULT();
}
