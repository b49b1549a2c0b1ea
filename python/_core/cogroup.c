/* cogroup.c — the reduce side of joins, cogroups and groupByKey, in C: one grouping
 * table per reduce partition, spilled by hash to disk past the worker's budget.
 *
 * Cogroup(sides, how, limit, dir, result_iterable) is an iterator over the output
 * records of one reduce partition; `sides` are the record iterators of that
 * partition, one per input RDD ((key, value) pairs). What it yields depends on `how`:
 *
 *   JOIN, LEFT, RIGHT, FULL   (k, (v, w)): the table is built on sides[1] (the
 *       other RDD), sides[0] streams through it; a side with no value of k gives
 *       None in the outer joins. Keys of sides[1] only (RIGHT, FULL) come last, in
 *       the order they first appeared.
 *   SUBTRACT_BY_KEY           the pairs of sides[0] whose key is not in sides[1].
 *   SUBTRACT                  k for each pair of sides[0] whose k is not in sides[1].
 *   INTERSECTION              k once for each k of sides[0] also in sides[1].
 *   COGROUP                   (k, (ResultIterable, ... one per side)) for every key,
 *       in the order keys first appeared (sides in order) unless it spilled (below).
 *   GROUP                     (k, ResultIterable of its values) (groupByKey).
 *   COMBINE                   (k, combined value) (combineByKey, reduceByKey ...): a
 *       key's first value is create(v) (v itself when create is None), the next
 *       ones merge_value(c, v); values read back from a spill are combiners, merged
 *       with merge_combiners.
 * The ResultIterables are made here (the class's __init__ is not called).
 *
 * Design
 *  - The table is an insertion-ordered hash index (src/keyindex.c) over an entry
 *    array; per entry and side one value is held as itself, more as a list. Its size
 *    is estimated in bytes as records go in (object sizes, one level into tuples
 *    and lists, plus the table's own arrays).
 *  - Past `limit` bytes the table spills: every side gets one spill file, a shuffle
 *    file of SPILL_BUCKETS buckets (src/shuffle.c's format: pickled batches, CRC-
 *    checked), keys placed by a mix of their hash. Joins then route every remaining
 *    record straight to its side's file; GROUP, COGROUP and COMBINE keep filling
 *    the table and spill it again when full. At the end the buckets are joined or grouped one
 *    by one, so memory holds one bucket's keys at a time. Each file is removed as
 *    soon as its last bucket is read (and when the iterator is dropped).
 *  - GROUP only: while a bucket is grouped, a key whose values grow past a
 *    sixteenth of the budget moves them to a file of its own (a one-bucket shuffle
 *    file) and keeps appending there; its ResultIterable then holds SpilledValues,
 *    which read the values back in order (any number of times) and remove the file
 *    when dropped. So one key's values need not fit in memory.
 *  - A bucket whose build sides (joins: sides[1]; else all) go past the budget while
 *    it is loaded (GROUP: after moving big keys to their own files) is split: the
 *    table and the rest of the bucket's records, every side, go to new spill files
 *    one level down, whose buckets mix the key hash with the level as seed (GROUP:
 *    a key's own file is copied in, before its values in memory, so their order
 *    holds); their buckets are processed one by one (and split again if need be, at
 *    most SPILL_DEPTH levels), then the files are removed and the level above goes
 *    on with its next bucket. A bucket that a split did not shrink (its build sides
 *    are one key, or keys of one hash) is loaded whole: one key's values of sides[1]
 *    must fit in joins, its combiner in COMBINE, its values of every side in COGROUP
 *    (GROUP's go to their own file).
 *  - Order once spilled: keys come out bucket by bucket (and a split bucket's keys
 *    by the buckets of its split), not in the order they first appeared; a key's
 *    values keep their order. PySpark does not promise key order after a spill
 *    either (its groupByKey and cogroup merge spilled data by hash).
 */
#include "core.h"

#include "internal.h"

#include <stdio.h>
#include <unistd.h>

enum {
    HOW_JOIN,
    HOW_LEFT,
    HOW_RIGHT,
    HOW_FULL,
    HOW_SUBTRACT_BY_KEY,
    HOW_SUBTRACT,
    HOW_INTERSECTION,
    HOW_COGROUP,
    HOW_GROUP,
    HOW_COMBINE,
};

#define SPILL_BUCKETS 64u
#define SPILL_DEPTH 8                       /* levels of re-partitioning a joins' bucket (64^8 buckets in all) */
#define SPILL_BATCH 1024                    /* (k, v) records per pickled batch in a spill file */
#define CHUNK 1024                          /* values per (k, [values]) record of GROUP and COGROUP */
#define SPILL_BUFFER ((size_t)4 << 20)      /* the shuffle writer's buffer for a spill file */
#define EXT_BUFFER ((size_t)1 << 20)        /* ... for one key's own file */
#define ENTRY_BYTES (sizeof(gt_entry) + 32) /* an entry and its index slots */

/* ---- sizes ------------------------------------------------------------------------ */

size_t core_obj_size(PyObject *o, int depth) {
    PyTypeObject *t = Py_TYPE(o);
    if (PyLong_CheckExact(o)) return 32;
    if (PyFloat_CheckExact(o)) return 24;
    if (PyUnicode_CheckExact(o)) {
        size_t n = (size_t)PyUnicode_GET_LENGTH(o);
        return PyUnicode_IS_COMPACT_ASCII(o) ? 41 + n : 64 + (n + 1) * (size_t)PyUnicode_KIND(o);
    }
    if (PyBytes_CheckExact(o)) return 33 + (size_t)PyBytes_GET_SIZE(o);
    if (PyTuple_Check(o) || PyList_Check(o)) {
        Py_ssize_t n = PyTuple_Check(o) ? PyTuple_GET_SIZE(o) : PyList_GET_SIZE(o);
        size_t s = (size_t)t->tp_basicsize + 16 + 8 * (size_t)n;
        if (depth > 0)
            for (Py_ssize_t i = 0; i < n; i++)
                s += core_obj_size(PyTuple_Check(o) ? PyTuple_GET_ITEM(o, i) : PyList_GET_ITEM(o, i), depth - 1);
        return s;
    }
    if (PyDict_Check(o)) return 64 + 100 * (size_t)PyDict_GET_SIZE(o);
    return (size_t)t->tp_basicsize + (PyType_IS_GC(t) ? 16 : 0) + 32;
}

size_t core_grown_by(PyObject *old, PyObject *merged, PyObject *v) {
    if (PyLong_CheckExact(merged) || PyFloat_CheckExact(merged)) return 0;
    if (merged == old) return PyList_Check(merged) ? 8 + core_obj_size(v, 1) : 0;
    size_t was = core_obj_size(old, 0), now = core_obj_size(merged, 0);
    return now > was ? now - was : 0;
}

