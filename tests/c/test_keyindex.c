/* test_keyindex.c — unit tests of the insertion-ordered hash index (src/keyindex.c):
 * lookups through the equality callback, colliding hashes kept apart, growth keeping
 * every entry, an equality error passed up, clear, and the bytes counted; exact keys
 * found without the callback; hashes sharing their low bits spread over the slots. */
#include "internal.h"
#include "test.h"

#include <stdint.h>

/* The caller's side: entries are strings in an array; the key looked for is ctx. */
typedef struct {
    const char **keys;
    const char *want;
    int calls, fail;
} table;

static int eq(void *ctx, uint32_t entry) {
    table *t = ctx;
    t->calls++;
    if (t->fail) return -1;
    return strcmp(t->keys[entry], t->want) == 0;
}

static int64_t lookup(emberH_index *x, table *t, const char *key, uint64_t hash, size_t *slot) {
    t->want = key;
    return emberH_find(x, hash, 0, eq, t, slot);
}

static void test_find_and_insert(void) {
    int64_t before = ember_mem_used();
    emberH_index x;
    CHECK(emberH_init(&x) == 0);
    const char *keys[3] = {"a", "b", "c"};
    table t = {keys, NULL, 0, 0};
    size_t slot;
    for (uint32_t i = 0; i < 3; i++) {
        CHECK(lookup(&x, &t, keys[i], 100 + i, &slot) == -1);
        CHECK(emberH_insert(&x, slot, 100 + i, 0, i) == 0);
    }
    CHECK(x.used == 3);
    CHECK(lookup(&x, &t, "b", 101, &slot) == 1);
    CHECK(lookup(&x, &t, "c", 102, &slot) == 2);
    t.calls = 0;
    CHECK(lookup(&x, &t, "d", 103, &slot) == -1);
    CHECK(t.calls == 0); /* no entry has that hash: eq is not asked */
    CHECK(emberH_bytes(&x) > 0 && ember_mem_used() >= before + (int64_t)emberH_bytes(&x));
    emberH_free(&x);
    CHECK(ember_mem_used() == before);
    emberH_free(&x); /* freeing twice is a no-op */
}

static void test_colliding_hashes(void) {
    emberH_index x;
    CHECK(emberH_init(&x) == 0);
    const char *keys[4] = {"p", "q", "r", "s"};
    table t = {keys, NULL, 0, 0};
    size_t slot;
    for (uint32_t i = 0; i < 4; i++) { /* every key has hash 7 */
        CHECK(lookup(&x, &t, keys[i], 7, &slot) == -1);
        CHECK(emberH_insert(&x, slot, 7, 0, i) == 0);
    }
    for (uint32_t i = 0; i < 4; i++)
        CHECK(lookup(&x, &t, keys[i], 7, &slot) == (int64_t)i);
    CHECK(lookup(&x, &t, "z", 7, &slot) == -1);
    emberH_free(&x);
}

/* Keys "0", "1" ... of the numbered tests, and two ways to hash them. */
enum { NUMBERED = 100000 };
static char names[NUMBERED][12]; /* room for any uint32_t */
static const char *numbered[NUMBERED];
static uint64_t spread(uint32_t i) { return (uint64_t)i * 0x9E3779B97F4A7C15u; }
static uint64_t low_bits_shared(uint32_t i) { return (uint64_t)i * 1024 + 3; }

/* Inserts keys "0" .. "n-1" (hash(i) each) into t's index x; 1 when each was new and
 * every one is then found as its entry. */
static int insert_numbered(emberH_index *x, table *t, uint32_t n, uint64_t (*hash)(uint32_t)) {
    size_t slot;
    int ok = 1;
    for (uint32_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "%u", i);
        numbered[i] = names[i];
        ok &= lookup(x, t, numbered[i], hash(i), &slot) == -1 && emberH_insert(x, slot, hash(i), 0, i) == 0;
    }
    for (uint32_t i = 0; i < n; i++)
        ok &= lookup(x, t, numbered[i], hash(i), &slot) == (int64_t)i;
    return ok;
}

