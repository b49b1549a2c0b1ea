/* test_codec.c — unit tests of the compression codecs (src/codec.c) as text input and
 * output use them: names by extension, each codec's writer read back by the line
 * reader (whole, concatenated, empty, through tiny buffers), magic-byte checks naming
 * what a misnamed file looks like, truncated and corrupt files named with an offset,
 * bzip2 files read in splits from block to block, and every byte allocated given back. */
#include "ember.h"
#include "test.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef EMBER_HAVE_BZIP2
#include <bzlib.h>
#endif

extern size_t emberT_buffer_size;

static char tmpdir[256];
static const int all_codecs[] = {EMBER_CODEC_GZIP, EMBER_CODEC_DEFLATE, EMBER_CODEC_BZIP2, EMBER_CODEC_XZ,
                                 EMBER_CODEC_ZSTD};
#define NALL (sizeof all_codecs / sizeof all_codecs[0])

static const char *tpath(const char *name, int codec) {
    static char bufs[8][1024];
    static int next;
    char *p = bufs[next++ % 8];
    snprintf(p, sizeof bufs[0], "%s/%s%s", tmpdir, name, ember_codec_extension(codec));
    return p;
}

/* Reads a whole file into a malloc'd buffer. */
static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *d = malloc(cap);
    size_t got;
    while ((got = fread(d + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) d = realloc(d, cap *= 2);
    }
    fclose(f);
    *len = n;
    return d;
}

static void spill(const char *path, const void *d, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(d, 1, n, f) == n);
    CHECK(fclose(f) == 0);
}

/* Writes text through the codec's writer into path. */
static void compress_to(int codec, const char *path, const char *text, size_t len) {
    ember_compressed_writer *w = NULL;
    CHECK(ember_compressed_writer_open(codec, path, &w) == 0);
    /* in uneven pieces, to cross the writer's buffer at odd places */
    for (size_t off = 0, piece = 1; off < len; off += piece, piece = piece * 3 + 1) {
        if (piece > len - off) piece = len - off;
        CHECK(ember_compressed_writer_write(w, text + off, piece) == 0);
    }
    CHECK(ember_compressed_writer_finish(w) == 0);
    ember_compressed_writer_close(w);
}

/* Reads the lines of path (listed and split as textFile does) into a malloc'd string,
 * each line followed by '\n'. Returns 0 or the reader's error. */
static int read_all(const char *path, char **out, size_t *out_len) {
    ember_split *s = NULL;
    size_t n = 0, cap = 1 << 12, len = 0;
    char *d = malloc(cap);
    int rc = ember_text_splits(path, 1, &s, &n);
    for (size_t i = 0; i < n && !rc; i++) {
        ember_line_reader *r;
        rc = ember_line_reader_open(&s[i], &r);
        if (rc) break;
        const char *line;
        size_t ll;
        int more;
        while ((more = ember_line_reader_next(r, &line, &ll)) == 1) {
            while (len + ll + 1 > cap)
                d = realloc(d, cap *= 2);
            memcpy(d + len, line, ll);
            len += ll;
            d[len++] = '\n';
        }
        if (more < 0) rc = more;
        ember_line_reader_close(r);
    }
    ember_splits_free(s, n);
    *out = d;
    *out_len = len;
    return rc;
}

/* Text of `lines` lines of varying lengths (some empty), '\n'-terminated. */
static char *make_text(int lines, size_t *len) {
    size_t cap = 1 << 12, n = 0;
    char *d = malloc(cap);
    uint32_t x = 12345;
    for (int i = 0; i < lines; i++) {
        x = x * 1103515245u + 12345u;
        size_t ll = (x >> 16) % 120;
        while (n + ll + 1 > cap)
            d = realloc(d, cap *= 2);
        for (size_t j = 0; j < ll; j++)
            d[n++] = (char)('a' + (x >> (j % 20)) % 26);
        d[n++] = '\n';
    }
    *len = n;
    return d;
}

/* ---- tests ------------------------------------------------------------------- */