/* ---- spill files ------------------------------------------------------------------ */

/* A shuffle file being written: pending records per bucket, pickled SPILL_BATCH at a
 * time. After commit it is read one bucket at a time (spill_open_bucket). */
typedef struct {
    char *path;
    ember_shuffle_writer *w;
    PyObject **pending; /* [nbuckets] lists */
    uint32_t nbuckets;
    Py_ssize_t batch;  /* records per pickled batch */
    uint64_t written;  /* pickled bytes appended */
    uint64_t *records; /* [nbuckets] records added to each bucket */
    int committed;
} spill_file;

static void spill_free(spill_file *f) {
    if (!f) return;
    if (f->w) ember_shuffle_writer_abort(f->w);
    if (f->pending)
        for (uint32_t i = 0; i < f->nbuckets; i++)
            Py_XDECREF(f->pending[i]);
    PyMem_Free(f->pending);
    PyMem_Free(f->records);
    if (f->path) {
        if (f->committed) unlink(f->path);
        PyMem_Free(f->path);
    }
    PyMem_Free(f);
}

static spill_file *spill_new(core_state *st, const char *dir, const char *what, uint32_t nbuckets, size_t buffer,
                             Py_ssize_t batch) {
    static unsigned long counter;
    spill_file *f = PyMem_Calloc(1, sizeof *f);
    if (!f) return (spill_file *)PyErr_NoMemory();
    f->nbuckets = nbuckets;
    f->batch = batch;
    size_t n = strlen(dir) + 96;
    f->path = PyMem_Malloc(n);
    f->pending = PyMem_Calloc(nbuckets, sizeof *f->pending);
    f->records = PyMem_Calloc(nbuckets, sizeof *f->records);
    if (!f->path || !f->pending || !f->records) {
        spill_free(f);
        return (spill_file *)PyErr_NoMemory();
    }
    snprintf(f->path, n, "%s/spill-%s-%ld-%lu", dir, what, (long)getpid(), ++counter);
    for (uint32_t i = 0; i < nbuckets; i++)
        if (!(f->pending[i] = PyList_New(0))) {
            spill_free(f);
            return NULL;
        }
    int rc = ember_shuffle_writer_open(f->path, nbuckets, buffer, &f->w);
    if (rc) {
        spill_free(f);
        core_raise(st, rc);
        return NULL;
    }
    return f;
}

static int spill_flush(core_state *st, spill_file *f, uint32_t b) {
    if (PyList_GET_SIZE(f->pending[b]) == 0) return 0;
    PyObject *a[2] = {f->pending[b], st->protocol};
    PyObject *bytes = PyObject_Vectorcall(st->dumps, a, 2, NULL);
    if (!bytes) return -1;
    int rc = ember_shuffle_writer_append(f->w, b, PyBytes_AS_STRING(bytes), (size_t)PyBytes_GET_SIZE(bytes));
    f->written += (uint64_t)PyBytes_GET_SIZE(bytes);
    Py_DECREF(bytes);
    if (rc) {
        core_raise(st, rc);
        return -1;
    }
    return PyList_SetSlice(f->pending[b], 0, PY_SSIZE_T_MAX, NULL);
}

/* Appends a record to bucket b (a new reference is taken). */
static int spill_add(core_state *st, spill_file *f, uint32_t b, PyObject *rec) {
    if (PyList_Append(f->pending[b], rec) < 0) return -1;
    f->records[b]++;
    return PyList_GET_SIZE(f->pending[b]) >= f->batch ? spill_flush(st, f, b) : 0;
}

static int spill_commit(core_state *st, spill_file *f) {
    for (uint32_t b = 0; b < f->nbuckets; b++)
        if (spill_flush(st, f, b) < 0) return -1;
    ember_shuffle_writer *w = f->w;
    f->w = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = ember_shuffle_writer_commit(w, NULL);
    Py_END_ALLOW_THREADS if (rc) {
        core_raise(st, rc);
        return -1;
    }
    f->committed = 1;
    core_note_spill(st, 0, f->written); /* the task's diskBytesSpilled */
    return 0;
}

/* The records of one bucket of a committed spill file. */
typedef struct {
    ember_shuffle_reader *r;
    PyObject *batch;
    Py_ssize_t idx;
} spill_reader;

static int spill_reader_open(core_state *st, spill_reader *sr, const spill_file *f, uint32_t b) {
    const char *paths[1] = {f->path};
    sr->batch = NULL;
    sr->idx = 0;
    int rc = ember_shuffle_reader_open(paths, 1, b, &sr->r);
    if (rc) {
        sr->r = NULL;
        core_raise(st, rc);
        return -1;
    }
    return 0;
}

static void spill_reader_close(spill_reader *sr) {
    if (sr->r) ember_shuffle_reader_close(sr->r);
    sr->r = NULL;
    Py_CLEAR(sr->batch);
}

/* The next record (new reference), or NULL at the end (no exception) or on error. */
static PyObject *spill_reader_next(core_state *st, spill_reader *sr) {
    for (;;) {
        if (sr->batch && sr->idx < PyList_GET_SIZE(sr->batch)) return Py_NewRef(PyList_GET_ITEM(sr->batch, sr->idx++));
        Py_CLEAR(sr->batch);
        if (!sr->r) return NULL;
        const void *data;
        size_t len;
        int rc = ember_shuffle_reader_next(sr->r, &data, &len);
        if (rc == 0) {
            spill_reader_close(sr);
            return NULL;
        }
        if (rc < 0) return core_raise(st, rc);
        PyObject *lst = core_loads_memory(st->loads, data, len);
        if (!lst) return NULL;
        if (!PyList_CheckExact(lst)) {
            Py_DECREF(lst);
            return PyErr_Format(PyExc_ValueError, "corrupt spill file %s: expected a pickled list",
                                ember_shuffle_reader_file(sr->r));
        }
        sr->batch = lst;
        sr->idx = 0;
    }
}

/* ---- SpilledValues: one key's values in a file of their own ----------------------- */

typedef struct {
    PyObject_HEAD spill_file *file; /* committed, one bucket of pickled lists of values */
    Py_ssize_t count;
} SpilledValues;

typedef struct {
    PyObject_HEAD PyObject *owner; /* the SpilledValues (keeps the file) */
    spill_reader r;
    PyObject *chunk;
    Py_ssize_t idx;
} SpilledIter;

