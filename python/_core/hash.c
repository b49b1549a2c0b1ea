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

#include <stdint.h>

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                        \
    do {                                                                \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);       \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                          \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                          \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);       \
    } while (0)

/* SipHash-1-3 with key (0, 0). */
static uint64_t siphash13_zero(const uint8_t *src, size_t len) {
    uint64_t k0 = 0, k1 = 0;
    uint64_t b = (uint64_t)len << 56;
    uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
    while (len >= 8) {
        uint64_t mi;
        memcpy(&mi, src, 8);
        src += 8;
        len -= 8;
        v3 ^= mi;
        SIPROUND;
        v0 ^= mi;
    }
    uint64_t t = 0;
    for (size_t i = 0; i < len; i++) t |= (uint64_t)src[i] << (8 * i);
    b |= t;
    v3 ^= b;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return (v0 ^ v1) ^ (v2 ^ v3);
}

static Py_hash_t hash_bytes(const void *p, Py_ssize_t len) {
    if (len == 0) return 0;
    Py_hash_t h = (Py_hash_t)siphash13_zero(p, (size_t)len);
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
