/* test_record.c — the typed record format (record.c): every type written and read
 * back, the exact bytes of the format, big integers in their shortest form,
 * batches, and rejection of truncated, malformed or too deep input without
 * allocating. */
#include "internal.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>

static int decode_all(const ember_writer *w, ember_value *v) {
    size_t used = 0;
    int rc = ember_value_decode(w->data, w->len, v, &used);
    if (rc == 0 && used != w->len) return -100;
    return rc;
}

static void test_scalars_round_trip(void) {
    int64_t ints[] = {0, 1, -1, 63, -64, 64, 127, 128, -129, 300, INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN};
    for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++) {
        ember_writer w;
        ember_writer_init(&w);
        CHECK(ember_put_int(&w, ints[k]) == 0);
        ember_value v;
        CHECK(decode_all(&w, &v) == 0);
        CHECK(v.type == EMBER_INT && v.i == ints[k]);
        ember_writer_free(&w);
    }
    double floats[] = {0.0, -0.0, 1.5, -3.25e300, INFINITY, -INFINITY, 5e-324};
    for (size_t k = 0; k < sizeof floats / sizeof floats[0]; k++) {
        ember_writer w = {0};
        CHECK(ember_put_float(&w, floats[k]) == 0);
        ember_value v;
        CHECK(decode_all(&w, &v) == 0);
        CHECK(v.type == EMBER_FLOAT && memcmp(&v.f, &floats[k], sizeof(double)) == 0);
        ember_writer_free(&w);
    }
    ember_writer w = {0};
    CHECK(ember_put_float(&w, NAN) == 0);
    ember_value v;
    CHECK(decode_all(&w, &v) == 0 && v.type == EMBER_FLOAT && isnan(v.f));
    ember_writer_reset(&w);
    CHECK(ember_put_none(&w) == 0);
    CHECK(decode_all(&w, &v) == 0 && v.type == EMBER_NONE);
    ember_writer_reset(&w);
    CHECK(ember_put_bool(&w, 1) == 0);
    CHECK(decode_all(&w, &v) == 0 && v.type == EMBER_BOOL && v.b == 1);
    ember_writer_reset(&w);
    CHECK(ember_put_bool(&w, 0) == 0);
    CHECK(decode_all(&w, &v) == 0 && v.type == EMBER_BOOL && v.b == 0);
    ember_writer_reset(&w);
    CHECK(ember_put_str(&w, "h\xc3\xa9llo", 6) == 0);
    CHECK(decode_all(&w, &v) == 0 && v.type == EMBER_STR && v.len == 6 && memcmp(v.data, "h\xc3\xa9llo", 6) == 0);
    ember_writer_reset(&w);
    CHECK(ember_put_bytes(&w, "\0\xff", 2) == 0);
    CHECK(decode_all(&w, &v) == 0 && v.type == EMBER_BYTES && v.len == 2 && v.data[1] == 0xff);
    ember_writer_reset(&w);
    CHECK(ember_put_str(&w, "", 0) == 0);
    CHECK(decode_all(&w, &v) == 0 && v.type == EMBER_STR && v.len == 0);
    ember_writer_free(&w);
}

/* The bytes are the documented format, so other encoders can be written from it. */
static void test_exact_bytes(void) {
    ember_writer w = {0};
    ember_put_tuple(&w, 2);
    ember_put_str(&w, "ab", 2);
    ember_put_int(&w, -2);
    ember_put_dict(&w, 1);
    ember_put_none(&w);
    ember_put_list(&w, 0);
    ember_put_int(&w, 150);
    uint8_t want[] = {0x08, 2, 0x06, 2, 'a', 'b', 0x03, 3, 0x0a, 1, 0x00, 0x09, 0, 0x03, 0xac, 0x02};
    CHECK(w.err == 0);
    CHECK(w.len == sizeof want && memcmp(w.data, want, sizeof want) == 0);
    ember_writer_free(&w);
}

