/* worker_io.c — the worker side of the protocol, in C: frames on the worker's pipes,
 * the record iterators a task reads (batches sent by the engine, a text split, the
 * buckets of shuffle files), and the two sinks a task writes (result batches back
 * to the engine, or a shuffle file with map-side combining).
 *
 * Records travel as pickled lists (protocol 5). Output batches grow from 1 record,
 * doubling while a pickled batch is under 64 KiB and halving above 1 MiB, so small
 * results go out at once and big ones in few frames.
 */
#include "core.h"

#include "combiner.h"

#include "internal.h"
#include "wire.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH_SMALL (64 * 1024)
#define BATCH_LARGE (1024 * 1024)
#define WRITE_BUFFER (64 * 1024)

/* ---- FrameIO ------------------------------------------------------------------ */

/* Frames are read with wire.c's parser (the engine reads with the same one) and
 * written with its headers; the task pipe is blocking, read with the GIL released. */
typedef struct {
    PyObject_HEAD int rfd, wfd;
    emberW_parser in;
    uint8_t *wbuf;
    size_t wlen;
} FrameIO;

static void FrameIO_dealloc(FrameIO *self) {
    PyTypeObject *tp = Py_TYPE(self);
    emberW_parser_free(&self->in);
    PyMem_Free(self->wbuf);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static int FrameIO_init(FrameIO *self, PyObject *args, PyObject *kw) {
    (void)kw;
    if (!PyArg_ParseTuple(args, "ii", &self->rfd, &self->wfd)) return -1;
    self->wbuf = PyMem_Malloc(WRITE_BUFFER);
    if (!self->wbuf) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* Reads one frame: 1 with *type and the payload (in the parser's buffer, valid until
 * the next read), 0 at EOF between frames, -1 with an exception. */
static int read_frame_raw(FrameIO *self, uint32_t *type, const uint8_t **payload, size_t *len) {
    int r;
    Py_BEGIN_ALLOW_THREADS r = emberW_read_frame(&self->in, self->rfd, type, payload, len);
    Py_END_ALLOW_THREADS if (r < 0) {
        core_raise(core_state_of_type(Py_TYPE(self)), r);
        return -1;
    }
    return r;
}

/* Reads one frame: 1 with *type and a new bytes object in *payload, 0 at EOF, -1 error. */
static int read_frame(FrameIO *self, uint32_t *type, PyObject **payload) {
    const uint8_t *p;
    size_t len;
    int r = read_frame_raw(self, type, &p, &len);
    if (r <= 0) return r;
    *payload = PyBytes_FromStringAndSize((const char *)p, (Py_ssize_t)len);
    return *payload ? 1 : -1;
}

static int write_all(int fd, const uint8_t *p, size_t n) {
    while (n) {
        ssize_t w;
        Py_BEGIN_ALLOW_THREADS w = write(fd, p, n);
        Py_END_ALLOW_THREADS if (w < 0) {
            if (errno == EINTR) continue;
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int flush_io(FrameIO *self) {
    int r = write_all(self->wfd, self->wbuf, self->wlen);
    self->wlen = 0;
    return r;
}

static int write_frame(FrameIO *self, uint32_t type, const void *data, size_t len) {
    if (len > EMBER_WIRE_MAX_FRAME) {
        PyErr_Format(PyExc_ValueError, "a batch of %zu bytes is over the frame limit; use smaller records", len);
        return -1;
    }
    uint8_t hdr[EMBER_WIRE_HEADER];
    emberW_header(hdr, type, (uint32_t)len);
    if (self->wlen + EMBER_WIRE_HEADER + len > WRITE_BUFFER) {
        if (flush_io(self) < 0) return -1;
    }
    if (EMBER_WIRE_HEADER + len > WRITE_BUFFER) {
        if (write_all(self->wfd, hdr, EMBER_WIRE_HEADER) < 0) return -1;
        return write_all(self->wfd, data, len);
    }
    memcpy(self->wbuf + self->wlen, hdr, EMBER_WIRE_HEADER);
    memcpy(self->wbuf + self->wlen + EMBER_WIRE_HEADER, data, len);
    self->wlen += EMBER_WIRE_HEADER + len;
    return 0;
}

static PyObject *FrameIO_read(FrameIO *self, PyObject *unused) {
    (void)unused;
    uint32_t type;
    PyObject *payload;
    int r = read_frame(self, &type, &payload);
    if (r < 0) return NULL;
    if (r == 0) Py_RETURN_NONE;
    PyObject *t = Py_BuildValue("(IN)", type, payload);
    return t;
}

static PyObject *FrameIO_write(FrameIO *self, PyObject *args) {
    unsigned int type;
    Py_buffer b;
    if (!PyArg_ParseTuple(args, "Iy*", &type, &b)) return NULL;
    int r = write_frame(self, type, b.buf, (size_t)b.len);
    PyBuffer_Release(&b);
    if (r < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *FrameIO_flush(FrameIO *self, PyObject *unused) {
    (void)unused;
    if (flush_io(self) < 0) return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef FrameIO_methods[] = {
    {"read", (PyCFunction)FrameIO_read, METH_NOARGS, "read() -> (type, payload) or None at end of stream"},
    {"write", (PyCFunction)FrameIO_write, METH_VARARGS, "write(type, payload): buffered"},
    {"flush", (PyCFunction)FrameIO_flush, METH_NOARGS, "flush()"},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot FrameIO_slots[] = {
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_init, FrameIO_init},
    {Py_tp_dealloc, FrameIO_dealloc},
    {Py_tp_methods, FrameIO_methods},
    {Py_tp_doc, "FrameIO(read_fd, write_fd): frames of the worker protocol (wire.h)."},
    {0, NULL},
};

static PyType_Spec FrameIO_spec = {"ember._core.FrameIO", sizeof(FrameIO), 0, Py_TPFLAGS_DEFAULT, FrameIO_slots};

/* ---- record iterators over batches ------------------------------------------------ */

/* The shared part of iterators that yield the records of pickled lists. */
typedef struct {
    PyObject *loads;
    PyObject *batch; /* current list */
    Py_ssize_t idx;
    uint64_t *count; /* the task metric that counts the records taken (in the module state) */
} batch_cursor;

static PyObject *cursor_take(batch_cursor *c) {
    if (c->batch && c->idx < PyList_GET_SIZE(c->batch)) {
        (*c->count)++;
        return Py_NewRef(PyList_GET_ITEM(c->batch, c->idx++));
    }
    Py_CLEAR(c->batch);
    return NULL;
}

/* A new cursor's fields: pickle.loads and the metric its records count into. */
static void cursor_init(batch_cursor *c, core_state *st, int metric) {
    c->loads = Py_NewRef(st->loads);
    c->count = &st->task_metrics[metric];
}

PyObject *core_loads_memory(PyObject *loads, const void *data, size_t len) {
    if (len > PY_SSIZE_T_MAX) return PyErr_NoMemory();
    PyObject *view = PyMemoryView_FromMemory((char *)data, (Py_ssize_t)len, PyBUF_READ);
    if (!view) return NULL;
    PyObject *out = PyObject_CallOneArg(loads, view);
    /* The memory is the caller's only for this call: a view kept beyond it reads as
     * released (ValueError), never as freed memory. */
    PyObject *released = PyObject_CallMethod(view, "release", NULL);
    Py_DECREF(view);
    if (!released) {
        Py_XDECREF(out);
        return NULL;
    }
    Py_DECREF(released);
    return out;
}

/* Loads a batch: a pickled list, or typed records (ember/record.h: native steps and
 * C sources write those; their header "EMR" never starts a pickle). */
static int cursor_load(batch_cursor *c, const char *data, Py_ssize_t len, const char *where) {
    PyObject *lst;
    if (len >= EMBER_BATCH_HEADER && memcmp(data, "EMR", 3) == 0)
        lst = core_records_list((const uint8_t *)data, (size_t)len);
    else
        lst = core_loads_memory(c->loads, data, (size_t)len);
    if (!lst) return -1;
    if (!PyList_CheckExact(lst)) {
        Py_DECREF(lst);
        PyErr_Format(PyExc_ValueError, "corrupt batch in %s: expected a pickled list", where);
        return -1;
    }
    Py_XSETREF(c->batch, lst);
    c->idx = 0;
    return 0;
}

/* Streams(io, n): the n data streams of a task's input. The engine sends them one
 * after another (INPUT_BEGIN, DATA..., INPUT_END); a reader of stream k takes its
 * batches in order, and batches of other streams read on the way are queued. */
typedef struct {
    PyObject_HEAD FrameIO *io;
    Py_ssize_t n;
    long cur;          /* the stream whose frames are arriving, or -1 */
    PyObject **queues; /* per stream: list of payloads read ahead */
    Py_ssize_t *heads; /* per stream: next payload to take from its queue */
    char *ended;
    Py_ssize_t nended;
} Streams;

static void Streams_dealloc(Streams *self) {
    PyTypeObject *tp = Py_TYPE(self);
    Py_XDECREF(self->io);
    for (Py_ssize_t i = 0; self->queues && i < self->n; i++)
        Py_XDECREF(self->queues[i]);
    PyMem_Free(self->queues);
    PyMem_Free(self->heads);
    PyMem_Free(self->ended);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *Streams_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    (void)kw;
    core_state *st = core_state_of_type(type);
    PyObject *io;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "O!n", st->FrameIO_type, &io, &n)) return NULL;
    if (n < 0) return PyErr_Format(PyExc_ValueError, "negative stream count");
    Streams *self = (Streams *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    self->io = (FrameIO *)Py_NewRef(io);
    self->n = n;
    self->cur = -1;
    self->queues = PyMem_Calloc(n ? n : 1, sizeof *self->queues);
    self->heads = PyMem_Calloc(n ? n : 1, sizeof *self->heads);
    self->ended = PyMem_Calloc(n ? n : 1, 1);
    if (!self->queues || !self->heads || !self->ended) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n; i++)
        if (!(self->queues[i] = PyList_New(0))) {
            Py_DECREF(self);
            return NULL;
        }
    return (PyObject *)self;
}

/* Reads one frame and files it. Returns 1 when a DATA payload of stream k arrived
 * (stored in *data), 0 otherwise, -1 on error. */
static int streams_read_one(Streams *self, Py_ssize_t k, PyObject **data) {
    uint32_t type;
    const uint8_t *p;
    size_t len;
    int r = read_frame_raw(self->io, &type, &p, &len);
    if (r < 0) return -1;
    if (r == 0) {
        PyErr_SetString(PyExc_EOFError, "the engine closed the task pipe before the end of the input");
        return -1;
    }
    if (type == EMBER_FRAME_INPUT_BEGIN) {
        uint32_t s;
        int rc = emberW_u32_decode(p, len, &s);
        if (rc) {
            core_raise(core_state_of_type(Py_TYPE(self)), rc);
            return -1;
        }
        if ((Py_ssize_t)s >= self->n) {
            PyErr_Format(PyExc_ValueError, "input stream %u of a task with %zd streams", s, self->n);
            return -1;
        }
        self->cur = (long)s;
        return 0;
    }
    if (self->cur < 0 || (type != EMBER_FRAME_DATA && type != EMBER_FRAME_INPUT_END)) {
        PyErr_Format(PyExc_ValueError, "unexpected frame %s (%u) in a task's input", emberW_frame_name(type), type);
        return -1;
    }
    if (type == EMBER_FRAME_INPUT_END) {
        if (!self->ended[self->cur]) self->nended++;
        self->ended[self->cur] = 1;
        self->cur = -1;
        return 0;
    }
    PyObject *payload = PyBytes_FromStringAndSize((const char *)p, (Py_ssize_t)len);
    if (!payload) return -1;
    if (self->cur == k) {
        *data = payload;
        return 1;
    }
    r = PyList_Append(self->queues[self->cur], payload);
    Py_DECREF(payload);
    return r;
}

/* The next batch of stream k: a new reference, or NULL without an exception at its end. */
static PyObject *streams_next(Streams *self, Py_ssize_t k) {
    PyObject *q = self->queues[k];
    for (;;) {
        if (self->heads[k] < PyList_GET_SIZE(q)) {
            PyObject *b = Py_NewRef(PyList_GET_ITEM(q, self->heads[k]));
            if (++self->heads[k] == PyList_GET_SIZE(q)) {
                if (PyList_SetSlice(q, 0, PyList_GET_SIZE(q), NULL) < 0) {
                    Py_DECREF(b);
                    return NULL;
                }
                self->heads[k] = 0;
            }
            return b;
        }
        if (self->ended[k]) return NULL;
        PyObject *data = NULL;
        int r = streams_read_one(self, k, &data);
        if (r < 0) return NULL;
        if (r == 1) return data;
    }
}

static PyObject *Streams_drain(Streams *self, PyObject *unused) {
    (void)unused;
    while (self->nended < self->n) {
        PyObject *data = NULL;
        if (streams_read_one(self, -1, &data) < 0) return NULL;
    }
    for (Py_ssize_t i = 0; i < self->n; i++)
        if (PyList_SetSlice(self->queues[i], 0, PyList_GET_SIZE(self->queues[i]), NULL) < 0) return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef Streams_methods[] = {
    {"drain", (PyCFunction)Streams_drain, METH_NOARGS, "Read every stream to its end, dropping what is left."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Streams_slots[] = {
    {Py_tp_new, Streams_new},
    {Py_tp_dealloc, Streams_dealloc},
    {Py_tp_methods, Streams_methods},
    {Py_tp_doc, "Streams(io, n): the data streams of one task's input."},
    {0, NULL},
};

static PyType_Spec Streams_spec = {"ember._core.Streams", sizeof(Streams), 0, Py_TPFLAGS_DEFAULT, Streams_slots};

/* DataIter(streams, k): the records of stream k. */
typedef struct {
    PyObject_HEAD Streams *streams;
    Py_ssize_t k;
    batch_cursor cur;
    int done;
} DataIter;

static void DataIter_dealloc(DataIter *self) {
    PyTypeObject *tp = Py_TYPE(self);
    Py_XDECREF(self->streams);
    Py_XDECREF(self->cur.batch);
    Py_XDECREF(self->cur.loads);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *DataIter_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    (void)kw;
    core_state *st = core_state_of_type(type);
    PyObject *streams;
    Py_ssize_t k;
    if (!PyArg_ParseTuple(args, "O!n", st->Streams_type, &streams, &k)) return NULL;
    if (k < 0 || k >= ((Streams *)streams)->n) return PyErr_Format(PyExc_ValueError, "no input stream %zd", k);
    DataIter *self = (DataIter *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    self->streams = (Streams *)Py_NewRef(streams);
    self->k = k;
    cursor_init(&self->cur, st, EMBER_METRIC_RECORDS_READ);
    return (PyObject *)self;
}

static PyObject *DataIter_next(DataIter *self) {
    for (;;) {
        PyObject *x = cursor_take(&self->cur);
        if (x || self->done) return x;
        PyObject *b = streams_next(self->streams, self->k);
        if (!b) {
            if (PyErr_Occurred()) return NULL;
            self->done = 1;
            return NULL;
        }
        int r = cursor_load(&self->cur, PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b), "a task's input");
        Py_DECREF(b);
        if (r < 0) return NULL;
    }
}

static PyType_Slot DataIter_slots[] = {
    {Py_tp_new, DataIter_new},
    {Py_tp_dealloc, DataIter_dealloc},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, DataIter_next},
    {Py_tp_doc, "DataIter(streams, k): records of input stream k of a task."},
    {0, NULL},
};

static PyType_Spec DataIter_spec = {"ember._core.DataIter", sizeof(DataIter), 0, Py_TPFLAGS_DEFAULT, DataIter_slots};

/* ShuffleIter(paths, bucket): records of one bucket of several shuffle files. */
typedef struct {
    PyObject_HEAD ember_shuffle_reader *r;
    batch_cursor cur;
    int failed; /* a file could not be read (corrupt, missing): see failed_file */
} ShuffleIter;

static void ShuffleIter_dealloc(ShuffleIter *self) {
    PyTypeObject *tp = Py_TYPE(self);
    ember_shuffle_reader_close(self->r);
    Py_XDECREF(self->cur.batch);
    Py_XDECREF(self->cur.loads);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *ShuffleIter_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    (void)kw;
    core_state *st = core_state_of_type(type);
    PyObject *paths;
    unsigned int bucket;
    if (!PyArg_ParseTuple(args, "OI", &paths, &bucket)) return NULL;
    PyObject *seq = PySequence_Fast(paths, "paths must be a list of str");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    const char **pv = PyMem_Calloc(n ? n : 1, sizeof *pv);
    ShuffleIter *self = NULL;
    if (!pv) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        if (!(pv[i] = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(seq, i)))) goto done;
    self = (ShuffleIter *)type->tp_alloc(type, 0);
    if (!self) goto done;
    cursor_init(&self->cur, st, EMBER_METRIC_SHUFFLE_RECORDS_READ);
    int rc = ember_shuffle_reader_open(pv, (size_t)n, bucket, &self->r);
    if (rc) {
        Py_CLEAR(self);
        core_raise(st, rc);
    }
done:
    PyMem_Free(pv);
    Py_DECREF(seq);
    return (PyObject *)self;
}

static PyObject *ShuffleIter_next(ShuffleIter *self) {
    for (;;) {
        PyObject *x = cursor_take(&self->cur);
        if (x) return x;
        const void *data;
        size_t len;
        int rc = ember_shuffle_reader_next(self->r, &data, &len);
        if (rc == 0) return NULL;
        if (rc < 0) {
            self->failed = rc != EMBER_ENOMEM;
            return core_raise(core_state_of_type(Py_TYPE(self)), rc);
        }
        if (cursor_load(&self->cur, data, (Py_ssize_t)len, "a shuffle file") < 0) {
            self->failed = 1; /* a record that passed its checksum but does not unpickle */
            return NULL;
        }
    }
}

static PyObject *ShuffleIter_get_failed_file(ShuffleIter *self, void *c) {
    (void)c;
    const char *path = self->failed ? ember_shuffle_reader_file(self->r) : NULL;
    if (!path) Py_RETURN_NONE;
    return PyUnicode_DecodeFSDefault(path);
}

static PyGetSetDef ShuffleIter_getset[] = {
    {"failed_file", (getter)ShuffleIter_get_failed_file, NULL,
     "the shuffle file that could not be read (corrupt or missing), or None", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot ShuffleIter_slots[] = {
    {Py_tp_new, ShuffleIter_new},
    {Py_tp_dealloc, ShuffleIter_dealloc},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, ShuffleIter_next},
    {Py_tp_getset, ShuffleIter_getset},
    {Py_tp_doc, "ShuffleIter(paths, bucket): records of one bucket of shuffle files."},
    {0, NULL},
};

static PyType_Spec ShuffleIter_spec = {"ember._core.ShuffleIter", sizeof(ShuffleIter), 0, Py_TPFLAGS_DEFAULT,
                                       ShuffleIter_slots};

/* BlockIter(path): the records of a cached partition's block file (src/blocks.c's
 * format), read whole and checked (CRC-32C) when the first record is asked for. */
typedef struct {
    PyObject_HEAD PyObject *path; /* str */
    emberM_batches batches;
    size_t next; /* the batch to load next */
    int loaded;
    int failed; /* the file is missing or damaged: see failed_file */
    batch_cursor cur;
} BlockIter;

static void BlockIter_dealloc(BlockIter *self) {
    PyTypeObject *tp = Py_TYPE(self);
    emberM_batches_clear(&self->batches);
    Py_XDECREF(self->path);
    Py_XDECREF(self->cur.batch);
    Py_XDECREF(self->cur.loads);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *BlockIter_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    (void)kw;
    core_state *st = core_state_of_type(type);
    PyObject *path;
    if (!PyArg_ParseTuple(args, "U", &path)) return NULL;
    BlockIter *self = (BlockIter *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    self->path = Py_NewRef(path);
    cursor_init(&self->cur, st, EMBER_METRIC_RECORDS_READ);
    return (PyObject *)self;
}

static PyObject *BlockIter_next(BlockIter *self) {
    core_state *st = core_state_of_type(Py_TYPE(self));
    if (!self->loaded) {
        const char *path = PyUnicode_AsUTF8(self->path);
        if (!path) return NULL;
        int rc;
        Py_BEGIN_ALLOW_THREADS rc = emberM_block_read(path, "a cached partition", &self->batches);
        Py_END_ALLOW_THREADS if (rc) {
            self->failed = rc != EMBER_ENOMEM;
            return core_raise(st, rc);
        }
        self->loaded = 1;
    }
    for (;;) {
        PyObject *x = cursor_take(&self->cur);
        if (x || self->next == self->batches.n) return x;
        ember_buf *b = &self->batches.bufs[self->next++];
        if (cursor_load(&self->cur, (const char *)b->data, (Py_ssize_t)b->len, "a block file") < 0) {
            self->failed = 1; /* a batch that passed its checksum but does not unpickle */
            return NULL;
        }
        ember_free(b->data); /* loaded: its bytes are not needed any more */
        b->data = NULL;
    }
}

static PyObject *BlockIter_get_failed_file(BlockIter *self, void *c) {
    (void)c;
    if (!self->failed) Py_RETURN_NONE;
    return Py_NewRef(self->path);
}

static PyGetSetDef BlockIter_getset[] = {
    {"failed_file", (getter)BlockIter_get_failed_file, NULL,
     "the block file, when it could not be read (corrupt or missing), else None", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot BlockIter_slots[] = {
    {Py_tp_new, BlockIter_new},
    {Py_tp_dealloc, BlockIter_dealloc},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, BlockIter_next},
    {Py_tp_getset, BlockIter_getset},
    {Py_tp_doc, "BlockIter(path): records of a cached partition's block file."},
    {0, NULL},
};

static PyType_Spec BlockIter_spec = {"ember._core.BlockIter", sizeof(BlockIter), 0, Py_TPFLAGS_DEFAULT,
                                     BlockIter_slots};

/* TextIter(path, start, end, flags): the lines of a text split, as str (UTF-8,
 * invalid bytes replaced) or bytes. */
typedef struct {
    PyObject_HEAD ember_line_reader *r;
    int as_bytes;
    uint64_t *count; /* records read (the module state's task metric) */
} TextIter;

static void TextIter_dealloc(TextIter *self) {
    PyTypeObject *tp = Py_TYPE(self);
    ember_line_reader_close(self->r);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *TextIter_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    (void)kw;
    const char *path;
    long long start, end;
    unsigned int flags;
    if (!PyArg_ParseTuple(args, "sLLI", &path, &start, &end, &flags)) return NULL;
    TextIter *self = (TextIter *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    self->as_bytes = (flags & EMBER_TEXT_BYTES) != 0;
    self->count = &core_state_of_type(type)->task_metrics[EMBER_METRIC_RECORDS_READ];
    ember_split s = {(char *)path, start, end, (int)(flags >> EMBER_TEXT_CODEC_SHIFT & 0xff)};
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = ember_line_reader_open(&s, &self->r);
    Py_END_ALLOW_THREADS if (rc) {
        Py_DECREF(self);
        return core_raise(core_state_of_type(type), rc);
    }
    return (PyObject *)self;
}

static PyObject *TextIter_next(TextIter *self) {
    const char *line;
    size_t len;
    int rc = ember_line_reader_next(self->r, &line, &len);
    if (rc == 0) return NULL;
    if (rc < 0) return core_raise(core_state_of_type(Py_TYPE(self)), rc);
    (*self->count)++;
    if (self->as_bytes) return PyBytes_FromStringAndSize(line, (Py_ssize_t)len);
    return PyUnicode_DecodeUTF8(line, (Py_ssize_t)len, "replace");
}

static PyType_Slot TextIter_slots[] = {
    {Py_tp_new, TextIter_new},
    {Py_tp_dealloc, TextIter_dealloc},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, TextIter_next},
    {Py_tp_doc, "TextIter(path, start, end, flags): lines of a text split."},
    {0, NULL},
};

static PyType_Spec TextIter_spec = {"ember._core.TextIter", sizeof(TextIter), 0, Py_TPFLAGS_DEFAULT, TextIter_slots};

/* CountIter(iterable): the records of iterable, counted as records read (a range
 * input's: Python's own range iterator yields them). */
typedef struct {
    PyObject_HEAD PyObject *it;
    uint64_t *count;
} CountIter;

static void CountIter_dealloc(CountIter *self) {
    PyTypeObject *tp = Py_TYPE(self);
    Py_XDECREF(self->it);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *CountIter_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    (void)kw;
    PyObject *src;
    if (!PyArg_ParseTuple(args, "O", &src)) return NULL;
    PyObject *it = PyObject_GetIter(src);
    if (!it) return NULL;
    CountIter *self = (CountIter *)type->tp_alloc(type, 0);
    if (!self) {
        Py_DECREF(it);
        return NULL;
    }
    self->it = it;
    self->count = &core_state_of_type(type)->task_metrics[EMBER_METRIC_RECORDS_READ];
    return (PyObject *)self;
}

static PyObject *CountIter_next(CountIter *self) {
    PyObject *x = Py_TYPE(self->it)->tp_iternext(self->it);
    if (x) (*self->count)++;
    return x;
}

static PyType_Slot CountIter_slots[] = {
    {Py_tp_new, CountIter_new},
    {Py_tp_dealloc, CountIter_dealloc},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, CountIter_next},
    {Py_tp_doc, "CountIter(iterable): its records, counted as the task's records read."},
    {0, NULL},
};

static PyType_Spec CountIter_spec = {"ember._core.CountIter", sizeof(CountIter), 0, Py_TPFLAGS_DEFAULT,
                                     CountIter_slots};

/* ---- sinks ------------------------------------------------------------------------- */

/* Adapts the batch size to the pickled size of the last batch. */
static Py_ssize_t next_batch_size(Py_ssize_t batch, Py_ssize_t pickled, Py_ssize_t cap) {
    if (pickled < BATCH_SMALL && batch < cap) return batch * 2;
    if (pickled > BATCH_LARGE && batch > 1) return batch / 2;
    return batch;
}

static PyObject *dump_list(core_state *st, PyObject *lst) {
    PyObject *a[2] = {lst, st->protocol};
    return PyObject_Vectorcall(st->dumps, a, 2, NULL);
}

/* The records of it as typed-record batches (ember/record.h) of about 64 KiB, sent as
 * DATA frames: the results a C program reads. Returns the count, or -1 with an
 * exception (a record that does not fit names its type). */
static Py_ssize_t write_typed(FrameIO *io, PyObject *it) {
    ember_writer w;
    ember_writer_init(&w);
    Py_ssize_t count = 0;
    PyObject *item;
    int rc = ember_put_batch_header(&w);
    while (rc == 0 && (item = PyIter_Next(it))) {
        rc = core_record_encode(&w, item, "a result of the job");
        Py_DECREF(item);
        count++;
        if (rc == 0 && w.len >= 64 * 1024) {
            rc = write_frame(io, EMBER_FRAME_DATA, (const char *)w.data, w.len);
            ember_writer_reset(&w);
            if (rc == 0) rc = ember_put_batch_header(&w);
        }
    }
    if (rc == 0 && PyErr_Occurred()) rc = -1;
    if (rc == 0 && w.len > EMBER_BATCH_HEADER) rc = write_frame(io, EMBER_FRAME_DATA, (const char *)w.data, w.len);
    if (rc > 0 || (rc < 0 && !PyErr_Occurred())) PyErr_NoMemory();
    ember_writer_free(&w);
    return rc ? -1 : count;
}

/* write_batches(io, iterable, typed=False) -> number of records, sent as DATA frames:
 * pickled batches, or typed-record ones (typed). */
static PyObject *py_write_batches(PyObject *m, PyObject *args) {
    core_state *st = core_get_state(m);
    PyObject *io, *src;
    int typed = 0;
    if (!PyArg_ParseTuple(args, "O!O|p", st->FrameIO_type, &io, &src, &typed)) return NULL;
    PyObject *it = PyObject_GetIter(src);
    if (!it) return NULL;
    if (typed) {
        Py_ssize_t n = write_typed((FrameIO *)io, it);
        Py_DECREF(it);
        return n < 0 ? NULL : PyLong_FromSsize_t(n);
    }
    Py_ssize_t batch = 1, count = 0;
    PyObject *lst = PyList_New(0), *item;
    if (!lst) goto fail;
    for (;;) {
        item = PyIter_Next(it);
        if (item) {
            int rc = PyList_Append(lst, item);
            Py_DECREF(item);
            if (rc < 0) goto fail;
            count++;
            if (PyList_GET_SIZE(lst) < batch) continue;
        } else if (PyErr_Occurred()) {
            goto fail;
        }
        if (PyList_GET_SIZE(lst) > 0) {
            PyObject *b = dump_list(st, lst);
            if (!b) goto fail;
            int rc = write_frame((FrameIO *)io, EMBER_FRAME_DATA, PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b));
            batch = next_batch_size(batch, PyBytes_GET_SIZE(b), 1 << 20);
            Py_DECREF(b);
            if (rc < 0) goto fail;
            Py_SETREF(lst, PyList_New(0));
            if (!lst) goto fail;
        }
        if (!item) break;
    }
    Py_DECREF(lst);
    Py_DECREF(it);
    st->task_metrics[EMBER_METRIC_RECORDS_WRITTEN] += (uint64_t)count;
    return PyLong_FromSsize_t(count);
fail:
    Py_XDECREF(lst);
    Py_DECREF(it);
    return NULL;
}

/* The buckets of a shuffle map task: per bucket a list of pending pairs. */
typedef struct {
    core_state *st;
    ember_shuffle_writer *w;
    PyObject **lists;
    uint32_t n;
    Py_ssize_t batch;
    PyObject *partition_func; /* or Py_None: portable_hash */
    PyObject *modulus;        /* int n, for partition_func's result; NULL with portable_hash */
    uint64_t written;         /* records put in the buckets */
} buckets;

/* The UTF-8 of str s (borrowed from s), or NULL (no exception) when it has none (lone
 * surrogates). */
static const char *utf8_of(PyObject *s, Py_ssize_t *n) {
    if (PyUnicode_IS_COMPACT_ASCII(s)) {
        *n = PyUnicode_GET_LENGTH(s);
        return (const char *)PyUnicode_DATA(s);
    }
    const char *u = PyUnicode_AsUTF8AndSize(s, n);
    if (!u) PyErr_Clear();
    return u;
}

/* A list of (str, int) pairs, the ints in 32 bits, pickled without the pickle
 * module: what pickle.loads makes of it is what it makes of pickle.dumps's bytes
 * (equal strs and ints in 2-tuples in a list; no memo, so a str met twice loads as
 * two equal objects). NULL without an exception when a record is of another shape:
 * the caller pickles the list itself. The opcodes: PROTO 5, EMPTY_LIST, MARK, per
 * record SHORT_BINUNICODE or BINUNICODE, BININT1, BININT2 or BININT, TUPLE2, then
 * APPENDS, STOP. */
static PyObject *dump_pairs(PyObject *lst) {
    Py_ssize_t n = PyList_GET_SIZE(lst), size = 2 + 1 + 2 + 1;
    for (Py_ssize_t j = 0; j < n; j++) {
        PyObject *t = PyList_GET_ITEM(lst, j);
        if (!PyTuple_CheckExact(t) || PyTuple_GET_SIZE(t) != 2) return NULL;
        PyObject *k = PyTuple_GET_ITEM(t, 0), *v = PyTuple_GET_ITEM(t, 1);
        if (!PyUnicode_CheckExact(k) || !PyLong_CheckExact(v)) return NULL;
        Py_ssize_t len;
        if (!utf8_of(k, &len) || len > INT32_MAX) return NULL;
        int overflow;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow || x < INT32_MIN || x > INT32_MAX) return NULL;
        size += (len < 256 ? 2 : 5) + len + (x < 0 || x > 65535 ? 5 : x > 255 ? 3 : 2) + 1;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, size);
    if (!out) return NULL;
    unsigned char *p = (unsigned char *)PyBytes_AS_STRING(out);
    *p++ = 0x80; /* PROTO 5 */
    *p++ = 5;
    *p++ = ']'; /* EMPTY_LIST */
    *p++ = '('; /* MARK */
    for (Py_ssize_t j = 0; j < n; j++) {
        PyObject *t = PyList_GET_ITEM(lst, j);
        Py_ssize_t len;
        const char *u = utf8_of(PyTuple_GET_ITEM(t, 0), &len);
        if (len < 256) {
            *p++ = 0x8c; /* SHORT_BINUNICODE */
            *p++ = (unsigned char)len;
        } else {
            *p++ = 'X'; /* BINUNICODE, 4-byte little-endian length */
            for (int s = 0; s < 32; s += 8)
                *p++ = (unsigned char)((uint32_t)len >> s);
        }
        memcpy(p, u, (size_t)len);
        p += len;
        int overflow;
        long long x = PyLong_AsLongLongAndOverflow(PyTuple_GET_ITEM(t, 1), &overflow);
        if (x >= 0 && x <= 255) {
            *p++ = 'K'; /* BININT1 */
            *p++ = (unsigned char)x;
        } else if (x >= 0 && x <= 65535) {
            *p++ = 'M'; /* BININT2, little-endian */
            *p++ = (unsigned char)x;
            *p++ = (unsigned char)(x >> 8);
        } else {
            *p++ = 'J'; /* BININT, 4-byte little-endian two's complement */
            for (int s = 0; s < 32; s += 8)
                *p++ = (unsigned char)((uint32_t)x >> s);
        }
        *p++ = 0x86; /* TUPLE2 */
    }
    *p++ = 'e';                                       /* APPENDS */
    *p++ = '.';                                       /* STOP */
    if ((char *)p != PyBytes_AS_STRING(out) + size) { /* the two passes disagree: a bug here */
        Py_DECREF(out);
        return PyErr_Format(PyExc_SystemError, "dump_pairs wrote %zd bytes of %zd",
                            (Py_ssize_t)((char *)p - PyBytes_AS_STRING(out)), size);
    }
    return out;
}

static int bucket_flush(buckets *b, uint32_t i) {
    if (PyList_GET_SIZE(b->lists[i]) == 0) return 0;
    PyObject *bytes = dump_pairs(b->lists[i]);
    if (!bytes && !PyErr_Occurred()) bytes = dump_list(b->st, b->lists[i]);
    if (!bytes) return -1;
    int rc = ember_shuffle_writer_append(b->w, i, PyBytes_AS_STRING(bytes), (size_t)PyBytes_GET_SIZE(bytes));
    b->batch = next_batch_size(b->batch, PyBytes_GET_SIZE(bytes), 65536);
    Py_DECREF(bytes);
    if (rc) {
        core_raise(b->st, rc);
        return -1;
    }
    Py_SETREF(b->lists[i], PyList_New(0));
    return b->lists[i] ? 0 : -1;
}

static int bucket_of(buckets *b, PyObject *key, uint32_t *out) {
    if (b->partition_func == Py_None) {
        Py_hash_t h = core_portable_hash(key);
        if (h == -1 && PyErr_Occurred()) return -1;
        long long r = (long long)(h % (Py_hash_t)b->n);
        *out = (uint32_t)(r < 0 ? r + b->n : r);
        return 0;
    }
    if (Py_TYPE(b->partition_func) == b->st->RangePartitioner_type) { /* sortByKey's: no Python call */
        Py_ssize_t p;
        if (core_range_partition(b->partition_func, key, &p) < 0) return -1;
        *out = (uint32_t)(((p % (Py_ssize_t)b->n) + (Py_ssize_t)b->n) % (Py_ssize_t)b->n);
        return 0;
    }
    /* partitionFunc(key) % n with Python's modulo: in [0, n) for an int, but the
     * function may return any object whose __mod__ returns anything; check it. */
    PyObject *r = PyObject_CallOneArg(b->partition_func, key);
    if (!r) return -1;
    PyObject *mod = PyNumber_Remainder(r, b->modulus);
    Py_DECREF(r);
    if (!mod) return -1;
    if (!PyLong_Check(mod)) {
        PyErr_Format(PyExc_TypeError,
                     "the partition function's result %% %u is a %.100s (%R), not an int; "
                     "partitionFunc must return an int",
                     (unsigned)b->n, Py_TYPE(mod)->tp_name, mod);
        Py_DECREF(mod);
        return -1;
    }
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(mod, &overflow);
    if (v == -1 && PyErr_Occurred()) {
        Py_DECREF(mod);
        return -1;
    }
    if (overflow || v < 0 || v >= (long long)b->n) {
        PyErr_Format(PyExc_ValueError,
                     "the partition function's result %% %u is %R, not a partition number in [0, %u): "
                     "partitionFunc(key) %% numPartitions must give one of the %u partitions",
                     (unsigned)b->n, mod, (unsigned)b->n, (unsigned)b->n);
        Py_DECREF(mod);
        return -1;
    }
    Py_DECREF(mod);
    *out = (uint32_t)v;
    return 0;
}

static int bucket_add(buckets *b, PyObject *key, PyObject *pair) {
    uint32_t i;
    if (bucket_of(b, key, &i) < 0) return -1;
    if (PyList_Append(b->lists[i], pair) < 0) return -1;
    b->written++;
    return PyList_GET_SIZE(b->lists[i]) >= b->batch ? bucket_flush(b, i) : 0;
}

static int emit_pair(void *arg, PyObject *k, PyObject *v) {
    PyObject *pair = PyTuple_Pack(2, k, v);
    if (!pair) return -1;
    int rc = bucket_add(arg, k, pair);
    Py_DECREF(pair);
    return rc;
}

/* Writes (k, create(v)) (or (k, v) when create is None): a record the capped
 * combiner let pass; item is the record (k, v), or NULL when it was not made. */
static int emit_uncombined(buckets *b, PyObject *item, PyObject *k, PyObject *v, PyObject *create) {
    if (create == Py_None) return item ? bucket_add(b, k, item) : emit_pair(b, k, v);
    PyObject *c = PyObject_CallOneArg(create, v);
    if (!c) return -1;
    int rc = emit_pair(b, k, c);
    Py_DECREF(c);
    return rc;
}

/* A record's key and value (borrowed), or -1 with TypeError when it is not a pair. */
static int split_record(PyObject *item, PyObject **k, PyObject **v) {
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
    PyErr_Format(PyExc_TypeError,
                 "a shuffle (partitionBy, reduceByKey, groupByKey ...) expects (key, value) "
                 "pairs, got a %.100s",
                 Py_TYPE(item)->tp_name);
    return -1;
}

#define AHEAD 16 /* records taken ahead of the one combined */

/* shuffle_write(iterable, path, nbuckets, partition_func, create, merge, combine_bytes,
 *               buffer_bytes) -> list of each bucket's bytes.
 * Records are (key, value) pairs. With merge not None, values of equal keys are
 * combined on the map side (create(v) starts a combiner; None keeps v) in a table of
 * about combine_bytes at most (combiner.c: drained when full, or capped when its hit
 * rate says combining does not pay), and the combined pairs are written at the end. */
static PyObject *py_shuffle_write(PyObject *m, PyObject *args) {
    core_state *st = core_get_state(m);
    PyObject *src, *pfunc, *create, *merge;
    const char *path;
    unsigned int n;
    Py_ssize_t combine_bytes, buffer_bytes;
    if (!PyArg_ParseTuple(args, "OsIOOOnn", &src, &path, &n, &pfunc, &create, &merge, &combine_bytes, &buffer_bytes))
        return NULL;
    if (n == 0) return PyErr_Format(PyExc_ValueError, "a shuffle needs at least one bucket");
    buckets b = {st, NULL, NULL, n, 16, pfunc, NULL, 0};
    PyObject *it = NULL, *result = NULL, *item = NULL;
    PyObject *ahead[AHEAD];
    Py_hash_t hashes[AHEAD] = {0};
    size_t a_head = 0, a_len = 0;
    combiner comb = {0};
    uint64_t *sizes = NULL;
    b.lists = PyMem_Calloc(n, sizeof *b.lists);
    sizes = PyMem_Calloc(n, sizeof *sizes);
    if (!b.lists || !sizes) {
        PyErr_NoMemory();
        goto done;
    }
    for (uint32_t i = 0; i < n; i++)
        if (!(b.lists[i] = PyList_New(0))) goto done;
    if (pfunc != Py_None && !(b.modulus = PyLong_FromUnsignedLong(n))) goto done;
    int rc = ember_shuffle_writer_open(path, n, (size_t)buffer_bytes, &b.w);
    if (rc) {
        core_raise(st, rc);
        goto done;
    }
    it = PyObject_GetIter(src);
    if (!it) goto done;
    if (merge != Py_None && combiner_init(&comb, combine_bytes > 0 ? (size_t)combine_bytes : 0) < 0) goto done;
    /* Records are taken AHEAD ahead of the one combined: the slot of each key is
     * prefetched when it is taken, so the table's cache misses overlap. When the
     * records are made by map(lambda x: (x, c)) (the input ends with OP_PAIR), the
     * keys are taken without their pairs: ahead holds keys, the value is c, and a
     * pair is made only for a record that passes the table by. */
    int eof = 0;
    PyObject *pair_value = NULL;
    int unpaired = comb.v && core_pipe_pairs_with(st, it, &pair_value);
    for (;;) {
        if (!eof) {
            PyObject *next = unpaired ? core_pipe_next_unpaired(it) : PyIter_Next(it);
            if (!next) {
                if (PyErr_Occurred()) goto done;
                eof = 1;
            } else {
                ahead[(a_head + a_len) % AHEAD] = next;
                a_len++;
                PyObject *k = next, *v;
                if (!unpaired && split_record(next, &k, &v) < 0) goto done;
                if (comb.v) {
                    Py_hash_t h = PyObject_Hash(k);
                    if (h == -1 && PyErr_Occurred()) goto done;
                    hashes[(a_head + a_len - 1) % AHEAD] = h;
                    combiner_prefetch(&comb, h);
                }
            }
        }
        if (a_len == 0) break;
        if (!eof && a_len < (comb.v ? AHEAD : 1)) continue;
        item = ahead[a_head];
        Py_hash_t h = hashes[a_head];
        a_head = (a_head + 1) % AHEAD;
        a_len--;
        PyObject *k = item, *v = pair_value;
        if (!unpaired && split_record(item, &k, &v) < 0) goto done;
        if (!comb.v) {
            if (bucket_add(&b, k, item) < 0) goto done;
        } else {
            int r = combiner_add_hashed(st, &comb, k, h, v, create, merge);
            if (r < 0 || (r == 1 && emit_uncombined(&b, unpaired ? NULL : item, k, v, create) < 0)) goto done;
            if (r == 2 && combiner_drain(&comb, emit_pair, &b) < 0) goto done;
        }
        Py_CLEAR(item);
    }
    if (comb.v && combiner_drain(&comb, emit_pair, &b) < 0) goto done;
    for (uint32_t i = 0; i < n; i++)
        if (bucket_flush(&b, i) < 0) goto done;
    ember_shuffle_writer *w = b.w;
    b.w = NULL;
    Py_BEGIN_ALLOW_THREADS rc = ember_shuffle_writer_commit(w, sizes);
    Py_END_ALLOW_THREADS if (rc) {
        core_raise(st, rc);
        goto done;
    }
    st->task_metrics[EMBER_METRIC_SHUFFLE_RECORDS_WRITTEN] += b.written;
    result = PyList_New(n);
    for (uint32_t i = 0; result && i < n; i++) {
        PyObject *x = PyLong_FromUnsignedLongLong(sizes[i]);
        if (!x) {
            Py_CLEAR(result);
            break;
        }
        PyList_SET_ITEM(result, i, x);
    }
done:
    Py_XDECREF(item);
    for (; a_len > 0; a_len--, a_head = (a_head + 1) % AHEAD)
        Py_DECREF(ahead[a_head]);
    if (b.w) ember_shuffle_writer_abort(b.w);
    if (b.lists)
        for (uint32_t i = 0; i < n; i++)
            Py_XDECREF(b.lists[i]);
    PyMem_Free(b.lists);
    PyMem_Free(sizes);
    combiner_free(&comb);
    Py_XDECREF(b.modulus);
    Py_XDECREF(it);
    return result;
}

/* write_done(io, sizes, report=b"") sends TASK_DONE (wire.c's encoder), with the task's
 * metrics counted so far, and flushes. */
static PyObject *py_write_done(PyObject *m, PyObject *args) {
    core_state *st = core_get_state(m);
    PyObject *io, *sizes, *out = NULL;
    Py_buffer report = {0};
    if (!PyArg_ParseTuple(args, "O!O|y*", st->FrameIO_type, &io, &sizes, &report)) return NULL;
    emberB_buf b = {0};
    uint64_t *v = NULL;
    PyObject *seq = PySequence_Fast(sizes, "sizes must be a list of ints");
    if (!seq) goto release;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if ((size_t)n > UINT32_MAX / 8 || (report.buf && (size_t)report.len > UINT32_MAX)) {
        PyErr_SetString(PyExc_ValueError, "a TASK_DONE over the frame limit");
        goto release;
    }
    v = PyMem_Calloc(n ? (size_t)n : 1, sizeof *v);
    if (!v) {
        PyErr_NoMemory();
        goto release;
    }
    for (Py_ssize_t j = 0; j < n; j++) {
        v[j] = PyLong_AsUnsignedLongLong(PySequence_Fast_GET_ITEM(seq, j));
        if (v[j] == (unsigned long long)-1 && PyErr_Occurred()) goto release;
    }
    int rc = emberW_done_encode(&b, v, (uint32_t)n, report.buf, report.buf ? (uint32_t)report.len : 0, st->task_metrics,
                                EMBER_METRICS);
    if (rc) {
        core_raise(st, rc);
        goto release;
    }
    if (write_frame((FrameIO *)io, EMBER_FRAME_TASK_DONE, b.data, b.len) < 0 || flush_io((FrameIO *)io) < 0)
        goto release;
    out = Py_NewRef(Py_None);
release:
    emberB_free(&b);
    PyMem_Free(v);
    Py_XDECREF(seq);
    if (report.buf) PyBuffer_Release(&report);
    return out;
}

/* ---- the running task's metrics ------------------------------------------------------ */

void core_note_spill(core_state *st, uint64_t memory_bytes, uint64_t disk_bytes) {
    st->task_metrics[EMBER_METRIC_MEMORY_BYTES_SPILLED] += memory_bytes;
    st->task_metrics[EMBER_METRIC_DISK_BYTES_SPILLED] += disk_bytes;
}

/* note_spill(memory_bytes, disk_bytes): counts a spill of the running task. */
static PyObject *py_note_spill(PyObject *m, PyObject *args) {
    unsigned long long memory_bytes, disk_bytes;
    if (!PyArg_ParseTuple(args, "KK", &memory_bytes, &disk_bytes)) return NULL;
    core_note_spill(core_get_state(m), memory_bytes, disk_bytes);
    Py_RETURN_NONE;
}

/* task_metrics() -> the running task's counts so far, a tuple in wire.h's EMBER_METRIC_*
 * order; task_metrics_reset() sets them to 0 (worker.py, when a task starts). */
static PyObject *py_task_metrics(PyObject *m, PyObject *unused) {
    (void)unused;
    core_state *st = core_get_state(m);
    PyObject *t = PyTuple_New(EMBER_METRICS);
    for (Py_ssize_t i = 0; t && i < EMBER_METRICS; i++) {
        PyObject *x = PyLong_FromUnsignedLongLong(st->task_metrics[i]);
        if (!x) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, i, x);
    }
    return t;
}

static PyObject *py_task_metrics_reset(PyObject *m, PyObject *unused) {
    (void)unused;
    core_state *st = core_get_state(m);
    memset(st->task_metrics, 0, sizeof st->task_metrics);
    Py_RETURN_NONE;
}

/* ---- the TASK payload, decoded by wire.c ------------------------------------------- */

static PyObject *bytes_str(emberW_bytes b) {
    return PyUnicode_DecodeUTF8((const char *)b.p, (Py_ssize_t)b.len, "surrogateescape");
}

/* An input tree node as the worker builds it: (kind, args, [(command id, split)]).
 * args by kind: DATA the stream index; TEXT (path, start, end, flags); RANGE (start,
 * stop, step); SHUFFLE ([paths], bucket); BLOCK path; CONCAT [inputs]; ZIP, CARTESIAN
 * (a, b). */
static PyObject *input_tuple(const emberW_input *in) {
    PyObject *args = NULL, *cmds = NULL, *out = NULL;
    switch (in->kind) {
    case EMBER_IN_DATA:
        args = PyLong_FromUnsignedLong(in->stream);
        break;
    case EMBER_IN_TEXT: {
        PyObject *path = bytes_str(in->path);
        if (path) args = Py_BuildValue("(NLLI)", path, (long long)in->start, (long long)in->end, in->flags);
        break;
    }
    case EMBER_IN_RANGE:
        args = Py_BuildValue("(LLL)", (long long)in->start, (long long)in->end, (long long)in->step);
        break;
    case EMBER_IN_SHUFFLE: {
        PyObject *paths = PyList_New(in->npaths);
        for (uint32_t i = 0; paths && i < in->npaths; i++) {
            PyObject *x = bytes_str(in->paths[i]);
            if (!x) {
                Py_CLEAR(paths);
                break;
            }
            PyList_SET_ITEM(paths, i, x);
        }
        if (paths) args = Py_BuildValue("(NI)", paths, in->bucket);
        break;
    }
    case EMBER_IN_BLOCK:
        args = bytes_str(in->path);
        break;
    default: {
        PyObject *lst = PyList_New(in->nchildren);
        for (uint32_t i = 0; lst && i < in->nchildren; i++) {
            PyObject *x = input_tuple(&in->children[i]);
            if (!x) {
                Py_CLEAR(lst);
                break;
            }
            PyList_SET_ITEM(lst, i, x);
        }
        args = lst && in->kind != EMBER_IN_CONCAT ? PyList_AsTuple(lst) : Py_XNewRef(lst);
        Py_XDECREF(lst);
    }
    }
    if (!args) return NULL;
    cmds = PyList_New(in->ncmds);
    for (uint32_t i = 0; cmds && i < in->ncmds; i++) {
        PyObject *x = Py_BuildValue("(KI)", (unsigned long long)in->cmds[i].id, in->cmds[i].split);
        if (!x) {
            Py_CLEAR(cmds);
            break;
        }
        PyList_SET_ITEM(cmds, i, x);
    }
    if (cmds)
        out = Py_BuildValue("(INN)", in->kind, args, cmds);
    else
        Py_DECREF(args);
    return out;
}

/* decode_task(payload) -> dict: a TASK payload (wire.h) as the worker uses it. */
static PyObject *py_decode_task(PyObject *m, PyObject *arg) {
    Py_buffer b;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0) return NULL;
    emberW_task t;
    PyObject *d = NULL, *input = NULL;
    int rc = emberW_task_decode(b.buf, (size_t)b.len, &t);
    if (rc) {
        core_raise(core_get_state(m), rc);
        goto release;
    }
    if (!(input = input_tuple(&t.input))) goto release;
    d = Py_BuildValue("{sKsIsIsIsIsy#sOsIsIsIsI}", "attempt_id", (unsigned long long)t.attempt_id, "stage", t.stage,
                      "partition", t.partition, "attempt", t.attempt, "job", t.job, "info", (const char *)t.info.p,
                      (Py_ssize_t)t.info.len, "input", input, "nstreams", t.nstreams, "output", t.output,
                      "barrier_tasks", t.barrier_tasks, "stage_attempt", t.stage_attempt);
    if (d && t.output == EMBER_OUT_SHUFFLE) {
        PyObject *path = bytes_str(t.shuffle_path);
        PyObject *out = path ? Py_BuildValue("(NIK)", path, t.nbuckets, (unsigned long long)t.spec_id) : NULL;
        if (!out || PyDict_SetItemString(d, "shuffle_out", out) < 0) Py_CLEAR(d);
        Py_XDECREF(out);
    }
release:
    Py_XDECREF(input);
    emberW_task_free(&t);
    PyBuffer_Release(&b);
    return d;
}

/* decode_command(payload) -> (command id, command bytes): a COMMAND payload. */
static PyObject *py_decode_command(PyObject *m, PyObject *arg) {
    Py_buffer b;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0) return NULL;
    uint64_t id;
    emberW_bytes cmd;
    int rc = emberW_command_decode(b.buf, (size_t)b.len, &id, &cmd);
    PyObject *out = rc ? core_raise(core_get_state(m), rc)
                       : Py_BuildValue("(Ky#)", (unsigned long long)id, (const char *)cmd.p, (Py_ssize_t)cmd.len);
    PyBuffer_Release(&b);
    return out;
}

/* decode_forget(payload) -> command id: a FORGET payload. */
static PyObject *py_decode_forget(PyObject *m, PyObject *arg) {
    Py_buffer b;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0) return NULL;
    uint64_t id;
    int rc = emberW_u64_decode(b.buf, (size_t)b.len, &id);
    PyBuffer_Release(&b);
    return rc ? core_raise(core_get_state(m), rc) : PyLong_FromUnsignedLongLong(id);
}

/* ---- native tasks ------------------------------------------------------------------ */

typedef struct native_cmds {
    uint64_t *ids;
    emberW_bytes *bytes;
    size_t n;
} native_cmds;

static const emberW_bytes *native_cmd(void *arg, uint64_t id) {
    native_cmds *c = arg;
    for (size_t i = 0; i < c->n; i++)
        if (c->ids[i] == id) return &c->bytes[i];
    return NULL;
}

/* native_run(io, payload, commands) runs a TASK (payload) whose steps are all native
 * commands (commands: {id: bytes}) in C, as the native worker runs it (nworker.c's
 * emberV_run, without the GIL), and answers it on io: TASK_DONE, TASK_ERROR or
 * FETCH_FAILED; returns True. False (nothing sent) when a shuffle input holds
 * pickled batches: the caller runs the task in Python. The task must have no data
 * streams. */
static PyObject *py_native_run(PyObject *m, PyObject *args) {
    core_state *st = core_get_state(m);
    PyObject *io, *cmds, *out = NULL;
    Py_buffer b;
    if (!PyArg_ParseTuple(args, "O!y*O!", st->FrameIO_type, &io, &b, &PyDict_Type, &cmds)) return NULL;
    FrameIO *f = (FrameIO *)io;
    emberW_task t;
    native_cmds nc = {0};
    int rc = emberW_task_decode(b.buf, (size_t)b.len, &t);
    if (rc) {
        core_raise(st, rc);
        goto release;
    }
    if (t.nstreams) {
        PyErr_SetString(PyExc_ValueError, "native_run: a task with data streams");
        goto release;
    }
    Py_ssize_t n = PyDict_GET_SIZE(cmds), pos = 0, i = 0;
    nc.ids = PyMem_Calloc(n ? (size_t)n : 1, sizeof *nc.ids);
    nc.bytes = PyMem_Calloc(n ? (size_t)n : 1, sizeof *nc.bytes);
    if (!nc.ids || !nc.bytes) {
        PyErr_NoMemory();
        goto release;
    }
    PyObject *k, *v;
    while (PyDict_Next(cmds, &pos, &k, &v)) {
        if (!PyBytes_Check(v) || PyBytes_GET_SIZE(v) > UINT32_MAX) {
            PyErr_SetString(PyExc_TypeError, "native_run: commands must be bytes");
            goto release;
        }
        nc.ids[i] = PyLong_AsUnsignedLongLong(k);
        if (PyErr_Occurred()) goto release;
        nc.bytes[i] = (emberW_bytes){(const uint8_t *)PyBytes_AS_STRING(v), (uint32_t)PyBytes_GET_SIZE(v)};
        i++;
    }
    nc.n = (size_t)i;
    if (core_native_share_symbols() < 0 || flush_io(f) < 0) goto release; /* libraries find ember_put_* ... */
    emberV_env env = {.out_fd = f->wfd, .command = native_cmd, .arg = &nc, .allow_main = 0, .check_inputs = 1};
    Py_BEGIN_ALLOW_THREADS emberV_crash_install(f->rfd, f->wfd);
    rc = emberV_run(&env, &t);
    emberV_crash_restore();
    Py_END_ALLOW_THREADS if (rc < 0) {
        core_raise(st, rc);
        goto release;
    }
    out = PyBool_FromLong(rc == 0);
release:
    PyMem_Free(nc.ids);
    PyMem_Free(nc.bytes);
    emberW_task_free(&t);
    PyBuffer_Release(&b);
    return out;
}

/* native_decode(data) -> ("op", kind, module, offset, name, arg) for a native command,
 * ("spec", flags, [(module, offset, name)] * 4) for a native shuffle spec (native.c). */
static PyObject *py_native_decode(PyObject *m, PyObject *arg) {
    Py_buffer b;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0) return NULL;
    PyObject *out = NULL;
    int rc;
    if (b.len >= 4 && memcmp(b.buf, EMBER_NATIVE_CMD_MAGIC, 4) == 0) {
        emberN_op op;
        if (!(rc = emberN_op_decode(b.buf, (size_t)b.len, &op)))
            out =
                Py_BuildValue("(sIs#Ks#s#)", "op", op.kind, (const char *)op.fn.module.p, (Py_ssize_t)op.fn.module.len,
                              (unsigned long long)op.fn.offset, (const char *)op.fn.name.p, (Py_ssize_t)op.fn.name.len,
                              (const char *)op.arg.p, (Py_ssize_t)op.arg.len);
    } else {
        emberN_spec sp;
        if (!(rc = emberN_spec_decode(b.buf, (size_t)b.len, &sp))) {
            PyObject *fns = PyList_New(4);
            for (int i = 0; fns && i < 4; i++) {
                PyObject *x = Py_BuildValue("(s#Ks#)", (const char *)sp.fns[i].module.p,
                                            (Py_ssize_t)sp.fns[i].module.len, (unsigned long long)sp.fns[i].offset,
                                            (const char *)sp.fns[i].name.p, (Py_ssize_t)sp.fns[i].name.len);
                if (!x)
                    Py_CLEAR(fns);
                else
                    PyList_SET_ITEM(fns, i, x);
            }
            if (fns) out = Py_BuildValue("(sIN)", "spec", sp.flags, fns);
        }
    }
    if (rc) core_raise(core_get_state(m), rc);
    PyBuffer_Release(&b);
    return out;
}

/* native_command(kind, lib, name, arg="") -> bytes: a native command naming a function
 * of a library by its symbol (the first word of name); native_spec(flags, fns) with
 * fns four (lib, name) pairs or None. The driver does not load the library. */
static int fnref_of(PyObject *pair, emberN_fnref *f) {
    const char *lib, *name;
    memset(f, 0, sizeof *f);
    if (pair == Py_None) return 0;
    if (!PyArg_ParseTuple(pair, "ss", &lib, &name)) return -1;
    f->module = (char *)lib;
    f->name = (char *)name;
    f->offset = EMBER_NATIVE_BY_SYMBOL;
    return 0;
}

static PyObject *py_native_command(PyObject *m, PyObject *args) {
    unsigned int kind;
    const char *lib, *name, *arg = "";
    if (!PyArg_ParseTuple(args, "Iss|s", &kind, &lib, &name, &arg)) return NULL;
    emberN_fnref f = {(char *)lib, EMBER_NATIVE_BY_SYMBOL, (char *)name};
    emberB_buf b = {0};
    int rc = emberN_op_encode(&b, kind, *lib ? &f : NULL, arg);
    PyObject *out =
        rc ? core_raise(core_get_state(m), rc) : PyBytes_FromStringAndSize((const char *)b.data, (Py_ssize_t)b.len);
    emberB_free(&b);
    return out;
}

static PyObject *py_native_spec(PyObject *m, PyObject *args) {
    unsigned int flags;
    PyObject *a, *bb, *c, *d;
    if (!PyArg_ParseTuple(args, "I(OOOO)", &flags, &a, &bb, &c, &d)) return NULL;
    emberN_fnref f[4];
    const emberN_fnref *pf[4];
    PyObject *items[4] = {a, bb, c, d};
    for (int i = 0; i < 4; i++) {
        if (fnref_of(items[i], &f[i]) < 0) return NULL;
        pf[i] = items[i] == Py_None ? NULL : &f[i];
    }
    emberB_buf b = {0};
    int rc = emberN_spec_encode(&b, flags, pf);
    PyObject *out =
        rc ? core_raise(core_get_state(m), rc) : PyBytes_FromStringAndSize((const char *)b.data, (Py_ssize_t)b.len);
    emberB_free(&b);
    return out;
}

/* encode_fetch_failed(path, text) -> bytes: a FETCH_FAILED payload (wire.c's encoder). */
static PyObject *py_encode_fetch_failed(PyObject *m, PyObject *args) {
    Py_buffer path, text;
    if (!PyArg_ParseTuple(args, "y*y*", &path, &text)) return NULL;
    emberB_buf b = {0};
    int rc = emberW_fetch_failed_encode(&b, path.buf, (size_t)path.len, text.buf, (size_t)text.len);
    PyObject *out =
        rc ? core_raise(core_get_state(m), rc) : PyBytes_FromStringAndSize((const char *)b.data, (Py_ssize_t)b.len);
    emberB_free(&b);
    PyBuffer_Release(&path);
    PyBuffer_Release(&text);
    return out;
}

/* ---- The worker daemon's control socket ------------------------------------------- */

/* recv_request(fd) -> (bytes, [fds]): one request of the engine on the worker daemon's
 * control socket (src/workers.c): its byte (b"" at end of file) and the file
 * descriptors it carries (SCM_RIGHTS; at most two, the kernel closes any more). Here
 * rather than through the socket module, whose import is a tenth of the daemon's.
 * Retries after EINTR once signal handlers ran, as socket.recvmsg does; OSError on any
 * other failure. The caller owns the descriptors returned. */
#define REQUEST_MAX_FDS 2
static PyObject *py_recv_request(PyObject *m, PyObject *arg) {
    (void)m;
    long fd = PyLong_AsLong(arg);
    if (fd == -1 && PyErr_Occurred()) return NULL;
    if (fd < 0 || fd > INT_MAX) return PyErr_Format(PyExc_ValueError, "recv_request: %ld is not a file descriptor", fd);
    char byte = 0;
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(REQUEST_MAX_FDS * sizeof(int))];
    } cm;
    struct iovec iov;
    struct msghdr msg;
    ssize_t r;
    for (;;) {
        iov.iov_base = &byte;
        iov.iov_len = 1;
        memset(&msg, 0, sizeof msg);
        memset(&cm, 0, sizeof cm);
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cm.buf;
        msg.msg_controllen = sizeof cm.buf;
        int err;
        Py_BEGIN_ALLOW_THREADS r = recvmsg((int)fd, &msg, 0);
        err = errno;
        Py_END_ALLOW_THREADS if (r >= 0) break;
        if (err != EINTR) {
            errno = err;
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        if (PyErr_CheckSignals() < 0) return NULL;
    }
    int got[REQUEST_MAX_FDS];
    size_t n = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0)) continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k && n < REQUEST_MAX_FDS; i++)
            memcpy(&got[n++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
    }
    PyObject *fds = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; fds && i < n; i++) {
        PyObject *o = PyLong_FromLong(got[i]);
        if (!o)
            Py_CLEAR(fds);
        else
            PyList_SET_ITEM(fds, (Py_ssize_t)i, o);
    }
    PyObject *out = fds ? Py_BuildValue("(y#N)", &byte, (Py_ssize_t)(r > 0), fds) : NULL;
    if (!out)
        for (size_t i = 0; i < n; i++)
            close(got[i]);
    return out;
}

