/* test_textsplit.c — unit tests of text input (src/textsplit.c): path expansion, the
 * Hadoop split arithmetic, and the line rule across split and buffer boundaries,
 * checked against a reference line splitter over many random files and cuts. */
#include "ember.h"
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* The reader's initial buffer size (src/textsplit.c); shrunk here to put buffer
 * boundaries everywhere. */
extern size_t emberT_buffer_size;

static char tmpdir[256];

/* ---- helpers --------------------------------------------------------------- */

static const char *tpath(const char *name) {
    static char bufs[8][1024];
    static int next;
    char *p = bufs[next++ % 8];
    snprintf(p, sizeof bufs[0], "%s/%s", tmpdir, name);
    return p;
}

static void write_bytes(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(data, 1, len, f) == len);
    CHECK(fclose(f) == 0);
}

static void write_str(const char *path, const char *s) { write_bytes(path, s, strlen(s)); }

static void write_size(const char *path, size_t n) {
    char *d = malloc(n ? n : 1);
    memset(d, 'x', n);
    write_bytes(path, d, n);
    free(d);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_tree(const char *path) { nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* A growable byte string; lines are stored each followed by '\n' (lines never hold
 * '\n' themselves, so this is an exact, order-preserving encoding of a line list). */
typedef struct sbuf {
    char *d;
    size_t len, cap;
} sbuf;

static void sb_add(sbuf *b, const void *p, size_t n) {
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->d = realloc(b->d, b->cap);
    }
    if (n) memcpy(b->d + b->len, p, n);
    b->len += n;
    b->d[b->len] = '\0';
}

static void sb_line(sbuf *b, const void *p, size_t n) {
    sb_add(b, p, n);
    sb_add(b, "\n", 1);
}

/* Reads every line of a split and appends it to out; returns the reader's result. */
static int read_split(const ember_split *s, sbuf *out) {
    ember_line_reader *r;
    int rc = ember_line_reader_open(s, &r);
    if (rc) return rc;
    const char *line;
    size_t len;
    while ((rc = ember_line_reader_next(r, &line, &len)) == 1) {
        CHECK(memchr(line, '\n', len) == NULL && memchr(line, '\r', len) == NULL);
        sb_line(out, line, len);
    }
    if (rc == 0) CHECK(ember_line_reader_next(r, &line, &len) == 0); /* stays at the end */
    ember_line_reader_close(r);
    return rc;
}

static int read_range(const char *path, int64_t start, int64_t end, sbuf *out) {
    ember_split s = {(char *)path, start, end, 0};
    return read_split(&s, out);
}

/* The reference: lines of a whole buffer, byte by byte. */
static void reference_lines(const char *d, size_t n, sbuf *out) {
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && d[j] != '\n' && d[j] != '\r')
            j++;
        sb_line(out, d + i, j - i);
        if (j < n && d[j] == '\r' && j + 1 < n && d[j + 1] == '\n')
            i = j + 2;
        else
            i = j + 1;
    }
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static size_t rnd_below(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

/* Random text: either lines of letters with random terminators, or a soup of
 * "ab\r\n" bytes (many empty lines, \r\n pairs and lone \r). */
static char *random_text(size_t *n_out) {
    size_t cap = 4096, n = 0;
    char *d = malloc(cap + 64);
    if (rnd() % 2) {
        size_t target = rnd_below(cap);
        while (n < target) {
            size_t ll = rnd() % 4 == 0 ? 0 : rnd_below(40);
            for (size_t k = 0; k < ll && n < cap; k++)
                d[n++] = (char)('a' + rnd_below(26));
            switch (rnd() % 3) {
            case 0:
                d[n++] = '\n';
                break;
            case 1:
                d[n++] = '\r';
                d[n++] = '\n';
                break;
            default:
                d[n++] = '\r';
                break;
            }
        }
        if (rnd() % 2) /* a last line without terminator */
            for (size_t k = rnd_below(10); k > 0; k--)
                d[n++] = 'z';
    } else {
        size_t target = rnd_below(cap);
        static const char soup[] = "ab\r\n";
        while (n < target)
            d[n++] = soup[rnd_below(4)];
    }
    *n_out = n;
    return d;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* ---- split arithmetic ------------------------------------------------------ */

static void expect_split(const ember_split *s, const char *path, int64_t start, int64_t end, int codec) {
    CHECK(strcmp(s->path, path) == 0);
    CHECK(s->start == start);
    CHECK(s->end == end);
    CHECK(s->codec == codec);
}

static void test_split_arithmetic(void) {
    int64_t mem0 = ember_mem_used();
    ember_split *s;
    size_t n;
    const char *f100 = tpath("hundred.txt");
    write_size(f100, 100);

    /* goal 100/3 = 33: 100/33 > 1.1 cut, 67/33 > 1.1 cut, 34/33 <= 1.1 rest */
    CHECK(ember_text_splits(f100, 3, &s, &n) == 0);
    CHECK(n == 3);
    if (n == 3) {
        expect_split(&s[0], f100, 0, 33, 0);
        expect_split(&s[1], f100, 33, 66, 0);
        expect_split(&s[2], f100, 66, 100, 0);
    }
    ember_splits_free(s, n);

    /* goal 50: 100/50 = 2 > 1.1 cut, 50/50 = 1 rest */
    CHECK(ember_text_splits(f100, 2, &s, &n) == 0);
    CHECK(n == 2);
    if (n == 2) {
        expect_split(&s[0], f100, 0, 50, 0);
        expect_split(&s[1], f100, 50, 100, 0);
    }
    ember_splits_free(s, n);

    /* min_partitions 1, 0 and negative: one split */
    for (int m = 1; m >= -1; m--) {
        CHECK(ember_text_splits(f100, m, &s, &n) == 0);
        CHECK(n == 1);
        if (n == 1) expect_split(&s[0], f100, 0, 100, 0);
        ember_splits_free(s, n);
    }

    /* More partitions than bytes: size 1, 100 one-byte splits (100/1 ... 2/1 > 1.1). */
    CHECK(ember_text_splits(f100, 1000, &s, &n) == 0);
    CHECK(n == 100);
    for (size_t i = 0; i < n; i++)
        CHECK(s[i].start == (int64_t)i && s[i].end == (int64_t)i + 1);
    ember_splits_free(s, n);

    /* The slop, across files: total 110 + 90 = 200, goal 100; 110/100 = 1.1 is not
     * > 1.1 so one split; 111/100 is, so two. */
    const char *f110 = tpath("a110.txt"), *f111 = tpath("a111.txt"), *f90 = tpath("b90.txt");
    write_size(f110, 110);
    write_size(f90, 90);
    char list[2048];
    snprintf(list, sizeof list, "%s,%s", f110, f90);
    CHECK(ember_text_splits(list, 2, &s, &n) == 0);
    CHECK(n == 2);
    if (n == 2) {
        expect_split(&s[0], f110, 0, 110, 0);
        expect_split(&s[1], f90, 0, 90, 0);
    }
    ember_splits_free(s, n);
    write_size(f111, 111); /* total 201, goal 100 */
    snprintf(list, sizeof list, "%s,%s", f111, f90);
    CHECK(ember_text_splits(list, 2, &s, &n) == 0);
    CHECK(n == 3);
    if (n == 3) {
        expect_split(&s[0], f111, 0, 100, 0);
        expect_split(&s[1], f111, 100, 111, 0);
        expect_split(&s[2], f90, 0, 90, 0);
    }
    ember_splits_free(s, n);

    /* The 32 MiB cap, on a sparse 70 MiB file: Hadoop's count (32 + 32 + 6 gives three
     * pieces), cut into equal thirds so the tasks take equal time. */
    const char *big = tpath("sparse.txt");
    int fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(ftruncate(fd, (off_t)70 << 20) == 0);
    close(fd);
    CHECK(ember_text_splits(big, 1, &s, &n) == 0);
    CHECK(n == 3);
    if (n == 3) {
        int64_t third = ((int64_t)70 << 20) / 3;
        expect_split(&s[0], big, 0, third, 0);
        expect_split(&s[1], big, third, 2 * third, 0);
        expect_split(&s[2], big, 2 * third, (int64_t)70 << 20, 0);
    }
    ember_splits_free(s, n);
    unlink(big);
    CHECK(ember_mem_used() == mem0);
}

/* ---- listing --------------------------------------------------------------- */

static void test_directory(void) {
    int64_t mem0 = ember_mem_used();
    ember_split *s;
    size_t n;
    CHECK(mkdir(tpath("dir"), 0755) == 0);
    CHECK(mkdir(tpath("dir/sub"), 0755) == 0);
    write_str(tpath("dir/b.txt"), "b1\nb2\n");
    write_str(tpath("dir/a.txt"), "a1\n");
    write_str(tpath("dir/_SUCCESS"), "");
    write_str(tpath("dir/.a.txt.crc"), "crc");
    write_str(tpath("dir/sub/c.txt"), "c\n");
    char a[1024], b[1024];
    snprintf(a, sizeof a, "%s", tpath("dir/a.txt"));
    snprintf(b, sizeof b, "%s", tpath("dir/b.txt"));

    CHECK(ember_text_splits(tpath("dir"), 1, &s, &n) == 0);
    CHECK(n == 2);
    if (n == 2) {
        expect_split(&s[0], a, 0, 3, 0);
        expect_split(&s[1], b, 0, 6, 0);
    }
    ember_splits_free(s, n);

    /* A trailing slash gives the same paths. */
    char slashed[1024];
    snprintf(slashed, sizeof slashed, "%s/", tpath("dir"));
    CHECK(ember_text_splits(slashed, 1, &s, &n) == 0);
    CHECK(n == 2);
    if (n == 2) CHECK(strcmp(s[0].path, a) == 0);
    ember_splits_free(s, n);

    /* An empty directory: no splits, no error. */
    CHECK(mkdir(tpath("empty_dir"), 0755) == 0);
    s = (ember_split *)1;
    n = 7;
    CHECK(ember_text_splits(tpath("empty_dir"), 4, &s, &n) == 0);
    CHECK(n == 0);
    ember_splits_free(s, n);
    CHECK(ember_mem_used() == mem0);
}

static void test_comma_list(void) {
    int64_t mem0 = ember_mem_used();
    ember_split *s;
    size_t n;
    write_str(tpath("l1.txt"), "one\n");
    write_str(tpath("l2.txt"), "two\n");
    CHECK(mkdir(tpath("ldir"), 0755) == 0);
    write_str(tpath("ldir/x"), "x\n");
    char list[4096];
    /* Entries keep the order given (not sorted), directories expand in place. */
    snprintf(list, sizeof list, "%s,%s,%s", tpath("l2.txt"), tpath("ldir"), tpath("l1.txt"));
    CHECK(ember_text_splits(list, 1, &s, &n) == 0);
    CHECK(n == 3);
    if (n == 3) {
        CHECK(strcmp(s[0].path, tpath("l2.txt")) == 0);
        CHECK(strcmp(s[1].path, tpath("ldir/x")) == 0);
        CHECK(strcmp(s[2].path, tpath("l1.txt")) == 0);
    }
    ember_splits_free(s, n);

    /* The same file twice is read twice. */
    snprintf(list, sizeof list, "%s,%s", tpath("l1.txt"), tpath("l1.txt"));
    CHECK(ember_text_splits(list, 1, &s, &n) == 0);
    CHECK(n == 2);
    ember_splits_free(s, n);

    /* An empty entry is an error. */
    snprintf(list, sizeof list, "%s,,%s", tpath("l1.txt"), tpath("l2.txt"));
    CHECK(ember_text_splits(list, 1, &s, &n) == EMBER_EINVAL);
    CHECK(s == NULL && n == 0);
    CHECK(ember_text_splits("", 1, &s, &n) == EMBER_EINVAL);
    CHECK(ember_mem_used() == mem0);
}

static void test_glob(void) {
    int64_t mem0 = ember_mem_used();
    ember_split *s;
    size_t n;
    CHECK(mkdir(tpath("g"), 0755) == 0);
    CHECK(mkdir(tpath("g/d2"), 0755) == 0);
    CHECK(mkdir(tpath("g/d1"), 0755) == 0);
    write_str(tpath("g/z.txt"), "z\n");
    write_str(tpath("g/m.txt"), "m\n");
    write_str(tpath("g/m.log"), "log\n");
    write_str(tpath("g/_m.txt"), "hidden\n");
    write_str(tpath("g/d1/q"), "q\n");
    write_str(tpath("g/d1/_q"), "hidden\n");
    write_str(tpath("g/d2/p"), "p\n");
    char pat[2048];

    snprintf(pat, sizeof pat, "%s/*.txt", tpath("g"));
    CHECK(ember_text_splits(pat, 1, &s, &n) == 0);
    CHECK(n == 2);
    if (n == 2) {
        CHECK(strcmp(s[0].path, tpath("g/m.txt")) == 0);
        CHECK(strcmp(s[1].path, tpath("g/z.txt")) == 0);
    }
    ember_splits_free(s, n);

    /* Matched directories expand as directories, in sorted order. */
    snprintf(pat, sizeof pat, "%s/d?", tpath("g"));
    CHECK(ember_text_splits(pat, 1, &s, &n) == 0);
    CHECK(n == 2);
    if (n == 2) {
        CHECK(strcmp(s[0].path, tpath("g/d1/q")) == 0);
        CHECK(strcmp(s[1].path, tpath("g/d2/p")) == 0);
    }
    ember_splits_free(s, n);

    /* Braces: the comma inside belongs to the pattern; matches come out sorted. */
    snprintf(pat, sizeof pat, "%s/{z,m}.txt,%s", tpath("g"), tpath("g/m.log"));
    CHECK(ember_text_splits(pat, 1, &s, &n) == 0);
    CHECK(n == 3);
    if (n == 3) {
        CHECK(strcmp(s[0].path, tpath("g/m.txt")) == 0);
        CHECK(strcmp(s[1].path, tpath("g/z.txt")) == 0);
        CHECK(strcmp(s[2].path, tpath("g/m.log")) == 0);
    }
    ember_splits_free(s, n);

    /* A pattern matching nothing. */
    snprintf(pat, sizeof pat, "%s/*.csv", tpath("g"));
    CHECK(ember_text_splits(pat, 1, &s, &n) == EMBER_ENOENT);
    CHECK(strstr(ember_last_error(), pat) != NULL);

    /* A name holding a metacharacter literally. */
    write_str(tpath("g/odd[1].txt"), "odd\n");
    snprintf(pat, sizeof pat, "%s", tpath("g/odd[1].txt"));
    CHECK(ember_text_splits(pat, 1, &s, &n) == 0);
    CHECK(n == 1);
    if (n == 1) CHECK(strcmp(s[0].path, pat) == 0);
    ember_splits_free(s, n);
    CHECK(ember_mem_used() == mem0);
}

static void test_missing_path(void) {
    int64_t mem0 = ember_mem_used();
    ember_split *s = (ember_split *)1;
    size_t n = 5;
    const char *missing = tpath("no/such/file.txt");
    CHECK(ember_text_splits(missing, 2, &s, &n) == EMBER_ENOENT);
    CHECK(s == NULL && n == 0);
    CHECK(strstr(ember_last_error(), "does not exist") != NULL);
    CHECK(strstr(ember_last_error(), missing) != NULL);

    /* One missing entry fails the whole list, and nothing leaks. */
    char list[2048], m2[1024];
    write_str(tpath("present.txt"), "here\n");
    snprintf(m2, sizeof m2, "%s", tpath("absent.txt"));
    snprintf(list, sizeof list, "%s,%s", tpath("present.txt"), m2);
    CHECK(ember_text_splits(list, 2, &s, &n) == EMBER_ENOENT);
    CHECK(strstr(ember_last_error(), m2) != NULL);

    /* The reader names the file too. */
    ember_split sp = {(char *)m2, 0, -1, 0};
    ember_line_reader *r = (ember_line_reader *)1;
    CHECK(ember_line_reader_open(&sp, &r) == EMBER_ENOENT);
    CHECK(r == NULL);
    CHECK(strstr(ember_last_error(), m2) != NULL);
    sp.codec = EMBER_CODEC_GZIP;
    CHECK(ember_line_reader_open(&sp, &r) == EMBER_ENOENT);
    CHECK(strstr(ember_last_error(), m2) != NULL);

    /* Reading a directory is an I/O error naming it. */
    char dirp[1024];
    snprintf(dirp, sizeof dirp, "%s", tmpdir);
    ember_split ds = {dirp, 0, -1, 0};
    sbuf out = {0};
    CHECK(read_split(&ds, &out) == EMBER_EIO);
    CHECK(strstr(ember_last_error(), dirp) != NULL);
    free(out.d);

    /* Bad splits. */
    ember_split bad = {(char *)m2, 5, 3, 0};
    CHECK(ember_line_reader_open(&bad, &r) == EMBER_EINVAL);
    CHECK(ember_mem_used() == mem0);
}

/* ---- reading --------------------------------------------------------------- */

static void test_empty_file(void) {
    int64_t mem0 = ember_mem_used();
    ember_split *s;
    size_t n;
    const char *e = tpath("empty.txt");
    write_str(e, "");
    CHECK(ember_text_splits(e, 3, &s, &n) == 0);
    CHECK(n == 1);
    if (n == 1) {
        expect_split(&s[0], e, 0, 0, 0);
        sbuf out = {0};
        CHECK(read_split(&s[0], &out) == 0);
        CHECK(out.len == 0);
        free(out.d);
    }
    ember_splits_free(s, n);
    sbuf out = {0};
    CHECK(read_range(e, 0, -1, &out) == 0);
    CHECK(read_range(e, 5, -1, &out) == 0); /* past the end: nothing */
    CHECK(out.len == 0);
    free(out.d);
    CHECK(ember_mem_used() == mem0);
}

static void check_lines(const char *path, int64_t start, int64_t end, const char *expect) {
    sbuf out = {0};
    CHECK(read_range(path, start, end, &out) == 0);
    CHECK(strcmp(out.d ? out.d : "", expect) == 0);
    if (strcmp(out.d ? out.d : "", expect) != 0)
        fprintf(stderr, "  [%lld,%lld): got \"%s\" want \"%s\"\n", (long long)start, (long long)end, out.d ? out.d : "",
                expect);
    free(out.d);
}

static void test_line_rules(void) {
    int64_t mem0 = ember_mem_used();
    const char *f = tpath("rules.txt");
    /* offsets: a=0 \r=1 \n=2 b=3 \r=4 c=5 \n=6 \n=7 d=8 */
    write_str(f, "a\r\nb\rc\n\nd");
    check_lines(f, 0, -1, "a\nb\nc\n\nd\n");
    check_lines(f, 0, 9, "a\nb\nc\n\nd\n");
    check_lines(f, 0, 1, "a\n"); /* a line straddling end is read whole */
    check_lines(f, 0, 2, "a\n");
    check_lines(f, 0, 3, "a\nb\n");      /* the line at 3 = end belongs to this split */
    check_lines(f, 2, 9, "b\nc\n\nd\n"); /* 2 is between \r and \n: not a line start */
    check_lines(f, 3, 9, "c\n\nd\n");    /* the line at 3 = start belongs to the split before */
    check_lines(f, 1, 3, "b\n");         /* the \r\n at 1 is discarded; b starts at 3 = end */
    check_lines(f, 4, 5, "c\n");         /* 5 follows a lone \r */
    check_lines(f, 5, 6, "");
    check_lines(f, 7, 8, "d\n"); /* a last line without terminator */
    check_lines(f, 6, 7, "\n");  /* the empty line at 7 */
    check_lines(f, 8, 9, "");
    check_lines(f, 9, -1, "");
    check_lines(f, 4, 4, ""); /* an empty split holds no line */

    const char *g = tpath("rules2.txt");
    write_str(g, "x\r\n\r\n\r\r\n"); /* x, "", "", "" ; no extra line at the end */
    check_lines(g, 0, -1, "x\n\n\n\n");
    check_lines(g, 2, -1, "\n\n\n");
    check_lines(g, 3, -1, "\n\n");
    check_lines(g, 4, -1, "\n\n");
    check_lines(g, 5, -1, "\n");
    check_lines(g, 6, -1, "");
    check_lines(g, 7, -1, "");
    check_lines(g, 8, -1, "");

    const char *h = tpath("rules3.txt");
    write_str(h, "\r");
    check_lines(h, 0, -1, "\n");
    check_lines(h, 1, -1, "");

    /* a UTF-8 byte order mark at the start of the file is dropped (Hadoop's rule);
     * one elsewhere is data */
    const char *bom = tpath("bom.txt");
    write_str(bom, "\357\273\277a\n\357\273\277b\n"); /* octal: the mark in UTF-8 */
    check_lines(bom, 0, -1, "a\n\357\273\277b\n");
    check_lines(bom, 0, 2, "a\n");
    check_lines(bom, 3, -1, "\357\273\277b\n");
    write_str(bom, "\xef\xbb\xbf");
    check_lines(bom, 0, -1, ""); /* the mark alone: no line */
    write_str(bom, "\xef\xbb\xbf\n");
    check_lines(bom, 0, -1, "\n");
    write_str(bom, "\xef\xbb\n");
    check_lines(bom, 0, -1, "\xef\xbb\n");
    CHECK(ember_mem_used() == mem0);
}

/* A line longer than the buffer, cut anywhere, with the default buffer size. */
static void test_long_lines(void) {
    int64_t mem0 = ember_mem_used();
    size_t n = (size_t)3 << 20;
    char *d = malloc(n);
    memset(d, 'q', n);
    d[1000] = '\n';
    d[(1 << 20) - 1] = '\r'; /* a \r\n pair across the first buffer's end */
    d[1 << 20] = '\n';
    d[(2 << 20) + 77] = '\r';
    const char *f = tpath("long.txt");
    write_bytes(f, d, n);
    sbuf want = {0};
    reference_lines(d, n, &want);
    int64_t cuts[] = {0,         1, 1001, 1002, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, (1 << 20) + 2, (2 << 20) + 78,
                      (int64_t)n};
    size_t ncuts = sizeof cuts / sizeof *cuts;
    /* All the cuts at once, then each cut alone. */
    sbuf got = {0};
    for (size_t i = 0; i + 1 < ncuts; i++)
        CHECK(read_range(f, cuts[i], cuts[i + 1], &got) == 0);
    CHECK(got.len == want.len && memcmp(got.d, want.d, want.len) == 0);
    for (size_t i = 0; i < ncuts; i++) {
        got.len = 0;
        CHECK(read_range(f, 0, cuts[i], &got) == 0);
        CHECK(read_range(f, cuts[i], -1, &got) == 0);
        CHECK(got.len == want.len && memcmp(got.d, want.d, want.len) == 0);
    }
    free(got.d);
    free(want.d);
    free(d);
    CHECK(ember_mem_used() == mem0);
}

static void test_gzip(void) {
    int64_t mem0 = ember_mem_used();
    ember_split *s;
    size_t n;
    const char *gzp = tpath("gzdir/data.gz");
    CHECK(mkdir(tpath("gzdir"), 0755) == 0);
    gzFile gz = gzopen(gzp, "wb");
    CHECK(gz != NULL);
    static const char text[] = "alpha\nbeta\r\ngamma\rdelta\n\nlast";
    CHECK(gzwrite(gz, text, (unsigned)strlen(text)) == (int)strlen(text));
    CHECK(gzclose(gz) == Z_OK);
    write_size(tpath("gzdir/plain"), 100);

    /* The .gz file is one split read whole, and counts in the total as in Hadoop
     * (PySpark 4.3 makes 3 partitions here, not 4): goal = (gz + 100) / 3. */
    struct stat st;
    CHECK(stat(gzp, &st) == 0);
    int64_t goal = ((int64_t)st.st_size + 100) / 3;
    CHECK(goal > 40 && goal < 50); /* so the plain file is two pieces */
    CHECK(ember_text_splits(tpath("gzdir"), 3, &s, &n) == 0);
    CHECK(n == 3);
    if (n == 3) {
        expect_split(&s[0], gzp, 0, -1, 1);
        expect_split(&s[1], tpath("gzdir/plain"), 0, goal, 0);
        expect_split(&s[2], tpath("gzdir/plain"), goal, 100, 0);
        sbuf out = {0};
        CHECK(read_split(&s[0], &out) == 0);
        CHECK(out.d && strcmp(out.d, "alpha\nbeta\ngamma\ndelta\n\nlast\n") == 0);
        free(out.d);
    }
    ember_splits_free(s, n);

    /* Through tiny buffers too. */
    size_t saved = emberT_buffer_size;
    for (size_t b = 1; b <= 8; b++) {
        emberT_buffer_size = b;
        ember_split one = {(char *)gzp, 0, -1, 1};
        sbuf out = {0};
        CHECK(read_split(&one, &out) == 0);
        CHECK(out.d && strcmp(out.d, "alpha\nbeta\ngamma\ndelta\n\nlast\n") == 0);
        free(out.d);
    }
    emberT_buffer_size = saved;

    /* A truncated gzip file is corrupt data, the error naming it and the offset. */
    FILE *in = fopen(gzp, "rb");
    char raw[256];
    size_t rawlen = in ? fread(raw, 1, sizeof raw, in) : 0;
    if (in) fclose(in);
    CHECK(rawlen > 20);
    const char *cut = tpath("gzdir/cut.gz");
    write_bytes(cut, raw, rawlen - 12);
    ember_split cs = {(char *)cut, 0, -1, 1};
    sbuf out = {0};
    CHECK(read_split(&cs, &out) == EMBER_ECORRUPT);
    CHECK(strstr(ember_last_error(), cut) != NULL);
    CHECK(strstr(ember_last_error(), "truncated") != NULL);
    CHECK(strstr(ember_last_error(), "compressed byte") != NULL);
    free(out.d);
    CHECK(ember_mem_used() == mem0);
}

/* ---- property: splits tile the file's lines exactly once, in order ---------- */

static void test_random_tiling(void) {
    int64_t mem0 = ember_mem_used();
    size_t saved = emberT_buffer_size;
    const char *f = tpath("random.txt");
    static const size_t bufsizes[] = {1, 2, 3, 5, 16, (size_t)1 << 20};
    for (int iter = 0; iter < 300; iter++) {
        size_t n;
        char *d = random_text(&n);
        write_bytes(f, d, n);
        sbuf want = {0};
        reference_lines(d, n, &want);
        emberT_buffer_size = bufsizes[rnd_below(sizeof bufsizes / sizeof *bufsizes)];

        /* The whole file, as one split both ways. */
        sbuf whole = {0};
        CHECK(read_range(f, 0, -1, &whole) == 0);
        CHECK(read_range(f, 0, (int64_t)n, &whole) == 0);
        CHECK(whole.len == 2 * want.len);
        CHECK(whole.len == 0 ||
              (memcmp(whole.d, want.d, want.len) == 0 && memcmp(whole.d + want.len, want.d, want.len) == 0));
        free(whole.d);

        /* Random cuts, biased to the interesting places. */
        for (int round = 0; round < 10; round++) {
            size_t ncuts = 2 + rnd_below(12);
            int64_t *cuts = malloc((ncuts + 2) * sizeof *cuts);
            cuts[0] = 0;
            cuts[1] = (int64_t)n;
            for (size_t k = 2; k < ncuts + 2; k++) {
                size_t c = rnd_below(n + 1);
                size_t tries = rnd_below(3) == 0 ? 0 : n; /* then move to a spot after \r or \n */
                while (tries-- > 0 && c > 0 && c < n && d[c - 1] != '\r' && d[c - 1] != '\n')
                    c++;
                cuts[k] = (int64_t)c;
            }
            qsort(cuts, ncuts + 2, sizeof *cuts, cmp_i64);
            sbuf got = {0};
            for (size_t k = 0; k + 1 < ncuts + 2; k++) {
                int64_t end = k + 2 == ncuts + 2 && rnd() % 2 ? -1 : cuts[k + 1];
                CHECK(read_range(f, cuts[k], end, &got) == 0);
            }
            CHECK(got.len == want.len && (want.len == 0 || memcmp(got.d, want.d, want.len) == 0));
            free(got.d);
            free(cuts);
        }

        /* Every single cut point, on some files (with small buffers: ASan makes each
         * 1 MiB allocation costly). */
        if (iter % 10 == 0 && emberT_buffer_size < 64) {
            for (size_t c = 0; c <= n; c++) {
                sbuf got = {0};
                CHECK(read_range(f, 0, (int64_t)c, &got) == 0);
                CHECK(read_range(f, (int64_t)c, -1, &got) == 0);
                int ok = got.len == want.len && (want.len == 0 || memcmp(got.d, want.d, want.len) == 0);
                CHECK(ok);
                free(got.d);
                if (!ok) break;
            }
        }

        /* The splitter's own cuts. */
        ember_split *s;
        size_t ns;
        int parts = 1 + (int)rnd_below(40);
        CHECK(ember_text_splits(f, parts, &s, &ns) == 0);
        sbuf got = {0};
        for (size_t k = 0; k < ns; k++) {
            CHECK(k == 0 || s[k].start == s[k - 1].end);
            CHECK(read_split(&s[k], &got) == 0);
        }
        CHECK(ns > 0 && s[ns - 1].end == (int64_t)n);
        CHECK(got.len == want.len && (want.len == 0 || memcmp(got.d, want.d, want.len) == 0));
        free(got.d);
        ember_splits_free(s, ns);

        free(want.d);
        free(d);
    }
    emberT_buffer_size = saved;
    unlink(f);
    CHECK(ember_mem_used() == mem0);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "%s", "/tmp/ember_textsplit_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_split_arithmetic);
    RUN(test_directory);
    RUN(test_comma_list);
    RUN(test_glob);
    RUN(test_missing_path);
    RUN(test_empty_file);
    RUN(test_line_rules);
    RUN(test_long_lines);
    RUN(test_gzip);
    RUN(test_random_tiling);
    rm_tree(tmpdir);
    return TEST_REPORT();
}
