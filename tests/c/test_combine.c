/* test_combine.c — unit tests of the combining table of native shuffles (src/combine.c):
 * keys found again after the table grows, keys and values inline in the slot or in
 * the arena (a value that outgrows the slot moves both), insertion order (emberU_at),
 * slot order (emberU_next) visiting every entry once, clear, reserve, the byte count,
 * the memory it counts being returned by emberU_free, the hash seeing every byte,
 * values of every short size, a sparse table's walk and clear, and the spare table
 * (emberU_keep, emberU_take).
 */
#include "internal.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>

/* The encoded str of "k<i>" padded with `pad` x's, in buf; returns its length. */
static size_t key_of(uint8_t *buf, int i, int pad) {
    char s[300];
    int n = snprintf(s, sizeof s, "k%d%.*s", i, pad,
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    ember_writer w = {0};
    ember_put_str(&w, s, (size_t)n);
    memcpy(buf, w.data, w.len);
    size_t len = w.len;
    ember_writer_free(&w);
    return len;
}

static int64_t value_int(const emberU_table *t, const emberU_entry *e) {
    size_t n;
    const uint8_t *p = emberU_value(t, e, &n);
    ember_value v;
    if (ember_value_decode(p, n, &v, NULL) || v.type != EMBER_INT) return -1;
    return v.i;
}

static int set_int(emberU_table *t, emberU_entry *e, int64_t i) {
    ember_writer w = {0};
    ember_put_int(&w, i);
    int rc = emberU_set_value(t, e, w.data, w.len);
    ember_writer_free(&w);
    return rc;
}

/* 50,000 keys, short (inline) and long (arena) alternately, through several growths. */
static void test_find_after_growth(void) {
    int64_t before = ember_mem_used();
    emberU_table t = {0};
    uint8_t key[300];
    int n = 50000;
    for (int i = 0; i < n; i++) {
        size_t klen = key_of(key, i, i % 2 ? 40 : 0);
        emberU_entry *e;
        int found = -1;
        CHECK(emberU_find(&t, key, klen, &e, &found) == 0);
        CHECK(found == 0);
        CHECK(set_int(&t, e, i) == 0);
    }
    CHECK(t.used == (size_t)n);
    CHECK(t.cap >= 2 * (size_t)n);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        size_t klen = key_of(key, i, i % 2 ? 40 : 0), got;
        emberU_entry *e;
        int found = 0;
        if (emberU_find(&t, key, klen, &e, &found) || !found || value_int(&t, e) != i) bad++;
        const uint8_t *k = emberU_key(&t, e, &got);
        if (got != klen || memcmp(k, key, klen) != 0) bad++;
        if ((e->klen == 0xff) != (i % 2 == 1)) bad++; /* long keys in the arena, short ones inline */
    }
    CHECK(bad == 0);
    CHECK(t.used == (size_t)n); /* finding added nothing */
    emberU_free(&t);
    CHECK(ember_mem_used() == before);
}

/* A value that no longer fits beside its key moves both to the arena; later values
 * grow in place while they fit their room. */
static void test_value_outgrows_slot(void) {
    emberU_table t = {0};
    uint8_t key[300], big[200];
    size_t klen = key_of(key, 7, 0);
    emberU_entry *e;
    int found;
    CHECK(emberU_find(&t, key, klen, &e, &found) == 0 && !found);
    CHECK(set_int(&t, e, 1) == 0);
    CHECK(e->klen == klen); /* inline */
    ember_writer w = {0};
    memset(big, 'b', sizeof big);
    ember_put_bytes(&w, big, 100);
    CHECK(emberU_set_value(&t, e, w.data, w.len) == 0);
    CHECK(e->klen == 0xff);
    size_t n, kn;
    const uint8_t *v = emberU_value(&t, e, &n);
    CHECK(n == w.len && memcmp(v, w.data, n) == 0);
    const uint8_t *k = emberU_key(&t, e, &kn);
    CHECK(kn == klen && memcmp(k, key, klen) == 0);
    size_t arena = t.arena.len;
    CHECK(set_int(&t, e, 5) == 0); /* smaller: in place */
    CHECK(t.arena.len == arena && value_int(&t, e) == 5);
    CHECK(emberU_find(&t, key, klen, &e, &found) == 0 && found && value_int(&t, e) == 5);
    ember_writer_free(&w);
    emberU_free(&t);
}

