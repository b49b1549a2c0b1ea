/* formats.c — file formats in the extension: the compression codecs (src/codec.c) as
 * saveAsTextFile uses them (write_compressed streams an iterable of bytes through a
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

PyMethodDef core_codec_methods[] = {
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
