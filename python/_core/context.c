/* context.c — the driver side of the binding: Context (an engine context) and Node
 * (a reference to a lineage node). Every call that can wait on the engine releases
 * the GIL; a running job polls for Ctrl-C (and for cancellation asked from another
 * thread) through the interrupt callback, which takes the GIL only for that check. */
#include "core.h"

#include "internal.h"

#include <dlfcn.h>

typedef struct {
    PyObject_HEAD ember_context *ctx;
} ContextObject;

typedef struct {
    PyObject_HEAD ember_node *node;
} NodeObject;

/* ---- Node ------------------------------------------------------------------- */

static void Node_dealloc(NodeObject *self) {
    PyTypeObject *tp = Py_TYPE(self);
    if (self->node) {
        ember_node *n = self->node;
        self->node = NULL;
        Py_BEGIN_ALLOW_THREADS ember_node_release(n);
        Py_END_ALLOW_THREADS
    }
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *Node_get_id(NodeObject *self, void *c) {
    (void)c;
    return PyLong_FromLong(ember_node_id(self->node));
}

static PyObject *Node_get_num_partitions(NodeObject *self, void *c) {
    (void)c;
    return PyLong_FromSize_t(ember_node_num_partitions(self->node));
}

static PyObject *Node_set_cached(NodeObject *self, PyObject *arg) {
    int cached = PyObject_IsTrue(arg);
    if (cached < 0) return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = ember_node_set_cached(self->node, cached);
    Py_END_ALLOW_THREADS if (rc < 0) return core_raise(core_state_of_type(Py_TYPE(self)), rc);
    Py_RETURN_NONE;
}

/* set_storage(level) with level a combination of STORAGE_MEMORY and STORAGE_DISK (0:
 * drop the node's blocks, memory and files, at once). */
static PyObject *Node_set_storage(NodeObject *self, PyObject *arg) {
    long level = PyLong_AsLong(arg);
    if (level == -1 && PyErr_Occurred()) return NULL;
    if (level < 0 || level > (EMBER_STORAGE_MEMORY | EMBER_STORAGE_DISK)) {
        PyErr_Format(PyExc_ValueError, "storage level flags must be within 0..%d, got %ld",
                     EMBER_STORAGE_MEMORY | EMBER_STORAGE_DISK, level);
        return NULL;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = ember_node_persist(self->node, (int)level);
    Py_END_ALLOW_THREADS if (rc < 0) return core_raise(core_state_of_type(Py_TYPE(self)), rc);
    Py_RETURN_NONE;
}

static PyObject *Node_drop_after_shuffle(NodeObject *self, PyObject *arg) {
    int drop = PyObject_IsTrue(arg);
    if (drop < 0) return NULL;
    ember_node_drop_after_shuffle(self->node, drop);
    Py_RETURN_NONE;
}

static PyObject *Node_set_barrier(NodeObject *self, PyObject *arg) {
    int barrier = PyObject_IsTrue(arg);
    if (barrier < 0) return NULL;
    ember_node_set_barrier(self->node, barrier);
    Py_RETURN_NONE;
}

/* clean_shuffle() -> True when a shuffle node's map output was removed, False when
 * there was none; RuntimeError when a running job's lineage holds the node. */
static PyObject *Node_clean_shuffle(NodeObject *self, PyObject *unused) {
    (void)unused;
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = ember_node_clean_shuffle(self->node);
    Py_END_ALLOW_THREADS if (rc < 0) return core_raise(core_state_of_type(Py_TYPE(self)), rc);
    return PyBool_FromLong(rc);
}

static PyObject *wrap_node(core_state *st, ember_node *n);

static PyObject *Node_get_kind(NodeObject *self, void *c) {
    (void)c;
    return PyUnicode_FromString(ember_node_kind_name(self->node));
}

/* A tuple of new Node references to the parents, in order. */
static PyObject *Node_get_parents(NodeObject *self, void *c) {
    (void)c;
    core_state *st = core_state_of_type(Py_TYPE(self));
    size_t np = ember_node_num_parents(self->node);
    PyObject *tup = PyTuple_New((Py_ssize_t)np);
    for (size_t i = 0; tup && i < np; i++) {
        ember_node *p = ember_node_parent(self->node, i);
        ember_node_retain(p);
        PyObject *o = wrap_node(st, p); /* releases p on failure */
        if (!o) {
            Py_CLEAR(tup);
            break;
        }
        PyTuple_SET_ITEM(tup, (Py_ssize_t)i, o);
    }
    return tup;
}

static PyObject *Node_get_cached(NodeObject *self, void *c) {
    (void)c;
    return PyBool_FromLong(ember_node_is_cached(self->node));
}

static PyGetSetDef Node_getset[] = {
    {"cached", (getter)Node_get_cached, NULL, "whether computed partitions are kept", NULL},
    {"kind", (getter)Node_get_kind, NULL, "the node's kind: parallelize, text, range, pipeline, shuffle, ...", NULL},
    {"parents", (getter)Node_get_parents, NULL, "the parent nodes, a tuple", NULL},
    {"id", (getter)Node_get_id, NULL, "the node's id, unique in its context", NULL},
    {"num_partitions", (getter)Node_get_num_partitions, NULL, "number of partitions", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef Node_methods[] = {
    {"set_cached", (PyCFunction)Node_set_cached, METH_O, "Keep (True) or drop (False) computed partitions."},
    {"set_storage", (PyCFunction)Node_set_storage, METH_O,
     "Keep computed partitions at a level (STORAGE_MEMORY | STORAGE_DISK flags), or drop them (0)."},
    {"drop_after_shuffle", (PyCFunction)Node_drop_after_shuffle, METH_O,
     "Drop (True) the node's blocks as soon as a shuffle reading it has all its map output."},
    {"set_barrier", (PyCFunction)Node_set_barrier, METH_O,
     "Mark (True) the node as a barrier node: the stage computing it runs all its tasks at once."},
    {"clean_shuffle", (PyCFunction)Node_clean_shuffle, METH_NOARGS,
     "Remove a shuffle node's map output: True if there was some; RuntimeError while a job uses it."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Node_slots[] = {
    {Py_tp_dealloc, Node_dealloc},
    {Py_tp_getset, Node_getset},
    {Py_tp_methods, Node_methods},
    {Py_tp_doc, "A node of the lineage graph held by the engine."},
    {0, NULL},
};

static PyType_Spec Node_spec = {"ember._core.Node", sizeof(NodeObject), 0, Py_TPFLAGS_DEFAULT, Node_slots};

static PyObject *wrap_node(core_state *st, ember_node *n) {
    NodeObject *o = PyObject_New(NodeObject, st->Node_type);
    if (!o) {
        ember_node_release(n);
        return NULL;
    }
    o->node = n;
    return (PyObject *)o;
}

static ember_node *node_arg(core_state *st, PyObject *o) {
    if (!PyObject_TypeCheck(o, st->Node_type)) {
        PyErr_Format(PyExc_TypeError, "expected an ember._core.Node, got %.100s", Py_TYPE(o)->tp_name);
        return NULL;
    }
    return ((NodeObject *)o)->node;
}

/* ---- Context ------------------------------------------------------------------ */

static core_state *ctx_state(ContextObject *self) { return core_state_of_type(Py_TYPE(self)); }

static int Context_init(ContextObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {
        "slots",  "python",       "pythonpath",      "max_failures", "local_dir", "max_result_size",
        "daemon", "memory_limit", "storage_reserve", "mpi",          "started",   "locality_wait_ms",
        NULL};
    int slots, max_failures = 4;
    long long max_result_size = 0, memory_limit = 0, storage_reserve = 0, locality_wait_ms = 0;
    const char *python, *pythonpath = NULL, *local_dir = NULL, *daemon = NULL, *mpi = NULL;
    PyObject *started = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "is|zizLzLLzOL", kwlist, &slots, &python, &pythonpath, &max_failures,
                                     &local_dir, &max_result_size, &daemon, &memory_limit, &storage_reserve, &mpi,
                                     &started, &locality_wait_ms))
        return -1;
    /* started=(pid, fd): a daemon spawned ahead (ember._early), ours from here on:
     * ended here should the context not be made. */
    int started_pid = 0, started_fd = -1;
    if (started && started != Py_None &&
        !PyArg_ParseTuple(started, "ii;started: (pid, control socket fd) of a daemon spawned ahead", &started_pid,
                          &started_fd))
        return -1;
    if (max_result_size < 0 || memory_limit < 0 || storage_reserve < 0) {
        emberX_daemon_discard(started_pid, started_fd);
        PyErr_Format(PyExc_ValueError,
                     "max_result_size, memory_limit and storage_reserve must be 0 (unlimited) or a number of "
                     "bytes, got %lld, %lld, %lld",
                     max_result_size, memory_limit, storage_reserve);
        return -1;
    }
    if (self->ctx) {
        emberX_daemon_discard(started_pid, started_fd);
        PyErr_SetString(PyExc_RuntimeError, "Context is already initialized");
        return -1;
    }
    ember_config cfg = {.slots = slots,
                        .max_failures = max_failures,
                        .python = python,
                        .pythonpath = pythonpath,
                        .local_dir = local_dir,
                        .max_result_size = max_result_size,
                        .daemon = daemon,
                        .memory_limit = memory_limit,
                        .storage_reserve = storage_reserve,
                        .mpi = mpi,
                        .started_pid = started_pid,
                        .started_fd = started_fd,
                        .locality_wait_ms = locality_wait_ms};
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = ember_context_create(&cfg, &self->ctx);
    Py_END_ALLOW_THREADS if (rc) {
        self->ctx = NULL;
        core_raise(ctx_state(self), rc);
        return -1;
    }
    return 0;
}

static void stop_ctx(ContextObject *self) {
    if (!self->ctx) return;
    ember_context *c = self->ctx;
    self->ctx = NULL;
    Py_BEGIN_ALLOW_THREADS ember_context_free(c);
    Py_END_ALLOW_THREADS
}

static void Context_dealloc(ContextObject *self) {
    PyTypeObject *tp = Py_TYPE(self);
    stop_ctx(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

/* The context for a call that uses it without the GIL, with a reference of the
 * caller's (emberG_context_release it after the call, holding the GIL or not): a
 * stop() from another thread meanwhile stops the engine but cannot free what the call
 * reads. NULL when the context is stopped. Call with the GIL held. */
static ember_context *ctx_hold(ContextObject *self) {
    if (self->ctx) emberG_context_retain(self->ctx);
    return self->ctx;
}

static int check_live(ContextObject *self) {
    if (self->ctx) return 0;
    PyErr_SetString(PyExc_RuntimeError, "the SparkContext is stopped; create a new SparkContext to run jobs");
    return -1;
}

static PyObject *Context_stop(ContextObject *self, PyObject *unused) {
    (void)unused;
    stop_ctx(self);
    Py_RETURN_NONE;
}

/* parallelize(partitions: list[list[bytes]]) -> Node */
static PyObject *Context_parallelize(ContextObject *self, PyObject *parts) {
    if (check_live(self)) return NULL;
    PyObject *seq = PySequence_Fast(parts, "parallelize expects a list of lists of bytes");
    if (!seq) return NULL;
    Py_ssize_t np = PySequence_Fast_GET_SIZE(seq);
    PyObject *result = NULL;
    ember_buf **batches = PyMem_Calloc(np ? np : 1, sizeof *batches);
    size_t *nb = PyMem_Calloc(np ? np : 1, sizeof *nb);
    PyObject **inner = PyMem_Calloc(np ? np : 1, sizeof *inner);
    if (!batches || !nb || !inner) {
        PyErr_NoMemory();
        goto free_arrays;
    }
    for (Py_ssize_t p = 0; p < np; p++) {
        inner[p] = PySequence_Fast(PySequence_Fast_GET_ITEM(seq, p), "each partition must be a list of bytes");
        if (!inner[p]) goto free_arrays;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(inner[p]);
        batches[p] = PyMem_Calloc(n ? n : 1, sizeof **batches);
        if (!batches[p]) {
            PyErr_NoMemory();
            goto free_arrays;
        }
        nb[p] = (size_t)n;
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *b = PySequence_Fast_GET_ITEM(inner[p], i);
            if (!PyBytes_Check(b)) {
                PyErr_SetString(PyExc_TypeError, "each batch must be bytes");
                goto free_arrays;
            }
            batches[p][i].data = (uint8_t *)PyBytes_AS_STRING(b);
            batches[p][i].len = (size_t)PyBytes_GET_SIZE(b);
        }
    }
    ember_node *node;
    int rc = ember_node_parallelize(self->ctx, (size_t)np, (const ember_buf *const *)batches, nb, &node);
    result = rc ? core_raise(ctx_state(self), rc) : wrap_node(ctx_state(self), node);
free_arrays:
    if (batches)
        for (Py_ssize_t p = 0; p < np; p++)
            PyMem_Free(batches[p]);
    if (inner)
        for (Py_ssize_t p = 0; p < np; p++)
            Py_XDECREF(inner[p]);
    PyMem_Free(batches);
    PyMem_Free(nb);
    PyMem_Free(inner);
    Py_DECREF(seq);
    return result;
}

static PyObject *Context_text(ContextObject *self, PyObject *args) {
    const char *paths;
    int minp, as_bytes;
    if (!PyArg_ParseTuple(args, "sip", &paths, &minp, &as_bytes) || check_live(self)) return NULL;
    ember_node *node;
    int rc;
    ember_context *ctx = ctx_hold(self);
    Py_BEGIN_ALLOW_THREADS rc = ember_node_text(ctx, paths, minp, as_bytes, &node);
    emberG_context_release(ctx);
    Py_END_ALLOW_THREADS return rc ? core_raise(ctx_state(self), rc) : wrap_node(ctx_state(self), node);
}

static PyObject *Context_range(ContextObject *self, PyObject *args) {
    long long start, stop, step;
    Py_ssize_t np;
    if (!PyArg_ParseTuple(args, "LLLn", &start, &stop, &step, &np) || check_live(self)) return NULL;
    if (np < 1) return PyErr_Format(PyExc_ValueError, "number of partitions must be positive, got %zd", np);
    ember_node *node;
    int rc = ember_node_range(self->ctx, start, stop, step, (size_t)np, &node);
    return rc ? core_raise(ctx_state(self), rc) : wrap_node(ctx_state(self), node);
}

static PyObject *Context_pipeline(ContextObject *self, PyObject *args) {
    core_state *st = ctx_state(self);
    PyObject *parent;
    Py_buffer cmd;
    if (!PyArg_ParseTuple(args, "O!y*", st->Node_type, &parent, &cmd) || check_live(self)) return NULL;
    ember_node *node;
    int rc = ember_node_pipeline(self->ctx, ((NodeObject *)parent)->node, cmd.buf, (size_t)cmd.len, &node);
    PyBuffer_Release(&cmd);
    return rc ? core_raise(st, rc) : wrap_node(st, node);
}

/* call_native(path, symbol, nodes) -> Node: loads a library built against ember.h in
 * the driver and calls its builder `int symbol(ember_context *, ember_node *const *,
 * size_t, ember_node **)` (ember_build_fn), which builds a lineage over the given
 * nodes with the C API; the node it returns is wrapped. The builder runs no native
 * step itself: the steps it adds run in the workers. */
static PyObject *Context_call_native(ContextObject *self, PyObject *args) {
    core_state *st = ctx_state(self);
    const char *path, *symbol;
    PyObject *nodes;
    if (!PyArg_ParseTuple(args, "ssO!", &path, &symbol, &PyList_Type, &nodes) || check_live(self)) return NULL;
    if (core_native_share_symbols() < 0) return NULL;
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) return PyErr_Format(PyExc_OSError, "%s: cannot load the library: %s", path, dlerror());
    dlerror();
    ember_build_fn build = (ember_build_fn)(uintptr_t)dlsym(h, symbol);
    if (!build) return PyErr_Format(PyExc_AttributeError, "%s has no function %s", path, symbol);
    Py_ssize_t n = PyList_GET_SIZE(nodes);
    ember_node **in = PyMem_Calloc(n ? (size_t)n : 1, sizeof *in);
    if (!in) return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *x = PyList_GET_ITEM(nodes, i);
        if (!PyObject_TypeCheck(x, st->Node_type)) {
            PyMem_Free(in);
            return PyErr_Format(PyExc_TypeError, "call_native: input %zd is not a Node", i);
        }
        in[i] = ((NodeObject *)x)->node;
    }
    ember_node *out = NULL;
    ember_clear_error();
    int rc = build(self->ctx, (ember_node *const *)in, (size_t)n, &out);
    PyMem_Free(in);
    if (rc < 0) {
        const char *msg = ember_last_error();
        return PyErr_Format(PyExc_RuntimeError, "native builder %s (%s) failed: %s", symbol, path,
                            *msg ? msg : ember_strerror(rc));
    }
    if (!out) return PyErr_Format(PyExc_RuntimeError, "native builder %s (%s) returned no RDD", symbol, path);
    return wrap_node(st, out);
}

static PyObject *Context_shuffle(ContextObject *self, PyObject *args) {
    core_state *st = ctx_state(self);
    PyObject *parent;
    Py_ssize_t np;
    Py_buffer spec;
    if (!PyArg_ParseTuple(args, "O!ny*", st->Node_type, &parent, &np, &spec) || check_live(self)) return NULL;
    if (np < 1) {
        PyBuffer_Release(&spec);
        return PyErr_Format(PyExc_ValueError, "number of partitions must be positive, got %zd", np);
    }
    ember_node *node;
    int rc = ember_node_shuffle(self->ctx, ((NodeObject *)parent)->node, (size_t)np, spec.buf, (size_t)spec.len, &node);
    PyBuffer_Release(&spec);
    return rc ? core_raise(st, rc) : wrap_node(st, node);
}

static PyObject *Context_union(ContextObject *self, PyObject *parents) {
    core_state *st = ctx_state(self);
    if (check_live(self)) return NULL;
    PyObject *seq = PySequence_Fast(parents, "union expects a list of nodes");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    ember_node **nodes = PyMem_Calloc(n ? n : 1, sizeof *nodes);
    PyObject *result = NULL;
    if (!nodes) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        if (!(nodes[i] = node_arg(st, PySequence_Fast_GET_ITEM(seq, i)))) goto done;
    ember_node *node;
    int rc = ember_node_union(self->ctx, nodes, (size_t)n, &node);
    result = rc ? core_raise(st, rc) : wrap_node(st, node);
done:
    PyMem_Free(nodes);
    Py_DECREF(seq);
    return result;
}

static PyObject *two_nodes(ContextObject *self, PyObject *args,
                           int (*make)(ember_context *, ember_node *, ember_node *, ember_node **)) {
    core_state *st = ctx_state(self);
    PyObject *a, *b;
    if (!PyArg_ParseTuple(args, "O!O!", st->Node_type, &a, st->Node_type, &b) || check_live(self)) return NULL;
    ember_node *node;
    int rc = make(self->ctx, ((NodeObject *)a)->node, ((NodeObject *)b)->node, &node);
    return rc ? core_raise(st, rc) : wrap_node(st, node);
}

static PyObject *Context_zip(ContextObject *self, PyObject *args) { return two_nodes(self, args, ember_node_zip); }

static PyObject *Context_cartesian(ContextObject *self, PyObject *args) {
    return two_nodes(self, args, ember_node_cartesian);
}

static PyObject *Context_coalesce(ContextObject *self, PyObject *args) {
    core_state *st = ctx_state(self);
    PyObject *parent;
    Py_ssize_t np;
    if (!PyArg_ParseTuple(args, "O!n", st->Node_type, &parent, &np) || check_live(self)) return NULL;
    if (np < 1) return PyErr_Format(PyExc_ValueError, "Number of partitions must be positive.");
    ember_node *node;
    int rc = ember_node_coalesce(self->ctx, ((NodeObject *)parent)->node, (size_t)np, &node);
    return rc ? core_raise(st, rc) : wrap_node(st, node);
}

static PyObject *bufs_to_list(ember_buf *bufs, size_t n) {
    PyObject *lst = PyList_New((Py_ssize_t)n);
    for (size_t j = 0; lst && j < n; j++) {
        PyObject *b = PyBytes_FromStringAndSize((const char *)bufs[j].data, (Py_ssize_t)bufs[j].len);
        if (!b) {
            Py_CLEAR(lst);
            break;
        }
        PyList_SET_ITEM(lst, (Py_ssize_t)j, b);
        ember_free(bufs[j].data); /* release early: results can be large */
        bufs[j].data = NULL;
    }
    return lst;
}

/* Appends each report of res (bytes) to the list `into`; keeps a pending exception. */
static int take_reports(ember_result *res, PyObject *into) {
    if (!res || !into || !res->nreports) return 0;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyObject *lst = bufs_to_list(res->reports, res->nreports);
    int rc = lst ? 0 : -1;
    for (Py_ssize_t i = 0; lst && rc == 0 && i < PyList_GET_SIZE(lst); i++)
        rc = PyList_Append(into, PyList_GET_ITEM(lst, i));
    Py_XDECREF(lst);
    if (type) {
        PyErr_Clear();
        PyErr_Restore(type, value, tb);
        return -1;
    }
    return rc;
}

/* Calls on_partition(index, batches) for a partition that arrived; returns 1 when it
 * asks to stop the job (a true result), 0 to go on, -1 with an exception. */
static int deliver(PyObject *on_partition, PyObject *batches, ember_part *part, PyObject *lst) {
    if (on_partition == Py_None) {
        PyList_SetItem(batches, (Py_ssize_t)part->index, lst); /* steals lst */
        return 0;
    }
    PyObject *r = PyObject_CallFunction(on_partition, "nN", (Py_ssize_t)part->index, lst);
    if (!r) return -1;
    int stop = PyObject_IsTrue(r);
    Py_DECREF(r);
    return stop;
}

/* run_job(node, partitions=None, group=None, info=b"", reports=None, on_submit=None,
 *         on_partition=None) -> (batches per partition, reports)
 * Results are taken from the engine partition by partition as their tasks finish
 * (ember_job_next), with the GIL released while waiting; Ctrl-C (a pending signal)
 * cancels the job and raises. on_submit(job_id) is called once the job is submitted.
 * on_partition(index, batches), when given, is called with each partition as it
 * arrives (index into the partitions asked for; completion order), and the returned
 * list holds None for it; a true return stops the job: its running tasks are
 * killed, no more are launched, and run_job returns normally. When `reports` is a
 * list, the reports of the task attempts that succeeded are appended to it whether
 * the job succeeds, fails, stops or is cancelled. */
static PyObject *Context_run_job(ContextObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"node", "partitions", "group", "info", "reports", "on_submit", "on_partition", NULL};
    core_state *st = ctx_state(self);
    PyObject *nodeobj, *parts = Py_None, *into = Py_None, *on_submit = Py_None, *on_partition = Py_None;
    const char *group = NULL;
    Py_buffer info = {0};
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!|Ozy*OOO", kwlist, st->Node_type, &nodeobj, &parts, &group, &info,
                                     &into, &on_submit, &on_partition))
        return NULL;
    size_t *pv = NULL, np = 0;
    PyObject *out = NULL, *batches = NULL;
    if (into == Py_None)
        into = NULL;
    else if (!PyList_Check(into)) {
        PyErr_SetString(PyExc_TypeError, "run_job: reports must be a list or None");
        goto release_info;
    }
    if (check_live(self)) goto release_info;
    if (parts != Py_None) {
        PyObject *seq = PySequence_Fast(parts, "partitions must be a list of ints");
        if (!seq) goto release_info;
        np = (size_t)PySequence_Fast_GET_SIZE(seq);
        pv = PyMem_Calloc(np ? np : 1, sizeof *pv);
        if (!pv) {
            Py_DECREF(seq);
            PyErr_NoMemory();
            goto release_info;
        }
        for (size_t i = 0; i < np; i++) {
            pv[i] = PyLong_AsSize_t(PySequence_Fast_GET_ITEM(seq, (Py_ssize_t)i));
            if (PyErr_Occurred()) {
                Py_DECREF(seq);
                goto release_info;
            }
        }
        Py_DECREF(seq);
    } else {
        np = ember_node_num_partitions(((NodeObject *)nodeobj)->node);
    }
    if (!(batches = PyList_New((Py_ssize_t)np))) goto release_info;
    for (size_t i = 0; i < np; i++)
        PyList_SET_ITEM(batches, (Py_ssize_t)i, Py_NewRef(Py_None));
    ember_job *job;
    int rc = ember_job_submit(self->ctx, ((NodeObject *)nodeobj)->node, pv, pv ? np : 0, group, info.buf,
                              info.buf ? (size_t)info.len : 0, &job);
    if (rc) {
        core_raise(st, rc);
        goto release_info;
    }
    int interrupted = 0, stopped = 0;
    if (on_submit != Py_None) {
        PyObject *r = PyObject_CallFunction(on_submit, "i", ember_job_id(job));
        if (!r) {
            /* Keep the callback's exception; the job is cancelled and waited for. */
            interrupted = 1;
            ember_job_cancel(job);
        }
        Py_XDECREF(r);
    }
    for (;;) {
        ember_part *part = NULL;
        int r;
        Py_BEGIN_ALLOW_THREADS r = ember_job_next(job, 50, &part);
        Py_END_ALLOW_THREADS if (r == 0) break;
        if (r < 0 && !interrupted) {
            /* Out of memory taking a partition: raise it, cancel and drain the job. */
            core_raise(st, r);
            interrupted = 1;
            ember_job_cancel(job);
        }
        if (r == 1 && !interrupted && !stopped) {
            PyObject *lst = bufs_to_list(part->batches, part->nbatches);
            int d = lst ? deliver(on_partition, batches, part, lst) : -1;
            if (d != 0) {
                /* An exception (kept) or enough results: stop the job, drain the rest. */
                if (d < 0)
                    interrupted = 1;
                else
                    stopped = 1;
                ember_job_cancel(job);
            }
        }
        ember_part_free(part);
        if (r != 1 && !interrupted && !stopped && PyErr_CheckSignals() < 0) {
            /* Keep the KeyboardInterrupt; cancel the job and wait for it to wind down. */
            interrupted = 1;
            ember_job_cancel(job);
        }
    }
    ember_result *res = NULL;
    rc = ember_job_finish(job, &res);
    if (stopped) rc = 0; /* cancelled at our request; what arrived before is the answer */
    if (interrupted || rc) {
        if (!interrupted) core_raise(st, rc);
        take_reports(res, into);
    } else if (take_reports(res, into) == 0) {
        PyObject *reports = into ? Py_NewRef(into) : bufs_to_list(res->reports, res->nreports);
        if (reports) out = PyTuple_Pack(2, batches, reports);
        Py_XDECREF(reports);
    }
    ember_result_free(res);
    ember_job_free(job);
release_info:
    Py_XDECREF(batches);
    PyMem_Free(pv);
    if (info.buf) PyBuffer_Release(&info);
    return out;
}