static void SpilledValues_dealloc(SpilledValues *self) {
    PyTypeObject *tp = Py_TYPE(self);
    spill_free(self->file);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static Py_ssize_t SpilledValues_len(SpilledValues *self) { return self->count; }

static PyObject *SpilledValues_iter(SpilledValues *self) {
    core_state *st = core_state_of_type(Py_TYPE(self));
    PyTypeObject *it_type = st->SpilledIter_type;
    SpilledIter *it = (SpilledIter *)it_type->tp_alloc(it_type, 0);
    if (!it) return NULL;
    it->owner = Py_NewRef(self);
    if (spill_reader_open(st, &it->r, self->file, 0) < 0) {
        Py_DECREF(it);
        return NULL;
    }
    return (PyObject *)it;
}

static PyObject *SpilledValues_reduce(SpilledValues *self, PyObject *unused) {
    (void)unused; /* pickled (to the driver, or into a shuffle) as the list of its values */
    PyObject *lst = PySequence_List((PyObject *)self);
    if (!lst) return NULL;
    PyObject *r = Py_BuildValue("(O(O))", (PyObject *)&PyList_Type, lst);
    Py_DECREF(lst);
    return r;
}

static PyObject *SpilledValues_repr(SpilledValues *self) {
    return PyUnicode_FromFormat("SpilledValues(%zd values in %s)", self->count, self->file->path);
}

static PyMethodDef SpilledValues_methods[] = {
    {"__reduce__", (PyCFunction)SpilledValues_reduce, METH_NOARGS, "Pickles as a list of the values."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot SpilledValues_slots[] = {
    {Py_tp_dealloc, SpilledValues_dealloc},
    {Py_tp_iter, SpilledValues_iter},
    {Py_sq_length, SpilledValues_len},
    {Py_mp_length, SpilledValues_len},
    {Py_tp_repr, SpilledValues_repr},
    {Py_tp_methods, SpilledValues_methods},
    {Py_tp_doc, "The values of one key (groupByKey) held in a file: iterable any number of times, with len(); "
                "the file is removed when this object is dropped."},
    {0, NULL},
};

static PyType_Spec SpilledValues_spec = {"ember._core.SpilledValues", sizeof(SpilledValues), 0, Py_TPFLAGS_DEFAULT,
                                         SpilledValues_slots};

static void SpilledIter_dealloc(SpilledIter *self) {
    PyTypeObject *tp = Py_TYPE(self);
    spill_reader_close(&self->r);
    Py_XDECREF(self->chunk);
    Py_XDECREF(self->owner);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *SpilledIter_next(SpilledIter *self) {
    core_state *st = core_state_of_type(Py_TYPE(self));
    for (;;) {
        if (self->chunk && self->idx < PyList_GET_SIZE(self->chunk))
            return Py_NewRef(PyList_GET_ITEM(self->chunk, self->idx++));
        Py_CLEAR(self->chunk);
        PyObject *c = spill_reader_next(st, &self->r);
        if (!c) return NULL;
        if (!PyList_CheckExact(c)) {
            Py_DECREF(c);
            return PyErr_Format(PyExc_ValueError, "corrupt spill file: expected lists of values");
        }
        self->chunk = c;
        self->idx = 0;
    }
}

static PyType_Slot SpilledIter_slots[] = {
    {Py_tp_dealloc, SpilledIter_dealloc},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, SpilledIter_next},
    {0, NULL},
};

static PyType_Spec SpilledIter_spec = {"ember._core.SpilledIter", sizeof(SpilledIter), 0, Py_TPFLAGS_DEFAULT,
                                       SpilledIter_slots};

/* ---- the table -------------------------------------------------------------------- */

typedef struct {
    PyObject *key;
    Py_hash_t hash;
    size_t bytes;        /* GROUP: bytes of its values held in memory */
    spill_file *ext;     /* GROUP: its values' own file, or NULL */
    Py_ssize_t nspilled; /* values in ext */
    int matched;
} gt_entry;

typedef struct {
    PyObject_HEAD core_state *st;
    int how;
    Py_ssize_t nsides;
    PyObject **its; /* [nsides] the input iterators; NULL once read */
    size_t limit;
    char *dir;
    PyObject *ri_type;                                /* ResultIterable */
    PyObject *create, *merge_value, *merge_combiners; /* COMBINE */
    PyObject *s_data, *s_index, *s_maxindex;
    /* the table */
    emberH_index ix;
    gt_entry *ent;
    PyObject **vals; /* [cap * nsides]: NULL, one value (cnt 1) or a list */
    Py_ssize_t *cnt; /* [cap * nsides] */
    size_t nent, cap;
    size_t bytes;      /* estimated bytes held */
    size_t next_check; /* GROUP, in a bucket: bytes at which to look for a big key again */
    /* spilling */
    spill_file **files; /* [nsides] once spilled: the files of the level being read */
    uint32_t bucket;    /* the bucket of files being processed, once spilled */
    int depth;          /* joins: how many times a bucket was re-partitioned to get to files */
    struct {
        spill_file **files;
        uint32_t bucket;
    } up[SPILL_DEPTH];  /* joins: the files and bucket of each level above */
    int in_bucket;      /* processing spilled buckets */
    spill_reader probe; /* sides[0]'s records of the bucket (joins) */
    /* output */
    int state;
    PyObject *pk, *pv; /* the probe record's key and value, while its pairs go out */
    Py_ssize_t pe, pj; /* its entry and the next of that entry's values */
    size_t tail, tj;   /* the entry (and value) the tail is at */
} Cogroup;

enum { ST_START, ST_PROBE, ST_TAIL, ST_NEXT_BUCKET, ST_DONE };

static int is_join(int how) { return how <= HOW_INTERSECTION; }
static int keys_only(int how) { return how >= HOW_SUBTRACT_BY_KEY && how <= HOW_INTERSECTION; }
static Py_ssize_t build_first(Cogroup *g) { return is_join(g->how) ? 1 : 0; }
/* Spilled as (k, [values]) chunks (else as (k, v) records). */
static int chunked(int how) { return how == HOW_COGROUP || how == HOW_GROUP; }

typedef struct {
    Cogroup *g;
    PyObject *key;
} eq_ctx;

static int key_eq(void *arg, uint32_t e) {
    eq_ctx *c = arg;
    return core_keys_equal(c->g->ent[e].key, c->key);
}

/* 1 when k is an int whose hash is its value: two such keys are equal exactly when
 * their hashes are (the index's exact keys). */
static int hash_is_key(PyObject *k, Py_hash_t h) {
    if (!PyLong_CheckExact(k)) return 0;
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(k, &overflow);
    return !overflow && v == (long long)h;
}

/* The entry of key k: >= 0, or -1 when absent (*slot set; with create, it is added
 * and its number returned), or -2 with an exception. */
static Py_ssize_t table_find(Cogroup *g, PyObject *k, Py_hash_t h, int create) {
    eq_ctx c = {g, k};
    size_t slot;
    int exact = hash_is_key(k, h);
    int64_t e = emberH_find(&g->ix, (uint64_t)h, exact, key_eq, &c, &slot);
    if (e >= 0 || e == -2 || !create) return (Py_ssize_t)e;
    if (g->nent == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 64;
        gt_entry *ent = PyMem_Realloc(g->ent, cap * sizeof *ent);
        if (ent) g->ent = ent;
        PyObject **vals = ent ? PyMem_Realloc(g->vals, cap * g->nsides * sizeof *vals) : NULL;
        if (vals) g->vals = vals;
        Py_ssize_t *cnt = vals ? PyMem_Realloc(g->cnt, cap * g->nsides * sizeof *cnt) : NULL;
        if (!cnt) {
            PyErr_NoMemory();
            return -2;
        }
        g->cnt = cnt;
        g->bytes += (cap - g->cap) * (sizeof *ent + g->nsides * (sizeof *vals + sizeof *cnt));
        g->cap = cap;
    }
    size_t n = g->nent;
    int rc = emberH_insert(&g->ix, slot, (uint64_t)h, exact, (uint32_t)n);
    g->ent[n] = (gt_entry){Py_NewRef(k), h, 0, NULL, 0, 0};
    for (Py_ssize_t s = 0; s < g->nsides; s++) {
        g->vals[n * g->nsides + s] = NULL;
        g->cnt[n * g->nsides + s] = 0;
    }
    g->nent++;
    g->bytes += 32 + core_obj_size(k, 2);
    if (rc) {
        core_raise(g->st, rc);
        return -2;
    }
    return (Py_ssize_t)n;
}

/* Adds value v (a new reference is taken) to side s of entry e. */
static int table_add(Cogroup *g, Py_ssize_t e, Py_ssize_t s, PyObject *v) {
    size_t i = (size_t)e * g->nsides + s;
    size_t sz = core_obj_size(v, 2) + 8;
    g->bytes += sz;
    g->ent[e].bytes += sz;
    Py_ssize_t c = g->cnt[i]++;
    if (c == 0) {
        g->vals[i] = Py_NewRef(v);
        return 0;
    }
    if (c == 1) {
        PyObject *lst = PyList_New(2);
        if (!lst) return -1;
        PyList_SET_ITEM(lst, 0, g->vals[i]);
        PyList_SET_ITEM(lst, 1, Py_NewRef(v));
        g->vals[i] = lst;
        g->bytes += 72;
        return 0;
    }
    return PyList_Append(g->vals[i], v);
}

/* Side s of entry e as a new list. */
static PyObject *table_list(Cogroup *g, size_t e, Py_ssize_t s) {
    size_t i = e * g->nsides + s;
    if (g->cnt[i] == 0) return PyList_New(0);
    if (g->cnt[i] == 1) {
        PyObject *lst = PyList_New(1);
        if (lst) PyList_SET_ITEM(lst, 0, Py_NewRef(g->vals[i]));
        return lst;
    }
    return Py_NewRef(g->vals[i]);
}

static void table_clear(Cogroup *g) {
    for (size_t e = 0; e < g->nent; e++) {
        Py_CLEAR(g->ent[e].key);
        spill_free(g->ent[e].ext);
        g->ent[e].ext = NULL;
        for (Py_ssize_t s = 0; s < g->nsides; s++)
            Py_CLEAR(g->vals[e * g->nsides + s]);
    }
    g->nent = 0;
    if (g->ix.slots) emberH_clear(&g->ix);
    g->bytes =
        g->cap * (sizeof(gt_entry) + g->nsides * (sizeof(PyObject *) + sizeof(Py_ssize_t))) + emberH_bytes(&g->ix);
    g->next_check = g->limit;
}

/* Splits a record into borrowed key and value. */
static int split_pair(PyObject *item, PyObject **k, PyObject **v) {
    if (PyTuple_Check(item) && PyTuple_GET_SIZE(item) == 2) {
        *k = PyTuple_GET_ITEM(item, 0);
        *v = PyTuple_GET_ITEM(item, 1);
        return 0;
    }
    if (PyList_CheckExact(item) && PyList_GET_SIZE(item) == 2) {
        *k = PyList_GET_ITEM(item, 0);
        *v = PyList_GET_ITEM(item, 1);
        return 0;
    }
    PyErr_Format(PyExc_TypeError, "a join, cogroup or groupByKey expects (key, value) pairs, got a %.100s",
                 Py_TYPE(item)->tp_name);
    return -1;
}

/* The spill bucket of a key hash at a level of re-partitioning: its bits mixed with
 * the level as seed (all keys of a reduce partition share the shuffle's hash %
 * numPartitions, and all keys of a re-partitioned bucket their bucket above). */
static uint32_t spill_bucket(Py_hash_t h, int level) {
    uint64_t x = (uint64_t)h ^ ((uint64_t)level * 0x9E3779B97F4A7C15u);
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb3f96a5f8e65ULL;
    x ^= x >> 33;
    return (uint32_t)(x % SPILL_BUCKETS);
}

static PyObject *value_at(Cogroup *g, size_t e, Py_ssize_t s, Py_ssize_t j);

/* ---- spilling the table ------------------------------------------------------------ */

static int spill_record(Cogroup *g, Py_ssize_t s, Py_hash_t h, PyObject *k, PyObject *v) {
    PyObject *rec = PyTuple_Pack(2, k, v);
    if (!rec) return -1;
    int rc = spill_add(g->st, g->files[s], spill_bucket(h, g->depth), rec);
    Py_DECREF(rec);
    return rc;
}

/* GROUP, splitting a bucket: copies the values in a key's own file to the spill
 * files (as the (k, [values]) chunks they are in, before the values in memory) and
 * removes the file. */
static int spill_ext(Cogroup *g, gt_entry *en) {
    spill_reader r;
    if (spill_commit(g->st, en->ext) < 0 || spill_reader_open(g->st, &r, en->ext, 0) < 0) return -1;
    PyObject *chunk;
    while ((chunk = spill_reader_next(g->st, &r))) {
        int rc = spill_record(g, 0, en->hash, en->key, chunk);
        Py_DECREF(chunk);
        if (rc < 0) {
            spill_reader_close(&r);
            return -1;
        }
    }
    spill_reader_close(&r);
    if (PyErr_Occurred()) return -1;
    spill_free(en->ext);
    en->ext = NULL;
    en->nspilled = 0;
    return 0;
}

/* Writes the table to the spill files and empties it: joins and COMBINE as (k, v) records
 * ((k, None) once per key when only keys are kept), GROUP and COGROUP as
 * (k, [values]) chunks of at most CHUNK values (GROUP: a key's own file first). */
static int spill_table(Cogroup *g) {
    for (size_t e = 0; e < g->nent; e++) {
        gt_entry *en = &g->ent[e];
        if (keys_only(g->how)) {
            if (spill_record(g, 1, en->hash, en->key, Py_None) < 0) return -1;
            continue;
        }
        for (Py_ssize_t s = 0; s < g->nsides; s++) {
            size_t i = e * g->nsides + s;
            if (en->ext && spill_ext(g, en) < 0) return -1;
            Py_ssize_t c = g->cnt[i];
            if (c == 0) continue;
            if (!chunked(g->how)) {
                for (Py_ssize_t j = 0; j < c; j++)
                    if (spill_record(g, s, en->hash, en->key, value_at(g, e, s, j)) < 0) return -1;
                continue;
            }
            PyObject *lst = table_list(g, e, s);
            if (!lst) return -1;
            for (Py_ssize_t at = 0; at < c; at += CHUNK) {
                PyObject *chunk = PyList_GetSlice(lst, at, at + CHUNK);
                int rc = chunk ? spill_record(g, s, en->hash, en->key, chunk) : -1;
                Py_XDECREF(chunk);
                if (rc < 0) {
                    Py_DECREF(lst);
                    return -1;
                }
            }
            Py_DECREF(lst);
        }
    }
    core_note_spill(g->st, g->bytes, 0); /* the task's memoryBytesSpilled */
    table_clear(g);
    return 0;
}

/* Frees a level's spill files (removing those committed) and their array. */
static void files_free(Cogroup *g, spill_file **files) {
    for (Py_ssize_t s = 0; files && s < g->nsides; s++)
        spill_free(files[s]);
    PyMem_Free(files);
}

/* New spill files for every side, as g->files. */
static int open_files(Cogroup *g) {
    g->files = PyMem_Calloc((size_t)g->nsides, sizeof *g->files);
    if (!g->files) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t s = 0; s < g->nsides; s++)
        if (!(g->files[s] = spill_new(g->st, g->dir, "cogroup", SPILL_BUCKETS, SPILL_BUFFER / (size_t)g->nsides,
                                      chunked(g->how) ? 32 : SPILL_BATCH)))
            return -1;
    return 0;
}

static int start_spill(Cogroup *g) { return open_files(g) < 0 ? -1 : spill_table(g); }

/* Appends a (k, v) record of side s to its spill file, in its key's bucket. */
static int route(Cogroup *g, Py_ssize_t s, PyObject *item) {
    PyObject *k, *v;
    if (split_pair(item, &k, &v) < 0) return -1;
    Py_hash_t h = PyObject_Hash(k);
    if (h == -1 && PyErr_Occurred()) return -1;
    return spill_add(g->st, g->files[s], spill_bucket(h, g->depth), item);
}

/* Routes every remaining record of side s to its spill file (joins). */
static int spill_rest(Cogroup *g, Py_ssize_t s) {
    PyObject *item;
    while (g->its[s] && (item = PyIter_Next(g->its[s]))) {
        int rc = route(g, s, item);
        Py_DECREF(item);
        if (rc < 0) return -1;
    }
    if (PyErr_Occurred()) return -1;
    Py_CLEAR(g->its[s]);
    return 0;
}

/* Routes the rest of a spilled bucket's records (side s) to the spill files; closes r. */
static int route_reader(Cogroup *g, Py_ssize_t s, spill_reader *r) {
    PyObject *item;
    while ((item = spill_reader_next(g->st, r))) {
        int rc = route(g, s, item);
        Py_DECREF(item);
        if (rc < 0) break;
    }
    spill_reader_close(r);
    return PyErr_Occurred() ? -1 : 0;
}

/* The records in bucket b of a level's files, over the build sides. */
static uint64_t bucket_records(Cogroup *g, spill_file **files, uint32_t b) {
    uint64_t n = 0;
    for (Py_ssize_t s = build_first(g); s < g->nsides; s++)
        n += files[s]->records[b];
    return n;
}

/* Whether the bucket being loaded is split again: when its keys went past the budget
 * (beyond what the empty table held, base) and there are two of them at least. Not
 * when the levels are used up, nor when the last split left all of its build records
 * in this bucket: then its keys share a hash, and would not come apart. */
static int can_split(Cogroup *g, size_t base) {
    if (g->bytes <= base + g->limit || g->nent < 2 || g->depth + 1 >= SPILL_DEPTH) return 0;
    if (g->depth == 0) return 1;
    int d = g->depth - 1;
    return bucket_records(g, g->files, g->bucket) < bucket_records(g, g->up[d].files, g->up[d].bucket);
}

/* Splits the bucket being loaded (the build sides before s in the table, side s read
 * up to r) into the buckets of new spill files, one level down with a new seed: the
 * table, the rest of r, then the bucket's other sides (joins: the probe side, sides[0];
 * else the sides after s). Its first bucket is next. */
static int split_bucket(Cogroup *g, Py_ssize_t s, spill_reader *r) {
    int d = g->depth;
    g->up[d].files = g->files;
    g->up[d].bucket = g->bucket;
    g->files = NULL;
    g->depth = d + 1;
    if (open_files(g) < 0 || spill_table(g) < 0 || route_reader(g, s, r) < 0) {
        spill_reader_close(r);
        return -1;
    }
    for (Py_ssize_t o = 0; o < g->nsides; o++) {
        if (is_join(g->how) ? o != 0 : o <= s) continue;
        spill_reader rest;
        if (spill_reader_open(g->st, &rest, g->up[d].files[o], g->up[d].bucket) < 0 || route_reader(g, o, &rest) < 0)
            return -1;
    }
    for (Py_ssize_t s = 0; s < g->nsides; s++)
        if (spill_commit(g->st, g->files[s]) < 0) return -1;
    g->bucket = 0;
    return 0;
}

/* GROUP, in a bucket: moves the values of the biggest key to a file of its own when
 * they are past a sixteenth of the budget. */
static int externalize_big_key(Cogroup *g) {
    size_t best = 0, big = 0;
    for (size_t e = 0; e < g->nent; e++)
        if (g->ent[e].bytes > big) {
            big = g->ent[e].bytes;
            best = e;
        }
    g->next_check = g->bytes + g->limit / 16;
    if (big < g->limit / 16) return 0;
    gt_entry *en = &g->ent[best];
    if (!en->ext && !(en->ext = spill_new(g->st, g->dir, "values", 1, EXT_BUFFER, 1))) return -1;
    PyObject *lst = table_list(g, best, 0);
    if (!lst) return -1;
    Py_ssize_t n = PyList_GET_SIZE(lst);
    for (Py_ssize_t at = 0; at < n; at += CHUNK) {
        PyObject *chunk = PyList_GetSlice(lst, at, at + CHUNK);
        int rc = chunk ? spill_add(g->st, en->ext, 0, chunk) : -1;
        Py_XDECREF(chunk);
        if (rc < 0) {
            Py_DECREF(lst);
            return -1;
        }
    }
    Py_DECREF(lst);
    if (spill_flush(g->st, en->ext, 0) < 0) return -1;
    en->nspilled += n;
    core_note_spill(g->st, en->bytes, 0);
    Py_CLEAR(g->vals[best]);
    g->cnt[best] = 0;
    g->bytes = g->bytes > en->bytes ? g->bytes - en->bytes : 0;
    en->bytes = 0;
    g->next_check = g->bytes + g->limit / 16;
    return 0;
}

/* ---- building ---------------------------------------------------------------------- */

/* COMBINE: merges v into entry e (see the kinds above). */
static int combine_add(Cogroup *g, Py_ssize_t e, PyObject *v) {
    PyObject **slot = &g->vals[e];
    if (g->cnt[e] == 0) {
        PyObject *c = g->create == Py_None || g->in_bucket ? Py_NewRef(v) : PyObject_CallOneArg(g->create, v);
        if (!c) {
            core_fail_on_stopiteration();
            return -1;
        }
        *slot = c;
        g->cnt[e] = 1;
        g->bytes += core_obj_size(c, 2);
        return 0;
    }
    PyObject *merge = g->in_bucket ? g->merge_combiners : g->merge_value;
    PyObject *c = core_merge(g->st, merge, *slot, v);
    if (!c) {
        core_fail_on_stopiteration();
        return -1;
    }
    g->bytes += core_grown_by(*slot, c, v);
    Py_SETREF(*slot, c);
    return 0;
}

/* Adds a record of side s: joins take (k, v), GROUP/COGROUP in a bucket take
 * (k, [values]) chunks (chunks = 1). */
static int build_one(Cogroup *g, Py_ssize_t s, PyObject *item, int chunks) {
    PyObject *k, *v;
    if (split_pair(item, &k, &v) < 0) return -1;
    Py_hash_t h = PyObject_Hash(k);
    if (h == -1 && PyErr_Occurred()) return -1;
    if (g->files && !g->in_bucket && is_join(g->how))
        return spill_add(g->st, g->files[s], spill_bucket(h, g->depth), item);
    Py_ssize_t e = table_find(g, k, h, 1);
    if (e < 0) return -1;
    if (keys_only(g->how)) return 0;
    if (g->how == HOW_COMBINE) return combine_add(g, e, v);
    if (!chunks) return table_add(g, e, s, v);
    if (!PyList_CheckExact(v)) {
        PyErr_SetString(PyExc_ValueError, "corrupt spill file: expected (key, list of values) records");
        return -1;
    }
    for (Py_ssize_t j = 0; j < PyList_GET_SIZE(v); j++)
        if (table_add(g, e, s, PyList_GET_ITEM(v, j)) < 0) return -1;
    gt_entry *en = &g->ent[e];
    if (en->ext && g->cnt[e] >= CHUNK) { /* a key with its own file: pass full chunks on */
        PyObject *lst = table_list(g, (size_t)e, 0);
        int rc = lst ? spill_add(g->st, en->ext, 0, lst) : -1;
        Py_XDECREF(lst);
        if (rc < 0 || spill_flush(g->st, en->ext, 0) < 0) return -1;
        en->nspilled += g->cnt[e];
        Py_CLEAR(g->vals[e]);
        g->cnt[e] = 0;
        g->bytes = g->bytes > en->bytes ? g->bytes - en->bytes : 0;
        en->bytes = 0;
    }
    return 0;
}

/* After a record went in: spills (or, GROUP in a bucket, moves a big key out) when
 * the table is past the budget. */
static int check_budget(Cogroup *g) {
    if (g->bytes <= g->limit) return 0;
    if (!g->in_bucket) {
        if (!g->files) return start_spill(g);
        return is_join(g->how) ? 0 : spill_table(g);
    }
    if (g->how == HOW_GROUP && g->bytes > g->next_check) return externalize_big_key(g);
    return 0;
}

/* Builds the table from the input iterators (the build sides; all of them for
 * GROUP and COGROUP). Past the budget it spills; then, for joins, sides[0] goes to
 * its file too and the first bucket is loaded. */
static int build_inputs(Cogroup *g) {
    for (Py_ssize_t s = build_first(g); s < g->nsides; s++) {
        PyObject *item;
        while (g->its[s] && (item = PyIter_Next(g->its[s]))) {
            int rc = build_one(g, s, item, 0);
            Py_DECREF(item);
            if (rc < 0 || check_budget(g) < 0) return -1;
            if (g->files && is_join(g->how)) {
                if (spill_rest(g, s) < 0) return -1;
                break;
            }
        }
        if (PyErr_Occurred()) return -1;
        Py_CLEAR(g->its[s]);
    }
    if (!g->files) return 0;
    if (is_join(g->how) && spill_rest(g, 0) < 0) return -1;
    if (!is_join(g->how) && spill_table(g) < 0) return -1;
    for (Py_ssize_t s = 0; s < g->nsides; s++)
        if (spill_commit(g->st, g->files[s]) < 0) return -1;
    g->in_bucket = 1;
    g->bucket = 0;
    return 0;
}

/* Loads spilled bucket g->bucket into the (empty) table. A bucket whose build sides go
 * past the budget (GROUP: after moving big keys to their own files) is split
 * (split_bucket), and the first bucket of the split loaded instead. */
static int build_bucket(Cogroup *g) {
    table_clear(g);
    size_t base = g->bytes;
    for (Py_ssize_t s = build_first(g); s < g->nsides; s++) {
        spill_reader r;
        if (spill_reader_open(g->st, &r, g->files[s], g->bucket) < 0) return -1;
        PyObject *item;
        while ((item = spill_reader_next(g->st, &r))) {
            int rc = build_one(g, s, item, chunked(g->how));
            Py_DECREF(item);
            if (rc == 0) rc = check_budget(g);
            if (rc == 0 && can_split(g, base)) return split_bucket(g, s, &r) < 0 ? -1 : build_bucket(g);
            if (rc < 0) {
                spill_reader_close(&r);
                return -1;
            }
        }
        spill_reader_close(&r);
        if (PyErr_Occurred()) return -1;
    }
    if (is_join(g->how) && spill_reader_open(g->st, &g->probe, g->files[0], g->bucket) < 0) return -1;
    return 0;
}

/* ---- output ----------------------------------------------------------------------- */

static PyObject *pair2(PyObject *k, PyObject *a, PyObject *b) {
    PyObject *in = PyTuple_Pack(2, a, b);
    if (!in) return NULL;
    PyObject *out = PyTuple_Pack(2, k, in);
    Py_DECREF(in);
    return out;
}

/* Value j of side s of entry e (borrowed). */
static PyObject *value_at(Cogroup *g, size_t e, Py_ssize_t s, Py_ssize_t j) {
    size_t i = e * g->nsides + s;
    return g->cnt[i] == 1 ? g->vals[i] : PyList_GET_ITEM(g->vals[i], j);
}

/* A ResultIterable over data (a list or SpilledValues; the reference is taken). */
static PyObject *result_iterable(Cogroup *g, PyObject *data) {
    if (!data) return NULL;
    PyTypeObject *t = (PyTypeObject *)g->ri_type;
    PyObject *ri = t->tp_alloc(t, 0);
    Py_ssize_t n = PyObject_Length(data);
    PyObject *zero = PyLong_FromLong(0), *len = n >= 0 ? PyLong_FromSsize_t(n) : NULL;
    if (!ri || !zero || !len || PyObject_SetAttr(ri, g->s_data, data) < 0 ||
        PyObject_SetAttr(ri, g->s_index, zero) < 0 || PyObject_SetAttr(ri, g->s_maxindex, len) < 0)
        Py_CLEAR(ri);
    Py_XDECREF(zero);
    Py_XDECREF(len);
    Py_DECREF(data);
    return ri;
}

/* GROUP: entry e's values: a list, or SpilledValues when they have a file. */
static PyObject *group_values(Cogroup *g, size_t e) {
    gt_entry *en = &g->ent[e];
    if (!en->ext) return table_list(g, e, 0);
    if (g->cnt[e] > 0) {
        PyObject *lst = table_list(g, e, 0);
        int rc = lst ? spill_add(g->st, en->ext, 0, lst) : -1;
        Py_XDECREF(lst);
        if (rc < 0) return NULL;
        en->nspilled += g->cnt[e];
        Py_CLEAR(g->vals[e]);
        g->cnt[e] = 0;
    }
    if (spill_commit(g->st, en->ext) < 0) return NULL;
    PyTypeObject *t = g->st->SpilledValues_type;
    SpilledValues *sv = (SpilledValues *)t->tp_alloc(t, 0);
    if (!sv) return NULL;
    sv->file = en->ext;
    sv->count = en->nspilled;
    en->ext = NULL;
    return (PyObject *)sv;
}

/* The next record of the tail (entries after the probe), or NULL: at its end
 * without an exception. */
static PyObject *tail_next(Cogroup *g) {
    while (g->tail < g->nent) {
        size_t e = g->tail;
        gt_entry *en = &g->ent[e];
        switch (g->how) {
        case HOW_RIGHT:
        case HOW_FULL:
            if (!en->matched && (Py_ssize_t)g->tj < g->cnt[e * g->nsides + 1])
                return pair2(en->key, Py_None, value_at(g, e, 1, (Py_ssize_t)g->tj++));
            break;
        case HOW_COGROUP: {
            g->tail++;
            PyObject *t = PyTuple_New(g->nsides);
            if (!t) return NULL;
            for (Py_ssize_t s = 0; s < g->nsides; s++) {
                PyObject *ri = result_iterable(g, table_list(g, e, s));
                if (!ri) {
                    Py_DECREF(t);
                    return NULL;
                }
                PyTuple_SET_ITEM(t, s, ri);
            }
            PyObject *out = PyTuple_Pack(2, en->key, t);
            Py_DECREF(t);
            return out;
        }
        case HOW_COMBINE:
            g->tail++;
            if (g->cnt[e] == 0) break;
            return PyTuple_Pack(2, en->key, g->vals[e]);
        case HOW_GROUP: {
            g->tail++;
            PyObject *ri = result_iterable(g, group_values(g, e));
            if (!ri) return NULL;
            PyObject *out = PyTuple_Pack(2, en->key, ri);
            Py_DECREF(ri);
            return out;
        }
        default:
            g->tail = g->nent;
            return NULL;
        }
        g->tail++;
        g->tj = 0;
    }
    return NULL;
}

/* The next record of the probe (sides[0] against the table), or NULL: at its end
 * without an exception. */
static PyObject *probe_next(Cogroup *g) {
    for (;;) {
        if (g->pk) { /* the pairs of the current probe record */
            if (g->pj < g->cnt[g->pe * g->nsides + 1])
                return pair2(g->pk, g->pv, value_at(g, (size_t)g->pe, 1, g->pj++));
            Py_CLEAR(g->pk);
            Py_CLEAR(g->pv);
        }
        PyObject *item = g->in_bucket ? spill_reader_next(g->st, &g->probe) : PyIter_Next(g->its[0]);
        if (!item) return NULL;
        PyObject *k, *v;
        if (split_pair(item, &k, &v) < 0) goto fail;
        Py_hash_t h = PyObject_Hash(k);
        if (h == -1 && PyErr_Occurred()) goto fail;
        Py_ssize_t e = table_find(g, k, h, 0);
        if (e == -2) goto fail;
        PyObject *out = NULL;
        switch (g->how) {
        case HOW_RIGHT:
        case HOW_FULL:
            if (e >= 0) g->ent[e].matched = 1;
            /* fall through */
        case HOW_JOIN:
        case HOW_LEFT:
            if (e >= 0) {
                g->pk = Py_NewRef(k);
                g->pv = Py_NewRef(v);
                g->pe = e;
                g->pj = 0;
            } else if (g->how == HOW_LEFT || g->how == HOW_FULL) {
                out = pair2(k, v, Py_None);
                if (!out) goto fail;
            }
            break;
        case HOW_SUBTRACT_BY_KEY:
            if (e < 0) out = PyTuple_CheckExact(item) ? Py_NewRef(item) : PyTuple_Pack(2, k, v);
            break;
        case HOW_SUBTRACT:
            if (e < 0) out = Py_NewRef(k);
            break;
        case HOW_INTERSECTION:
            if (e >= 0 && !g->ent[e].matched) {
                g->ent[e].matched = 1;
                out = Py_NewRef(k);
            }
            break;
        }
        Py_DECREF(item);
        if (out || PyErr_Occurred()) return out;
        continue;
    fail:
        Py_DECREF(item);
        return NULL;
    }
}

static PyObject *Cogroup_next(Cogroup *g) {
    for (;;) {
        PyObject *out;
        switch (g->state) {
        case ST_START:
            if (build_inputs(g) < 0) goto fail;
            if (g->in_bucket && build_bucket(g) < 0) goto fail;
            g->state = is_join(g->how) ? ST_PROBE : ST_TAIL;
            break;
        case ST_PROBE:
            out = probe_next(g);
            if (out) return out;
            if (PyErr_Occurred()) goto fail;
            spill_reader_close(&g->probe);
            Py_CLEAR(g->its[0]);
            g->state = ST_TAIL;
            g->tail = g->tj = 0;
            break;
        case ST_TAIL:
            out = tail_next(g);
            if (out) return out;
            if (PyErr_Occurred()) goto fail;
            g->state = g->in_bucket ? ST_NEXT_BUCKET : ST_DONE;
            break;
        case ST_NEXT_BUCKET:
            if (++g->bucket >= SPILL_BUCKETS) {
                files_free(g, g->files); /* read whole: removed */
                g->files = NULL;
                if (g->depth > 0) { /* the split bucket is done: on to the next one above */
                    g->depth--;
                    g->files = g->up[g->depth].files;
                    g->bucket = g->up[g->depth].bucket;
                    g->up[g->depth].files = NULL;
                    break;
                }
                table_clear(g);
                g->state = ST_DONE;
                break;
            }
            if (build_bucket(g) < 0) goto fail;
            g->tail = g->tj = 0;
            g->state = is_join(g->how) ? ST_PROBE : ST_TAIL;
            break;
        default:
            return NULL;
        }
    }
fail:
    g->state = ST_DONE;
    return NULL;
}

static void Cogroup_dealloc(Cogroup *g) {
    PyTypeObject *tp = Py_TYPE(g);
    table_clear(g);
    emberH_free(&g->ix);
    PyMem_Free(g->ent);
    PyMem_Free(g->vals);
    PyMem_Free(g->cnt);
    for (Py_ssize_t s = 0; g->its && s < g->nsides; s++)
        Py_XDECREF(g->its[s]);
    PyMem_Free(g->its);
    files_free(g, g->files);
    for (int d = 0; d < g->depth; d++)
        files_free(g, g->up[d].files);
    spill_reader_close(&g->probe);
    Py_XDECREF(g->pk);
    Py_XDECREF(g->pv);
    Py_XDECREF(g->ri_type);
    Py_XDECREF(g->create);
    Py_XDECREF(g->merge_value);
    Py_XDECREF(g->merge_combiners);
    Py_XDECREF(g->s_data);
    Py_XDECREF(g->s_index);
    Py_XDECREF(g->s_maxindex);
    PyMem_Free(g->dir);
    tp->tp_free(g);
    Py_DECREF(tp);
}

static PyObject *Cogroup_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"sides",  "how",         "limit",           "dir", "result_iterable",
                             "create", "merge_value", "merge_combiners", NULL};
    PyObject *sides, *ri, *create = Py_None, *merge_value = Py_None, *merge_combiners = Py_None;
    int how;
    Py_ssize_t limit;
    const char *dir;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OinsO|OOO", kwlist, &sides, &how, &limit, &dir, &ri, &create,
                                     &merge_value, &merge_combiners))
        return NULL;
    if (how == HOW_COMBINE && (merge_value == Py_None || merge_combiners == Py_None))
        return PyErr_Format(PyExc_TypeError, "a combining cogroup needs merge_value and merge_combiners");
    if (how < HOW_JOIN || how > HOW_COMBINE) return PyErr_Format(PyExc_ValueError, "unknown cogroup kind %d", how);
    if (!PyType_Check(ri)) return PyErr_Format(PyExc_TypeError, "result_iterable must be a class");
    PyObject *seq = PySequence_Fast(sides, "sides must be a list of iterables");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    Py_ssize_t want = how == HOW_GROUP || how == HOW_COMBINE ? 1 : how == HOW_COGROUP ? -1 : 2;
    if (n < 1 || (want > 0 && n != want)) {
        Py_DECREF(seq);
        return PyErr_Format(PyExc_ValueError, "cogroup kind %d takes %zd input sides, got %zd", how, want, n);
    }
    Cogroup *g = (Cogroup *)type->tp_alloc(type, 0);
    if (!g) {
        Py_DECREF(seq);
        return NULL;
    }
    g->st = core_state_of_type(type);
    g->how = how;
    g->nsides = n;
    g->limit = limit > 0 ? (size_t)limit : 1;
    g->next_check = g->limit;
    g->ri_type = Py_NewRef(ri);
    g->create = Py_NewRef(create);
    g->merge_value = Py_NewRef(merge_value);
    g->merge_combiners = Py_NewRef(merge_combiners);
    g->its = PyMem_Calloc((size_t)n, sizeof *g->its);
    g->dir = PyMem_Malloc(strlen(dir) + 1);
    g->s_data = PyUnicode_InternFromString("data");
    g->s_index = PyUnicode_InternFromString("index");
    g->s_maxindex = PyUnicode_InternFromString("maxindex");
    if (!g->its || !g->dir) {
        PyErr_NoMemory();
        goto fail;
    }
    if (!g->s_data || !g->s_index || !g->s_maxindex) goto fail;
    strcpy(g->dir, dir);
    int rc = emberH_init(&g->ix);
    if (rc) {
        core_raise(g->st, rc);
        goto fail;
    }
    for (Py_ssize_t s = 0; s < n; s++)
        if (!(g->its[s] = PyObject_GetIter(PySequence_Fast_GET_ITEM(seq, s)))) goto fail;
    Py_DECREF(seq);
    table_clear(g);
    return (PyObject *)g;
