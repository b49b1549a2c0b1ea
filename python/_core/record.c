/* record.c — Python objects to and from the typed record format of libember
 * (include/ember/record.h): the encoder walks an object, the decoder builds objects
 * from the values libember's checking decoder describes.
 *
 * Only exact built-in types are encoded: None, bool, int, float, str, bytes, tuple,
 * list, dict. Anything else (a set, a subclass such as a namedtuple, a str holding
 * lone surrogates) fails with TypeError / ValueError naming the type, the place
 * inside the record (e.g. "[1]['key']") and the caller's description of where the
 * record came from. Integers outside 64 bits travel as big ints (int.to_bytes).
 */
#include "core.h"

typedef struct {
    ember_writer *w;
    const char *where; /* e.g. "the input of mapNative tokenize" (may be NULL) */
    int depth;
    Py_ssize_t index[EMBER_RECORD_MAX_DEPTH]; /* per level: the item index, or -1 */
    PyObject *key[EMBER_RECORD_MAX_DEPTH];    /* per level: the dict key (borrowed), or NULL */
} encoder;

/* "[1]['key']" for the levels above the failing value; "" at the top. */
static PyObject *path_of(const encoder *e) {
    PyObject *parts = PyList_New(0);
    if (!parts) return NULL;
    for (int i = 0; i < e->depth; i++) {
        PyObject *s = e->key[i] ? PyUnicode_FromFormat("[%R]", e->key[i]) : PyUnicode_FromFormat("[%zd]", e->index[i]);
        if (!s || PyList_Append(parts, s) < 0) {
            Py_XDECREF(s);
            Py_DECREF(parts);
            return NULL;
        }
        Py_DECREF(s);
    }
    PyObject *empty = PyUnicode_FromString("");
    PyObject *r = empty ? PyUnicode_Join(empty, parts) : NULL;
    Py_XDECREF(empty);
    Py_DECREF(parts);
    return r;
}

static int fail(const encoder *e, PyObject *exc, PyObject *obj, const char *why) {
    PyObject *path = path_of(e);
    if (!path) return -1;
    PyErr_Format(exc, "cannot encode %s%s%U as an ember record%s%s%s: %s", Py_TYPE(obj)->tp_name,
                 PyUnicode_GET_LENGTH(path) ? " at " : "", path, e->where ? " (in " : "", e->where ? e->where : "",
                 e->where ? ")" : "", why);
    Py_DECREF(path);
    return -1;
}

static int enc_value(encoder *e, PyObject *o);

/* An int outside 64 bits: int.to_bytes(n, "little", signed=True), n its length. */
static int enc_big(encoder *e, PyObject *o) {
    PyObject *bits = PyObject_CallMethod(o, "bit_length", NULL);
    if (!bits) return -1;
    Py_ssize_t nbits = PyLong_AsSsize_t(bits);
    Py_DECREF(bits);
    if (nbits < 0) return -1;
    Py_ssize_t n = nbits / 8 + 1;
    if ((size_t)n > EMBER_RECORD_MAX_BIGINT) return fail(e, PyExc_ValueError, o, "the int has too many digits");
    PyObject *args = Py_BuildValue("(ns)", n, "little");
    PyObject *kw = Py_BuildValue("{s:O}", "signed", Py_True);
    PyObject *meth = PyObject_GetAttrString(o, "to_bytes");
    PyObject *b = args && kw && meth ? PyObject_Call(meth, args, kw) : NULL;
    Py_XDECREF(args);
    Py_XDECREF(kw);
    Py_XDECREF(meth);
    if (!b) return -1;
    ember_put_bigint(e->w, (const uint8_t *)PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b));
    Py_DECREF(b);
    return 0; /* a failed write is in e->w->err, which enc_value turns into an exception */
}

static int enc_items(encoder *e, PyObject *o, PyObject *const *items, Py_ssize_t n) {
    if (e->depth >= EMBER_RECORD_MAX_DEPTH) return fail(e, PyExc_ValueError, o, "containers nested too deep");
    int d = e->depth++;
    e->key[d] = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        e->index[d] = i;
        if (enc_value(e, items[i]) < 0) return -1;
    }
    e->depth--;
    return 0;
}