static PyObject *Context_cancel_group(ContextObject *self, PyObject *arg) {
    const char *group = NULL;
    if (arg != Py_None && !(group = PyUnicode_AsUTF8(arg))) return NULL;
    if (!self->ctx) return PyLong_FromLong(0);
    return PyLong_FromLong(group ? ember_cancel_group(self->ctx, group) : ember_cancel_all(self->ctx));
}

static PyObject *stage_list(const ember_stage_info *info, size_t n) {
    PyObject *lst = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; lst && i < n; i++) {
        PyObject *t =
            Py_BuildValue("(iiiiiiL)", info[i].stage_id, info[i].job_id, info[i].num_tasks, info[i].num_completed,
                          info[i].num_active, info[i].num_failed, (long long)info[i].submitted_ms);
        if (!t) {
            Py_CLEAR(lst);
            break;
        }
        PyList_SET_ITEM(lst, (Py_ssize_t)i, t);
    }
    return lst;
}

/* active_stages() -> list of (stage_id, job_id, tasks, completed, active, failed, submitted_ms) */
static PyObject *Context_active_stages(ContextObject *self, PyObject *unused) {
    (void)unused;
    ember_context *ctx = ctx_hold(self);
    if (!ctx) return PyList_New(0);
    ember_stage_info info[64];
    size_t n = 0;
    /* The progress bar's thread polls this while a job runs: wait for the engine's lock
     * without the GIL, so the job's thread and the REPL never wait for the poll (and
     * hold the context: a stop() meanwhile cannot free it). */
    Py_BEGIN_ALLOW_THREADS n = ember_active_stages(ctx, info, 64);
    emberG_context_release(ctx);
    Py_END_ALLOW_THREADS return stage_list(info, n > 64 ? 64 : n);
}

