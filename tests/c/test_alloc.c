/* test_alloc.c — unit tests of the counting allocator and the growable buffers
 * (src/alloc.c): what ember_mem_used() counts, emberB_grow's doubling, its refusal of
 * sizes that overflow (array left as it was), and emberB_reserve/append on top of it.
 */
#include "internal.h"
#include "test.h"

#include <stdint.h>

static void test_mem_used_counts(void) {
    int64_t before = ember_mem_used();
    void *p = ember_malloc(1000);
    CHECK(p != NULL);
    CHECK(ember_mem_used() >= before + 1000);
    p = ember_realloc(p, 100000);
    CHECK(p != NULL);
    CHECK(ember_mem_used() >= before + 100000);
    ember_free(p);
    CHECK(ember_mem_used() == before);
    ember_free(NULL); /* a no-op */
    CHECK(ember_mem_used() == before);
}

static void test_grow_doubles_from_first(void) {
    int64_t before = ember_mem_used();
    int *a = NULL;
    size_t cap = 0;
    CHECK(emberB_grow(&a, &cap, 1, sizeof *a, 16) == 0);
    CHECK(a != NULL && cap == 16);
    a[15] = 7;
    CHECK(emberB_grow(&a, &cap, 16, sizeof *a, 16) == 0); /* fits: unchanged */
    CHECK(cap == 16);
    CHECK(emberB_grow(&a, &cap, 17, sizeof *a, 16) == 0);
    CHECK(cap == 32 && a[15] == 7); /* contents kept */
    CHECK(emberB_grow(&a, &cap, 1000, sizeof *a, 16) == 0);
    CHECK(cap == 1024);
    ember_free(a);
    CHECK(ember_mem_used() == before);
}

static void test_grow_refuses_overflow(void) {
    double *a = NULL;
    size_t cap = 0;
    CHECK(emberB_grow(&a, &cap, 4, sizeof *a, 4) == 0);
    double *kept = a;
    /* need * elem overflows size_t: refused before any allocation, array unchanged */
    CHECK(emberB_grow(&a, &cap, SIZE_MAX / 4, sizeof *a, 4) == EMBER_ENOMEM);
    CHECK(a == kept && cap == 4);
    CHECK(strstr(ember_last_error(), "cannot grow") != NULL);
    /* doubling past SIZE_MAX is refused too */
    CHECK(emberB_grow(&a, &cap, SIZE_MAX, 1, 4) == EMBER_ENOMEM);
    CHECK(a == kept && cap == 4);
    ember_free(a);
}

static void test_reserve_and_append(void) {
    emberB_buf b = {0};
    CHECK(emberB_reserve(&b, 10) == 0);
    CHECK(b.cap == 256 && b.len == 0); /* a buffer starts at 256 bytes */
    CHECK(emberB_put_u32(&b, 0x01020304u) == 0);
    CHECK(emberB_put_str(&b, "ember") == 0);
    CHECK(b.len == 4 + 4 + 5);
    CHECK(emberB_load_u32(b.data) == 0x01020304u && emberB_load_u32(b.data + 4) == 5);
    CHECK(memcmp(b.data + 8, "ember", 5) == 0);
    uint8_t big[600] = {1};
    CHECK(emberB_append(&b, big, sizeof big) == 0);
    CHECK(b.cap == 1024 && b.len == 13 + 600);
    CHECK(emberB_reserve(&b, SIZE_MAX - 5) == EMBER_ENOMEM); /* len + extra overflows */
    CHECK(b.cap == 1024 && b.len == 613);
    emberB_free(&b);
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
}

int main(void) {
    RUN(test_mem_used_counts);
    RUN(test_grow_doubles_from_first);
    RUN(test_grow_refuses_overflow);
    RUN(test_reserve_and_append);
    return TEST_REPORT();
}
