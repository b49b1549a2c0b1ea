/* sort.c — the order of sort keys, and the C loops of sorting: a stable sort of keyed
 * items, the range lookup of a range partitioner, and the k-way merge of sorted runs.
 *
 * Design
 *  - A key (emberO_key) is a decoded copy of a value that orders fast: an int that fits
 *    in 64 bits, a float that is not NaN, a str (its code units, 1, 2 or 4 bytes
 *    wide), bytes, or a tuple of such keys. Anything else is an OBJ key, and so is a
 *    tuple holding one: its order is the caller's fallback (Python's own comparison in
 *    the extension). The fallback gets the keys, each keeping the object it was made
 *    from (or NULL when its maker can make that again), so two keys whose kinds have
 *    no order of their own (a str and an int, an OBJ and anything) are compared by
 *    the fallback too, which raises what Python raises.
 *  - The order is Python's: ints and floats compare exactly (no rounding of a large
 *    int to a double), str by code point then length, bytes by byte then length, tuples
 *    as Python compares them (the first pair of items that differ decides; then the
 *    length). -0.0 equals 0.0.
 *  - emberO_sort is stable, also when descending (equal keys keep their input order,
 *    as Python's sorted(reverse=True) keeps them). When every key is an int, or every
 *    key a float, it is an LSD radix sort over the key's bits (the passes whose byte is
 *    the same in every key skipped); otherwise a merge sort (binary insertion below 24
 *    items) that only asks "is b before a", as Python's sort only asks "<".
 *  - A fallback failure stops the sort: the items are then a permutation of the input
 *    (nothing lost, nothing twice), so the caller can release them.
 *  - emberO_merge keeps one current key per source in a binary heap: the next item is
 *    the top source's; equal keys come from the lower-numbered source first, so merging
 *    runs cut from one input in order is stable.
 */
#include "internal.h"

#include <math.h>

/* ---- order of two keys ----------------------------------------------------------- */

static int fallback(const emberO_order *o, const emberO_key *a, const emberO_key *b, int op) {
    if (!o->fallback) return emberE_set(EMBER_EINVAL, "keys of kinds %d and %d have no order", a->kind, b->kind);
    return o->fallback(o->arg, a, b, op);
}

/* An int and a float, exactly: -1, 0 or 1. */
static int cmp_int_float(int64_t i, double d) {
    if (d >= 9223372036854775808.0) return -1;
    if (d < -9223372036854775808.0) return 1;
    double t = trunc(d);
    int64_t di = (int64_t)t;
    if (i != di) return i < di ? -1 : 1;
    double frac = d - t;
    return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

static uint32_t code_unit(const emberO_key *k, size_t i) {
    switch (k->width) {
    case 1:
        return ((const uint8_t *)k->v.p)[i];
    case 2:
        return ((const uint16_t *)k->v.p)[i];
    default:
        return ((const uint32_t *)k->v.p)[i];
    }
}

static int cmp_str(const emberO_key *a, const emberO_key *b) {
    size_t n = a->len < b->len ? a->len : b->len;
    if (a->width == 1 && b->width == 1) {
        int c = n ? memcmp(a->v.p, b->v.p, n) : 0;
        if (c) return c < 0 ? -1 : 1;
    } else {
        for (size_t i = 0; i < n; i++) {
            uint32_t x = code_unit(a, i), y = code_unit(b, i);
            if (x != y) return x < y ? -1 : 1;
        }
    }
    return a->len < b->len ? -1 : a->len > b->len;
}

static int cmp_bytes(const emberO_key *a, const emberO_key *b) {
    size_t n = a->len < b->len ? a->len : b->len;
    int c = n ? memcmp(a->v.p, b->v.p, n) : 0;
    if (c) return c < 0 ? -1 : 1;
    return a->len < b->len ? -1 : a->len > b->len;
}

static int numeric(const emberO_key *k) { return k->kind == EMBER_KEY_INT || k->kind == EMBER_KEY_FLOAT; }

/* 1 when the kinds of a and b order them without the fallback. */
static int comparable(const emberO_key *a, const emberO_key *b) {
    if (a->kind == EMBER_KEY_OBJ || b->kind == EMBER_KEY_OBJ) return 0;
    return a->kind == b->kind || (numeric(a) && numeric(b));
}

static int cmp3(const emberO_order *o, const emberO_key *a, const emberO_key *b, int *out);

/* Python's tuple order: the first items that are not equal decide, else the length. */
static int cmp_tuple(const emberO_order *o, const emberO_key *a, const emberO_key *b, int *out) {
    size_t n = a->len < b->len ? a->len : b->len;
    for (size_t i = 0; i < n; i++) {
        int rc = cmp3(o, &a->v.items[i], &b->v.items[i], out);
        if (rc || *out) return rc;
    }
    *out = a->len < b->len ? -1 : a->len > b->len;
    return 0;
}

/* Sets *out to -1, 0 or 1 and returns 0; or returns the fallback's error. Keys whose
 * kinds do not order them ask the fallback: equal? then less? */
static int cmp3(const emberO_order *o, const emberO_key *a, const emberO_key *b, int *out) {
    if (!comparable(a, b)) {
        int eq = fallback(o, a, b, EMBER_KEY_EQ);
        if (eq < 0) return eq;
        if (eq) {
            *out = 0;
            return 0;
        }
        int lt = fallback(o, a, b, EMBER_KEY_LT);
        if (lt < 0) return lt;
        *out = lt ? -1 : 1;
        return 0;
    }
    switch (a->kind) {
    case EMBER_KEY_INT:
        *out = b->kind == EMBER_KEY_FLOAT ? cmp_int_float(a->v.i, b->v.f) : (a->v.i > b->v.i) - (a->v.i < b->v.i);
        return 0;
    case EMBER_KEY_FLOAT:
        *out = b->kind == EMBER_KEY_INT ? -cmp_int_float(b->v.i, a->v.f) : (a->v.f > b->v.f) - (a->v.f < b->v.f);
        return 0;
    case EMBER_KEY_STR:
        *out = cmp_str(a, b);
        return 0;
    case EMBER_KEY_BYTES:
        *out = cmp_bytes(a, b);
        return 0;
    default:
        return cmp_tuple(o, a, b, out);
    }
}

int emberO_less(const emberO_order *o, const emberO_key *a, const emberO_key *b) {
    if (a->kind == EMBER_KEY_INT && b->kind == EMBER_KEY_INT) return a->v.i < b->v.i;
    if (!comparable(a, b)) return fallback(o, a, b, EMBER_KEY_LT);
    int c, rc = cmp3(o, a, b, &c);
    return rc ? rc : c < 0;
}

/* 1 when b goes before a: b < a ascending, a < b descending. */
static inline int before(const emberO_order *o, const emberO_key *a, const emberO_key *b, int descending) {
    return descending ? emberO_less(o, a, b) : emberO_less(o, b, a);
}

/* ---- sorting ------------------------------------------------------------------- */

#define INSERTION_MAX 24

/* Binary insertion sort of items[0, n): stable (an item goes after those it is not
 * before). */
static int insertion_sort(const emberO_order *o, emberO_item *items, size_t n, int descending) {
    for (size_t i = 1; i < n; i++) {
        emberO_item x = items[i];
        size_t lo = 0, hi = i;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            int c = before(o, &items[mid].key, &x.key, descending);
            if (c < 0) return c;
            if (c)
                hi = mid;
            else
                lo = mid + 1;
        }
        memmove(&items[lo + 1], &items[lo], (i - lo) * sizeof *items);
        items[lo] = x;
    }
    return 0;
}

