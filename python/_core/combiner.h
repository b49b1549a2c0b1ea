/* combiner.h — the map-side combiner table (combiner.c). */
#ifndef EMBER_COMBINER_H
#define EMBER_COMBINER_H

#include "core.h"

typedef struct {
    PyObject *key;   /* NULL: empty slot */
    PyObject *value; /* NULL: the value is the int ival (see combiner.c) */
    int64_t ival;
    Py_hash_t hash;
    uint64_t inl[2]; /* a short ASCII str key's bytes and length, else 0 */
} comb_entry;

typedef struct {
    comb_entry *v;
    size_t mask; /* capacity - 1, a power of two minus one */
    size_t used;
    size_t bytes;       /* estimated bytes held (keys, values, the slots) */
    size_t max_bytes;   /* past it the table is drained, or capped (see combiner.c) */
    size_t records;     /* records added since the table was last empty ... */
    size_t hits;        /* ... and how many of them met their key there */
    size_t window_hits; /* hits when the current window of CAP_CHECK records began */
    int capped;         /* new keys pass the table by */
    uint64_t *seen;     /* the admission filter: a bit per hash slot, keys met once (see combiner.c) */
    size_t seen_set;    /* bits set in it since it was last cleared */
} combiner;

/* An empty table holding about max_bytes at most. Returns 0, or -1 (MemoryError). */
int combiner_init(combiner *c, size_t max_bytes);
/* Merges (k, v) into the table: merge(old, v) for a known key, else create(v)
 * (v itself when create is None). Returns 0 when the record went in; 1 when k is
 * not in the table and does not go in (the table is capped, or k is met for the
 * first time by a table past ADMIT_AFTER keys): the caller writes the record out itself;
 * 2 when it went in and the table should be drained now (combiner_drain); -1 with
 * an exception set. */
int combiner_add(core_state *st, combiner *c, PyObject *k, PyObject *v, PyObject *create, PyObject *merge);
/* combiner_add for a key whose hash h (PyObject_Hash) the caller has. */
int combiner_add_hashed(core_state *st, combiner *c, PyObject *k, Py_hash_t h, PyObject *v, PyObject *create,
                        PyObject *merge);
/* Asks the CPU to fetch the slot where a key of hash h is looked for first, so that
 * a combiner_add of it some records later does not wait for memory. */
static inline void combiner_prefetch(const combiner *c, Py_hash_t h) { __builtin_prefetch(&c->v[(size_t)h & c->mask]); }
/* Calls fn(arg, key, value) for each entry (borrowed references), then empties the
 * table. Returns the first non-zero result of fn (the rest are dropped). */
int combiner_drain(combiner *c, int (*fn)(void *, PyObject *, PyObject *), void *arg);
void combiner_free(combiner *c);

#endif
