/* combine.c — the combining table of native shuffles: encoded keys to encoded combiners,
 * used by the map-side combine and the reduce-side merge of nworker.c.
 *
 * Design. Keys and values are typed records (record.h) compared as bytes (one encoding
 * per value: equal bytes are equal keys). The table is open addressing with linear
 * probing over a power-of-two array of 32-byte slots, at most half full. A slot holds
 * 32 bits of the key's hash and, when the key's and the value's encodings fit in
 * EMBER_COMBINE_INLINE bytes together (a word and a count do), the bytes themselves:
 * a lookup of such a key touches one cache line. Longer ones live in an arena, the
 * slot holding their offsets. The key is hashed once per lookup (emberU_hash); a
 * caller holding several keys hashes them first and emberU_prefetch-es their slots, so
 * that their cache misses overlap, then finds them with emberU_find_hashed. The
 * slot's 32 bits serve both as the probe start and as the first comparison, and the
 * table grows by rehashing from those bits alone. Slot arrays of 2 MiB and more are
 * aligned to 2 MiB and madvise(MADV_HUGEPAGE)d: a lookup into a table of millions of
 * keys misses the cache anyway, and on huge pages it no longer misses the TLB too.
 * Entries keep their insertion order (emberU_at); emberU_next walks them in slot order,
 * reading the slot array from one end to the other (cheaper when the order is free),
 * or in insertion order when the table is under an eighth full (a big array holding
 * few keys: reading its used slots is less than reading all of it). Clearing zeroes
 * the used slots alone in that case too.
 *
 * A table that is done can leave its memory to the next one (emberU_keep, emberU_take):
 * in a worker process one map task's table serves the next task and then the reduce
 * side's merge, its slots already faulted in at the size the first one grew to,
 * instead of each growing a new array from 1024 slots (every growth rehashes, and
 * every new page is zeroed by the kernel).
 */
#include "internal.h"

#include <pthread.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20)
#define FIRST_CAP 1024
#define FAR EMBER_COMBINE_FAR
#define SPARSE(t) ((t)->used * 8 < (t)->cap) /* under an eighth full: walk the used slots */

