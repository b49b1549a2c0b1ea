/* sort.c — the worker side of sorting: Python values decoded into sort keys (src/sort.c
 * orders them), the range partitioner of sortByKey, the per-partition sort with sorted
 * runs spilled to disk and merged back, the count-and-sample pass behind sortByKey's
 * bounds, and takeOrdered/top's selection.
 *
 * Design
 *  - A key is decoded once per record (keyfunc, when given, called once per record):
 *    exact int (or bool) in 64 bits, float other than NaN, str, bytes, and tuples of
 *    them become emberO_keys; anything else (and a tuple holding it) compares with
 *    Python's own < and == (PyObject_RichCompareBool), which raises what Python
 *    raises. Tuple items live in an arena of key blocks owned by whoever holds the keys.
 *  - A record that is a pair of ints that fit in 64 bits (no keyfunc) is held as one
 *    item and no Python object (a "compact" item: its key's obj is NULL, its value
 *    field holds the second int's bits) and made again when it is taken or spilled:
 *    a third of the memory of the tuple and its two ints, so a partition of such
 *    pairs spills far later, and the objects the reader made are freed at once.
 *  - sort_pairs buffers (key, record) items; every `chunk` records it reads the
 *    process's RSS and, past the limit (spark.python.worker.memory), sorts the buffer
 *    and writes it as a sorted run: a one-bucket shuffle file (src/shuffle.c's writer,
 *    CRC-checked reader) whose records are pickled batches of records — with their keys
 *    when keyfunc made them, so keyfunc is not called again. The RSS rarely drops after
 *    a spill (Python keeps the memory it freed and reuses it), so a later run spills
 *    once it holds as many records as the first, or once the RSS grows 5 % past what
 *    it was after the last spill (PySpark's ExternalSorter uses that 5 % too). At the
 *    end the last buffer is sorted in memory;
 *    with runs on disk, a k-way merge (emberO_merge) streams runs and buffer back, one
 *    batch per run in memory; a run is unlinked once its reader has it open, so spill
 *    files are gone as soon as they are read (and the directory is the context's, which
 *    stop() removes).
 */
#include "core.h"
#include "internal.h"

#include <fcntl.h>
#include <math.h>
#include <unistd.h>

#define KEY_DEPTH 16           /* tuples nested deeper compare with Python's comparison */
#define SPILL_BATCH 4096       /* records per pickled batch of a sorted run */
#define SPILL_BUFFER (1 << 20) /* the run writer's buffer */

/* ---- keys ------------------------------------------------------------------------ */

typedef struct key_block {
    struct key_block *next;
    size_t used, cap;
    emberO_key keys[];
} key_block;

typedef struct {
    key_block *head;
} arena;

static emberO_key *arena_alloc(arena *a, size_t n) {
    key_block *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 4096 ? n : 4096;
        b = PyMem_RawMalloc(sizeof *b + cap * sizeof(emberO_key));
        if (!b) return NULL;
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    emberO_key *k = &b->keys[b->used];
    b->used += n;
    return k;
}

static void arena_clear(arena *a) {
    while (a->head) {
        key_block *next = a->head->next;
        PyMem_RawFree(a->head);
        a->head = next;
    }
}

/* Decodes o into *k (which borrows o and what o holds). Returns 0, or -1 with
 * MemoryError. */
static int key_of(arena *a, PyObject *o, emberO_key *k, int depth) {
    memset(k, 0, sizeof *k);
    k->obj = o;
    k->kind = EMBER_KEY_OBJ;
    if (PyLong_CheckExact(o) || PyBool_Check(o)) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
        if (!overflow && !(v == -1 && PyErr_Occurred())) {
            k->kind = EMBER_KEY_INT;
            k->v.i = v;
        }
        PyErr_Clear();
    } else if (PyFloat_CheckExact(o)) {
        double d = PyFloat_AS_DOUBLE(o);
        if (!isnan(d)) {
            k->kind = EMBER_KEY_FLOAT;
            k->v.f = d;
        }
    } else if (PyUnicode_CheckExact(o)) {
#if PY_VERSION_HEX < 0x030C0000
        if (PyUnicode_READY(o) < 0) return -1;
#endif
        if (PyUnicode_GET_LENGTH(o) <= UINT32_MAX) {
            k->kind = EMBER_KEY_STR;
            k->width = (uint8_t)PyUnicode_KIND(o);
            k->len = (uint32_t)PyUnicode_GET_LENGTH(o);
            k->v.p = PyUnicode_DATA(o);
        }
    } else if (PyBytes_CheckExact(o)) {
        if (PyBytes_GET_SIZE(o) <= UINT32_MAX) {
            k->kind = EMBER_KEY_BYTES;
            k->len = (uint32_t)PyBytes_GET_SIZE(o);
            k->v.p = PyBytes_AS_STRING(o);
        }
    } else if (PyTuple_CheckExact(o) && depth < KEY_DEPTH) {
        Py_ssize_t n = PyTuple_GET_SIZE(o);
        emberO_key *items = arena_alloc(a, (size_t)n);
        if (!items) {
            PyErr_NoMemory();
            return -1;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            if (key_of(a, PyTuple_GET_ITEM(o, i), &items[i], depth + 1) < 0) return -1;
            if (items[i].kind == EMBER_KEY_OBJ) return 0; /* the whole tuple compares in Python */
        }
        k->kind = EMBER_KEY_TUPLE;
        k->len = (uint32_t)n;
        k->v.items = items;
    }
    return 0;
}

