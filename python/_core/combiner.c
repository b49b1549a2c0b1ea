/* combiner.c — the map-side combiner: an open-addressing table from key to combined
 * value, one probe per record (a dict would take two: get, then set), values
 * replaced in place. Keys compare as in a dict: identity, then equality (str by
 * bytes, others with ==). Only the worker's record loop uses it; it is never visible
 * to Python code.
 *
 * Bounded in bytes, and cheap when combining does not pay. The table estimates the
 * bytes it holds (core_obj_size). Past max_bytes it looks at its hit rate since it
 * was last empty: when at least half the records met their key, combining pays and
 * the caller drains the table (writes it out) and starts again; when fewer did, the
 * table is capped instead: it keeps the keys it has (the frequent ones are among
 * them) and merges into those, while records of other keys pass it by, written out
 * as they come. A table that sees fewer than one hit in eight over its first
 * CAP_CHECK records is capped at once, before it grows big for nothing (most keys
 * of a high-cardinality aggregation occur once per map task). Past a sixteenth of
 * max_bytes the table also looks at each window of CAP_CHECK records and is capped
 * when fewer than half of them met their key: a table where most keys are new (say
 * two words in three are seen once, the rest frequent) stops growing while it is
 * small enough to stay in the caches, holding the frequent keys it has met; left to
 * grow to max_bytes it would cost a slow probe per record and its memory, for
 * merges that the few frequent keys already get.
 *
 * Keys met once stay out. Past ADMIT_AFTER keys a new key goes in only when it is
 * met a second time: the first time, its hash sets a bit of an admission filter
 * (SEEN_BITS bits, cleared whenever a sixth of them are set) and the record passes
 * by. Text where most words are frequent but a few percent are tokens seen once
 * keeps a hit rate well above a half, so neither cap above holds it; without the
 * filter its table filled to max_bytes with those tokens (a cache miss per probe,
 * for every record) and was drained and filled again. A frequent key costs one
 * record passed by before it goes in.
 *
 * A hit touches the slot alone when it can. A str key of at most 15 ASCII characters
 * keeps its bytes and length in the slot (inl), so equality is decided there without
 * reading the key object; and when the merge is operator.add, create is None and the
 * values are ints of at most 62 bits, the sum is a C int in the slot (value NULL),
 * made an int object only when the table is drained (word counts: one slot read per
 * record, no int object made or freed). A value of another kind, or a sum past 62
 * bits, turns the slot's int into an object and merges as Python does. */
#include "combiner.h"

int core_keys_equal(PyObject *a, PyObject *b) {
    if (a == b) return 1;
    if (PyUnicode_CheckExact(a) && PyUnicode_CheckExact(b)) {
        Py_ssize_t n = PyUnicode_GET_LENGTH(a);
        int kind = PyUnicode_KIND(a);
        return n == PyUnicode_GET_LENGTH(b) && kind == PyUnicode_KIND(b) &&
               memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), (size_t)n * (size_t)kind) == 0;
    }
    return PyObject_RichCompareBool(a, b, Py_EQ);
}

#define CAP_CHECK 65536
#define ADMIT_AFTER 4096                              /* keys the table takes without the filter */
#define SEEN_BITS (1u << 20)                          /* the admission filter's bits (128 KiB) */
#define ENTRY_BYTES (sizeof(comb_entry) * 3 / 2 + 16) /* a slot at two thirds full, and slack */

