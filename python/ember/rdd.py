"""RDD: a resilient distributed dataset, as ``pyspark.RDD``.

An RDD wraps a node of the engine's lineage graph. Narrow transformations are
collected in Python into one pipelined command (a list of operations) and become a
single engine node when a job needs it, so one pass over a partition applies all
of them. Shuffles and unions are engine nodes too; actions run a job and decode the
batches that come back.
"""

from __future__ import annotations

import bisect
import copy
import itertools
import math
import operator
import os
import _pickle as pickle  # pickle's C core; pickle.py would import re and enum (start-up time)
import warnings
import weakref
from collections import defaultdict
from functools import reduce as _reduce

from ember import _blocks, _commands, _core, _lineage, rddsampler, shuffle
from ember import broadcast as _broadcast
from ember import join as _join
from ember import profiler as _profiler
from ember.resultiterable import ResultIterable
from ember.shuffle import (CountAndSample, PartitionSorter, RangePartitioner, RoundRobin, identity, range_bounds,
                           take_ordered)
from ember.storagelevel import StorageLevel
from ember._typing import Generic, K, NumberOrArray, S, T, T_co, U, V, V1, V2, V3, overload

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from typing import Any, NoReturn

    from ember.context import SparkContext
    from ember.sql import DataFrame
    from ember.statcounter import StatCounter

__all__ = ["RDD", "RDDBarrier", "PipelinedRDD", "Partitioner", "ResultIterable", "BoundedFloat", "portable_hash"]

OP_PARTITIONS = 0
portable_hash = _core.portable_hash
_OP_NAMES = {_core.OP_MAP: "map", _core.OP_FLATMAP: "flatMap", _core.OP_FILTER: "filter",
             _core.OP_MAPVALUES: "mapValues", _core.OP_FLATMAPVALUES: "flatMapValues",
             _core.OP_KEYBY: "keyBy", _core.OP_KEYS: "keys", _core.OP_VALUES: "values", _core.OP_PAIR: "map"}

_OUTPUTS = "saveAsPickleFile() (read back with sc.pickleFile()), saveAsSequenceFile() or saveAsTextFile()"


def _no_jvm(method: Any, instead: Any) -> Any:
    return (f"{method}() writes Hadoop formats through the JVM, which ember does not have; "
            f"use {instead} instead")


# Map-side combining holds at most half of spark.python.worker.memory (these many
# bytes where no context says: native specs run in workers); the shuffle writer
# buffers _SHUFFLE_BUFFER bytes.
_MAP_COMBINE_BYTES = 256 << 20
_SHUFFLE_BUFFER = 32 << 20


class Partitioner:
    """Maps a key to a partition: ``partitionFunc(key) % numPartitions``."""

    def __init__(self, numPartitions: int, partitionFunc: Callable[[Any], int]) -> None:
        self.numPartitions = numPartitions
        self.partitionFunc = partitionFunc

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Partitioner) and self.numPartitions == other.numPartitions
                and self.partitionFunc == other.partitionFunc)

    def __call__(self, k: Any) -> int:
        return self.partitionFunc(k) % self.numPartitions


def _identity_partition(k: Any) -> Any:
    return k


def _plain_add(a: Any, b: Any) -> Any:
    return a + b


def _as_native(func: Any) -> Any:
    """operator.add for a function that only returns its two arguments added (in
    that order), so the C combiner can add without a Python call; else func."""
    code = getattr(func, "__code__", None)
    ref = _plain_add.__code__
    if (code is not None and code.co_code == ref.co_code and code.co_argcount == 2
            and code.co_consts == ref.co_consts and not code.co_names
            and not getattr(func, "__defaults__", None) and not getattr(func, "__closure__", None)):
        return operator.add
    return func


_PAIR_REF = (lambda x: (x, 1)).__code__  # noqa: E731 - what a lambda pairing with a constant compiles to
_PAIR_CONST_TYPES = (int, float, str, bytes, bool, type(None))
_NO_PAIR = object()
# inspect's CO_VARARGS, CO_VARKEYWORDS, CO_GENERATOR, CO_COROUTINE, CO_ITERABLE_COROUTINE, CO_ASYNC_GENERATOR
_CO_NOT_PLAIN = 0x4 | 0x8 | 0x20 | 0x80 | 0x100 | 0x200


def _pair_constant(func: Any) -> Any:
    """c for a function that only returns ``(x, c)`` for its argument x and a constant
    c (``lambda word: (word, 1)``), so the worker's record loop makes the pair in C
    (``_core.OP_PAIR``) without a Python call; else ``_NO_PAIR``."""
    code = getattr(func, "__code__", None)
    ref = _PAIR_REF
    if (code is None or code.co_code != ref.co_code or code.co_argcount != 1 or code.co_names
            or code.co_kwonlyargcount or code.co_flags & _CO_NOT_PLAIN or getattr(func, "__closure__", None)
            or len(code.co_consts) != len(ref.co_consts)):
        return _NO_PAIR
    at = ref.co_consts.index(1)
    c = code.co_consts[at]
    if type(c) not in _PAIR_CONST_TYPES or code.co_consts[:at] + code.co_consts[at + 1:] != \
            ref.co_consts[:at] + ref.co_consts[at + 1:]:
        return _NO_PAIR
    return c


def _load_batch(b: bytes) -> list[Any]:
    """A result batch's records: typed records (native steps write those) or a pickled list."""
    return _core.records_loads(b) if b[:3] == b"EMR" else pickle.loads(b)


def _second(kv: Any) -> Any:
    return kv[1]


def _pass_through(iterator: Any) -> Any:
    return iterator


def _count(it: Any) -> Any:
    n = 0
    for _ in it:
        n += 1
    return n


def _count_values(_: Any, it: Any) -> Any:
    """countByValue's partition function: one dict of element -> count, made in C."""
    return [_core.count_values(it)]


def _one(it: Any) -> Any:
    """A whole partition as a single element: its iterator (see _union_by_partition)."""
    return [it]


class _ConcatZipped:
    """f(split, it) over nested zip pairs of k partition iterators (((p0, p1), p2), ...):
    the records of p0, then p1, ..."""

    def __init__(self, k: int) -> None:
        self.k = k

    def __call__(self, split: int, it: Iterable[Any]) -> Iterator[Any]:
        for nested in it:
            for part in _unzipped(nested, self.k):
                yield from part


def _unzipped(nested: Any, k: int) -> list[Any]:
    """The k items of nested zip pairs (((p0, p1), p2), ...), as [p0, p1, ...]."""
    parts = []
    for _ in range(k - 1):
        nested, last = nested
        parts.append(last)
    parts.append(nested)
    parts.reverse()
    return parts


def _union_by_partition(rdds: list[RDD[Any]], partitioner: Partitioner | None) -> RDD[Any]:
    """The union of RDDs with equal partitioners: partition i holds partition i of each
    RDD, in order (Spark's partitioner-aware union), so keys stay where the partitioner
    put them and a following groupByKey needs no shuffle.

    Built from zip nodes: each RDD's partition becomes one element (its iterator),
    the zip pairs them up inside one task, and the pairs are concatenated there. The
    iterators never leave the worker: a zip node's inputs are computed in its task."""
    ctx = rdds[0].ctx
    node = rdds[0].mapPartitions(_one)._node
    for rdd in rdds[1:]:
        node = ctx._core.zip(node, rdd.mapPartitions(_one)._node)
    return RDD(ctx, node, partitioner).mapPartitionsWithIndex(_ConcatZipped(len(rdds)), True)


def _union_rdds(ctx: SparkContext, rdds: list[RDD[Any]]) -> RDD[Any]:
    """SparkContext.union: partitions concatenated, or partition by partition when all
    RDDs share a partitioner (then, as in PySpark, the result has no partitioner)."""
    first = rdds[0].partitioner
    if first is not None and all(r.partitioner == first for r in rdds[1:]):
        return _union_by_partition(rdds, None)
    return RDD(ctx, ctx._core.union([r._node for r in rdds]), deps=tuple(rdds), kind="union")


def _piped(argv: Any, command: Any, env: Any, check_code: Any, it: Any) -> Any:
    """The output lines of a command fed the elements of it as lines (RDD.pipe).

    A thread writes the input while this generator reads the output; errors of the
    input iterator are raised here, after the command's output has been read."""
    import subprocess
    import threading

    proc = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    stdin, stdout = proc.stdin, proc.stdout
    assert stdin is not None and stdout is not None
    failure: list[BaseException] = []

    def feed() -> None:
        try:
            for x in it:
                stdin.write((str(x).rstrip("\n") + "\n").encode("utf-8"))
        except BrokenPipeError:
            pass  # the command stopped reading; its exit code tells
        except BaseException as e:  # the user's error upstream: re-raised in the task
            failure.append(e)
        finally:
            try:
                stdin.close()
            except BrokenPipeError:
                pass

    writer = threading.Thread(target=feed, name="ember-pipe-writer", daemon=True)
    writer.start()
    finished = False
    try:
        for line in iter(stdout.readline, b""):
            yield line.rstrip(b"\n").decode("utf-8")
        finished = True
    finally:
        if not finished:  # the task stopped reading (take, an error): stop the command
            proc.kill()
        stdout.close()
        writer.join()
        code = proc.wait()
    if failure:
        raise failure[0]
    if check_code and code:
        raise RuntimeError(f"[PIPE_FUNCTION_EXITED] Pipe function `{command}` exited with error code {code}.")