/* The object a key was made from (a new reference): its obj, or for a compact item's
 * key (obj NULL) the int again. */
static PyObject *key_object(const emberO_key *k) {
    return k->obj ? Py_NewRef((PyObject *)k->obj) : PyLong_FromLongLong(k->v.i);
}

/* Python's comparison, for keys whose kinds give no order of their own. */
static int py_fallback(void *arg, const emberO_key *a, const emberO_key *b, int op) {
    (void)arg;
    PyObject *x = key_object(a), *y = x ? key_object(b) : NULL;
    int r = y ? PyObject_RichCompareBool(x, y, op == EMBER_KEY_LT ? Py_LT : Py_EQ) : -1;
    Py_XDECREF(x);
    Py_XDECREF(y);
    return r < 0 ? EMBER_ETASK : r;
}

static const emberO_order py_order = {py_fallback, NULL};

/* A failed sort or merge: the Python exception the fallback set, else the engine's. */
static PyObject *sort_failed(core_state *st, int rc) {
    if (PyErr_Occurred()) return NULL;
    return core_raise(st, rc);
}

/* The key record[0] (a new reference), as kv[0]. */
static PyObject *first_of(PyObject *record) {
    if (PyTuple_CheckExact(record) && PyTuple_GET_SIZE(record) > 0) return Py_NewRef(PyTuple_GET_ITEM(record, 0));
    if (PyList_CheckExact(record) && PyList_GET_SIZE(record) > 0) return Py_NewRef(PyList_GET_ITEM(record, 0));
    return PySequence_GetItem(record, 0);
}

/* ---- a buffer of keyed items -------------------------------------------------------- */

/* Items own a reference to their key object and to their value, but compact items
 * (key.obj NULL), which own nothing. */
typedef struct {
    emberO_item *items;
    size_t n, cap;
    arena keys;
} item_buf;

static int buf_grow(item_buf *b) {
    if (b->n < b->cap) return 0;
    size_t cap = b->cap ? b->cap * 2 : 1024;
    emberO_item *items = PyMem_RawRealloc(b->items, cap * sizeof *items);
    if (!items) {
        PyErr_NoMemory();
        return -1;
    }
    b->items = items;
    b->cap = cap;
    return 0;
}

static int is_compact(const emberO_item *it) { return it->key.obj == NULL && it->key.kind == EMBER_KEY_INT; }

/* Appends record as a compact item when it is an exact tuple of two exact ints that fit
 * in 64 bits (and pointers hold 64 bits): 1; else 0, nothing appended; -1 on error. */
