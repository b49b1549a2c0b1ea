/* native.c — native (C) functions in the Python worker: NativeFn loads one function
 * from a shared library built against ember.h and is called like a Python function
 * by the worker's C loops (PipeIter for mapNative/flatMapNative/filterNative, the
 * key combiners for a native reduceByKey merge), converting records with record.c.
 *
 * Design: loading happens only in workers (ember.native unpickles a function into a
 * NativeFn there; the driver never loads a library). The library is opened with
 * RTLD_LOCAL after this extension has been promoted to RTLD_GLOBAL, so its undefined
 * ember_* symbols resolve against the libember linked into _core.
 *
 * Crashes: while a native function runs, emberV_crash_running names it. The first
 * NativeFn installs the native worker's handlers (src/nworker.c, on an alternate
 * stack) for SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT: a signal inside a native
 * function closes the task pipe, writes a
 * TASK_ERROR frame naming the function and the signal straight to the result pipe
 * (native_crash_fds) and closes it, then the worker dies of that signal (default
 * action). The engine fails the attempt with that message and retries the task on
 * a new worker (a task it sends in between finds the task pipe closed and is not
 * counted as an attempt). A signal outside native code keeps the default behaviour.
 */
#include "core.h"

#include "internal.h"
#include "wire.h"

#include <dlfcn.h>
#include <signal.h>
#include <unistd.h>

enum {
    NATIVE_MAP = 1,
    NATIVE_FLATMAP = 2,
    NATIVE_FILTER = 3,
    NATIVE_MERGE = 4,
    NATIVE_PARTITIONS = 5, /* f(iterable) -> list: a mapPartitions function over the whole partition */
    NATIVE_PARTITIONER = 6 /* f(key) -> partition, below .nparts */
};

typedef struct {
    PyObject_HEAD vectorcallfunc vectorcall;
    int kind;
    void *fn;
    void *handle;
    char *name;     /* "mapNative tokenize (/path/lib.so)" */
    char *where_in; /* "the input of <name>" */
    ember_writer in, out;
    Py_ssize_t nparts; /* PARTITIONER: the partition count it is called with */
} NativeFn;

/* ---- crashes ------------------------------------------------------------------- */

static int task_fd = -1, crash_fd = -1;
static int handlers_installed;

/* The crash handlers of the native worker (src/nworker.c), reporting on the pipes. */
static int install_handlers(void) {
    if (handlers_installed) return 0;
    emberV_crash_install(task_fd, crash_fd);
    handlers_installed = 1;
    return 0;
}

/* native_crash_fds(task_fd, result_fd): the worker's pipes from and to the engine. */
static PyObject *py_native_crash_fds(PyObject *m, PyObject *args) {
    (void)m;
    int rfd, wfd;
    if (!PyArg_ParseTuple(args, "ii", &rfd, &wfd)) return NULL;
    task_fd = rfd;
    crash_fd = wfd;
    Py_RETURN_NONE;
}

/* ---- calling ------------------------------------------------------------------- */

static PyObject *fail_rc(NativeFn *self, int rc) {
    const char *msg = ember_last_error();
    PyErr_Format(PyExc_RuntimeError, "%s failed: %s", self->name, *msg ? msg : ember_strerror(rc));
    return NULL;
}

/* The records self->out holds, checked, as a list (all of them) or the one object. */
static PyObject *decode_out(NativeFn *self, int want_one) {
    ember_writer *w = &self->out;
    if (w->err) return fail_rc(self, w->err);
    PyObject *list = want_one ? NULL : PyList_New(0);
    if (!want_one && !list) return NULL;
    size_t off = 0, count = 0;
    PyObject *one = NULL;
    while (off < w->len) {
        size_t used;
        ember_value v;
        if (ember_value_decode(w->data + off, w->len - off, &v, &used)) {
            PyErr_Format(PyExc_ValueError, "%s wrote a bad record: %s", self->name, ember_last_error());
            goto fail;
        }
        PyObject *x = core_record_decode(&v);
        if (!x) goto fail;
        count++;
        if (want_one) {
            if (count > 1) {
                Py_DECREF(x);
                PyErr_Format(PyExc_ValueError, "%s wrote more than one record for one input (a map writes exactly one)",
                             self->name);
                goto fail;
            }
            one = x;
        } else {
            int rc = PyList_Append(list, x);
            Py_DECREF(x);
            if (rc < 0) goto fail;
        }
        off += used;
    }
    if (want_one && !one) {
        PyErr_Format(PyExc_ValueError, "%s wrote no record (a map writes exactly one)", self->name);
        return NULL;
    }
    return want_one ? one : list;
fail:
    Py_XDECREF(one);
    Py_XDECREF(list);
    return NULL;
}

