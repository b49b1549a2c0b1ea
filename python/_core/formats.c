/* formats.c — file formats in the extension: the lines saveAsTextFile writes
 * (text_chunk: str() of each element, in C for ints and for tuples and lists of ints,
 * floats, None, bools and plain ASCII str), the
 * compression codecs (src/codec.c) as saveAsTextFile uses them (write_compressed streams an iterable of bytes through a
 * codec into a file; codec_info says which codecs this build has; describe_bytes says
 * what a file's first bytes look like), and SeqReader, the records of a SequenceFile
 * split (src/seqfile.c) for pickleFile and sequenceFile. */
#include "core.h"
#include "internal.h"

/* write_compressed(path, codec, chunks): compresses every bytes-like chunk of the
 * iterable into a new file at path; returns None. */
static PyObject *write_compressed(PyObject *mod, PyObject *args) {
    const char *path;
    int codec;
    PyObject *chunks, *it = NULL, *chunk;
    ember_compressed_writer *w = NULL;
    PyObject *ret = NULL;
    int rc;
    if (!PyArg_ParseTuple(args, "siO", &path, &codec, &chunks)) return NULL;
    rc = ember_compressed_writer_open(codec, path, &w);
    if (rc) return core_raise(core_get_state(mod), rc);
    it = PyObject_GetIter(chunks);
    if (!it) goto close_writer;
    while ((chunk = PyIter_Next(it))) {
        Py_buffer view;
        if (PyObject_GetBuffer(chunk, &view, PyBUF_SIMPLE) < 0) {
            Py_DECREF(chunk);
            goto close_writer;
        }
        Py_BEGIN_ALLOW_THREADS rc = ember_compressed_writer_write(w, view.buf, (size_t)view.len);
        Py_END_ALLOW_THREADS PyBuffer_Release(&view);
        Py_DECREF(chunk);
        if (rc) {
            core_raise(core_get_state(mod), rc);
            goto close_writer;
        }
    }
    if (PyErr_Occurred()) goto close_writer;
    Py_BEGIN_ALLOW_THREADS rc = ember_compressed_writer_finish(w);
    Py_END_ALLOW_THREADS if (rc) {
        core_raise(core_get_state(mod), rc);
        goto close_writer;
    }
    ret = Py_NewRef(Py_None);
close_writer:
    Py_XDECREF(it);
    ember_compressed_writer_close(w);
    return ret;
}

/* codec_info(): {extension: (codec id, name, available)} for every codec. */
static PyObject *codec_info(PyObject *mod, PyObject *unused) {
    (void)mod;
    (void)unused;
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    for (int c = EMBER_CODEC_GZIP; c <= EMBER_CODEC_ZSTD; c++) {
        PyObject *v = Py_BuildValue("(isO)", c, ember_codec_name(c), ember_codec_available(c) ? Py_True : Py_False);
        if (!v || PyDict_SetItemString(d, ember_codec_extension(c), v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(v);
    }
    return d;
}

/* describe_bytes(head): what a file starting with these bytes looks like. */
static PyObject *describe_bytes(PyObject *mod, PyObject *arg) {
    (void)mod;
    Py_buffer view;
    char what[96];
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    emberC_describe(view.buf, (size_t)view.len, what, sizeof what);
    PyBuffer_Release(&view);
    return PyUnicode_FromString(what);
}

/* Appends the decimal digits of v. */
static int put_int(emberB_buf *b, long long v) {
    char tmp[24], *p = tmp + sizeof tmp;
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) *--p = '-';
    return emberB_append(b, p, (size_t)(tmp + sizeof tmp - p));
}

#define REPR_DEPTH 8 /* containers nested deeper go to repr() */

/* Appends repr(x) as Python writes it, for the common building blocks of records:
 * exact ints that fit in 64 bits, floats, None, bools, ASCII str that repr() puts in
 * single quotes unchanged, and exact tuples and lists of these (nested at most
 * REPR_DEPTH deep). Returns 1 when written, 0 when x is not of that kind (part of it
 * may have been written: the caller cuts the buffer back), -1 when out of memory. */
static int put_repr(emberB_buf *b, PyObject *x, int depth) {
    if (PyLong_CheckExact(x)) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(x, &overflow);
        if (overflow) return 0;
        return put_int(b, v) ? -1 : 1;
    }
    if (x == Py_None) return emberB_append(b, "None", 4) ? -1 : 1;
    if (PyBool_Check(x)) return (x == Py_True ? emberB_append(b, "True", 4) : emberB_append(b, "False", 5)) ? -1 : 1;
    if (PyFloat_CheckExact(x)) {
        char *r = PyOS_double_to_string(PyFloat_AS_DOUBLE(x), 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
        if (!r) return -1;
        int rc = emberB_append(b, r, strlen(r));
        PyMem_Free(r);
        return rc ? -1 : 1;
    }
    if (PyUnicode_CheckExact(x)) {
        if (!PyUnicode_IS_COMPACT_ASCII(x)) return 0;
        const char *c = (const char *)PyUnicode_DATA(x);
        Py_ssize_t n = PyUnicode_GET_LENGTH(x);
        for (Py_ssize_t i = 0; i < n; i++)
            if (c[i] < 0x20 || c[i] == 0x7f || c[i] == '\'' || c[i] == '\\') return 0;
        return emberB_append(b, "'", 1) || emberB_append(b, c, (size_t)n) || emberB_append(b, "'", 1) ? -1 : 1;
    }
    int tuple = PyTuple_CheckExact(x);
    if ((!tuple && !PyList_CheckExact(x)) || depth >= REPR_DEPTH) return 0;
    /* items of exact built-in types only: no Python code runs, the list cannot change */
    Py_ssize_t n = Py_SIZE(x);
    PyObject **items = tuple ? &PyTuple_GET_ITEM(x, 0) : PySequence_Fast_ITEMS(x);
    if (emberB_append(b, tuple ? "(" : "[", 1)) return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i && emberB_append(b, ", ", 2)) return -1;
        int rc = put_repr(b, items[i], depth + 1);
        if (rc <= 0) return rc;
    }
    if (tuple && n == 1) return emberB_append(b, ",)", 2) ? -1 : 1;
    return emberB_append(b, tuple ? ")" : "]", 1) ? -1 : 1;
}

