/* module.c — ember._core: module state, multi-phase init, and the one function that
 * turns an engine error code into a Python exception. */
#include "core.h"

core_state *core_get_state(PyObject *module) { return (core_state *)PyModule_GetState(module); }

core_state *core_state_of_type(PyTypeObject *type) { return (core_state *)PyType_GetModuleState(type); }

PyObject *core_raise(core_state *st, int code) {
    const char *msg = ember_last_error();
    if (!*msg) msg = ember_strerror(code);
    PyObject *type;
    switch (code) {
    case EMBER_ENOMEM:
        return PyErr_NoMemory();
    case EMBER_EINVAL:
        type = PyExc_ValueError;
        break;
    case EMBER_ENOENT:
        type = PyExc_FileNotFoundError;
        break;
    case EMBER_EEXIST:
        type = PyExc_FileExistsError;
        break;
    case EMBER_EIO:
        type = PyExc_OSError;
        break;
    case EMBER_ECORRUPT:
        type = PyExc_OSError;
        break; /* a damaged file, as gzip.BadGzipFile */
    case EMBER_ETASK:
        type = st->PythonException;
        break;
    case EMBER_ECANCELLED:
        type = st->JobCancelled;
        break;
    default:
        type = PyExc_RuntimeError;
        break;
    }
    PyErr_SetString(type, msg);
    return NULL;
}

static int core_exec(PyObject *m) {
    core_state *st = core_get_state(m);
    /* pickle's C core: the same dumps and loads, without pickle.py, whose imports (re,
     * enum, struct ...) would cost a worker daemon a third of its start-up. */
    PyObject *pickle = PyImport_ImportModule("_pickle");
    if (!pickle) return -1;
    st->dumps = PyObject_GetAttrString(pickle, "dumps");
    st->loads = PyObject_GetAttrString(pickle, "loads");
    Py_DECREF(pickle);
    if (!st->dumps || !st->loads) return -1;
    st->protocol = PyLong_FromLong(5);
    PyObject *operator= PyImport_ImportModule("operator");
    if (!operator) return -1;
    st->op_add = PyObject_GetAttrString(operator, "add");
    Py_DECREF(operator);
    if (!st->op_add) return -1;
    st->PythonException = PyErr_NewExceptionWithDoc(
        "ember.PythonException",
        "A task of a job failed: the message holds the failing task and the Python traceback of the worker.",
        PyExc_RuntimeError, NULL);
    st->JobCancelled =
        PyErr_NewExceptionWithDoc("ember.JobCancelledError", "The job was cancelled.", PyExc_RuntimeError, NULL);
    if (!st->protocol || !st->PythonException || !st->JobCancelled) return -1;
    if (PyModule_AddObjectRef(m, "PythonException", st->PythonException) < 0) return -1;
    if (PyModule_AddObjectRef(m, "JobCancelledError", st->JobCancelled) < 0) return -1;
    if (PyModule_AddFunctions(m, core_hash_methods) < 0) return -1;
    if (PyModule_AddFunctions(m, core_worker_io_methods) < 0) return -1;
    if (PyModule_AddFunctions(m, core_pipeline_methods) < 0) return -1;
    if (PyModule_AddFunctions(m, core_record_methods) < 0) return -1;
    if (PyModule_AddFunctions(m, core_native_methods) < 0 || core_add_native(m) < 0) return -1;
    /* The C API version; asking libember for it also links its C job API (native_jobs.c)
     * into this extension, for the libraries ember.native.call loads. */
    if (PyModule_AddIntConstant(m, "API_VERSION", ember_api_version()) < 0) return -1;
    if (PyModule_AddFunctions(m, core_codec_methods) < 0) return -1;
    if (core_add_context(m, st) < 0 || core_add_worker_io(m, st) < 0 || core_add_pipeline(m, st) < 0 ||
        core_add_formats(m, st) < 0 || core_add_sort(m, st) < 0 || core_add_cogroup(m, st) < 0)
        return -1;
    return 0;
}

static int core_traverse(PyObject *m, visitproc visit, void *arg) {
    core_state *st = core_get_state(m);
    Py_VISIT(st->dumps);
    Py_VISIT(st->loads);
    Py_VISIT(st->op_add);
    Py_VISIT(st->PythonException);
    Py_VISIT(st->JobCancelled);
    Py_VISIT(st->Context_type);
    Py_VISIT(st->Node_type);
    Py_VISIT(st->FrameIO_type);
    Py_VISIT(st->Streams_type);
    Py_VISIT(st->DataIter_type);
    Py_VISIT(st->TextIter_type);
    Py_VISIT(st->ShuffleIter_type);
    Py_VISIT(st->PipeIter_type);
    Py_VISIT(st->RangePartitioner_type);
    Py_VISIT(st->SortIter_type);
    Py_VISIT(st->Cogroup_type);
    Py_VISIT(st->SpilledValues_type);
    Py_VISIT(st->SpilledIter_type);
    return 0;
}

static int core_clear(PyObject *m) {
    core_state *st = core_get_state(m);
    Py_CLEAR(st->dumps);
    Py_CLEAR(st->loads);
    Py_CLEAR(st->op_add);
    Py_CLEAR(st->protocol);
    Py_CLEAR(st->PythonException);
    Py_CLEAR(st->JobCancelled);
    Py_CLEAR(st->Context_type);
    Py_CLEAR(st->Node_type);
    Py_CLEAR(st->FrameIO_type);
    Py_CLEAR(st->Streams_type);
    Py_CLEAR(st->DataIter_type);
    Py_CLEAR(st->TextIter_type);
    Py_CLEAR(st->ShuffleIter_type);
    Py_CLEAR(st->PipeIter_type);
    Py_CLEAR(st->RangePartitioner_type);
    Py_CLEAR(st->SortIter_type);
    Py_CLEAR(st->Cogroup_type);
    Py_CLEAR(st->SpilledValues_type);
    Py_CLEAR(st->SpilledIter_type);
    return 0;
}

static void core_free(void *m) { core_clear((PyObject *)m); }

static PyModuleDef_Slot core_slots[] = {
    {Py_mod_exec, core_exec},
    {0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "ember._core",
    .m_doc = "The C engine of ember (libember) and the worker-side record loops.",
    .m_size = sizeof(core_state),
    .m_slots = core_slots,
    .m_traverse = core_traverse,
    .m_clear = core_clear,
    .m_free = core_free,
};

PyMODINIT_FUNC PyInit__core(void) { return PyModuleDef_Init(&core_module); }
