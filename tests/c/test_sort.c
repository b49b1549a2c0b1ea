/* test_sort.c — sort.c: the order of keys of each kind, the stable sort (radix and
 * merge paths, ascending and descending), the fallback and its failures, bisect_left
 * and the k-way merge. */
#include "internal.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>

static emberO_key int_key(int64_t i) { return (emberO_key){.kind = EMBER_KEY_INT, .v.i = i}; }
static emberO_key float_key(double f) { return (emberO_key){.kind = EMBER_KEY_FLOAT, .v.f = f}; }
static emberO_key str_key(const char *s) {
    return (emberO_key){.kind = EMBER_KEY_STR, .width = 1, .len = (uint32_t)strlen(s), .v.p = s};
}
static emberO_key bytes_key(const char *s, size_t n) {
    return (emberO_key){.kind = EMBER_KEY_BYTES, .len = (uint32_t)n, .v.p = s};
}

/* The fallback of these tests: obj points at an int; a value of 999 cannot be compared. */
static int fallback_calls;
static int int_fallback(void *arg, const emberO_key *a, const emberO_key *b, int op) {
    (void)arg;
    fallback_calls++;
    int x = *(int *)a->obj, y = *(int *)b->obj;
    if (x == 999 || y == 999) return emberE_set(EMBER_ETASK, "999 has no order");
    return op == EMBER_KEY_LT ? x < y : x == y;
}
static const emberO_order order = {int_fallback, NULL};
static const emberO_order no_fallback = {NULL, NULL};

static int less(emberO_key a, emberO_key b) { return emberO_less(&order, &a, &b); }

static void test_order_of_each_kind(void) {
    CHECK(less(int_key(-5), int_key(3)) == 1 && less(int_key(3), int_key(3)) == 0);
    CHECK(less(int_key(INT64_MIN), int_key(INT64_MAX)) == 1);
    CHECK(less(float_key(-0.0), float_key(0.0)) == 0 && less(float_key(0.0), float_key(-0.0)) == 0);
    CHECK(less(float_key(-INFINITY), float_key(1e308)) == 1);
    /* ints and floats compare exactly */
    CHECK(less(int_key(2), float_key(2.5)) == 1 && less(float_key(2.5), int_key(3)) == 1);
    CHECK(less(int_key(2), float_key(2.0)) == 0 && less(float_key(2.0), int_key(2)) == 0);
    CHECK(less(int_key(-3), float_key(-2.5)) == 1 && less(float_key(-2.5), int_key(-3)) == 0);
    CHECK(less(int_key(INT64_MAX), float_key(9223372036854775808.0)) == 1);
    CHECK(less(float_key(-9223372036854775808.0), int_key(INT64_MIN)) == 0);
    CHECK(less(int_key((int64_t)1 << 53 | 1), float_key(9007199254740992.0)) == 0); /* 2**53+1 > 2.0**53 */
    CHECK(less(float_key(INFINITY), int_key(INT64_MAX)) == 0);
    /* str: by code point, then length; widths mix */
    CHECK(less(str_key("abc"), str_key("abd")) == 1 && less(str_key("ab"), str_key("abc")) == 1);
    CHECK(less(str_key("b"), str_key("abc")) == 0 && less(str_key(""), str_key("a")) == 1);
    CHECK(less(str_key("\xe9"), str_key("z")) == 0); /* latin-1 é (233) after z */
    uint16_t wide[] = {0x100, 'a'};
    uint32_t wider[] = {0x10000};
    emberO_key w2 = {.kind = EMBER_KEY_STR, .width = 2, .len = 2, .v.p = wide};
    emberO_key w4 = {.kind = EMBER_KEY_STR, .width = 4, .len = 1, .v.p = wider};
    CHECK(less(str_key("\xff"), w2) == 1 && less(w2, w4) == 1 && less(w4, w2) == 0);
    /* bytes: unsigned bytes, then length */
    CHECK(less(bytes_key("\x01\xff", 2), bytes_key("\x02", 1)) == 1);
    CHECK(less(bytes_key("a", 1), bytes_key("a\0", 2)) == 1 && less(bytes_key("\x80", 1), bytes_key("\x7f", 1)) == 0);
}

static void test_tuples_compare_item_by_item(void) {
    emberO_key a_items[] = {int_key(1), str_key("b")}, b_items[] = {int_key(1), str_key("c")};
    emberO_key c_items[] = {float_key(1.0)};
    emberO_key a = {.kind = EMBER_KEY_TUPLE, .len = 2, .v.items = a_items};
    emberO_key b = {.kind = EMBER_KEY_TUPLE, .len = 2, .v.items = b_items};
    emberO_key c = {.kind = EMBER_KEY_TUPLE, .len = 1, .v.items = c_items};
    CHECK(less(a, b) == 1 && less(b, a) == 0 && less(a, a) == 0);
    CHECK(less(c, a) == 1 && less(a, c) == 0); /* (1.0,) == (1,)[:1], shorter first */
    /* items of kinds with no order ask the fallback: equal?, then less? */
    int one = 1, two = 2;
    emberO_key x_items[] = {int_key(0), {.kind = EMBER_KEY_STR, .width = 1, .len = 1, .v.p = "x", .obj = &two}};
    emberO_key y_items[] = {int_key(0), {.kind = EMBER_KEY_INT, .v.i = 1, .obj = &one}};
    emberO_key x = {.kind = EMBER_KEY_TUPLE, .len = 2, .v.items = x_items};
    emberO_key y = {.kind = EMBER_KEY_TUPLE, .len = 2, .v.items = y_items};
    fallback_calls = 0;
    CHECK(less(y, x) == 1 && less(x, y) == 0);
    CHECK(fallback_calls == 4);
    CHECK(emberO_less(&no_fallback, &x, &y) == EMBER_EINVAL);
}