/* Appends x as a line of saveAsTextFile: bytes as they are, str in UTF-8, anything else
 * as str(x) in UTF-8 (formatted here for ints, tuples and lists of put_repr's kinds); then
 * "\n". Returns 0, or -1 with an exception. */
static int put_line(emberB_buf *b, PyObject *x) {
    int rc;
    size_t start = b->len;
    if (PyBytes_Check(x)) {
        rc = emberB_append(b, PyBytes_AS_STRING(x), (size_t)PyBytes_GET_SIZE(x));
    } else if ((PyLong_CheckExact(x) || PyTuple_CheckExact(x) || PyList_CheckExact(x)) &&
               (rc = put_repr(b, x, 0)) != 0) {
        if (rc < 0) goto nomem;
        rc = 0;
    } else {
        b->len = start; /* what put_repr wrote of a record it then declined */
        PyObject *s = PyUnicode_Check(x) ? Py_NewRef(x) : PyObject_Str(x);
        if (!s) return -1;
        Py_ssize_t n;
        const char *u = PyUnicode_AsUTF8AndSize(s, &n);
        rc = u ? emberB_append(b, u, (size_t)n) : 0;
        Py_DECREF(s);
        if (!u) return -1;
    }
    if (rc || emberB_append(b, "\n", 1)) goto nomem;
    return 0;
nomem:
    PyErr_NoMemory();
    return -1;
}

/* text_chunk(iterator, size) -> bytes: the iterator's next elements as the lines
 * saveAsTextFile writes, at least size bytes of them unless it ends; b"" at its end. */
static PyObject *text_chunk(PyObject *mod, PyObject *args) {
    (void)mod;
    PyObject *it, *x, *result = NULL;
    Py_ssize_t size;
    if (!PyArg_ParseTuple(args, "On", &it, &size)) return NULL;
    if (!PyIter_Check(it))
        return PyErr_Format(PyExc_TypeError, "text_chunk needs an iterator, got a %.100s", Py_TYPE(it)->tp_name);
    emberB_buf b = {0};
    while ((Py_ssize_t)b.len < size && (x = PyIter_Next(it))) {
        int rc = put_line(&b, x);
        Py_DECREF(x);
        if (rc) goto done;
    }
    if (!PyErr_Occurred()) result = PyBytes_FromStringAndSize((const char *)b.data, (Py_ssize_t)b.len);
done:
    emberB_free(&b);
    return result;
}

