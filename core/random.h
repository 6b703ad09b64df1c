/* Cryptographically secure random bytes from the kernel (getrandom). */
#ifndef CG_RANDOM_H
#define CG_RANDOM_H

#include <stddef.h>
#include <stdint.h>

/* Returns 0 or CG_EIO. */
int cg_random_bytes(void *buf, size_t n);
/* Writes n random characters from [A-Za-z0-9] plus a NUL (out holds n+1).
 * Each character carries log2(62) ~ 5.95 bits. Returns 0 or CG_EIO. */
int cg_random_token(char *out, size_t n);
uint32_t cg_random_u32(void);

#endif