int combiner_init(combiner *c, size_t max_bytes) {
    c->mask = 1023;
    c->used = 0;
    c->records = c->hits = c->window_hits = 0;
    c->capped = 0;
    c->max_bytes = max_bytes;
    c->bytes = 0;
    c->seen_set = 0;
    c->seen = PyMem_Calloc(SEEN_BITS / 64, sizeof *c->seen);
    c->v = PyMem_Calloc(c->mask + 1, sizeof *c->v);
    if (!c->v || !c->seen) {
        PyMem_Free(c->seen);
        PyMem_Free(c->v);
        c->seen = NULL;
        c->v = NULL;
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static int grow(combiner *c) {
    size_t cap = (c->mask + 1) * 2;
    comb_entry *v = PyMem_Calloc(cap, sizeof *v);
    if (!v) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i <= c->mask; i++) {
        comb_entry *e = &c->v[i];
        if (!e->key) continue;
        size_t j = (size_t)e->hash & (cap - 1);
        while (v[j].key)
            j = (j + 1) & (cap - 1);
        v[j] = *e;
    }
    PyMem_Free(c->v);
    c->v = v;
    c->mask = cap - 1;
    return 0;
}

/* Counts a record that met the table (hit or not) and, at the end of a window of
 * CAP_CHECK records, looks at its hit rate: the table may be capped now. */
static void count_record(combiner *c) {
    if (++c->records % CAP_CHECK || c->capped) return;
    size_t win_hits = c->hits - c->window_hits;
    c->window_hits = c->hits;
    if (c->records == CAP_CHECK && c->hits < c->records / 8) c->capped = 1;
    if (c->bytes > c->max_bytes / 16 && win_hits * 2 < CAP_CHECK) c->capped = 1;
}

/* 1 when a key of hash h should pass the table by this time: the table holds
 * ADMIT_AFTER keys or more and the filter has not met h since it was cleared (its
 * bit is set now). The bit is taken from the hash's top bits times 2^64/phi, so
 * that keys whose hashes differ in a few bits only (ints) spread too. */
static int first_sight(combiner *c, Py_hash_t h) {
    if (c->used < ADMIT_AFTER) return 0;
    uint64_t bit = ((uint64_t)h * 0x9E3779B97F4A7C15u) >> 44; /* 20 bits: SEEN_BITS */
    uint64_t *w = &c->seen[bit >> 6], m = (uint64_t)1 << (bit & 63);
    if (*w & m) return 0;
    *w |= m;
    if (++c->seen_set > SEEN_BITS / 6) {
        memset(c->seen, 0, SEEN_BITS / 8);
        c->seen_set = 0;
    }
    return 1;
}

/* After a record went in: 2 when the table should be drained, else 0 (it may be
 * capped now). */
static int after_add(combiner *c) {
    count_record(c);
    if (c->bytes <= c->max_bytes) return 0;
    if (c->capped && c->bytes <= c->max_bytes / 2 * 3) return 0; /* merged values grew: some slack */
    if (!c->capped && c->hits * 2 < c->records) {
        c->capped = 1;
        return 0;
    }
    return 2;
}

/* A key's inl: a str of 1 to 15 ASCII characters as its bytes, its length in the
 * last byte; zeros (and 0 returned) for any other key. Equal keys whose inl are both
 * set have equal inl. */
static int inline_key(PyObject *k, uint64_t inl[2]) {
    inl[0] = inl[1] = 0;
    if (!PyUnicode_CheckExact(k) || !PyUnicode_IS_COMPACT_ASCII(k)) return 0;
    Py_ssize_t n = PyUnicode_GET_LENGTH(k);
    if (n < 1 || n > 15) return 0;
    unsigned char b[16] = {0};
    memcpy(b, PyUnicode_DATA(k), (size_t)n);
    b[15] = (unsigned char)n;
    memcpy(inl, b, 16);
    return 1;
}

#define SMALL_INT ((int64_t)1 << 62) /* ints held in a slot are in (-SMALL_INT, SMALL_INT) */

/* 1 with *out = v when v is an int held in a slot as a C int, else 0. */
static int small_int(PyObject *v, int64_t *out) {
    if (!PyLong_CheckExact(v)) return 0;
    int overflow;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow || x <= -SMALL_INT || x >= SMALL_INT) {
        PyErr_Clear(); /* none is set for an int, but be sure */
        return 0;
    }
    *out = (int64_t)x;
    return 1;
}

/* Makes the slot's C int an int object (0, or -1 with an exception). */
static int box(comb_entry *e) {
    if (e->value) return 0;
    e->value = PyLong_FromLongLong(e->ival);
    return e->value ? 0 : -1;
}

