/* pipeline.c — the worker's record loop: consecutive narrow transformations of a
 * stage applied in C, so the user's functions are the only Python bytecode run per
 * record.
 *
 * PipeIter(source, ops) is an iterator: it pulls a record from `source` and pushes
 * it through ops — (kind, function) pairs of kind MAP, FLATMAP, FILTER, MAPVALUES,
 * FLATMAPVALUES, KEYBY (x -> (f(x), x)) — calling each function with vectorcall; and
 * the function-less KEYS, VALUES (a pair's key or value) and PAIR (x -> (x, c), the
 * op's "function" being the constant c), which keys(), values(), distinct(),
 * subtract() and intersection() use (c None), and map() for a function that only
 * returns (x, c) (rdd.py's _pair_constant). A flat-map op leaves its
 * result iterator on a small stack; the next call resumes from the deepest one.
 * mapPartitions functions, which take an iterator, are chained between PipeIters by
 * the Python worker.
 */
#include "core.h"

enum {
    OP_MAP = 1,
    OP_FLATMAP = 2,
    OP_FILTER = 3,
    OP_MAPVALUES = 4,
    OP_FLATMAPVALUES = 5,
    OP_KEYBY = 6,
    OP_KEYS = 7,
    OP_VALUES = 8,
    OP_PAIR = 9,
};

typedef struct {
    int kind;
    PyObject *f;
} op_t;

typedef struct {
    PyObject_HEAD PyObject *src;
    Py_ssize_t nops;
    op_t *ops;
    PyObject **sub;    /* per op: the active iterator of a flat-map op, or NULL */
    PyObject **subkey; /* per op: the key a flatMapValues op pairs with */
    Py_ssize_t top;    /* highest op with an active iterator, or -1 */
} PipeIter;

/* A StopIteration escaping a user function would silently end the partition:
 * turn it into an error that fails the task, as PySpark does. */
void core_fail_on_stopiteration(void) {
    if (!PyErr_ExceptionMatches(PyExc_StopIteration)) return;
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    PyObject *r = PyObject_Repr(v ? v : Py_None);
    PyErr_Format(PyExc_RuntimeError,
                 "[STOP_ITERATION_OCCURRED] Caught StopIteration thrown from user's code; failing the task: %S",
                 r ? r : Py_None);
    Py_XDECREF(r);
    PyObject *t2, *v2, *tb2;
    PyErr_Fetch(&t2, &v2, &tb2);
    PyErr_NormalizeException(&t2, &v2, &tb2);
    if (v2 && v) PyException_SetCause(v2, Py_NewRef(v));
    PyErr_Restore(t2, v2, tb2);
    Py_XDECREF(t);
    Py_XDECREF(v);
    Py_XDECREF(tb);
}

static PyObject *call_user(PyObject *f, PyObject *arg) {
    PyObject *r = PyObject_CallOneArg(f, arg);
    if (!r) core_fail_on_stopiteration();
    return r;
}

/* Splits a (key, value) record (a 2-tuple, also a namedtuple or Row of two fields, or a
 * 2-list); returns borrowed references. */
static int unpack_pair(PyObject *item, PyObject **k, PyObject **v, const char *what) {
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
    PyErr_Format(PyExc_TypeError, "%s expects (key, value) pairs, got a %.100s", what, Py_TYPE(item)->tp_name);
    return -1;
}

