"""The Python worker: serves tasks from the engine over two pipes until they close.

Per task it reads its input itself (a text split, a range, shuffle buckets, or the
batches the engine sends), applies the stage's commands — consecutive narrow
transformations run by the C loop in ``_core.PipeIter``, ``mapPartitions``
functions chained between — and writes the result back as batches or into a shuffle
file. A failing user function is reported with its traceback; the worker stays up
for the next task. Frames are read, and their payloads decoded, by the C codec of
``src/wire.c`` (through ``_core``); their layouts are in ``src/wire.h``.

Each job's ``info`` (the same bytes for all its tasks) carries the driver thread's
local properties, the alive broadcasts, the files root, the Python includes and
``spark.executor.pyspark.memory`` (the worker's address-space limit, RLIMIT_AS);
the worker applies it when it changes. A task that succeeds reports the updates of
the accumulators it touched with its TASK_DONE, and its metrics: the records it read
(from its source, and from shuffle buckets) and wrote (result or cache batches, and
into its shuffle file), counted by ``_core``'s readers and writers, and what it
spilled, which spilling code counts with ``_core.note_spill(memory_bytes,
disk_bytes)``. When the driver is a C program
(``EMBER_TYPED_RESULTS=1``, ``ember_context_create_python``), results go back as
typed-record batches, which C reads, instead of pickled ones.
"""

import itertools
import os
import _pickle as pickle  # pickle's C core; pickle.py would import re and enum (see daemon.py)
import sys

from ember import _core, accumulators, broadcast
from ember.files import SparkFiles

OP_PARTITIONS = 0  # (OP_PARTITIONS, f): f(split_index, iterator) -> iterable
NATIVE_MAGICS = (b"EMNC", b"EMNS")  # how native commands and shuffle specs start (src/native.c)
OP_PROFILER = -1   # (OP_PROFILER, profiler): profile the tasks computing this command's RDD
TYPED_RESULTS = os.environ.get("EMBER_TYPED_RESULTS") == "1"  # the driver is a C program (src/workers.c)


def apply_ops(ops, split, it):
    """Chains a command's operations over an iterator: runs of element-wise ops go
    to one C PipeIter; mapPartitions functions are called with the iterator."""
    run = []
    for kind, f in ops:
        if kind == OP_PROFILER:
            continue
        if kind == OP_PARTITIONS:
            if run:
                it = _core.PipeIter(it, run)
                run = []
            it = f(split, it)
            if it is None:
                it = ()
        else:
            run.append((kind, f))
    if run:
        it = _core.PipeIter(it, run)
    return it