static void test_obj_keys_use_the_fallback_and_its_errors_stop(void) {
    int v[] = {3, 1, 2, 999};
    emberO_key k[4];
    for (int i = 0; i < 4; i++)
        k[i] = (emberO_key){.kind = EMBER_KEY_OBJ, .obj = &v[i]};
    CHECK(less(k[1], k[0]) == 1 && less(k[0], k[1]) == 0);
    CHECK(less(k[3], k[0]) == EMBER_ETASK);
    /* an int and an OBJ: the fallback, with the objects */
    emberO_key i5 = {.kind = EMBER_KEY_INT, .v.i = 5, .obj = &v[0]};
    CHECK(less(k[1], i5) == 1);
}

/* items with INT keys; value = the input position */
static void fill_ints(emberO_item *items, size_t n, unsigned seed, int64_t range) {
    srand(seed);
    for (size_t i = 0; i < n; i++) {
        int64_t x = ((int64_t)rand() << 31 | rand()) % range - range / 2;
        items[i] = (emberO_item){int_key(x), (void *)(uintptr_t)i};
    }
}

/* sorted by key (descending when asked), equal keys in increasing input position */
static int sorted_stably(const emberO_item *items, size_t n, int descending) {
    for (size_t i = 1; i < n; i++) {
        int lt = emberO_less(&order, &items[i - 1].key, &items[i].key);
        int gt = emberO_less(&order, &items[i].key, &items[i - 1].key);
        if (descending ? lt : gt) return 0;
        if (!lt && !gt && (uintptr_t)items[i - 1].value > (uintptr_t)items[i].value) return 0;
    }
    return 1;
}

static void test_sort_ints_radix_stable(void) {
    size_t sizes[] = {0, 1, 5, 24, 25, 1000, 100000};
    int64_t ranges[] = {3, 1000, INT64_MAX};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (size_t r = 0; r < 3; r++)
            for (int desc = 0; desc < 2; desc++) {
                size_t n = sizes[s];
                emberO_item *items = malloc((n + 1) * sizeof *items);
                fill_ints(items, n, (unsigned)(s * 7 + r), ranges[r]);
                CHECK(emberO_sort(&order, items, n, desc) == 0);
                CHECK(sorted_stably(items, n, desc));
                free(items);
            }
}

static void test_sort_floats_and_mixed_numbers(void) {
    size_t n = 5000;
    emberO_item *items = malloc(n * sizeof *items);
    for (int mixed = 0; mixed < 2; mixed++)
        for (int desc = 0; desc < 2; desc++) {
            srand(11);
            for (size_t i = 0; i < n; i++) {
                double d = (rand() % 2001 - 1000) / 8.0;
                if (i % 97 == 0) d = -0.0;
                if (i % 89 == 0) d = i % 2 ? INFINITY : -INFINITY;
                items[i] = (emberO_item){float_key(d), (void *)(uintptr_t)i};
                if (mixed && i % 3 == 0) items[i].key = int_key(rand() % 200 - 100);
            }
            CHECK(emberO_sort(&order, items, n, desc) == 0);
            CHECK(sorted_stably(items, n, desc));
        }
    free(items);
}

static void test_sort_strings_merge_path(void) {
    static char words[3000][8];
    emberO_item items[3000];
    srand(5);
    for (size_t i = 0; i < 3000; i++) {
        int len = rand() % 4;
        for (int j = 0; j < len; j++)
            words[i][j] = (char)('a' + rand() % 3);
        words[i][len] = 0;
        items[i] = (emberO_item){str_key(words[i]), (void *)(uintptr_t)i};
    }
    for (int desc = 0; desc < 2; desc++) {
        CHECK(emberO_sort(&order, items, 3000, desc) == 0);
        CHECK(sorted_stably(items, 3000, desc));
        for (size_t i = 0; i < 3000; i++) /* back to input order for the next round */
            items[i] = (emberO_item){str_key(words[i]), (void *)(uintptr_t)i};
    }
}