/* finished_stages() -> the same tuples for the stages that finished lately, oldest first */
static PyObject *Context_finished_stages(ContextObject *self, PyObject *unused) {
    (void)unused;
    if (!self->ctx) return PyList_New(0);
    ember_stage_info *info = PyMem_Malloc(EMBER_STAGE_HISTORY * sizeof *info);
    if (!info) return PyErr_NoMemory();
    size_t n = ember_finished_stages(self->ctx, info, EMBER_STAGE_HISTORY);
    PyObject *lst = stage_list(info, n > EMBER_STAGE_HISTORY ? EMBER_STAGE_HISTORY : n);
    PyMem_Free(info);
    return lst;
}

/* The task log (ember_task_infos ...). The copies are made holding the GIL: stop()
 * frees the context only with the GIL, and the log's lock is held only for copies. */

/* task_infos(stage_id) -> [(task_id, stage_id, stage_attempt, job_id, index, partition,
 * attempt, worker, pid, status, launch_ms, finish_ms, input_bytes, shuffle_read_bytes,
 * output_bytes, shuffle_write_bytes, records_read, records_written, shuffle_records_read,
 * shuffle_records_written, memory_bytes_spilled, disk_bytes_spilled, error or None, executor,
 * remote_bytes_fetched, fetch_begin_us, fetch_end_us)], oldest first (stage_id < 0: all) */