static int enc_value(encoder *e, PyObject *o) {
    ember_writer *w = e->w;
    if (o == Py_None) {
        ember_put_none(w);
    } else if (PyBool_Check(o)) {
        ember_put_bool(w, o == Py_True);
    } else if (PyLong_CheckExact(o)) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
        if (v == -1 && PyErr_Occurred()) return -1;
        if (overflow) {
            if (enc_big(e, o) < 0) return -1;
        } else {
            ember_put_int(w, (int64_t)v);
        }
    } else if (PyFloat_CheckExact(o)) {
        ember_put_float(w, PyFloat_AS_DOUBLE(o));
    } else if (PyUnicode_CheckExact(o)) {
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(o, &n);
        if (!s) {
            PyErr_Clear();
            return fail(e, PyExc_ValueError, o, "the str is not valid Unicode (it holds a lone surrogate)");
        }
        ember_put_str(w, s, (size_t)n);
    } else if (PyBytes_CheckExact(o)) {
        ember_put_bytes(w, PyBytes_AS_STRING(o), (size_t)PyBytes_GET_SIZE(o));
    } else if (PyTuple_CheckExact(o)) {
        ember_put_tuple(w, (size_t)PyTuple_GET_SIZE(o));
        if (enc_items(e, o, &PyTuple_GET_ITEM(o, 0), PyTuple_GET_SIZE(o)) < 0) return -1;
    } else if (PyList_CheckExact(o)) {
        ember_put_list(w, (size_t)PyList_GET_SIZE(o));
        /* no Python code runs while encoding exact built-in types: the list cannot change */
        if (enc_items(e, o, PySequence_Fast_ITEMS(o), PyList_GET_SIZE(o)) < 0) return -1;
    } else if (PyDict_CheckExact(o)) {
        if (e->depth >= EMBER_RECORD_MAX_DEPTH) return fail(e, PyExc_ValueError, o, "containers nested too deep");
        ember_put_dict(w, (size_t)PyDict_GET_SIZE(o));
        int d = e->depth++;
        Py_ssize_t pos = 0, i = 0;
        PyObject *k, *v;
        while (PyDict_Next(o, &pos, &k, &v)) {
            e->key[d] = NULL;
            e->index[d] = i++;
            if (enc_value(e, k) < 0) return -1;
            e->key[d] = k;
            if (enc_value(e, v) < 0) return -1;
        }
        e->depth--;
    } else {
        const char *why = PyLong_Check(o) || PyFloat_Check(o) || PyUnicode_Check(o) || PyBytes_Check(o) ||
                                  PyTuple_Check(o) || PyList_Check(o) || PyDict_Check(o)
                              ? "subclasses of built-in types are not encoded (convert it, e.g. with tuple() or "
                                "int(), first); records hold None, bool, int, float, str, bytes, tuple, list and dict"
                              : "records hold None, bool, int, float, str, bytes, tuple, list and dict";
        return fail(e, PyExc_TypeError, o, why);
    }
    if (w->err) {
        PyErr_SetString(w->err == EMBER_ENOMEM ? PyExc_MemoryError : PyExc_ValueError, ember_last_error());
        return -1;
    }
    return 0;
}

int core_record_encode(ember_writer *w, PyObject *obj, const char *where) {
    encoder e;
    e.w = w;
    e.where = where;
    e.depth = 0;
    return enc_value(&e, obj);
}

PyObject *core_record_decode(const ember_value *v) {
    switch (v->type) {
    case EMBER_NONE:
        Py_RETURN_NONE;
    case EMBER_BOOL:
        return PyBool_FromLong(v->b);
    case EMBER_INT:
        return PyLong_FromLongLong(v->i);
    case EMBER_FLOAT:
        return PyFloat_FromDouble(v->f);
    case EMBER_STR:
        return PyUnicode_DecodeUTF8((const char *)v->data, (Py_ssize_t)v->len, "strict");
    case EMBER_BYTES:
        return PyBytes_FromStringAndSize((const char *)v->data, (Py_ssize_t)v->len);
    case EMBER_BIGINT: {
        PyObject *b = PyBytes_FromStringAndSize((const char *)v->data, (Py_ssize_t)v->len);
        if (!b) return NULL;
        PyObject *from = PyObject_GetAttrString((PyObject *)&PyLong_Type, "from_bytes");
        PyObject *args = Py_BuildValue("(Os)", b, "little");
        PyObject *kw = Py_BuildValue("{s:O}", "signed", Py_True);
        PyObject *r = from && args && kw ? PyObject_Call(from, args, kw) : NULL;
        Py_XDECREF(from);
        Py_XDECREF(args);
        Py_XDECREF(kw);
        Py_DECREF(b);
        return r;
    }
    case EMBER_TUPLE:
    case EMBER_LIST: {
        ember_value it = *v, c;
        PyObject *r = v->type == EMBER_TUPLE ? PyTuple_New((Py_ssize_t)v->count) : PyList_New((Py_ssize_t)v->count);
        if (!r) return NULL;
        for (size_t i = 0; i < v->count; i++) {
            PyObject *x = ember_value_next(&it, &c) ? core_record_decode(&c) : NULL;
            if (!x) {
                if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "corrupt record: a container ends early");
                Py_DECREF(r);
                return NULL;
            }
            if (v->type == EMBER_TUPLE)
                PyTuple_SET_ITEM(r, (Py_ssize_t)i, x);
            else
                PyList_SET_ITEM(r, (Py_ssize_t)i, x);
        }
        return r;
    }
    case EMBER_DICT: {
        ember_value it = *v, kv, vv;
        PyObject *r = PyDict_New();
        if (!r) return NULL;
        for (size_t i = 0; i < v->count; i++) {
            if (!ember_value_next(&it, &kv) || !ember_value_next(&it, &vv)) {
                PyErr_SetString(PyExc_ValueError, "corrupt record: a dict ends early");
                Py_DECREF(r);
                return NULL;
            }
            PyObject *k = core_record_decode(&kv);
            PyObject *x = k ? core_record_decode(&vv) : NULL;
            int rc = x ? PyDict_SetItem(r, k, x) : -1;
            Py_XDECREF(k);
            Py_XDECREF(x);
            if (rc < 0) {
                Py_DECREF(r);
                return NULL;
            }
        }
        return r;
    }
    }
    return PyErr_Format(PyExc_ValueError, "corrupt record: unknown type %d", (int)v->type);
}