/* emberU_at gives insertion order; emberU_next visits every entry once. */
static void test_orders(void) {
    emberU_table t = {0};
    uint8_t key[300];
    int n = 3000;
    for (int i = 0; i < n; i++) {
        size_t klen = key_of(key, i, i % 3 == 0 ? 30 : 0);
        emberU_entry *e;
        int found;
        CHECK(emberU_find(&t, key, klen, &e, &found) == 0);
        set_int(&t, e, i);
    }
    int in_order = 1;
    for (int i = 0; i < n; i++)
        if (value_int(&t, emberU_at(&t, (size_t)i)) != i) in_order = 0;
    CHECK(in_order);
    char *seen = calloc((size_t)n, 1);
    size_t pos = 0, visits = 0;
    for (emberU_entry *e; (e = emberU_next(&t, &pos));) {
        int64_t i = value_int(&t, e);
        if (i >= 0 && i < n) seen[i]++;
        visits++;
    }
    CHECK(visits == (size_t)n);
    int once = 1;
    for (int i = 0; i < n; i++)
        if (seen[i] != 1) once = 0;
    CHECK(once);
    free(seen);
    emberU_free(&t);
}

/* clear empties the table and its byte count, keeping its slots; reserve sizes it. */
static void test_clear_reserve_bytes(void) {
    emberU_table t = {0};
    CHECK(emberU_bytes(&t) == 0);
    CHECK(emberU_reserve(&t, 100000) == 0);
    size_t cap = t.cap;
    CHECK(cap >= 200000);
    uint8_t key[300];
    for (int i = 0; i < 1000; i++) {
        size_t klen = key_of(key, i, 50);
        emberU_entry *e;
        int found;
        emberU_find(&t, key, klen, &e, &found);
        set_int(&t, e, i);
    }
    CHECK(t.cap == cap); /* reserved: no growth */
    CHECK(emberU_bytes(&t) >= 1000 * 50);
    emberU_clear(&t);
    CHECK(t.used == 0 && emberU_bytes(&t) == 0 && t.cap == cap);
    size_t klen = key_of(key, 3, 50), pos = 0;
    emberU_entry *e;
    int found = 1;
    CHECK(emberU_find(&t, key, klen, &e, &found) == 0 && !found);
    CHECK(emberU_next(&t, &pos) == e && emberU_next(&t, &pos) == NULL);
    emberU_free(&t);
    emberU_free(&t); /* a freed table is a zeroed one */
}

/* An empty key is refused; the hash spreads keys that differ in one byte, at every
 * length and every position (the 8-byte words and the tail alike). */
static void test_bad_key_and_hash(void) {
    emberU_table t = {0};
    emberU_entry *e;
    int found;
    CHECK(emberU_find(&t, (const uint8_t *)"", 0, &e, &found) == EMBER_EINVAL);
    CHECK(emberU_hash((const uint8_t *)"abcdefghij", 10) != emberU_hash((const uint8_t *)"abcdefghik", 10));
    CHECK(emberU_hash((const uint8_t *)"a", 1) != emberU_hash((const uint8_t *)"a\0", 2));
    uint8_t key[40];
    for (int i = 0; i < 40; i++)
        key[i] = (uint8_t)('a' + i % 26);
    int same = 0;
    for (size_t n = 1; n <= 40; n++) {
        uint64_t h = emberU_hash(key, n);
        for (size_t i = 0; i < n; i++) {
            key[i] ^= 1;
            if (emberU_hash(key, n) == h) same++;
            key[i] ^= 1;
        }
    }
    CHECK(same == 0);
    emberU_free(&t);
}

/* emberU_set_value: a value copied from the slot itself (memmove, inline), values of
 * 1 to 24 bytes beside a short key (inline while they fit, then in the arena). */
static void test_set_value_sizes(void) {
    emberU_table t = {0};
    uint8_t key[300];
    size_t klen = key_of(key, 1, 0); /* 4 bytes: "k1" */
    emberU_entry *e;
    int found;
    CHECK(emberU_find(&t, key, klen, &e, &found) == 0 && !found);
    CHECK(set_int(&t, e, 300) == 0);
    size_t n;
    const uint8_t *v = emberU_value(&t, e, &n);
    CHECK(emberU_set_value(&t, e, v, n) == 0 && value_int(&t, e) == 300 && e->klen == klen);
    for (size_t len = 0; len <= 22; len++) {
        uint8_t want[32];
        ember_writer w = {0};
        memset(want, 'a' + (int)len, sizeof want);
        ember_put_bytes(&w, want, len); /* 2 + len bytes */
        CHECK(emberU_set_value(&t, e, w.data, w.len) == 0);
        const uint8_t *got = emberU_value(&t, e, &n);
        CHECK(n == w.len && memcmp(got, w.data, n) == 0);
        CHECK((e->klen == 0xff) == (klen + w.len > EMBER_COMBINE_INLINE)); /* once far, stays far */
        const uint8_t *k = emberU_key(&t, e, &n);
        CHECK(n == klen && memcmp(k, key, klen) == 0);
        ember_writer_free(&w);
    }
    emberU_free(&t);
}

