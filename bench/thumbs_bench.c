/* Thumbnail cost: runs the thumbnailer's work (cg_thumbs_make: read the
 * init and media segment from storage, decode the keyframe, scale to 320
 * wide, encode the JPEG) on one stored segment again and again and prints
 * the time per thumbnail. bench/thumbs.sh makes the segments and runs the
 * ffmpeg CLI on the same ones for comparison.
 *
 *   thumbs_bench DIR INIT SEG [RUNS] [OUT.jpg]
 *
 * DIR is the storage root, INIT and SEG object names under it; OUT gets
 * the last JPEG. */
#include <stdio.h>
#include <stdlib.h>

#include <libavutil/log.h>

#include "core/clock.h"
#include "core/err.h"
#include "packager/thumbs.h"
#include "storage/fs.h"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s DIR INIT SEG [RUNS] [OUT.jpg]\n", argv[0]);
        return 2;
    }
    av_log_set_level(AV_LOG_ERROR);
    int runs = argc > 4 ? (int)strtol(argv[4], NULL, 10) : 50;
    if (runs < 1 || runs > 100000)
        runs = 50;
    cg_storage *st = NULL;
    int rc = cg_storage_fs_new(&st, argv[1]);
    if (rc) {
        fprintf(stderr, "storage %s: %s\n", argv[1], cg_strerror(rc));
        return 1;
    }
    uint64_t *us = calloc((size_t)runs, sizeof(*us));
    cg_dbuf jpeg;
    int w = 0, h = 0;
    for (int i = 0; i < runs && us; i++) {
        cg_dbuf_init(&jpeg, CG_THUMBS_MAX_BYTES);
        uint64_t t0 = cg_now_us();
        rc = cg_thumbs_make(st, argv[2], argv[3], 0, 0, &jpeg, &w, &h);
        us[i] = cg_now_us() - t0;
        if (rc) {
            fprintf(stderr, "thumbnail: %s\n", cg_strerror(rc));
            cg_dbuf_free(&jpeg);
            break;
        }
        if (i + 1 == runs && argc > 5) {
            FILE *f = fopen(argv[5], "wb");
            if (f) {
                fwrite(jpeg.p, 1, jpeg.len, f);
                fclose(f);
            }
        }
        if (i + 1 < runs)
            cg_dbuf_free(&jpeg);
    }
    if (!rc && us) {
        qsort(us, (size_t)runs, sizeof(*us), cmp_u64);
        uint64_t sum = 0;
        for (int i = 0; i < runs; i++)
            sum += us[i];
        printf("{\"runs\":%d,\"width\":%d,\"height\":%d,\"bytes\":%zu,\"mean_ms\":%.2f,"
               "\"p50_ms\":%.2f,\"p90_ms\":%.2f}\n",
               runs, w, h, jpeg.len, (double)sum / runs / 1000.0, (double)us[runs / 2] / 1000.0,
               (double)us[runs * 9 / 10] / 1000.0);
        cg_dbuf_free(&jpeg);
    }
    free(us);
    cg_storage_free(st);
    return rc ? 1 : 0;
}