/* Encodes obj at the end of self->in; *start gets its offset. */
static int take_input(NativeFn *self, PyObject *obj, size_t *start) {
    *start = self->in.len;
    return core_record_encode(&self->in, obj, self->where_in);
}

/* Describes the input encoded at self->in[start, end) from obj as *v. A scalar, str
 * or bytes is described from the object (the encoder wrote it from valid data); a
 * container is decoded and checked. */
static int view_of(NativeFn *self, PyObject *obj, size_t start, size_t end, ember_value *v) {
    const uint8_t *enc = self->in.data + start;
    memset(v, 0, sizeof *v);
    v->enc = enc;
    v->enc_len = end - start;
    if (obj == Py_None) {
        v->type = EMBER_NONE;
        return 0;
    }
    if (PyBool_Check(obj)) {
        v->type = EMBER_BOOL;
        v->b = obj == Py_True;
        return 0;
    }
    if (PyFloat_CheckExact(obj)) {
        v->type = EMBER_FLOAT;
        v->f = PyFloat_AS_DOUBLE(obj);
        return 0;
    }
    if (PyLong_CheckExact(obj)) {
        int overflow = 0;
        long long i = PyLong_AsLongLongAndOverflow(obj, &overflow);
        if (!overflow) {
            v->type = EMBER_INT;
            v->i = (int64_t)i;
            return 0;
        }
    } else if (PyUnicode_CheckExact(obj) || PyBytes_CheckExact(obj)) {
        Py_ssize_t n;
        if (PyBytes_CheckExact(obj))
            n = PyBytes_GET_SIZE(obj);
        else if (!PyUnicode_AsUTF8AndSize(obj, &n))
            return -1; /* cached by the encoder: cannot fail */
        v->type = PyBytes_CheckExact(obj) ? EMBER_BYTES : EMBER_STR;
        v->len = (size_t)n;
        v->data = enc + v->enc_len - (size_t)n;
        return 0;
    }
    if (ember_value_decode(enc, end - start, v, NULL)) {
        PyErr_Format(PyExc_ValueError, "%s: %s", self->name, ember_last_error());
        return -1;
    }
    return 0;
}

/* PARTITIONS: the records of iterable, encoded, through the function: its output as a list. */
static PyObject *call_partitions(NativeFn *self, PyObject *iterable) {
    PyObject *it = PyObject_GetIter(iterable), *x;
    if (!it) return NULL;
    while ((x = PyIter_Next(it))) {
        int rc = core_record_encode(&self->in, x, self->where_in);
        Py_DECREF(x);
        if (rc < 0) break;
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) return NULL;
    int rc = emberV_call_partitions(self->fn, self->name, self->in.data, self->in.len, &self->out);
    return rc < 0 ? fail_rc(self, rc) : decode_out(self, 0);
}