fail:
    Py_DECREF(seq);
    Py_DECREF(g);
    return NULL;
}

static PyType_Slot Cogroup_slots[] = {
    {Py_tp_new, Cogroup_new},
    {Py_tp_dealloc, Cogroup_dealloc},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, Cogroup_next},
    {Py_tp_doc, "Cogroup(sides, how, limit, dir, result_iterable, create=None, merge_value=None, "
                "merge_combiners=None): the joined, grouped or combined records of one reduce partition, computed "
                "in C, spilling past limit bytes into dir."},
    {0, NULL},
};

static PyType_Spec Cogroup_spec = {"ember._core.Cogroup", sizeof(Cogroup), 0, Py_TPFLAGS_DEFAULT, Cogroup_slots};

int core_add_cogroup(PyObject *m, core_state *st) {
    st->Cogroup_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &Cogroup_spec, NULL);
    if (!st->Cogroup_type || PyModule_AddType(m, st->Cogroup_type) < 0) return -1;
    st->SpilledValues_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &SpilledValues_spec, NULL);
    if (!st->SpilledValues_type || PyModule_AddType(m, st->SpilledValues_type) < 0) return -1;
    st->SpilledIter_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &SpilledIter_spec, NULL);
    if (!st->SpilledIter_type) return -1;
    static const struct {
        const char *name;
        int value;
    } kinds[] = {
        {"COGROUP_JOIN", HOW_JOIN},
        {"COGROUP_LEFT", HOW_LEFT},
        {"COGROUP_RIGHT", HOW_RIGHT},
        {"COGROUP_FULL", HOW_FULL},
        {"COGROUP_SUBTRACT_BY_KEY", HOW_SUBTRACT_BY_KEY},
        {"COGROUP_SUBTRACT", HOW_SUBTRACT},
        {"COGROUP_INTERSECTION", HOW_INTERSECTION},
        {"COGROUP_ALL", HOW_COGROUP},
        {"COGROUP_GROUP", HOW_GROUP},
        {"COGROUP_COMBINE", HOW_COMBINE},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (PyModule_AddIntConstant(m, kinds[i].name, kinds[i].value) < 0) return -1;
    return 0;
}
