/* test_seqfile.c — unit tests of the SequenceFile reader (src/seqfile.c): the header,
 * records across sync markers, splits that tile a file's records exactly once, Hadoop's
 * .crc files verified, and damaged, truncated, compressed and foreign files named with
 * the byte offset. Files are built here byte by byte. */
#include "ember.h"
#include "test.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static char tmpdir[256];
static const uint8_t SYNC[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

typedef struct bytes {
    uint8_t *d;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *p, size_t n) {
    while (b->n + n > b->cap)
        b->d = realloc(b->d, b->cap = b->cap ? b->cap * 2 : 256);
    memcpy(b->d + b->n, p, n);
    b->n += n;
}
static void put_be32(bytes *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    put(b, x, 4);
}
static void put_text(bytes *b, const char *s) {
    uint8_t n = (uint8_t)strlen(s); /* class names here are < 128 bytes: a one-byte vint */
    put(b, &n, 1);
    put(b, s, n);
}

static const char *tpath(const char *name) {
    static char bufs[4][1024];
    static int next;
    char *p = bufs[next++ % 4];
    snprintf(p, sizeof bufs[0], "%s/%s", tmpdir, name);
    return p;
}

static void spill(const char *path, const void *d, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(d, 1, n, f) == n);
    CHECK(fclose(f) == 0);
}

/* Writes Hadoop's checksum file for data beside path. */
static void write_crc(const char *path, const uint8_t *d, size_t n, uint32_t chunk) {
    char c[1100];
    const char *slash = strrchr(path, '/');
    snprintf(c, sizeof c, "%.*s/.%s.crc", (int)(slash - path), path, slash + 1);
    bytes b = {0};
    put(&b, "crc\0", 4);
    put_be32(&b, chunk);
    for (size_t i = 0; i < n; i += chunk)
        put_be32(&b, (uint32_t)crc32(0, d + i, (uInt)(n - i < chunk ? n - i : chunk)));
    spill(c, b.d, b.n);
    free(b.d);
}

/* A file of `count` records "k<i>" -> "value <i>" (Text-like bytes), a sync marker
 * before every `every`-th record. */
static bytes make_file(int count, int every, int compressed) {
    bytes b = {0};
    put(&b, "SEQ\x06", 4);
    put_text(&b, "org.apache.hadoop.io.Text");
    put_text(&b, "org.apache.hadoop.io.Text");
    uint8_t flags[2] = {(uint8_t)compressed, (uint8_t)compressed};
    put(&b, flags, 2);
    if (compressed) put_text(&b, "org.apache.hadoop.io.compress.GzipCodec");
    put_be32(&b, 1); /* one metadata pair */
    put_text(&b, "name");
    put_text(&b, "value");
    put(&b, SYNC, 16);
    for (int i = 0; i < count; i++) {
        if (every && i && i % every == 0) {
            put_be32(&b, 0xffffffffu);
            put(&b, SYNC, 16);
        }
        char k[32], v[64];
        int kl = snprintf(k, sizeof k, "k%d", i), vl = snprintf(v, sizeof v, "value %d%*s", i, i % 50, "");
        put_be32(&b, (uint32_t)(kl + vl));
        put_be32(&b, (uint32_t)kl);
        put(&b, k, (size_t)kl);
        put(&b, v, (size_t)vl);
    }
    return b;
}

/* Reads the records of a split: returns the reader status; counts records and checks
 * each is the next expected one (*next). */
static int read_split(const char *path, int64_t start, int64_t end, int *next) {
    ember_seq_reader *r;
    int rc = ember_seq_reader_open(path, start, end, &r);
    if (rc) return rc;
    ember_seq_record rec;
    while ((rc = ember_seq_reader_next(r, &rec)) == 1) {
        char k[32];
        int kl = snprintf(k, sizeof k, "k%d", *next);
        CHECK(rec.key_len == (size_t)kl && memcmp(rec.key, k, (size_t)kl) == 0);
        CHECK(rec.value_len >= 6 && memcmp(rec.value, "value ", 6) == 0);
        ++*next;
    }
    ember_seq_reader_close(r);
    return rc;
}