static int buf_add_compact(item_buf *b, PyObject *record) {
#if UINTPTR_MAX >= UINT64_MAX
    if (!PyTuple_CheckExact(record) || PyTuple_GET_SIZE(record) != 2) return 0;
    PyObject *k = PyTuple_GET_ITEM(record, 0), *v = PyTuple_GET_ITEM(record, 1);
    if (!PyLong_CheckExact(k) || !PyLong_CheckExact(v)) return 0;
    int ko = 0, vo = 0;
    long long ki = PyLong_AsLongLongAndOverflow(k, &ko), vi = PyLong_AsLongLongAndOverflow(v, &vo);
    if (ko || vo || ((ki == -1 || vi == -1) && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    if (buf_grow(b) < 0) return -1;
    emberO_item *it = &b->items[b->n++];
    memset(&it->key, 0, sizeof it->key);
    it->key.kind = EMBER_KEY_INT;
    it->key.v.i = ki;
    it->value = (void *)(uintptr_t)(uint64_t)vi;
    return 1;
#else
    (void)b;
    (void)record;
    return 0;
#endif
}

/* The record of item it, a new reference (the pair made again for a compact item). */
static PyObject *item_record(const emberO_item *it) {
    if (!is_compact(it)) return Py_NewRef((PyObject *)it->value);
    PyObject *k = PyLong_FromLongLong(it->key.v.i);
    PyObject *v = k ? PyLong_FromLongLong((long long)(int64_t)(uintptr_t)it->value) : NULL;
    PyObject *pair = v ? PyTuple_Pack(2, k, v) : NULL;
    Py_XDECREF(k);
    Py_XDECREF(v);
    return pair;
}

/* Appends (key, value), taking the reference to key; value gets a new one. */
static int buf_add(item_buf *b, PyObject *key, PyObject *value) {
    if (buf_grow(b) < 0) {
        Py_DECREF(key);
        return -1;
    }
    emberO_item *it = &b->items[b->n];
    if (key_of(&b->keys, key, &it->key, 0) < 0) {
        Py_DECREF(key);
        return -1;
    }
    it->value = Py_NewRef(value);
    b->n++;
    return 0;
}

/* Releases the items from `from` on and empties the buffer (keeps its array). */
static void buf_release(item_buf *b, size_t from) {
    for (size_t i = from; i < b->n; i++) {
        if (is_compact(&b->items[i])) continue;
        Py_XDECREF((PyObject *)b->items[i].key.obj);
        Py_XDECREF((PyObject *)b->items[i].value);
    }
    b->n = 0;
    arena_clear(&b->keys);
}

static void buf_free(item_buf *b) {
    buf_release(b, 0);
    PyMem_RawFree(b->items);
    b->items = NULL;
    b->cap = 0;
}

/* The key of a record (keyfunc(record[0]), record[0], or keyfunc(record) / record for
 * whole elements), a new reference. */
static PyObject *key_for(PyObject *record, PyObject *keyfunc, int pairs) {
    PyObject *k = pairs ? first_of(record) : Py_NewRef(record);
    if (!k || keyfunc == Py_None) return k;
    PyObject *r = PyObject_CallOneArg(keyfunc, k);
    Py_DECREF(k);
    return r;
}

/* ---- the range partitioner --------------------------------------------------------- */

typedef struct {
    PyObject_HEAD PyObject *bounds; /* list of the bounds, in keyfunc's terms */
    PyObject *keyfunc;              /* or None */
    Py_ssize_t nparts;
    int ascending;
    emberO_key *keys; /* [len(bounds)] */
    size_t nkeys;
    arena arena;
} RangePartitioner;

static PyObject *RangePartitioner_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"bounds", "numPartitions", "ascending", "keyfunc", NULL};
    PyObject *bounds, *keyfunc = Py_None;
    Py_ssize_t nparts;
    int ascending = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "On|pO:RangePartitioner", kwlist, &bounds, &nparts, &ascending,
                                     &keyfunc))
        return NULL;
    if (nparts < 1) return PyErr_Format(PyExc_ValueError, "numPartitions must be positive, got %zd", nparts);
    if (keyfunc != Py_None && !PyCallable_Check(keyfunc))
        return PyErr_Format(PyExc_TypeError, "keyfunc must be callable or None, got a %.100s",
                            Py_TYPE(keyfunc)->tp_name);
    PyObject *list = PySequence_List(bounds);
    if (!list) return NULL;
    RangePartitioner *self = (RangePartitioner *)type->tp_alloc(type, 0);
    if (!self) {
        Py_DECREF(list);
        return NULL;
    }
    self->bounds = list;
    self->keyfunc = Py_NewRef(keyfunc);
    self->nparts = nparts;
    self->ascending = ascending;
    self->nkeys = (size_t)PyList_GET_SIZE(list);
    self->keys = PyMem_RawCalloc(self->nkeys ? self->nkeys : 1, sizeof *self->keys);
    if (!self->keys) goto fail;
    for (size_t i = 0; i < self->nkeys; i++)
        if (key_of(&self->arena, PyList_GET_ITEM(list, i), &self->keys[i], 0) < 0) goto fail;
    return (PyObject *)self;
fail:
    if (!PyErr_Occurred()) PyErr_NoMemory();
    Py_DECREF(self);
    return NULL;
}

static void RangePartitioner_dealloc(RangePartitioner *self) {
    PyTypeObject *tp = Py_TYPE(self);
    arena_clear(&self->arena);
    PyMem_RawFree(self->keys);
    Py_XDECREF(self->bounds);
    Py_XDECREF(self->keyfunc);
    tp->tp_free(self);
    Py_DECREF(tp);
}

int core_range_partition(PyObject *partitioner, PyObject *key, Py_ssize_t *out) {
    RangePartitioner *self = (RangePartitioner *)partitioner;
    PyObject *k = key_for(key, self->keyfunc, 0);
    if (!k) return -1;
    arena a = {NULL};
    emberO_key x;
    size_t p = 0;
    int rc = key_of(&a, k, &x, 0);
    if (rc == 0) {
        rc = emberO_bisect_left(&py_order, self->keys, self->nkeys, &x, &p);
        if (rc && !PyErr_Occurred()) core_raise(core_state_of_type(Py_TYPE(partitioner)), rc);
    }
    arena_clear(&a);
    Py_DECREF(k);
    if (rc) return -1;
    *out = self->ascending ? (Py_ssize_t)p : self->nparts - 1 - (Py_ssize_t)p;
    return 0;
}

