#include "err.h"

static const char *const names[] = {
    [0] = "success",
    [1] = "invalid argument",
    [2] = "out of memory",
    [3] = "input truncated",
    [4] = "no space in output",
    [5] = "malformed input",
    [6] = "authentication failed",
    [7] = "queue full",
    [8] = "not found",
    [9] = "already exists",
    [10] = "I/O error",
    [11] = "unsupported",
    [12] = "crypto failure",
    [13] = "try again",
    [14] = "invalid state",
    [15] = "timed out",
    [16] = "limit reached",
    [17] = "out of range",
};

const char *cg_strerror(int err)
{
    unsigned idx = err <= 0 ? (unsigned)-err : 0u;
    if (err > 0 || idx >= sizeof(names) / sizeof(names[0]) || !names[idx])
        return "unknown error";
    return names[idx];
}