static void PipeIter_dealloc(PipeIter *self) {
    PyTypeObject *tp = Py_TYPE(self);
    Py_XDECREF(self->src);
    for (Py_ssize_t i = 0; i < self->nops; i++) {
        Py_XDECREF(self->ops[i].f);
        Py_XDECREF(self->sub[i]);
        Py_XDECREF(self->subkey[i]);
    }
    PyMem_Free(self->ops);
    PyMem_Free(self->sub);
    PyMem_Free(self->subkey);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *PipeIter_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    PyObject *src, *ops;
    if (kw && PyDict_GET_SIZE(kw)) return PyErr_Format(PyExc_TypeError, "PipeIter takes no keyword arguments");
    if (!PyArg_ParseTuple(args, "OO", &src, &ops)) return NULL;
    PyObject *seq = PySequence_Fast(ops, "ops must be a list of (kind, function) pairs");
    if (!seq) return NULL;
    PipeIter *self = (PipeIter *)type->tp_alloc(type, 0);
    if (!self) {
        Py_DECREF(seq);
        return NULL;
    }
    self->top = -1;
    self->nops = PySequence_Fast_GET_SIZE(seq);
    self->ops = PyMem_Calloc(self->nops ? self->nops : 1, sizeof *self->ops);
    self->sub = PyMem_Calloc(self->nops ? self->nops : 1, sizeof *self->sub);
    self->subkey = PyMem_Calloc(self->nops ? self->nops : 1, sizeof *self->subkey);
    if (!self->ops || !self->sub || !self->subkey) {
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t i = 0; i < self->nops; i++) {
        PyObject *op = PySequence_Fast_GET_ITEM(seq, i);
        int kind;
        PyObject *f;
        if (!PyArg_ParseTuple(op, "iO", &kind, &f)) goto fail;
        if (kind < OP_MAP || kind > OP_PAIR) {
            PyErr_Format(PyExc_ValueError, "unknown op kind %d", kind);
            goto fail;
        }
        self->ops[i].kind = kind;
        self->ops[i].f = Py_NewRef(f);
    }
    self->src = PyObject_GetIter(src);
    if (!self->src) goto fail;
    Py_DECREF(seq);
    return (PyObject *)self;
fail:
    Py_DECREF(seq);
    Py_DECREF(self);
    return NULL;
}

/* The next record of self after ops [0, end) (end < nops only when ops [end, nops)
 * are not flat-map ops: no sub-iterator is ever above end). */
