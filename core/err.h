/* Project-wide error codes: every function returns 0 on success or one of
 * these negative values. The numbers are stable (they appear in logs). */
#ifndef CG_ERR_H
#define CG_ERR_H

enum cg_err {
    CG_OK = 0,
    CG_EINVAL = -1,    /* bad argument from the caller */
    CG_ENOMEM = -2,    /* allocation failed */
    CG_ETRUNC = -3,    /* input ended before a complete field */
    CG_ENOSPC = -4,    /* output buffer or bounded container too small */
    CG_EPROTO = -5,    /* input is malformed for its protocol */
    CG_EAUTH = -6,     /* integrity, credential or fingerprint check failed */
    CG_EFULL = -7,     /* bounded queue is full */
    CG_ENOTFOUND = -8, /* no such object */
    CG_EEXIST = -9,    /* object already exists */
    CG_EIO = -10,      /* operating-system I/O failure (see errno/log) */
    CG_EUNSUPP = -11,  /* valid input we do not support */
    CG_ECRYPTO = -12,  /* crypto library failure */
    CG_EAGAIN = -13,   /* nothing to do yet; call again later */
    CG_ESTATE = -14,   /* call not valid in the current state */
    CG_ETIMEDOUT = -15,/* deadline passed */
    CG_ELIMIT = -16,   /* a configured limit was reached */
    CG_ERANGE = -17,   /* value out of the allowed range */
};

/* Returns a static, human-readable name for an error code. */
const char *cg_strerror(int err);

#endif
