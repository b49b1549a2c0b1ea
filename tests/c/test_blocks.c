/* test_blocks.c — unit tests of the block store (src/blocks.c) and of CRC-32C
 * (src/checksum.c): cached partitions by node and partition, unpersist, the
 * shuffle-output registry, the memory budget (LRU eviction, MEMORY_ONLY drops,
 * MEMORY_AND_DISK spills, DISK_ONLY files), block files (format, checksum, missing
 * or damaged files, a full disk), and that every byte the store took is given back.
 *
 * Every test works in one mkdtemp directory that main removes at the end.
 */
#include "internal.h"
#include "test.h"

#include <errno.h>
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
    /* The hardware path (where the CPU has one) agrees with the tables at every
     * alignment, length and starting value. */
    CHECK(emberK_crc32c_portable(0, "123456789", 9) == 0xE3069283u);
    for (size_t start = 0; start < 9; start++)
        for (size_t len = 0; start + len <= sizeof data; len += len < 40 ? 1 : 97)
            CHECK(emberK_crc32c((uint32_t)len * 2654435761u, data + start, len) ==
                  emberK_crc32c_portable((uint32_t)len * 2654435761u, data + start, len));
    /* Long buffers, which the hardware path takes as three stripes at once: around
     * every multiple of the 3 x 2048-byte step, at odd starts, and continued. */
    size_t cap = 5 * 3 * 2048 + 64;
    uint8_t *big = malloc(cap);
    CHECK(big != NULL);
    if (!big) return;
    for (size_t i = 0; i < cap; i++)
        big[i] = (uint8_t)((i * 2654435761u) >> 13);
    for (size_t steps = 1; steps <= 4; steps++)
        for (size_t len = steps * 3 * 2048 - 9; len <= steps * 3 * 2048 + 9; len++)
            for (size_t start = 0; start < 4; start++)
                CHECK(emberK_crc32c((uint32_t)len, big + start, len) ==
                      emberK_crc32c_portable((uint32_t)len, big + start, len));
    uint32_t all = emberK_crc32c_portable(0, big, cap);
    CHECK(emberK_crc32c(0, big, cap) == all);
    for (size_t cut = 1; cut < cap; cut += 4093)
        CHECK(emberK_crc32c(emberK_crc32c(0, big, cut), big + cut, cap - cut) == all);
    big[cap / 2] ^= 0x10;
    CHECK(emberK_crc32c(0, big, cap) != all);
    free(big);
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
    uint64_t bytes = 1;
    CHECK(emberM_where(&s, 7, 1, &bytes) == 0 && bytes == 400); /* held here */
    CHECK(emberM_where(&s, 7, 0, &bytes) == -1 && bytes == 0);
    CHECK(emberM_where(&s, 8, 0, &bytes) == -1);
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

typedef struct visit_ctx {
    const char *first; /* map 0's path: its bytes go to seen[0], others' to seen[1] */
    uint64_t *seen;
    size_t *n;
} visit_ctx;