static void test_containers(void) {
    ember_writer w = {0};
    ember_put_tuple(&w, 3);
    ember_put_str(&w, "k", 1);
    ember_put_list(&w, 2);
    ember_put_int(&w, 1);
    ember_put_float(&w, 2.5);
    ember_put_dict(&w, 2);
    ember_put_str(&w, "a", 1);
    ember_put_bool(&w, 1);
    ember_put_int(&w, 7);
    ember_put_bytes(&w, "z", 1);
    CHECK(w.err == 0);
    ember_value t, c, l, d;
    CHECK(decode_all(&w, &t) == 0);
    CHECK(t.type == EMBER_TUPLE && t.count == 3);
    CHECK(ember_value_next(&t, &c) == 1 && c.type == EMBER_STR && c.len == 1);
    CHECK(ember_value_next(&t, &l) == 1 && l.type == EMBER_LIST && l.count == 2);
    CHECK(ember_value_next(&t, &d) == 1 && d.type == EMBER_DICT && d.count == 2);
    CHECK(ember_value_next(&t, &c) == 0);
    CHECK(ember_value_next(&l, &c) == 1 && c.type == EMBER_INT && c.i == 1);
    CHECK(ember_value_next(&l, &c) == 1 && c.type == EMBER_FLOAT && c.f == 2.5);
    CHECK(ember_value_next(&l, &c) == 0);
    CHECK(ember_value_item(&d, 3, &c) == 0 && c.type == EMBER_BYTES && c.data[0] == 'z');
    CHECK(ember_value_item(&d, 2, &c) == 0 && c.type == EMBER_INT && c.i == 7);
    CHECK(ember_value_item(&d, 4, &c) == EMBER_EINVAL);
    CHECK(ember_value_item(&c, 0, &c) == EMBER_EINVAL);
    /* ember_value_item does not move the container's own walk */
    ember_value t2;
    CHECK(decode_all(&w, &t2) == 0);
    CHECK(ember_value_item(&t2, 1, &c) == 0 && c.type == EMBER_LIST);
    CHECK(ember_value_next(&t2, &c) == 1 && c.type == EMBER_STR);
    /* copying a value copies its bytes */
    ember_writer w2 = {0};
    CHECK(ember_put_value(&w2, &l) == 0);
    CHECK(w2.len == l.enc_len && memcmp(w2.data, l.enc, l.enc_len) == 0);
    ember_writer_free(&w2);
    ember_writer_free(&w);
}

static void test_bigint_shortest_form(void) {
    ember_writer w = {0};
    /* 2**64 needs 9 bytes with its sign byte */
    uint8_t big[9] = {0, 0, 0, 0, 0, 0, 0, 0, 1};
    CHECK(ember_put_bigint(&w, big, 9) == 0);
    ember_value v;
    CHECK(decode_all(&w, &v) == 0 && v.type == EMBER_BIGINT && v.len == 9 && memcmp(v.data, big, 9) == 0);
    /* -1 in 16 bytes is the int -1 */
    uint8_t minus1[16];
    memset(minus1, 0xff, sizeof minus1);
    ember_writer_reset(&w);
    CHECK(ember_put_bigint(&w, minus1, sizeof minus1) == 0);
    CHECK(decode_all(&w, &v) == 0 && v.type == EMBER_INT && v.i == -1);
    /* 2**63 - 1 with padding is an int; 2**63 is not */
    uint8_t max[12] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0};
    ember_writer_reset(&w);
    CHECK(ember_put_bigint(&w, max, sizeof max) == 0);
    CHECK(decode_all(&w, &v) == 0 && v.type == EMBER_INT && v.i == INT64_MAX);
    uint8_t over[12] = {0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0};
    ember_writer_reset(&w);
    CHECK(ember_put_bigint(&w, over, sizeof over) == 0);
    CHECK(decode_all(&w, &v) == 0 && v.type == EMBER_BIGINT && v.len == 9);
    uint8_t min[8] = {0, 0, 0, 0, 0, 0, 0, 0x80};
    ember_writer_reset(&w);
    CHECK(ember_put_bigint(&w, min, sizeof min) == 0);
    CHECK(decode_all(&w, &v) == 0 && v.type == EMBER_INT && v.i == INT64_MIN);
    /* a big int shorter than 9 bytes is not well-formed */
    uint8_t bad[] = {0x04, 8, 0, 0, 0, 0, 0, 0, 0, 0x80};
    CHECK(ember_value_decode(bad, sizeof bad, &v, NULL) == EMBER_ECORRUPT);
    ember_writer_free(&w);
}