static PyObject *pipe_next(PipeIter *self, Py_ssize_t end) {
    for (;;) {
        PyObject *item;
        Py_ssize_t start;
        if (self->top >= 0) {
            Py_ssize_t t = self->top;
            item = PyIter_Next(self->sub[t]);
            if (!item) {
                if (PyErr_Occurred()) return NULL;
                Py_CLEAR(self->sub[t]);
                Py_CLEAR(self->subkey[t]);
                self->top = -1;
                for (Py_ssize_t j = t - 1; j >= 0; j--)
                    if (self->sub[j]) {
                        self->top = j;
                        break;
                    }
                continue;
            }
            if (self->ops[t].kind == OP_FLATMAPVALUES) {
                PyObject *pair = PyTuple_Pack(2, self->subkey[t], item);
                Py_DECREF(item);
                if (!pair) return NULL;
                item = pair;
            }
            start = t + 1;
        } else {
            if (!self->src) return NULL;
            item = PyIter_Next(self->src);
            if (!item) return NULL;
            start = 0;
        }
        Py_ssize_t i;
        for (i = start; i < end; i++) {
            op_t *op = &self->ops[i];
            PyObject *r, *k, *v;
            switch (op->kind) {
            case OP_MAP:
                r = call_user(op->f, item);
                Py_DECREF(item);
                if (!r) return NULL;
                item = r;
                break;
            case OP_FILTER: {
                r = call_user(op->f, item);
                if (!r) {
                    Py_DECREF(item);
                    return NULL;
                }
                int keep = PyObject_IsTrue(r);
                Py_DECREF(r);
                if (keep < 0) {
                    Py_DECREF(item);
                    return NULL;
                }
                if (!keep) {
                    Py_CLEAR(item);
                    goto next_record;
                }
                break;
            }
            case OP_FLATMAP: {
                r = call_user(op->f, item);
                Py_DECREF(item);
                if (!r) return NULL;
                PyObject *it = PyObject_GetIter(r);
                Py_DECREF(r);
                if (!it) return NULL;
                self->sub[i] = it;
                self->top = i;
                goto next_record;
            }
            case OP_MAPVALUES: {
                if (unpack_pair(item, &k, &v, "mapValues") < 0) {
                    Py_DECREF(item);
                    return NULL;
                }
                r = call_user(op->f, v);
                if (!r) {
                    Py_DECREF(item);
                    return NULL;
                }
                PyObject *pair = PyTuple_Pack(2, k, r);
                Py_DECREF(r);
                Py_DECREF(item);
                if (!pair) return NULL;
                item = pair;
                break;
            }
            case OP_KEYBY:
                r = call_user(op->f, item);
                if (!r) {
                    Py_DECREF(item);
                    return NULL;
                }
                Py_SETREF(item, PyTuple_Pack(2, r, item));
                Py_DECREF(r);
                if (!item) return NULL;
                break;
            case OP_KEYS:
            case OP_VALUES: /* x[0] or x[1], as PySpark's keys() and values() */
                if (PyTuple_CheckExact(item) && PyTuple_GET_SIZE(item) == 2) {
                    Py_SETREF(item, Py_NewRef(PyTuple_GET_ITEM(item, op->kind == OP_KEYS ? 0 : 1)));
                    break;
                }
                r = PyLong_FromLong(op->kind == OP_KEYS ? 0 : 1); /* x[i]'s errors, as Python words them */
                if (!r) {
                    Py_DECREF(item);
                    return NULL;
                }
                Py_SETREF(item, PyObject_GetItem(item, r));
                Py_DECREF(r);
                if (!item) return NULL;
                break;
            case OP_PAIR: /* f is the constant to pair with */
                Py_SETREF(item, PyTuple_Pack(2, item, op->f));
                if (!item) return NULL;
                break;
            case OP_FLATMAPVALUES: {
                if (unpack_pair(item, &k, &v, "flatMapValues") < 0) {
                    Py_DECREF(item);
                    return NULL;
                }
                r = call_user(op->f, v);
                if (!r) {
                    Py_DECREF(item);
                    return NULL;
                }
                PyObject *it = PyObject_GetIter(r);
                Py_DECREF(r);
                if (!it) {
                    Py_DECREF(item);
                    return NULL;
                }
                self->subkey[i] = Py_NewRef(k);
                Py_DECREF(item);
                self->sub[i] = it;
                self->top = i;
                goto next_record;
            }
            }
        }
        return item;
    next_record:;
    }
}

static PyObject *PipeIter_next(PipeIter *self) { return pipe_next(self, self->nops); }

int core_pipe_pairs_with(core_state *st, PyObject *it, PyObject **c) {
    if (Py_TYPE(it) != st->PipeIter_type) return 0;
    PipeIter *p = (PipeIter *)it;
    if (p->nops == 0 || p->ops[p->nops - 1].kind != OP_PAIR) return 0;
    *c = p->ops[p->nops - 1].f;
    return 1;
}

PyObject *core_pipe_next_unpaired(PyObject *it) {
    PipeIter *p = (PipeIter *)it;
    return pipe_next(p, p->nops - 1);
}

static PyType_Slot PipeIter_slots[] = {
    {Py_tp_new, PipeIter_new},
    {Py_tp_dealloc, PipeIter_dealloc},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, PipeIter_next},
    {Py_tp_doc, "PipeIter(source, ops): records of source pushed through (kind, function) ops in C."},
    {0, NULL},
};

static PyType_Spec PipeIter_spec = {"ember._core.PipeIter", sizeof(PipeIter), 0, Py_TPFLAGS_DEFAULT, PipeIter_slots};

/* count_values(iterable, into=None, pairs=False) -> dict of element -> count (into,
 * updated, when given); with pairs=True the elements are (x, n) pairs adding n to x's
 * count (merging the counts of partitions). */
