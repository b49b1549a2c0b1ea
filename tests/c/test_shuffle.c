/* test_shuffle.c — unit tests of shuffle files (src/shuffle.c): round trips across
 * many segments and several files, empty buckets and records, abort, and truncated,
 * corrupt and missing files, which must fail cleanly with the right code; a bucket
 * copied as raw ranges (emberF_*, cluster mode's fetch) into a file of its own.
 *
 * Every test works in one mkdtemp directory that main removes at the end. Records
 * are generated from (file, sequence number), so a reader's output can be checked
 * against what the writer was given without keeping it.
 */
#include "internal.h"
#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];
static int64_t mem_at_start;

static void tmp_path(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", tmpdir, name); }

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- generated records -------------------------------------------------------- */

#define MAX_RECORD 80

/* Record i of file f: its length cycles through 0..66, its bytes depend on f and i. */
static size_t gen_record(uint32_t f, uint32_t i, uint8_t out[MAX_RECORD]) {
    size_t len = (i * 7u + f * 11u) % 67u;
    for (size_t k = 0; k < len; k++)
        out[k] = (uint8_t)(i * 131u + f * 29u + k * 7u);
    return len;
}

static uint32_t gen_bucket(uint32_t f, uint32_t i, uint32_t nbuckets) { return (i * 13u + f * 5u + i / 7u) % nbuckets; }

/* Which records a generated file holds: records of `skip` are left out (UINT32_MAX: none). */
typedef struct gen_spec {
    uint32_t f, nbuckets, nrecords, skip;
    size_t buffer_limit;
} gen_spec;

static int write_gen(const char *path, const gen_spec *s, uint64_t *bucket_bytes) {
    ember_shuffle_writer *w;
    int rc = ember_shuffle_writer_open(path, s->nbuckets, s->buffer_limit, &w);
    if (rc) return rc;
    uint8_t rec[MAX_RECORD];
    for (uint32_t i = 0; i < s->nrecords; i++) {
        uint32_t b = gen_bucket(s->f, i, s->nbuckets);
        if (b == s->skip) continue;
        size_t len = gen_record(s->f, i, rec);
        rc = ember_shuffle_writer_append(w, b, rec, len);
        if (rc) {
            ember_shuffle_writer_abort(w);
            return rc;
        }
    }
    return ember_shuffle_writer_commit(w, bucket_bytes);
}

/* Reads `bucket` of the files and checks it holds exactly the generated records of
 * that bucket, file after file, in append order. Returns the records read or -1. */
static long check_bucket(const char *const *paths, const gen_spec *specs, size_t nfiles, uint32_t bucket) {
    ember_shuffle_reader *r;
    if (ember_shuffle_reader_open(paths, nfiles, bucket, &r) != 0) return -1;
    long nread = 0, bad = 0;
    uint8_t want[MAX_RECORD];
    const void *data;
    size_t len;
    for (size_t fi = 0; fi < nfiles && !bad; fi++) {
        const gen_spec *s = &specs[fi];
        for (uint32_t i = 0; i < s->nrecords && !bad; i++) {
            if (gen_bucket(s->f, i, s->nbuckets) != bucket || bucket == s->skip) continue;
            size_t want_len = gen_record(s->f, i, want);
            int rc = ember_shuffle_reader_next(r, &data, &len);
            if (rc != 1 || len != want_len || (len && memcmp(data, want, len) != 0))
                bad = 1;
            else
                nread++;
        }
    }
    if (!bad && ember_shuffle_reader_next(r, &data, &len) != 0) bad = 1;
    if (!bad && ember_shuffle_reader_next(r, &data, &len) != 0) bad = 1; /* stays at the end */
    ember_shuffle_reader_close(r);
    return bad ? -1 : nread;
}

/* Reads the index header of a shuffle file from its trailer. */
static int read_index_header(const char *path, uint32_t *nbuckets, uint32_t *nsegments) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    uint8_t t[16], h[8];
    int ok = fseek(f, -16, SEEK_END) == 0 && fread(t, 1, 16, f) == 16 &&
             fseek(f, (long)emberB_load_u64(t), SEEK_SET) == 0 && fread(h, 1, 8, f) == 8;
    fclose(f);
    if (!ok) return -1;
    *nbuckets = emberB_load_u32(h);
    *nsegments = emberB_load_u32(h + 4);
    return 0;
}

/* Reads bucket of the files to the end; returns the final code (0 or negative). */
static int drain(const char *const *paths, size_t npaths, uint32_t bucket, long *nread) {
    ember_shuffle_reader *r;
    int rc = ember_shuffle_reader_open(paths, npaths, bucket, &r);
    if (rc) return rc;
    const void *data;
    size_t len;
    *nread = 0;
    while ((rc = ember_shuffle_reader_next(r, &data, &len)) == 1)
        (*nread)++;
    if (rc < 0 && ember_shuffle_reader_next(r, &data, &len) != rc) rc = 1; /* errors must stick */
    ember_shuffle_reader_close(r);
    return rc;
}