static PyObject *RangePartitioner_call(PyObject *self, PyObject *args, PyObject *kwds) {
    PyObject *key;
    if (!PyArg_ParseTuple(args, "O:RangePartitioner", &key) || (kwds && PyDict_Size(kwds))) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "RangePartitioner takes one key, no keywords");
        return NULL;
    }
    Py_ssize_t p;
    if (core_range_partition(self, key, &p) < 0) return NULL;
    return PyLong_FromSsize_t(p);
}

static PyObject *RangePartitioner_reduce(RangePartitioner *self, PyObject *unused) {
    (void)unused;
    return Py_BuildValue("O(OnOO)", Py_TYPE(self), self->bounds, self->nparts, self->ascending ? Py_True : Py_False,
                         self->keyfunc);
}

static PyObject *RangePartitioner_repr(RangePartitioner *self) {
    return PyUnicode_FromFormat("RangePartitioner(%R, %zd, ascending=%s, keyfunc=%R)", self->bounds, self->nparts,
                                self->ascending ? "True" : "False", self->keyfunc);
}

static PyObject *get_bounds(RangePartitioner *self, void *c) {
    (void)c;
    return PyList_GetSlice(self->bounds, 0, PY_SSIZE_T_MAX);
}
static PyObject *get_nparts(RangePartitioner *self, void *c) {
    (void)c;
    return PyLong_FromSsize_t(self->nparts);
}
static PyObject *get_ascending(RangePartitioner *self, void *c) {
    (void)c;
    return PyBool_FromLong(self->ascending);
}
static PyObject *get_keyfunc(RangePartitioner *self, void *c) {
    (void)c;
    return Py_NewRef(self->keyfunc);
}

static PyGetSetDef RangePartitioner_getset[] = {
    {"bounds", (getter)get_bounds, NULL, "the numPartitions - 1 boundaries, in keyfunc's terms", NULL},
    {"numPartitions", (getter)get_nparts, NULL, "the number of partitions", NULL},
    {"ascending", (getter)get_ascending, NULL, "False: partition numbers are mirrored", NULL},
    {"keyfunc", (getter)get_keyfunc, NULL, "applied to a key before it is placed (None: the key itself)", NULL},
    {NULL},
};

static PyMethodDef RangePartitioner_methods[] = {
    {"__reduce__", (PyCFunction)RangePartitioner_reduce, METH_NOARGS, NULL},
    {NULL},
};

static PyType_Slot RangePartitioner_slots[] = {
    {Py_tp_doc, "RangePartitioner(bounds, numPartitions, ascending=True, keyfunc=None)\n--\n\n"
                "A partition function: bisect_left(bounds, keyfunc(key)), mirrored (numPartitions - 1 - p) "
                "when not ascending. Keys decode to C sort keys; other types compare with Python's <."},
    {Py_tp_new, RangePartitioner_new},
    {Py_tp_dealloc, RangePartitioner_dealloc},
    {Py_tp_call, RangePartitioner_call},
    {Py_tp_repr, RangePartitioner_repr},
    {Py_tp_getset, RangePartitioner_getset},
    {Py_tp_methods, RangePartitioner_methods},
    {0, NULL},
};

static PyType_Spec RangePartitioner_spec = {"ember._core.RangePartitioner", sizeof(RangePartitioner), 0,
                                            Py_TPFLAGS_DEFAULT, RangePartitioner_slots};

/* ---- sorted runs on disk ------------------------------------------------------------ */

