/* STUN messages as ICE uses them (RFC 5389 / RFC 8489 short-term
 * credentials, RFC 8445 attributes): a parser, the two integrity checks and
 * builders for binding requests, success and error responses.
 *
 * Sans-I/O: bytes in, bytes out. The parser never copies; it records where
 * the attributes ICE needs are and borrows pointers into the packet, so a
 * cg_stun_msg is valid only as long as the packet it was parsed from.
 * MESSAGE-INTEGRITY is HMAC-SHA1 (OpenSSL); the key is the ICE password for
 * short-term credentials. Builders write MESSAGE-INTEGRITY then FINGERPRINT
 * last, with zero padding, in the attribute order aioice and libnice use. */
#ifndef CG_STUN_H
#define CG_STUN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define CG_STUN_HEADER_LEN 20
#define CG_STUN_MAGIC_COOKIE 0x2112A442u

/* Message types (method | class bits). */
#define CG_STUN_BINDING_REQUEST 0x0001
#define CG_STUN_BINDING_INDICATION 0x0011
#define CG_STUN_BINDING_SUCCESS 0x0101
#define CG_STUN_BINDING_ERROR 0x0111

/* Attribute types used by ICE. */
#define CG_STUN_ATTR_MAPPED_ADDRESS 0x0001
#define CG_STUN_ATTR_USERNAME 0x0006
#define CG_STUN_ATTR_MESSAGE_INTEGRITY 0x0008
#define CG_STUN_ATTR_ERROR_CODE 0x0009
#define CG_STUN_ATTR_UNKNOWN_ATTRIBUTES 0x000A
#define CG_STUN_ATTR_XOR_MAPPED_ADDRESS 0x0020
#define CG_STUN_ATTR_PRIORITY 0x0024
#define CG_STUN_ATTR_USE_CANDIDATE 0x0025
#define CG_STUN_ATTR_SOFTWARE 0x8022
#define CG_STUN_ATTR_FINGERPRINT 0x8028
#define CG_STUN_ATTR_ICE_CONTROLLED 0x8029
#define CG_STUN_ATTR_ICE_CONTROLLING 0x802A

/* How many unknown comprehension-required attribute types are remembered
 * for a 420 answer; further ones are counted but not listed. */
#define CG_STUN_MAX_UNKNOWN 4

typedef struct cg_stun_msg {
    uint16_t type; /* full message type, e.g. 0x0001 binding request */
    uint8_t txid[12];
    const uint8_t *username; /* borrowed from the packet, not NUL-terminated */
    size_t username_len;
    int has_priority;
    uint32_t priority;
    int use_candidate;
    int has_controlling;
    int has_controlled;
    uint64_t tiebreaker;
    size_t integrity_off;   /* offset of the MESSAGE-INTEGRITY attribute header, 0 if absent */
    size_t fingerprint_off; /* offset of the FINGERPRINT attribute header, 0 if absent */
    int has_error;
    uint16_t error_code;
    int has_xor_mapped;
    struct sockaddr_storage xor_mapped; /* for tests and responses */
    /* Additions beyond the fields ICE needs first. */
    const uint8_t *reason; /* ERROR-CODE reason phrase, borrowed */
    size_t reason_len;
    size_t n_unknown;                      /* unknown comprehension-required attributes */
    uint16_t unknown[CG_STUN_MAX_UNKNOWN]; /* the first CG_STUN_MAX_UNKNOWN of them */
} cg_stun_msg;

/* Message class from a type: request, indication, success or error. */
static inline int cg_stun_is_request(uint16_t type)
{
    return (type & 0x0110) == 0x0000;
}
static inline int cg_stun_is_indication(uint16_t type)
{
    return (type & 0x0110) == 0x0010;
}
static inline int cg_stun_is_success(uint16_t type)
{
    return (type & 0x0110) == 0x0100;
}
static inline int cg_stun_is_error(uint16_t type)
{
    return (type & 0x0110) == 0x0110;
}
/* Method with the class bits squeezed out (0x001 = binding). */
static inline uint16_t cg_stun_method(uint16_t type)
{
    return (uint16_t)((type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2));
}