static void test_header_and_records(void) {
    int64_t mem0 = ember_mem_used();
    bytes b = make_file(500, 37, 0);
    const char *p = tpath("plain");
    spill(p, b.d, b.n);
    ember_seq_reader *r;
    CHECK(ember_seq_reader_open(p, 0, -1, &r) == 0);
    CHECK(strcmp(ember_seq_reader_key_class(r), "org.apache.hadoop.io.Text") == 0);
    CHECK(strcmp(ember_seq_reader_value_class(r), "org.apache.hadoop.io.Text") == 0);
    CHECK(ember_seq_reader_compression(r, NULL) == NULL);
    ember_seq_reader_close(r);
    int next = 0;
    CHECK(read_split(p, 0, -1, &next) == 0);
    CHECK(next == 500);
    free(b.d);
    unlink(p);
    CHECK(ember_mem_used() == mem0);
}

static void test_splits_tile_the_records(void) {
    int64_t mem0 = ember_mem_used();
    bytes b = make_file(700, 23, 0);
    const char *p = tpath("tiles");
    spill(p, b.d, b.n);
    write_crc(p, b.d, b.n, 512);
    uint32_t x = 99;
    for (int trial = 0; trial < 200; trial++) {
        int64_t cuts[6];
        int ncuts = 1 + trial % 5;
        cuts[0] = 0;
        for (int i = 1; i <= ncuts; i++) {
            x = x * 1103515245u + 12345u;
            cuts[i] = cuts[i - 1] + (int64_t)((x >> 8) % (b.n / (size_t)ncuts + 1));
            if (cuts[i] > (int64_t)b.n) cuts[i] = (int64_t)b.n;
        }
        cuts[ncuts] = (int64_t)b.n;
        int next = 0;
        for (int i = 0; i < ncuts; i++)
            CHECK(read_split(p, cuts[i], cuts[i + 1], &next) == 0);
        CHECK(next == 700);
    }
    free(b.d);
    CHECK(ember_mem_used() == mem0);
}

static void test_checksums(void) {
    int64_t mem0 = ember_mem_used();
    bytes b = make_file(300, 50, 0);
    const char *p = tpath("crc");
    write_crc(p, b.d, b.n, 512);
    b.d[1500] ^= 0x04;
    spill(p, b.d, b.n);
    int next = 0;
    CHECK(read_split(p, 0, -1, &next) == EMBER_ECORRUPT);
    CHECK(strstr(ember_last_error(), "checksum error in ") != NULL);
    CHECK(strstr(ember_last_error(), "at byte 1024") != NULL);
    /* a file cut short no longer matches its checksum count: refused at open */
    spill(p, b.d, b.n - 600);
    ember_seq_reader *r = (ember_seq_reader *)1;
    CHECK(ember_seq_reader_open(p, 0, -1, &r) == EMBER_ECORRUPT);
    CHECK(r == NULL);
    CHECK(strstr(ember_last_error(), "does not match its checksum file") != NULL);
    free(b.d);
    CHECK(ember_mem_used() == mem0);
}

