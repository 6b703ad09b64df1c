/* Clocks. Protocol cores never call these: they are given `now`. */
#ifndef CG_CLOCK_H
#define CG_CLOCK_H

#include <stdint.h>

/* Monotonic time in microseconds. */
uint64_t cg_now_us(void);
/* Wall-clock time in microseconds since the Unix epoch. */
uint64_t cg_wall_us(void);

#endif