static int merge_into(core_state *st, combiner *c, comb_entry *e, PyObject *v, PyObject *merge) {
    int64_t x;
    if (!e->value && merge == st->op_add && small_int(v, &x) && e->ival + x > -SMALL_INT && e->ival + x < SMALL_INT) {
        e->ival += x; /* both below 2^62 in size: no overflow */
        return 0;
    }
    if (box(e) < 0) return -1;
    PyObject *nv = core_merge(st, merge, e->value, v);
    if (!nv) return -1;
    c->bytes += core_grown_by(e->value, nv, v);
    Py_SETREF(e->value, nv);
    return 0;
}

int combiner_add(core_state *st, combiner *c, PyObject *k, PyObject *v, PyObject *create, PyObject *merge) {
    Py_hash_t h = PyObject_Hash(k);
    if (h == -1 && PyErr_Occurred()) return -1;
    return combiner_add_hashed(st, c, k, h, v, create, merge);
}

int combiner_add_hashed(core_state *st, combiner *c, PyObject *k, Py_hash_t h, PyObject *v, PyObject *create,
                        PyObject *merge) {
    uint64_t inl[2];
    int short_str = inline_key(k, inl);
    size_t i = (size_t)h & c->mask;
    for (;;) {
        comb_entry *e = &c->v[i];
        if (!e->key) break;
        if (e->hash == h) {
            int eq = short_str && e->inl[1] ? inl[0] == e->inl[0] && inl[1] == e->inl[1] : core_keys_equal(e->key, k);
            if (eq < 0) return -1;
            if (eq) {
                if (merge_into(st, c, e, v, merge) < 0) return -1;
                c->hits++;
                return after_add(c);
            }
        }
        i = (i + 1) & c->mask;
    }
    if (c->capped) return 1;
    if (first_sight(c, h)) {
        count_record(c);
        return 1;
    }
    int64_t x = 0;
    if (create == Py_None && merge == st->op_add && small_int(v, &x)) {
        c->v[i] = (comb_entry){Py_NewRef(k), NULL, x, h, {inl[0], inl[1]}};
        c->bytes += ENTRY_BYTES + core_obj_size(k, 2) + core_obj_size(v, 2);
        if (++c->used * 3 > (c->mask + 1) * 2 && grow(c) < 0) return -1;
        return after_add(c);
    }
    PyObject *nv = create == Py_None ? Py_NewRef(v) : PyObject_CallOneArg(create, v);
    if (!nv) return -1;
    c->v[i] = (comb_entry){Py_NewRef(k), nv, 0, h, {inl[0], inl[1]}};
    c->bytes += ENTRY_BYTES + core_obj_size(k, 2) + core_obj_size(nv, 2);
    if (++c->used * 3 > (c->mask + 1) * 2 && grow(c) < 0) return -1;
    return after_add(c);
}

int combiner_drain(combiner *c, int (*fn)(void *, PyObject *, PyObject *), void *arg) {
    int rc = 0;
    for (size_t i = 0; i <= c->mask; i++) {
        comb_entry *e = &c->v[i];
        if (!e->key) continue;
        if (!rc) rc = box(e) < 0 ? -1 : fn(arg, e->key, e->value);
        Py_CLEAR(e->key);
        Py_CLEAR(e->value);
    }
    c->used = 0;
    c->bytes = 0;
    c->records = c->hits = c->window_hits = 0;
    c->capped = 0;
    memset(c->seen, 0, SEEN_BITS / 8);
    c->seen_set = 0;
    return rc;
}

void combiner_free(combiner *c) {
    PyMem_Free(c->seen);
    c->seen = NULL;
    if (!c->v) return;
    for (size_t i = 0; i <= c->mask; i++) {
        Py_XDECREF(c->v[i].key);
        Py_XDECREF(c->v[i].value);
    }
    PyMem_Free(c->v);
    c->v = NULL;
}
