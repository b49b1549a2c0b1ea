/* test_alloc.c — unit tests of the counting allocator and the growable buffers
 * (src/alloc.c): what ember_mem_used() counts, emberB_grow's doubling, its refusal of
 * sizes that overflow (array left as it was), emberB_reserve/append on top of it, and
 * the short copies and comparisons of internal.h (emberB_copy, emberB_equal).
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

/* emberB_copy is memcpy (memmove up to 16 bytes) and emberB_equal is memcmp() == 0,
 * for every length around their cases, touching no byte outside [0, n). */
static void test_short_copy_and_equal(void) {
    uint8_t src[64], dst[64], want[64];
    for (int i = 0; i < 64; i++)
        src[i] = (uint8_t)(i * 37 + 1);
    for (size_t n = 0; n <= 40; n++) {
        for (size_t at = 0; at < 3; at++) {
            memset(dst, 0xee, sizeof dst);
            memset(want, 0xee, sizeof want);
            memcpy(want + 8 + at, src + at, n);
            emberB_copy(dst + 8 + at, src + at, n);
            CHECK(memcmp(dst, want, sizeof dst) == 0);
            CHECK(emberB_equal(dst + 8 + at, src + at, n));
            for (size_t k = 0; k < n; k++) { /* any byte that differs is seen */
                dst[8 + at + k] ^= 0x40;
                CHECK(!emberB_equal(dst + 8 + at, src + at, n));
                dst[8 + at + k] ^= 0x40;
            }
        }
    }
    for (size_t n = 0; n <= 16; n++) { /* overlapping, both ways: memmove */
        for (int shift = -3; shift <= 3; shift++) {
            uint8_t buf[64], ref[64];
            for (int i = 0; i < 64; i++)
                buf[i] = ref[i] = (uint8_t)(i + 1);
            memmove(ref + 20 + shift, ref + 20, n);
            emberB_copy(buf + 20 + shift, buf + 20, n);
            CHECK(memcmp(buf, ref, sizeof buf) == 0);
        }
    }
}

int main(void) {
    RUN(test_mem_used_counts);
    RUN(test_grow_doubles_from_first);
    RUN(test_grow_refuses_overflow);
    RUN(test_reserve_and_append);
    RUN(test_short_copy_and_equal);
    return TEST_REPORT();
}
