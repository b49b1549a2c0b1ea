/* combiner.c — the map-side combiner: an open-addressing table from key to combined
 * value, one probe per record (a dict would take two: get, then set), values
 * replaced in place. Keys compare as in a dict: identity, then equality (str by
 * bytes, others with ==). Only the worker's record loop uses it; it is never visible
 * to Python code. */
#include "combiner.h"

static int keys_equal(PyObject *a, PyObject *b) {
    if (a == b) return 1;
    if (PyUnicode_CheckExact(a) && PyUnicode_CheckExact(b)) {
        Py_ssize_t n = PyUnicode_GET_LENGTH(a);
        int kind = PyUnicode_KIND(a);
        return n == PyUnicode_GET_LENGTH(b) && kind == PyUnicode_KIND(b) &&
               memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), (size_t)n * (size_t)kind) == 0;
    }
    return PyObject_RichCompareBool(a, b, Py_EQ);
}

int combiner_init(combiner *c) {
    c->mask = 1023;
    c->used = 0;
    c->v = PyMem_Calloc(c->mask + 1, sizeof *c->v);
    if (!c->v) {
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

int combiner_add(core_state *st, combiner *c, PyObject *k, PyObject *v, PyObject *create, PyObject *merge) {
    Py_hash_t h = PyObject_Hash(k);
    if (h == -1 && PyErr_Occurred()) return -1;
    size_t i = (size_t)h & c->mask;
    for (;;) {
        comb_entry *e = &c->v[i];
        if (!e->key) break;
        if (e->hash == h) {
            int eq = keys_equal(e->key, k);
            if (eq < 0) return -1;
            if (eq) {
                PyObject *nv = core_merge(st, merge, e->value, v);
                if (!nv) return -1;
                Py_SETREF(e->value, nv);
                return 0;
            }
        }
        i = (i + 1) & c->mask;
    }
    PyObject *nv = create == Py_None ? Py_NewRef(v) : PyObject_CallOneArg(create, v);
    if (!nv) return -1;
    c->v[i] = (comb_entry){Py_NewRef(k), nv, h};
    if (++c->used * 3 > (c->mask + 1) * 2) return grow(c);
    return 0;
}

int combiner_drain(combiner *c, int (*fn)(void *, PyObject *, PyObject *), void *arg) {
    int rc = 0;
    for (size_t i = 0; i <= c->mask; i++) {
        comb_entry *e = &c->v[i];
        if (!e->key) continue;
        if (!rc) rc = fn(arg, e->key, e->value);
        Py_CLEAR(e->key);
        Py_CLEAR(e->value);
    }
    c->used = 0;
    return rc;
}

void combiner_free(combiner *c) {
    if (!c->v) return;
    for (size_t i = 0; i <= c->mask; i++) {
        Py_XDECREF(c->v[i].key);
        Py_XDECREF(c->v[i].value);
    }
    PyMem_Free(c->v);
    c->v = NULL;
}
