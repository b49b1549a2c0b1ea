/* combiner.h — the map-side combiner table (combiner.c). */
#ifndef EMBER_COMBINER_H
#define EMBER_COMBINER_H

#include "core.h"

typedef struct {
    PyObject *key; /* NULL: empty slot */
    PyObject *value;
    Py_hash_t hash;
} comb_entry;

typedef struct {
    comb_entry *v;
    size_t mask; /* capacity - 1, a power of two minus one */
    size_t used;
} combiner;

int combiner_init(combiner *c);
/* Merges (k, v) into the table: merge(old, v) for a known key, else create(v)
 * (v itself when create is None). Returns 0, or -1 with an exception set. */
int combiner_add(core_state *st, combiner *c, PyObject *k, PyObject *v, PyObject *create, PyObject *merge);
/* Calls fn(arg, key, value) for each entry (borrowed references), then empties the
 * table. Returns the first non-zero result of fn (the rest are dropped). */
int combiner_drain(combiner *c, int (*fn)(void *, PyObject *, PyObject *), void *arg);
void combiner_free(combiner *c);

#endif
