/* test_mpi.c — the cluster-mode messages (mpi.c): each type round trips through
 * emberP_msg_encode/decode; short, long, unknown and wrongly sized messages are
 * rejected with EMBER_EPROTO; the corpus of fuzz_mpi is written from the same
 * messages (with MAKE_CORPUS=dir). The relay itself runs under mpirun in
 * tests/test_cluster.py. */
#include "internal.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>

static const char *corpus_dir;

static void save(const char *name, const emberB_buf *b) {
    if (!corpus_dir) return;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", corpus_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(b->data, 1, b->len, f);
    fclose(f);
}

static void round_trip(const emberP_msg *m, const char *name) {
    emberB_buf b = {0};
    CHECK(emberP_msg_encode(m, &b) == 0);
    save(name, &b);
    emberP_msg d;
    CHECK(emberP_msg_decode(b.data, b.len, &d) == 0);
    CHECK(d.type == m->type && d.slot == m->slot && d.gen == m->gen);
    CHECK(d.num == m->num && d.u64 == m->u64 && d.nrest == m->nrest);
    CHECK(d.nrest == 0 || memcmp(d.rest, m->rest, d.nrest) == 0);
    /* every shorter prefix is rejected, and so is one byte more where no rest is allowed */
    for (size_t cut = 0; cut < EMBER_MPI_HEADER; cut++)
        CHECK(emberP_msg_decode(b.data, cut, &d) == EMBER_EPROTO);
    emberB_free(&b);
}

static void test_round_trips(void) {
    round_trip(
        &(emberP_msg){.type = EMBER_MPI_HELLO, .num = 4, .u64 = 12345, .rest = (const uint8_t *)"node7", .nrest = 5},
        "hello");
    round_trip(&(emberP_msg){.type = EMBER_MPI_START, .slot = 3, .gen = 9}, "start");
    round_trip(&(emberP_msg){.type = EMBER_MPI_STARTED, .slot = 3, .gen = 9, .num = 4242}, "started");
    round_trip(
        &(emberP_msg){
            .type = EMBER_MPI_START_FAILED, .slot = 1, .gen = 2, .rest = (const uint8_t *)"no daemon", .nrest = 9},
        "start_failed");
    round_trip(
        &(emberP_msg){.type = EMBER_MPI_DATA, .slot = 0, .gen = 1, .rest = (const uint8_t *)"\x01\x02\x03", .nrest = 3},
        "data");
    round_trip(&(emberP_msg){.type = EMBER_MPI_DATA, .slot = 0, .gen = 1}, "data_empty");
    round_trip(&(emberP_msg){.type = EMBER_MPI_CREDIT, .slot = 5, .gen = 7, .u64 = 1ull << 40}, "credit");
    round_trip(&(emberP_msg){.type = EMBER_MPI_CLOSE, .slot = 2, .gen = 3}, "close");
    round_trip(&(emberP_msg){.type = EMBER_MPI_ENDED,
                             .slot = 2,
                             .gen = 3,
                             .num = 0xffffffffu,
                             .rest = (const uint8_t *)"Traceback",
                             .nrest = 9},
               "ended");
    round_trip(&(emberP_msg){.type = EMBER_MPI_BEAT}, "beat");
    round_trip(&(emberP_msg){.type = EMBER_MPI_QUIT}, "quit");
}

static void test_rejects(void) {
    emberP_msg d;
    uint8_t buf[32] = {0};
    buf[0] = 0; /* type 0 */
    CHECK(emberP_msg_decode(buf, EMBER_MPI_HEADER, &d) == EMBER_EPROTO);
    buf[0] = EMBER_MPI_QUIT + 1;
    CHECK(emberP_msg_decode(buf, EMBER_MPI_HEADER, &d) == EMBER_EPROTO);
    buf[0] = EMBER_MPI_CREDIT; /* needs 8 bytes after the header, exactly */
    CHECK(emberP_msg_decode(buf, EMBER_MPI_HEADER + 7, &d) == EMBER_EPROTO);
    CHECK(emberP_msg_decode(buf, EMBER_MPI_HEADER + 9, &d) == EMBER_EPROTO);
    CHECK(emberP_msg_decode(buf, EMBER_MPI_HEADER + 8, &d) == 0);
    buf[0] = EMBER_MPI_HELLO; /* 12 bytes at least */
    CHECK(emberP_msg_decode(buf, EMBER_MPI_HEADER + 11, &d) == EMBER_EPROTO);
    buf[0] = EMBER_MPI_START; /* nothing after the header */
    CHECK(emberP_msg_decode(buf, EMBER_MPI_HEADER + 1, &d) == EMBER_EPROTO);
    CHECK(strstr(ember_last_error(), "after its header") != NULL);
    CHECK(emberP_msg_decode(buf, EMBER_MPI_MAX_MSG + 1, &d) == EMBER_EPROTO);
    emberB_buf b = {0};
    CHECK(emberP_msg_encode(&(emberP_msg){.type = 99}, &b) == EMBER_EINVAL);
    CHECK(emberP_msg_encode(&(emberP_msg){.type = EMBER_MPI_DATA, .rest = buf, .nrest = EMBER_MPI_MAX_MSG}, &b) ==
          EMBER_EINVAL);
    CHECK(b.len == 0);
    emberB_free(&b);
}

int main(void) {
    corpus_dir = getenv("MAKE_CORPUS");
    RUN(test_round_trips);
    RUN(test_rejects);
    return TEST_REPORT();
}