static uint8_t *slurp(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = ember_malloc((size_t)n);
    if (d && fread(d, 1, (size_t)n, f) != (size_t)n) {
        ember_free(d);
        d = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return d;
}

static int spit(const char *path, const uint8_t *d, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(d, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* ---- tests -------------------------------------------------------------------- */

static void test_round_trip_many_segments(void) {
    char path[512], tmp[600];
    tmp_path(path, sizeof path, "round_trip");
    gen_spec s = {.f = 3, .nbuckets = 5, .nrecords = 3000, .skip = UINT32_MAX, .buffer_limit = 200};
    uint64_t bytes[5];
    CHECK(write_gen(path, &s, bytes) == 0);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    CHECK(exists(path));
    CHECK(!exists(tmp));

    uint32_t nb = 0, nseg = 0;
    CHECK(read_index_header(path, &nb, &nseg) == 0);
    CHECK(nb == 5);
    CHECK(nseg > 100); /* ~100 KB of records through a 200-byte buffer */

    uint64_t want[5] = {0};
    uint8_t rec[MAX_RECORD];
    for (uint32_t i = 0; i < s.nrecords; i++)
        want[gen_bucket(s.f, i, 5)] += 4 + gen_record(s.f, i, rec);
    long total = 0;
    const char *paths[] = {path};
    for (uint32_t b = 0; b < 5; b++) {
        CHECK(bytes[b] == want[b]);
        long n = check_bucket(paths, &s, 1, b);
        CHECK(n > 0);
        total += n;
    }
    CHECK(total == 3000);

    /* The data before the index is exactly the records, as bucket_bytes says. */
    struct stat st;
    CHECK(stat(path, &st) == 0);
    uint64_t sum = want[0] + want[1] + want[2] + want[3] + want[4];
    CHECK((uint64_t)st.st_size == sum + 8 + (uint64_t)nseg * 5 * 20 + 16);
}

static void test_one_segment_and_big_records(void) {
    /* A record bigger than the read buffer, and enough small ones in one range that
     * records straddle the buffer's refills. The big records go straight to the
     * file, each closing a segment of its bucket's own (bucket 0's small records
     * before it in it): 2 of them, then the rest at commit. */
    char path[512];
    tmp_path(path, sizeof path, "big");
    size_t big_len = 1024 * 1024 + 3;
    uint8_t *big = ember_malloc(big_len);
    for (size_t k = 0; k < big_len; k++)
        big[k] = (uint8_t)(k * 13 + 1);
    ember_shuffle_writer *w;
    CHECK(ember_shuffle_writer_open(path, 2, (size_t)64 << 20, &w) == 0);
    uint8_t rec[MAX_RECORD];
    uint32_t nsmall = 20000;
    for (uint32_t i = 0; i < nsmall; i++) {
        size_t len = gen_record(0, i, rec);
        CHECK(ember_shuffle_writer_append(w, 0, rec, len) == 0);
        if (i == 777) CHECK(ember_shuffle_writer_append(w, 1, big, big_len) == 0);
        if (i == 5000) CHECK(ember_shuffle_writer_append(w, 0, big, big_len) == 0);
    }
    CHECK(ember_shuffle_writer_commit(w, NULL) == 0);

    uint32_t nb, nseg;
    CHECK(read_index_header(path, &nb, &nseg) == 0);
    CHECK(nseg == 3);

    const char *paths[] = {path};
    ember_shuffle_reader *r;
    const void *data;
    size_t len;
    CHECK(ember_shuffle_reader_open(paths, 1, 0, &r) == 0);
    int bad = 0;
    for (uint32_t i = 0; i < nsmall && !bad; i++) {
        size_t want = gen_record(0, i, rec);
        if (ember_shuffle_reader_next(r, &data, &len) != 1 || len != want || (len && memcmp(data, rec, len))) bad = 1;
        if (i == 5000 && !bad &&
            (ember_shuffle_reader_next(r, &data, &len) != 1 || len != big_len || memcmp(data, big, big_len)))
            bad = 1;
    }
    CHECK(!bad);
    CHECK(ember_shuffle_reader_next(r, &data, &len) == 0);
    ember_shuffle_reader_close(r);

    CHECK(ember_shuffle_reader_open(paths, 1, 1, &r) == 0);
    CHECK(ember_shuffle_reader_next(r, &data, &len) == 1);
    CHECK(len == big_len && memcmp(data, big, big_len) == 0);
    CHECK(ember_shuffle_reader_next(r, &data, &len) == 0);
    ember_shuffle_reader_close(r);
    ember_free(big);
}

/* A big record is read from a mapping of the file, not through the read buffer: the
 * reader's memory stays under the record's size while it holds it, and the record is
 * intact at an odd offset (after small records of its range) as alone in its range.
 * A damaged byte in a record alone in its range fails the read before the record is
 * returned. */
static void test_big_records_mapped_and_checked(void) {
    char path[512];
    tmp_path(path, sizeof path, "mapped");
    size_t big_len = 3 * 1024 * 1024 + 5;
    uint8_t *big = ember_malloc(big_len), rec[MAX_RECORD];
    CHECK(big != NULL);
    if (!big) return;
    for (size_t k = 0; k < big_len; k++)
        big[k] = (uint8_t)(k * 7 + k / 4099);
    ember_shuffle_writer *w;
    CHECK(ember_shuffle_writer_open(path, 2, (size_t)64 << 20, &w) == 0);
    for (uint32_t i = 0; i < 10; i++) {
        size_t len = gen_record(0, i, rec);
        CHECK(ember_shuffle_writer_append(w, 0, rec, len) == 0);
    }
    CHECK(ember_shuffle_writer_append(w, 0, big, big_len) == 0); /* after 10 small ones, in one range */
    CHECK(ember_shuffle_writer_append(w, 1, big, big_len) == 0); /* alone in its range */
    CHECK(ember_shuffle_writer_commit(w, NULL) == 0);
    const char *paths[] = {path};
    const void *data;
    size_t len;
    for (uint32_t bucket = 0; bucket < 2; bucket++) {
        ember_shuffle_reader *r;
        CHECK(ember_shuffle_reader_open(paths, 1, bucket, &r) == 0);
        for (uint32_t i = 0; bucket == 0 && i < 10; i++)
            CHECK(ember_shuffle_reader_next(r, &data, &len) == 1 && len == gen_record(0, i, rec));
        int64_t before = ember_mem_used();
        CHECK(ember_shuffle_reader_next(r, &data, &len) == 1);
        CHECK(len == big_len && memcmp(data, big, big_len) == 0);
        CHECK(ember_mem_used() - before < (int64_t)big_len / 2);
        CHECK(ember_shuffle_reader_next(r, &data, &len) == 0);
        ember_shuffle_reader_close(r);
    }
    size_t size;
    uint8_t *file = slurp(path, &size);
    CHECK(file != NULL);
    if (file) {
        size_t at = size - 100 - big_len / 2; /* inside bucket 1's record, the last segment before the index */
        file[at] ^= 0x40;
        CHECK(spit(path, file, size) == 0);
        ember_shuffle_reader *r;
        CHECK(ember_shuffle_reader_open(paths, 1, 1, &r) == 0);
        CHECK(ember_shuffle_reader_next(r, &data, &len) == EMBER_ECORRUPT);
        CHECK(strstr(ember_last_error(), "fails its checksum") != NULL);
        ember_shuffle_reader_close(r);
        long n;
        CHECK(drain(paths, 1, 0, &n) == 0 && n == 11); /* bucket 0 is intact */
        ember_free(file);
    }
    ember_free(big);
    unlink(path);
}

/* A big record goes straight to the file only when it is 16 times the index a segment
 * adds: with 2000 buckets (40 KB of index a segment) a 300 KB record is buffered. */
static void test_big_record_among_many_buckets_is_buffered(void) {
    char path[512];
    tmp_path(path, sizeof path, "bigmany");
    size_t len = 300 * 1024;
    uint8_t *big = ember_calloc(1, len);
    ember_shuffle_writer *w;
    CHECK(big && ember_shuffle_writer_open(path, 2000, (size_t)64 << 20, &w) == 0);
    CHECK(ember_shuffle_writer_append(w, 1999, big, len) == 0 && ember_shuffle_writer_append(w, 5, big, 3) == 0);
    CHECK(ember_shuffle_writer_commit(w, NULL) == 0);
    uint32_t nb, nseg;
    CHECK(read_index_header(path, &nb, &nseg) == 0 && nb == 2000 && nseg == 1);
    CHECK(ember_shuffle_writer_open(path, 20, (size_t)64 << 20, &w) == 0); /* 400 B a segment: direct */
    CHECK(ember_shuffle_writer_append(w, 19, big, len) == 0 && ember_shuffle_writer_append(w, 5, big, 3) == 0);
    CHECK(ember_shuffle_writer_commit(w, NULL) == 0);
    CHECK(read_index_header(path, &nb, &nseg) == 0 && nb == 20 && nseg == 2);
    const char *paths[] = {path};
    long n;
    CHECK(drain(paths, 1, 19, &n) == 0 && n == 1);
    CHECK(drain(paths, 1, 5, &n) == 0 && n == 1);
    ember_free(big);
    unlink(path);
}

static void test_several_files_in_order(void) {
    char p0[512], p1[512], p2[512];
    tmp_path(p0, sizeof p0, "multi0");
    tmp_path(p1, sizeof p1, "multi1");
    tmp_path(p2, sizeof p2, "multi2");
    gen_spec specs[3] = {
        {.f = 0, .nbuckets = 4, .nrecords = 500, .skip = UINT32_MAX, .buffer_limit = 64},
        {.f = 1, .nbuckets = 4, .nrecords = 700, .skip = 2, .buffer_limit = 1 << 20},
        {.f = 2, .nbuckets = 4, .nrecords = 300, .skip = UINT32_MAX, .buffer_limit = 0},
    };
    CHECK(write_gen(p0, &specs[0], NULL) == 0);
    CHECK(write_gen(p1, &specs[1], NULL) == 0);
    CHECK(write_gen(p2, &specs[2], NULL) == 0);
    const char *paths[] = {p0, p1, p2};
    for (uint32_t b = 0; b < 4; b++)
        CHECK(check_bucket(paths, specs, 3, b) > 0);

    /* Bucket 2 of the middle file is empty: reading it alone gives nothing. */
    const char *mid[] = {p1};
    CHECK(check_bucket(mid, &specs[1], 1, 2) == 0);

    /* A bucket the files do not have. */
    long n;
    CHECK(drain(paths, 3, 4, &n) == EMBER_EINVAL);
    CHECK(strstr(ember_last_error(), p0) != NULL);
}

static void test_empty(void) {
    char path[512];
    tmp_path(path, sizeof path, "empty");
    ember_shuffle_writer *w;
    CHECK(ember_shuffle_writer_open(path, 4, 1024, &w) == 0);
    uint64_t bytes[4] = {99, 99, 99, 99};
    CHECK(ember_shuffle_writer_commit(w, bytes) == 0);
    CHECK(bytes[0] == 0 && bytes[1] == 0 && bytes[2] == 0 && bytes[3] == 0);
    uint32_t nb, nseg;
    CHECK(read_index_header(path, &nb, &nseg) == 0);
    CHECK(nb == 4 && nseg == 0);

    const char *paths[] = {path, path};
    long n = -1;
    CHECK(drain(paths, 2, 3, &n) == 0);
    CHECK(n == 0);

    /* No paths at all. */
    CHECK(drain(NULL, 0, 0, &n) == 0);
    CHECK(n == 0);

    /* Only some buckets used, over several segments: the others read as empty. */
    CHECK(ember_shuffle_writer_open(path, 6, 10, &w) == 0);
    for (int i = 0; i < 50; i++)
        CHECK(ember_shuffle_writer_append(w, i % 2 ? 1 : 4, "abcdef", 6) == 0);
    CHECK(ember_shuffle_writer_commit(w, NULL) == 0);
    for (uint32_t b = 0; b < 6; b++) {
        CHECK(drain(paths, 1, b, &n) == 0);
        CHECK(n == (b == 1 || b == 4 ? 25 : 0));
    }
}

static void test_zero_length_records(void) {
    char path[512];
    tmp_path(path, sizeof path, "zero_len");
    ember_shuffle_writer *w;
    CHECK(ember_shuffle_writer_open(path, 2, 10, &w) == 0);
    for (int i = 0; i < 100; i++) {
        CHECK(ember_shuffle_writer_append(w, 0, NULL, 0) == 0);
        if (i % 3 == 0) CHECK(ember_shuffle_writer_append(w, 1, "xyz", 3) == 0);
        if (i % 10 == 0) CHECK(ember_shuffle_writer_append(w, 0, "", 0) == 0);
    }
    uint64_t bytes[2];
    CHECK(ember_shuffle_writer_commit(w, bytes) == 0);
    CHECK(bytes[0] == 110 * 4);
    CHECK(bytes[1] == 34 * 7);

    const char *paths[] = {path};
    ember_shuffle_reader *r;
    const void *data;
    size_t len;
    CHECK(ember_shuffle_reader_open(paths, 1, 0, &r) == 0);
    int n = 0, rc;
    while ((rc = ember_shuffle_reader_next(r, &data, &len)) == 1) {
        CHECK(len == 0);
        n++;
    }
    CHECK(rc == 0);
    CHECK(n == 110);
    ember_shuffle_reader_close(r);
}

static void test_abort_leaves_no_file(void) {
    char dir[512], path[600];
    tmp_path(dir, sizeof dir, "abort");
    CHECK(mkdir(dir, 0700) == 0);
    snprintf(path, sizeof path, "%s/out", dir);
    ember_shuffle_writer *w;
    CHECK(ember_shuffle_writer_open(path, 3, 16, &w) == 0);
    for (int i = 0; i < 100; i++)
        CHECK(ember_shuffle_writer_append(w, (uint32_t)i % 3, "0123456789", 10) == 0);
    ember_shuffle_writer_abort(w);
    ember_shuffle_writer_abort(NULL);
    CHECK(!exists(path));
    DIR *d = opendir(dir);
    int entries = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) entries++;
    if (d) closedir(d);
    CHECK(entries == 0);
    CHECK(rmdir(dir) == 0);
}

static void test_bad_arguments(void) {
    char path[512], nodir[600];
    tmp_path(path, sizeof path, "bad_args");
    ember_shuffle_writer *w = NULL;
    CHECK(ember_shuffle_writer_open(NULL, 2, 16, &w) == EMBER_EINVAL);
    CHECK(w == NULL);

    snprintf(nodir, sizeof nodir, "%s/no/such/dir/file", tmpdir);
    CHECK(ember_shuffle_writer_open(nodir, 2, 16, &w) == EMBER_ENOENT);
    CHECK(strstr(ember_last_error(), nodir) != NULL);

    CHECK(ember_shuffle_writer_open(path, 2, 16, &w) == 0);
    CHECK(ember_shuffle_writer_append(w, 0, "ok", 2) == 0);
    CHECK(ember_shuffle_writer_append(w, 2, "no", 2) == EMBER_EINVAL);
    CHECK(strstr(ember_last_error(), path) != NULL);
    CHECK(ember_shuffle_writer_append(w, UINT32_MAX, "no", 2) == EMBER_EINVAL);
#if SIZE_MAX > UINT32_MAX
    /* The length is refused before the (short) data is touched. */
    CHECK(ember_shuffle_writer_append(w, 1, "no", (size_t)UINT32_MAX + 1) == EMBER_EINVAL);
#endif
    CHECK(ember_shuffle_writer_append(w, 1, NULL, 5) == EMBER_EINVAL);
    /* Refused records do not break the writer. */
    CHECK(ember_shuffle_writer_append(w, 1, "fine", 4) == 0);
    uint64_t bytes[2];
    CHECK(ember_shuffle_writer_commit(w, bytes) == 0);
    CHECK(bytes[0] == 6 && bytes[1] == 8);
    CHECK(ember_shuffle_writer_commit(NULL, NULL) == EMBER_EINVAL);

    ember_shuffle_reader *r = NULL;
    const char *paths[] = {path, NULL};
    CHECK(ember_shuffle_reader_open(paths, 2, 0, &r) == EMBER_EINVAL);
    CHECK(r == NULL);
    CHECK(ember_shuffle_reader_open(NULL, 1, 0, &r) == EMBER_EINVAL);
    ember_shuffle_reader_close(NULL);
}

static void test_missing_file(void) {
    char good[512], missing[512];
    tmp_path(good, sizeof good, "present");
    tmp_path(missing, sizeof missing, "not_there");
    gen_spec s = {.f = 0, .nbuckets = 2, .nrecords = 100, .skip = UINT32_MAX, .buffer_limit = 50};
    CHECK(write_gen(good, &s, NULL) == 0);

    const char *only[] = {missing};
    long n = -1;
    CHECK(drain(only, 1, 0, &n) == EMBER_ENOENT);
    CHECK(n == 0);
    CHECK(strstr(ember_last_error(), missing) != NULL);

    /* The good file's records come first, then the error. */
    const char *both[] = {good, missing};
    CHECK(drain(both, 2, 1, &n) == EMBER_ENOENT);
    CHECK(n == check_bucket(both, &s, 1, 1));
    CHECK(n > 0);
}

/* A file small enough to patch by hand: 2 buckets, one segment.
 *   0: [4]"aaaa"   8: [6]"bbbbbb"   (bucket 0: offset 0, length 18)
 *  18: [2]"cc"                       (bucket 1: offset 18, length 6)
 *  24: index: nbuckets 2, nsegments 1, (0, 18, crc) at 32, (18, 6, crc) at 52
 *  72: trailer: index offset 24, magic, version                      size 88 */
#define SMALL_SIZE 88
static void write_small(const char *path) {
    ember_shuffle_writer *w;
    CHECK(ember_shuffle_writer_open(path, 2, 1 << 20, &w) == 0);
    CHECK(ember_shuffle_writer_append(w, 0, "aaaa", 4) == 0);
    CHECK(ember_shuffle_writer_append(w, 1, "cc", 2) == 0);
    CHECK(ember_shuffle_writer_append(w, 0, "bbbbbb", 6) == 0);
    CHECK(ember_shuffle_writer_commit(w, NULL) == 0);
}

/* Rewrites the small file with one patch applied, reads `bucket` to the end and
 * returns the final code; *nread gets the records returned before it. */
static int patch_keeps_crc; /* read_patched recomputes the index's CRCs (to reach the length checks) */

static int read_patched(const char *path, const uint8_t *orig, size_t size, size_t at, const uint8_t *bytes, size_t n,
                        uint32_t bucket, long *nread) {
    uint8_t copy[SMALL_SIZE];
    if (size != sizeof copy || at + n > size) return 1;
    memcpy(copy, orig, size);
    memcpy(copy + at, bytes, n);
    if (patch_keeps_crc) {
        emberB_store_u32(copy + 48, emberK_crc32c(0, copy, 18));
        emberB_store_u32(copy + 68, emberK_crc32c(0, copy + 18, 6));
    }
    if (spit(path, copy, size)) return 1;
    const char *paths[] = {path};
    return drain(paths, 1, bucket, nread);
}

static void test_small_file_layout(void) {
    char path[512];
    tmp_path(path, sizeof path, "small");
    write_small(path);
    size_t size;
    uint8_t *d = slurp(path, &size);
    CHECK(d != NULL);
    if (!d) return;
    CHECK(size == SMALL_SIZE);
    if (size != SMALL_SIZE) goto free_d;
    CHECK(emberB_load_u32(d) == 4 && memcmp(d + 4, "aaaa", 4) == 0);
    CHECK(emberB_load_u32(d + 8) == 6 && memcmp(d + 12, "bbbbbb", 6) == 0);
    CHECK(emberB_load_u32(d + 18) == 2 && memcmp(d + 22, "cc", 2) == 0);
    CHECK(emberB_load_u32(d + 24) == 2 && emberB_load_u32(d + 28) == 1);
    CHECK(emberB_load_u64(d + 32) == 0 && emberB_load_u64(d + 40) == 18);
    CHECK(emberB_load_u32(d + 48) == emberK_crc32c(0, d, 18));
    CHECK(emberB_load_u64(d + 52) == 18 && emberB_load_u64(d + 60) == 6);
    CHECK(emberB_load_u32(d + 68) == emberK_crc32c(0, d + 18, 6));
    CHECK(emberB_load_u64(d + 72) == 24);
    CHECK(memcmp(d + 80, "EMSH", 4) == 0);
    CHECK(emberB_load_u32(d + 84) == 2);
free_d:
    ember_free(d);
}

static void test_corrupt_record_length(void) {
    char path[512];
    tmp_path(path, sizeof path, "bad_len");
    write_small(path);
    size_t size;
    uint8_t *orig = slurp(path, &size);
    CHECK(orig != NULL && size == SMALL_SIZE);
    if (!orig || size != SMALL_SIZE) goto free_orig;
    uint8_t v[4];
    long n;
    patch_keeps_crc = 1; /* the lengths are checked even where the CRC would not catch it */

    /* A huge length: refused before any allocation. */
    emberB_store_u32(v, 0xfffffff0u);
    CHECK(read_patched(path, orig, size, 0, v, 4, 0, &n) == EMBER_ECORRUPT);
    CHECK(n == 0);
    CHECK(strstr(ember_last_error(), "corrupt shuffle file") != NULL);
    CHECK(strstr(ember_last_error(), path) != NULL);

    /* One byte too long: it would run into bucket 1's bytes, inside the file. */
    emberB_store_u32(v, 7);
    CHECK(read_patched(path, orig, size, 8, v, 4, 0, &n) == EMBER_ECORRUPT);
    CHECK(n == 1);

    /* One byte short: the bucket ends inside the next record's length. */
    emberB_store_u32(v, 5);
    CHECK(read_patched(path, orig, size, 8, v, 4, 0, &n) == EMBER_ECORRUPT);
    CHECK(n == 2);

    /* Bucket 1's only record, past the end of its range. */
    emberB_store_u32(v, 3);
    CHECK(read_patched(path, orig, size, 18, v, 4, 1, &n) == EMBER_ECORRUPT);
    CHECK(n == 0);

    /* The unpatched file still reads. */
    CHECK(read_patched(path, orig, size, 0, orig, 0, 0, &n) == 0);
    CHECK(n == 2);
free_orig:
    patch_keeps_crc = 0;
    ember_free(orig);
}

static void test_corrupt_index(void) {
    char path[512];
    tmp_path(path, sizeof path, "bad_index");
    write_small(path);
    size_t size;
    uint8_t *orig = slurp(path, &size);
    CHECK(orig != NULL && size == SMALL_SIZE);
    if (!orig || size != SMALL_SIZE) goto free_orig;
    uint8_t v[8];
    long n;

    CHECK(read_patched(path, orig, size, 80, (const uint8_t *)"EMSX", 4, 0, &n) == EMBER_ECORRUPT);
    CHECK(strstr(ember_last_error(), path) != NULL);
    emberB_store_u32(v, 1); /* version 1: no checksums */
    CHECK(read_patched(path, orig, size, 84, v, 4, 0, &n) == EMBER_ECORRUPT);
    emberB_store_u64(v, UINT64_MAX - 3); /* index offset */
    CHECK(read_patched(path, orig, size, 72, v, 8, 0, &n) == EMBER_ECORRUPT);
    emberB_store_u64(v, 57);
    CHECK(read_patched(path, orig, size, 72, v, 8, 0, &n) == EMBER_ECORRUPT);
    emberB_store_u64(v, 0);
    CHECK(read_patched(path, orig, size, 72, v, 8, 0, &n) == EMBER_ECORRUPT);
    emberB_store_u32(v, 2); /* nsegments: the index no longer fits */
    CHECK(read_patched(path, orig, size, 28, v, 4, 0, &n) == EMBER_ECORRUPT);
    emberB_store_u32(v, 0xffffffffu);
    CHECK(read_patched(path, orig, size, 28, v, 4, 0, &n) == EMBER_ECORRUPT);
    emberB_store_u32(v, 0x10000u); /* nbuckets */
    CHECK(read_patched(path, orig, size, 24, v, 4, 0, &n) == EMBER_ECORRUPT);
    emberB_store_u64(v, 100); /* bucket 1's length runs into the index */
    CHECK(read_patched(path, orig, size, 60, v, 8, 1, &n) == EMBER_ECORRUPT);
    CHECK(strstr(ember_last_error(), path) != NULL);
    emberB_store_u64(v, UINT64_MAX); /* bucket 1's offset: offset + length overflows */
    CHECK(read_patched(path, orig, size, 52, v, 8, 1, &n) == EMBER_ECORRUPT);
    emberB_store_u64(v, 25); /* inside the index */
    CHECK(read_patched(path, orig, size, 32, v, 8, 0, &n) == EMBER_ECORRUPT);
free_orig:
    ember_free(orig);
}

static void test_checksums(void) {
    char path[512];
    tmp_path(path, sizeof path, "crc");
    write_small(path);
    size_t size;
    uint8_t *orig = slurp(path, &size);
    CHECK(orig != NULL && size == SMALL_SIZE);
    if (!orig || size != SMALL_SIZE) goto free_orig;
    long n;
    uint8_t x = (uint8_t)(orig[5] ^ 0x20); /* "aaaa" -> "aAaa": lengths still fine */
    CHECK(read_patched(path, orig, size, 5, &x, 1, 0, &n) == EMBER_ECORRUPT);
    CHECK(n == 0);
    CHECK(strstr(ember_last_error(), "fails its checksum") != NULL);
    CHECK(strstr(ember_last_error(), path) != NULL);
    CHECK(read_patched(path, orig, size, 5, &x, 1, 1, &n) == 0); /* bucket 1 is intact */
    CHECK(n == 1);
    x = (uint8_t)(orig[68] ^ 1); /* bucket 1's CRC itself */
    CHECK(read_patched(path, orig, size, 68, &x, 1, 1, &n) == EMBER_ECORRUPT);
    uint8_t zero[8] = {0}; /* bucket 0's length zeroed: its bytes would be silently lost */
    CHECK(read_patched(path, orig, size, 40, zero, 8, 0, &n) == EMBER_ECORRUPT);
free_orig:
    ember_free(orig);
}

/* Every bucket of a mutated file reads back either exactly as written or fails with
 * EMBER_ECORRUPT: never altered records (random single-byte changes anywhere). */
static void test_mutations_never_read_as_valid(void) {
    char path[512];
    tmp_path(path, sizeof path, "mutated");
    gen_spec s = {.f = 3, .nbuckets = 4, .nrecords = 300, .skip = UINT32_MAX, .buffer_limit = 2000};
    CHECK(write_gen(path, &s, NULL) == 0);
    size_t size;
    uint8_t *orig = slurp(path, &size);
    uint8_t *copy = orig ? ember_malloc(size) : NULL;
    CHECK(copy != NULL);
    if (!copy) goto free_orig;
    const char *paths[] = {path};
    unsigned seed = 12345, altered = 0, caught = 0;
    for (int m = 0; m < 1000; m++) {
        memcpy(copy, orig, size);
        seed = seed * 1103515245u + 12345u;
        size_t at = (seed >> 8) % size;
        copy[at] ^= (uint8_t)(1 + (seed >> 3) % 255);
        if (spit(path, copy, size)) break;
        for (uint32_t b = 0; b < s.nbuckets; b++) {
            long n = check_bucket(paths, &s, 1, b);
            if (n >= 0) continue; /* exactly the records written */
            long got;
            int rc = drain(paths, 1, b, &got);
            if (rc == EMBER_ECORRUPT)
                caught++;
            else
                altered++;
        }
    }
    CHECK(altered == 0);
    CHECK(caught > 300);
free_orig:
    ember_free(copy);
    ember_free(orig);
}

static void test_truncated_file(void) {
    char path[512];
    tmp_path(path, sizeof path, "truncated");
    gen_spec s = {.f = 1, .nbuckets = 3, .nrecords = 400, .skip = UINT32_MAX, .buffer_limit = 300};
    CHECK(write_gen(path, &s, NULL) == 0);
    size_t size;
    uint8_t *orig = slurp(path, &size);
    CHECK(orig != NULL && size > 100);
    if (!orig || size <= 100) goto free_orig;
    size_t cuts[] = {size - 1, size - 8, size - 16, size - 17, size - 100, size / 2, 24, 23, 5, 0};
    const char *paths[] = {path};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        CHECK(spit(path, orig, cuts[i]) == 0);
        for (uint32_t b = 0; b < 3; b++) {
            long n;
            int rc = drain(paths, 1, b, &n);
            CHECK(rc == EMBER_ECORRUPT);
            if (rc != EMBER_ECORRUPT) fprintf(stderr, "  cut at %zu, bucket %u: %d\n", cuts[i], b, rc);
            CHECK(strstr(ember_last_error(), path) != NULL);
        }
    }
free_orig:
    ember_free(orig);
}

static void test_memory_bounded_by_buffer_limit(void) {
    /* Each bucket in turn gets a record of most of the limit. Buffers that grew past
     * their share must be let go after a segment, or 100 buckets would hold ~1.6 MB. */
    char path[512];
    tmp_path(path, sizeof path, "bounded");
    enum { NB = 100, LIMIT = 10000, REC = 9000 };
    static uint8_t rec[REC];
    memset(rec, 'r', sizeof rec);
    int64_t before = ember_mem_used();
    ember_shuffle_writer *w;
    CHECK(ember_shuffle_writer_open(path, NB, LIMIT, &w) == 0);
    int64_t peak = 0;
    for (int round = 0; round < 3; round++)
        for (uint32_t b = 0; b < NB; b++) {
            CHECK(ember_shuffle_writer_append(w, b, rec, sizeof rec) == 0);
            int64_t used = ember_mem_used() - before;
            if (used > peak) peak = used;
        }
    /* The limit, the doubling of one buffer, and the index (~150 segments x 100 x 20
     * bytes = 300 KB, in a buffer that doubles). */
    CHECK(peak < 4 * LIMIT + 600 * 1024);
    uint64_t bytes[NB];
    CHECK(ember_shuffle_writer_commit(w, bytes) == 0);
    CHECK(bytes[0] == 3 * (4 + REC) && bytes[NB - 1] == 3 * (4 + REC));
    CHECK(ember_mem_used() == before);
}

static void test_commit_failure_removes_temp(void) {
    /* A non-empty directory sits at the path, so the rename fails. */
    char path[512], tmp[600], inner[600];
    tmp_path(path, sizeof path, "blocked");
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    snprintf(inner, sizeof inner, "%s/x", path);
    CHECK(mkdir(path, 0700) == 0);
    CHECK(spit(inner, (const uint8_t *)"x", 1) == 0);
    ember_shuffle_writer *w;
    CHECK(ember_shuffle_writer_open(path, 2, 16, &w) == 0);
    for (int i = 0; i < 20; i++)
        CHECK(ember_shuffle_writer_append(w, (uint32_t)i % 2, "record", 6) == 0);
    CHECK(exists(tmp));
    uint64_t bytes[2] = {7, 7};
    CHECK(ember_shuffle_writer_commit(w, bytes) == EMBER_EIO);
    CHECK(strstr(ember_last_error(), path) != NULL);
    CHECK(!exists(tmp));
    CHECK(bytes[0] == 7 && bytes[1] == 7); /* untouched on failure */
    unlink(inner);
    CHECK(rmdir(path) == 0);
}

static void test_write_failure_sticks(void) {
    /* A file size limit makes write() fail with EFBIG once the file passes 4 KiB. */
    char path[512], tmp[600];
    tmp_path(path, sizeof path, "too_big");
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    struct rlimit old, small;
    CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
    small = old;
    small.rlim_cur = 4096;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &small) == 0);

    ember_shuffle_writer *w;
    CHECK(ember_shuffle_writer_open(path, 2, 100, &w) == 0);
    uint8_t rec[50] = {0};
    int rc = 0, i;
    for (i = 0; i < 1000 && rc == 0; i++)
        rc = ember_shuffle_writer_append(w, (uint32_t)i % 2, rec, sizeof rec);
    CHECK(rc == EMBER_EIO);
    CHECK(strstr(ember_last_error(), path) != NULL);
    CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
    signal(SIGXFSZ, old_handler);

    /* Writing would work again, but the file already lost a segment: the writer
     * must keep failing rather than commit a file with a hole in it. */
    CHECK(ember_shuffle_writer_append(w, 0, rec, sizeof rec) == EMBER_EIO);
    CHECK(ember_shuffle_writer_commit(w, NULL) == EMBER_EIO);
    CHECK(!exists(tmp));
    CHECK(!exists(path));
}