static void visit_note(void *arg, const char *path, uint64_t bytes) {
    visit_ctx *v = arg;
    v->seen[strcmp(path, v->first) != 0] += bytes;
    (*v->n)++;
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
    /* The visit sees each map output with bytes in the bucket, and its bytes. */
    uint64_t seen[2] = {0, 0};
    size_t nseen = 0;
    visit_ctx vc = {a, seen, &nseen};
    emberM_shuffle_bucket_visit(&s, 4, 2, visit_note, &vc);
    CHECK(nseen == 2 && seen[0] == 5 && seen[1] == 7);
    nseen = 0;
    emberM_shuffle_bucket_visit(&s, 4, 1, visit_note, &vc);
    emberM_shuffle_bucket_visit(&s, 9, 0, visit_note, &vc);
    CHECK(nseen == 0);
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

static size_t count_block_files(void) {
    size_t n = 0;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -c '\\.block' || true", tmpdir);
    FILE *f = popen(cmd, "r");
    if (f) {
        if (fscanf(f, "%zu", &n) != 1) n = 0;
        pclose(f);
    }
    return n;
}

static uint64_t mem_of(emberM_store *s, int id, size_t *cached, uint64_t *disk) {
    ember_storage_info info[8];
    size_t n = emberM_status(s, info, 8);
    for (size_t i = 0; i < n && i < 8; i++)
        if (info[i].id == id) {
            if (cached) *cached = info[i].cached_partitions;
            if (disk) *disk = info[i].disk_bytes;
            return info[i].memory_bytes;
        }
    return UINT64_MAX;
}

/* Partition p of node id as a task gets it: from memory, or read from its block
 * file (as the worker reads it, by path); NULL when neither holds it. */
static emberM_part *read_back(emberM_store *s, int id, size_t p) {
    emberM_part *part = emberM_get(s, id, p);
    char path[512];
    if (part || !emberM_file(s, id, p, path, sizeof path)) return part;
    part = emberM_part_new();
    if (emberM_block_read(path, "a test partition", &part->batches)) {
        emberM_part_release(part);
        return NULL;
    }
    return part;
}

/* Three 3000-byte partitions fit a 10000-byte budget; a fourth node's partition
 * evicts the least recently used (read counts as use); a node never evicts its own
 * partitions: one that does not fit is dropped (MEMORY_ONLY) until the next job. */
static void test_budget_lru_memory_only(void) {
    int64_t before = ember_mem_used();
    emberM_store s;
    CHECK(emberM_init(&s, tmpdir) == 0);
    emberM_set_budget(&s, 10000, 10000); /* reserve == limit: exactly 10000 bytes for blocks */
    CHECK(emberM_persist(&s, 1, 3, EMBER_STORAGE_MEMORY) == 0);
    CHECK(emberM_persist(&s, 2, 2, EMBER_STORAGE_MEMORY) == 0);
    for (size_t p = 0; p < 3; p++) {
        emberM_batches b = make_batches(3, 1000, (uint8_t)p);
        CHECK(emberM_put(&s, 1, p, &b) == 0 && b.n == 0);
    }
    size_t cached = 0;
    CHECK(mem_of(&s, 1, &cached, NULL) == 9000 && cached == 3);
    emberM_part_release(emberM_get(&s, 1, 0)); /* partition 0 is now the most recently used */
    emberM_batches b = make_batches(3, 1000, 7);
    CHECK(emberM_put(&s, 2, 0, &b) == 0);
    CHECK(emberM_get(&s, 1, 1) == NULL); /* the least recently used went */
    CHECK(!emberM_wants(&s, 1, 1));      /* dropped: computed where needed, not cached again ... */
    emberM_part *p0 = emberM_get(&s, 1, 0), *p2 = emberM_get(&s, 1, 2), *q = emberM_get(&s, 2, 0);
    CHECK(p0 && p2 && q && q->batches.bufs[0].data[0] == 7);
    emberM_part_release(p0);
    emberM_part_release(p2);
    emberM_part_release(q);
    /* Node 2's second partition would need room from node 2 itself or from node 1:
     * node 1's LRU partition goes, not node 2's own. */
    b = make_batches(3, 1000, 8);
    CHECK(emberM_put(&s, 2, 1, &b) == 0);
    CHECK(mem_of(&s, 2, &cached, NULL) == 6000 && cached == 2);
    CHECK(mem_of(&s, 1, &cached, NULL) == 3000 && cached == 1);
    /* A partition bigger than the whole budget is not kept; the store is unchanged. */
    CHECK(emberM_persist(&s, 3, 1, EMBER_STORAGE_MEMORY) == 0);
    b = make_batches(11, 1000, 9);
    CHECK(emberM_put(&s, 3, 0, &b) == 0 && b.n == 0);
    CHECK(mem_of(&s, 3, &cached, NULL) == 0 && cached == 0 && !emberM_wants(&s, 3, 0));
    CHECK(mem_of(&s, 2, NULL, NULL) == 6000);
    emberM_new_job(&s); /* ... until the next job, if it would fit then */
    CHECK(emberM_wants(&s, 1, 1) && emberM_wants(&s, 1, 0) && !emberM_wants(&s, 1, 2));
    CHECK(!emberM_wants(&s, 3, 0)); /* 11000 bytes never fit in 10000 */
    /* Node 1 again: its dropped partitions fit beside its one in memory, so they are
     * cached again, pushing node 2's out. */
    for (size_t p = 0; p < 2; p++) {
        emberM_batches again = make_batches(3, 1000, (uint8_t)p);
        CHECK(emberM_put(&s, 1, p, &again) == 0);
    }
    CHECK(mem_of(&s, 1, &cached, NULL) == 9000 && cached == 3 && mem_of(&s, 2, NULL, NULL) == 0);
    CHECK(count_block_files() == 0);
    emberM_destroy(&s);
    CHECK(ember_mem_used() == before);
}

/* The rest of the engine's counted bytes shrink the room for blocks down to the
 * reserve: emberM_trim evicts what no longer fits. */
static void test_budget_other_memory(void) {
    int64_t before = ember_mem_used();
    emberM_store s;
    CHECK(emberM_init(&s, tmpdir) == 0);
    emberM_set_budget(&s, ember_mem_used() + 20000, 4000);
    CHECK(emberM_persist(&s, 1, 4, EMBER_STORAGE_MEMORY) == 0);
    for (size_t p = 0; p < 4; p++) {
        emberM_batches b = make_batches(2, 1000, (uint8_t)p);
        CHECK(emberM_put(&s, 1, p, &b) == 0);
    }
    CHECK(mem_of(&s, 1, NULL, NULL) == 8000);
    void *big = ember_malloc(30000); /* "execution" memory grows past the limit */
    CHECK(emberM_trim(&s) == 0);
    CHECK(mem_of(&s, 1, NULL, NULL) <= 4000 && mem_of(&s, 1, NULL, NULL) >= 2000); /* down to the reserve */
    ember_free(big);
    emberM_destroy(&s);
    CHECK(ember_mem_used() == before);
}

/* MEMORY_AND_DISK: evicted partitions go to block files and come back whole;
 * DISK_ONLY goes straight to files; unpersist and clear remove every file. */
static void test_spill_and_read_back(void) {
    int64_t before = ember_mem_used();
    emberM_store s;
    CHECK(emberM_init(&s, tmpdir) == 0);
    emberM_set_budget(&s, 5000, 5000);
    CHECK(emberM_persist(&s, 1, 4, EMBER_STORAGE_MEMORY | EMBER_STORAGE_DISK) == 0);
    CHECK(emberM_persist(&s, 2, 2, EMBER_STORAGE_DISK) == 0);
    for (size_t p = 0; p < 4; p++) {
        emberM_batches b = make_batches(2, 1000, (uint8_t)(10 * p));
        CHECK(emberM_put(&s, 1, p, &b) == 0);
    }
    size_t cached = 0;
    uint64_t disk = 0;
    CHECK(mem_of(&s, 1, &cached, &disk) == 4000 && cached == 4 && disk > 4000); /* 2 in memory, 2 in files */
    CHECK(count_block_files() == 2);
    for (size_t p = 0; p < 4; p++) {
        CHECK(!emberM_wants(&s, 1, p));
        emberM_part *got = read_back(&s, 1, p);
        CHECK(got && got->batches.n == 2 && got->batches.bufs[1].len == 1000 &&
              got->batches.bufs[1].data[999] == (uint8_t)(10 * p + 1));
        emberM_part_release(got);
    }
    for (size_t p = 0; p < 2; p++) {
        emberM_batches b = make_batches(1, 500, (uint8_t)p);
        CHECK(emberM_put(&s, 2, p, &b) == 0);
    }
    CHECK(mem_of(&s, 2, &cached, &disk) == 0 && cached == 2 && disk > 1000);
    char path[512];
    CHECK(emberM_file(&s, 2, 1, path, sizeof path) && exists(path));
    CHECK(!emberM_file(&s, 1, 0, path, sizeof path)); /* in memory */
    emberM_part *d = read_back(&s, 2, 1);
    CHECK(d && d->batches.n == 1 && d->batches.bufs[0].len == 500 && d->batches.bufs[0].data[0] == 1);
    emberM_part_release(d);
    CHECK(count_block_files() == 4);
    CHECK(emberM_unpersist(&s, 2) == 1);
    CHECK(count_block_files() == 2);
    emberM_totals_t t;
    emberM_totals(&s, &t);
    CHECK(t.evictions == 0); /* node 1 never evicts its own: p2, p3 went straight to files */
    emberM_clear(&s);
    CHECK(count_block_files() == 0);
    emberM_destroy(&s);
    CHECK(ember_mem_used() == before);
}

/* A damaged or missing block file fails its reader; the task reports it and the
 * store forgets it (emberM_block_lose): the partition is wanted again. */
static void test_bad_block_file(void) {
    int64_t before = ember_mem_used();
    emberM_store s;
    CHECK(emberM_init(&s, tmpdir) == 0);
    CHECK(emberM_persist(&s, 5, 3, EMBER_STORAGE_DISK) == 0);
    for (size_t p = 0; p < 3; p++) {
        emberM_batches b = make_batches(2, 300, (uint8_t)p);
        CHECK(emberM_put(&s, 5, p, &b) == 0);
    }
    char path[512];
    emberM_block_path(&s, 5, 0, path, sizeof path);
    FILE *f = fopen(path, "r+b"); /* flip one payload byte */
    CHECK(f && fseek(f, EMBER_BLOCK_HEADER + 10, SEEK_SET) == 0);
    if (f) {
        int c = fgetc(f);
        fseek(f, EMBER_BLOCK_HEADER + 10, SEEK_SET);
        fputc(c ^ 0x40, f);
        fclose(f);
    }
    CHECK(read_back(&s, 5, 0) == NULL);
    CHECK(strstr(ember_last_error(), "CRC-32C") != NULL);
    int id = 0;
    size_t part = 9;
    CHECK(emberM_block_lose(&s, path, &id, &part) == 1 && id == 5 && part == 0);
    CHECK(!exists(path) && emberM_wants(&s, 5, 0));
    CHECK(emberM_block_lose(&s, path, &id, &part) == 0); /* forgotten already */
    emberM_block_path(&s, 5, 1, path, sizeof path);
    unlink(path);
    CHECK(read_back(&s, 5, 1) == NULL && strstr(ember_last_error(), "opening block file"));
    CHECK(emberM_block_lose(&s, path, &id, &part) == 1 && part == 1);
    emberM_part *ok = read_back(&s, 5, 2);
    CHECK(ok && ok->batches.bufs[0].data[0] == 2);
    emberM_part_release(ok);
    size_t cached = 0;
    uint64_t disk = 0;
    mem_of(&s, 5, &cached, &disk);
    CHECK(cached == 1 && disk > 600 && disk < 700);
    emberM_totals_t t;
    emberM_totals(&s, &t);
    CHECK(t.bad_files == 2);
    CHECK(emberM_wants(&s, 5, 0) && emberM_wants(&s, 5, 1) && !emberM_wants(&s, 5, 2));
    emberM_destroy(&s);
    CHECK(count_block_files() == 0);
    CHECK(ember_mem_used() == before);
}

/* A full disk fails the store (and so the job) with a message naming the file,
 * what it holds and spark.local.dir; no partial file stays. */
static void test_disk_full(void) {
    int64_t before = ember_mem_used();
    emberM_store s;
    CHECK(emberM_init(&s, tmpdir) == 0);
    emberM_set_budget(&s, 2500, 2500);
    CHECK(emberM_persist(&s, 6, 2, EMBER_STORAGE_DISK) == 0);
    CHECK(emberM_persist(&s, 7, 2, EMBER_STORAGE_MEMORY | EMBER_STORAGE_DISK) == 0);
    emberM_write_fault = ENOSPC;
    emberM_batches b = make_batches(1, 100, 1);
    CHECK(emberM_put(&s, 6, 0, &b) == EMBER_EIO && b.n == 0);
    const char *msg = ember_last_error();
    CHECK(strstr(msg, "spark.local.dir") && strstr(msg, "cached partition 0 of RDD 6") &&
          strstr(msg, "No space left on device"));
    /* Spilling to make room fails the same way; the block stays in memory. */
    emberM_write_fault = 0;
    b = make_batches(2, 1000, 1);
    CHECK(emberM_put(&s, 7, 0, &b) == 0);
    emberM_write_fault = ENOSPC;
    emberM_batches c = make_batches(2, 1000, 2);
    CHECK(emberM_persist(&s, 8, 1, EMBER_STORAGE_MEMORY) == 0);
    CHECK(emberM_put(&s, 8, 0, &c) == EMBER_EIO);
    CHECK(strstr(ember_last_error(), "cached partition 0 of RDD 7") != NULL);
    emberM_write_fault = 0;
    CHECK(mem_of(&s, 7, NULL, NULL) == 2000);
    CHECK(count_block_files() == 0);
    emberM_destroy(&s);
    CHECK(ember_mem_used() == before);
}

/* The decoder takes exactly what the encoder writes and rejects anything else. */
static void test_block_format(void) {
    int64_t before = ember_mem_used();
    emberM_batches b = make_batches(3, 17, 4), out;
    emberB_buf buf = {0};
    CHECK(emberM_block_encode(&b, &buf) == 0);
    CHECK(buf.len == EMBER_BLOCK_HEADER + 3 * (4 + 17) + 4 && memcmp(buf.data, "EMBLOCK", 8) == 0);
    CHECK(emberM_block_decode(buf.data, buf.len, "t", &out) == 0 && out.n == 3 && out.bufs[2].data[0] == 6);
    emberM_batches_clear(&out);
    for (size_t cut = 0; cut < buf.len; cut += 5) /* every truncation */
        CHECK(emberM_block_decode(buf.data, cut, "t", &out) == EMBER_ECORRUPT && out.n == 0);
    buf.data[8] = 2; /* version */
    CHECK(emberM_block_decode(buf.data, buf.len, "t", &out) == EMBER_ECORRUPT && strstr(ember_last_error(), "version"));
    buf.data[8] = 1;
    buf.data[0] = 'X';
    CHECK(emberM_block_decode(buf.data, buf.len, "t", &out) == EMBER_ECORRUPT);
    buf.data[0] = 'E';
    emberB_store_u32(buf.data + 12, 4); /* batch count off by one: the lengths no longer add up */
    CHECK(emberM_block_decode(buf.data, buf.len, "t", &out) == EMBER_ECORRUPT && out.n == 0);
    emberB_free(&buf);
    emberM_batches empty = {0};
    CHECK(emberM_block_encode(&empty, &buf) == 0 && emberM_block_decode(buf.data, buf.len, "t", &out) == 0 &&
          out.n == 0);
    emberB_free(&buf);
    emberM_batches_clear(&b);
    CHECK(ember_mem_used() == before);
}

/* What a store told its on_drop and on_move hooks. */
static char dropped_names[8][512];
static int ndropped;
static int moved_id, moved_where, nmoved;
static size_t moved_part;

static void note_drop(void *arg, const char *path) {
    (void)arg;
    if (ndropped < 8) snprintf(dropped_names[ndropped], sizeof dropped_names[0], "%s", path);
    ndropped++;
}

static void note_move(void *arg, int id, size_t p, int where, uint64_t bytes) {
    (void)arg;
    (void)bytes;
    moved_id = id;
    moved_part = p;
    moved_where = where;
    nmoved++;
}

/* The driver's records of blocks executors keep: where and how big, in the figures
 * but not the budget; dropped on the executor when not wanted or unpersisted; moved,
 * lost and forgotten as the executors say. */
static void test_remote_blocks(void) {
    int64_t before = ember_mem_used();
    emberM_store s;
    CHECK(emberM_init(&s, tmpdir) == 0);
    emberM_set_budget(&s, 1000, 1000);
    s.on_drop = note_drop;
    ndropped = 0;
    CHECK(emberM_persist(&s, 3, 4, EMBER_STORAGE_MEMORY) == 0);
    CHECK(emberM_put_remote(&s, 3, 0, 1, EMBERM_MEMORY, 5000) == 1); /* over this store's budget: not its own */
    CHECK(emberM_put_remote(&s, 3, 1, 2, EMBERM_DISK, 300) == 1);
    uint64_t bytes = 0;
    CHECK(emberM_where(&s, 3, 0, &bytes) == 1 && bytes == 5000);
    CHECK(emberM_where(&s, 3, 1, &bytes) == 2 && bytes == 300);
    CHECK(!emberM_wants(&s, 3, 0) && emberM_wants(&s, 3, 2));
    CHECK(emberM_get(&s, 3, 0) == NULL);
    size_t cached = 0;
    uint64_t disk = 0;
    CHECK(mem_of(&s, 3, &cached, &disk) == 5000 && cached == 2 && disk == 300);
    emberM_totals_t t;
    emberM_totals(&s, &t);
    CHECK(t.mem_bytes == 0 && t.disk_bytes == 0); /* this process holds none of it */
    ember_block_info info[4];
    CHECK(emberM_blocks(&s, 3, info, 4) == 2);
    CHECK(info[0].partition == 0 && info[0].executor == 1 && info[0].memory_bytes == 5000 && info[0].disk_bytes == 0);
    CHECK(info[1].partition == 1 && info[1].executor == 2 && info[1].disk_bytes == 300);
    /* Not kept there (no room): dropped, and not wanted again at the next job ... */
    CHECK(emberM_put_remote(&s, 3, 2, 1, EMBERM_GONE, 700) == 0);
    CHECK(emberM_where(&s, 3, 2, &bytes) == -1 && !emberM_wants(&s, 3, 2));
    emberM_new_job(&s);
    CHECK(!emberM_wants(&s, 3, 2));
    /* Moved to disk there; then dropped there: forgotten, wanted again. */
    emberM_remote_moved(&s, 3, 0, 1, EMBERM_DISK, 4000);
    CHECK(mem_of(&s, 3, NULL, &disk) == 0 && disk == 4300);
    emberM_remote_moved(&s, 3, 0, 2, EMBERM_GONE, 0); /* not the rank holding it: ignored */
    CHECK(emberM_where(&s, 3, 0, &bytes) == 1);
    emberM_remote_moved(&s, 3, 0, 1, EMBERM_GONE, 0);
    CHECK(emberM_where(&s, 3, 0, &bytes) == -1 && emberM_wants(&s, 3, 0));
    CHECK(ndropped == 0); /* nothing to tell: the executor said so itself */
    /* Computed again on another executor: recorded there, the old copy dropped. */
    CHECK(emberM_put_remote(&s, 3, 1, 1, EMBERM_MEMORY, 300) == 1);
    char want[512];
    emberM_remote_path(&s, 3, 1, 2, want, sizeof want);
    CHECK(ndropped == 1 && strcmp(dropped_names[0], want) == 0 && strstr(want, "/e2/rdd-3-1.block"));
    /* A task could not read it: forgotten (and dropped there), wanted again. */
    int id = -1;
    size_t part = 9;
    emberM_remote_path(&s, 3, 1, 1, want, sizeof want);
    CHECK(emberM_block_lose(&s, want, &id, &part) && id == 3 && part == 1);
    CHECK(ndropped == 2 && strcmp(dropped_names[1], want) == 0 && emberM_wants(&s, 3, 1));
    /* Held here already, or of a node not persisted: the executor's copy is not wanted. */
    emberM_batches b = make_batches(1, 10, 1);
    CHECK(emberM_put(&s, 3, 3, &b) == 0);
    CHECK(emberM_put_remote(&s, 3, 3, 2, EMBERM_MEMORY, 10) == 0 && ndropped == 3);
    CHECK(emberM_where(&s, 3, 3, &bytes) == 0 && bytes == 10);
    CHECK(emberM_put_remote(&s, 9, 0, 2, EMBERM_MEMORY, 10) == 0 && ndropped == 4);
    /* A lost executor's records go, with nothing to tell. */
    CHECK(emberM_put_remote(&s, 3, 1, 2, EMBERM_MEMORY, 30) == 1);
    emberM_forget_rank(&s, 2);
    CHECK(emberM_where(&s, 3, 1, &bytes) == -1 && emberM_wants(&s, 3, 1) && ndropped == 4);
    /* An unpersist drops the executors' copies; what an executor had no room for is
     * wanted again (room was freed). */
    CHECK(emberM_persist(&s, 4, 1, EMBER_STORAGE_MEMORY) == 0);
    CHECK(emberM_put_remote(&s, 4, 0, 1, EMBERM_MEMORY, 50) == 1);
    CHECK(emberM_unpersist(&s, 4) == 1 && ndropped == 5 && strstr(dropped_names[4], "/e1/rdd-4-0.block"));
    CHECK(emberM_wants(&s, 3, 2));
    emberM_destroy(&s);
    CHECK(ember_mem_used() == before);
}

/* An executor's own store: where a block is kept, dropping one, and the blocks it
 * moves out of memory told to on_move. */
static void test_kept_and_moved(void) {
    int64_t before = ember_mem_used();
    emberM_store s;
    CHECK(emberM_init(&s, tmpdir) == 0);
    emberM_set_budget(&s, 2500, 2500);
    s.on_move = note_move;
    nmoved = 0;
    CHECK(emberM_persist(&s, 1, 2, EMBER_STORAGE_MEMORY | EMBER_STORAGE_DISK) == 0);
    CHECK(emberM_persist(&s, 2, 1, EMBER_STORAGE_MEMORY) == 0);
    emberM_batches b = make_batches(2, 1000, 1);
    CHECK(emberM_put(&s, 1, 0, &b) == 0);
    uint64_t bytes = 0;
    CHECK(emberM_kept(&s, 1, 0, &bytes) == EMBERM_MEMORY && bytes == 2000);
    CHECK(emberM_kept(&s, 1, 1, &bytes) == EMBERM_GONE && bytes == 0);
    CHECK(emberM_kept(&s, 7, 0, &bytes) == EMBERM_GONE);
    b = make_batches(2, 1000, 2); /* node 2 needs node 1's room: node 1's block goes to its file */
    CHECK(emberM_put(&s, 2, 0, &b) == 0);
    CHECK(nmoved == 1 && moved_id == 1 && moved_part == 0 && moved_where == EMBERM_DISK);
    CHECK(emberM_kept(&s, 1, 0, &bytes) == EMBERM_DISK && bytes > 2000);
    CHECK(count_block_files() == 1);
    emberM_drop_block(&s, 1, 0);
    CHECK(emberM_kept(&s, 1, 0, &bytes) == EMBERM_GONE && count_block_files() == 0);
    emberM_drop_block(&s, 2, 0);
    CHECK(emberM_kept(&s, 2, 0, &bytes) == EMBERM_GONE && emberM_wants(&s, 2, 0));
    emberM_drop_block(&s, 9, 0); /* not persisted: nothing */
    emberM_destroy(&s);
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
    RUN(test_budget_lru_memory_only);
    RUN(test_budget_other_memory);
    RUN(test_spill_and_read_back);
    RUN(test_bad_block_file);
    RUN(test_disk_full);
    RUN(test_block_format);
    RUN(test_remote_blocks);
    RUN(test_kept_and_moved);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return TEST_REPORT();
}