static void test_names(void) {
    CHECK(ember_codec_of_name("/d/a.gz") == EMBER_CODEC_GZIP);
    CHECK(ember_codec_of_name("part-00000.deflate") == EMBER_CODEC_DEFLATE);
    CHECK(ember_codec_of_name("x.bz2") == EMBER_CODEC_BZIP2);
    CHECK(ember_codec_of_name("x.xz") == EMBER_CODEC_XZ);
    CHECK(ember_codec_of_name("x.zst") == EMBER_CODEC_ZSTD);
    CHECK(ember_codec_of_name("x.gz.txt") == EMBER_CODEC_NONE);
    CHECK(ember_codec_of_name("x.GZ") == EMBER_CODEC_NONE); /* Hadoop's match is case-sensitive */
    CHECK(ember_codec_of_name(".gz") == EMBER_CODEC_NONE);
    CHECK(strcmp(ember_codec_name(EMBER_CODEC_BZIP2), "bzip2") == 0);
    CHECK(strcmp(ember_codec_extension(EMBER_CODEC_ZSTD), ".zst") == 0);
    CHECK(ember_codec_available(EMBER_CODEC_GZIP) && ember_codec_available(EMBER_CODEC_DEFLATE));
    CHECK(!ember_codec_available(99) && !ember_codec_available(-1));
}

static void test_round_trip(void) {
    int64_t mem0 = ember_mem_used();
    size_t len;
    char *text = make_text(20000, &len); /* ~1.2 MB: many decoder and reader buffers */
    for (size_t i = 0; i < NALL; i++) {
        int c = all_codecs[i];
        if (!ember_codec_available(c)) continue;
        const char *p = tpath("round", c);
        compress_to(c, p, text, len);
        char *got;
        size_t got_len;
        CHECK(read_all(p, &got, &got_len) == 0);
        CHECK(got_len == len && memcmp(got, text, len) == 0);
        free(got);
        /* one split, read whole; bzip2 alone is cut */
        ember_split *s;
        size_t n;
        CHECK(ember_text_splits(p, 8, &s, &n) == 0);
        if (c == EMBER_CODEC_BZIP2)
            CHECK(n == 8 && s[0].codec == c && s[7].end > 0);
        else
            CHECK(n == 1 && s[0].codec == c && s[0].start == 0 && s[0].end == -1);
        ember_splits_free(s, n);
        unlink(p);
    }
    free(text);
    CHECK(ember_mem_used() == mem0);
}

static void test_tiny_buffers_and_terminators(void) {
    int64_t mem0 = ember_mem_used();
    static const char text[] = "alpha\nbeta\r\ngamma\rdelta\n\nlast";
    size_t saved = emberT_buffer_size;
    for (size_t i = 0; i < NALL; i++) {
        int c = all_codecs[i];
        if (!ember_codec_available(c)) continue;
        const char *p = tpath("tiny", c);
        compress_to(c, p, text, strlen(text));
        for (size_t b = 1; b <= 5; b++) {
            emberT_buffer_size = b;
            char *got;
            size_t got_len;
            CHECK(read_all(p, &got, &got_len) == 0);
            CHECK(got_len == 29 && memcmp(got, "alpha\nbeta\ngamma\ndelta\n\nlast\n", 29) == 0);
            free(got);
        }
        emberT_buffer_size = saved;
        unlink(p);
    }
    emberT_buffer_size = saved;
    CHECK(ember_mem_used() == mem0);
}

static void test_concatenated_and_empty(void) {
    int64_t mem0 = ember_mem_used();
    for (size_t i = 0; i < NALL; i++) {
        int c = all_codecs[i];
        if (!ember_codec_available(c)) continue;
        const char *a = tpath("a", c), *b = tpath("b", c), *ab = tpath("ab", c);
        compress_to(c, a, "one\ntw", 6);
        compress_to(c, b, "o\nthree\n", 8);
        size_t la, lb;
        char *da = slurp(a, &la), *db = slurp(b, &lb);
        char *both = malloc(la + lb);
        memcpy(both, da, la);
        memcpy(both + la, db, lb);
        spill(ab, both, la + lb);
        char *got;
        size_t got_len;
        CHECK(read_all(ab, &got, &got_len) == 0);
        CHECK(got_len == 14 && memcmp(got, "one\ntwo\nthree\n", 14) == 0);
        free(got);
        free(both);
        free(da);
        free(db);
        unlink(a);
        unlink(b);
        unlink(ab);

        /* an empty file holds no lines; an empty stream neither */
        const char *e = tpath("empty", c);
        spill(e, "", 0);
        CHECK(read_all(e, &got, &got_len) == 0);
        CHECK(got_len == 0);
        free(got);
        compress_to(c, e, "", 0);
        CHECK(read_all(e, &got, &got_len) == 0);
        CHECK(got_len == 0);
        free(got);
        unlink(e);
    }
    CHECK(ember_mem_used() == mem0);
}