class RDD(Generic[T_co]):
    """A resilient distributed dataset: partitions of records, computed lazily from
    its lineage.

    Examples
    --------
    >>> rdd = sc.parallelize(["b a", "a"], 2)
    >>> sorted(rdd.flatMap(str.split).map(lambda w: (w, 1)).reduceByKey(lambda a, b: a + b).collect())
    [('a', 2), ('b', 1)]

    RDD is generic, as PySpark's, for type annotations:

    >>> from typing import Tuple
    >>> counts: RDD[Tuple[str, int]] = rdd.map(lambda w: (w, 1))
    """

    _barrier = False  # a barrier RDD's node is a barrier node (RDD.barrier)
    _broadcasts: object = None  # what the node's command holds (shuffles, pipelines)
    _local_checkpoint_done = False

    def __init__(self, ctx: SparkContext, node: _core.Node | None, partitioner: Partitioner | None = None,
                 deps: tuple[RDD[Any], ...] = (), kind: str | None = None) -> None:
        self.ctx = ctx
        self._deps = deps      # parent RDDs, for the lineage summary
        self._kind = kind      # the step's name in the lineage; default: the call that made it
        self._node_obj = node
        self.partitioner = partitioner
        self.is_cached = False
        self.is_checkpointed = False
        self._storage_level = StorageLevel.NONE
        self._name: str | None = None
        self._site = _lineage.callsite()
        self._checkpoint_node: _core.Node | None = None  # set once a checkpoint is written: reads it
        self._checkpoint_file: str | None = None
        self._local_checkpoint = False
        if node is not None:
            ctx._node_info[node.id] = (None, self._site, None)

    # ---- identity and lineage ------------------------------------------------------------

    @property
    def context(self) -> SparkContext:
        """The SparkContext this RDD belongs to."""
        return self.ctx

    @property
    def _node(self) -> _core.Node:
        node = self._checkpoint_node or self._node_obj
        assert node is not None  # only a PipelinedRDD starts without one, and it overrides _node
        return node

    def id(self) -> int:
        """A unique id of this RDD within its context.

        Examples
        --------
        >>> rdd = sc.parallelize(range(10))
        >>> rdd.id() == rdd.id()
        True
        >>> rdd.map(str).filter(bool).id() == rdd.id() + 1
        True
        """
        return self._node_obj_built().id  # a pipelined RDD gets its node (and id) on first use

    def name(self) -> str | None:
        """The RDD's name, or None.

        Examples
        --------
        >>> sc.parallelize([1]).name() is None
        True
        """
        return self._name

    def setName(self: RDD[T], name: str) -> RDD[T]:
        """Names the RDD; returns it.

        Examples
        --------
        >>> sc.parallelize([1, 2]).setName("numbers").name()
        'numbers'
        """
        self._name = name
        if self._node_obj is not None:
            label, site, _ = self.ctx._node_info.get(self._node_obj.id, (None, self._site, None))
            self.ctx._node_info[self._node_obj.id] = (label, site, name)
        return self

    def getNumPartitions(self) -> int:
        """The number of partitions.

        Examples
        --------
        >>> sc.parallelize([1, 2, 3, 4], 2).getNumPartitions()
        2
        """
        return self._node.num_partitions

    def __repr__(self) -> str:
        """The RDD's class, id, name, partitions, the call that made it and a summary
        of its lineage, root first.

        Examples
        --------
        >>> sc.parallelize(range(4), 2).map(str).setName("digits")  # doctest: +ELLIPSIS
        PipelinedRDD[...] 'digits' (2 partitions) from map at <doctest ...>:1; lineage: parallelize -> map
        """
        kind = type(self).__name__
        name = f" {self._name!r}" if self._name else ""
        site = self._site
        where = f" from {site.function} at {os.path.basename(site.file)}:{site.linenum}" if site.linenum else ""
        n = self.getNumPartitions()
        return (f"{kind}[{self.id()}]{name} ({n} partition{'s' if n != 1 else ''}){where}; "
                f"lineage: {self._lineage()}")

    def toDebugString(self) -> bytes:
        """The lineage of the RDD as bytes: one line per RDD, ``(partitions) Name[id] at
        call site [storage level]``, narrow parents below with `` |  ``, and each
        shuffle starting a new, further indented stage with ``+-``.

        Examples
        --------
        >>> rdd = sc.parallelize(["a"], 2).map(lambda w: (w, 1)).reduceByKey(lambda a, b: a + b)
        >>> print(rdd.toDebugString().decode())  # doctest: +ELLIPSIS
        (2) PythonRDD[...] at reduceByKey at ...
         |  ShuffledRDD[...] at reduceByKey at ...
         +-(2) PythonRDD[...] at map at ...
            |  ParallelCollectionRDD[...] at parallelize at ...
        """
        level = self._storage_level
        text = str(level) if level != StorageLevel.NONE else ""
        head = self._node_obj_built() if self._checkpoint_node is not None else None
        return "\n".join(_lineage.debug_lines(self.ctx, self._node, text, head)).encode("utf-8")

    def _steps(self) -> tuple[list[str], tuple[RDD[Any], ...]]:
        """This RDD's own steps in the lineage, and the RDDs it reads."""
        label = self._kind or (self._site.function if self._site.linenum else type(self).__name__)
        return [label], self._deps

    def _lineage(self, depth: int = 0) -> str:
        """The steps that compute this RDD, root first: ``a -> b``, ``union(a, b) -> c``;
        a long chain keeps its first and last steps."""
        chain: list[str] = []
        rdd: RDD[Any] = self
        while True:
            steps, deps = rdd._steps()
            if rdd.is_cached:
                steps = steps[:-1] + [steps[-1] + " (cached)"]
            chain[:0] = steps
            if len(deps) == 1:
                rdd = deps[0]
                continue
            if deps:
                inner = "..." if depth >= 3 else ", ".join(d._lineage(depth + 1) for d in deps)
                chain[0] = f"{chain[0]}({inner})"
            break
        if len(chain) > 8:
            chain = chain[:2] + [f"... {len(chain) - 6} more"] + chain[-4:]
        return " -> ".join(chain)

    def __reduce__(self) -> NoReturn:
        raise RuntimeError(
            "[RDD_TRANSFORM_ONLY_VALID_ON_DRIVER] It appears that you are attempting to broadcast "
            "an RDD or reference an RDD from an action or transformation. RDD transformations and "
            "actions can only be invoked by the driver, not inside of other transformations "
            "(see SPARK-5063).")

    # ---- persistence ---------------------------------------------------------------------

    def cache(self: RDD[T]) -> RDD[T]:
        """Keeps the RDD's partitions once computed (MEMORY_ONLY); returns self.

        Examples
        --------
        >>> rdd = sc.parallelize([1, 2, 3]).map(lambda x: x + 1).cache()
        >>> rdd.is_cached, rdd.count(), rdd.sum()
        (True, 3, 9)
        """
        return self.persist(StorageLevel.MEMORY_ONLY)

    def persist(self: RDD[T], storageLevel: StorageLevel = StorageLevel.MEMORY_ONLY) -> RDD[T]:
        """Keeps the RDD's partitions once computed; returns self.

        The engine's block store keeps them under the memory budget
        (``spark.executor.memory``, ``spark.memory.fraction``,
        ``spark.memory.storageFraction``; see the README's memory section):
        ``MEMORY_ONLY`` partitions past it are dropped, least recently used first, and
        computed again from the lineage when used; ``MEMORY_AND_DISK`` ones go to block
        files under ``spark.local.dir``; ``DISK_ONLY`` ones are written straight to
        block files, which the workers read themselves. Block files are checksummed: a
        missing or damaged one is computed again. The ``_2``/``_3`` levels keep one
        copy (there is one machine); ``OFF_HEAP`` is kept in memory like
        ``MEMORY_AND_DISK``. A level cannot be changed once assigned, until
        ``unpersist()``.

        Parameters
        ----------
        storageLevel : StorageLevel, optional
            Default ``StorageLevel.MEMORY_ONLY``.

        Returns
        -------
        RDD
            self.

        Examples
        --------
        >>> rdd = sc.parallelize([1, 2]).persist(StorageLevel.DISK_ONLY)
        >>> rdd.is_cached, str(rdd.getStorageLevel())
        (True, 'Disk Serialized 1x Replicated')
        >>> rdd.persist(StorageLevel.MEMORY_ONLY)
        Traceback (most recent call last):
            ...
        ValueError: Cannot change storage level of an RDD after it was already assigned a level ...
        >>> str(rdd.unpersist().persist(StorageLevel.MEMORY_ONLY).getStorageLevel())
        'Memory Serialized 1x Replicated'
        """
        if not isinstance(storageLevel, StorageLevel):
            raise TypeError(f"persist() expects a StorageLevel, got {type(storageLevel).__name__}")
        current = self._storage_level
        if current != StorageLevel.NONE and current != storageLevel:
            raise ValueError(
                "Cannot change storage level of an RDD after it was already assigned a level "
                f"(RDD {self.id()} is {current!r}, asked for {storageLevel!r}); call unpersist() first")
        self.is_cached = True
        if storageLevel != StorageLevel.NONE:
            self._node_obj_built().set_storage(_blocks.level_flags(storageLevel))
            _blocks.register(self.ctx, self)
        self._storage_level = storageLevel
        return self

    def unpersist(self: RDD[T], blocking: bool = False) -> RDD[T]:
        """Drops kept partitions and the storage level; returns self. Their memory and
        block files are freed at once (``blocking`` changes nothing).

        Examples
        --------
        >>> rdd = sc.parallelize([1, 2]).cache()
        >>> rdd.unpersist().is_cached, rdd.getStorageLevel() == StorageLevel.NONE
        (False, True)
        """
        self._node_obj_built().set_storage(0)
        _blocks.unregister(self.ctx, self)
        self.is_cached = False
        self._storage_level = StorageLevel.NONE
        return self

    def getStorageLevel(self) -> StorageLevel:
        """The RDD's StorageLevel (``StorageLevel.NONE`` when not persisted).

        Examples
        --------
        >>> print(sc.parallelize([1]).getStorageLevel())
        Serialized 1x Replicated
        """
        return self._storage_level

    def _node_obj_built(self) -> _core.Node:
        """The RDD's own engine node (not its checkpoint), built if needed."""
        self._node
        assert self._node_obj is not None
        return self._node_obj

    # ---- checkpoints ---------------------------------------------------------------------

    def checkpoint(self) -> None:
        """Marks the RDD to be saved to files under the context's checkpoint directory
        (``sc.setCheckpointDir``). The files are written after the next job that uses
        the RDD; from then on the RDD reads them instead of recomputing its lineage.
        Persist the RDD first to avoid computing it twice.

        Examples
        --------
        >>> import tempfile
        >>> sc.setCheckpointDir(tempfile.mkdtemp())
        >>> rdd = sc.parallelize(range(4), 2).map(lambda x: x * 2)
        >>> rdd.checkpoint()
        >>> rdd.isCheckpointed(), rdd.getCheckpointFile()
        (False, None)
        >>> rdd.collect()
        [0, 2, 4, 6]
        >>> rdd.isCheckpointed(), rdd.getCheckpointFile().startswith("file:")
        (True, True)
        >>> rdd.map(lambda x: x + 1).collect()
        [1, 3, 5, 7]
        """
        if self.ctx._checkpoint_dir is None:
            raise RuntimeError(
                "Checkpoint directory has not been set in the SparkContext: call "
                "sc.setCheckpointDir(path) before checkpoint()")
        self.is_checkpointed = True
        if self._checkpoint_file is None:
            self.ctx._pending_checkpoints[self._node_obj_built().id] = weakref.ref(self)

    def isCheckpointed(self) -> bool:
        """Whether the RDD has been checkpointed (its files written, or, for a local
        checkpoint, its partitions kept).

        Examples
        --------
        >>> sc.parallelize([1]).isCheckpointed()
        False
        """
        return self._checkpoint_file is not None or self._local_checkpoint_done

    def getCheckpointFile(self) -> str | None:
        """The ``file:`` URI of the directory holding the RDD's checkpoint, or None
        until it is written.

        Examples
        --------
        >>> sc.parallelize([1]).getCheckpointFile() is None
        True
        """
        return self._checkpoint_file

    def localCheckpoint(self) -> None:
        """Marks the RDD for a local checkpoint: after the next job that uses it, all of
        its partitions are kept in the block store (StorageLevel ``MEMORY_AND_DISK``,
        deserialized, as PySpark reports it), and later jobs read them. Faster than
        ``checkpoint()`` but not written to files.

        Examples
        --------
        >>> rdd = sc.parallelize(range(4), 2).map(lambda x: x + 1)
        >>> rdd.localCheckpoint()
        >>> rdd.isLocallyCheckpointed(), rdd.isCheckpointed()
        (True, False)
        >>> rdd.sum()
        10
        >>> rdd.isCheckpointed(), rdd.getCheckpointFile() is None
        (True, True)
        """
        level = self._storage_level
        if level == StorageLevel.NONE:
            level = StorageLevel(True, True, False, True, 1)
        elif not level.useDisk:
            level = StorageLevel(True, level.useMemory, level.useOffHeap, level.deserialized, level.replication)
        self._storage_level = level
        node = self._node_obj_built()
        node.set_storage(_blocks.level_flags(level))
        _blocks.register(self.ctx, self)
        self._local_checkpoint = True
        self._local_checkpoint_done = False
        self.ctx._pending_checkpoints[node.id] = weakref.ref(self)

    def isLocallyCheckpointed(self) -> bool:
        """Whether localCheckpoint() was called on this RDD.

        Examples
        --------
        >>> sc.parallelize([1]).isLocallyCheckpointed()
        False
        """
        return self._local_checkpoint

    def cleanShuffleDependencies(self, blocking: bool = False) -> None:
        """Removes the shuffle output this RDD's lineage holds, so that the next job
        over it runs those shuffles' map stages again. As Spark, it follows the
        lineage through RDDs that are not persisted (a persisted RDD's ancestors are
        left alone). A shuffle that a running job uses is kept, with a warning.

        Parameters
        ----------
        blocking : bool, optional
            Accepted for PySpark compatibility; ember removes the files before
            returning either way.

        Examples
        --------
        >>> calls = sc.accumulator(0)
        >>> def tag(x):
        ...     calls.add(1)
        ...     return (x % 2, x)
        >>> sums = sc.parallelize(range(6), 2).map(tag).reduceByKey(lambda a, b: a + b)
        >>> sorted(sums.collect()), calls.value
        ([(0, 6), (1, 9)], 6)
        >>> sorted(sums.collect()), calls.value  # the map output is reused
        ([(0, 6), (1, 9)], 6)
        >>> sums.cleanShuffleDependencies()
        >>> sorted(sums.collect()), calls.value  # the map stage ran again
        ([(0, 6), (1, 9)], 12)
        """
        from ember.log import logger
        seen, stack = set(), [self._node]
        while stack:
            node = stack.pop()
            if node.id in seen:
                continue
            seen.add(node.id)
            if node.kind == "shuffle":
                try:
                    node.clean_shuffle()
                except RuntimeError as e:
                    logger.warning("cleanShuffleDependencies of RDD %d kept a shuffle: %s", self.id(), e)
            stack.extend(p for p in node.parents if not p.cached)

    def _write_checkpoint(self) -> None:
        """Writes the pending checkpoint: files for checkpoint(), kept partitions for
        localCheckpoint(). Called by the context after a job that used this RDD."""
        if self._local_checkpoint:
            self._run(lambda _, it: [_count(it)])  # computes and keeps the missing partitions
            self._local_checkpoint_done = True
            return
        from ember import _files
        checkpoint_dir = self.ctx._checkpoint_dir
        assert checkpoint_dir is not None  # checkpoint() checked it
        path = os.path.join(checkpoint_dir, f"rdd-{self.id()}")
        _files.save_partitions(self, path, lambda name, it: _files.write_pickle_part(name, it, 0), success=False)
        parts = [[(os.path.join(path, f"part-{i:05d}"), 0, -1)] for i in range(self.getNumPartitions())]
        self._checkpoint_node = self.ctx._pickle_source(parts, "ReliableCheckpointRDD")._node
        self._checkpoint_file = _files.uri(path)

    # ---- narrow transformations ----------------------------------------------------------

    def _pipe(self, op: Any, preservesPartitioning: bool = False) -> RDD[Any]:
        return PipelinedRDD(self, [op], self.partitioner if preservesPartitioning else None)

    def map(self: RDD[T], f: Callable[[T], U], preservesPartitioning: bool = False) -> RDD[U]:
        """Applies f to each element.

        Examples
        --------
        >>> sc.parallelize(["b", "a", "c"]).map(lambda x: (x, 1)).collect()
        [('b', 1), ('a', 1), ('c', 1)]
        """
        c = _pair_constant(f)
        if c is not _NO_PAIR:  # lambda x: (x, c): the pair made in C
            return self._pipe((_core.OP_PAIR, c), preservesPartitioning)
        return self._pipe((_core.OP_MAP, f), preservesPartitioning)

    def flatMap(self: RDD[T], f: Callable[[T], Iterable[U]], preservesPartitioning: bool = False) -> RDD[U]:
        """Applies f to each element and flattens the iterables it returns.

        Examples
        --------
        >>> sc.parallelize([2, 3, 4]).flatMap(lambda x: range(1, x)).collect()
        [1, 1, 2, 1, 2, 3]
        """
        return self._pipe((_core.OP_FLATMAP, f), preservesPartitioning)

    def filter(self: RDD[T], f: Callable[[T], bool]) -> RDD[T]:
        """Keeps the elements for which f is true.

        Examples
        --------
        >>> sc.parallelize([1, 2, 3, 4, 5]).filter(lambda x: x % 2 == 0).collect()
        [2, 4]
        """
        return self._pipe((_core.OP_FILTER, f), True)

    def mapPartitions(self: RDD[T], f: Callable[[Iterable[T]], Iterable[U]],
                      preservesPartitioning: bool = False) -> RDD[U]:
        """Applies f to each partition's iterator.

        Examples
        --------
        >>> sc.parallelize([1, 2, 3, 4], 2).mapPartitions(lambda it: [sum(it)]).collect()
        [3, 7]
        """
        return self._pipe((OP_PARTITIONS, lambda _, it: f(it)), preservesPartitioning)

    def mapPartitionsWithIndex(self: RDD[T], f: Callable[[int, Iterable[T]], Iterable[U]],
                               preservesPartitioning: bool = False) -> RDD[U]:
        """Applies f(partitionIndex, iterator) to each partition.

        Examples
        --------
        >>> sc.parallelize([1, 2, 3, 4], 4).mapPartitionsWithIndex(lambda i, it: [i]).sum()
        6
        """
        return self._pipe((OP_PARTITIONS, f), preservesPartitioning)

    def mapPartitionsWithSplit(self: RDD[T], f: Callable[[int, Iterable[T]], Iterable[U]],
                               preservesPartitioning: bool = False) -> RDD[U]:
        """Applies f(partitionIndex, iterator) to each partition.

        Deprecated: use :meth:`mapPartitionsWithIndex`; calling it emits a FutureWarning.

        Parameters
        ----------
        f : function
            called with the partition index and an iterator over the partition
        preservesPartitioning : bool, optional, default False
            whether f keeps every key in its partition (then the partitioner is kept)

        Returns
        -------
        :class:`RDD`
            the elements of the iterables f returns

        Examples
        --------
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore", FutureWarning)
        ...     sc.parallelize([1, 2, 3, 4], 4).mapPartitionsWithSplit(lambda i, it: [i]).sum()
        6
        """
        warnings.warn("mapPartitionsWithSplit is deprecated; use mapPartitionsWithIndex instead",
                      FutureWarning, stacklevel=2)
        return self.mapPartitionsWithIndex(f, preservesPartitioning)

    def mapValues(self: RDD[tuple[K, V]], f: Callable[[V], U]) -> RDD[tuple[K, U]]:
        """Applies f to the value of each (key, value) pair; keeps the partitioner.

        Examples
        --------
        >>> sc.parallelize([("a", ["x", "y"]), ("b", ["p"])]).mapValues(len).collect()
        [('a', 2), ('b', 1)]
        """
        return self._pipe((_core.OP_MAPVALUES, f), True)

    def flatMapValues(self: RDD[tuple[K, V]], f: Callable[[V], Iterable[U]]) -> RDD[tuple[K, U]]:
        """Applies f to each value and pairs each of its results with the key.

        Examples
        --------
        >>> sc.parallelize([("a", ["x", "y"]), ("b", ["p"])]).flatMapValues(lambda v: v).collect()
        [('a', 'x'), ('a', 'y'), ('b', 'p')]
        """
        return self._pipe((_core.OP_FLATMAPVALUES, f), True)

    def keys(self: RDD[tuple[K, V]]) -> RDD[K]:
        """The key of each pair.

        Examples
        --------
        >>> sc.parallelize([(1, 2), (3, 4)]).keys().collect()
        [1, 3]
        """
        return self._pipe((_core.OP_KEYS, None))

    def values(self: RDD[tuple[K, V]]) -> RDD[V]:
        """The value of each pair.

        Examples
        --------
        >>> sc.parallelize([(1, 2), (3, 4)]).values().collect()
        [2, 4]
        """
        return self._pipe((_core.OP_VALUES, None))

    def glom(self: RDD[T]) -> RDD[list[T]]:
        """Each partition as one list.

        Examples
        --------
        >>> sc.parallelize([1, 2, 3, 4], 2).glom().collect()
        [[1, 2], [3, 4]]
        """
        return self.mapPartitions(lambda it: [list(it)])

    def keyBy(self: RDD[T], f: Callable[[T], K]) -> RDD[tuple[K, T]]:
        """Pairs each element with a key computed from it: ``(f(x), x)``.

        Parameters
        ----------
        f : function
            computes the key of an element

        Returns
        -------
        :class:`RDD`
            (key, element) pairs

        Examples
        --------
        >>> sc.parallelize(range(3)).keyBy(lambda x: x * x).collect()
        [(0, 0), (1, 1), (4, 2)]
        """
        return self._pipe((_core.OP_KEYBY, f))

    def zipWithIndex(self: RDD[T]) -> RDD[tuple[T, int]]:
        """Pairs each element with its index: the first element of the first
        partition gets 0, the last of the last partition the largest index.

        With more than one partition this runs a job at once that counts the
        elements of every partition.

        Returns
        -------
        :class:`RDD`
            (element, index) pairs

        Examples
        --------
        >>> sc.parallelize(["a", "b", "c", "d"], 3).zipWithIndex().collect()
        [('a', 0), ('b', 1), ('c', 2), ('d', 3)]
        """
        starts = [0]
        n = self.getNumPartitions()
        if n > 1:
            counts = [c for part in self._run(lambda _, it: [_count(it)]) for c in part]
            for c in counts[:-1]:
                starts.append(starts[-1] + c)

        def index(split: Any, it: Any) -> Any:
            return zip(it, itertools.count(starts[split]))

        return self.mapPartitionsWithIndex(index)

    def zipWithUniqueId(self: RDD[T]) -> RDD[tuple[T, int]]:
        """Pairs each element with a unique id, without running a job: the i-th
        element of partition k (of n) gets ``i * n + k``; ids may have gaps.

        Returns
        -------
        :class:`RDD`
            (element, id) pairs

        Examples
        --------
        >>> sc.parallelize(["a", "b", "c", "d", "e"], 3).zipWithUniqueId().collect()
        [('a', 0), ('b', 1), ('c', 4), ('d', 2), ('e', 5)]
        """
        n = self.getNumPartitions()

        def unique_ids(split: Any, it: Any) -> Any:
            return zip(it, itertools.count(split, n))

        return self.mapPartitionsWithIndex(unique_ids)

    def pipe(self, command: str, env: dict[str, str] | None = None, checkCode: bool = False) -> RDD[str]:
        """Pipes each partition through an external command: the elements go to its
        standard input as lines (``str(x)``), its output lines are the new elements.

        Parameters
        ----------
        command : str
            the command line, split as a shell would (``shlex.split``), run without a shell
        env : dict, optional
            the command's whole environment (empty by default, as in PySpark)
        checkCode : bool, optional, default False
            fail the task when the command exits with a non-zero code

        Returns
        -------
        :class:`RDD`
            the command's output lines, as str without their newlines

        Examples
        --------
        >>> sc.parallelize(['1', '2', '', '3']).pipe('cat').collect()
        ['1', '2', '', '3']
        >>> sc.parallelize(range(5), 2).pipe('wc -l').map(int).collect()
        [2, 3]
        """
        import shlex
        env = {} if env is None else dict(env)
        argv = shlex.split(command)

        def run(it: Any) -> Any:
            return _piped(argv, command, env, checkCode, it)

        return self.mapPartitions(run)

    # ---- native (C) transformations: see ember.native and ember/native.h -----------------

    def mapNative(self, lib: str, symbol: str, preservesPartitioning: bool = False) -> RDD[Any]:
        """Applies the C function ``symbol`` of the shared library ``lib`` to each
        element, in the workers (signature ``ember_map_fn`` in ``ember/native.h``).

        Elements cross to C in ember's typed record format (see :mod:`ember.native`):
        one that does not fit fails the task with an error naming its type.

        Parameters
        ----------
        lib : str
            Path of a shared library built against ``ember.h`` (see
            :func:`ember.native.compile`).
        symbol : str
            Name of the function in it.
        preservesPartitioning : bool, optional, default False

        Returns
        -------
        :class:`RDD`

        Examples
        --------
        >>> import os, tempfile
        >>> from ember import native
        >>> src = os.path.join(tempfile.mkdtemp(), "double.c")
        >>> with open(src, "w") as f:
        ...     _ = f.write("#include <ember.h>\\n"
        ...                 "int twice(const ember_value *v, ember_writer *out) {\\n"
        ...                 "    return ember_put_int(out, 2 * v->i);\\n"
        ...                 "}\\n")
        >>> sc.parallelize([1, 2, 3]).mapNative(native.compile(src), "twice").collect()
        [2, 4, 6]
        """
        from ember import native
        partitioner = self.partitioner if preservesPartitioning else None
        stepped: RDD[Any] = native._step(self, "mapNative", lib, symbol, partitioner)
        return stepped

    def flatMapNative(self, lib: str, symbol: str,
                      preservesPartitioning: bool = False) -> RDD[Any]:
        """Applies the C function ``symbol`` of the shared library ``lib`` to each
        element and flattens the records it writes (``ember_flatmap_fn``).

        Examples
        --------
        >>> import os, tempfile
        >>> from ember import native
        >>> src = os.path.join(tempfile.mkdtemp(), "repeat.c")
        >>> with open(src, "w") as f:
        ...     _ = f.write("#include <ember.h>\\n"
        ...                 "int upto(const ember_value *v, ember_writer *out) {\\n"
        ...                 "    for (int64_t i = 1; i < v->i; i++) ember_put_int(out, i);\\n"
        ...                 "    return out->err;\\n"
        ...                 "}\\n")
        >>> sc.parallelize([2, 3, 4]).flatMapNative(native.compile(src), "upto").collect()
        [1, 1, 2, 1, 2, 3]
        """
        from ember import native
        partitioner = self.partitioner if preservesPartitioning else None
        stepped: RDD[Any] = native._step(self, "flatMapNative", lib, symbol, partitioner)
        return stepped

    def filterNative(self: RDD[T], lib: str, symbol: str) -> RDD[T]:
        """Keeps the elements for which the C function ``symbol`` of the shared
        library ``lib`` returns 1 (``ember_filter_fn``).

        Examples
        --------
        >>> import os, tempfile
        >>> from ember import native
        >>> src = os.path.join(tempfile.mkdtemp(), "even.c")
        >>> with open(src, "w") as f:
        ...     _ = f.write("#include <ember.h>\\n"
        ...                 "int even(const ember_value *v) { return v->i % 2 == 0; }\\n")
        >>> sc.parallelize([1, 2, 3, 4, 5]).filterNative(native.compile(src), "even").collect()
        [2, 4]
        """
        from ember import native
        stepped: RDD[Any] = native._step(self, "filterNative", lib, symbol, self.partitioner)
        return stepped

    def mapPartitionsNative(self, lib: str, symbol: str, preservesPartitioning: bool = False) -> RDD[Any]:
        """Applies the C function ``symbol`` of the shared library ``lib`` to each
        partition (``ember_partition_fn``): it reads the records with
        ``ember_iter_next`` and writes its output records.

        Examples
        --------
        >>> import os, tempfile
        >>> from ember import native
        >>> src = os.path.join(tempfile.mkdtemp(), "total.c")
        >>> with open(src, "w") as f:
        ...     _ = f.write("#include <ember.h>\\n"
        ...                 "int total(ember_iter *in, ember_writer *out) {\\n"
        ...                 "    ember_value v; int64_t s = 0; int rc;\\n"
        ...                 "    while ((rc = ember_iter_next(in, &v)) == 1) s += v.i;\\n"
        ...                 "    return rc < 0 ? rc : ember_put_int(out, s);\\n"
        ...                 "}\\n")
        >>> sc.parallelize([1, 2, 3, 4], 2).mapPartitionsNative(native.compile(src), "total").collect()
        [3, 7]
        """
        from ember import native
        partitioner = self.partitioner if preservesPartitioning else None
        stepped: RDD[Any] = native._step(self, "mapPartitionsNative", lib, symbol, partitioner)
        return stepped

    # ---- sampling ------------------------------------------------------------------------

    def sample(self: RDD[T], withReplacement: bool, fraction: float, seed: int | None = None) -> RDD[T]:
        """A random sample of the elements.

        Each partition draws from its own generator, seeded with
        ``seed ^ partitionIndex``, as PySpark does, so a seeded sample is the same
        as PySpark's for the same partition layout.

        Parameters
        ----------
        withReplacement : bool
            whether an element may be drawn more than once
        fraction : float
            without replacement, the probability of keeping each element (in [0, 1]);
            with replacement, the expected number of copies of each element (>= 0)
        seed : int, optional
            seed of the random generators; a random one by default

        Returns
        -------
        :class:`RDD`
            the sampled elements, in their original order; the sample's size is not exact

        Examples
        --------
        >>> rdd = sc.parallelize(range(100), 4)
        >>> 6 <= rdd.sample(False, 0.1, 81).count() <= 14
        True
        >>> sc.parallelize(range(20), 2).sample(False, 0.3, 7).collect()
        [0, 2, 4, 9, 10, 16, 19]
        >>> rdd.sample(False, -0.5)
        Traceback (most recent call last):
            ...
        ValueError: Fraction must be nonnegative.
        """
        if not fraction >= 0:
            raise ValueError("Fraction must be nonnegative.")
        if seed is None:
            seed = rddsampler.default_seed()
        sampler = rddsampler.poisson if withReplacement else rddsampler.bernoulli
        return self.mapPartitionsWithIndex(sampler(fraction, seed), True)

    def randomSplit(self: RDD[T], weights: Sequence[int | float], seed: int | None = None) -> list[RDD[T]]:
        """Splits the RDD at random into several RDDs, one per weight.

        Every element lands in exactly one split; split j gets about
        ``weights[j] / sum(weights)`` of them.

        Parameters
        ----------
        weights : list
            relative sizes of the splits; normalized when they do not sum to 1
        seed : int, optional
            seed of the random generators; a random one by default

        Returns
        -------
        list
            one :class:`RDD` per weight

        Examples
        --------
        >>> rdd = sc.parallelize(range(500), 1)
        >>> rdd1, rdd2 = rdd.randomSplit([2, 3], 17)
        >>> len(rdd1.collect() + rdd2.collect())
        500
        >>> 150 < rdd1.count() < 250 and 250 < rdd2.count() < 350
        True
        >>> sorted(rdd1.collect() + rdd2.collect()) == list(range(500))
        True
        """
        weights = list(weights)
        if not all(w >= 0 for w in weights):
            raise ValueError(f"Weights must be nonnegative, got {weights}")
        total = float(sum(weights))
        if not total > 0:
            raise ValueError(f"Sum of weights must be positive, got {weights}")
        bounds = [0.0]
        for w in weights:
            bounds.append(bounds[-1] + w / total)
        if seed is None:
            import random  # here, not at import: random is a large part of ember's import time
            seed = random.randint(0, 2 ** 32 - 1)
        return [self.mapPartitionsWithIndex(rddsampler.in_range(lo, hi, seed), True)
                for lo, hi in zip(bounds, bounds[1:])]

    def sampleByKey(self: RDD[tuple[K, V]], withReplacement: bool, fractions: dict[K, float | int],
                    seed: int | None = None) -> RDD[tuple[K, V]]:
        """A sample of (key, value) pairs with a sampling fraction per key.

        Parameters
        ----------
        withReplacement : bool
            whether a pair may be drawn more than once
        fractions : dict
            each key's fraction, as in :meth:`sample`; every key of the RDD needs one
        seed : int, optional
            seed of the random generators; a random one by default

        Returns
        -------
        :class:`RDD`
            the sampled pairs

        Examples
        --------
        >>> fractions = {"a": 0.2, "b": 0.1}
        >>> rdd = sc.parallelize(fractions.keys()).cartesian(sc.parallelize(range(0, 1000)))
        >>> sample = dict(rdd.sampleByKey(False, fractions, 2).groupByKey().collect())
        >>> 100 < len(sample["a"]) < 300 and 50 < len(sample["b"]) < 150
        True
        >>> max(sample["a"]) <= 999 and min(sample["a"]) >= 0
        True
        """
        for key, fraction in fractions.items():
            if not fraction >= 0.0:
                raise AssertionError(f"Negative fraction value: {fraction} (for key {key!r})")
        if seed is None:
            seed = rddsampler.default_seed()
        return self.mapPartitionsWithIndex(rddsampler.stratified(withReplacement, fractions, seed), True)

    def _sampled(self: RDD[T], withReplacement: bool, fraction: float, seed: int) -> RDD[T]:
        """The elements kept by PySpark's seeded per-partition sampler."""
        sampler = rddsampler.poisson if withReplacement else rddsampler.bernoulli
        return self.mapPartitionsWithIndex(sampler(fraction, seed), True)

    def takeSample(self: RDD[T], withReplacement: bool, num: int, seed: int | None = None) -> list[T]:
        """A random sample of exactly num elements (fewer if the RDD is smaller and
        withReplacement is false). Runs a count, then samples; the same seed gives the
        same sample as PySpark for the same partitions.

        Parameters
        ----------
        withReplacement : bool
        num : int
        seed : int, optional

        Returns
        -------
        list

        Examples
        --------
        >>> rdd = sc.parallelize(range(0, 10))
        >>> len(rdd.takeSample(True, 20, 1))
        20
        >>> len(rdd.takeSample(False, 5, 2))
        5
        >>> sorted(rdd.takeSample(False, 15, 3))
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
        """
        import random
        import sys
        from ember.rddsampler import fraction_for_sample_size
        max_size = sys.maxsize - int(10.0 * math.sqrt(sys.maxsize))
        if num < 0:
            raise ValueError("Sample size cannot be negative.")
        if num > max_size:
            raise ValueError("Sample size cannot be greater than %d." % max_size)
        if num == 0 or self.getNumPartitions() == 0:
            return []
        total = self.count()
        if total == 0:
            return []
        rng = random.Random(seed)
        if not withReplacement and num >= total:
            samples = self.collect()
            rng.shuffle(samples)
            return samples
        fraction = fraction_for_sample_size(num, total, withReplacement)
        if seed is None:
            seed = random.randint(0, sys.maxsize)
        samples = self._sampled(withReplacement, fraction, seed).collect()
        while len(samples) < num:  # rare: the fraction aims at 99.99% success
            seed = rng.randint(0, sys.maxsize)
            samples = self._sampled(withReplacement, fraction, seed).collect()
        rng.shuffle(samples)
        return samples[0:num]

    # ---- combining and repartitioning RDDs -----------------------------------------------

    def union(self: RDD[T], other: RDD[U]) -> RDD[T | U]:
        """The elements of this RDD and of other.

        The partitions of this RDD are followed by other's. When both RDDs are
        partitioned by equal partitioners, partition i of the union holds partition i
        of each instead (no shuffle), and the union keeps the partitioner.

        Parameters
        ----------
        other : :class:`RDD`
            another RDD

        Returns
        -------
        :class:`RDD`
            the union of this RDD and other

        Examples
        --------
        >>> rdd = sc.parallelize([1, 1, 2, 3])
        >>> rdd.union(rdd).collect()
        [1, 1, 2, 3, 1, 1, 2, 3]
        >>> parted = sc.parallelize([(0, "a"), (1, "b")]).partitionBy(2)
        >>> parted.union(parted).glom().collect()
        [[(0, 'a'), (0, 'a')], [(1, 'b'), (1, 'b')]]
        """
        if not isinstance(other, RDD):
            raise TypeError(f"union() expects an RDD, got {type(other).__name__}")
        if self.partitioner is not None and self.partitioner == other.partitioner:
            union: RDD[T | U] = _union_by_partition([self, other], self.partitioner)
            return union
        return RDD(self.ctx, self.ctx._core.union([self._node, other._node]), deps=(self, other), kind="union")

    def __add__(self: RDD[T], other: RDD[U]) -> RDD[T | U]:
        if not isinstance(other, RDD):
            raise TypeError(f"unsupported operand: RDD + {type(other).__name__}")
        return self.union(other)

    def zip(self: RDD[T], other: RDD[U]) -> RDD[tuple[T, U]]:
        """Pairs the i-th elements of both RDDs; they need the same number of
        partitions and of elements in each partition.

        Examples
        --------
        >>> x = sc.parallelize(range(0, 5))
        >>> y = sc.parallelize(range(1000, 1005))
        >>> x.zip(y).collect()
        [(0, 1000), (1, 1001), (2, 1002), (3, 1003), (4, 1004)]
        """
        if self.getNumPartitions() != other.getNumPartitions():
            raise ValueError("Can only zip with RDD which has the same number of partitions")
        return RDD(self.ctx, self.ctx._core.zip(self._node, other._node), deps=(self, other), kind="zip")

    def cartesian(self: RDD[T], other: RDD[U]) -> RDD[tuple[T, U]]:
        """Every pair (a, b) of an element of this RDD and one of other.

        Examples
        --------
        >>> rdd = sc.parallelize([1, 2])
        >>> sorted(rdd.cartesian(rdd).collect())
        [(1, 1), (1, 2), (2, 1), (2, 2)]
        """
        return RDD(self.ctx, self.ctx._core.cartesian(self._node, other._node), deps=(self, other),
                   kind="cartesian")

    def coalesce(self: RDD[T], numPartitions: int, shuffle: bool = False) -> RDD[T]:
        """Fewer partitions: neighbouring ones merged without a shuffle, or, with
        shuffle=True, the records spread evenly by a shuffle.

        Parameters
        ----------
        numPartitions : int
            the number of partitions wanted; without a shuffle never more than now
        shuffle : bool, optional, default False
            spread the records by a shuffle (see :meth:`repartition`)

        Returns
        -------
        :class:`RDD`
            the same records in fewer (or, with shuffle, exactly numPartitions) partitions

        Examples
        --------
        >>> sc.parallelize([1, 2, 3, 4, 5], 3).glom().collect()
        [[1], [2, 3], [4, 5]]
        >>> sc.parallelize([1, 2, 3, 4, 5], 3).coalesce(1).glom().collect()
        [[1, 2, 3, 4, 5]]
        >>> sc.parallelize([1, 2, 3, 4, 5], 3).coalesce(8).getNumPartitions()
        3
        """
        n = int(numPartitions)
        if n <= 0:
            raise ValueError("Number of partitions must be positive.")
        if shuffle:
            return self.repartition(n)
        n = min(n, self.getNumPartitions())  # never more partitions without a shuffle
        if n == 0:
            return RDD(self.ctx, self._node)
        return RDD(self.ctx, self.ctx._core.coalesce(self._node, n), deps=(self,), kind="coalesce")

    def repartition(self: RDD[T], numPartitions: int) -> RDD[T]:
        """Exactly numPartitions partitions, records spread by a shuffle.

        As in PySpark, each partition is cut into chunks of 10 records, dealt round
        robin over the new partitions from a start drawn per partition (with Spark's
        generator), so the layout is PySpark's; small inputs may leave partitions empty.

        Parameters
        ----------
        numPartitions : int
            the number of partitions of the result

        Returns
        -------
        :class:`RDD`
            the same records in numPartitions partitions

        Examples
        --------
        >>> rdd = sc.parallelize(range(20), 2).repartition(5)
        >>> rdd.getNumPartitions(), sorted(rdd.collect()) == list(range(20))
        (5, True)
        >>> sc.parallelize(range(20), 3).repartition(4).glom().collect()
        [[13, 14, 15, 16, 17, 18, 19], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [], []]
        """
        n = int(numPartitions)
        if n <= 0:
            raise ValueError("Number of partitions must be positive.")
        chunk = min(10, self.ctx._batchSize or 1024)
        dealt = self.mapPartitionsWithIndex(RoundRobin(n, chunk))
        return dealt._shuffle(n, _identity_partition).flatMap(_second)

    # ---- shuffles: aggregating by key ----------------------------------------------------

    def _default_partitions(self) -> int:
        if self.ctx._conf.contains("spark.default.parallelism"):
            return self.ctx.defaultParallelism
        return self.getNumPartitions()

    def _memory_limit(self) -> int:
        """Bytes a worker may hold while merging (``spark.python.worker.memory``)."""
        limit: int = shuffle.parse_memory(self.ctx._conf.get("spark.python.worker.memory", "512m"))
        return limit

    def _shuffle(self, numPartitions: int | None, partitionFunc: Callable[[Any], int],
                 create: Any = None, merge: Any = None) -> RDD[Any]:
        """A shuffled RDD of this RDD's (key, value) pairs: partitioned by
        partitionFunc, values of a key combined on the map side when merge is given."""
        n = self._default_partitions() if numPartitions is None else int(numPartitions)
        if n < 1:
            raise ValueError(f"Number of partitions must be positive, got {numPartitions}")
        pfunc = None if partitionFunc is portable_hash else partitionFunc
        spec, held = _broadcast._dumps_holding(
            _commands.dumps_command, (pfunc, create, merge, self._memory_limit() // 2, _SHUFFLE_BUFFER))
        node = self.ctx._core.shuffle(self._node, n, spec)
        rdd: RDD[Any] = RDD(self.ctx, node, Partitioner(n, partitionFunc), deps=(self,), kind="shuffle")
        rdd._broadcasts = held
        return rdd

    def partitionBy(self: RDD[tuple[K, V]], numPartitions: int | None,
                    partitionFunc: Callable[[K], int] = portable_hash) -> RDD[tuple[K, V]]:
        """Partitions (key, value) pairs by key: ``partitionFunc(key) % numPartitions``.

        Examples
        --------
        >>> pairs = sc.parallelize([1, 2, 3, 4, 2, 4, 1]).map(lambda x: (x, x))
        >>> sets = pairs.partitionBy(2).glom().collect()
        >>> len(set(sets[0]).intersection(set(sets[1])))
        0
        """
        if numPartitions is None:
            numPartitions = self._default_partitions()
        if self.partitioner == Partitioner(numPartitions, partitionFunc):
            return self
        from ember import native
        if isinstance(partitionFunc, native.Function):  # a C partitioner (ember.native.partitioner)
            moved: RDD[tuple[K, V]] = native._partition_by(self, partitionFunc, numPartitions)
            return moved
        return self._shuffle(numPartitions, partitionFunc)

    def combineByKey(self: RDD[tuple[K, V]], createCombiner: Callable[[V], U], mergeValue: Callable[[U, V], U],
                     mergeCombiners: Callable[[U, U], U], numPartitions: int | None = None,
                     partitionFunc: Callable[[K], int] = portable_hash) -> RDD[tuple[K, U]]:
        """Combines the values of each key with the three functions, on the map side
        before the shuffle and on the reduce side after it.

        When the RDD is already partitioned by ``Partitioner(numPartitions,
        partitionFunc)`` nothing is shuffled: each partition is combined where it is.

        Parameters
        ----------
        createCombiner : function
            turns a key's first value into a combiner
        mergeValue : function
            merges a value into a combiner (may modify and return its first argument)
        mergeCombiners : function
            merges two combiners (may modify and return its first argument)
        numPartitions : int, optional
            partitions of the result; by default this RDD's count, or
            ``spark.default.parallelism`` when that is set
        partitionFunc : function, optional, default `portable_hash`
            maps a key to an int; the key goes to ``partitionFunc(key) % numPartitions``

        Returns
        -------
        :class:`RDD`
            (key, combiner) pairs

        Examples
        --------
        >>> x = sc.parallelize([("a", 1), ("b", 1), ("a", 2)])
        >>> sorted(x.combineByKey(lambda v: [v], lambda c, v: c + [v], lambda a, b: a + b).collect())
        [('a', [1, 2]), ('b', [1])]
        """
        if numPartitions is None:
            numPartitions = self._default_partitions()
        limit = self._memory_limit()
        if self.partitioner is not None and self.partitioner == Partitioner(numPartitions, partitionFunc):
            return self.mapPartitions(lambda it: shuffle.combine_values(
                it, createCombiner, mergeValue, mergeCombiners, limit), True)
        shuffled = self._shuffle(numPartitions, partitionFunc, createCombiner, mergeValue)
        return shuffled.mapPartitions(lambda it: shuffle.merge_combiners(it, mergeCombiners, limit), True)

    def reduceByKey(self: RDD[tuple[K, V]], func: Callable[[V, V], V], numPartitions: int | None = None,
                    partitionFunc: Callable[[K], int] = portable_hash) -> RDD[tuple[K, V]]:
        """Merges the values of each key with an associative, commutative function
        (a Python function, or a C one made by :func:`ember.native.merge`).

        Examples
        --------
        >>> from operator import add
        >>> sorted(sc.parallelize([("a", 1), ("b", 1), ("a", 1)]).reduceByKey(add).collect())
        [('a', 2), ('b', 1)]
        """
        from ember import native
        if isinstance(func, native.Function) and partitionFunc is portable_hash:
            stepped: RDD[Any] = native._reduce_by_key(self, func, numPartitions)  # in C, end to end
            return stepped
        func = _as_native(func)
        # No createCombiner: a key's first value is its combiner (the C combiner's fast path).
        return self.combineByKey(None, func, func, numPartitions, partitionFunc)  # type: ignore[arg-type]

    def groupByKey(self: RDD[tuple[K, V]], numPartitions: int | None = None,
                   partitionFunc: Callable[[K], int] = portable_hash) -> RDD[tuple[K, Iterable[V]]]:
        """Groups the values of each key into a ResultIterable.

        When the RDD is already partitioned by ``Partitioner(numPartitions,
        partitionFunc)`` nothing is shuffled. Keys come in the order their first
        value arrived; each key's values in arrival order. Past
        ``spark.python.worker.memory`` the grouping spills to disk, and a key whose
        values alone grow too big keeps them in a file of its own: its
        ResultIterable then reads them back in order (any number of times).

        Parameters
        ----------
        numPartitions : int, optional
            partitions of the result; by default this RDD's count, or
            ``spark.default.parallelism`` when that is set
        partitionFunc : function, optional, default `portable_hash`
            maps a key to an int; the key goes to ``partitionFunc(key) % numPartitions``

        Returns
        -------
        :class:`RDD`
            (key, ResultIterable of its values) pairs

        Examples
        --------
        >>> rdd = sc.parallelize([("a", 1), ("b", 1), ("a", 1)])
        >>> sorted(rdd.groupByKey().mapValues(len).collect())
        [('a', 2), ('b', 1)]
        >>> sorted(rdd.groupByKey().mapValues(list).collect())
        [('a', [1, 1]), ('b', [1])]
        """
        if numPartitions is None:
            numPartitions = self._default_partitions()
        if self.partitioner is not None and self.partitioner == Partitioner(numPartitions, partitionFunc):
            grouped = self
        else:
            grouped = self._shuffle(numPartitions, partitionFunc)
        return grouped.mapPartitions(shuffle.GroupByKey(self._memory_limit()), True)

    def aggregateByKey(self: RDD[tuple[K, V]], zeroValue: U, seqFunc: Callable[[U, V], U],
                       combFunc: Callable[[U, U], U], numPartitions: int | None = None,
                       partitionFunc: Callable[[K], int] = portable_hash) -> RDD[tuple[K, U]]:
        """Aggregates the values of each key, starting from a zero value: seqFunc
        folds values into an aggregate, combFunc merges two aggregates.

        Each key starts from its own deep copy of zeroValue, so both functions may
        modify and return their first argument.

        Parameters
        ----------
        zeroValue : U
            the initial aggregate of each key
        seqFunc : function
            (U, V) -> U, adds a value to an aggregate
        combFunc : function
            (U, U) -> U, merges two aggregates
        numPartitions : int, optional
            partitions of the result (default as in :meth:`combineByKey`)
        partitionFunc : function, optional, default `portable_hash`
            maps a key to an int

        Returns
        -------
        :class:`RDD`
            (key, aggregate) pairs

        Examples
        --------
        >>> rdd = sc.parallelize([("a", 1), ("b", 1), ("a", 2)])
        >>> seqFunc = lambda x, y: (x[0] + y, x[1] + 1)
        >>> combFunc = lambda x, y: (x[0] + y[0], x[1] + y[1])
        >>> sorted(rdd.aggregateByKey((0, 0), seqFunc, combFunc).collect())
        [('a', (3, 2)), ('b', (1, 1))]
        >>> sorted(rdd.aggregateByKey([], lambda a, v: a + [v], lambda a, b: a + b).collect())
        [('a', [1, 2]), ('b', [1])]
        """
        def create(v: Any) -> Any:
            return seqFunc(copy.deepcopy(zeroValue), v)

        return self.combineByKey(create, seqFunc, combFunc, numPartitions, partitionFunc)

    def foldByKey(self: RDD[tuple[K, V]], zeroValue: V, func: Callable[[V, V], V], numPartitions: int | None = None,
                  partitionFunc: Callable[[K], int] = portable_hash) -> RDD[tuple[K, V]]:
        """Merges the values of each key with an associative function, starting from
        a neutral zero value (0 for addition, 1 for multiplication, [] for lists).

        Each key starts from its own deep copy of zeroValue.

        Parameters
        ----------
        zeroValue : V
            the neutral element of func
        func : function
            (V, V) -> V
        numPartitions : int, optional
            partitions of the result (default as in :meth:`combineByKey`)
        partitionFunc : function, optional, default `portable_hash`
            maps a key to an int

        Returns
        -------
        :class:`RDD`
            (key, folded value) pairs

        Examples
        --------
        >>> from operator import add
        >>> rdd = sc.parallelize([("a", 1), ("b", 1), ("a", 1)])
        >>> sorted(rdd.foldByKey(0, add).collect())
        [('a', 2), ('b', 1)]
        """
        def create(v: Any) -> Any:
            return func(copy.deepcopy(zeroValue), v)

        return self.combineByKey(create, func, func, numPartitions, partitionFunc)

    def groupBy(self: RDD[T], f: Callable[[T], K], numPartitions: int | None = None,
                partitionFunc: Callable[[K], int] = portable_hash) -> RDD[tuple[K, Iterable[T]]]:
        """Groups the elements by the key f computes from them.

        Parameters
        ----------
        f : function
            computes an element's key
        numPartitions : int, optional
            partitions of the result (default as in :meth:`combineByKey`)
        partitionFunc : function, optional, default `portable_hash`
            maps a key to an int

        Returns
        -------
        :class:`RDD`
            (key, ResultIterable of its elements) pairs

        Examples
        --------
        >>> rdd = sc.parallelize([1, 1, 2, 3, 5, 8])
        >>> sorted((k, sorted(v)) for k, v in rdd.groupBy(lambda x: x % 2).collect())
        [(0, [2, 8]), (1, [1, 1, 3, 5])]
        """
        return self.map(lambda x: (f(x), x)).groupByKey(numPartitions, partitionFunc)

    def distinct(self: RDD[T], numPartitions: int | None = None) -> RDD[T]:
        """The distinct elements (by hash and equality).

        Parameters
        ----------
        numPartitions : int, optional
            partitions of the result (default as in :meth:`combineByKey`)

        Returns
        -------
        :class:`RDD`
            each distinct element once

        Examples
        --------
        >>> sorted(sc.parallelize([1, 1, 2, 3]).distinct().collect())
        [1, 2, 3]
        """
        pairs = self._pipe((_core.OP_PAIR, None))
        firsts = pairs.combineByKey(None, _core.keep_first, _core.keep_first, numPartitions)  # type: ignore[arg-type]
        return firsts._pipe((_core.OP_KEYS, None))

    # ---- shuffles: joins and set operations ----------------------------------------------

    def cogroup(self: RDD[tuple[K, V]], other: RDD[tuple[K, U]],
                numPartitions: int | None = None) -> RDD[tuple[K, tuple[ResultIterable[V], ResultIterable[U]]]]:
        """For each key of either RDD: the values it has in this RDD and in other.

        Parameters
        ----------
        other : :class:`RDD`
            another pair RDD
        numPartitions : int, optional
            partitions of the result; by default the sum of both RDDs' counts (or
            ``spark.default.parallelism``); no shuffle when both are partitioned alike

        Returns
        -------
        :class:`RDD`
            (key, (ResultIterable of this RDD's values, ResultIterable of other's))

        Examples
        --------
        >>> rdd1 = sc.parallelize([("a", 1), ("b", 4)])
        >>> rdd2 = sc.parallelize([("a", 2)])
        >>> [(x, tuple(map(list, y))) for x, y in sorted(rdd1.cogroup(rdd2).collect())]
        [('a', ([1], [2])), ('b', ([4], []))]
        """
        return _join.python_cogroup((self, other), numPartitions)

    @overload
    def groupWith(self: RDD[tuple[K, V]],
                  other: RDD[tuple[K, V1]]) -> RDD[tuple[K, tuple[ResultIterable[V], ResultIterable[V1]]]]: ...

    @overload
    def groupWith(self: RDD[tuple[K, V]], other: RDD[tuple[K, V1]], other2: RDD[tuple[K, V2]], /
                  ) -> RDD[tuple[K, tuple[ResultIterable[V], ResultIterable[V1], ResultIterable[V2]]]]: ...

    @overload
    def groupWith(self: RDD[tuple[K, V]], other: RDD[tuple[K, V1]], other2: RDD[tuple[K, V2]],
                  other3: RDD[tuple[K, V3]], /) -> RDD[tuple[K, tuple[ResultIterable[V], ResultIterable[V1],
                                                                        ResultIterable[V2], ResultIterable[V3]]]]: ...

    def groupWith(self: RDD[tuple[Any, Any]], other: RDD[tuple[Any, Any]],
                  *others: RDD[tuple[Any, Any]]) -> RDD[tuple[Any, tuple[ResultIterable[Any], ...]]]:
        """:meth:`cogroup` of this RDD with one or more others.

        Parameters
        ----------
        other : :class:`RDD`
            another pair RDD
        others : :class:`RDD`
            more pair RDDs

        Returns
        -------
        :class:`RDD`
            (key, tuple of one ResultIterable per RDD)

        Examples
        --------
        >>> rdd1 = sc.parallelize([("a", 5), ("b", 6)])
        >>> rdd2 = sc.parallelize([("a", 1), ("b", 4)])
        >>> rdd3 = sc.parallelize([("a", 2)])
        >>> rdd4 = sc.parallelize([("b", 42)])
        >>> [(x, tuple(map(list, y))) for x, y in sorted(rdd1.groupWith(rdd2, rdd3, rdd4).collect())]
        [('a', ([5], [1], [2], [])), ('b', ([6], [4], [], [42]))]
        """
        return _join.python_cogroup((self, other) + others, None)

    def join(self: RDD[tuple[K, V]], other: RDD[tuple[K, U]],
             numPartitions: int | None = None) -> RDD[tuple[K, tuple[V, U]]]:
        """The inner join: (k, (v, w)) for every v of key k here and w of k in other.

        Parameters
        ----------
        other : :class:`RDD`
            another pair RDD
        numPartitions : int, optional
            partitions of the result; by default the sum of both RDDs' counts (or
            ``spark.default.parallelism``); no shuffle when both are partitioned alike

        Returns
        -------
        :class:`RDD`
            (key, (value here, value in other)) pairs

        Examples
        --------
        >>> rdd1 = sc.parallelize([("a", 1), ("b", 4)])
        >>> rdd2 = sc.parallelize([("a", 2), ("a", 3)])
        >>> sorted(rdd1.join(rdd2).collect())
        [('a', (1, 2)), ('a', (1, 3))]
        """
        return _join.python_join(self, other, numPartitions)

    def leftOuterJoin(self: RDD[tuple[K, V]], other: RDD[tuple[K, U]],
                      numPartitions: int | None = None) -> RDD[tuple[K, tuple[V, U | None]]]:
        """:meth:`join`, plus (k, (v, None)) for each key k that other lacks.

        Parameters
        ----------
        other : :class:`RDD`
            another pair RDD
        numPartitions : int, optional
            partitions of the result (default as in :meth:`join`)

        Returns
        -------
        :class:`RDD`
            (key, (value here, value in other or None)) pairs

        Examples
        --------
        >>> rdd1 = sc.parallelize([("a", 1), ("b", 4)])
        >>> rdd2 = sc.parallelize([("a", 2)])
        >>> sorted(rdd1.leftOuterJoin(rdd2).collect())
        [('a', (1, 2)), ('b', (4, None))]
        """
        return _join.python_left_outer_join(self, other, numPartitions)

    def rightOuterJoin(self: RDD[tuple[K, V]], other: RDD[tuple[K, U]],
                       numPartitions: int | None = None) -> RDD[tuple[K, tuple[V | None, U]]]:
        """:meth:`join`, plus (k, (None, w)) for each key k of other missing here.

        Parameters
        ----------
        other : :class:`RDD`
            another pair RDD
        numPartitions : int, optional
            partitions of the result (default as in :meth:`join`)

        Returns
        -------
        :class:`RDD`
            (key, (value here or None, value in other)) pairs

        Examples
        --------
        >>> rdd1 = sc.parallelize([("a", 1), ("b", 4)])
        >>> rdd2 = sc.parallelize([("a", 2)])
        >>> sorted(rdd2.rightOuterJoin(rdd1).collect())
        [('a', (2, 1)), ('b', (None, 4))]
        """
        return _join.python_right_outer_join(self, other, numPartitions)

    def fullOuterJoin(self: RDD[tuple[K, V]], other: RDD[tuple[K, U]],
                      numPartitions: int | None = None) -> RDD[tuple[K, tuple[V | None, U | None]]]:
        """Both outer joins: every key of either RDD, None standing in for the side
        that lacks it.

        Parameters
        ----------
        other : :class:`RDD`
            another pair RDD
        numPartitions : int, optional
            partitions of the result (default as in :meth:`join`)

        Returns
        -------
        :class:`RDD`
            (key, (value here or None, value in other or None)) pairs

        Examples
        --------
        >>> rdd1 = sc.parallelize([("a", 1), ("b", 4)])
        >>> rdd2 = sc.parallelize([("a", 2), ("c", 8)])
        >>> sorted(rdd1.fullOuterJoin(rdd2).collect())
        [('a', (1, 2)), ('b', (4, None)), ('c', (None, 8))]
        """
        return _join.python_full_outer_join(self, other, numPartitions)

    def subtractByKey(self: RDD[tuple[K, V]], other: RDD[tuple[K, Any]],
                      numPartitions: int | None = None) -> RDD[tuple[K, V]]:
        """The pairs of this RDD whose key does not occur in other.

        Parameters
        ----------
        other : :class:`RDD`
            another pair RDD
        numPartitions : int, optional
            partitions of the result (default as in :meth:`join`)

        Returns
        -------
        :class:`RDD`
            the remaining pairs

        Examples
        --------
        >>> rdd1 = sc.parallelize([("a", 1), ("b", 4), ("b", 5), ("a", 2)])
        >>> rdd2 = sc.parallelize([("a", 3), ("c", None)])
        >>> sorted(rdd1.subtractByKey(rdd2).collect())
        [('b', 4), ('b', 5)]
        """
        return _join.python_subtract_by_key(self, other, numPartitions)

    def subtract(self: RDD[T], other: RDD[T], numPartitions: int | None = None) -> RDD[T]:
        """The elements of this RDD that do not occur in other (duplicates kept).

        Parameters
        ----------
        other : :class:`RDD`
            another RDD
        numPartitions : int, optional
            partitions of the result (default as in :meth:`join`)

        Returns
        -------
        :class:`RDD`
            the remaining elements

        Examples
        --------
        >>> rdd1 = sc.parallelize([("a", 1), ("b", 4), ("b", 5), ("a", 3)])
        >>> rdd2 = sc.parallelize([("a", 3), ("c", None)])
        >>> sorted(rdd1.subtract(rdd2).collect())
        [('a', 1), ('b', 4), ('b', 5)]
        """
        return _join.python_subtract(self, other, numPartitions)

    def intersection(self: RDD[T], other: RDD[T]) -> RDD[T]:
        """The elements in both RDDs, each once (even when repeated in the inputs).

        Parameters
        ----------
        other : :class:`RDD`
            another RDD

        Returns
        -------
        :class:`RDD`
            the common elements; a shuffle into the sum of both partition counts

        Examples
        --------
        >>> rdd1 = sc.parallelize([1, 10, 2, 3, 4, 5])
        >>> rdd2 = sc.parallelize([1, 6, 2, 3, 7, 8])
        >>> sorted(rdd1.intersection(rdd2).collect())
        [1, 2, 3]
        """
        return _join.python_intersection(self, other)

    # ---- shuffles: sorting ---------------------------------------------------------------

    @overload
    def repartitionAndSortWithinPartitions(self: RDD[tuple[S, V]], numPartitions: int | None = ...,
                                           partitionFunc: Callable[[S], int] = ...,
                                           ascending: bool = ...) -> RDD[tuple[S, V]]: ...

    @overload
    def repartitionAndSortWithinPartitions(self: RDD[tuple[K, V]], numPartitions: int | None,
                                           partitionFunc: Callable[[K], int], ascending: bool,
                                           keyfunc: Callable[[K], S]) -> RDD[tuple[K, V]]: ...

    @overload
    def repartitionAndSortWithinPartitions(self: RDD[tuple[K, V]], numPartitions: int | None = ...,
                                           partitionFunc: Callable[[K], int] = ..., ascending: bool = ..., *,
                                           keyfunc: Callable[[K], S]) -> RDD[tuple[K, V]]: ...

    def repartitionAndSortWithinPartitions(self: RDD[tuple[Any, Any]], numPartitions: int | None = None,
                                           partitionFunc: Callable[[Any], int] = portable_hash,
                                           ascending: bool = True,
                                           keyfunc: Callable[[Any], Any] = identity) -> RDD[tuple[Any, Any]]:
        """Partitions (key, value) pairs with partitionFunc and sorts each partition by key.

        Each partition is sorted in its worker, in C (see :meth:`sortByKey`); past
        ``spark.python.worker.memory`` sorted runs spill to disk and are merged back.

        Parameters
        ----------
        numPartitions : int, optional
            partitions of the result (default as in :meth:`combineByKey`)
        partitionFunc : function, optional, default `portable_hash`
            maps a key to an int
        ascending : bool, optional, default True
            sort order
        keyfunc : function, optional
            sort by keyfunc(key) instead of the key

        Returns
        -------
        :class:`RDD`
            the repartitioned pairs, sorted within each partition

        Examples
        --------
        >>> rdd = sc.parallelize([(0, 5), (3, 8), (2, 6), (0, 8), (3, 8), (1, 3)])
        >>> rdd.repartitionAndSortWithinPartitions(2, lambda x: x % 2, True).glom().collect()
        [[(0, 5), (0, 8), (2, 6)], [(1, 3), (3, 8), (3, 8)]]
        """
        if numPartitions is None:
            numPartitions = self._default_partitions()
        return (self.partitionBy(numPartitions, partitionFunc)
                .mapPartitionsWithIndex(PartitionSorter(ascending, keyfunc, self._memory_limit()), True))

    @overload
    def sortByKey(self: RDD[tuple[S, V]], ascending: bool = ...,
                  numPartitions: int | None = ...) -> RDD[tuple[S, V]]: ...

    @overload
    def sortByKey(self: RDD[tuple[K, V]], ascending: bool, numPartitions: int | None,
                  keyfunc: Callable[[K], S]) -> RDD[tuple[K, V]]: ...

    @overload
    def sortByKey(self: RDD[tuple[K, V]], ascending: bool = ..., numPartitions: int | None = ..., *,
                  keyfunc: Callable[[K], S]) -> RDD[tuple[K, V]]: ...

    def sortByKey(self: RDD[tuple[Any, Any]], ascending: bool | None = True, numPartitions: int | None = None,
                  keyfunc: Callable[[Any], Any] = identity) -> RDD[tuple[Any, Any]]:
        """Sorts (key, value) pairs by key: partition i holds keys that sort before
        those of partition i + 1, and each partition is sorted.

        Unless numPartitions is 1 this runs a job at once: PySpark's count, then
        sample of the keys (``sample(False, fraction, 1)``, about 20 keys per output
        partition), done in one pass that draws the same random numbers, so the
        partition boundaries are PySpark's. The range partitioner runs in C. Each
        partition is then sorted in its worker, in C, keyfunc called once per record;
        past ``spark.python.worker.memory`` sorted runs spill to disk and a k-way merge
        streams them back.

        Parameters
        ----------
        ascending : bool, optional, default True
            sort order
        numPartitions : int, optional
            partitions of the result (default as in :meth:`combineByKey`)
        keyfunc : function, optional
            sort by keyfunc(key) instead of the key

        Returns
        -------
        :class:`RDD`
            the sorted pairs

        Examples
        --------
        >>> tmp = [('a', 1), ('b', 2), ('1', 3), ('d', 4), ('2', 5)]
        >>> sc.parallelize(tmp).sortByKey().first()
        ('1', 3)
        >>> sc.parallelize(tmp).sortByKey(True, 1).collect()
        [('1', 3), ('2', 5), ('a', 1), ('b', 2), ('d', 4)]
        >>> sc.parallelize(tmp).sortByKey(True, 2).glom().collect()
        [[('1', 3), ('2', 5), ('a', 1)], [('b', 2), ('d', 4)]]
        >>> sc.parallelize(tmp).sortByKey(False).collect()
        [('d', 4), ('b', 2), ('a', 1), ('2', 5), ('1', 3)]
        >>> tmp2 = [('Mary', 1), ('had', 2), ('a', 3), ('little', 4), ('lamb', 5)]
        >>> tmp2.extend([('whose', 6), ('fleece', 7), ('was', 8), ('white', 9)])
        >>> sc.parallelize(tmp2).sortByKey(True, 3, keyfunc=lambda k: k.lower()).collect()
        [('a', 3), ('fleece', 7), ('had', 2), ('lamb', 5),...('white', 9), ('whose', 6)]
        """
        return self._sort_by_key(bool(ascending), numPartitions, keyfunc)

    def _sort_by_key(self: RDD[tuple[Any, Any]], ascending: bool, numPartitions: int | None,
                     keyfunc: Callable[[Any], Any],
                     values: bool = False) -> RDD[Any]:
        """sortByKey; with values, the sorted pairs' values only (sortBy)."""
        if numPartitions is None:
            numPartitions = self._default_partitions()
        sorter = PartitionSorter(ascending, keyfunc, self._memory_limit(), values)
        if numPartitions == 1:
            rdd = self.coalesce(1) if self.getNumPartitions() > 1 else self
            return rdd.mapPartitionsWithIndex(sorter, not values)
        max_sample = numPartitions * 20.0
        src = self._computed_once()
        counted = src.mapPartitionsWithIndex(CountAndSample(max_sample)).collect()
        size = sum(n for n, _ in counted)
        if not size:
            return self.values() if values else self
        fraction = min(max_sample / size, 1.0)
        samples = sorted((k for _, kept in counted for u, k in kept if u < fraction), key=keyfunc)
        bounds = range_bounds(samples, numPartitions, keyfunc)
        keys = None if keyfunc is identity else keyfunc
        ranges = RangePartitioner(bounds, numPartitions, ascending, keys)
        return src.partitionBy(numPartitions, ranges).mapPartitionsWithIndex(sorter, not values)

    def _computed_once(self: RDD[T]) -> RDD[T]:
        """This RDD, or, when it runs Python functions and is not persisted, an RDD of
        the same elements whose partitions are kept in block files (DISK_ONLY) once
        computed: sortByKey's sample job computes them, and its shuffle reads them
        instead of running the functions again. It counts as cached, so that the
        steps over it read its blocks rather than fuse with its functions. The blocks
        are dropped as soon as the shuffle's map output is complete (a later job
        needing them again, after a lost shuffle file, runs the functions again)."""
        if not isinstance(self, PipelinedRDD) or self.is_cached:
            return self
        kept = self.mapPartitions(_pass_through, True)
        node = kept._node_obj_built()
        node.set_storage(_blocks.level_flags(StorageLevel.DISK_ONLY))
        node.drop_after_shuffle(True)
        kept.is_cached = True
        kept._storage_level = StorageLevel.DISK_ONLY
        return kept

    def sortBy(self: RDD[T], keyfunc: Callable[[T], S], ascending: bool = True,
               numPartitions: int | None = None) -> RDD[T]:
        """Sorts the elements by the key keyfunc computes from them (see :meth:`sortByKey`).

        Parameters
        ----------
        keyfunc : function
            computes an element's sort key
        ascending : bool, optional, default True
            sort order
        numPartitions : int, optional
            partitions of the result (default as in :meth:`combineByKey`)

        Returns
        -------
        :class:`RDD`
            the sorted elements

        Examples
        --------
        >>> tmp = [('a', 1), ('b', 2), ('1', 3), ('d', 4), ('2', 5)]
        >>> sc.parallelize(tmp).sortBy(lambda x: x[0]).collect()
        [('1', 3), ('2', 5), ('a', 1), ('b', 2), ('d', 4)]
        >>> sc.parallelize(tmp).sortBy(lambda x: x[1]).collect()
        [('a', 1), ('b', 2), ('1', 3), ('d', 4), ('2', 5)]
        """
        return self.keyBy(keyfunc)._sort_by_key(ascending, numPartitions, identity,  # type: ignore[type-var]
                                                values=True)

    # ---- actions: collecting -------------------------------------------------------------

    def _run(self, func: Any = None, partitions: Sequence[int] | None = None,
             on_partition: Callable[[int, list[Any]], None] | None = None) -> list[Any]:
        """Runs func(split, iterator) over partitions; returns each partition's
        decoded results as a list. Each partition is decoded as soon as its task
        finishes; on_partition(index, records), when given, receives it instead
        (index into partitions, completion order) and returns True to stop the
        job: no more tasks are launched, and the partitions not received stay None."""
        rdd = self if func is None else PipelinedRDD(self, [(OP_PARTITIONS, func)], None, fuse=False)
        loads = _load_batch
        n = rdd.getNumPartitions() if partitions is None else len(partitions)
        out = [None] * n

        def arrived(index: Any, batches: Any) -> Any:
            part = []
            for b in batches:
                part.extend(loads(b))
            if on_partition is not None:
                return on_partition(index, part)
            out[index] = part
            return False

        self.ctx._run_job(rdd._node, partitions, arrived)
        return out

    def collect(self: RDD[T]) -> list[T]:
        """All elements, in partition order.

        Examples
        --------
        >>> sc.parallelize([1, 2, 3], 2).collect()
        [1, 2, 3]
        """
        return [x for part in self._run() for x in part]

    def collectWithJobGroup(self: RDD[T], groupId: str, description: str,
                            interruptOnCancel: bool = False) -> list[T]:
        """All elements, in partition order, collected by a job in the given job group.

        Deprecated (as in PySpark 3.1): call :meth:`SparkContext.setJobGroup` in the
        thread, then :meth:`collect`; calling it emits a FutureWarning. As in PySpark,
        the group stays set for the calling thread's later jobs.

        Parameters
        ----------
        groupId : str
            The job group (:meth:`SparkContext.cancelJobGroup` cancels it).
        description : str
            A description of the group's jobs.
        interruptOnCancel : bool, optional
            Recorded; ember always kills a cancelled job's running tasks.

        Returns
        -------
        list

        Examples
        --------
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore", FutureWarning)
        ...     sc.parallelize([1, 2, 3], 2).collectWithJobGroup("collect-group", "doc")
        [1, 2, 3]
        >>> sc.statusTracker().getJobIdsForGroup("collect-group") != []
        True
        >>> sc.setJobGroup(None, None)
        """
        warnings.warn("collectWithJobGroup is deprecated since 3.1; call sc.setJobGroup() in the "
                      "thread, then collect()", FutureWarning, stacklevel=2)
        self.ctx.setJobGroup(groupId, description, interruptOnCancel)
        return self.collect()

    def collectAsMap(self: RDD[tuple[K, V]]) -> dict[K, V]:
        """The (key, value) pairs as a dict; for a repeated key the last value wins.

        Returns
        -------
        dict

        Examples
        --------
        >>> sc.parallelize([(1, 2), (3, 4), (1, 5)]).collectAsMap()
        {1: 5, 3: 4}
        """
        return dict(self.collect())

    def toLocalIterator(self: RDD[T], prefetchPartitions: bool = False) -> Iterator[T]:
        """An iterator over all elements that runs one job per partition, when the
        iterator reaches it: the driver holds one partition at a time.

        Parameters
        ----------
        prefetchPartitions : bool, optional
            Compute the next partition while the current one is consumed.

        Returns
        -------
        iterator

        Examples
        --------
        >>> list(sc.parallelize(range(10), 3).toLocalIterator())
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
        >>> list(sc.parallelize(range(5), 2).toLocalIterator(prefetchPartitions=True))
        [0, 1, 2, 3, 4]
        """
        n = self.getNumPartitions()

        def fetch(p: Any) -> Any:
            return self._run(None, [p])[0]

        def plain() -> Any:
            for p in range(n):
                yield from fetch(p)

        def prefetching() -> Any:
            from concurrent.futures import ThreadPoolExecutor
            with ThreadPoolExecutor(1, thread_name_prefix="ember-prefetch") as pool:
                ahead = pool.submit(fetch, 0) if n else None
                for p in range(n):
                    assert ahead is not None
                    part = ahead.result()
                    ahead = pool.submit(fetch, p + 1) if p + 1 < n else None
                    yield from part

        parts: Iterator[T] = prefetching() if prefetchPartitions else plain()
        return parts

    def take(self: RDD[T], num: int) -> list[T]:
        """The first num elements, scanning partitions in growing rounds (1
        partition, then more as PySpark does). A round's job stops as soon as the
        partitions from its first, in order, hold enough elements: no more of its
        tasks are launched.

        Examples
        --------
        >>> sc.parallelize([2, 3, 4, 5, 6], 3).take(2)
        [2, 3]
        >>> sc.parallelize(range(100), 100).take(3)
        [0, 1, 2]
        """
        num = int(num)
        items: list[T] = []
        total = self.getNumPartitions()
        scanned = 0
        while len(items) < num and scanned < total:
            if scanned == 0:
                want = 1
            elif not items:
                want = scanned * 4
            else:
                want = min(max(int(1.5 * num * scanned / len(items)) - scanned, 1), scanned * 4)
            parts = list(range(scanned, min(scanned + want, total)))
            left = num - len(items)

            def head(_: Any, it: Any, left: Any = left) -> Any:
                out = []
                if left > 0:
                    for x in it:
                        out.append(x)
                        if len(out) >= left:
                            break
                return out

            # Partitions arrive as their tasks finish; once those in order from the
            # round's first hold enough elements, the job stops launching tasks.
            got: dict[int, list[T]] = {}
            prefix = [0, 0]  # partitions in order received, their elements

            def arrived(index: Any, part: Any, got: Any = got, prefix: Any = prefix, left: Any = left) -> Any:
                got[index] = part
                while prefix[0] in got:
                    prefix[1] += len(got[prefix[0]])
                    prefix[0] += 1
                return prefix[1] >= left

            self._run(head, parts, arrived)
            for i in range(prefix[0]):
                items.extend(got[i])
            scanned += len(parts)
        return items[:num]

    def first(self: RDD[T]) -> T:
        """The first element; ValueError when the RDD is empty.

        Examples
        --------
        >>> sc.parallelize([2, 3, 4]).first()
        2
        """
        got = self.take(1)
        if not got:
            raise ValueError("RDD is empty")
        return got[0]

    def isEmpty(self) -> bool:
        """Whether the RDD has no element (it may still have partitions).

        Examples
        --------
        >>> sc.parallelize([], 2).isEmpty(), sc.parallelize([1]).isEmpty()
        (True, False)
        """
        return self.getNumPartitions() == 0 or len(self.take(1)) == 0

    def lookup(self: RDD[tuple[K, V]], key: K) -> list[V]:
        """The values of key. When the RDD has a partitioner only the partition that
        holds key is scanned.

        Parameters
        ----------
        key : the key to look for

        Returns
        -------
        list

        Examples
        --------
        >>> pairs = sc.parallelize([(x, x * x) for x in range(10)], 3)
        >>> pairs.lookup(3)
        [9]
        >>> pairs.partitionBy(4).lookup(5), pairs.lookup(42)
        ([25], [])
        """
        values = self.filter(lambda kv: kv[0] == key).values()
        if self.partitioner is not None:
            found: list[V] = values._run(None, [self.partitioner(key)])[0]
            return found
        return values.collect()

    @overload
    def takeOrdered(self: RDD[S], num: int) -> list[S]: ...

    @overload
    def takeOrdered(self: RDD[T], num: int, key: Callable[[T], S]) -> list[T]: ...

    def takeOrdered(self: RDD[T], num: int, key: Callable[[T], S] | None = None) -> list[T]:
        """The num smallest elements, in ascending order (of key(x) when given).

        Parameters
        ----------
        num : int
        key : function, optional

        Returns
        -------
        list

        Examples
        --------
        >>> sc.parallelize([10, 1, 2, 9, 3, 4, 5, 6, 7]).takeOrdered(6)
        [1, 2, 3, 4, 5, 6]
        >>> sc.parallelize([10, 1, 2, 9, 3, 4, 5, 6, 7], 2).takeOrdered(6, key=lambda x: -x)
        [10, 9, 7, 6, 5, 4]
        >>> sc.parallelize([1]).takeOrdered(-1)
        Traceback (most recent call last):
            ...
        ValueError: top N cannot be negative.
        """
        if num < 0:
            raise ValueError("top N cannot be negative.")
        if num == 0:
            return []
        return self._heap_select(num, key, False) or []

    @overload
    def top(self: RDD[S], num: int) -> list[S]: ...

    @overload
    def top(self: RDD[T], num: int, key: Callable[[T], S]) -> list[T]: ...

    def top(self: RDD[T], num: int, key: Callable[[T], S] | None = None) -> list[T]:
        """The num largest elements, in descending order (of key(x) when given).

        Parameters
        ----------
        num : int
        key : function, optional

        Returns
        -------
        list

        Examples
        --------
        >>> sc.parallelize([10, 4, 2, 12, 3]).top(1)
        [12]
        >>> sc.parallelize([2, 3, 4, 5, 6], 2).top(2)
        [6, 5]
        >>> sc.parallelize([10, 4, 2, 12, 3]).top(3, key=str)
        [4, 3, 2]
        """
        largest = self._heap_select(num, key, True)
        if largest is None:
            raise ValueError("Can not reduce() empty RDD")
        return largest

    def _heap_select(self: RDD[T], num: int, key: Callable[[T], S] | None,
                     descending: bool) -> list[T] | None:
        """The first num of each partition's elements sorted by key (what heapq.nsmallest,
        or nlargest when descending, selects; in C), then of their union; None for an RDD
        with no partitions."""
        parts = [p[0] for p in self._run(lambda _, it: [take_ordered(num, it, key, descending)])]
        if not parts:
            return None
        selected: list[T] = _reduce(lambda a, b: take_ordered(num, a + b, key, descending), parts)
        return selected

    # ---- actions: counting ---------------------------------------------------------------

    def count(self) -> int:
        """The number of elements.

        Examples
        --------
        >>> sc.parallelize([2, 3, 4]).count()
        3
        """
        return sum(n for part in self._run(_commands.count) for n in part)

    def countByValue(self: RDD[K]) -> dict[K, int]:
        """How many times each distinct element occurs.

        Returns
        -------
        collections.defaultdict
            element -> count.

        Examples
        --------
        >>> sorted(sc.parallelize([1, 2, 1, 2, 2], 2).countByValue().items())
        [(1, 2), (2, 3)]
        """
        parts = self._run(_count_values)
        if not parts:  # as PySpark, which reduces the partitions' counts
            raise ValueError("Can not reduce() empty RDD")
        total: defaultdict[K, int] = defaultdict(int)
        for part in parts:
            for counts in part:
                _core.count_values(counts.items(), total, True)
        return total

    def countByKey(self: RDD[tuple[K, V]]) -> dict[K, int]:
        """How many pairs each key has.

        Returns
        -------
        collections.defaultdict
            key -> count.

        Examples
        --------
        >>> sorted(sc.parallelize([("a", 1), ("b", 1), ("a", 1)]).countByKey().items())
        [('a', 2), ('b', 1)]
        """
        return self._pipe((_core.OP_KEYS, None)).countByValue()

    # ---- actions: folds and aggregates ---------------------------------------------------

    def reduce(self: RDD[T], f: Callable[[T, T], T]) -> T:
        """Reduces the elements with a commutative, associative binary function.

        Examples
        --------
        >>> from operator import add
        >>> sc.parallelize([1, 2, 3, 4, 5]).reduce(add)
        15
        """
        sentinel = object()

        def part(_: Any, it: Any) -> Any:
            acc: Any = sentinel
            for x in it:
                acc = x if acc is sentinel else f(acc, x)
            return [] if acc is sentinel else [acc]

        vals = [v for p in self._run(part) for v in p]
        if not vals:
            raise ValueError("Can not reduce() empty RDD")
        reduced: T = _reduce(f, vals)
        return reduced

    def fold(self: RDD[T], zeroValue: T, op: Callable[[T, T], T]) -> T:
        """Folds each partition, then the partition results, with op starting from
        zeroValue: the zero is used once per partition and once more on the driver.
        Every use gets its own deep copy, so op may mutate its first argument.

        Parameters
        ----------
        zeroValue : the neutral element of op
        op : function (acc, x) -> acc

        Examples
        --------
        >>> from operator import add
        >>> sc.parallelize([1, 2, 3, 4, 5]).fold(0, add)
        15
        >>> sc.parallelize([1, 2, 3], 3).fold(10, add)
        46
        """
        def fold_partition(_: Any, it: Any) -> Any:
            acc = copy.deepcopy(zeroValue)
            for x in it:
                acc = op(acc, x)
            return [acc]

        vals = [v for p in self._run(fold_partition) for v in p]
        return _reduce(op, vals, copy.deepcopy(zeroValue))

    def aggregate(self: RDD[T], zeroValue: U, seqOp: Callable[[U, T], U], combOp: Callable[[U, U], U]) -> U:
        """Aggregates each partition with seqOp from zeroValue, then combines the
        partition results with combOp from zeroValue. Every use of the zero is a deep
        copy, so both functions may mutate and return their first argument.

        Parameters
        ----------
        zeroValue : the initial accumulator
        seqOp : function (acc, x) -> acc
        combOp : function (acc, acc) -> acc

        Examples
        --------
        >>> seqOp = (lambda x, y: (x[0] + y, x[1] + 1))
        >>> combOp = (lambda x, y: (x[0] + y[0], x[1] + y[1]))
        >>> sc.parallelize([1, 2, 3, 4]).aggregate((0, 0), seqOp, combOp)
        (10, 4)
        >>> sc.parallelize([]).aggregate((0, 0), seqOp, combOp)
        (0, 0)
        """
        def aggregate_partition(_: Any, it: Any) -> Any:
            acc = copy.deepcopy(zeroValue)
            for x in it:
                acc = seqOp(acc, x)
            return [acc]

        vals = [v for p in self._run(aggregate_partition) for v in p]
        return _reduce(combOp, vals, copy.deepcopy(zeroValue))

    def treeAggregate(self: RDD[T], zeroValue: U, seqOp: Callable[[U, T], U], combOp: Callable[[U, U], U],
                      depth: int = 2) -> U:
        """Like aggregate, but partition results are combined in a tree of shuffles of
        the given depth instead of all on the driver. The zero is used (deep-copied)
        once per partition only.

        Parameters
        ----------
        zeroValue : the initial accumulator
        seqOp : function (acc, x) -> acc
        combOp : function (acc, acc) -> acc
        depth : int, optional
            The suggested depth of the tree (default 2).

        Examples
        --------
        >>> add = lambda x, y: x + y
        >>> rdd = sc.parallelize([-5, -4, -3, -2, -1, 1, 2, 3, 4], 10)
        >>> rdd.treeAggregate(0, add, add), rdd.treeAggregate(0, add, add, 1), rdd.treeAggregate(0, add, add, 5)
        (-5, -5, -5)
        """
        if depth < 1:
            raise ValueError("Depth cannot be smaller than 1 but got %d." % depth)
        if self.getNumPartitions() == 0:
            return copy.deepcopy(zeroValue)

        def aggregate_partition(_: Any, it: Any) -> Any:
            acc = copy.deepcopy(zeroValue)
            for x in it:
                acc = seqOp(acc, x)
            return [acc]

        partial = self.mapPartitionsWithIndex(aggregate_partition)
        n: float = partial.getNumPartitions()
        scale = max(int(math.ceil(pow(n, 1.0 / depth))), 2)
        # Add a level only while it makes the last one smaller.
        while n > scale + n / scale:
            n /= scale
            target = int(n)

            def keyed(i: int, it: Iterable[U], target: int = target) -> Iterator[tuple[int, U]]:
                return ((i % target, x) for x in it)

            partial = partial.mapPartitionsWithIndex(keyed).reduceByKey(combOp, target).values()
        aggregated: U = partial.reduce(combOp)
        return aggregated

    def treeReduce(self: RDD[T], f: Callable[[T, T], T], depth: int = 2) -> T:
        """Reduces the elements with f in a tree of the given depth.

        Parameters
        ----------
        f : function
            An associative, commutative binary function.
        depth : int, optional
            The suggested depth of the tree (default 2).

        Examples
        --------
        >>> add = lambda x, y: x + y
        >>> rdd = sc.parallelize([-5, -4, -3, -2, -1, 1, 2, 3, 4], 10)
        >>> rdd.treeReduce(add), rdd.treeReduce(add, 1), rdd.treeReduce(add, 5)
        (-5, -5, -5)
        >>> sc.parallelize([], 2).treeReduce(add)
        Traceback (most recent call last):
            ...
        ValueError: Cannot reduce empty RDD.
        """
        if depth < 1:
            raise ValueError("Depth cannot be smaller than 1 but got %d." % depth)
        empty = (None, True)  # (value, is the dummy zero)

        def op(x: Any, y: Any) -> Any:
            if x[1]:
                return y
            if y[1]:
                return x
            return f(x[0], y[0]), False

        value, dummy = self.map(lambda x: (x, False)).treeAggregate(empty, op, op, depth)
        if dummy:
            raise ValueError("Cannot reduce empty RDD.")
        return value  # type: ignore[return-value]  # (value, False): a T

    def reduceByKeyLocally(self: RDD[tuple[K, V]], func: Callable[[V, V], V]) -> dict[K, V]:
        """Merges the values of each key with func and returns the result to the
        driver as a dict, without a shuffle.

        Parameters
        ----------
        func : function
            An associative, commutative binary function.

        Returns
        -------
        dict

        Examples
        --------
        >>> from operator import add
        >>> sorted(sc.parallelize([("a", 1), ("b", 1), ("a", 1)]).reduceByKeyLocally(add).items())
        [('a', 2), ('b', 1)]
        """
        def reduce_partition(_: Any, it: Any) -> Any:
            m: dict[Any, Any] = {}
            for k, v in it:
                m[k] = func(m[k], v) if k in m else v
            return [m]

        parts = self._run(reduce_partition)
        if not parts:  # as PySpark, which reduces the partitions' dicts
            raise ValueError("Can not reduce() empty RDD")
        merged: dict[K, V] = {}
        for part in parts:
            for m in part:
                for k, v in m.items():
                    merged[k] = func(merged[k], v) if k in merged else v
        return merged

    def sum(self: RDD[NumberOrArray]) -> NumberOrArray:
        """The sum of the elements (0 for an empty RDD).

        Examples
        --------
        >>> sc.parallelize([1.0, 2.0, 3.0]).sum()
        6.0
        """
        total: NumberOrArray = sum((v for p in self._run(_commands.total) for v in p), 0)
        return total

    @overload
    def max(self: RDD[S]) -> S: ...

    @overload
    def max(self: RDD[T], key: Callable[[T], S]) -> T: ...

    def max(self: RDD[T], key: Callable[[T], S] | None = None) -> T:
        """The largest element (by key(x) when given).

        Examples
        --------
        >>> sc.parallelize([1.0, 5.0, 43.0, 10.0]).max()
        43.0
        >>> sc.parallelize([1.0, 5.0, 43.0, 10.0]).max(key=str)
        5.0
        """
        if key is None:
            return self.reduce(max)  # type: ignore[arg-type]  # T is ordered here (the first overload)
        return self.reduce(lambda a, b: max(a, b, key=key))

    @overload
    def min(self: RDD[S]) -> S: ...

    @overload
    def min(self: RDD[T], key: Callable[[T], S]) -> T: ...

    def min(self: RDD[T], key: Callable[[T], S] | None = None) -> T:
        """The smallest element (by key(x) when given).

        Examples
        --------
        >>> sc.parallelize([2.0, 5.0, 43.0, 10.0]).min()
        2.0
        >>> sc.parallelize([2.0, 5.0, 43.0, 10.0]).min(key=str)
        10.0
        """
        if key is None:
            return self.reduce(min)  # type: ignore[arg-type]  # T is ordered here (the first overload)
        return self.reduce(lambda a, b: min(a, b, key=key))

    # ---- actions: statistics -------------------------------------------------------------

    def stats(self: RDD[NumberOrArray]) -> StatCounter:
        """A StatCounter of the elements: count, mean, variance, min, max in one pass.

        Returns
        -------
        StatCounter

        Examples
        --------
        >>> sc.parallelize([1.0, 2.0, 3.0, 4.0], 2).stats()
        (count: 4, mean: 2.5, stdev: 1.118033988749895, max: 4.0, min: 1.0)
        """
        from ember.statcounter import StatCounter
        counters = [c for p in self._run(lambda _, it: [StatCounter(it)]) for c in p]
        if not counters:
            raise ValueError("Can not reduce() empty RDD")
        merged: StatCounter = _reduce(lambda a, b: a.mergeStats(b), counters)
        return merged

    def mean(self: RDD[NumberOrArray]) -> float:
        """The mean of the elements.

        Examples
        --------
        >>> sc.parallelize([1, 2, 3]).mean()
        2.0
        """
        return self.stats().mean()

    def variance(self: RDD[NumberOrArray]) -> float:
        """The population variance of the elements (divides by n).

        Examples
        --------
        >>> sc.parallelize([1, 2, 3]).variance()
        0.6666666666666666
        """
        return self.stats().variance()

    def stdev(self: RDD[NumberOrArray]) -> float:
        """The population standard deviation of the elements.

        Examples
        --------
        >>> print(sc.parallelize([1, 2, 3]).stdev())
        0.816496580927726
        """
        return self.stats().stdev()

    def sampleVariance(self: RDD[NumberOrArray]) -> float:
        """The sample variance of the elements (divides by n - 1).

        Examples
        --------
        >>> sc.parallelize([1, 2, 3]).sampleVariance()
        1.0
        """
        return self.stats().sampleVariance()

    def sampleStdev(self: RDD[NumberOrArray]) -> float:
        """The sample standard deviation of the elements.

        Examples
        --------
        >>> print(sc.parallelize([1, 2, 3]).sampleStdev())
        1.0
        """
        return self.stats().sampleStdev()

    def histogram(self: RDD[S], buckets: int | list[S] | tuple[S, ...]) -> tuple[Sequence[S], list[int]]:
        """Counts the elements falling in buckets.

        With an int b, b evenly spaced buckets between the smallest and largest
        element (None and NaN ignored; integral bounds kept as ints when exact). With a
        sorted list of at least two distinct bounds ``[b0, b1, ..., bn]`` the buckets are
        ``[b0, b1), [b1, b2), ..., [bn-1, bn]`` (the last one closed). Elements outside
        are ignored.

        Parameters
        ----------
        buckets : int, list or tuple

        Returns
        -------
        tuple
            (bucket bounds, counts).

        Examples
        --------
        >>> rdd = sc.parallelize(range(51))
        >>> rdd.histogram(2)
        ([0, 25, 50], [25, 26])
        >>> rdd.histogram([0, 5, 25, 50])
        ([0, 5, 25, 50], [5, 20, 26])
        >>> rdd.histogram([0, 15, 30, 45, 60])  # evenly spaced buckets
        ([0, 15, 30, 45, 60], [15, 15, 15, 6])
        >>> sc.parallelize(["ab", "ac", "b", "bd", "ef"]).histogram(("a", "b", "c"))
        (('a', 'b', 'c'), [2, 2])
        """
        if isinstance(buckets, int):
            if buckets < 1:
                raise ValueError("number of buckets must be >= 1")
            filtered = self.filter(_comparable)
            minmax = [v for p in filtered._run(_min_max_partition) for v in p]
            if not minmax:
                raise ValueError("Can not reduce() empty RDD")
            minv = min(m[0] for m in minmax)
            maxv = max(m[1] for m in minmax)
            if minv == maxv or buckets == 1:
                return [minv, maxv], [filtered.count()]
            try:
                inc = (maxv - minv) / buckets
            except TypeError:
                raise TypeError("Can not generate buckets with non-number in RDD") from None
            if math.isinf(inc):
                raise ValueError("Can not generate buckets with infinite value")
            inc = int(inc)  # keep integral bounds integral when that is exact
            if inc * buckets != maxv - minv:
                inc = (maxv - minv) * 1.0 / buckets
            bounds = [i * inc + minv for i in range(buckets)]
            bounds.append(maxv)  # the last bound exactly, without accumulated error
            even = True
        elif isinstance(buckets, (list, tuple)):
            if len(buckets) < 2:
                raise ValueError("buckets should have more than one value")
            if any(b is None or isinstance(b, float) and math.isnan(b) for b in buckets):
                raise ValueError("can not have None or NaN in buckets")
            if sorted(buckets) != list(buckets):
                raise ValueError("buckets should be sorted")
            if len(set(buckets)) != len(buckets):
                raise ValueError("buckets should not contain duplicated values")
            given: Any = buckets  # a sorted list or tuple of bounds
            bounds = given
            minv, maxv = given[0], given[-1]
            even, inc = False, None
            try:
                steps = [given[i + 1] - given[i] for i in range(len(given) - 1)]
            except TypeError:
                pass  # bounds without '-' (strings): bisect
            else:
                if max(steps) - min(steps) < 1e-10:  # evenly spaced, up to rounding
                    even = True
                    inc = (maxv - minv) / (len(buckets) - 1)
        else:
            raise TypeError("buckets should be a list or tuple or number(int or long)")

        nb = len(bounds)

        def count_partition(_: Any, it: Any) -> Any:
            counts = [0] * nb
            for x in it:
                if x is None or (isinstance(x, float) and math.isnan(x)) or x > maxv or x < minv:
                    continue
                i = int((x - minv) / inc) if even else bisect.bisect_right(bounds, x) - 1
                counts[i] += 1
            last = counts.pop()  # the maximum itself belongs to the last, closed bucket
            counts[-1] += last
            return [counts]

        parts = [c for p in self._run(count_partition) for c in p]
        if not parts:
            raise ValueError("Can not reduce() empty RDD")
        return bounds, _reduce(lambda a, b: [x + y for x, y in zip(a, b)], parts)

    # ---- actions: approximate ------------------------------------------------------------

    def countApprox(self, timeout: int, confidence: float = 0.95) -> int:
        """The number of elements. ember always computes it exactly (it does not stop
        at the timeout); timeout and confidence are accepted for compatibility.

        Parameters
        ----------
        timeout : int
            Milliseconds (ignored).
        confidence : float, optional
            Between 0 and 1 (default 0.95).

        Examples
        --------
        >>> sc.parallelize(range(1000), 10).countApprox(1000, 1.0)
        1000
        """
        _check_confidence(confidence)
        return self.count()

    def sumApprox(self: RDD[float | int], timeout: int, confidence: float = 0.95) -> BoundedFloat:
        """The sum of the elements as a BoundedFloat; ember computes it exactly, so
        confidence is 1.0 and low == high == the sum.

        Examples
        --------
        >>> r = sc.parallelize(range(1000), 10).sumApprox(1000)
        >>> r, r.confidence, r.low, r.high
        (499500.0, 1.0, 499500.0, 499500.0)
        """
        _check_confidence(confidence)
        total = float(sum(v for p in self._run(lambda _, it: [float(sum(it))]) for v in p))
        return BoundedFloat(total, 1.0, total, total)

    def meanApprox(self: RDD[float | int], timeout: int, confidence: float = 0.95) -> BoundedFloat:
        """The mean of the elements as a BoundedFloat; computed exactly (see sumApprox).

        Examples
        --------
        >>> sc.parallelize(range(1000), 10).meanApprox(1000)
        499.5
        """
        from ember.statcounter import StatCounter
        _check_confidence(confidence)
        counters = [c for p in self._run(lambda _, it: [StatCounter(float(x) for x in it)]) for c in p]
        mean = float(_reduce(lambda a, b: a.mergeStats(b), counters, StatCounter()).mean())
        return BoundedFloat(mean, 1.0, mean, mean)

    def countApproxDistinct(self, relativeSD: float = 0.05) -> int:
        """An estimate of the number of distinct elements, by HyperLogLog over
        ``portable_hash(x) & 0xFFFFFFFF``.

        Parameters
        ----------
        relativeSD : float, optional
            Relative accuracy; smaller values use more memory. Must be greater than
            0.000017.

        Examples
        --------
        >>> n = sc.parallelize(range(1000)).map(str).countApproxDistinct()
        >>> 900 < n < 1100
        True
        >>> n = sc.parallelize([i % 20 for i in range(1000)]).countApproxDistinct()
        >>> 16 < n < 24
        True
        """
        if relativeSD < 0.000017:
            raise ValueError("relativeSD should be greater than 0.000017")
        from ember import _hyperloglog as hll
        p = hll.precision(relativeSD)

        def sketch_partition(_: Any, it: Any) -> Any:
            return [hll.sketch((portable_hash(x) & 0xFFFFFFFF for x in it), p)]

        sketches = [s for part in self._run(sketch_partition) for s in part]
        if not sketches:
            return 0
        estimate: int = hll.estimate(_reduce(hll.merge, sketches), p)
        return estimate

    # ---- actions: side effects -----------------------------------------------------------

    def foreach(self: RDD[T], f: Callable[[T], None]) -> None:
        """Applies f to every element, in the workers, for its side effects.

        Examples
        --------
        >>> sc.parallelize([1, 2, 3]).foreach(lambda x: None)
        """
        def run(_: Any, it: Any) -> Any:
            for x in it:
                f(x)
            return []

        self._run(run)

    def foreachPartition(self: RDD[T], f: Callable[[Iterable[T]], object]) -> None:
        """Applies f to each partition's iterator, in the workers, for its side effects.

        Examples
        --------
        >>> sc.parallelize([1, 2, 3], 2).foreachPartition(lambda it: sum(it))
        """
        def run(_: Any, it: Any) -> Any:
            r: Any = f(it)
            try:
                results = iter(r)
            except TypeError:
                return []
            for _ in results:  # as in PySpark, an iterable result is run through
                pass
            return []

        self._run(run)

    # ---- output --------------------------------------------------------------------------

    def saveAsTextFile(self, path: str, compressionCodecClass: str | None = None) -> None:
        """Writes the elements as lines of text files ``part-NNNNN`` in a new directory,
        committed (with ``_SUCCESS``) only when every task succeeded.

        Parameters
        ----------
        path : str
            A directory that must not exist yet.
        compressionCodecClass : str, optional
            A Hadoop codec class name: ``org.apache.hadoop.io.compress.GzipCodec``
            (``part-NNNNN.gz``), ``BZip2Codec`` (``.bz2``), ``ZStandardCodec`` (``.zst``),
            ``DefaultCodec`` or ``DeflateCodec`` (``.deflate``, a zlib stream).
            ``Lz4Codec`` and ``SnappyCodec`` raise NotImplementedError.

        Examples
        --------
        >>> import os, tempfile
        >>> out = os.path.join(tempfile.mkdtemp(), "out")
        >>> sc.parallelize(["a", "b", "c"], 2).saveAsTextFile(out)
        >>> sorted(os.listdir(out))
        ['_SUCCESS', 'part-00000', 'part-00001']
        >>> sc.textFile(out).collect()
        ['a', 'b', 'c']
        >>> gz = os.path.join(tempfile.mkdtemp(), "gz")
        >>> sc.parallelize(["a", "b"], 1).saveAsTextFile(gz, "org.apache.hadoop.io.compress.GzipCodec")
        >>> sorted(os.listdir(gz)), sc.textFile(gz).collect()
        (['_SUCCESS', 'part-00000.gz'], ['a', 'b'])
        """
        from ember import _files
        codec, ext = _files.text_codec(compressionCodecClass)
        path = os.path.abspath(os.fspath(path))
        if os.path.exists(path):
            raise FileExistsError(
                f"Output directory {path} already exists; remove it or write to another path")
        parent = os.path.dirname(path)
        os.makedirs(parent, exist_ok=True)
        import uuid
        tmp = os.path.join(parent, f".{os.path.basename(path)}.ember-{uuid.uuid4().hex}")
        os.mkdir(tmp)

        def write(split: Any, it: Any) -> Any:
            _files.write_text_part(os.path.join(tmp, f"part-{split:05d}{ext}"), it, codec)
            return []

        try:
            self._run(write)
            open(os.path.join(tmp, "_SUCCESS"), "wb").close()
            os.rename(tmp, path)
        except BaseException:
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def saveAsPickleFile(self, path: str, batchSize: int = 10) -> None:
        """Writes the elements as pickled batches into a new directory, one
        ``part-NNNNN`` file per partition (with Hadoop's ``.part-NNNNN.crc``) plus
        ``_SUCCESS``, in PySpark's format: Hadoop SequenceFiles whose values hold
        Java-serialized arrays of pickled batches (``ember._hadoop``). ``sc.pickleFile``
        reads it back, in ember or in PySpark.

        Parameters
        ----------
        path : str
            A directory that must not exist yet.
        batchSize : int, optional
            Elements per pickled batch (default 10; 0 chooses sizes automatically).

        Examples
        --------
        >>> import os, tempfile
        >>> out = os.path.join(tempfile.mkdtemp(), "pickled")
        >>> sc.parallelize(range(10), 2).saveAsPickleFile(out, 3)
        >>> sorted(os.listdir(out))
        ['.part-00000.crc', '.part-00001.crc', '_SUCCESS', 'part-00000', 'part-00001']
        >>> sorted(sc.pickleFile(out).collect())
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
        """
        from ember import _files
        batch = int(batchSize)
        if batch < 0:
            raise ValueError(f"batchSize must be >= 0 (0 = automatic), got {batchSize}")
        _files.save_partitions(self, path, lambda name, it: _files.write_pickle_part(name, it, batch))

    def saveAsSequenceFile(self: RDD[tuple[K, V]], path: str, compressionCodecClass: str | None = None) -> None:
        """Writes an RDD of (key, value) pairs as Hadoop SequenceFiles (``part-NNNNN``,
        each with Hadoop's ``.crc`` checksum file, and ``_SUCCESS``), converting keys and
        values to Writables as PySpark does: the classes come from the first pair (str:
        Text, int: IntWritable if it fits 32 bits else LongWritable, float:
        DoubleWritable, bool: BooleanWritable, bytes/bytearray: BytesWritable, None:
        NullWritable) and every pair must convert to the same classes (an int may also
        go into a LongWritable). PySpark and Hadoop read the files; so does
        ``sc.sequenceFile``.

        Parameters
        ----------
        path : str
            A directory that must not exist yet.
        compressionCodecClass : str, optional
            Not supported (ember writes uncompressed SequenceFiles); must be None.

        Examples
        --------
        >>> import os, tempfile
        >>> out = os.path.join(tempfile.mkdtemp(), "seq")
        >>> sc.parallelize([(1, "one"), (2, "two")], 2).saveAsSequenceFile(out)
        >>> sorted(sc.sequenceFile(out).collect())
        [(1, 'one'), (2, 'two')]
        """
        from ember import _files, _hadoop
        if compressionCodecClass is not None:
            raise NotImplementedError(
                f"saveAsSequenceFile(compressionCodecClass={compressionCodecClass!r}): ember writes uncompressed "
                "SequenceFiles only; leave compressionCodecClass out, or use saveAsTextFile with a codec")
        try:
            first = self.first()
        except ValueError:
            raise ValueError("saveAsSequenceFile: the RDD is empty, so there is no pair to take the key and "
                             "value classes from (as in PySpark)") from None
        if not isinstance(first, tuple) or len(first) != 2:
            raise TypeError(f"saveAsSequenceFile needs (key, value) pairs; the first element is {first!r}")
        kc, vc = _hadoop.writable_for(first[0]), _hadoop.writable_for(first[1])
        _files.save_partitions(self, path, lambda name, it: _files.write_sequence_part(name, it, kc, vc))

    # ---- barrier execution ---------------------------------------------------------------

    def barrier(self: RDD[T]) -> RDDBarrier[T]:
        """Marks the current stage as a barrier stage: its tasks are launched
        together, and a failed task restarts all of them. The functions given to the
        returned RDDBarrier can synchronise with ``BarrierTaskContext``.

        The context needs a task slot for each partition (``local[N]`` with N at
        least the number of partitions), else the job fails at once.

        Returns
        -------
        :class:`RDDBarrier`

        Examples
        --------
        >>> def sizes(it):
        ...     return [len(BarrierTaskContext.get().allGather(str(sum(it))))]
        >>> sc.parallelize(range(4), 2).barrier().mapPartitions(sizes).collect()
        [2, 2]
        """
        return RDDBarrier(self)

    # ---- not available in ember: Hadoop output formats, SQL, resource profiles -----------

    def saveAsHadoopFile(self, path: str, outputFormatClass: str, keyClass: str | None = None,
                         valueClass: str | None = None, keyConverter: str | None = None,
                         valueConverter: str | None = None, conf: dict[str, str] | None = None,
                         compressionCodecClass: str | None = None) -> NoReturn:
        """Not available: Hadoop OutputFormats need the JVM. Use saveAsPickleFile or
        saveAsTextFile."""
        raise NotImplementedError(_no_jvm("saveAsHadoopFile", _OUTPUTS))

    def saveAsNewAPIHadoopFile(self, path: str, outputFormatClass: str, keyClass: str | None = None,
                               valueClass: str | None = None, keyConverter: str | None = None,
                               valueConverter: str | None = None, conf: dict[str, str] | None = None) -> NoReturn:
        """Not available: Hadoop OutputFormats need the JVM. Use saveAsPickleFile or
        saveAsTextFile."""
        raise NotImplementedError(_no_jvm("saveAsNewAPIHadoopFile", _OUTPUTS))

    def saveAsHadoopDataset(self, conf: dict[str, str], keyConverter: str | None = None,
                            valueConverter: str | None = None) -> NoReturn:
        """Not available: Hadoop OutputFormats need the JVM. Use saveAsPickleFile or
        saveAsTextFile."""
        raise NotImplementedError(_no_jvm("saveAsHadoopDataset", _OUTPUTS))

    def saveAsNewAPIHadoopDataset(self, conf: dict[str, str], keyConverter: str | None = None,
                                  valueConverter: str | None = None) -> NoReturn:
        """Not available: Hadoop OutputFormats need the JVM. Use saveAsPickleFile or
        saveAsTextFile."""
        raise NotImplementedError(_no_jvm("saveAsNewAPIHadoopDataset", _OUTPUTS))

    def toDF(self, schema: Any = None, sampleRatio: float | None = None) -> DataFrame:
        """Not available: DataFrames belong to Spark SQL, which ember does not provide.
        Collect the rows (or toLocalIterator) into pandas or another DataFrame library."""
        raise NotImplementedError(
            "toDF() needs Spark SQL, which ember does not provide; collect() or toLocalIterator() "
            "the rows into a DataFrame library such as pandas instead")

    def withResources(self, profile: Any) -> NoReturn:
        """Not available: stage-level resource profiles need a cluster manager that
        allocates executors per stage; ember's tasks all use the same workers."""
        raise NotImplementedError(
            "withResources() needs stage-level resource scheduling, which ember does not have (all "
            "stages share the same workers); size the workers with the master URL (local[N]) instead")

    def getResourceProfile(self) -> None:
        """Not available: see withResources."""
        raise NotImplementedError(
            "getResourceProfile(): ember has no stage-level resource profiles (all stages share the "
            "same workers); read the worker count from sc.defaultParallelism instead")


class PipelinedRDD(RDD[T_co]):
    """An RDD made by narrow Python transformations of a parent; consecutive ones
    fuse into one command (one pass, one worker round trip per partition)."""

    def __init__(self, prev: RDD[Any], ops: list[Any], partitioner: Partitioner | None = None, fuse: bool = True,
                 barrier: bool = False) -> None:
        self._parent: RDD[Any]
        self._ops: list[Any]
        if (fuse and isinstance(prev, PipelinedRDD) and not prev.is_cached and not prev.is_checkpointed
                and not prev._local_checkpoint):
            self._parent = prev._parent
            self._ops = prev._ops + ops
            barrier = barrier or prev._barrier  # fused with a barrier RDD's command: one node
        else:
            self._parent = prev
            self._ops = ops
        self._barrier = barrier
        super().__init__(prev.ctx, None, partitioner)

    @property
    def _node(self) -> _core.Node:
        if self._checkpoint_node is not None:
            return self._checkpoint_node
        if self._node_obj is None:
            collector = self.ctx.profiler_collector
            profiler = collector.new_profiler(self.ctx) if collector is not None else None
            ops = self._ops if profiler is None else [(_profiler.OP_PROFILER, profiler)] + self._ops
            command, self._broadcasts = _broadcast._dumps_holding(_commands.dumps_command, ops)
            self._node_obj = self.ctx._core.pipeline(self._parent._node, command)
            if self._barrier:
                self._node_obj.set_barrier(True)
            self.ctx._node_info[self._node_obj.id] = (None, self._site, self._name)
            if collector is not None and profiler is not None:
                collector.add_profiler(self._node_obj.id, profiler)
        return self._node_obj

    def getNumPartitions(self) -> int:
        return self._parent.getNumPartitions()

    def _steps(self) -> tuple[list[str], tuple[RDD[Any], ...]]:
        return [_OP_NAMES.get(kind, "mapPartitions") for kind, _ in self._ops], (self._parent,)

class RDDBarrier(Generic[T]):
    """An RDD waiting for the function of a barrier stage (made by
    :meth:`RDD.barrier`): its methods return the resulting RDD, whose tasks all run
    at the same time.

    Examples
    --------
    >>> b = sc.parallelize([1, 2, 3], 2).barrier()
    >>> b
    RDDBarrier(...)
    >>> b.mapPartitions(lambda it: [BarrierTaskContext.get().partitionId()]).collect()
    [0, 1]
    """

    def __init__(self, rdd: RDD[T]) -> None:
        self.rdd = rdd

    def __repr__(self) -> str:
        return f"RDDBarrier({self.rdd!r})"

    def _stage(self, f: Callable[[int, Iterable[T]], Iterable[Any]], preservesPartitioning: bool) -> RDD[Any]:
        timeout = self.rdd.ctx.getConf().get("spark.barrier.sync.timeout", "365d")
        op = (OP_PARTITIONS, _BarrierFunction(f, timeout))
        return PipelinedRDD(self.rdd, [op], self.rdd.partitioner if preservesPartitioning else None, barrier=True)

    def mapPartitions(self, f: Callable[[Iterable[T]], Iterable[U]],
                      preservesPartitioning: bool = False) -> RDD[U]:
        """Applies f to each partition's iterator, in a barrier stage: inside f,
        ``BarrierTaskContext.get()`` gives ``barrier()`` and ``allGather()``.

        Parameters
        ----------
        f : function
            Called with the partition's iterator; returns an iterable.
        preservesPartitioning : bool, optional
            Whether f keeps the keys, so that the partitioner still holds.

        Returns
        -------
        :class:`RDD`

        Examples
        --------
        >>> def total(it):
        ...     ctx = BarrierTaskContext.get()
        ...     return [sum(int(m) for m in ctx.allGather(str(sum(it))))]
        >>> sc.parallelize(range(6), 2).barrier().mapPartitions(total).collect()
        [15, 15]
        """
        return self._stage(lambda _, it: f(it), preservesPartitioning)

    def mapPartitionsWithIndex(self, f: Callable[[int, Iterable[T]], Iterable[U]],
                               preservesPartitioning: bool = False) -> RDD[U]:
        """Applies f(partitionIndex, iterator) to each partition, in a barrier stage.

        Parameters
        ----------
        f : function
            Called with the partition index and the partition's iterator; returns an
            iterable.
        preservesPartitioning : bool, optional
            Whether f keeps the keys, so that the partitioner still holds.

        Returns
        -------
        :class:`RDD`

        Examples
        --------
        >>> def tag(i, it):
        ...     BarrierTaskContext.get().barrier()
        ...     return [(i, x) for x in it]
        >>> sc.parallelize(["a", "b", "c"], 2).barrier().mapPartitionsWithIndex(tag).collect()
        [(0, 'a'), (1, 'b'), (1, 'c')]
        """
        return self._stage(f, preservesPartitioning)


class _BarrierFunction:
    """A barrier stage's partition function: gives the task's BarrierTaskContext the
    driver's ``spark.barrier.sync.timeout`` before calling f(split, iterator)."""

    def __init__(self, f: Callable[[int, Iterable[Any]], Iterable[Any]], timeout: str) -> None:
        self.f, self.timeout = f, timeout

    def __call__(self, split: int, it: Iterable[Any]) -> Iterable[Any]:
        from ember.taskcontext import BarrierTaskContext

        ctx = BarrierTaskContext._getOrCreate()
        ctx._set_timeout(self.timeout)
        return self.f(split, it)


class BoundedFloat(float):
    """A float result of an approximate action, with its confidence and bounds.

    Examples
    --------
    >>> from ember.rdd import BoundedFloat
    >>> b = BoundedFloat(2.5, 0.95, 2.0, 3.0)
    >>> b, b.confidence, b.low, b.high
    (2.5, 0.95, 2.0, 3.0)
    """

    confidence: float
    low: float
    high: float

    def __new__(cls, mean: float, confidence: float, low: float, high: float) -> BoundedFloat:
        obj = float.__new__(cls, mean)
        obj.confidence = confidence
        obj.low = low
        obj.high = high
        return obj


def _check_confidence(confidence: Any) -> None:
    if not 0.0 <= confidence <= 1.0:
        raise ValueError(f"confidence ({confidence}) must be between 0.0 and 1.0")


def _comparable(x: Any) -> Any:
    """Whether histogram() can place x: not None, not NaN."""
    return x is not None and not (type(x) is float and math.isnan(x))


def _min_max_partition(_: Any, it: Any) -> Any:
    it = iter(it)
    for first in it:
        lo = hi = first
        for x in it:
            if x < lo:
                lo = x
            if x > hi:
                hi = x
        return [(lo, hi)]
    return []