static PyObject *NativeFn_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kw) {
    NativeFn *self = (NativeFn *)callable;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (self->kind == NATIVE_PARTITIONS) {
        if (nargs != 1 || (kw && PyTuple_GET_SIZE(kw)))
            return PyErr_Format(PyExc_TypeError, "%s takes one argument, an iterable", self->name);
        ember_writer_reset(&self->in);
        ember_writer_reset(&self->out);
        return call_partitions(self, args[0]);
    }
    if (self->kind == NATIVE_PARTITIONER && self->nparts < 1)
        return PyErr_Format(PyExc_ValueError, "%s: its partition count was not set", self->name);
    Py_ssize_t want = self->kind == NATIVE_MERGE ? 2 : 1;
    if (kw && PyTuple_GET_SIZE(kw)) return PyErr_Format(PyExc_TypeError, "%s takes no keyword arguments", self->name);
    if (nargs != want)
        return PyErr_Format(PyExc_TypeError, "%s takes %zd arguments (%zd given)", self->name, want, nargs);
    ember_writer_reset(&self->in);
    ember_writer_reset(&self->out);
    size_t a0, a1 = 0;
    if (take_input(self, args[0], &a0) < 0) return NULL;
    if (want == 2 && take_input(self, args[1], &a1) < 0) return NULL;
    /* views only once both are written: the buffer may move while it grows */
    ember_value va, vb;
    if (view_of(self, args[0], a0, want == 2 ? a1 : self->in.len, &va) < 0) return NULL;
    if (want == 2 && view_of(self, args[1], a1, self->in.len, &vb) < 0) return NULL;
    ember_clear_error();
    int rc;
    emberV_crash_running(self->name);
    switch (self->kind) {
    case NATIVE_MAP:
        rc = ((ember_map_fn)self->fn)(&va, &self->out);
        break;
    case NATIVE_FLATMAP:
        rc = ((ember_flatmap_fn)self->fn)(&va, &self->out);
        break;
    case NATIVE_FILTER:
        rc = ((ember_filter_fn)self->fn)(&va);
        break;
    case NATIVE_PARTITIONER: {
        int64_t p = ((ember_partitioner_fn)self->fn)(&va, (size_t)self->nparts);
        emberV_crash_running(NULL);
        if (p < 0) return fail_rc(self, (int)p);
        if (p >= self->nparts)
            return PyErr_Format(PyExc_ValueError, "%s returned partition %lld, not one of the %zd partitions",
                                self->name, (long long)p, self->nparts);
        return PyLong_FromLongLong(p);
    }
    default:
        rc = ((ember_merge_fn)self->fn)(&va, &vb, &self->out);
        break;
    }
    emberV_crash_running(NULL);
    if (rc < 0) return fail_rc(self, rc);
    switch (self->kind) {
    case NATIVE_FILTER:
        return PyBool_FromLong(rc > 0);
    case NATIVE_FLATMAP:
        return decode_out(self, 0);
    default:
        return decode_out(self, 1);
    }
}

/* ---- the type -------------------------------------------------------------------- */

static void NativeFn_dealloc(NativeFn *self) {
    PyTypeObject *tp = Py_TYPE(self);
    ember_writer_free(&self->in);
    ember_writer_free(&self->out);
    PyMem_Free(self->name);
    PyMem_Free(self->where_in);
    if (self->handle) dlclose(self->handle); /* dlopen counts references per library */
    tp->tp_free(self);
    Py_DECREF(tp);
}

/* a + b + c in a new PyMem string, or NULL with MemoryError. */
static char *join3(const char *a, const char *b, const char *c) {
    size_t na = strlen(a), nb = strlen(b), nc = strlen(c);
    char *s = PyMem_Malloc(na + nb + nc + 1);
    if (!s) {
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(s, a, na);
    memcpy(s + na, b, nb);
    memcpy(s + na + nb, c, nc + 1);
    return s;
}

/* Makes this extension's symbols (libember's public API) visible to libraries
 * loaded later: reopens _core with RTLD_GLOBAL. */
static int promote_self(void) {
    static int done;
    if (done) return 0;
    Dl_info info;
    if (!dladdr((void *)&promote_self, &info) || !info.dli_fname) {
        PyErr_SetString(PyExc_OSError, "cannot find the file of ember._core to share its symbols with native code");
        return -1;
    }
    void *h = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL);
    if (!h) {
        PyErr_Format(PyExc_OSError, "cannot share ember._core's symbols with native code: %s", dlerror());
        return -1;
    }
    /* keep the reference: _core stays loaded for the life of the process anyway */
    done = 1;
    return 0;
}

int core_native_share_symbols(void) { return promote_self(); }

/* NativeFn(path, symbol, kind, label, offset=by symbol): kind one of NATIVE_*; label
 * ("mapNative") names it; an offset names it by file and offset (native.c). */
