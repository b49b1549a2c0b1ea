/* test_keyindex.c — unit tests of the insertion-ordered hash index (src/keyindex.c):
 * lookups through the equality callback, colliding hashes kept apart, growth keeping
 * every entry, an equality error passed up, clear, and the bytes counted. */
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
    return emberH_find(x, hash, eq, t, slot);
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
        CHECK(emberH_insert(&x, slot, 100 + i, i) == 0);
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
        CHECK(emberH_insert(&x, slot, 7, i) == 0);
    }
    for (uint32_t i = 0; i < 4; i++)
        CHECK(lookup(&x, &t, keys[i], 7, &slot) == (int64_t)i);
    CHECK(lookup(&x, &t, "z", 7, &slot) == -1);
    emberH_free(&x);
}

static void test_growth_keeps_entries(void) {
    enum { N = 100000 };
    static char names[N][8];
    static const char *keys[N];
    emberH_index x;
    CHECK(emberH_init(&x) == 0);
    table t = {keys, NULL, 0, 0};
    size_t slot;
    for (uint32_t i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "%u", i);
        keys[i] = names[i];
        uint64_t h = (uint64_t)i * 0x9E3779B97F4A7C15u;
        CHECK(lookup(&x, &t, keys[i], h, &slot) == -1);
        CHECK(emberH_insert(&x, slot, h, i) == 0);
    }
    CHECK(x.used == N && (x.mask + 1) * 2 >= (size_t)N * 3);
    int all = 1;
    for (uint32_t i = 0; i < N; i++)
        all &= lookup(&x, &t, keys[i], (uint64_t)i * 0x9E3779B97F4A7C15u, &slot) == (int64_t)i;
    CHECK(all);
    emberH_clear(&x);
    CHECK(x.used == 0);
    CHECK(lookup(&x, &t, keys[5], 5 * 0x9E3779B97F4A7C15u, &slot) == -1);
    emberH_free(&x);
}

static void test_eq_error_passed_up(void) {
    emberH_index x;
    CHECK(emberH_init(&x) == 0);
    const char *keys[1] = {"a"};
    table t = {keys, NULL, 0, 0};
    size_t slot;
    CHECK(lookup(&x, &t, "a", 1, &slot) == -1);
    CHECK(emberH_insert(&x, slot, 1, 0) == 0);
    t.fail = 1;
    CHECK(lookup(&x, &t, "a", 1, &slot) == -2);
    emberH_free(&x);
}

int main(void) {
    RUN(test_find_and_insert);
    RUN(test_colliding_hashes);
    RUN(test_growth_keeps_entries);
    RUN(test_eq_error_passed_up);
    return TEST_REPORT();
}