/* Copies bucket of the file at src into dst as raw ranges (emberF_bucket_ranges,
 * then emberF_writer_segment / emberF_writer_raw in pieces of `piece` bytes), as
 * cluster mode's fetch does; the copy has bucket + 1 buckets. Returns 0 or a code;
 * *nranges says how many ranges it had. */
static int copy_bucket(const char *src, const char *dst, uint32_t bucket, size_t piece, size_t *nranges) {
    int fd;
    emberF_range *ranges;
    int rc = emberF_bucket_ranges(src, bucket, &fd, &ranges, nranges);
    if (rc) return rc;
    ember_shuffle_writer *w = NULL;
    uint8_t *buf = ember_malloc(piece);
    rc = buf ? ember_shuffle_writer_open(dst, bucket + 1, 1 << 20, &w) : EMBER_ENOMEM;
    for (size_t i = 0; !rc && i < *nranges; i++) {
        rc = emberF_writer_segment(w, bucket, ranges[i].len, ranges[i].crc);
        for (uint64_t at = 0; !rc && at < ranges[i].len; at += piece) {
            size_t k = ranges[i].len - at < piece ? (size_t)(ranges[i].len - at) : piece;
            rc = pread(fd, buf, k, (off_t)(ranges[i].off + at)) == (ssize_t)k ? emberF_writer_raw(w, buf, k) : -1;
        }
    }
    if (w) rc = rc ? (ember_shuffle_writer_abort(w), rc) : ember_shuffle_writer_commit(w, NULL);
    ember_free(buf);
    ember_free(ranges);
    close(fd);
    return rc;
}