/* Adds keys lo..hi-1 ("k<i>", 20 x's on every third) with value i. */
static void add_keys(emberU_table *t, int lo, int hi) {
    uint8_t key[300];
    for (int i = lo; i < hi; i++) {
        size_t klen = key_of(key, i, i % 3 == 0 ? 20 : 0);
        emberU_entry *e;
        int found = -1;
        CHECK(emberU_find(t, key, klen, &e, &found) == 0 && found == 0);
        CHECK(set_int(t, e, i) == 0);
    }
}

/* The entries emberU_next visits: 1 when it visits keys lo..hi-1 once each and no other. */
static int visits_each_once(const emberU_table *t, int lo, int hi) {
    char *seen = calloc((size_t)hi, 1);
    size_t pos = 0, visits = 0;
    int ok = 1;
    for (emberU_entry *e; (e = emberU_next(t, &pos));) {
        int64_t i = value_int(t, e);
        if (i < lo || i >= hi || seen[i]++) ok = 0;
        visits++;
    }
    free(seen);
    return ok && visits == (size_t)(hi - lo);
}

/* Under an eighth full, emberU_next walks the used slots and emberU_clear zeroes them
 * alone: every slot is empty after it, and the table takes keys again. */
static void test_sparse_walk_clear(void) {
    emberU_table t = {0};
    CHECK(emberU_reserve(&t, 50000) == 0);
    add_keys(&t, 0, 1000);
    CHECK(t.used * 8 < t.cap);
    CHECK(visits_each_once(&t, 0, 1000));
    emberU_clear(&t);
    size_t left = 0;
    for (size_t i = 0; i < t.cap; i++)
        if (t.slots[i].klen || t.slots[i].h || t.slots[i].vlen) left++;
    CHECK(left == 0);
    add_keys(&t, 0, 300); /* found == 0 again: the cleared keys are gone */
    CHECK(visits_each_once(&t, 0, 300));
    emberU_free(&t);
}

/* emberU_keep leaves a done table's memory as the spare (the bigger of two; none past
 * EMBER_COMBINE_SPARE); emberU_take starts a table with it, empty; emberU_free_spare
 * returns its memory. */
static void test_spare(void) {
    int64_t before = ember_mem_used();
    emberU_table a = {0}, b = {0}, c = {0};
    CHECK(emberU_reserve(&a, 20000) == 0);
    size_t cap = a.cap;
    add_keys(&a, 0, 5000);
    emberU_keep(&a);
    CHECK(a.cap == 0 && a.slots == NULL && a.used == 0);
    add_keys(&c, 0, 10); /* smaller than the spare: freed, the spare stays */
    emberU_keep(&c);
    CHECK(c.cap == 0);
    emberU_take(&b);
    CHECK(b.cap == cap && b.used == 0 && emberU_bytes(&b) == 0);
    size_t left = 0; /* the spare is cleared when taken */
    for (size_t i = 0; i < b.cap; i++)
        if (b.slots[i].klen || b.slots[i].h) left++;
    CHECK(left == 0);
    add_keys(&b, 100, 4000); /* keys of a's found == 0: b starts empty */
    CHECK(b.cap == cap && visits_each_once(&b, 100, 4000));
    emberU_take(&c); /* b holds the spare: none left */
    CHECK(c.cap == 0);
    emberU_keep(&b);
    CHECK(emberU_reserve(&c, EMBER_COMBINE_SPARE / sizeof(emberU_entry)) == 0); /* past the limit */
    emberU_keep(&c);
    emberU_take(&c);
    CHECK(c.cap == cap);
    emberU_keep(&c);
    CHECK(ember_mem_used() > before);
    emberU_free_spare();
    CHECK(ember_mem_used() == before);
    emberU_take(&c);
    CHECK(c.cap == 0);
}

int main(void) {
    RUN(test_find_after_growth);
    RUN(test_value_outgrows_slot);
    RUN(test_orders);
    RUN(test_clear_reserve_bytes);
    RUN(test_bad_key_and_hash);
    RUN(test_set_value_sizes);
    RUN(test_sparse_walk_clear);
    RUN(test_spare);
    return TEST_REPORT();
}