/* The process's resident bytes, or 0 when /proc cannot tell. */
static uint64_t rss_bytes(void) {
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    unsigned long long size = 0, resident = 0;
    if (sscanf(buf, "%llu %llu", &size, &resident) != 2) return 0;
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* A run being read back: one pickled batch at a time. */
typedef struct {
    char *path; /* NULL once unlinked */
    ember_shuffle_reader *reader;
    item_buf batch;
    size_t pos;
} run_src;

static void run_close(run_src *r) {
    buf_free(&r->batch);
    ember_shuffle_reader_close(r->reader);
    r->reader = NULL;
    if (r->path) {
        unlink(r->path);
        PyMem_RawFree(r->path);
        r->path = NULL;
    }
}

typedef struct {
    PyObject_HEAD core_state *st;
    int descending, keyed; /* keyed: keyfunc made the keys, which the runs store */
    int values;            /* yield record[1], not the record */
    item_buf mem;          /* the last buffer, sorted: read from mem_pos */
    size_t mem_pos;
    run_src *runs;
    size_t nruns;
    emberO_merge merge; /* with runs: sources 0..nruns-1 the runs, nruns the buffer */
    int merging;
    uint64_t spilled_bytes;
} SortIter;

/* What a spill of the buffer frees, for the task's memoryBytesSpilled: the items and each
 * record with the items of a (key, value) pair, estimated as the grouping tables count
 * their budgets (core_obj_size). */
static uint64_t buffer_bytes(const item_buf *b) {
    uint64_t n = (uint64_t)b->n * sizeof *b->items;
    for (size_t i = 0; i < b->n; i++)
        if (!is_compact(&b->items[i])) n += core_obj_size((PyObject *)b->items[i].value, 1);
    return n;
}

/* Writes the sorted buffer as a run file and counts it in the task's spill figures;
 * empties the buffer. Returns 0 or -1. */
static int spill(SortIter *s, item_buf *b, const char *dir) {
    core_state *st = s->st;
    int rc = emberO_sort(&py_order, b->items, b->n, s->descending);
    if (rc) {
        sort_failed(st, rc);
        return -1;
    }
    run_src *runs = PyMem_RawRealloc(s->runs, (s->nruns + 1) * sizeof *runs);
    if (!runs) {
        PyErr_NoMemory();
        return -1;
    }
    s->runs = runs;
    run_src *r = memset(&runs[s->nruns], 0, sizeof *runs);
    char path[4096];
    snprintf(path, sizeof path, "%s/sort-%ld-%p-%zu.run", dir, (long)getpid(), (void *)s, s->nruns);
    if (!(r->path = PyMem_RawMalloc(strlen(path) + 1))) {
        PyErr_NoMemory();
        return -1;
    }
    strcpy(r->path, path);
    s->nruns++;
    ember_shuffle_writer *w;
    rc = ember_shuffle_writer_open(path, 1, SPILL_BUFFER, &w);
    if (rc) {
        core_raise(st, rc);
        return -1;
    }
    uint64_t size = 0;
    for (size_t at = 0; at < b->n; at += SPILL_BATCH) {
        size_t end = at + SPILL_BATCH < b->n ? at + SPILL_BATCH : b->n;
        PyObject *values = PyList_New((Py_ssize_t)(end - at)), *keys = NULL, *obj;
        if (!values) goto fail;
        if (s->keyed && !(keys = PyList_New((Py_ssize_t)(end - at)))) {
            Py_DECREF(values);
            goto fail;
        }
        for (size_t i = at; i < end; i++) {
            PyObject *record = item_record(&b->items[i]);
            if (!record) {
                Py_DECREF(values);
                Py_XDECREF(keys);
                goto fail;
            }
            PyList_SET_ITEM(values, (Py_ssize_t)(i - at), record);
            if (keys) PyList_SET_ITEM(keys, (Py_ssize_t)(i - at), Py_NewRef((PyObject *)b->items[i].key.obj));
        }
        obj = keys ? PyTuple_Pack(2, keys, values) : Py_NewRef(values);
        Py_DECREF(values);
        Py_XDECREF(keys);
        if (!obj) goto fail;
        PyObject *a[2] = {obj, st->protocol};
        PyObject *bytes = PyObject_Vectorcall(st->dumps, a, 2, NULL);
        Py_DECREF(obj);
        if (!bytes) goto fail;
        rc = ember_shuffle_writer_append(w, 0, PyBytes_AS_STRING(bytes), (size_t)PyBytes_GET_SIZE(bytes));
        Py_DECREF(bytes);
        if (rc) {
            core_raise(st, rc);
            goto fail;
        }
    }
    rc = ember_shuffle_writer_commit(w, &size);
    if (rc) {
        core_raise(st, rc);
        return -1;
    }
    s->spilled_bytes += size;
    core_note_spill(st, buffer_bytes(b), size);
    buf_release(b, 0);
    return 0;
fail:
    ember_shuffle_writer_abort(w);
    return -1;
}

/* Reads the next batch of run r into r->batch. Returns 1, 0 at the end (run closed and
 * removed), or -1 with an exception. */
static int run_load(SortIter *s, run_src *r) {
    buf_release(&r->batch, 0);
    r->pos = 0;
    const void *data;
    size_t len;
    int rc = ember_shuffle_reader_next(r->reader, &data, &len);
    if (r->path && rc >= 0) { /* open now: the name is no longer needed */
        unlink(r->path);
        PyMem_RawFree(r->path);
        r->path = NULL;
    }
    if (rc < 0) {
        core_raise(s->st, rc);
        return -1;
    }
    if (rc == 0) {
        run_close(r);
        return 0;
    }
    PyObject *mv = PyMemoryView_FromMemory((char *)data, (Py_ssize_t)len, PyBUF_READ);
    if (!mv) return -1;
    PyObject *obj = PyObject_CallOneArg(s->st->loads, mv);
    Py_DECREF(mv);
    if (!obj) return -1;
    PyObject *keys = NULL, *values = obj;
    if (s->keyed) {
        if (!PyTuple_CheckExact(obj) || PyTuple_GET_SIZE(obj) != 2 || !PyList_CheckExact(PyTuple_GET_ITEM(obj, 0)) ||
            !PyList_CheckExact(PyTuple_GET_ITEM(obj, 1)) ||
            PyList_GET_SIZE(PyTuple_GET_ITEM(obj, 0)) != PyList_GET_SIZE(PyTuple_GET_ITEM(obj, 1)))
            goto bad;
        keys = PyTuple_GET_ITEM(obj, 0);
        values = PyTuple_GET_ITEM(obj, 1);
    } else if (!PyList_CheckExact(obj)) {
        goto bad;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(values); i++) {
        PyObject *v = PyList_GET_ITEM(values, i);
        int compact = keys ? 0 : buf_add_compact(&r->batch, v);
        if (compact == 1) continue;
        PyObject *k = compact < 0 ? NULL : keys ? Py_NewRef(PyList_GET_ITEM(keys, i)) : first_of(v);
        if (!k || buf_add(&r->batch, k, v) < 0) {
            Py_DECREF(obj);
            return -1;
        }
    }
    Py_DECREF(obj);
    return r->batch.n ? 1 : run_load(s, r);
bad:
    Py_DECREF(obj);
    PyErr_Format(PyExc_OSError, "sorted run %s holds a batch of the wrong shape", ember_shuffle_reader_file(r->reader));
    return -1;
}

/* The current key of merge source i, or NULL when it is done. */
static const emberO_key *source_key(SortIter *s, size_t i) {
    if (i < s->nruns) {
        run_src *r = &s->runs[i];
        return r->pos < r->batch.n ? &r->batch.items[r->pos].key : NULL;
    }
    return s->mem_pos < s->mem.n ? &s->mem.items[s->mem_pos].key : NULL;
}

static int start_merge(SortIter *s) {
    for (size_t i = 0; i < s->nruns; i++) {
        int rc = ember_shuffle_reader_open((const char *const *)&s->runs[i].path, 1, 0, &s->runs[i].reader);
        if (rc) {
            core_raise(s->st, rc);
            return -1;
        }
        if (run_load(s, &s->runs[i]) < 0) return -1;
    }
    const emberO_key **first = PyMem_RawCalloc(s->nruns + 1, sizeof *first);
    if (!first) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i <= s->nruns; i++)
        first[i] = source_key(s, i);
    int rc = emberO_merge_init(&s->merge, &py_order, s->descending, s->nruns + 1);
    if (!rc) {
        s->merging = 1;
        rc = emberO_merge_start(&s->merge, first);
    }
    PyMem_RawFree(first);
    if (rc) {
        sort_failed(s->st, rc);
        return -1;
    }
    return 0;
}