/* Parses one whole datagram p[0..n) into *m (borrows p; m's pointers point
 * into it). The datagram must be exactly one message with the RFC 5389 magic
 * cookie. The first occurrence of a repeated attribute wins; attributes after
 * MESSAGE-INTEGRITY other than FINGERPRINT are ignored (RFC 5389 §15.4);
 * anything after FINGERPRINT is an error.
 * Returns 0; CG_ETRUNC if n is shorter than the header or than the length the
 * header announces; CG_EPROTO for anything malformed (top bits set, bad
 * cookie, length not a multiple of 4, trailing bytes, attribute overrunning
 * the message, known attribute of the wrong size); CG_EINVAL for NULL
 * arguments. */
int cg_stun_parse(cg_stun_msg *m, const uint8_t *p, size_t n);

/* Verifies MESSAGE-INTEGRITY (HMAC-SHA1 over the message up to the attribute,
 * with the length field adjusted as RFC 5389 §15.4 says). m must come from
 * cg_stun_parse of the same p/n. Borrows everything. Returns 0, CG_EAUTH
 * (absent, empty key or mismatch) or CG_ECRYPTO (OpenSSL failed). */
int cg_stun_check_integrity(const cg_stun_msg *m, const uint8_t *p, size_t n, const void *key,
                            size_t keylen);

/* Verifies FINGERPRINT (CRC-32 xor 0x5354554e). Returns 0 or CG_EAUTH
 * (absent or mismatch). */
int cg_stun_check_fingerprint(const cg_stun_msg *m, const uint8_t *p, size_t n);

/* For a request sent to us, USERNAME is "LFRAG:RFRAG" with our ufrag first:
 * copies LFRAG plus a NUL into out[0..cap). Returns 0; CG_ENOTFOUND when
 * there is no USERNAME, no ':', an empty LFRAG or one with bytes outside
 * printable ASCII (so the result is safe as a lookup key); CG_ENOSPC if it
 * does not fit. */
int cg_stun_username_local(const cg_stun_msg *m, char *out, size_t cap);

/* Binding success response for txid: XOR-MAPPED-ADDRESS (AF_INET or
 * AF_INET6 mapped), MESSAGE-INTEGRITY with key (omitted if key is NULL),
 * FINGERPRINT. Writes out[0..*len). Returns 0, CG_ENOSPC, CG_EINVAL (other
 * address family, NULL pointers) or CG_ECRYPTO. */
int cg_stun_build_binding_success(uint8_t *out, size_t cap, size_t *len, const uint8_t txid[12],
                                  const struct sockaddr_storage *mapped, const void *key,
                                  size_t keylen);

/* Binding error response: ERROR-CODE with code (300..699, e.g. 400 bad
 * request, 401 unauthorized, 487 role conflict) and reason (UTF-8, may be
 * NULL, at most 763 bytes), MESSAGE-INTEGRITY if key != NULL, FINGERPRINT.
 * Returns 0, CG_ENOSPC, CG_EINVAL or CG_ECRYPTO. */
int cg_stun_build_error(uint8_t *out, size_t cap, size_t *len, const uint8_t txid[12],
                        uint16_t code, const char *reason, const void *key, size_t keylen);

/* 420 error response listing unknown comprehension-required attribute types
 * (RFC 5389 §7.3.1) in UNKNOWN-ATTRIBUTES. Same rules as cg_stun_build_error. */
int cg_stun_build_unknown_attributes(uint8_t *out, size_t cap, size_t *len, const uint8_t txid[12],
                                     const uint16_t *types, size_t ntypes, const void *key,
                                     size_t keylen);

/* Binding request: USERNAME (omitted if NULL), PRIORITY (omitted if 0),
 * ICE-CONTROLLING when controlling > 0, ICE-CONTROLLED when controlling == 0,
 * neither when controlling < 0 (FFmpeg's shape), USE-CANDIDATE if
 * use_candidate, MESSAGE-INTEGRITY if key != NULL, FINGERPRINT.
 * Returns 0, CG_ENOSPC, CG_EINVAL (username over 513 bytes) or CG_ECRYPTO. */
int cg_stun_build_binding_request(uint8_t *out, size_t cap, size_t *len, const uint8_t txid[12],
                                  const char *username, uint32_t priority, int use_candidate,
                                  int controlling, uint64_t tiebreaker, const void *key,
                                  size_t keylen);

#endif
