/* test_blocks.c — unit tests of the block store (src/blocks.c) and of CRC-32C
 * (src/checksum.c): cached partitions by node and partition, unpersist, the
 * shuffle-output registry, and that every byte the store took is given back.
 *
 * Every test works in one mkdtemp directory that main removes at the end.
 */
#include "internal.h"
#include "test.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static void touch(const char *path) {
    FILE *f = fopen(path, "w");
    if (f) fclose(f);
}

/* A partition of n batches of `size` bytes, each filled with its index + seed. */
static emberM_batches make_batches(size_t n, size_t size, uint8_t seed) {
    emberM_batches b = {0};
    for (size_t i = 0; i < n; i++) {
        uint8_t *d = ember_malloc(size);
        memset(d, (int)(i + seed), size);
        emberM_batches_push(&b, d, size);
    }
    return b;
}

static void test_crc32c(void) {
    CHECK(emberK_crc32c(0, "123456789", 9) == 0xE3069283u);
    CHECK(emberK_crc32c(0, "", 0) == 0);
    /* Continuing a checksum over pieces gives the checksum of the whole. */
    uint8_t data[1000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 31 + 7);
    uint32_t whole = emberK_crc32c(0, data, sizeof data);
    for (size_t cut = 0; cut <= sizeof data; cut += 37)
        CHECK(emberK_crc32c(emberK_crc32c(0, data, cut), data + cut, sizeof data - cut) == whole);
    data[500] ^= 1;
    CHECK(emberK_crc32c(0, data, sizeof data) != whole);
}

static void test_persist_put_get(void) {
    int64_t before = ember_mem_used();
    emberM_store s;
    CHECK(emberM_init(&s, tmpdir) == 0);
    CHECK(emberM_level(&s, 7) == 0);
    CHECK(!emberM_wants(&s, 7, 0));
    CHECK(emberM_persist(&s, 7, 3, EMBER_STORAGE_MEMORY) == 0);
    CHECK(emberM_level(&s, 7) == EMBER_STORAGE_MEMORY);
    CHECK(emberM_wants(&s, 7, 0) && emberM_wants(&s, 7, 2));
    CHECK(!emberM_wants(&s, 7, 3)); /* out of range */
    CHECK(emberM_get(&s, 7, 1) == NULL);
    emberM_batches b = make_batches(4, 100, 1);
    CHECK(emberM_put(&s, 7, 1, &b) == 0);
    CHECK(b.n == 0 && b.bufs == NULL); /* taken */
    CHECK(!emberM_wants(&s, 7, 1) && emberM_wants(&s, 7, 0));
    emberM_part *p = emberM_get(&s, 7, 1);
    CHECK(p && p->batches.n == 4 && p->batches.bufs[3].len == 100 && p->batches.bufs[3].data[0] == 4);
    /* A second put of a stored partition is dropped; a put for a node not persisted too. */
    emberM_batches again = make_batches(1, 10, 9);
    CHECK(emberM_put(&s, 7, 1, &again) == 0);
    emberM_batches other = make_batches(1, 10, 9);
    CHECK(emberM_put(&s, 8, 0, &other) == 0);
    emberM_part *q = emberM_get(&s, 7, 1);
    CHECK(q == p);
    emberM_part_release(q);
    /* Unpersist drops the store's reference at once; the holder's stays valid. */
    CHECK(emberM_unpersist(&s, 7) == 1);
    CHECK(emberM_unpersist(&s, 7) == 0);
    CHECK(emberM_level(&s, 7) == 0 && emberM_get(&s, 7, 1) == NULL);
    CHECK(p && p->batches.bufs[0].data[0] == 1);
    emberM_part_release(p);
    emberM_destroy(&s);
    CHECK(ember_mem_used() == before);
}

static void test_shuffle_registry(void) {
    int64_t before = ember_mem_used();
    emberM_store s;
    CHECK(emberM_init(&s, tmpdir) == 0);
    char a[512], b[512], a2[512];
    snprintf(a, sizeof a, "%s/map-0", tmpdir);
    snprintf(b, sizeof b, "%s/map-1", tmpdir);
    snprintf(a2, sizeof a2, "%s/map-0-again", tmpdir);
    touch(a);
    touch(b);
    touch(a2);
    uint64_t bytes0[3] = {10, 0, 5}, bytes1[3] = {0, 0, 7};
    CHECK(!emberM_shuffle_done(&s, 4));
    CHECK(emberM_shuffle_put(&s, 4, 2, 3, 0, a, bytes0) == 0);
    CHECK(emberM_shuffle_put(&s, 4, 2, 3, 2, a, bytes0) == EMBER_EINVAL); /* map out of range */
    CHECK(emberM_shuffle_put(&s, 4, 3, 3, 1, b, bytes1) == EMBER_EINVAL); /* other shape */
    CHECK(emberM_shuffle_put(&s, 4, 2, 3, 1, b, bytes1) == 0);
    emberM_shuffle_set_done(&s, 4);
    CHECK(emberM_shuffle_done(&s, 4));
    char **paths;
    size_t n;
    CHECK(emberM_shuffle_buckets(&s, 4, 0, &paths, &n) == 0 && n == 1 && strcmp(paths[0], a) == 0);
    emberM_paths_free(paths, n);
    CHECK(emberM_shuffle_buckets(&s, 4, 1, &paths, &n) == 0 && n == 0 && paths == NULL);
    CHECK(emberM_shuffle_buckets(&s, 4, 2, &paths, &n) == 0 && n == 2);
    emberM_paths_free(paths, n);
    CHECK(emberM_shuffle_buckets(&s, 4, 3, &paths, &n) == 0 && n == 0); /* no such bucket */
    /* A map's new output replaces (and removes) its old file. */
    CHECK(emberM_shuffle_put(&s, 4, 2, 3, 0, a2, bytes0) == 0);
    CHECK(!exists(a) && exists(a2));
    CHECK(emberM_shuffle_remove(&s, 4) == 1);
    CHECK(!exists(a2) && !exists(b));
    CHECK(!emberM_shuffle_done(&s, 4));
    CHECK(emberM_shuffle_remove(&s, 4) == 0);
    /* emberM_clear removes every shuffle's files too. */
    touch(a);
    CHECK(emberM_shuffle_put(&s, 5, 1, 1, 0, a, bytes0) == 0);
    emberM_destroy(&s);
    CHECK(!exists(a));
    CHECK(ember_mem_used() == before);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "%s/ember-test-blocks-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_crc32c);
    RUN(test_persist_put_get);
    RUN(test_shuffle_registry);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return TEST_REPORT();
}