PyMethodDef core_worker_io_methods[] = {
    {"recv_request", py_recv_request, METH_O,
     "recv_request(fd) -> (byte, fds): one request on the worker daemon's control socket"},
    {"native_run", py_native_run, METH_VARARGS,
     "native_run(io, task_payload, commands): run a task of native steps in C and answer it"},
    {"native_decode", py_native_decode, METH_O, "native_decode(data) -> a native command's or spec's fields"},
    {"native_command", py_native_command, METH_VARARGS, "native_command(kind, lib, name, arg='') -> bytes"},
    {"native_spec", py_native_spec, METH_VARARGS, "native_spec(flags, (fn, fn, fn, fn)) -> bytes"},
    {"encode_fetch_failed", py_encode_fetch_failed, METH_VARARGS,
     "encode_fetch_failed(path, text) -> bytes: a FETCH_FAILED payload"},
    {"write_batches", py_write_batches, METH_VARARGS,
     "write_batches(io, iterable, typed=False) -> records sent as DATA frames (pickled or typed batches)"},
    {"shuffle_write", py_shuffle_write, METH_VARARGS,
     "shuffle_write(iterable, path, nbuckets, partition_func, create, merge, combine_bytes, buffer_bytes) -> "
     "bucket sizes"},
    {"write_done", py_write_done, METH_VARARGS,
     "write_done(io, bucket_sizes, report=b''): send TASK_DONE (with the task's metrics) and flush"},
    {"note_spill", py_note_spill, METH_VARARGS,
     "note_spill(memory_bytes, disk_bytes): count a spill of the running task (memoryBytesSpilled, "
     "diskBytesSpilled)"},
    {"task_metrics", py_task_metrics, METH_NOARGS, "task_metrics() -> the running task's counts (EMBER_METRIC_*)"},
    {"task_metrics_reset", py_task_metrics_reset, METH_NOARGS, "task_metrics_reset(): a task starts, counts 0"},
    {"decode_task", py_decode_task, METH_O, "decode_task(payload) -> dict: a TASK frame's payload (src/wire.h)"},
    {"decode_command", py_decode_command, METH_O, "decode_command(payload) -> (id, command bytes)"},
    {"decode_forget", py_decode_forget, METH_O, "decode_forget(payload) -> command id"},
    {NULL, NULL, 0, NULL},
};