static void test_growth_keeps_entries(void) {
    emberH_index x;
    CHECK(emberH_init(&x) == 0);
    table t = {numbered, NULL, 0, 0};
    size_t slot;
    CHECK(insert_numbered(&x, &t, NUMBERED, spread));
    CHECK(x.used == NUMBERED && (x.mask + 1) * 2 >= (size_t)NUMBERED * 3);
    emberH_clear(&x);
    CHECK(x.used == 0);
    CHECK(lookup(&x, &t, numbered[5], spread(5), &slot) == -1);
    emberH_free(&x);
}

static void test_eq_error_passed_up(void) {
    emberH_index x;
    CHECK(emberH_init(&x) == 0);
    const char *keys[1] = {"a"};
    table t = {keys, NULL, 0, 0};
    size_t slot;
    CHECK(lookup(&x, &t, "a", 1, &slot) == -1);
    CHECK(emberH_insert(&x, slot, 1, 0, 0) == 0);
    t.fail = 1;
    CHECK(lookup(&x, &t, "a", 1, &slot) == -2);
    emberH_free(&x);
}

/* Exact keys (hash = the key, as small ints in the grouping tables) are found without
 * the callback; an exact key and a non-exact one with the same hash are told apart by
 * it (the int 5 and the float 5.0 are the same key). */
static void test_exact_keys(void) {
    emberH_index x;
    CHECK(emberH_init(&x) == 0);
    const char *keys[3] = {"5", "6", "5.0"};
    table t = {keys, NULL, 0, 0};
    size_t slot;
    for (uint32_t i = 0; i < 2; i++) {
        t.want = keys[i];
        CHECK(emberH_find(&x, 5 + i, 1, eq, &t, &slot) == -1);
        CHECK(emberH_insert(&x, slot, 5 + i, 1, i) == 0);
    }
    t.calls = 0;
    t.want = "6";
    CHECK(emberH_find(&x, 6, 1, eq, &t, &slot) == 1);
    CHECK(t.calls == 0);
    t.want = "5.0"; /* not exact: the callback decides (and says no here) */
    CHECK(emberH_find(&x, 5, 0, eq, &t, &slot) == -1);
    CHECK(t.calls == 1);
    CHECK(emberH_insert(&x, slot, 5, 0, 2) == 0);
    t.want = "5";
    CHECK(emberH_find(&x, 5, 1, eq, &t, &slot) == 0); /* the exact entry, not "5.0" */
    t.fail = 1;                                       /* a lookup that is not exact asks eq, also of an exact entry */
    t.want = "5.0";
    CHECK(emberH_find(&x, 5, 0, eq, &t, &slot) == -2);
    emberH_free(&x);
}

/* The longest run of occupied slots. */
static size_t longest_run(const emberH_index *x) {
    size_t best = 0, run = 0;
    for (size_t i = 0; i <= x->mask; i++) {
        run = x->slots[i].entry ? run + 1 : 0;
        if (run > best) best = run;
    }
    return best;
}

/* Hashes that share their low bits (the keys of one reduce partition of a shuffle of
 * ints into 1024 partitions) still spread over the whole index: no long probe runs. */
static void test_low_bits_shared(void) {
    emberH_index x;
    CHECK(emberH_init(&x) == 0);
    table t = {numbered, NULL, 0, 0};
    CHECK(insert_numbered(&x, &t, 20000, low_bits_shared));
    CHECK(longest_run(&x) < 100);
    emberH_free(&x);
}

int main(void) {
    RUN(test_find_and_insert);
    RUN(test_colliding_hashes);
    RUN(test_growth_keeps_entries);
    RUN(test_eq_error_passed_up);
    RUN(test_exact_keys);
    RUN(test_low_bits_shared);
    return TEST_REPORT();
}
