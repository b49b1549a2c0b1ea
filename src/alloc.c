/* alloc.c — the one allocator: every byte libember allocates is counted here, so
 * ember_mem_used() reports it; the block store (blocks.c) reads the count to keep
 * cached partitions within the memory budget. Growable buffers too. */
#include "internal.h"

#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>

static _Atomic int64_t live_bytes;

void *ember_malloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (p) atomic_fetch_add(&live_bytes, (int64_t)malloc_usable_size(p));
    return p;
}

void *ember_calloc(size_t count, size_t n) {
    void *p = calloc(count ? count : 1, n ? n : 1);
    if (p) atomic_fetch_add(&live_bytes, (int64_t)malloc_usable_size(p));
    return p;
}

void *ember_realloc(void *p, size_t n) {
    size_t old = p ? malloc_usable_size(p) : 0;
    void *q = realloc(p, n ? n : 1);
    if (!q) return NULL;
    atomic_fetch_add(&live_bytes, (int64_t)malloc_usable_size(q) - (int64_t)old);
    return q;
}

void ember_free(void *p) {
    if (!p) return;
    atomic_fetch_sub(&live_bytes, (int64_t)malloc_usable_size(p));
    free(p);
}

char *ember_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = ember_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

int64_t ember_mem_used(void) { return atomic_load(&live_bytes); }

int emberB_grow(void *parray, size_t *cap, size_t need, size_t elem, size_t first) {
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : (first ? first : 1);
    while (n < need) {
        if (n > SIZE_MAX / 2) return emberE_set(EMBER_ENOMEM, "cannot grow an array to %zu elements", need);
        n *= 2;
    }
    if (elem && n > SIZE_MAX / elem)
        return emberE_set(EMBER_ENOMEM, "cannot grow an array to %zu elements of %zu bytes", n, elem);
    void *array;
    memcpy(&array, parray, sizeof array); /* parray points to a T *, whatever T is */
    void *grown = ember_realloc(array, n * elem);
    if (!grown) return emberE_set(EMBER_ENOMEM, "out of memory growing an array to %zu bytes", n * elem);
    memcpy(parray, &grown, sizeof grown);
    *cap = n;
    return 0;
}

int emberB_reserve(emberB_buf *b, size_t extra) {
    if (extra > SIZE_MAX - b->len) return emberE_set(EMBER_ENOMEM, "cannot grow a buffer by %zu bytes", extra);
    return emberB_grow(&b->data, &b->cap, b->len + extra, 1, 256);
}

int emberB_append(emberB_buf *b, const void *p, size_t n) {
    int rc = emberB_reserve(b, n);
    if (rc) return rc;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int emberB_put_u32(emberB_buf *b, uint32_t v) {
    uint8_t tmp[4];
    emberB_store_u32(tmp, v);
    return emberB_append(b, tmp, 4);
}

int emberB_put_u64(emberB_buf *b, uint64_t v) {
    uint8_t tmp[8];
    emberB_store_u64(tmp, v);
    return emberB_append(b, tmp, 8);
}

int emberB_put_str(emberB_buf *b, const char *s) {
    size_t n = strlen(s);
    int rc = emberB_put_u32(b, (uint32_t)n);
    return rc ? rc : emberB_append(b, s, n);
}

void emberB_free(emberB_buf *b) {
    ember_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