PyMethodDef core_codec_methods[] = {
    {"text_chunk", text_chunk, METH_VARARGS,
     "text_chunk(iterator, size): the next elements as saveAsTextFile's lines (bytes as they are, else str() in "
     "UTF-8, each followed by a newline), at least size bytes unless the iterator ends; b'' at its end."},
    {"write_compressed", write_compressed, METH_VARARGS,
     "write_compressed(path, codec, chunks): writes the bytes of chunks compressed with codec into path."},
    {"codec_info", codec_info, METH_NOARGS, "codec_info(): {extension: (codec id, name, available in this build)}."},
    {"describe_bytes", describe_bytes, METH_O, "describe_bytes(head): what a file starting with head looks like."},
    {NULL, NULL, 0, NULL},
};

/* ---- SequenceFile records ------------------------------------------------------------ */

/* SeqReader(path, start, end): the records of a split of a SequenceFile as
 * (offset, key bytes, value bytes); key_class, value_class, compression, codec. */
typedef struct {
    PyObject_HEAD ember_seq_reader *r;
} SeqReader;

static void SeqReader_dealloc(SeqReader *self) {
    PyTypeObject *tp = Py_TYPE(self);
    ember_seq_reader_close(self->r);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *SeqReader_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    (void)kw;
    const char *path;
    long long start, end;
    if (!PyArg_ParseTuple(args, "sLL", &path, &start, &end)) return NULL;
    SeqReader *self = (SeqReader *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = ember_seq_reader_open(path, start, end, &self->r);
    Py_END_ALLOW_THREADS if (rc) {
        Py_DECREF(self);
        return core_raise(core_state_of_type(type), rc);
    }
    return (PyObject *)self;
}

static PyObject *SeqReader_next(SeqReader *self) {
    ember_seq_record rec;
    int rc = ember_seq_reader_next(self->r, &rec);
    if (rc == 0) return NULL;
    if (rc < 0) return core_raise(core_state_of_type(Py_TYPE(self)), rc);
    return Py_BuildValue("(Ly#y#)", (long long)rec.offset, (const char *)rec.key, (Py_ssize_t)rec.key_len,
                         (const char *)rec.value, (Py_ssize_t)rec.value_len);
}

static PyObject *str_or_none(const char *s) {
    return s ? PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace") : Py_NewRef(Py_None);
}

static PyObject *SeqReader_key_class(SeqReader *self, void *c) {
    (void)c;
    return str_or_none(ember_seq_reader_key_class(self->r));
}
static PyObject *SeqReader_value_class(SeqReader *self, void *c) {
    (void)c;
    return str_or_none(ember_seq_reader_value_class(self->r));
}
static PyObject *SeqReader_compression(SeqReader *self, void *c) {
    (void)c;
    return str_or_none(ember_seq_reader_compression(self->r, NULL));
}
static PyObject *SeqReader_codec(SeqReader *self, void *c) {
    (void)c;
    const char *codec;
    ember_seq_reader_compression(self->r, &codec);
    return str_or_none(codec);
}

static PyGetSetDef SeqReader_getset[] = {
    {"key_class", (getter)SeqReader_key_class, NULL, "the keys' Writable class", NULL},
    {"value_class", (getter)SeqReader_value_class, NULL, "the values' Writable class", NULL},
    {"compression", (getter)SeqReader_compression, NULL, "None, 'record' or 'block'", NULL},
    {"codec", (getter)SeqReader_codec, NULL, "the codec class of a compressed file, or None", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot SeqReader_slots[] = {
    {Py_tp_new, SeqReader_new},
    {Py_tp_dealloc, SeqReader_dealloc},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, SeqReader_next},
    {Py_tp_getset, SeqReader_getset},
    {Py_tp_doc, "SeqReader(path, start, end): (offset, key, value) records of a SequenceFile split."},
    {0, NULL},
};

static PyType_Spec SeqReader_spec = {"ember._core.SeqReader", sizeof(SeqReader), 0, Py_TPFLAGS_DEFAULT,
                                     SeqReader_slots};

int core_add_formats(PyObject *m, core_state *st) {
    (void)st;
    PyObject *t = PyType_FromModuleAndSpec(m, &SeqReader_spec, NULL);
    if (!t) return -1;
    int rc = PyModule_AddObjectRef(m, "SeqReader", t);
    Py_DECREF(t);
    return rc;
}
