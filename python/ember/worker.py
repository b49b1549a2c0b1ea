"""The Python worker: serves tasks from the engine over two pipes until they close.

Per task it reads its input itself (a text split, a range, shuffle buckets, or the
batches the engine sends), applies the stage's commands — consecutive narrow
transformations run by the C loop in ``_core.PipeIter``, ``mapPartitions``
functions chained between — and writes the result back as batches or into a shuffle
file. A failing user function is reported with its traceback; the worker stays up
for the next task. Frame layouts are documented in ``src/wire.h``.
"""

import pickle
import struct
import sys
import traceback

from ember import _core

OP_PARTITIONS = 0  # (OP_PARTITIONS, f): f(split_index, iterator) -> iterable


def _str(buf, pos):
    (n,) = struct.unpack_from("<I", buf, pos)
    pos += 4
    return buf[pos:pos + n].decode("utf-8", "surrogateescape"), pos + n


def decode_task(p):
    """Decodes a TASK payload into a dict (layout in src/wire.h)."""
    attempt_id, stage, partition, attempt, ncmds = struct.unpack_from("<QIIII", p, 0)
    pos = 24
    cmds = []
    for _ in range(ncmds):
        cmds.append(struct.unpack_from("<QI", p, pos))
        pos += 12
    (kind,) = struct.unpack_from("<I", p, pos)
    pos += 4
    task = {"attempt_id": attempt_id, "stage": stage, "partition": partition,
            "attempt": attempt, "cmds": cmds, "input": kind}
    if kind == _core.IN_TEXT:
        path, pos = _str(p, pos)
        start, end, flags = struct.unpack_from("<qqI", p, pos)
        pos += 20
        task["text"] = (path, start, end, flags)
    elif kind == _core.IN_RANGE:
        task["range"] = struct.unpack_from("<qqq", p, pos)
        pos += 24
    elif kind == _core.IN_SHUFFLE:
        bucket, npaths = struct.unpack_from("<II", p, pos)
        pos += 8
        paths = []
        for _ in range(npaths):
            path, pos = _str(p, pos)
            paths.append(path)
        task["shuffle"] = (paths, bucket)
    (out,) = struct.unpack_from("<I", p, pos)
    pos += 4
    task["output"] = out
    if out == _core.OUT_SHUFFLE:
        path, pos = _str(p, pos)
        nbuckets, spec = struct.unpack_from("<IQ", p, pos)
        task["shuffle_out"] = (path, nbuckets, spec)
    return task


def apply_ops(ops, split, it):
    """Chains a command's operations over an iterator: runs of element-wise ops go
    to one C PipeIter; mapPartitions functions are called with the iterator."""
    run = []
    for kind, f in ops:
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
        self.commands = {}  # id -> pickled bytes, or the loaded object

    def command(self, cid):
        c = self.commands[cid]
        if isinstance(c, bytes):
            c = self.commands[cid] = pickle.loads(c)
        return c

    def serve(self):
        while True:
            frame = self.io.read()
            if frame is None:
                return 0
            kind, payload = frame
            if kind == _core.FRAME_COMMAND:
                (cid,) = struct.unpack_from("<Q", payload, 0)
                self.commands[cid] = payload[8:]
            elif kind == _core.FRAME_FORGET:
                self.commands.pop(struct.unpack_from("<Q", payload, 0)[0], None)
            elif kind == _core.FRAME_TASK:
                self.run(decode_task(payload))
            else:
                raise ValueError(f"unexpected frame type {kind} from the engine")

    def input(self, task):
        kind = task["input"]
        if kind == _core.IN_DATA:
            return _core.DataIter(self.io)
        if kind == _core.IN_TEXT:
            return _core.TextIter(*task["text"])
        if kind == _core.IN_RANGE:
            return iter(range(*task["range"]))
        if kind == _core.IN_SHUFFLE:
            return _core.ShuffleIter(*task["shuffle"])
        raise ValueError(f"unknown input kind {kind}")

    def run(self, task):
        from ember import taskcontext
        source = None
        taskcontext._set(task)
        try:
            source = it = self.input(task)
            for cid, split in task["cmds"]:
                it = apply_ops(self.command(cid), split, it)
            if task["output"] == _core.OUT_SHUFFLE:
                path, nbuckets, spec_id = task["shuffle_out"]
                pfunc, create, merge, max_keys, buffer_bytes = self.command(spec_id)
                sizes = _core.shuffle_write(it, path, nbuckets, pfunc, create, merge, max_keys, buffer_bytes)
            else:
                _core.write_batches(self.io, it)
                sizes = []
            if isinstance(source, _core.DataIter):
                source.drain()
            _core.write_done(self.io, sizes)
        except BaseException:  # the user's error, SystemExit included, fails the task only
            text = traceback.format_exc()
            if isinstance(source, _core.DataIter):
                source.drain()
            self.io.write(_core.FRAME_TASK_ERROR, text.encode("utf-8", "replace"))
            self.io.flush()
        finally:
            taskcontext._set(None)


def main(rfd, wfd):
    """Entry point of a forked worker; returns the process exit code."""
    try:
        return Worker(rfd, wfd).serve()
    except (BrokenPipeError, EOFError):
        return 0
    except BaseException:
        traceback.print_exc(file=sys.stderr)
        return 1
