/* test_jobs.h — what the scheduler's tests and cluster mode's share to run jobs on
 * fake_worker.c's workers: the nodes they build; include after test.h. */
#ifndef EMBER_TEST_JOBS_H
#define EMBER_TEST_JOBS_H
#include "internal.h"

#include <stdio.h>
#include <time.h>

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* nparts partitions; partition p holds the batches "p.0" and "p.1". */
static ember_node *parallel(ember_context *ctx, size_t nparts) {
    static char text[64][2][32];
    ember_buf bufs[64][2];
    const ember_buf *parts[64];
    size_t counts[64];
    for (size_t p = 0; p < nparts; p++) {
        for (int j = 0; j < 2; j++) {
            snprintf(text[p][j], sizeof text[p][j], "%zu.%d", p, j);
            bufs[p][j] = (ember_buf){(uint8_t *)text[p][j], strlen(text[p][j])};
        }
        parts[p] = bufs[p];
        counts[p] = 2;
    }
    ember_node *n = NULL;
    CHECK(ember_node_parallelize(ctx, nparts, parts, counts, &n) == 0);
    return n;
}

static ember_node *pipeline(ember_context *ctx, ember_node *parent, const char *cmd) {
    ember_node *n = NULL;
    CHECK(ember_node_pipeline(ctx, parent, cmd, strlen(cmd), &n) == 0);
    return n;
}

#endif