/* Takes the value of item it (the caller owns it now; NULL with an exception when a
 * compact item's pair cannot be made) and drops its key. */
static PyObject *take(emberO_item *it) {
    if (is_compact(it)) return item_record(it);
    PyObject *v = it->value;
    Py_CLEAR(*(PyObject **)&it->key.obj);
    it->value = NULL;
    return v;
}

static PyObject *next_record(SortIter *s);

static PyObject *SortIter_next(SortIter *s) {
    PyObject *r = next_record(s);
    if (!r || !s->values) return r;
    PyObject *v = PyTuple_CheckExact(r) && PyTuple_GET_SIZE(r) == 2 ? Py_NewRef(PyTuple_GET_ITEM(r, 1))
                                                                    : PySequence_GetItem(r, 1);
    Py_DECREF(r);
    return v;
}

static PyObject *next_record(SortIter *s) {
    if (!s->merging) {
        if (s->mem_pos < s->mem.n) return take(&s->mem.items[s->mem_pos++]);
        buf_free(&s->mem);
        return NULL;
    }
    int top = emberO_merge_top(&s->merge);
    if (top < 0) return NULL;
    PyObject *v;
    if ((size_t)top == s->nruns) {
        v = take(&s->mem.items[s->mem_pos++]);
        if (!v) return NULL;
    } else {
        run_src *r = &s->runs[top];
        v = take(&r->batch.items[r->pos++]);
        if (!v) return NULL;
        if (r->pos == r->batch.n && run_load(s, r) < 0) {
            Py_DECREF(v);
            return NULL;
        }
    }
    int rc = emberO_merge_advance(&s->merge, source_key(s, (size_t)top));
    if (rc) {
        Py_DECREF(v);
        return sort_failed(s->st, rc);
    }
    return v;
}

static void SortIter_dealloc(SortIter *s) {
    PyTypeObject *tp = Py_TYPE(s);
    buf_free(&s->mem);
    for (size_t i = 0; i < s->nruns; i++)
        run_close(&s->runs[i]);
    PyMem_RawFree(s->runs);
    emberO_merge_free(&s->merge);
    tp->tp_free(s);
    Py_DECREF(tp);
}

static PyObject *SortIter_runs(SortIter *s, void *c) {
    (void)c;
    return PyLong_FromSize_t(s->nruns);
}

static PyObject *SortIter_spilled(SortIter *s, void *c) {
    (void)c;
    return PyLong_FromUnsignedLongLong(s->spilled_bytes);
}

static PyGetSetDef SortIter_getset[] = {
    {"runs", (getter)SortIter_runs, NULL, "sorted runs written to disk", NULL},
    {"spilled_bytes", (getter)SortIter_spilled, NULL, "bytes of the run files", NULL},
    {NULL},
};