static void test_magic_bytes(void) {
    int64_t mem0 = ember_mem_used();
    char *got;
    size_t got_len;
    /* text named .gz */
    const char *fake = tpath("fake", EMBER_CODEC_GZIP);
    spill(fake, "just some text\nlines\n", 21);
    CHECK(read_all(fake, &got, &got_len) == EMBER_ECORRUPT);
    CHECK(strstr(ember_last_error(), fake) != NULL);
    CHECK(strstr(ember_last_error(), "is not gzip data") != NULL);
    CHECK(strstr(ember_last_error(), "plain text") != NULL);
    free(got);
    unlink(fake);
    /* each codec's data named as each other codec says what it is */
    for (size_t i = 0; i < NALL; i++) {
        int c = all_codecs[i];
        if (!ember_codec_available(c)) continue;
        const char *real = tpath("real", c);
        compress_to(c, real, "x\n", 2);
        size_t n;
        char *raw = slurp(real, &n);
        for (size_t j = 0; j < NALL; j++) {
            int other = all_codecs[j];
            if (other == c) continue;
            const char *p = tpath("misnamed", other);
            spill(p, raw, n);
            CHECK(read_all(p, &got, &got_len) == EMBER_ECORRUPT);
            CHECK(strstr(ember_last_error(), p) != NULL);
            char want[64];
            snprintf(want, sizeof want, "looks like %s data", ember_codec_name(c));
            CHECK(strstr(ember_last_error(), want) != NULL);
            free(got);
            unlink(p);
        }
        free(raw);
        unlink(real);
    }
    /* binary data is shown by its first bytes */
    spill(fake, "\x00\x01\x02\xff", 4);
    CHECK(read_all(fake, &got, &got_len) == EMBER_ECORRUPT);
    CHECK(strstr(ember_last_error(), "binary data starting 00 01 02 ff") != NULL);
    free(got);
    unlink(fake);
    CHECK(ember_mem_used() == mem0);
}

static void test_truncated_and_corrupt(void) {
    int64_t mem0 = ember_mem_used();
    size_t len;
    char *text = make_text(3000, &len);
    for (size_t i = 0; i < NALL; i++) {
        int c = all_codecs[i];
        if (!ember_codec_available(c)) continue;
        const char *p = tpath("good", c), *bad = tpath("bad", c);
        compress_to(c, p, text, len);
        size_t n;
        char *raw = slurp(p, &n);
        CHECK(n > 64);
        char *got;
        size_t got_len;
        /* cut at several places, the last one just before the end */
        size_t cuts[] = {n / 3, n / 2, n - 1};
        for (size_t k = 0; k < 3; k++) {
            spill(bad, raw, cuts[k]);
            CHECK(read_all(bad, &got, &got_len) == EMBER_ECORRUPT);
            CHECK(strstr(ember_last_error(), bad) != NULL);
            CHECK(strstr(ember_last_error(), "compressed byte") != NULL);
            if (strstr(ember_last_error(), "compressed byte") == NULL) fprintf(stderr, "%s\n", ember_last_error());
            free(got);
        }
        /* a flipped byte in the middle fails (each format carries a checksum) */
        raw[n / 2] ^= 0x55;
        spill(bad, raw, n);
        CHECK(read_all(bad, &got, &got_len) == EMBER_ECORRUPT);
        CHECK(strstr(ember_last_error(), bad) != NULL);
        free(got);
        free(raw);
        unlink(p);
        unlink(bad);
    }
    free(text);
    CHECK(ember_mem_used() == mem0);
}

/* ---- bzip2 splits --------------------------------------------------------------- */
#ifdef EMBER_HAVE_BZIP2
/* Bit offsets of the block magics in d[0, n), at most max of them. */
static size_t block_magics(const unsigned char *d, size_t n, int64_t *at, size_t max) {
    const uint64_t magic = 0x314159265359ULL, mask = (1ULL << 48) - 1;
    uint64_t w = 0;
    size_t found = 0;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 8; k++) {
            w = (w << 1 | (uint64_t)(d[i] >> (7 - k) & 1)) & mask;
            if (i * 8 + (size_t)k + 1 >= 48 && w == magic && found < max)
                at[found++] = (int64_t)(i * 8 + (size_t)k + 1 - 48);
        }
    return found;
}

