#include "egress/stall.h"

#include <string.h>

void cg_stall_init(cg_stall *s)
{
    memset(s, 0, sizeof(*s));
}

int cg_stall_frame(cg_stall *s, uint64_t now_us)
{
    s->frames++;
    if (!s->last_us || now_us < s->last_us) {
        s->last_us = now_us;
        return 0;
    }
    uint64_t gap = now_us - s->last_us;
    s->last_us = now_us;
    if (gap > s->max_gap_us)
        s->max_gap_us = gap;
    int freeze = 0;
    if (s->n >= CG_STALL_MIN_SAMPLES) {
        uint64_t avg = s->sum_us / s->n;
        uint64_t limit =
            3 * avg > avg + CG_STALL_MIN_EXTRA_US ? 3 * avg : avg + CG_STALL_MIN_EXTRA_US;
        freeze = gap >= limit;
    }
    s->freezes += (uint64_t)freeze;
    if (s->n == CG_STALL_WINDOW)
        s->sum_us -= s->intervals[s->pos];
    else
        s->n++;
    s->intervals[s->pos] = gap;
    s->sum_us += gap;
    s->pos = (s->pos + 1) % CG_STALL_WINDOW;
    return freeze;
}