int core_add_worker_io(PyObject *m, core_state *st) {
    st->FrameIO_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &FrameIO_spec, NULL);
    st->Streams_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &Streams_spec, NULL);
    if (!st->Streams_type || PyModule_AddType(m, st->Streams_type) < 0) return -1;
    st->DataIter_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &DataIter_spec, NULL);
    st->TextIter_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &TextIter_spec, NULL);
    st->ShuffleIter_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &ShuffleIter_spec, NULL);
    if (!st->FrameIO_type || !st->DataIter_type || !st->TextIter_type || !st->ShuffleIter_type) return -1;
    if (PyModule_AddType(m, st->FrameIO_type) < 0 || PyModule_AddType(m, st->DataIter_type) < 0 ||
        PyModule_AddType(m, st->TextIter_type) < 0 || PyModule_AddType(m, st->ShuffleIter_type) < 0)
        return -1;
    PyType_Spec *more[] = {&BlockIter_spec, &CountIter_spec};
    for (size_t i = 0; i < sizeof more / sizeof *more; i++) {
        PyObject *type = PyType_FromModuleAndSpec(m, more[i], NULL);
        if (!type || PyModule_AddType(m, (PyTypeObject *)type) < 0) {
            Py_XDECREF(type);
            return -1;
        }
        Py_DECREF(type);
    }