/* The lines of the split [start, end) of a .bz2 file, appended to *out. */
static int read_bz2_range(const char *path, int64_t start, int64_t end, char **out, size_t *len, size_t *cap) {
    ember_split s = {(char *)path, start, end, EMBER_CODEC_BZIP2};
    ember_line_reader *r;
    int rc = ember_line_reader_open(&s, &r);
    if (rc) return rc;
    const char *line;
    size_t ll;
    while ((rc = ember_line_reader_next(r, &line, &ll)) == 1) {
        while (*len + ll + 1 > *cap)
            *out = realloc(*out, *cap *= 2);
        memcpy(*out + *len, line, ll);
        *len += ll;
        (*out)[(*len)++] = '\n';
    }
    ember_line_reader_close(r);
    return rc;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Splits of a multi-block file (bzip2 -1: blocks of 100 kB), cut anywhere, and at and
 * around every block's first byte, give every line once, in order; so do the splits
 * textFile cuts, also over two concatenated streams; a damaged block fails naming
 * the file and the block. */
static void test_bzip2_splits(void) {
    int64_t mem0 = ember_mem_used();
    size_t saved = emberT_buffer_size;
    size_t len;
    char *text = make_text(9000, &len); /* about 540 kB: 6 blocks */
    for (size_t i = 0; i < len; i += 997)
        if (text[i] == '\n') text[i] = '\r'; /* some lone \r */
    unsigned int zlen = (unsigned int)len + len / 50 + 1000;
    char *z = malloc(zlen * 2);
    CHECK(BZ2_bzBuffToBuffCompress(z, &zlen, text, (unsigned int)len, 1, 0, 30) == BZ_OK);
    /* the reference: the file read whole */
    const char *p = tpath("multi", EMBER_CODEC_BZIP2);
    spill(p, z, zlen);
    char *want;
    size_t want_len;
    CHECK(read_all(p, &want, &want_len) == 0);
    int64_t magic[64];
    size_t nblocks = block_magics((unsigned char *)z, zlen, magic, 64);
    CHECK(nblocks >= 5);

    size_t cap = 1 << 16;
    char *got = malloc(cap);
    /* cuts at and around each block's first byte, each as the end of one split */
    for (size_t b = 0; b < nblocks; b++) {
        for (int64_t delta = -8; delta <= 8; delta++) {
            int64_t c = magic[b] / 8 + delta;
            if (c < 0 || c > (int64_t)zlen) continue;
            size_t n = 0;
            CHECK(read_bz2_range(p, 0, c, &got, &n, &cap) == 0);
            CHECK(read_bz2_range(p, c, delta % 2 ? -1 : (int64_t)zlen, &got, &n, &cap) == 0); /* -1: to the end */
            CHECK(n == want_len && memcmp(got, want, n) == 0);
            if (n != want_len)
                fprintf(stderr, "  cut at %lld (block %zu at bit %lld): %zu bytes of lines, want %zu\n", (long long)c,
                        b, (long long)magic[b], n, want_len);
        }
    }
    /* random cuts, some through tiny line buffers */
    uint64_t x = 99;
    for (int round = 0; round < 40; round++) {
        int64_t cuts[12];
        size_t nc = 2 + (size_t)(round % 10);
        cuts[0] = 0;
        cuts[1] = (int64_t)zlen;
        for (size_t k = 2; k < nc; k++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            cuts[k] = (int64_t)((x >> 33) % (zlen + 1));
        }
        qsort(cuts, nc, sizeof *cuts, cmp_i64);
        emberT_buffer_size = round % 4 == 0 ? 1 + (size_t)round % 7 : saved;
        size_t n = 0;
        for (size_t k = 0; k + 1 < nc; k++)
            CHECK(read_bz2_range(p, cuts[k], cuts[k + 1], &got, &n, &cap) == 0);
        CHECK(n == want_len && memcmp(got, want, n) == 0);
    }
    emberT_buffer_size = saved;

    /* textFile's own cuts, on one stream and on two concatenated ones */
    const char *two = tpath("two", EMBER_CODEC_BZIP2);
    spill(two, z, zlen);
    FILE *f = fopen(two, "ab");
    CHECK(f && fwrite(z, 1, zlen, f) == zlen && fclose(f) == 0);
    for (int parts = 1; parts <= 40; parts += 13) {
        ember_split *s;
        size_t ns, n = 0;
        CHECK(ember_text_splits(two, parts, &s, &ns) == 0);
        CHECK(parts == 1 ? ns == 1 && s[0].end == -1 : ns >= (size_t)parts);
        for (size_t k = 0; k < ns; k++)
            CHECK(read_bz2_range(two, s[k].start, s[k].end, &got, &n, &cap) == 0);
        CHECK(n == 2 * want_len && memcmp(got, want, want_len) == 0 && memcmp(got + want_len, want, want_len) == 0);
        ember_splits_free(s, ns);
    }

    /* a damaged third block: the split holding it fails, naming the file and block */
    z[magic[2] / 8 + 5000] ^= 0x21;
    spill(p, z, zlen);
    size_t n = 0;
    CHECK(read_bz2_range(p, magic[2] / 8, magic[3] / 8, &got, &n, &cap) == EMBER_ECORRUPT);
    char where[64];
    snprintf(where, sizeof where, "at compressed byte %lld (the block", (long long)(magic[2] / 8));
    CHECK(strstr(ember_last_error(), p) != NULL && strstr(ember_last_error(), where) != NULL);
    /* the splits before it still read */
    n = 0;
    CHECK(read_bz2_range(p, 0, magic[1] / 8, &got, &n, &cap) == 0);
    /* a block magic followed by 5 MiB with no other: refused, not held in memory whole */
    size_t big = (size_t)5 << 20;
    unsigned char *junk = malloc(big);
    memcpy(junk, "BZh91AY&SY", 10);
    for (size_t i = 10; i < big; i++)
        junk[i] = (unsigned char)(i * 7 % 251);
    spill(p, junk, big);
    n = 0;
    CHECK(read_bz2_range(p, 0, (int64_t)big, &got, &n, &cap) == EMBER_ECORRUPT);
    CHECK(strstr(ember_last_error(), "within 4 MiB") != NULL);
    free(junk);
    unlink(p);
    unlink(two);
    free(got);
    free(want);
    free(z);
    free(text);
    CHECK(ember_mem_used() == mem0);
}
#endif

static void test_errors(void) {
    int64_t mem0 = ember_mem_used();
    ember_compressed_writer *w = (ember_compressed_writer *)1;
    /* no encoder for plain text or unknown codecs */
    CHECK(ember_compressed_writer_open(EMBER_CODEC_NONE, tpath("x", 0), &w) == EMBER_EINVAL);
    CHECK(w == NULL);
    CHECK(ember_compressed_writer_open(42, tpath("x", 0), &w) == EMBER_EINVAL);
    /* a directory that does not exist */
    CHECK(ember_compressed_writer_open(EMBER_CODEC_GZIP, "/nonexistent-dir/x.gz", &w) == EMBER_EIO);
    CHECK(strstr(ember_last_error(), "/nonexistent-dir/x.gz") != NULL);
    /* a codec this build lacks names its library */
    for (size_t i = 0; i < NALL; i++) {
        int c = all_codecs[i];
        if (ember_codec_available(c)) continue;
        CHECK(ember_compressed_writer_open(c, tpath("x", c), &w) == EMBER_EINVAL);
        CHECK(strstr(ember_last_error(), "built without") != NULL);
    }
    /* Hadoop's lz4 and snappy files are known by name and refused clearly */
    const char *lz = tpath("h", EMBER_CODEC_LZ4);
    spill(lz, "\0\0\0\x11", 4);
    char *got;
    size_t got_len;
    CHECK(read_all(lz, &got, &got_len) == EMBER_EINVAL);
    CHECK(strstr(ember_last_error(), "no Hadoop lz4 codec") != NULL);
    CHECK(strstr(ember_last_error(), lz) != NULL);
    free(got);
    unlink(lz);
    CHECK(ember_codec_of_name("a.snappy") == EMBER_CODEC_SNAPPY && !ember_codec_available(EMBER_CODEC_SNAPPY));
    /* a compressed file is not read in pieces */
    const char *p = tpath("piece", EMBER_CODEC_GZIP);
    compress_to(EMBER_CODEC_GZIP, p, "a\nb\n", 4);
    ember_split s = {(char *)p, 1, 3, EMBER_CODEC_GZIP};
    ember_line_reader *r = (ember_line_reader *)1;
    CHECK(ember_line_reader_open(&s, &r) == EMBER_EINVAL);
    CHECK(r == NULL);
    CHECK(strstr(ember_last_error(), p) != NULL);
    unlink(p);
    CHECK(ember_mem_used() == mem0);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ember-test-codec-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_names);
    RUN(test_round_trip);
    RUN(test_tiny_buffers_and_terminators);
    RUN(test_concatenated_and_empty);
    RUN(test_magic_bytes);
    RUN(test_truncated_and_corrupt);
    RUN(test_errors);
#ifdef EMBER_HAVE_BZIP2
    RUN(test_bzip2_splits);
#endif
    if (rmdir(tmpdir) != 0) { /* a test left a file behind */
        fprintf(stderr, "FAIL: %s not empty at the end (%s)\n", tmpdir, strerror(errno));
        t_failed++;
    }
    return TEST_REPORT();
}