/* Merges the sorted items[0, mid) and items[mid, n), the first half copied to tmp.
 * On a failure the rest of tmp goes back into the gap, which it exactly fills. */
static int merge_halves(const emberO_order *o, emberO_item *items, size_t mid, size_t n, emberO_item *tmp,
                        int descending) {
    memcpy(tmp, items, mid * sizeof *items);
    size_t i = 0, j = mid, k = 0;
    int rc = 0;
    while (i < mid && j < n) {
        int c = before(o, &tmp[i].key, &items[j].key, descending);
        if (c < 0) {
            rc = c;
            break;
        }
        items[k++] = c ? items[j++] : tmp[i++];
    }
    memcpy(&items[k], &tmp[i], (mid - i) * sizeof *items);
    return rc;
}

static int merge_sort(const emberO_order *o, emberO_item *items, size_t n, emberO_item *tmp, int descending) {
    if (n <= INSERTION_MAX) return insertion_sort(o, items, n, descending);
    size_t mid = n / 2;
    int rc = merge_sort(o, items, mid, tmp, descending);
    if (!rc) rc = merge_sort(o, items + mid, n - mid, tmp, descending);
    if (rc) return rc;
    /* Already in order (common for presorted input): nothing to merge. */
    int c = before(o, &items[mid - 1].key, &items[mid].key, descending);
    if (c <= 0) return c;
    return merge_halves(o, items, mid, n, tmp, descending);
}

/* The radix image of an int or float key: unsigned order equals the key's order. */
static inline uint64_t radix_bits(const emberO_key *k) {
    if (k->kind == EMBER_KEY_INT) return (uint64_t)k->v.i ^ ((uint64_t)1 << 63);
    double d = k->v.f == 0 ? 0.0 : k->v.f; /* -0.0 equals 0.0 */
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return (b >> 63) ? ~b : b | ((uint64_t)1 << 63);
}

/* LSD radix sort by radix_bits, stable; descending deals each pass's buckets from the
 * highest down, which keeps equal keys in input order. */
