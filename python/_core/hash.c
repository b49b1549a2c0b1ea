/* hash.c — portable_hash: the partitioning hash, the same in every process and on
 * every machine whatever PYTHONHASHSEED is.
 *
 * None hashes to 0. str and bytes hash to what CPython 3.11+ gives them with
 * PYTHONHASHSEED=0 (SipHash-1-3 with a zero key over the string's code units), which
 * is also what PySpark's workers compute there, so partition layouts match PySpark's;
 * on 3.10 too (whose hash() is SipHash-2-4: PySpark's layouts of str keys differ
 * there, ember's are the same on every Python).
 * Tuples combine their items' portable hashes as PySpark does (CPython 2.7's tuple
 * hash, masked to sys.maxsize). Numbers use CPython's hash, which is seed-free; other
 * objects fall back to hash() (deterministic in workers, which run with seed 0).
 */
#include "core.h"

#include "internal.h"

#include <stdint.h>

static Py_hash_t hash_bytes(const void *p, Py_ssize_t len) {
    if (len == 0) return 0;
    Py_hash_t h = (Py_hash_t)emberN_siphash13(p, (size_t)len); /* src/native.c: the C side's hash too */
    return h == -1 ? -2 : h;
}

Py_hash_t core_portable_hash(PyObject *obj) {
    if (obj == Py_None) return 0;
    if (PyUnicode_CheckExact(obj) || PyUnicode_Check(obj)) {
        if (PyUnicode_READY(obj) < 0) return -1;
        return hash_bytes(PyUnicode_DATA(obj), PyUnicode_GET_LENGTH(obj) * PyUnicode_KIND(obj));
    }
    if (PyBytes_Check(obj)) return hash_bytes(PyBytes_AS_STRING(obj), PyBytes_GET_SIZE(obj));
    if (PyTuple_Check(obj)) {
        Py_ssize_t n = PyTuple_GET_SIZE(obj);
        uint64_t h = 0x345678;
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_hash_t ih = core_portable_hash(PyTuple_GET_ITEM(obj, i));
            if (ih == -1 && PyErr_Occurred()) return -1;
            h ^= (uint64_t)ih;
            h *= 1000003;
            h &= (uint64_t)PY_SSIZE_T_MAX;
        }
        h ^= (uint64_t)n;
        Py_hash_t r = (Py_hash_t)h;
        return r == -1 ? -2 : r;
    }
    return PyObject_Hash(obj);
}

static PyObject *py_portable_hash(PyObject *m, PyObject *obj) {
    (void)m;
    Py_hash_t h = core_portable_hash(obj);
    if (h == -1 && PyErr_Occurred()) return NULL;
    return PyLong_FromSsize_t(h);
}

PyMethodDef core_hash_methods[] = {
    {"portable_hash", py_portable_hash, METH_O,
     "portable_hash(obj) -> int\n\nHash used to partition keys: the same in every process, "
     "whatever PYTHONHASHSEED is (None -> 0; tuples combine their items)."},
    {NULL, NULL, 0, NULL},
};