/* A bucket copied as its raw ranges (many segments, pieces cutting records) reads
 * back as the original's bucket; the copy keeps one segment a range. */
static void test_raw_copy_round_trip(void) {
    char src[512], dst[512];
    tmp_path(src, sizeof src, "raw-src");
    tmp_path(dst, sizeof dst, "raw-dst");
    gen_spec s = {7, 5, 3000, UINT32_MAX, 2000};
    CHECK(write_gen(src, &s, NULL) == 0);
    for (uint32_t b = 0; b < 5; b++) {
        size_t nranges = 0;
        CHECK(copy_bucket(src, dst, b, 37, &nranges) == 0);
        CHECK(nranges > 10);
        uint32_t nb, nseg;
        CHECK(read_index_header(dst, &nb, &nseg) == 0 && nb == b + 1 && nseg == nranges);
        const char *paths[1] = {dst};
        gen_spec only = s; /* the copy holds bucket b alone, in the same order */
        CHECK(check_bucket(paths, &only, 1, b) > 0);
        for (uint32_t other = 0; other < b; other++) {
            long n = -1;
            CHECK(drain(paths, 1, other, &n) == 0 && n == 0);
        }
        unlink(dst);
    }
    /* A bucket with no record has no range; a bucket past the file's fails. */
    gen_spec skip = {3, 4, 500, 2, 700};
    CHECK(write_gen(src, &skip, NULL) == 0);
    int fd;
    emberF_range *ranges;
    size_t n;
    CHECK(emberF_bucket_ranges(src, 2, &fd, &ranges, &n) == 0 && n == 0 && ranges == NULL);
    close(fd);
    CHECK(emberF_bucket_ranges(src, 4, &fd, &ranges, &n) == EMBER_EINVAL && fd == -1);
    tmp_path(dst, sizeof dst, "raw-missing");
    CHECK(emberF_bucket_ranges(dst, 0, &fd, &ranges, &n) == EMBER_ENOENT && fd == -1);
    unlink(src);
}

