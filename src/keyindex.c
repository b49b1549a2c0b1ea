/* keyindex.c — an insertion-ordered hash index: the lookup structure of the workers'
 * grouping tables (python/_core/cogroup.c: joins, cogroup, groupByKey, distinct).
 *
 * Design
 *  - The caller keeps its entries in an array of its own, in insertion order; the
 *    index maps a key's hash to the entry's number. Keys are the caller's: equality is
 *    a callback, asked only about entries whose full 64-bit hash matches, so the index
 *    knows nothing of Python objects and is tested alone (tests/c/test_keyindex.c).
 *  - Open addressing with linear probing over a power-of-two slot array, at most
 *    two thirds full; a slot holds the hash and the entry number + 1 (0: empty).
 *    Entries are never removed one by one (callers mark them), only all at once.
 *  - A hash's first slot is the top bits of hash * 2^64/phi (Fibonacci hashing), not
 *    its low bits: Python hashes small ints to themselves, and all keys of one reduce
 *    partition share hash % numPartitions, so low bits alone would crowd the keys into
 *    a fraction of the slots and make long probe runs.
 *  - A key may be marked exact: its hash alone tells it apart from every other exact
 *    key (small ints, whose hash is their value). Two exact keys with equal hashes are
 *    equal without asking the callback, so a lookup of one touches only the slots.
 *  - Memory comes from the counting allocator (alloc.c); emberH_bytes says how much.
 */
#include "internal.h"

#define FIRST_SLOTS 64u
#define FIRST_SHIFT 58u /* 64 - log2(FIRST_SLOTS) */

static int alloc_slots(emberH_index *x, size_t n, unsigned shift) {
    emberH_slot *s = ember_calloc(n, sizeof *s);
    if (!s) return emberE_set(EMBER_ENOMEM, "out of memory for a hash index of %zu slots", n);
    x->slots = s;
    x->mask = n - 1;
    x->shift = shift;
    return 0;
}

/* The first slot to look at for hash. */
static size_t home(const emberH_index *x, uint64_t hash) { return (size_t)((hash * 0x9E3779B97F4A7C15u) >> x->shift); }

int emberH_init(emberH_index *x) {
    x->used = 0;
    return alloc_slots(x, FIRST_SLOTS, FIRST_SHIFT);
}

int64_t emberH_find(const emberH_index *x, uint64_t hash, int exact, emberH_eq eq, void *ctx, size_t *slot) {
    size_t i = home(x, hash);
    for (;;) {
        const emberH_slot *s = &x->slots[i];
        if (!s->entry) {
            *slot = i;
            return -1;
        }
        if (s->hash == hash) {
            if (exact && s->exact) {
                *slot = i;
                return (int64_t)(s->entry - 1);
            }
            int r = eq(ctx, s->entry - 1);
            if (r < 0) return -2;
            if (r) {
                *slot = i;
                return (int64_t)(s->entry - 1);
            }
        }
        i = (i + 1) & x->mask;
    }
}

static int grow(emberH_index *x) {
    emberH_slot *old = x->slots;
    size_t n = x->mask + 1;
    if (n > SIZE_MAX / 2 / sizeof *old) return emberE_set(EMBER_ENOMEM, "a hash index past %zu slots", n);
    unsigned shift = x->shift;
    if (alloc_slots(x, n * 2, shift - 1) < 0) {
        x->slots = old;
        x->mask = n - 1;
        x->shift = shift;
        return EMBER_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (!old[i].entry) continue;
        size_t j = home(x, old[i].hash);
        while (x->slots[j].entry)
            j = (j + 1) & x->mask;
        x->slots[j] = old[i];
    }
    ember_free(old);
    return 0;
}

int emberH_insert(emberH_index *x, size_t slot, uint64_t hash, int exact, uint32_t entry) {
    if (entry == UINT32_MAX) return emberE_set(EMBER_ENOMEM, "a hash index holds at most %u entries", UINT32_MAX - 1);
    x->slots[slot] = (emberH_slot){hash, entry + 1, exact != 0};
    x->used++;
    return x->used * 3 > (x->mask + 1) * 2 ? grow(x) : 0;
}

void emberH_clear(emberH_index *x) {
    memset(x->slots, 0, (x->mask + 1) * sizeof *x->slots);
    x->used = 0;
}

size_t emberH_bytes(const emberH_index *x) { return x->slots ? (x->mask + 1) * sizeof *x->slots : 0; }

void emberH_free(emberH_index *x) {
    ember_free(x->slots);
    x->slots = NULL;
    x->mask = 0;
    x->shift = 0;
    x->used = 0;
}