static PyObject *Context_task_infos(ContextObject *self, PyObject *arg) {
    int stage_id = PyLong_AsLong(arg);
    if (stage_id == -1 && PyErr_Occurred()) return NULL;
    if (!self->ctx) return PyList_New(0);
    size_t cap = ember_task_infos(self->ctx, stage_id, NULL, 0) + 16;
    ember_task_info *info = PyMem_Malloc(cap * sizeof *info);
    if (!info) return PyErr_NoMemory();
    size_t n = ember_task_infos(self->ctx, stage_id, info, cap);
    if (n > cap) n = cap;
    PyObject *lst = PyList_New((Py_ssize_t)n);
    char *err = NULL;
    for (size_t i = 0; lst && i < n; i++) {
        const ember_task_info *t = &info[i];
        PyObject *error = NULL;
        if (t->has_error) {
            if (!err && !(err = PyMem_Malloc(EMBER_TASKLOG_ERROR_MAX))) {
                Py_CLEAR(lst);
                PyErr_NoMemory();
                break;
            }
            ember_task_error(self->ctx, t->task_id, err, EMBER_TASKLOG_ERROR_MAX);
            error = PyUnicode_DecodeUTF8(err, (Py_ssize_t)strlen(err), "replace");
        } else {
            error = Py_NewRef(Py_None);
        }
        PyObject *row =
            error
                ? Py_BuildValue("(KiiiiiiiiiLLKKKKKKKKKKNiKLL)", (unsigned long long)t->task_id, t->stage_id,
                                t->stage_attempt, t->job_id, t->index, t->partition, t->attempt, t->worker, t->pid,
                                t->status, (long long)t->launch_ms, (long long)t->finish_ms,
                                (unsigned long long)t->input_bytes, (unsigned long long)t->shuffle_read_bytes,
                                (unsigned long long)t->output_bytes, (unsigned long long)t->shuffle_write_bytes,
                                (unsigned long long)t->records_read, (unsigned long long)t->records_written,
                                (unsigned long long)t->shuffle_records_read,
                                (unsigned long long)t->shuffle_records_written,
                                (unsigned long long)t->memory_bytes_spilled, (unsigned long long)t->disk_bytes_spilled,
                                error, t->executor, (unsigned long long)t->remote_bytes_fetched,
                                (long long)t->fetch_begin_us, (long long)t->fetch_end_us)
                : NULL;
        if (!row) {
            Py_CLEAR(lst);
            break;
        }
        PyList_SET_ITEM(lst, (Py_ssize_t)i, row);
    }
    PyMem_Free(err);
    PyMem_Free(info);
    return lst;
}