/* Raw bytes are taken on trust, and checked where the copy is read: a changed byte
 * fails its range's CRC there. Bytes past a range, a segment begun before the last
 * is whole, a record appended inside one and a commit short of bytes all fail. */
static void test_raw_copy_checked_and_bounded(void) {
    char src[512], dst[512];
    tmp_path(src, sizeof src, "rawc-src");
    tmp_path(dst, sizeof dst, "rawc-dst");
    gen_spec s = {1, 2, 200, UINT32_MAX, 1 << 20};
    CHECK(write_gen(src, &s, NULL) == 0);
    size_t nranges;
    CHECK(copy_bucket(src, dst, 1, 1000, &nranges) == 0 && nranges == 1);
    size_t size;
    uint8_t *d = slurp(dst, &size);
    CHECK(d && size > 100);
    if (d) {
        d[10] ^= 0x40; /* inside the first record's bytes */
        CHECK(spit(dst, d, size) == 0);
        long n;
        const char *paths[1] = {dst};
        CHECK(drain(paths, 1, 1, &n) == EMBER_ECORRUPT);
        CHECK(strstr(ember_last_error(), "fails its checksum") != NULL);
    }
    ember_free(d);
    unlink(dst);

    ember_shuffle_writer *w;
    uint8_t bytes[16] = {0};
    CHECK(ember_shuffle_writer_open(dst, 2, 1 << 20, &w) == 0);
    CHECK(emberF_writer_segment(w, 2, 4, 0) == EMBER_EINVAL); /* no bucket 2 */
    CHECK(emberF_writer_segment(w, 1, 8, 0) == 0);
    CHECK(emberF_writer_segment(w, 1, 8, 0) == EMBER_EPROTO); /* the first lacks 8 bytes */
    CHECK(ember_shuffle_writer_append(w, 0, bytes, 4) == EMBER_EINVAL);
    CHECK(emberF_writer_raw(w, bytes, 4) == 0);
    CHECK(ember_shuffle_writer_commit(w, NULL) == EMBER_EPROTO); /* 4 bytes short */
    CHECK(strstr(ember_last_error(), "lacks 4 bytes") != NULL);
    CHECK(!exists(dst));
    CHECK(ember_shuffle_writer_open(dst, 2, 1 << 20, &w) == 0);
    CHECK(emberF_writer_segment(w, 0, 8, 0) == 0);
    CHECK(emberF_writer_raw(w, bytes, 12) == EMBER_EPROTO); /* past the range */
    CHECK(emberF_writer_raw(w, bytes, 8) == EMBER_EPROTO);  /* broken for good */
    ember_shuffle_writer_abort(w);
    CHECK(!exists(dst));
    /* Records appended before a raw segment are written out first, in order. */
    CHECK(ember_shuffle_writer_open(dst, 2, 1 << 20, &w) == 0);
    CHECK(ember_shuffle_writer_append(w, 1, "ab", 2) == 0);
    uint8_t framed[7] = {3, 0, 0, 0, 'c', 'd', 'e'};
    CHECK(emberF_writer_segment(w, 1, 7, emberK_crc32c(0, framed, 7)) == 0);
    CHECK(emberF_writer_raw(w, framed, 3) == 0 && emberF_writer_raw(w, framed + 3, 4) == 0);
    uint64_t sizes[2];
    CHECK(ember_shuffle_writer_commit(w, sizes) == 0 && sizes[0] == 0 && sizes[1] == 13);
    ember_shuffle_reader *r;
    const char *paths[1] = {dst};
    const void *rec;
    size_t len;
    CHECK(ember_shuffle_reader_open(paths, 1, 1, &r) == 0);
    CHECK(ember_shuffle_reader_next(r, &rec, &len) == 1 && len == 2 && memcmp(rec, "ab", 2) == 0);
    CHECK(ember_shuffle_reader_next(r, &rec, &len) == 1 && len == 3 && memcmp(rec, "cde", 3) == 0);
    CHECK(ember_shuffle_reader_next(r, &rec, &len) == 0);
    ember_shuffle_reader_close(r);
    unlink(dst);
    unlink(src);
}