uint64_t emberU_hash(const uint8_t *p, size_t n) {
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    uint64_t t = 0;
    if (n >= 4) { /* the last 1-7 bytes as two overlapping 4-byte loads */
        uint32_t a, b;
        memcpy(&a, p, 4);
        memcpy(&b, p + n - 4, 4);
        t = (uint64_t)a | (uint64_t)b << 32;
    } else if (n) {
        t = (uint64_t)p[0] | (uint64_t)p[n / 2] << 8 | (uint64_t)p[n - 1] << 16;
    }
    h ^= t; /* then murmur3's finalizer: every input bit reaches the low bits */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static int is_empty(const emberU_entry *e) { return e->klen == 0; }

/* A zeroed slot array of cap slots; *mem is what to free. */
static emberU_entry *slots_alloc(size_t cap, void **mem) {
    size_t bytes = cap * sizeof(emberU_entry);
    if (bytes < HUGE_PAGE) return *mem = ember_calloc(cap, sizeof(emberU_entry));
    uint8_t *p = ember_calloc(1, bytes + HUGE_PAGE);
    if (!(*mem = p)) return NULL;
    uint8_t *aligned = (uint8_t *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
#ifdef MADV_HUGEPAGE
    madvise(aligned, bytes, MADV_HUGEPAGE); /* advice only: without it, 4 KiB pages */
#endif
    return (emberU_entry *)aligned;
}

static int grow(emberU_table *t, size_t cap) {
    void *mem;
    emberU_entry *s = slots_alloc(cap, &mem);
    if (!s) return emberE_set(EMBER_ENOMEM, "out of memory growing a combining table to %zu keys", cap / 2);
    if (emberB_grow(&t->order, &t->order_cap, cap / 2, sizeof *t->order, FIRST_CAP / 2)) {
        ember_free(mem);
        return EMBER_ENOMEM;
    }
    for (size_t k = 0; k < t->used; k++) {
        emberU_entry *e = &t->slots[t->order[k]];
        size_t i = e->h & (cap - 1);
        while (!is_empty(&s[i]))
            i = (i + 1) & (cap - 1);
        s[i] = *e;
        t->order[k] = (uint32_t)i;
    }
    ember_free(t->slots_mem);
    t->slots = s;
    t->slots_mem = mem;
    t->cap = cap;
    return 0;
}

int emberU_reserve(emberU_table *t, size_t keys) {
    size_t cap = t->cap ? t->cap : FIRST_CAP;
    while (cap / 2 < keys && cap < ((size_t)1 << 31))
        cap *= 2;
    return cap == t->cap ? 0 : grow(t, cap);
}

int emberU_find(emberU_table *t, const uint8_t *key, size_t klen, emberU_entry **out, int *found) {
    return emberU_find_hashed(t, key, klen, emberU_hash(key, klen), out, found);
}

int emberU_find_hashed(emberU_table *t, const uint8_t *key, size_t klen, uint64_t hash, emberU_entry **out,
                       int *found) {
    if (klen < 1 || klen > UINT32_MAX / 2) return emberE_set(EMBER_EINVAL, "a combining key of %zu bytes", klen);
    if (!t->cap) {
        int rc = grow(t, FIRST_CAP);
        if (rc) return rc;
    }
    uint32_t h = (uint32_t)hash;
    emberU_entry *e = emberU_probe(t, h, key, klen);
    if (!is_empty(e)) {
        *out = e;
        *found = 1;
        return 0;
    }
    if ((t->used + 1) * 2 > t->cap) {
        if (t->cap >= ((size_t)1 << 31))
            return emberE_set(EMBER_ENOMEM, "a combining table cannot hold more than %zu keys", t->used);
        int rc = grow(t, t->cap * 2);
        if (rc) return rc;
        e = emberU_probe(t, h, key, klen);
    }
    e->h = h;
    e->vlen = 0;
    if (klen <= EMBER_COMBINE_INLINE) {
        e->klen = (uint8_t)klen;
        emberB_copy(e->u.bytes, key, klen);
    } else {
        size_t off = t->arena.len;
        if (off + klen > UINT32_MAX || emberB_append(&t->arena, key, klen))
            return emberE_set(EMBER_ENOMEM, "out of memory in a combining table (%zu bytes of keys)", off);
        e->klen = FAR;
        e->u.far = (struct emberU_far){(uint32_t)off, (uint32_t)klen, 0, 0, 0};
    }
    t->order[t->used++] = (uint32_t)(e - t->slots);
    *out = e;
    *found = 0;
    return 0;
}

int emberU_set_value_far(emberU_table *t, emberU_entry *e, const uint8_t *v, size_t n) {
    if (e->klen != FAR) {
        if (e->klen + n <= EMBER_COMBINE_INLINE) {
            memmove(e->u.bytes + e->klen, v, n);
            e->vlen = (uint8_t)n;
            return 0;
        }
        /* the key and the value move to the arena */
        size_t klen = e->klen, off = t->arena.len;
        if (off + klen > UINT32_MAX || emberB_append(&t->arena, e->u.bytes, klen))
            return emberE_set(EMBER_ENOMEM, "out of memory in a combining table (%zu bytes of keys)", off);
        e->klen = FAR;
        e->u.far = (struct emberU_far){(uint32_t)off, (uint32_t)klen, 0, 0, 0};
    }
    struct emberU_far *f = &e->u.far;
    if (n <= f->vcap) {
        memmove(t->arena.data + f->voff, v, n);
        f->vlen = (uint32_t)n;
        return 0;
    }
    size_t cap = n < 16 ? 16 : n + n / 2, off = t->arena.len;
    if (off + cap > UINT32_MAX || emberB_reserve(&t->arena, cap))
        return emberE_set(EMBER_ENOMEM, "out of memory in a combining table (%zu bytes of values)", off);
    memcpy(t->arena.data + off, v, n);
    t->arena.len += cap;
    *f = (struct emberU_far){f->koff, f->klen, (uint32_t)off, (uint32_t)n, (uint32_t)cap};
    return 0;
}

emberU_entry *emberU_next(const emberU_table *t, size_t *pos) {
    if (SPARSE(t)) return *pos < t->used ? &t->slots[t->order[(*pos)++]] : NULL;
    for (size_t i = *pos; i < t->cap; i++)
        if (!is_empty(&t->slots[i])) {
            *pos = i + 1;
            return &t->slots[i];
        }
    *pos = t->cap;
    return NULL;
}

void emberU_clear(emberU_table *t) {
    if (SPARSE(t))
        for (size_t k = 0; k < t->used; k++)
            memset(&t->slots[t->order[k]], 0, sizeof *t->slots);
    else if (t->slots)
        memset(t->slots, 0, t->cap * sizeof *t->slots);
    t->used = 0;
    t->arena.len = 0;
}

/* The last table kept (emberU_keep), its entries not yet cleared; cap 0 when there is none. */
static emberU_table spare;
static pthread_mutex_t spare_lock = PTHREAD_MUTEX_INITIALIZER;

void emberU_take(emberU_table *t) {
    pthread_mutex_lock(&spare_lock);
    *t = spare;
    memset(&spare, 0, sizeof spare);
    pthread_mutex_unlock(&spare_lock);
    emberU_clear(t); /* here, not in emberU_keep: a spare nobody takes is never cleared */
}

void emberU_keep(emberU_table *t) {
    if (t->cap * sizeof *t->slots <= EMBER_COMBINE_SPARE) {
        pthread_mutex_lock(&spare_lock);
        if (t->cap > spare.cap) { /* the bigger of the two stays */
            emberU_table old = spare;
            spare = *t;
            *t = old;
        }
        pthread_mutex_unlock(&spare_lock);
    }
    emberU_free(t);
}

void emberU_free_spare(void) {
    emberU_table t;
    emberU_take(&t);
    emberU_free(&t);
}

void emberU_free(emberU_table *t) {
    ember_free(t->slots_mem);
    ember_free(t->order);
    emberB_free(&t->arena);
    memset(t, 0, sizeof *t);
}