static int radix_sort(emberO_item *items, size_t n, int descending) {
    emberO_item *tmp = ember_malloc(n * sizeof *items);
    uint64_t *bits = ember_malloc(n * sizeof *bits), *bits_tmp = ember_malloc(n * sizeof *bits);
    size_t(*count)[256] = ember_calloc(8, sizeof *count);
    int rc = 0;
    if (!tmp || !bits || !bits_tmp || !count) {
        rc = emberE_set(EMBER_ENOMEM, "out of memory sorting %zu items", n);
        goto free_all;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t b = bits[i] = radix_bits(&items[i].key);
        for (int d = 0; d < 8; d++)
            count[d][(b >> (8 * d)) & 0xff]++;
    }
    emberO_item *src = items, *dst = tmp;
    uint64_t *bsrc = bits, *bdst = bits_tmp;
    for (int d = 0; d < 8; d++) {
        size_t *c = count[d];
        if (c[(bsrc[0] >> (8 * d)) & 0xff] == n) continue; /* one byte value: nothing moves */
        size_t pos[256], at = 0;
        for (int v = 0; v < 256; v++) {
            int bucket = descending ? 255 - v : v;
            pos[bucket] = at;
            at += c[bucket];
        }
        for (size_t i = 0; i < n; i++) {
            size_t p = pos[(bsrc[i] >> (8 * d)) & 0xff]++;
            dst[p] = src[i];
            bdst[p] = bsrc[i];
        }
        emberO_item *t = src;
        src = dst;
        dst = t;
        uint64_t *bt = bsrc;
        bsrc = bdst;
        bdst = bt;
    }
    if (src != items) memcpy(items, src, n * sizeof *items);
free_all:
    ember_free(tmp);
    ember_free(bits);
    ember_free(bits_tmp);
    ember_free(count);
    return rc;
}

int emberO_sort(const emberO_order *o, emberO_item *items, size_t n, int descending) {
    if (n < 2) return 0;
    int kind = items[0].key.kind;
    int radix = n > INSERTION_MAX && (kind == EMBER_KEY_INT || kind == EMBER_KEY_FLOAT);
    for (size_t i = 1; radix && i < n; i++)
        radix = items[i].key.kind == kind;
    if (radix) return radix_sort(items, n, descending);
    emberO_item *tmp = NULL;
    if (n > INSERTION_MAX && !(tmp = ember_malloc((n / 2) * sizeof *tmp)))
        return emberE_set(EMBER_ENOMEM, "out of memory sorting %zu items", n);
    int rc = merge_sort(o, items, n, tmp, descending);
    ember_free(tmp);
    return rc;
}

int emberO_bisect_left(const emberO_order *o, const emberO_key *bounds, size_t n, const emberO_key *x, size_t *out) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = emberO_less(o, &bounds[mid], x);
        if (c < 0) return c;
        if (c)
            lo = mid + 1;
        else
            hi = mid;
    }
    *out = lo;
    return 0;
}

/* ---- k-way merge ------------------------------------------------------------------- */

int emberO_merge_init(emberO_merge *m, const emberO_order *o, int descending, size_t nsources) {
    memset(m, 0, sizeof *m);
    m->order = o;
    m->descending = descending;
    m->heap = ember_calloc(nsources ? nsources : 1, sizeof *m->heap);
    m->cur = ember_calloc(nsources ? nsources : 1, sizeof *m->cur);
    if (!m->heap || !m->cur) {
        emberO_merge_free(m);
        return emberE_set(EMBER_ENOMEM, "out of memory merging %zu sorted runs", nsources);
    }
    m->nsources = nsources;
    return 0;
}

/* 1 when source a's key goes before source b's (ties: the lower source first). */
static int src_before(emberO_merge *m, size_t a, size_t b) {
    int c = before(m->order, m->cur[b], m->cur[a], m->descending);
    if (c) return c;
    c = before(m->order, m->cur[a], m->cur[b], m->descending);
    if (c) return c < 0 ? c : 0;
    return a < b;
}

static int sift_down(emberO_merge *m, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, best = i;
        if (l >= m->n) return 0;
        int c = src_before(m, m->heap[l], m->heap[best]);
        if (c < 0) return c;
        if (c) best = l;
        if (l + 1 < m->n) {
            c = src_before(m, m->heap[l + 1], m->heap[best]);
            if (c < 0) return c;
            if (c) best = l + 1;
        }
        if (best == i) return 0;
        uint32_t t = m->heap[i];
        m->heap[i] = m->heap[best];
        m->heap[best] = t;
        i = best;
    }
}

int emberO_merge_start(emberO_merge *m, const emberO_key *const *keys) {
    m->n = 0;
    for (size_t s = 0; s < m->nsources; s++) {
        m->cur[s] = keys[s];
        if (keys[s]) m->heap[m->n++] = (uint32_t)s;
    }
    for (size_t i = m->n / 2; i-- > 0;) {
        int rc = sift_down(m, i);
        if (rc) return rc;
    }
    return 0;
}

int emberO_merge_top(const emberO_merge *m) { return m->n ? (int)m->heap[0] : -1; }

int emberO_merge_advance(emberO_merge *m, const emberO_key *next) {
    if (!m->n) return 0;
    if (next) {
        m->cur[m->heap[0]] = next;
    } else {
        m->cur[m->heap[0]] = NULL;
        m->heap[0] = m->heap[--m->n];
    }
    return sift_down(m, 0);
}

void emberO_merge_free(emberO_merge *m) {
    ember_free(m->heap);
    ember_free(m->cur);
    m->heap = NULL;
    m->cur = NULL;
    m->n = m->nsources = 0;
}
