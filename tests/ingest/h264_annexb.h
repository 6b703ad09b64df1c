/* Test helpers shared by the H.264 tests: split an Annex B file (as ffmpeg
 * writes it) into NAL units and group those into access units by the rules
 * of H.264 §7.4.1.2.3, so the tests can packetize and compare per AU. */
#ifndef CG_TEST_H264_ANNEXB_H
#define CG_TEST_H264_ANNEXB_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cg_test.h"
#include "ingest/h264_sps.h"

typedef struct tnal {
    const uint8_t *p; /* without start code */
    size_t len;
    int type;
} tnal;

typedef struct tau {
    size_t first, count; /* NAL indices */
    int has_idr, has_aud, has_sps, has_pps, has_b;
} tau;

typedef struct tstream {
    uint8_t *file;
    size_t file_len;
    tnal *nal;
    size_t n_nal;
    tau *au;
    size_t n_au;
} tstream;

static inline size_t tstream_startcode(const uint8_t *p, size_t n, size_t i)
{
    if (i + 3 <= n && p[i] == 0 && p[i + 1] == 0 && p[i + 2] == 1)
        return 3;
    return 0;
}

/* Splits and groups. Returns 0, or -1 if the file is missing. */
static inline int tstream_load(tstream *s, const char *rel)
{
    memset(s, 0, sizeof(*s));
    s->file = (uint8_t *)cg_test_read_file(rel, &s->file_len);
    if (!s->file)
        return -1;
    const uint8_t *p = s->file;
    size_t n = s->file_len;
    s->nal = calloc(n / 3 + 1, sizeof(tnal));
    s->au = calloc(n / 3 + 1, sizeof(tau));
    size_t i = 0, start = SIZE_MAX;
    while (i <= n) {
        size_t sc = i < n ? tstream_startcode(p, n, i) : 0;
        if (sc || i == n) {
            if (start != SIZE_MAX) {
                size_t end = i;
                /* zero_byte of a 4-byte start code and trailing_zero_8bits
                 * belong to no NAL unit. */
                while (end > start && p[end - 1] == 0)
                    end--;
                if (end > start) {
                    tnal *t = &s->nal[s->n_nal++];
                    t->p = p + start;
                    t->len = end - start;
                    t->type = p[start] & 0x1f;
                }
            }
            if (i == n)
                break;
            i += sc;
            start = i;
            continue;
        }
        i++;
    }
    /* §7.4.1.2.3: an AUD, SPS, PPS or SEI, or a slice with
     * first_mb_in_slice 0, after a slice starts a new access unit. */
    tau *cur = NULL;
    int cur_vcl = 0;
    for (size_t k = 0; k < s->n_nal; k++) {
        tnal *t = &s->nal[k];
        int vcl = t->type >= 1 && t->type <= 5;
        uint32_t first_mb = 1;
        int st = -1;
        if (vcl)
            cg_h264_slice_info(t->p, t->len, &first_mb, &st);
        int starts = !cur || (cur_vcl && ((t->type >= 6 && t->type <= 9) || (vcl && first_mb == 0)));
        if (starts) {
            cur = &s->au[s->n_au++];
            cur->first = k;
            cur_vcl = 0;
        }
        cur->count++;
        cur_vcl |= vcl;
        if (t->type == 5)
            cur->has_idr = 1;
        if (t->type == 9)
            cur->has_aud = 1;
        if (t->type == 7 && !cur_vcl)
            cur->has_sps = 1;
        if (t->type == 8 && !cur_vcl)
            cur->has_pps = 1;
        if (vcl && st >= 0 && cg_h264_slice_is_b(st))
            cur->has_b = 1;
    }
    return 0;
}

static inline void tstream_free(tstream *s)
{
    free(s->file);
    free(s->nal);
    free(s->au);
    memset(s, 0, sizeof(*s));
}

static inline const tnal *tstream_find(const tstream *s, int type)
{
    for (size_t k = 0; k < s->n_nal; k++)
        if (s->nal[k].type == type)
            return &s->nal[k];
    return NULL;
}

#endif