/* Decodes one value from buf[0, len) as a Python object; *used gets its length. */
PyObject *core_record_loads(const uint8_t *buf, size_t len, size_t *used) {
    ember_value v;
    int rc = ember_value_decode(buf, len, &v, used);
    if (rc) {
        PyErr_SetString(PyExc_ValueError, ember_last_error());
        return NULL;
    }
    return core_record_decode(&v);
}

static const char *where_arg(PyObject *where) {
    if (!where || where == Py_None) return NULL;
    return PyUnicode_AsUTF8(where);
}

/* record_dumps(obj, where=None) -> bytes */
static PyObject *py_record_dumps(PyObject *m, PyObject *args) {
    (void)m;
    PyObject *obj, *where = Py_None;
    if (!PyArg_ParseTuple(args, "O|O", &obj, &where)) return NULL;
    const char *w = where_arg(where);
    if (!w && PyErr_Occurred()) return NULL;
    ember_writer wr;
    ember_writer_init(&wr);
    PyObject *r = NULL;
    if (core_record_encode(&wr, obj, w) == 0) r = PyBytes_FromStringAndSize((const char *)wr.data, (Py_ssize_t)wr.len);
    ember_writer_free(&wr);
    return r;
}

/* record_loads(data) -> object; data must hold exactly one record. */
static PyObject *py_record_loads(PyObject *m, PyObject *arg) {
    (void)m;
    Py_buffer b;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0) return NULL;
    size_t used = 0;
    PyObject *r = core_record_loads(b.buf, (size_t)b.len, &used);
    if (r && used != (size_t)b.len) {
        Py_CLEAR(r);
        PyErr_Format(PyExc_ValueError, "corrupt record: %zu bytes after the record", (size_t)b.len - used);
    }
    PyBuffer_Release(&b);
    return r;
}

/* records_dumps(iterable, where=None) -> bytes: a batch (header + records). */
static PyObject *py_records_dumps(PyObject *m, PyObject *args) {
    (void)m;
    PyObject *src, *where = Py_None;
    if (!PyArg_ParseTuple(args, "O|O", &src, &where)) return NULL;
    const char *w = where_arg(where);
    if (!w && PyErr_Occurred()) return NULL;
    PyObject *it = PyObject_GetIter(src);
    if (!it) return NULL;
    ember_writer wr;
    ember_writer_init(&wr);
    PyObject *r = NULL, *item;
    if (ember_put_batch_header(&wr)) {
        PyErr_NoMemory();
        goto cleanup;
    }
    while ((item = PyIter_Next(it))) {
        int rc = core_record_encode(&wr, item, w);
        Py_DECREF(item);
        if (rc < 0) goto cleanup;
    }
    if (!PyErr_Occurred()) r = PyBytes_FromStringAndSize((const char *)wr.data, (Py_ssize_t)wr.len);
cleanup:
    ember_writer_free(&wr);
    Py_DECREF(it);
    return r;
}

PyObject *core_records_list(const uint8_t *data, size_t n) {
    const uint8_t *body;
    size_t len;
    if (ember_batch_open(data, n, &body, &len)) {
        PyErr_SetString(PyExc_ValueError, ember_last_error());
        return NULL;
    }
    PyObject *out = PyList_New(0);
    for (size_t off = 0; out && off < len;) {
        size_t used;
        PyObject *x = core_record_loads(body + off, len - off, &used);
        if (!x || PyList_Append(out, x) < 0) {
            Py_XDECREF(x);
            Py_CLEAR(out);
            break;
        }
        Py_DECREF(x);
        off += used;
    }
    return out;
}

/* records_loads(data) -> list: the records of a batch. */
static PyObject *py_records_loads(PyObject *m, PyObject *arg) {
    (void)m;
    Py_buffer b;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0) return NULL;
    PyObject *out = core_records_list(b.buf, (size_t)b.len);
    PyBuffer_Release(&b);
    return out;
}

PyMethodDef core_record_methods[] = {
    {"record_dumps", py_record_dumps, METH_VARARGS,
     "record_dumps(obj, where=None) -> bytes: obj in the typed record format (ember/record.h)."},
    {"record_loads", py_record_loads, METH_O, "record_loads(data) -> object: the one record in data."},
    {"records_dumps", py_records_dumps, METH_VARARGS,
     "records_dumps(iterable, where=None) -> bytes: a batch of records (header and records)."},
    {"records_loads", py_records_loads, METH_O, "records_loads(data) -> list: the records of a batch."},
    {NULL, NULL, 0, NULL},
};