/* stage_records() -> [(stage_id, job_id, attempt, kind, node_id, status, num_tasks,
 * submitted_ms, completed_ms)], oldest first */
static PyObject *Context_stage_records(ContextObject *self, PyObject *unused) {
    (void)unused;
    if (!self->ctx) return PyList_New(0);
    size_t cap = ember_stage_records(self->ctx, NULL, 0) + 16;
    ember_stage_record *rec = PyMem_Malloc(cap * sizeof *rec);
    if (!rec) return PyErr_NoMemory();
    size_t n = ember_stage_records(self->ctx, rec, cap);
    if (n > cap) n = cap;
    PyObject *lst = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; lst && i < n; i++) {
        const ember_stage_record *r = &rec[i];
        PyObject *row = Py_BuildValue("(iiiiiiiLL)", r->stage_id, r->job_id, r->attempt, r->kind, r->node_id, r->status,
                                      r->num_tasks, (long long)r->submitted_ms, (long long)r->completed_ms);
        if (!row) {
            Py_CLEAR(lst);
            break;
        }
        PyList_SET_ITEM(lst, (Py_ssize_t)i, row);
    }
    PyMem_Free(rec);
    return lst;
}

/* tasklog_changes() -> the task log's change count (ember_tasklog_changes) */
static PyObject *Context_tasklog_changes(ContextObject *self, PyObject *unused) {
    (void)unused;
    return PyLong_FromUnsignedLongLong(self->ctx ? ember_tasklog_changes(self->ctx) : 0);
}