static void test_a_failing_fallback_stops_the_sort_leaving_a_permutation(void) {
    enum { N = 500 };
    int v[N];
    emberO_item items[N];
    for (int i = 0; i < N; i++) {
        v[i] = (i * 37) % N;
        if (i == 300) v[i] = 999;
        items[i] = (emberO_item){{.kind = EMBER_KEY_OBJ, .obj = &v[i]}, (void *)(uintptr_t)i};
    }
    CHECK(emberO_sort(&order, items, N, 0) == EMBER_ETASK);
    CHECK(strstr(ember_last_error(), "999") != NULL);
    int seen[N] = {0};
    for (int i = 0; i < N; i++)
        seen[(uintptr_t)items[i].value]++;
    int once = 1;
    for (int i = 0; i < N; i++)
        once &= seen[i] == 1;
    CHECK(once);
    /* without the bad one, the fallback sorts them */
    v[300] = 300 * 37 % N;
    for (int i = 0; i < N; i++)
        items[i] = (emberO_item){{.kind = EMBER_KEY_OBJ, .obj = &v[i]}, (void *)(uintptr_t)i};
    CHECK(emberO_sort(&order, items, N, 1) == 0);
    CHECK(sorted_stably(items, N, 1));
}

static void test_bisect_left(void) {
    emberO_key bounds[] = {int_key(10), int_key(20), int_key(20), int_key(30)};
    int64_t xs[] = {5, 10, 15, 20, 25, 30, 35};
    size_t want[] = {0, 0, 1, 1, 3, 3, 4}, got = 99;
    for (int i = 0; i < 7; i++) {
        emberO_key x = int_key(xs[i]);
        CHECK(emberO_bisect_left(&order, bounds, 4, &x, &got) == 0 && got == want[i]);
    }
    emberO_key x = float_key(19.5);
    CHECK(emberO_bisect_left(&order, bounds, 4, &x, &got) == 0 && got == 1);
    CHECK(emberO_bisect_left(&order, bounds, 0, &x, &got) == 0 && got == 0);
    int bad = 999;
    emberO_key obj = {.kind = EMBER_KEY_OBJ, .obj = &bad};
    int ten = 10;
    bounds[0].obj = &ten;
    CHECK(emberO_bisect_left(&order, bounds, 1, &obj, &got) == EMBER_ETASK);
}

static void test_merge_of_runs_is_stable(void) {
    /* three runs cut from one input in order; equal keys must come run by run */
    int64_t runs[3][4] = {{1, 3, 3, 7}, {2, 3, 8, 9}, {3, 3, 4, 100}};
    size_t lens[3] = {4, 4, 4}, pos[3] = {0, 0, 0};
    emberO_key keys[3][4];
    for (int r = 0; r < 3; r++)
        for (int i = 0; i < 4; i++)
            keys[r][i] = int_key(runs[r][i]);
    emberO_merge m;
    CHECK(emberO_merge_init(&m, &order, 0, 3) == 0);
    const emberO_key *first[3] = {&keys[0][0], &keys[1][0], &keys[2][0]};
    CHECK(emberO_merge_start(&m, first) == 0);
    int64_t out[12];
    int from[12], k = 0, s;
    while ((s = emberO_merge_top(&m)) >= 0 && k < 12) {
        out[k] = keys[s][pos[s]].v.i;
        from[k++] = s;
        pos[s]++;
        CHECK(emberO_merge_advance(&m, pos[s] < lens[s] ? &keys[s][pos[s]] : NULL) == 0);
    }
    CHECK(k == 12 && emberO_merge_top(&m) == -1);
    int64_t want[12] = {1, 2, 3, 3, 3, 3, 3, 4, 7, 8, 9, 100};
    int want_from[12] = {0, 1, 0, 0, 1, 2, 2, 2, 0, 1, 1, 2};
    for (int i = 0; i < 12; i++)
        CHECK(out[i] == want[i] && from[i] == want_from[i]);
    emberO_merge_free(&m);

    /* descending, with an empty source */
    emberO_key d0[] = {int_key(9), int_key(5)}, d2[] = {int_key(9), int_key(1)};
    CHECK(emberO_merge_init(&m, &order, 1, 3) == 0);
    const emberO_key *starts[3] = {&d0[0], NULL, &d2[0]};
    CHECK(emberO_merge_start(&m, starts) == 0);
    int seq[4], p0 = 0, p2 = 0;
    for (int i = 0; i < 4; i++) {
        s = emberO_merge_top(&m);
        seq[i] = s;
        const emberO_key *next = NULL;
        if (s == 0 && ++p0 < 2) next = &d0[p0];
        if (s == 2 && ++p2 < 2) next = &d2[p2];
        CHECK(emberO_merge_advance(&m, next) == 0);
    }
    CHECK(seq[0] == 0 && seq[1] == 2 && seq[2] == 0 && seq[3] == 2 && emberO_merge_top(&m) == -1);
    emberO_merge_free(&m);
    emberO_merge_free(&m); /* twice is harmless */
}

int main(void) {
    RUN(test_order_of_each_kind);
    RUN(test_tuples_compare_item_by_item);
    RUN(test_obj_keys_use_the_fallback_and_its_errors_stop);
    RUN(test_sort_ints_radix_stable);
    RUN(test_sort_floats_and_mixed_numbers);
    RUN(test_sort_strings_merge_path);
    RUN(test_a_failing_fallback_stops_the_sort_leaving_a_permutation);
    RUN(test_bisect_left);
    RUN(test_merge_of_runs_is_stable);
    return TEST_REPORT();
}