static PyObject *py_count_values(PyObject *m, PyObject *args, PyObject *kw) {
    (void)m;
    static char *kwlist[] = {"iterable", "into", "pairs", NULL};
    PyObject *src, *into = Py_None;
    int pairs = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|Op", kwlist, &src, &into, &pairs)) return NULL;
    if (into != Py_None && !PyDict_Check(into)) return PyErr_Format(PyExc_TypeError, "into must be a dict");
    PyObject *d = into == Py_None ? PyDict_New() : Py_NewRef(into), *it = PyObject_GetIter(src), *item;
    if (!d || !it) goto fail;
    PyObject *one = PyLong_FromLong(1);
    if (!one) goto fail;
    while ((item = PyIter_Next(it))) {
        PyObject *x = item, *n = one;
        if (pairs && unpack_pair(item, &x, &n, "count_values") < 0) goto fail_item;
        PyObject *old = PyDict_GetItemWithError(d, x);
        if (!old && PyErr_Occurred()) goto fail_item;
        PyObject *sum = old ? PyNumber_Add(old, n) : Py_NewRef(n);
        int rc = sum ? PyDict_SetItem(d, x, sum) : -1;
        Py_XDECREF(sum);
        Py_DECREF(item);
        if (rc < 0) goto fail_one;
        continue;
    fail_item:
        Py_DECREF(item);
        goto fail_one;
    }
    Py_DECREF(one);
    if (PyErr_Occurred()) goto fail;
    Py_DECREF(it);
    return d;
fail_one:
    Py_DECREF(one);
fail:
    Py_XDECREF(it);
    Py_XDECREF(d);
    return NULL;
}

/* keep_first(a, b) -> a: the merge function of distinct(). */
static PyObject *py_keep_first(PyObject *m, PyObject *const *args, Py_ssize_t n) {
    (void)m;
    if (n != 2) return PyErr_Format(PyExc_TypeError, "keep_first takes 2 arguments, got %zd", n);
    return Py_NewRef(args[0]);
}

/* count(iterable) -> number of records, counted in C. */
static PyObject *py_count(PyObject *m, PyObject *src) {
    (void)m;
    PyObject *it = PyObject_GetIter(src), *item;
    if (!it) return NULL;
    Py_ssize_t n = 0;
    while ((item = PyIter_Next(it))) {
        Py_DECREF(item);
        n++;
    }
    Py_DECREF(it);
    return PyErr_Occurred() ? NULL : PyLong_FromSsize_t(n);
}

PyMethodDef core_pipeline_methods[] = {
    {"count", py_count, METH_O, "count(iterable) -> number of records, counted in C."},
    {"count_values", (PyCFunction)(void (*)(void))py_count_values, METH_VARARGS | METH_KEYWORDS,
     "count_values(iterable, into=None, pairs=False) -> dict of element -> count"},
    {"keep_first", (PyCFunction)(void (*)(void))py_keep_first, METH_FASTCALL, "keep_first(a, b) -> a"},
    {NULL, NULL, 0, NULL},
};

int core_add_pipeline(PyObject *m, core_state *st) {
    st->PipeIter_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &PipeIter_spec, NULL);
    if (!st->PipeIter_type || PyModule_AddType(m, st->PipeIter_type) < 0) return -1;
    if (PyModule_AddIntConstant(m, "OP_MAP", OP_MAP) < 0 || PyModule_AddIntConstant(m, "OP_FLATMAP", OP_FLATMAP) < 0 ||
        PyModule_AddIntConstant(m, "OP_FILTER", OP_FILTER) < 0 ||
        PyModule_AddIntConstant(m, "OP_MAPVALUES", OP_MAPVALUES) < 0 ||
        PyModule_AddIntConstant(m, "OP_FLATMAPVALUES", OP_FLATMAPVALUES) < 0 ||
        PyModule_AddIntConstant(m, "OP_KEYBY", OP_KEYBY) < 0 || PyModule_AddIntConstant(m, "OP_KEYS", OP_KEYS) < 0 ||
        PyModule_AddIntConstant(m, "OP_VALUES", OP_VALUES) < 0 || PyModule_AddIntConstant(m, "OP_PAIR", OP_PAIR) < 0)
        return -1;
    return 0;
}
