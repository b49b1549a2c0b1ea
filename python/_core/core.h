/* core.h — shared declarations of the ember._core extension, which binds libember
 * to Python: the engine side (Context, Node) used by the driver, and the worker
 * side (frames, record iterators, the pipeline loop, the shuffle writer) used by
 * the Python worker processes. */
#ifndef EMBER_CORE_H
#define EMBER_CORE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "ember.h"
#include "wire.h" /* EMBER_METRICS */

/* The module state: one per module object (multi-phase init). */
typedef struct core_state {
    PyObject *dumps;           /* pickle.dumps */
    PyObject *loads;           /* pickle.loads */
    PyObject *protocol;        /* int 5 */
    PyObject *op_add;          /* operator.add: merged with PyNumber_Add, no call */
    PyObject *PythonException; /* a task failed: carries the worker's traceback */
    PyObject *JobCancelled;
    PyTypeObject *Context_type;
    PyTypeObject *Node_type;
    PyTypeObject *FrameIO_type;
    PyTypeObject *Streams_type;
    PyTypeObject *DataIter_type;
    PyTypeObject *TextIter_type;
    PyTypeObject *ShuffleIter_type;
    PyTypeObject *PipeIter_type;
    PyTypeObject *RangePartitioner_type;
    PyTypeObject *SortIter_type;
    PyTypeObject *Cogroup_type;
    PyTypeObject *SpilledValues_type;
    PyTypeObject *SpilledIter_type;
    /* A worker's counts for the task it runs (wire.h's EMBER_METRIC_*), sent with its
     * TASK_DONE; worker.py resets them when a task starts. */
    uint64_t task_metrics[EMBER_METRICS];
} core_state;

core_state *core_get_state(PyObject *module);
core_state *core_state_of_type(PyTypeObject *type);

/* Sets a Python exception for an engine error code (message from ember_last_error())
 * and returns NULL. */
PyObject *core_raise(core_state *st, int code);
/* loads(data[0, len)): unpickles bytes in memory the caller keeps for the call,
 * without copying them into a bytes object first (pickle reads them through a
 * memoryview, released before this returns). A new reference, or NULL with an
 * exception. */
PyObject *core_loads_memory(PyObject *loads, const void *data, size_t len);

/* worker_io.c: counts a spill of the running task into its metrics (memoryBytesSpilled,
 * diskBytesSpilled): memory_bytes, the in-memory size of what was spilled as the
 * spilling code estimates it; disk_bytes, the bytes it wrote. The same as the Python
 * function _core.note_spill; harmless outside a task (a task's counts start at 0). */
void core_note_spill(core_state *st, uint64_t memory_bytes, uint64_t disk_bytes);

/* Each file adds its types and functions to the module. */
int core_add_context(PyObject *m, core_state *st);
int core_add_worker_io(PyObject *m, core_state *st);
int core_add_pipeline(PyObject *m, core_state *st);
int core_add_formats(PyObject *m, core_state *st);
int core_add_sort(PyObject *m, core_state *st);
int core_add_cogroup(PyObject *m, core_state *st); /* cogroup.c: Cogroup, SpilledValues */
extern PyMethodDef core_hash_methods[];
extern PyMethodDef core_worker_io_methods[];
extern PyMethodDef core_pipeline_methods[];
extern PyMethodDef core_record_methods[];
extern PyMethodDef core_native_methods[];
int core_add_native(PyObject *m); /* native.c: the NativeFn type */
/* native.c: makes libember's symbols in this extension visible to libraries loaded
 * later (0, or -1 with an exception). */
int core_native_share_symbols(void);
extern PyMethodDef core_codec_methods[];

/* Calls merge(a, b); operator.add runs as PyNumber_Add without a Python call. */
static inline PyObject *core_merge(core_state *st, PyObject *merge, PyObject *a, PyObject *b) {
    if (merge == st->op_add) return PyNumber_Add(a, b);
    PyObject *args[2] = {a, b};
    return PyObject_Vectorcall(merge, args, 2, NULL);
}

/* pipeline.c: 1 when it is a PipeIter whose last op is OP_PAIR (x -> (x, c)), with *c
 * (borrowed) the constant; else 0. Then core_pipe_next_unpaired(it) gives the next x
 * (a new reference; NULL at the end, or with an exception): the pair's key, its
 * value being c, without the pair made. */
int core_pipe_pairs_with(core_state *st, PyObject *it, PyObject **c);
PyObject *core_pipe_next_unpaired(PyObject *it);

/* sort.c: *out = the partition a RangePartitioner gives key (0, or -1 with an
 * exception). */
int core_range_partition(PyObject *partitioner, PyObject *key, Py_ssize_t *out);

/* pipeline.c: after a user function failed with StopIteration (which would silently
 * end an iterator), replaces it with a RuntimeError that fails the task, as PySpark. */
void core_fail_on_stopiteration(void);

/* combiner.c: key equality as a dict has it (identity, then ==), str compared by
 * bytes without a call. 1, 0, or -1 with an exception. */
int core_keys_equal(PyObject *a, PyObject *b);

/* cogroup.c: the bytes obj takes, roughly: its own size (plus the GC header of a
 * container) and the items of a tuple or list, depth levels down. What the grouping
 * tables and the map-side combiner count against their budgets. */
size_t core_obj_size(PyObject *obj, int depth);
/* The bytes merging v into old added, as merge returned `merged`: a bigger container
 * (counted shallow: merging must not cost the container's size each time), or a list
 * appended to in place. Never negative: a table's count only grows between drains. */
size_t core_grown_by(PyObject *old, PyObject *merged, PyObject *v);

/* hash.c */
/* portable_hash(obj): a hash that is the same in every process whatever
 * PYTHONHASHSEED is. Returns -1 with an exception set on failure. */
Py_hash_t core_portable_hash(PyObject *obj);

/* record.c: Python objects <-> the typed record format (ember/record.h). */
/* Appends obj to w. Returns 0, or -1 with TypeError/ValueError naming obj's type, its
 * place in the record and `where` (may be NULL: a phrase such as "the input of ..."). */
int core_record_encode(ember_writer *w, PyObject *obj, const char *where);
/* A new object for a decoded value, or NULL with an exception. */
PyObject *core_record_decode(const ember_value *v);
/* Decodes the value at buf[0, len) (ValueError when it is corrupt); *used its length. */
PyObject *core_record_loads(const uint8_t *buf, size_t len, size_t *used);
/* The records of a batch (header and records) as a new list, or NULL with ValueError. */
PyObject *core_records_list(const uint8_t *data, size_t len);

#endif