static void test_memory_returns(void) { CHECK(ember_mem_used() == mem_at_start); }

/* Removes a directory and what is in it (tests make at most one level below). */
static void remove_dir(const char *dir, int depth) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) != 0 && errno == EISDIR && depth < 2) remove_dir(path, depth + 1);
    }
    closedir(d);
    rmdir(dir);
}

int main(void) {
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/ember-test-shuffle-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    mem_at_start = ember_mem_used();

    RUN(test_round_trip_many_segments);
    RUN(test_one_segment_and_big_records);
    RUN(test_big_records_mapped_and_checked);
    RUN(test_big_record_among_many_buckets_is_buffered);
    RUN(test_several_files_in_order);
    RUN(test_empty);
    RUN(test_zero_length_records);
    RUN(test_abort_leaves_no_file);
    RUN(test_bad_arguments);
    RUN(test_missing_file);
    RUN(test_small_file_layout);
    RUN(test_corrupt_record_length);
    RUN(test_corrupt_index);
    RUN(test_checksums);
    RUN(test_mutations_never_read_as_valid);
    RUN(test_truncated_file);
    RUN(test_memory_bounded_by_buffer_limit);
    RUN(test_commit_failure_removes_temp);
    RUN(test_write_failure_sticks);
    RUN(test_raw_copy_round_trip);
    RUN(test_raw_copy_checked_and_bounded);
    RUN(test_memory_returns);

    remove_dir(tmpdir, 0);
    if (exists(tmpdir)) fprintf(stderr, "could not remove %s\n", tmpdir);
    return TEST_REPORT();
}