/* tasklog_retain(tasks, stages): how many attempts and stages the log keeps */
static PyObject *Context_tasklog_retain(ContextObject *self, PyObject *args) {
    Py_ssize_t tasks, stages;
    if (!PyArg_ParseTuple(args, "nn", &tasks, &stages) || check_live(self)) return NULL;
    if (tasks < 1 || stages < 1) {
        PyErr_Format(PyExc_ValueError, "the task log keeps at least 1 task and 1 stage, got %zd and %zd", tasks,
                     stages);
        return NULL;
    }
    ember_tasklog_retain(self->ctx, (size_t)tasks, (size_t)stages);
    Py_RETURN_NONE;
}

static PyObject *Context_get_tmpdir(ContextObject *self, void *c) {
    (void)c;
    if (check_live(self)) return NULL;
    return PyUnicode_DecodeFSDefault(ember_context_tmpdir(self->ctx));
}

static PyObject *Context_get_stopped(ContextObject *self, void *c) {
    (void)c;
    return PyBool_FromLong(self->ctx == NULL);
}

/* daemon_restarts() -> (count, note of the last): worker daemons that died and were replaced. */
static PyObject *Context_daemon_restarts(ContextObject *self, PyObject *unused) {
    (void)unused;
    if (!self->ctx) return Py_BuildValue("(is)", 0, "");
    char note[512];
    int n = ember_context_daemon_restarts(self->ctx, note, sizeof note);
    return Py_BuildValue("(is)", n, note);
}

/* executors() -> [(rank, host, pid, slots), ...]: cluster mode's executors ([] locally). */
static PyObject *Context_executors(ContextObject *self, PyObject *unused) {
    (void)unused;
    PyObject *lst = PyList_New(0);
    if (!lst || !self->ctx) return lst;
    ember_executor_info info[64];
    size_t n = ember_context_executors(self->ctx, info, 64);
    ember_executor_info *all = n > 64 ? PyMem_Calloc(n, sizeof *all) : info;
    if (!all) {
        Py_DECREF(lst);
        return PyErr_NoMemory();
    }
    if (n > 64) n = ember_context_executors(self->ctx, all, n);
    for (size_t i = 0; i < n; i++) {
        PyObject *t = Py_BuildValue("(isLi)", all[i].rank, all[i].host, (long long)all[i].pid, all[i].slots);
        if (!t || PyList_Append(lst, t) < 0) {
            Py_XDECREF(t);
            Py_CLEAR(lst);
            break;
        }
        Py_DECREF(t);
    }
    if (all != info) PyMem_Free(all);
    return lst;
}

/* share(name, remove=False): cluster mode sends the temp dir's file `name` to every
 * executor's temp dir (or removes those copies); nothing in local mode. */
static PyObject *Context_share(ContextObject *self, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"name", "remove", NULL};
    const char *name;
    int remove = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "s|p:share", kwlist, &name, &remove)) return NULL;
    ember_context *ctx = ctx_hold(self);
    if (!ctx) Py_RETURN_NONE; /* stopped: its executors and their copies are gone */
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = ember_context_share(ctx, name, remove);
    Py_END_ALLOW_THREADS emberG_context_release(ctx);
    if (rc < 0) return core_raise(ctx_state(self), rc);
    Py_RETURN_NONE;
}

/* freed_nodes() -> [id, ...]: nodes freed since the last call (tracked from the first). */
static PyObject *Context_freed_nodes(ContextObject *self, PyObject *unused) {
    (void)unused;
    PyObject *lst = PyList_New(0);
    if (!lst || !self->ctx) return lst;
    int ids[256];
    size_t n = 0;
    do {
        n = ember_context_freed_nodes(self->ctx, ids, 256);
        for (size_t i = 0; i < n; i++) {
            PyObject *x = PyLong_FromLong(ids[i]);
            if (!x || PyList_Append(lst, x) < 0) {
                Py_XDECREF(x);
                Py_DECREF(lst);
                return NULL;
            }
            Py_DECREF(x);
        }
    } while (n == 256);
    return lst;
}

/* Asks the engine, without the GIL, for a table of `size`-byte rows: fill(ctx, rows,
 * cap, arg) writes up to cap rows and returns how many there are, and the buffer grows
 * until they fit. Returns the rows (PyMem; *n of them, 0 once the context is stopped),
 * or NULL with MemoryError set. */