static PyObject *NativeFn_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    const char *path, *symbol, *label;
    int kind;
    if (kw && PyDict_GET_SIZE(kw)) return PyErr_Format(PyExc_TypeError, "NativeFn takes no keyword arguments");
    unsigned long long offset = EMBER_NATIVE_BY_SYMBOL;
    if (!PyArg_ParseTuple(args, "ssis|K", &path, &symbol, &kind, &label, &offset)) return NULL;
    if (kind < NATIVE_MAP || kind > NATIVE_PARTITIONER)
        return PyErr_Format(PyExc_ValueError, "unknown native kind %d", kind);
    NativeFn *self = (NativeFn *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    self->vectorcall = NativeFn_vectorcall;
    self->kind = kind;
    ember_writer_init(&self->in);
    ember_writer_init(&self->out);
    PyObject *name = PyUnicode_FromFormat("%s %s (%s)", label, symbol, path);
    if (!name) goto fail;
    self->name = join3(PyUnicode_AsUTF8(name), "", "");
    Py_DECREF(name);
    if (!self->name) goto fail;
    self->where_in = join3("the input of ", self->name, "");
    if (!self->where_in) goto fail;
    if (promote_self() < 0 || install_handlers() < 0) goto fail;
    if (offset != EMBER_NATIVE_BY_SYMBOL) { /* a function named by file and offset (native.c) */
        emberN_fn fn = {{(const uint8_t *)path, (uint32_t)strlen(path)},
                        {(const uint8_t *)symbol, (uint32_t)strlen(symbol)},
                        (uint64_t)offset};
        int rc = emberN_resolve(&fn, 0, &self->fn);
        if (rc) {
            PyErr_Format(PyExc_OSError, "%s: %s", self->name, ember_last_error());
            goto fail;
        }
        return (PyObject *)self;
    }
    self->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!self->handle) {
        PyErr_Format(PyExc_OSError, "%s: cannot load the library: %s", self->name, dlerror());
        goto fail;
    }
    dlerror();
    self->fn = dlsym(self->handle, symbol);
    if (!self->fn) {
        PyErr_Format(PyExc_AttributeError, "%s: the library has no function %s", self->name, symbol);
        goto fail;
    }
    return (PyObject *)self;
fail:
    Py_DECREF(self);
    return NULL;
}

static PyObject *NativeFn_repr(NativeFn *self) { return PyUnicode_FromFormat("<NativeFn %s>", self->name); }

#if PY_VERSION_HEX < 0x030C0000
#include <structmember.h>
#define Py_T_PYSSIZET T_PYSSIZET
#define Py_READONLY READONLY
#endif
static PyMemberDef NativeFn_members[] = {
    {"__vectorcalloffset__", Py_T_PYSSIZET, offsetof(NativeFn, vectorcall), Py_READONLY, NULL},
    {"nparts", Py_T_PYSSIZET, offsetof(NativeFn, nparts), 0, "a partitioner's partition count"},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot NativeFn_slots[] = {
    {Py_tp_new, NativeFn_new},
    {Py_tp_dealloc, NativeFn_dealloc},
    {Py_tp_call, PyVectorcall_Call},
    {Py_tp_repr, NativeFn_repr},
    {Py_tp_members, NativeFn_members},
    {Py_tp_doc, "NativeFn(path, symbol, kind, label): a C function of a shared library, called with records."},
    {0, NULL},
};

static PyType_Spec NativeFn_spec = {"ember._core.NativeFn", sizeof(NativeFn), 0,
                                    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL, NativeFn_slots};

PyMethodDef core_native_methods[] = {
    {"native_crash_fds", py_native_crash_fds, METH_VARARGS,
     "native_crash_fds(task_fd, result_fd): the worker's pipes; a crash inside a native function closes the "
     "first and is reported on the second."},
    {NULL, NULL, 0, NULL},
};

int core_add_native(PyObject *m) {
    PyObject *t = PyType_FromModuleAndSpec(m, &NativeFn_spec, NULL);
    if (!t) return -1;
    int rc = PyModule_AddType(m, (PyTypeObject *)t);
    Py_DECREF(t);
    if (rc < 0) return -1;
    if (PyModule_AddIntConstant(m, "NATIVE_MAP", NATIVE_MAP) < 0 ||
        PyModule_AddIntConstant(m, "NATIVE_FLATMAP", NATIVE_FLATMAP) < 0 ||
        PyModule_AddIntConstant(m, "NATIVE_FILTER", NATIVE_FILTER) < 0 ||
        PyModule_AddIntConstant(m, "NATIVE_MERGE", NATIVE_MERGE) < 0 ||
        PyModule_AddIntConstant(m, "NATIVE_PARTITIONS", NATIVE_PARTITIONS) < 0 ||
        PyModule_AddIntConstant(m, "NATIVE_PARTITIONER", NATIVE_PARTITIONER) < 0)
        return -1;
    return 0;
}