static void test_batches(void) {
    ember_writer w = {0};
    CHECK(ember_put_batch_header(&w) == 0);
    for (int i = 0; i < 100; i++)
        ember_put_int(&w, i * 1000);
    const uint8_t *body;
    size_t len;
    CHECK(ember_batch_open(w.data, w.len, &body, &len) == 0);
    int n = 0;
    size_t off = 0, used;
    ember_value v;
    while (off < len) {
        CHECK(ember_value_decode(body + off, len - off, &v, &used) == 0);
        CHECK(v.i == n * 1000);
        off += used;
        n++;
    }
    CHECK(n == 100);
    w.data[3] = 9;
    CHECK(ember_batch_open(w.data, w.len, &body, &len) == EMBER_ECORRUPT);
    CHECK(strstr(ember_last_error(), "version 9") != NULL);
    CHECK(ember_batch_open("EM", 2, &body, &len) == EMBER_ECORRUPT);
    ember_writer_free(&w);
}

static void test_rejects_bad_input(void) {
    ember_value v;
    int64_t before = ember_mem_used();
    const struct {
        const char *bytes;
        size_t len;
    } bad[] = {
        {"", 0},
        {"\x0b", 1},                                          /* unknown tag */
        {"\x03", 1},                                          /* int without digits */
        {"\x03\x80\x80", 3},                                  /* truncated varint */
        {"\x03\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 11}, /* over 64 bits */
        {"\x05\0\0\0", 4},                                    /* short float */
        {"\x06\x05"
         "abc",
         5},                                    /* str past the end */
        {"\x06\x02\xc3\x28", 4},                /* not UTF-8 */
        {"\x06\x03\xed\xa0\x80", 5},            /* a surrogate */
        {"\x06\x02\xc0\xaf", 4},                /* overlong */
        {"\x08\x03\x00\x00", 4},                /* tuple of 3 with 2 items */
        {"\x0a\x01\x00", 3},                    /* dict pair without value */
        {"\x09\xff\xff\xff\xff\x0f", 6},        /* a huge count, no items */
        {"\x03\x80\x00", 3},                    /* overlong varint: 0 in two bytes */
        {"\x04\x09\0\0\0\0\0\0\0\x01\0", 11},   /* big int 2**56 (fits in 64 bits) */
        {"\x04\x0a\0\0\0\0\0\0\0\0\x01\0", 12}, /* big int with a redundant sign byte */
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        int rc = ember_value_decode(bad[k].bytes, bad[k].len, &v, NULL);
        if (rc != EMBER_ECORRUPT) fprintf(stderr, "bad input %zu decoded (%d)\n", k, rc);
        CHECK(rc == EMBER_ECORRUPT);
    }
    CHECK(strstr(ember_last_error(), "corrupt record") != NULL);
    /* depth: EMBER_RECORD_MAX_DEPTH nested lists are fine, one more is not */
    uint8_t deep[2 * (EMBER_RECORD_MAX_DEPTH + 1) + 1];
    for (int i = 0; i <= EMBER_RECORD_MAX_DEPTH; i++) {
        deep[2 * i] = 0x09;
        deep[2 * i + 1] = 1;
    }
    deep[2 * (EMBER_RECORD_MAX_DEPTH + 1)] = 0x00;
    CHECK(ember_value_decode(deep, sizeof deep, &v, NULL) == EMBER_ECORRUPT);
    CHECK(strstr(ember_last_error(), "too deep") != NULL);
    CHECK(ember_value_decode(deep + 2, sizeof deep - 2, &v, NULL) == 0);
    CHECK(ember_mem_used() == before);
}

/* UTF-8 is checked eight ASCII bytes at a time: a bad or a good multi-byte sequence at
 * every position of strings around that width is judged the same. */
static void test_utf8_at_every_position(void) {
    for (size_t n = 1; n <= 40; n++) { /* under 32 bytes, a str takes a shorter path */
        for (size_t at = 0; at + 1 < n; at++) {
            char s[48];
            memset(s, 'a', n);
            ember_writer w = {0};
            ember_value v;
            s[at] = (char)0xc3; /* é: valid */
            s[at + 1] = (char)0xa9;
            ember_put_str(&w, s, n);
            CHECK(ember_value_decode(w.data, w.len, &v, NULL) == 0);
            ember_writer_reset(&w);
            s[at + 1] = 'x'; /* a lead byte without its continuation */
            ember_put_str(&w, s, n);
            CHECK(ember_value_decode(w.data, w.len, &v, NULL) == EMBER_ECORRUPT);
            ember_writer_reset(&w);
            s[at] = (char)0x80; /* a lone continuation byte */
            ember_put_str(&w, s, n);
            CHECK(ember_value_decode(w.data, w.len, &v, NULL) == EMBER_ECORRUPT);
            ember_writer_free(&w);
        }
    }
}

/* emberR_decode_pair: a 2-tuple or 2-list with its items, checked as
 * ember_value_decode checks; other records decoded whole (0); bad bytes refused. Small
 * ints (one varint byte) decode as the general path does. */
static void test_decode_pair(void) {
    ember_writer w = {0};
    ember_value rec, k, v, whole;
    size_t used;
    ember_put_tuple(&w, 2);
    ember_put_str(&w, "word", 4);
    ember_put_int(&w, 5);
    ember_put_int(&w, 99); /* the next record */
    CHECK(emberR_decode_pair(w.data, w.len, &rec, &k, &v, &used) == 1);
    CHECK(rec.type == EMBER_TUPLE && rec.count == 2 && used == w.len - 3 && rec.enc_len == used);
    CHECK(k.type == EMBER_STR && k.len == 4 && memcmp(k.data, "word", 4) == 0);
    CHECK(v.type == EMBER_INT && v.i == 5);
    CHECK(ember_value_decode(w.data, w.len, &whole, NULL) == 0 && whole.enc_len == rec.enc_len);
    ember_value a, b; /* the items walk as they would from ember_value_decode */
    CHECK(ember_value_next(&rec, &a) == 1 && ember_value_next(&rec, &b) == 1 && ember_value_next(&rec, &a) == 0);
    CHECK(b.type == EMBER_INT && b.i == 5);

    ember_writer_reset(&w);
    ember_put_list(&w, 2);
    ember_put_float(&w, 1.5);
    ember_put_str(&w, "\xc3\xa9t\xc3\xa9", 6);
    CHECK(emberR_decode_pair(w.data, w.len, &rec, &k, &v, &used) == 1);
    CHECK(rec.type == EMBER_LIST && k.type == EMBER_FLOAT && v.type == EMBER_STR && v.len == 6);

    ember_writer_reset(&w);
    ember_put_tuple(&w, 3);
    ember_put_int(&w, 1);
    ember_put_int(&w, 2);
    ember_put_int(&w, 3);
    CHECK(emberR_decode_pair(w.data, w.len, &rec, &k, &v, &used) == 0);
    CHECK(rec.type == EMBER_TUPLE && rec.count == 3 && used == w.len);
    ember_writer_reset(&w);
    ember_put_int(&w, 7);
    CHECK(emberR_decode_pair(w.data, w.len, &rec, &k, &v, &used) == 0 && rec.type == EMBER_INT && rec.i == 7);

    CHECK(emberR_decode_pair((const uint8_t *)"\x08\x02\x06\x02\xc3\x28\x03\x02", 8, &rec, &k, &v, &used) ==
          EMBER_ECORRUPT); /* a key that is not UTF-8 */
    CHECK(emberR_decode_pair((const uint8_t *)"\x08\x02\x06\x02"
                                              "ab",
                             6, &rec, &k, &v, &used) == EMBER_ECORRUPT); /* no value */
    CHECK(emberR_decode_pair((const uint8_t *)"\x08\x02\x06\x09"
                                              "ab\x03\x02",
                             7, &rec, &k, &v, &used) == EMBER_ECORRUPT); /* a key past the end */

    for (int64_t i = -200; i <= 200; i++) {
        ember_writer_reset(&w);
        ember_put_int(&w, i);
        CHECK(ember_value_decode(w.data, w.len, &v, &used) == 0 && v.type == EMBER_INT && v.i == i && used == w.len &&
              v.enc == w.data && v.enc_len == w.len);
    }
    ember_writer_free(&w);
}

/* emberR_small_int, the inline path for ints of up to four varint bytes, reads what
 * ember_value_decode reads, and leaves everything else (longer ints, truncated or
 * overlong bytes) to it. */
static void test_small_int_agrees_with_decode(void) {
    const int64_t edges[] = {
        0,        1,       -1,       63,      -64,           64,         -65,     8191,           -8192,
        8192,     1048575, -1048576, 1048576, (1 << 27) - 1, -(1 << 27), 1 << 27, -(1 << 27) - 1, INT64_MAX,
        INT64_MIN};
    for (size_t i = 0; i < sizeof edges / sizeof *edges + 2000; i++) {
        int64_t x = i < sizeof edges / sizeof *edges ? edges[i] : (int64_t)(rand() % 600000000) - 300000000;
        ember_writer w = {0};
        CHECK(ember_put_int(&w, x) == 0);
        ember_put_none(&w); /* a record after it: the fast path must stop at the int's end */
        ember_value fast, slow;
        size_t used = 0;
        CHECK(ember_value_decode(w.data, w.len, &slow, &used) == 0 && slow.i == x && used == slow.enc_len);
        int inline_ok = emberR_small_int(w.data, w.len, &fast);
        CHECK(inline_ok == (x >= -(1 << 27) && x < (1 << 27)));
        if (inline_ok)
            CHECK(fast.type == EMBER_INT && fast.i == x && fast.enc == w.data && fast.enc_len == slow.enc_len);
        for (size_t cut = 0; cut < slow.enc_len; cut++) /* truncated: never read as an int */
            CHECK(!emberR_small_int(w.data, cut, &fast));
        ember_writer_free(&w);
    }
    const uint8_t overlong[] = {0x03, 0x81, 0x00}, five[] = {0x03, 0x80, 0x80, 0x80, 0x80, 0x01};
    ember_value v;
    CHECK(!emberR_small_int(overlong, sizeof overlong, &v) && ember_value_decode(overlong, sizeof overlong, &v, NULL));
    CHECK(!emberR_small_int(five, sizeof five, &v) && !ember_value_decode(five, sizeof five, &v, NULL) &&
          v.i == 1 << 27);
}

static void test_writer_errors_stick(void) {
    ember_writer w = {0};
    CHECK(ember_put_str(&w, NULL, 3) == EMBER_EINVAL);
    CHECK(ember_put_int(&w, 1) == EMBER_EINVAL);
    CHECK(w.len == 0);
    ember_writer_reset(&w);
    CHECK(ember_put_int(&w, 1) == 0 && w.len == 2);
    CHECK(ember_put_bigint(&w, (const uint8_t *)"x", EMBER_RECORD_MAX_BIGINT + 1) == EMBER_EINVAL);
    ember_writer_free(&w);
    CHECK(ember_set_error(EMBER_EINVAL, "tokenize: expected a str, got %s", ember_type_name(EMBER_LIST)) ==
          EMBER_EINVAL);
    CHECK(strcmp(ember_last_error(), "tokenize: expected a str, got list") == 0);
    /* A message may quote the one before it (error.c formats into a new buffer), also
     * when the new one outgrows the old. */
    char longer[3000];
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = 0;
    emberE_set(EMBER_ECORRUPT, "corrupt record: str is not UTF-8 at byte %d", 3);
    CHECK(emberE_set(EMBER_ECORRUPT, "shuffle file %s: a bad record: %s", longer, ember_last_error()) ==
          EMBER_ECORRUPT);
    const char *m = ember_last_error();
    const char *tail = "x: a bad record: corrupt record: str is not UTF-8 at byte 3";
    CHECK(strlen(m) == strlen("shuffle file ") + strlen(longer) + strlen(tail) - 1);
    CHECK(strncmp(m, "shuffle file xxx", 16) == 0 && strcmp(m + strlen(m) - strlen(tail), tail) == 0);
    CHECK(emberE_errno(EMBER_EIO, 2, "again: %s", ember_last_error()) == EMBER_EIO);
    CHECK(strncmp(ember_last_error(), "again: shuffle file xxx", 23) == 0 &&
          strstr(ember_last_error(), "at byte 3: No such file or directory") != NULL);
}

/* Random values written, decoded and written again give the same bytes. */
static void write_random(ember_writer *w, int depth) {
    int kind = rand() % (depth > 4 ? 7 : 10);
    switch (kind) {
    case 0:
        ember_put_none(w);
        break;
    case 1:
        ember_put_bool(w, rand() & 1);
        break;
    case 2:
        ember_put_int(w, (int64_t)((uint64_t)rand() << 40 ^ (uint64_t)rand() << 20 ^ (uint64_t)rand()) - (1LL << 50));
        break;
    case 3:
        ember_put_float(w, rand() / 7.0);
        break;
    case 4: {
        char s[16];
        size_t n = (size_t)rand() % sizeof s;
        for (size_t i = 0; i < n; i++)
            s[i] = (char)('a' + rand() % 26);
        ember_put_str(w, s, n);
        break;
    }
    case 5:
        ember_put_bytes(w, "\x01\x02\x03", (size_t)rand() % 4);
        break;
    case 6: {
        uint8_t b[12];
        for (size_t i = 0; i < sizeof b; i++)
            b[i] = (uint8_t)rand();
        ember_put_bigint(w, b, sizeof b);
        break;
    }
    default: {
        size_t n = (size_t)rand() % 5;
        if (kind == 7)
            ember_put_tuple(w, n);
        else if (kind == 8)
            ember_put_list(w, n);
        else
            ember_put_dict(w, n);
        for (size_t i = 0; i < (kind == 9 ? 2 * n : n); i++)
            write_random(w, depth + 1);
    }
    }
}

static void copy_walk(ember_writer *w, ember_value *v) {
    switch (v->type) {
    case EMBER_TUPLE:
    case EMBER_LIST:
    case EMBER_DICT: {
        if (v->type == EMBER_TUPLE)
            ember_put_tuple(w, v->count);
        else if (v->type == EMBER_LIST)
            ember_put_list(w, v->count);
        else
            ember_put_dict(w, v->count);
        ember_value c;
        while (ember_value_next(v, &c))
            copy_walk(w, &c);
        break;
    }
    case EMBER_NONE:
        ember_put_none(w);
        break;
    case EMBER_BOOL:
        ember_put_bool(w, v->b);
        break;
    case EMBER_INT:
        ember_put_int(w, v->i);
        break;
    case EMBER_BIGINT:
        ember_put_bigint(w, v->data, v->len);
        break;
    case EMBER_FLOAT:
        ember_put_float(w, v->f);
        break;
    case EMBER_STR:
        ember_put_str(w, (const char *)v->data, v->len);
        break;
    case EMBER_BYTES:
        ember_put_bytes(w, v->data, v->len);
        break;
    }
}

static void test_random_round_trip(void) {
    srand(11);
    for (int round = 0; round < 500; round++) {
        ember_writer a = {0}, b = {0};
        write_random(&a, 0);
        CHECK(a.err == 0);
        ember_value v;
        CHECK(decode_all(&a, &v) == 0);
        copy_walk(&b, &v);
        CHECK(b.err == 0 && a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
        /* every strict prefix is rejected */
        for (size_t cut = 0; cut < a.len; cut++)
            CHECK(ember_value_decode(a.data, cut, &v, NULL) == EMBER_ECORRUPT);
        ember_writer_free(&a);
        ember_writer_free(&b);
    }
}

int main(void) {
    RUN(test_scalars_round_trip);
    RUN(test_exact_bytes);
    RUN(test_containers);
    RUN(test_bigint_shortest_form);
    RUN(test_batches);
    RUN(test_rejects_bad_input);
    RUN(test_utf8_at_every_position);
    RUN(test_writer_errors_stick);
    RUN(test_decode_pair);
    RUN(test_small_int_agrees_with_decode);
    RUN(test_random_round_trip);
    return TEST_REPORT();
}