typedef size_t (*rows_fill)(ember_context *ctx, void *rows, size_t cap, void *arg);
static void *engine_rows(ContextObject *self, size_t size, size_t cap, rows_fill fill, void *arg, size_t *n) {
    void *rows = NULL;
    for (;;) {
        void *grown = PyMem_Realloc(rows, cap * size);
        if (!grown) {
            PyMem_Free(rows);
            return PyErr_NoMemory();
        }
        rows = grown;
        ember_context *ctx = ctx_hold(self);
        if (!ctx) { /* stopped by another thread while this one allocated */
            *n = 0;
            return rows;
        }
        Py_BEGIN_ALLOW_THREADS *n = fill(ctx, rows, cap, arg);
        emberG_context_release(ctx);
        Py_END_ALLOW_THREADS if (*n <= cap) return rows;
        cap = *n + 16;
    }
}

/* Appends each row's tuple (build(row) -> new reference) to lst; lst itself, or NULL
 * (lst released) on error. */
static PyObject *rows_to_list(PyObject *lst, const char *rows, size_t size, size_t n,
                              PyObject *(*build)(const void *)) {
    for (size_t i = 0; i < n; i++) {
        PyObject *t = build(rows + i * size);
        if (!t || PyList_Append(lst, t) < 0) {
            Py_XDECREF(t);
            Py_DECREF(lst);
            return NULL;
        }
        Py_DECREF(t);
    }
    return lst;
}

static size_t fill_storage_status(ember_context *ctx, void *rows, size_t cap, void *arg) {
    (void)arg;
    return ember_storage_status(ctx, rows, cap);
}

static PyObject *storage_status_row(const void *row) {
    const ember_storage_info *i = row;
    return Py_BuildValue("(iinnKK)", i->id, i->level, (Py_ssize_t)i->num_partitions, (Py_ssize_t)i->cached_partitions,
                         (unsigned long long)i->memory_bytes, (unsigned long long)i->disk_bytes);
}

/* storage_status() -> [(node_id, level_flags, partitions, cached_partitions,
 * memory_bytes, disk_bytes)]: one tuple per persisted node. */
static PyObject *Context_storage_status(ContextObject *self, PyObject *unused) {
    (void)unused;
    PyObject *lst = PyList_New(0);
    if (!lst || !self->ctx) return lst;
    size_t n = 0;
    ember_storage_info *info = engine_rows(self, sizeof *info, 16, fill_storage_status, NULL, &n);
    if (!info) {
        Py_DECREF(lst);
        return NULL;
    }
    lst = rows_to_list(lst, (const char *)info, sizeof *info, n, storage_status_row);
    PyMem_Free(info);
    return lst;
}

static size_t fill_storage_blocks(ember_context *ctx, void *rows, size_t cap, void *arg) {
    return ember_storage_blocks(ctx, *(const int *)arg, rows, cap);
}

static PyObject *storage_blocks_row(const void *row) {
    const ember_block_info *i = row;
    return Py_BuildValue("(niKK)", (Py_ssize_t)i->partition, i->executor, (unsigned long long)i->memory_bytes,
                         (unsigned long long)i->disk_bytes);
}

/* storage_blocks(node_id) -> [(partition, executor, memory_bytes, disk_bytes)]: where
 * each held partition of the node is (executor 0: the driver; else a rank). */
static PyObject *Context_storage_blocks(ContextObject *self, PyObject *arg) {
    int id = PyLong_AsLong(arg);
    if (id == -1 && PyErr_Occurred()) return NULL;
    PyObject *lst = PyList_New(0);
    if (!lst || !self->ctx) return lst;
    size_t n = 0;
    ember_block_info *info = engine_rows(self, sizeof *info, 64, fill_storage_blocks, &id, &n);
    if (!info) {
        Py_DECREF(lst);
        return NULL;
    }
    lst = rows_to_list(lst, (const char *)info, sizeof *info, n, storage_blocks_row);
    PyMem_Free(info);
    return lst;
}

static PyObject *py_mem_used(PyObject *m, PyObject *unused) {
    (void)m;
    (void)unused;
    return PyLong_FromLongLong(ember_mem_used());
}