class Worker:
    def __init__(self, rfd, wfd):
        self.io = _core.FrameIO(rfd, wfd)
        _core.native_crash_fds(rfd, wfd)  # a crash inside a native function is reported on wfd
        self.commands = {}  # id -> pickled bytes, or the loaded object
        self.native = {}    # id -> bytes of the native commands and specs (ember.native)
        self.info = None    # the last job info applied
        self.files = None   # (files added, Python includes) of the driver, last seen
        self.properties = {}
        self.memory = None  # spark.executor.pyspark.memory in bytes, once applied
        self.shuffle_inputs = []  # the running task's ShuffleIters and BlockIters (which file failed?)
        SparkFiles._is_running_on_worker = True

    def apply_info(self, info):
        """Takes a job's info: local properties, alive broadcasts, files root and
        Python includes (see SparkContext._run_job)."""
        props, alive, root, files, memory = pickle.loads(info) if info else ({}, {}, None, (0, ()), None)
        if memory != self.memory:
            _limit_address_space(memory)
            self.memory = memory
        self.properties = props
        broadcast._set_alive(alive)
        local = os.environ.get("EMBER_LOCAL_DIR") if os.environ.get("EMBER_EXECUTOR") else None
        if root and local:  # an executor: the driver's files are copied into its own temp dir
            broadcast._dirs = (os.path.dirname(root), local)
            root = os.path.join(local, os.path.basename(root))
        if root:
            SparkFiles._root_directory = root
            for path in [root] + [os.path.join(root, name) for name in files[1]]:
                if path not in sys.path:
                    sys.path.insert(1, path)
            if files != self.files:  # new files: importers must look again
                if files[0] or files[1]:
                    import importlib
                    importlib.invalidate_caches()
                self.files = files
        self.info = info

    def command(self, cid):
        c = self.commands[cid]
        if isinstance(c, bytes):
            if cid in self.native:
                from ember import native  # not preloaded: the daemon stays lean
                c = self.commands[cid] = native._worker_command(c)
            else:
                c = self.commands[cid] = pickle.loads(c)
        return c

    def all_native(self, task):
        """True when the task has native steps, every command of it is native and it
        has no data streams (its records are read in C): _core.native_run can run it
        whole. (A task with no step at all stays with Python.)"""
        if task["nstreams"]:
            return False
        steps = 0
        if task["output"] == _core.OUT_SHUFFLE:
            if task["shuffle_out"][2] not in self.native:
                return False
            steps += 1
        nodes = [task["input"]]
        while nodes:
            kind, args, cmds = nodes.pop()
            if any(cid not in self.native for cid, _ in cmds):
                return False
            steps += len(cmds)
            if kind in (_core.IN_CONCAT, _core.IN_ZIP, _core.IN_CARTESIAN):
                nodes.extend(args)
        return steps > 0

    def serve(self):
        while True:
            frame = self.io.read()
            if frame is None:
                return 0
            kind, payload = frame
            if kind == _core.FRAME_COMMAND:
                cid, command = _core.decode_command(payload)
                self.commands[cid] = command
                if command[:4] in NATIVE_MAGICS:
                    self.native[cid] = command
            elif kind == _core.FRAME_FORGET:
                cid = _core.decode_forget(payload)
                self.commands.pop(cid, None)
                self.native.pop(cid, None)
            elif kind == _core.FRAME_TASK:
                task = _core.decode_task(payload)
                # A task of native steps only runs in C, records never becoming Python
                # objects; unless a shuffle input holds pickled batches.
                if not (self.all_native(task) and _core.native_run(self.io, payload, self.native)):
                    self.run(task)
            else:
                raise ValueError(f"unexpected frame type {kind} from the engine")

    def build(self, node, streams):
        """The record iterator of an input tree node, commands applied."""
        kind, args, cmds = node
        if kind == _core.IN_DATA:
            it = _core.DataIter(streams, args)
        elif kind == _core.IN_TEXT:
            it = _core.TextIter(*args)
        elif kind == _core.IN_RANGE:
            it = _core.CountIter(range(*args))
        elif kind == _core.IN_SHUFFLE:
            it = _core.ShuffleIter(*args)
            self.shuffle_inputs.append(it)
        elif kind == _core.IN_BLOCK:  # a cached partition's file, read here, not sent by the driver
            it = _core.BlockIter(args)
            self.shuffle_inputs.append(it)
        elif kind == _core.IN_CONCAT:
            it = itertools.chain.from_iterable(self.build(child, streams) for child in args)
        elif kind == _core.IN_ZIP:
            it = _zip_checked(self.build(args[0], streams), self.build(args[1], streams))
        else:
            left, right = self.build(args[0], streams), list(self.build(args[1], streams))
            it = ((x, y) for x in left for y in right)
        for cid, split in cmds:
            it = apply_ops(self.command(cid), split, it)
        return it

    def compute(self, task, streams):
        """Computes the task's partition into its output; returns the shuffle
        bucket sizes (empty for a result)."""
        it = self.build(task["input"], streams)
        if task["output"] == _core.OUT_SHUFFLE:
            path, nbuckets, spec_id = task["shuffle_out"]
            pfunc, create, merge, combine_bytes, buffer_bytes = self.command(spec_id)
            if isinstance(pfunc, _core.NativeFn):
                pfunc.nparts = nbuckets  # a C partitioner is given the partition count
            return _core.shuffle_write(it, path, nbuckets, pfunc, create, merge, combine_bytes, buffer_bytes)
        _core.write_batches(self.io, it, TYPED_RESULTS)
        return []

    def profiler(self, root):
        """The profiler of the RDD the task computes (its outermost command), or None."""
        cmds = root[2]
        if not cmds:
            return None
        ops = self.command(cmds[-1][0])
        return ops[0][1] if ops and ops[0][0] == OP_PROFILER else None

    def run(self, task):
        from ember import taskcontext
        streams = _core.Streams(self.io, task["nstreams"])
        self.shuffle_inputs = []
        _core.task_metrics_reset()
        try:
            if task["info"] != self.info:
                self.apply_info(task["info"])
            task["properties"] = self.properties
            taskcontext._set(task)
            accumulators._task_begin()
            profiler = self.profiler(task["input"])
            if profiler is None:
                sizes = self.compute(task, streams)
            else:
                sizes = profiler.profile(self.compute, task, streams)
            streams.drain()
            for s in self.shuffle_inputs:
                if s.failed_file:  # the user's code caught the error: the input is still incomplete
                    raise RuntimeError(f"file {s.failed_file} could not be read")
            _core.write_done(self.io, sizes, accumulators._task_report())
        except BaseException as e:  # the user's error, SystemExit included, fails the task only
            import traceback
            text = traceback.format_exc()
            if isinstance(e, MemoryError) and self.memory:
                text += (f"MemoryError: the task went past the {self.memory >> 20} MiB this worker's address "
                         "space is limited to by spark.executor.pyspark.memory; raise it, or make the task "
                         "hold less\n")
            where = os.environ.get("EMBER_EXECUTOR")
            if where:  # cluster mode: which rank and host the task failed on
                text += f"(the task ran on {where})\n"
            streams.drain()
            failed = next((s.failed_file for s in self.shuffle_inputs if s.failed_file), None)
            if failed is None:
                self.io.write(_core.FRAME_TASK_ERROR, text.encode("utf-8", "replace"))
            else:  # the engine reruns the map task that wrote the file, then this task
                self.io.write(_core.FRAME_FETCH_FAILED,
                              _core.encode_fetch_failed(os.fsencode(failed), text.encode("utf-8", "replace")))
            self.io.flush()
        finally:
            self.shuffle_inputs = []
            taskcontext._end()
            taskcontext._set(None)


def _limit_address_space(nbytes):
    """Limits this process's address space (RLIMIT_AS, soft limit) to nbytes, as
    PySpark applies spark.executor.pyspark.memory to each worker; None lifts it."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    want = resource.RLIM_INFINITY if nbytes is None else nbytes
    if hard != resource.RLIM_INFINITY and (want == resource.RLIM_INFINITY or want > hard):
        want = hard
    resource.setrlimit(resource.RLIMIT_AS, (want, hard))


def _zip_checked(a, b):
    for x, y in itertools.zip_longest(a, b, fillvalue=_MISSING):
        if x is _MISSING or y is _MISSING:
            raise ValueError("Can only zip RDDs with same number of elements in each partition")
        yield x, y


_MISSING = object()


def main(rfd, wfd, crash=None):
    """Entry point of a forked worker; returns the process exit code. The traceback
    of an error that ends the worker also goes to crash (a text file the daemon
    hands to the engine), when given."""
    try:
        return Worker(rfd, wfd).serve()
    except (BrokenPipeError, EOFError):
        return 0
    except BaseException:
        import traceback
        traceback.print_exc(file=sys.stderr)
        if crash is not None:
            traceback.print_exc(file=crash)
            crash.flush()
        return 1