static PyType_Slot SortIter_slots[] = {
    {Py_tp_doc, "The records of a partition in key order (see sort_pairs)."},
    {Py_tp_dealloc, SortIter_dealloc},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, SortIter_next},
    {Py_tp_getset, SortIter_getset},
    {0, NULL},
};

static PyType_Spec SortIter_spec = {"ember._core.SortIter", sizeof(SortIter), 0, Py_TPFLAGS_DEFAULT, SortIter_slots};

/* sort_pairs(iterable, ascending, keyfunc, limit, spill_dir, chunk=65536, values=False) -> iterator */
static PyObject *py_sort_pairs(PyObject *m, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"iterable", "ascending", "keyfunc", "limit", "spill_dir", "chunk", "values", NULL};
    core_state *st = core_get_state(m);
    PyObject *src, *keyfunc;
    int ascending;
    long long limit;
    const char *dir;
    Py_ssize_t chunk = 65536;
    int values = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OpOLs|np:sort_pairs", kwlist, &src, &ascending, &keyfunc, &limit,
                                     &dir, &chunk, &values))
        return NULL;
    if (chunk < 1) chunk = 1;
    PyObject *it = PyObject_GetIter(src);
    if (!it) return NULL;
    SortIter *s = PyObject_New(SortIter, st->SortIter_type);
    if (!s) {
        Py_DECREF(it);
        return NULL;
    }
    memset((char *)s + sizeof(PyObject), 0, sizeof *s - sizeof(PyObject));
    s->st = st;
    s->descending = !ascending;
    s->keyed = keyfunc != Py_None;
    s->values = values;
    uint64_t lim = limit > 0 ? (uint64_t)limit : 0, grown = 0;
    size_t run_records = 0; /* the first run's size */
    PyObject *rec;
    Py_ssize_t since_check = 0;
    while ((rec = PyIter_Next(it))) {
        int compact = keyfunc == Py_None ? buf_add_compact(&s->mem, rec) : 0;
        PyObject *k = compact ? NULL : key_for(rec, keyfunc, 1);
        int bad = compact < 0 || (!compact && (!k || buf_add(&s->mem, k, rec) < 0));
        Py_DECREF(rec);
        if (bad) goto fail;
        if (++since_check >= chunk) {
            since_check = 0;
            uint64_t rss = rss_bytes();
            if (rss > lim && (!s->nruns || s->mem.n >= run_records || rss > grown)) {
                if (!s->nruns) run_records = s->mem.n;
                if (spill(s, &s->mem, dir) < 0) goto fail;
                grown = rss_bytes();
                grown += grown / 20;
            }
        }
    }
    if (PyErr_Occurred()) goto fail;
    Py_CLEAR(it);
    int rc = emberO_sort(&py_order, s->mem.items, s->mem.n, s->descending);
    if (rc) {
        sort_failed(st, rc);
        goto fail;
    }
    if (s->nruns && start_merge(s) < 0) goto fail;
    return (PyObject *)s;
fail:
    Py_XDECREF(it);
    Py_DECREF(s);
    return NULL;
}

/* ---- the sample behind sortByKey's bounds ------------------------------------------- */

/* count_and_sample(iterable, random, max_sample) -> (count, [(u, key), ...]):
 * draws u = random() per record, as sample(False, fraction) does, and keeps (u, kv[0])
 * for each u < max_sample / count-so-far: every record a sample with fraction
 * min(max_sample / total, 1.0) would keep, whatever the total turns out to be. */
static PyObject *py_count_and_sample(PyObject *m, PyObject *args) {
    (void)m;
    PyObject *src, *random;
    double max_sample;
    if (!PyArg_ParseTuple(args, "OOd:count_and_sample", &src, &random, &max_sample)) return NULL;
    PyObject *it = PyObject_GetIter(src), *kept = PyList_New(0), *rec = NULL, *result = NULL;
    if (!it || !kept) goto done;
    Py_ssize_t count = 0, prune_at = (Py_ssize_t)(2 * max_sample) + 1024;
    while ((rec = PyIter_Next(it))) {
        count++;
        PyObject *u = PyObject_CallNoArgs(random);
        if (!u) goto done;
        double d = PyFloat_AsDouble(u);
        if (d == -1.0 && PyErr_Occurred()) {
            Py_DECREF(u);
            goto done;
        }
        if (d < max_sample / (double)count) {
            PyObject *k = first_of(rec), *pair = k ? PyTuple_Pack(2, u, k) : NULL;
            Py_XDECREF(k);
            if (!pair || PyList_Append(kept, pair) < 0) {
                Py_XDECREF(pair);
                Py_DECREF(u);
                goto done;
            }
            Py_DECREF(pair);
        }
        Py_DECREF(u);
        Py_CLEAR(rec);
        if (PyList_GET_SIZE(kept) > prune_at) { /* drop those no total can keep now */
            Py_ssize_t j = 0, n = PyList_GET_SIZE(kept);
            double t = max_sample / (double)count;
            for (Py_ssize_t i = 0; i < n; i++) {
                PyObject *p = PyList_GET_ITEM(kept, i);
                if (PyFloat_AsDouble(PyTuple_GET_ITEM(p, 0)) < t) { /* u was checked to convert */
                    Py_INCREF(p);
                    PyList_SetItem(kept, j++, p);
                }
            }
            if (PyList_SetSlice(kept, j, n, NULL) < 0) goto done;
            prune_at = 2 * j + 1024;
        }
    }
    if (PyErr_Occurred()) goto done;
    result = Py_BuildValue("nO", count, kept);
done:
    Py_XDECREF(rec);
    Py_XDECREF(it);
    Py_XDECREF(kept);
    return result;
}