static PyMethodDef Context_methods[] = {
    {"parallelize", (PyCFunction)Context_parallelize, METH_O, "parallelize(partitions: list[list[bytes]]) -> Node"},
    {"text", (PyCFunction)Context_text, METH_VARARGS, "text(paths, min_partitions, as_bytes) -> Node"},
    {"range", (PyCFunction)Context_range, METH_VARARGS, "range(start, stop, step, num_partitions) -> Node"},
    {"pipeline", (PyCFunction)Context_pipeline, METH_VARARGS, "pipeline(parent, command: bytes) -> Node"},
    {"shuffle", (PyCFunction)Context_shuffle, METH_VARARGS, "shuffle(parent, num_partitions, spec: bytes) -> Node"},
    {"call_native", (PyCFunction)Context_call_native, METH_VARARGS,
     "call_native(path, symbol, nodes) -> Node: a lineage built by a C library's ember_build_fn"},
    {"union", (PyCFunction)Context_union, METH_O, "union(nodes) -> Node"},
    {"coalesce", (PyCFunction)Context_coalesce, METH_VARARGS, "coalesce(parent, num_partitions) -> Node"},
    {"zip", (PyCFunction)Context_zip, METH_VARARGS, "zip(a, b) -> Node"},
    {"cartesian", (PyCFunction)Context_cartesian, METH_VARARGS, "cartesian(a, b) -> Node"},
    {"run_job", (PyCFunction)(void (*)(void))Context_run_job, METH_VARARGS | METH_KEYWORDS,
     "run_job(node, partitions=None, group=None, info=b'', reports=None, on_submit=None, on_partition=None) -> "
     "(batches per partition, task reports); on_partition(index, batches) takes each partition as it arrives "
     "(True stops the job); with a reports list, reports go there, also on failure"},
    {"cancel_group", (PyCFunction)Context_cancel_group, METH_O,
     "cancel_group(group or None) -> number of jobs asked to cancel (None: all)"},
    {"active_stages", (PyCFunction)Context_active_stages, METH_NOARGS,
     "active_stages() -> [(stage_id, job_id, tasks, completed, active, failed, submitted_ms)]"},
    {"finished_stages", (PyCFunction)Context_finished_stages, METH_NOARGS,
     "finished_stages() -> the same tuples for the last stages that finished, oldest first"},
    {"task_infos", (PyCFunction)Context_task_infos, METH_O,
     "task_infos(stage_id) -> [(task_id, stage_id, stage_attempt, job_id, index, partition, attempt, worker, pid, "
     "status, launch_ms, finish_ms, input_bytes, shuffle_read_bytes, output_bytes, shuffle_write_bytes, "
     "records_read, records_written, shuffle_records_read, shuffle_records_written, memory_bytes_spilled, "
     "disk_bytes_spilled, error, executor, remote_bytes_fetched, fetch_begin_us, fetch_end_us)]"},
    {"stage_records", (PyCFunction)Context_stage_records, METH_NOARGS,
     "stage_records() -> [(stage_id, job_id, attempt, kind, node_id, status, num_tasks, submitted_ms, "
     "completed_ms)]"},
    {"tasklog_changes", (PyCFunction)Context_tasklog_changes, METH_NOARGS,
     "tasklog_changes() -> a count that grows whenever the task log gains a stage or an ended attempt"},
    {"tasklog_retain", (PyCFunction)Context_tasklog_retain, METH_VARARGS,
     "tasklog_retain(tasks, stages): how many task attempts and stages the task log keeps"},
    {"daemon_restarts", (PyCFunction)Context_daemon_restarts, METH_NOARGS,
     "daemon_restarts() -> (how many worker daemons died and were replaced, what happened last)"},
    {"share", (PyCFunction)(void (*)(void))Context_share, METH_VARARGS | METH_KEYWORDS,
     "share(name, remove=False): sends the temp dir's file name to every executor (cluster mode)"},
    {"executors", (PyCFunction)Context_executors, METH_NOARGS,
     "executors() -> [(rank, host, pid, slots), ...] in cluster mode, [] in local mode"},
    {"freed_nodes", (PyCFunction)Context_freed_nodes, METH_NOARGS,
     "freed_nodes() -> ids of the nodes freed since the last call (the first call starts tracking)"},
    {"storage_blocks", (PyCFunction)Context_storage_blocks, METH_O,
     "storage_blocks(node_id) -> [(partition, executor, memory_bytes, disk_bytes)]: where each held partition is "
     "(executor 0: the driver)"},
    {"storage_status", (PyCFunction)Context_storage_status, METH_NOARGS,
     "storage_status() -> [(node_id, level_flags, partitions, cached_partitions, memory_bytes, disk_bytes)]"},
    {"stop", (PyCFunction)Context_stop, METH_NOARGS, "Stop workers, remove temp files. Idempotent."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Context_getset[] = {
    {"tmpdir", (getter)Context_get_tmpdir, NULL, "the context's temp dir", NULL},
    {"stopped", (getter)Context_get_stopped, NULL, "True after stop()", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Context_slots[] = {
    {Py_tp_init, Context_init},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_dealloc, Context_dealloc},
    {Py_tp_methods, Context_methods},
    {Py_tp_getset, Context_getset},
    {Py_tp_doc,
     "Context(slots, python, pythonpath=None, max_failures=4, local_dir=None, max_result_size=0, "
     "daemon=None, memory_limit=0, storage_reserve=0, mpi=None, started=None, locality_wait_ms=0): an engine "
     "context."},
    {0, NULL},
};

static PyType_Spec Context_spec = {"ember._core.Context", sizeof(ContextObject), 0, Py_TPFLAGS_DEFAULT, Context_slots};

/* input_files(paths) -> [path, ...]: the files that textFile(paths) reads, in its order
 * (the listing rules are in textsplit.c). FileNotFoundError when a path matches nothing. */
static PyObject *py_input_files(PyObject *m, PyObject *arg) {
    const char *paths = PyUnicode_AsUTF8(arg);
    if (!paths) return NULL;
    ember_split *splits = NULL;
    size_t n = 0;
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = ember_text_splits(paths, 1, &splits, &n);
    Py_END_ALLOW_THREADS if (rc) return core_raise(core_get_state(m), rc);
    PyObject *lst = PyList_New(0);
    for (size_t i = 0; lst && i < n; i++) {
        if (i > 0 && strcmp(splits[i].path, splits[i - 1].path) == 0) continue; /* a file cut in pieces */
        PyObject *s = PyUnicode_DecodeFSDefault(splits[i].path);
        if (!s || PyList_Append(lst, s) < 0) {
            Py_XDECREF(s);
            Py_CLEAR(lst);
            break;
        }
        Py_DECREF(s);
    }
    ember_splits_free(splits, n);
    return lst;
}

/* mpi_executor(slots, python, pythonpath, local_dir, mpi, memory_limit=0,
 * storage_reserve=0): runs this process as an executor of an MPI launch until the
 * driver stops (the GIL released throughout), its block store under that budget. */
static PyObject *py_mpi_executor(PyObject *m, PyObject *args) {
    int slots;
    const char *python, *pythonpath, *local_dir, *mpi;
    long long memory_limit = 0, storage_reserve = 0;
    if (!PyArg_ParseTuple(args, "iszzs|LL", &slots, &python, &pythonpath, &local_dir, &mpi, &memory_limit,
                          &storage_reserve))
        return NULL;
    ember_config cfg = {.slots = slots,
                        .python = python,
                        .pythonpath = pythonpath,
                        .local_dir = local_dir,
                        .mpi = mpi,
                        .memory_limit = memory_limit,
                        .storage_reserve = storage_reserve};
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = ember_mpi_executor(&cfg);
    Py_END_ALLOW_THREADS if (rc) return core_raise(core_get_state(m), rc);
    Py_RETURN_NONE;
}

static PyMethodDef context_functions[] = {
    {"mpi_executor", py_mpi_executor, METH_VARARGS,
     "mpi_executor(slots, python, pythonpath, local_dir, mpi, memory_limit=0, storage_reserve=0): runs an executor "
     "until the driver stops."},
    {"mem_used", py_mem_used, METH_NOARGS, "Bytes the engine has allocated in this process."},
    {"input_files", py_input_files, METH_O, "input_files(paths) -> the files textFile(paths) reads, in order."},
    {NULL, NULL, 0, NULL},
};

int core_add_context(PyObject *m, core_state *st) {
    st->Node_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &Node_spec, NULL);
    st->Context_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &Context_spec, NULL);
    if (!st->Node_type || !st->Context_type) return -1;
    if (PyModule_AddType(m, st->Node_type) < 0 || PyModule_AddType(m, st->Context_type) < 0) return -1;
    if (PyModule_AddIntConstant(m, "STORAGE_MEMORY", EMBER_STORAGE_MEMORY) < 0 ||
        PyModule_AddIntConstant(m, "STORAGE_DISK", EMBER_STORAGE_DISK) < 0)
        return -1;
    return PyModule_AddFunctions(m, context_functions);
}