#define ADD_FRAME(name, value, dir, payload)                                                                           \
    if (PyModule_AddIntConstant(m, "FRAME_" #name, value) < 0) return -1;
    EMBER_FRAME_MAP(ADD_FRAME)
#undef ADD_FRAME
    if (PyModule_AddIntConstant(m, "IN_DATA", EMBER_IN_DATA) < 0 ||
        PyModule_AddIntConstant(m, "IN_TEXT", EMBER_IN_TEXT) < 0 ||
        PyModule_AddIntConstant(m, "IN_RANGE", EMBER_IN_RANGE) < 0 ||
        PyModule_AddIntConstant(m, "IN_SHUFFLE", EMBER_IN_SHUFFLE) < 0 ||
        PyModule_AddIntConstant(m, "IN_CONCAT", EMBER_IN_CONCAT) < 0 ||
        PyModule_AddIntConstant(m, "IN_ZIP", EMBER_IN_ZIP) < 0 ||
        PyModule_AddIntConstant(m, "IN_CARTESIAN", EMBER_IN_CARTESIAN) < 0 ||
        PyModule_AddIntConstant(m, "IN_BLOCK", EMBER_IN_BLOCK) < 0 ||
        PyModule_AddIntConstant(m, "OUT_RESULT", EMBER_OUT_RESULT) < 0 ||
        PyModule_AddIntConstant(m, "OUT_SHUFFLE", EMBER_OUT_SHUFFLE) < 0)
        return -1;
#define ADD_METRIC(name, index, what, spark)                                                                           \
    if (PyModule_AddIntConstant(m, "METRIC_" #name, index) < 0) return -1;
    EMBER_METRIC_MAP(ADD_METRIC)
#undef ADD_METRIC
    if (PyModule_AddIntConstant(m, "NOP_MAP", EMBER_NOP_MAP) < 0 ||
        PyModule_AddIntConstant(m, "NOP_FLATMAP", EMBER_NOP_FLATMAP) < 0 ||
        PyModule_AddIntConstant(m, "NOP_FILTER", EMBER_NOP_FILTER) < 0 ||
        PyModule_AddIntConstant(m, "NOP_PARTITIONS", EMBER_NOP_PARTITIONS) < 0 ||
        PyModule_AddIntConstant(m, "NOP_MERGE", EMBER_NOP_MERGE) < 0 ||
        PyModule_AddIntConstant(m, "NOP_COUNT", EMBER_NOP_COUNT) < 0 ||
        PyModule_AddIntConstant(m, "NOP_FOREACH", EMBER_NOP_FOREACH) < 0 ||
        PyModule_AddIntConstant(m, "NOP_SAVE_TEXT", EMBER_NOP_SAVE_TEXT) < 0 ||
        PyModule_AddIntConstant(m, "NSPEC_PARTITION", EMBER_NSPEC_PARTITION) < 0 ||
        PyModule_AddIntConstant(m, "NSPEC_CREATE", EMBER_NSPEC_CREATE) < 0 ||
        PyModule_AddIntConstant(m, "NSPEC_MERGE_VALUE", EMBER_NSPEC_MERGE_VALUE) < 0 ||
        PyModule_AddIntConstant(m, "NSPEC_MERGE_COMBINERS", EMBER_NSPEC_MERGE_COMBINERS) < 0 ||
        PyModule_AddIntConstant(m, "NSPEC_COMBINE", EMBER_NSPEC_COMBINE) < 0)
        return -1;
    return 0;
}