/* ---- takeOrdered and top ------------------------------------------------------------ */

/* take_ordered(iterable, num, key=None, descending=False) -> list: the first num
 * elements of sorted(iterable, key=key, reverse=descending), as heapq.nsmallest and
 * nlargest give them. Holds at most max(2 num, 4096) elements at a time. */
static PyObject *py_take_ordered(PyObject *m, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"iterable", "num", "key", "descending", NULL};
    core_state *st = core_get_state(m);
    PyObject *src, *keyfunc = Py_None;
    Py_ssize_t num;
    int descending = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "On|Op:take_ordered", kwlist, &src, &num, &keyfunc, &descending))
        return NULL;
    if (num <= 0) return PyList_New(0);
    PyObject *it = PyObject_GetIter(src), *rec, *result = NULL;
    if (!it) return NULL;
    item_buf b = {0};
    size_t room = (size_t)num < 2048 ? 4096 : 2 * (size_t)num;
    int rc;
    while ((rec = PyIter_Next(it))) {
        PyObject *k = key_for(rec, keyfunc, 0);
        int bad = !k || buf_add(&b, k, rec) < 0;
        Py_DECREF(rec);
        if (bad) goto done;
        if (b.n >= room) {
            if ((rc = emberO_sort(&py_order, b.items, b.n, descending))) {
                sort_failed(st, rc);
                goto done;
            }
            size_t n = b.n;
            for (size_t i = (size_t)num; i < n; i++) {
                Py_CLEAR(*(PyObject **)&b.items[i].key.obj);
                Py_CLEAR(*(PyObject **)&b.items[i].value);
            }
            b.n = (size_t)num;
            /* the kept keys move to a fresh arena, so that it holds num keys' items */
            arena old = b.keys;
            b.keys.head = NULL;
            for (size_t i = 0; i < b.n; i++)
                if (key_of(&b.keys, b.items[i].key.obj, &b.items[i].key, 0) < 0) {
                    arena_clear(&old);
                    goto done;
                }
            arena_clear(&old);
        }
    }
    if (PyErr_Occurred()) goto done;
    if ((rc = emberO_sort(&py_order, b.items, b.n, descending))) {
        sort_failed(st, rc);
        goto done;
    }
    size_t n = b.n < (size_t)num ? b.n : (size_t)num;
    result = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; result && i < n; i++)
        PyList_SET_ITEM(result, (Py_ssize_t)i, take(&b.items[i]));
done:
    Py_DECREF(it);
    buf_free(&b);
    return result;
}

static PyMethodDef sort_methods[] = {
    {"sort_pairs", (PyCFunction)(void (*)(void))py_sort_pairs, METH_VARARGS | METH_KEYWORDS,
     "sort_pairs(iterable, ascending, keyfunc, limit, spill_dir, chunk=65536, values=False) -> iterator\n\n"
     "The (key, value) records sorted by keyfunc(key) (keyfunc None: the key), stably; with values, only "
     "each record's value. Every chunk records the process RSS is checked against limit bytes; past it the "
     "buffer is written as a sorted run under spill_dir, and the runs are merged back at the end."},
    {"count_and_sample", py_count_and_sample, METH_VARARGS,
     "count_and_sample(iterable, random, max_sample) -> (count, [(u, key), ...])"},
    {"take_ordered", (PyCFunction)(void (*)(void))py_take_ordered, METH_VARARGS | METH_KEYWORDS,
     "take_ordered(iterable, num, key=None, descending=False) -> the first num of sorted(iterable, key=key, "
     "reverse=descending)"},
    {NULL, NULL, 0, NULL},
};

int core_add_sort(PyObject *m, core_state *st) {
    st->RangePartitioner_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &RangePartitioner_spec, NULL);
    st->SortIter_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &SortIter_spec, NULL);
    if (!st->RangePartitioner_type || !st->SortIter_type) return -1;
    if (PyModule_AddType(m, st->RangePartitioner_type) < 0) return -1;
    return PyModule_AddFunctions(m, sort_methods);
}