static void test_damage_without_checksums(void) {
    int64_t mem0 = ember_mem_used();
    bytes b = make_file(100, 30, 0);
    const char *p = tpath("damaged");
    int next = 0;
    /* truncated in the middle of a record */
    spill(p, b.d, b.n - 3);
    CHECK(read_split(p, 0, -1, &next) == EMBER_ECORRUPT);
    CHECK(strstr(ember_last_error(), "truncated SequenceFile ") != NULL);
    CHECK(strstr(ember_last_error(), "needs") != NULL);
    /* a key longer than its record */
    size_t first = 4 + 26 + 26 + 2 + 4 + 5 + 6 + 16;
    bytes c = {0};
    put(&c, b.d, b.n);
    c.d[first + 7] = 0x7f;
    spill(p, c.d, c.n);
    next = 0;
    CHECK(read_split(p, 0, -1, &next) == EMBER_ECORRUPT);
    char want[64];
    snprintf(want, sizeof want, "at byte %zu: record length", first);
    CHECK(strstr(ember_last_error(), want) != NULL);
    /* a damaged sync marker */
    memcpy(c.d, b.d, b.n);
    for (size_t i = first; i + 20 < c.n; i++)
        if (memcmp(c.d + i, "\xff\xff\xff\xff", 4) == 0) {
            c.d[i + 10] ^= 1;
            break;
        }
    spill(p, c.d, c.n);
    next = 0;
    CHECK(read_split(p, 0, -1, &next) == EMBER_ECORRUPT);
    CHECK(strstr(ember_last_error(), "sync marker that does not match") != NULL);
    /* every prefix of the file fails cleanly or reads a prefix of the records */
    for (size_t n = 0; n < b.n; n += 7) {
        spill(p, b.d, n);
        next = 0;
        int rc = read_split(p, 0, -1, &next);
        CHECK(rc == 0 || rc == EMBER_ECORRUPT || rc == EMBER_EINVAL);
        if (rc == 0) CHECK(next <= 100); /* a cut at a record boundary is a shorter, valid file */
    }
    free(c.d);
    free(b.d);
    unlink(p);
    CHECK(ember_mem_used() == mem0);
}

static void test_other_files(void) {
    int64_t mem0 = ember_mem_used();
    const char *p = tpath("other");
    ember_seq_reader *r = (ember_seq_reader *)1;
    spill(p, "hello world\n", 12);
    CHECK(ember_seq_reader_open(p, 0, -1, &r) == EMBER_EINVAL);
    CHECK(strstr(ember_last_error(), "is not a Hadoop SequenceFile (it looks like plain text)") != NULL);
    spill(p, "", 0);
    CHECK(ember_seq_reader_open(p, 0, -1, &r) == EMBER_EINVAL);
    CHECK(strstr(ember_last_error(), "it looks like an empty file") != NULL);
    spill(p, "SEQ\x05xxxx", 8);
    CHECK(ember_seq_reader_open(p, 0, -1, &r) == EMBER_EINVAL);
    CHECK(strstr(ember_last_error(), "SequenceFile version 5 at byte 3") != NULL);
    CHECK(ember_seq_reader_open(tpath("missing"), 0, -1, &r) == EMBER_ENOENT);
    CHECK(ember_seq_reader_open(p, 5, 2, &r) == EMBER_EINVAL);
    /* a compressed file opens, says how, and refuses to read */
    bytes b = make_file(3, 0, 1);
    spill(p, b.d, b.n);
    CHECK(ember_seq_reader_open(p, 0, -1, &r) == 0);
    const char *codec = NULL;
    CHECK(r && strcmp(ember_seq_reader_compression(r, &codec), "block") == 0);
    CHECK(codec && strcmp(codec, "org.apache.hadoop.io.compress.GzipCodec") == 0);
    ember_seq_record rec;
    CHECK(ember_seq_reader_next(r, &rec) == EMBER_EINVAL);
    CHECK(strstr(ember_last_error(), "block-compressed SequenceFile") != NULL);
    ember_seq_reader_close(r);
    free(b.d);
    unlink(p);
    CHECK(ember_mem_used() == mem0);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ember-test-seqfile-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_header_and_records);
    RUN(test_splits_tile_the_records);
    RUN(test_checksums);
    RUN(test_damage_without_checksums);
    RUN(test_other_files);
    unlink(tpath("tiles"));
    unlink(tpath(".tiles.crc"));
    unlink(tpath("crc"));
    unlink(tpath(".crc.crc"));
    rmdir(tmpdir);
    return TEST_REPORT();
}
