"""RDD: a resilient distributed dataset, as ``pyspark.RDD``.

An RDD wraps a node of the engine's lineage graph. Narrow transformations are
collected in Python into one pipelined command (a list of operations) and become a
single engine node when a job needs it, so one pass over a partition applies all
of them. Shuffles and unions are engine nodes too; actions run a job and decode the
batches that come back.
"""

import operator
import os
import pickle
import shutil
import uuid
from collections import defaultdict
from functools import reduce as _reduce

import cloudpickle

from ember import _core, shuffle
from ember.storagelevel import StorageLevel
from ember.traceback_utils import first_spark_call

__all__ = ["RDD", "PipelinedRDD", "Partitioner", "ResultIterable", "portable_hash"]

OP_PARTITIONS = 0
portable_hash = _core.portable_hash
_OP_NAMES = {_core.OP_MAP: "map", _core.OP_FLATMAP: "flatMap", _core.OP_FILTER: "filter",
             _core.OP_MAPVALUES: "mapValues", _core.OP_FLATMAPVALUES: "flatMapValues"}

# Map-side combining writes its combined keys out past this many distinct keys,
# bounding a map task's memory; the shuffle writer buffers this many bytes.
_MAP_COMBINE_KEYS = 1 << 20
_SHUFFLE_BUFFER = 32 << 20


class Partitioner:
    """Maps a key to a partition: ``partitionFunc(key) % numPartitions``."""

    def __init__(self, numPartitions, partitionFunc):
        self.numPartitions = numPartitions
        self.partitionFunc = partitionFunc

    def __eq__(self, other):
        return (isinstance(other, Partitioner) and self.numPartitions == other.numPartitions
                and self.partitionFunc == other.partitionFunc)

    def __call__(self, k):
        return self.partitionFunc(k) % self.numPartitions


class ResultIterable:
    """The values of one key after groupByKey: iterable, with ``len()``."""

    def __init__(self, data):
        self.data = data
        self.index = 0
        self.maxindex = len(data)

    def __iter__(self):
        return iter(self.data)

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        return f"ResultIterable({self.data!r})"


def _identity_partition(k):
    return k


def _plain_add(a, b):
    return a + b


def _as_native(func):
    """operator.add for a function that only returns its two arguments added (in
    that order), so the C combiner can add without a Python call; else func."""
    code = getattr(func, "__code__", None)
    ref = _plain_add.__code__
    if (code is not None and code.co_code == ref.co_code and code.co_argcount == 2
            and code.co_consts == ref.co_consts and not code.co_names
            and not getattr(func, "__defaults__", None) and not getattr(func, "__closure__", None)):
        return operator.add
    return func


class RDD:
    """A resilient distributed dataset: partitions of records, computed lazily from
    its lineage.

    Examples
    --------
    >>> rdd = sc.parallelize(["b a", "a"], 2)
    >>> sorted(rdd.flatMap(str.split).map(lambda w: (w, 1)).reduceByKey(lambda a, b: a + b).collect())
    [('a', 2), ('b', 1)]
    """

    def __init__(self, ctx, node, partitioner=None, deps=(), kind=None):
        self.ctx = ctx
        self._callsite = first_spark_call()
        self._deps = deps      # parent RDDs, for the lineage summary
        self._kind = kind      # the step's name in the lineage; default: the call that made it
        self._node_obj = node
        self.partitioner = partitioner
        self.is_cached = False
        self.is_checkpointed = False
        self._storage_level = StorageLevel.NONE
        self._name = None

    # ---- identity ----------------------------------------------------------------

    @property
    def context(self):
        """The SparkContext this RDD belongs to."""
        return self.ctx

    @property
    def _node(self):
        return self._node_obj

    def id(self):
        """A unique id of this RDD within its context."""
        return self._node.id

    def name(self):
        """The RDD's name, or None."""
        return self._name

    def setName(self, name):
        """Names the RDD; returns it."""
        self._name = name
        return self

    def getNumPartitions(self):
        """The number of partitions.

        Examples
        --------
        >>> sc.parallelize([1, 2, 3, 4], 2).getNumPartitions()
        2
        """
        return self._node.num_partitions

    def __repr__(self):
        """The RDD's class, id, name, partitions, the call that made it and a summary
        of its lineage, root first.

        Examples
        --------
        >>> sc.parallelize(range(4), 2).map(str).setName("digits")  # doctest: +ELLIPSIS
        PipelinedRDD[...] 'digits' (2 partitions) from map at <doctest ...>:1; lineage: parallelize -> map
        """
        kind = type(self).__name__
        name = f" {self._name!r}" if self._name else ""
        site = self._callsite
        where = f" from {site.function} at {site.file}:{site.linenum}" if site else ""
        n = self.getNumPartitions()
        return (f"{kind}[{self.id()}]{name} ({n} partition{'s' if n != 1 else ''}){where}; "
                f"lineage: {self._lineage()}")

    def _steps(self):
        """This RDD's own steps in the lineage, and the RDDs it reads."""
        label = self._kind or (self._callsite.function if self._callsite else type(self).__name__)
        return [label], self._deps

    def _lineage(self, depth=0):
        """The steps that compute this RDD, root first: ``a -> b``, ``union(a, b) -> c``;
        a long chain keeps its first and last steps."""
        chain = []
        rdd = self
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

    def __reduce__(self):
        raise RuntimeError(
            "[RDD_TRANSFORM_ONLY_VALID_ON_DRIVER] It appears that you are attempting to broadcast "
            "an RDD or reference an RDD from an action or transformation. RDD transformations and "
            "actions can only be invoked by the driver, not inside of other transformations "
            "(see SPARK-5063).")

    # ---- persistence ---------------------------------------------------------------

    def cache(self):
        """Keeps the RDD's partitions once computed (MEMORY_ONLY); returns self.

        Examples
        --------
        >>> rdd = sc.parallelize([1, 2, 3]).map(lambda x: x + 1).cache()
        >>> rdd.is_cached, rdd.count(), rdd.sum()
        (True, 3, 9)
        """
        return self.persist(StorageLevel.MEMORY_ONLY)

    def persist(self, storageLevel=StorageLevel.MEMORY_ONLY):
        """Keeps the RDD's partitions once computed; returns self."""
        self._node.set_cached(True)
        self.is_cached = True
        self._storage_level = storageLevel
        return self

    def unpersist(self, blocking=False):
        """Drops kept partitions; returns self."""
        self._node.set_cached(False)
        self.is_cached = False
        self._storage_level = StorageLevel.NONE
        return self

    def getStorageLevel(self):
        """The RDD's StorageLevel."""
        return self._storage_level

    # ---- narrow transformations --------------------------------------------------------

    def _pipe(self, op, preservesPartitioning=False):
        return PipelinedRDD(self, [op], self.partitioner if preservesPartitioning else None)

    def map(self, f, preservesPartitioning=False):
        """Applies f to each element.

        Examples
        --------
        >>> sc.parallelize(["b", "a", "c"]).map(lambda x: (x, 1)).collect()
        [('b', 1), ('a', 1), ('c', 1)]
        """
        return self._pipe((_core.OP_MAP, f), preservesPartitioning)

    def flatMap(self, f, preservesPartitioning=False):
        """Applies f to each element and flattens the iterables it returns.

        Examples
        --------
        >>> sc.parallelize([2, 3, 4]).flatMap(lambda x: range(1, x)).collect()
        [1, 1, 2, 1, 2, 3]
        """
        return self._pipe((_core.OP_FLATMAP, f), preservesPartitioning)

    def filter(self, f):
        """Keeps the elements for which f is true.

        Examples
        --------
        >>> sc.parallelize([1, 2, 3, 4, 5]).filter(lambda x: x % 2 == 0).collect()
        [2, 4]
        """
        return self._pipe((_core.OP_FILTER, f), True)

    def mapPartitions(self, f, preservesPartitioning=False):
        """Applies f to each partition's iterator.

        Examples
        --------
        >>> sc.parallelize([1, 2, 3, 4], 2).mapPartitions(lambda it: [sum(it)]).collect()
        [3, 7]
        """
        return self._pipe((OP_PARTITIONS, lambda _, it: f(it)), preservesPartitioning)

    def mapPartitionsWithIndex(self, f, preservesPartitioning=False):
        """Applies f(partitionIndex, iterator) to each partition.

        Examples
        --------
        >>> sc.parallelize([1, 2, 3, 4], 4).mapPartitionsWithIndex(lambda i, it: [i]).sum()
        6
        """
        return self._pipe((OP_PARTITIONS, f), preservesPartitioning)

    def mapValues(self, f):
        """Applies f to the value of each (key, value) pair; keeps the partitioner.

        Examples
        --------
        >>> sc.parallelize([("a", ["x", "y"]), ("b", ["p"])]).mapValues(len).collect()
        [('a', 2), ('b', 1)]
        """
        return self._pipe((_core.OP_MAPVALUES, f), True)

    def flatMapValues(self, f):
        """Applies f to each value and pairs each of its results with the key.

        Examples
        --------
        >>> sc.parallelize([("a", ["x", "y"]), ("b", ["p"])]).flatMapValues(lambda v: v).collect()
        [('a', 'x'), ('a', 'y'), ('b', 'p')]
        """
        return self._pipe((_core.OP_FLATMAPVALUES, f), True)

    def keys(self):
        """The key of each pair.

        Examples
        --------
        >>> sc.parallelize([(1, 2), (3, 4)]).keys().collect()
        [1, 3]
        """
        return self.map(lambda kv: kv[0])

    def values(self):
        """The value of each pair.

        Examples
        --------
        >>> sc.parallelize([(1, 2), (3, 4)]).values().collect()
        [2, 4]
        """
        return self.map(lambda kv: kv[1])

    def glom(self):
        """Each partition as one list.

        Examples
        --------
        >>> sc.parallelize([1, 2, 3, 4], 2).glom().collect()
        [[1, 2], [3, 4]]
        """
        return self.mapPartitions(lambda it: [list(it)])

    def union(self, other):
        """The partitions of this RDD followed by other's.

        Examples
        --------
        >>> rdd = sc.parallelize([1, 1, 2, 3])
        >>> rdd.union(rdd).collect()
        [1, 1, 2, 3, 1, 1, 2, 3]
        """
        if not isinstance(other, RDD):
            raise TypeError(f"union() expects an RDD, got {type(other).__name__}")
        rdd = RDD(self.ctx, self.ctx._core.union([self._node, other._node]), deps=(self, other), kind="union")
        if (self.partitioner is not None and self.partitioner == other.partitioner
                and rdd.getNumPartitions() == self.getNumPartitions()):
            rdd.partitioner = self.partitioner
        return rdd

    def coalesce(self, numPartitions, shuffle=False):
        """Fewer partitions: neighbouring ones merged without a shuffle, or, with
        shuffle=True, the records spread evenly by a shuffle.

        Examples
        --------
        >>> sc.parallelize([1, 2, 3, 4, 5], 3).glom().collect()
        [[1], [2, 3], [4, 5]]
        >>> sc.parallelize([1, 2, 3, 4, 5], 3).coalesce(1).glom().collect()
        [[1, 2, 3, 4, 5]]
        """
        n = int(numPartitions)
        if n <= 0:
            raise ValueError("Number of partitions must be positive.")
        if shuffle:
            return self.repartition(n)
        return RDD(self.ctx, self.ctx._core.coalesce(self._node, n), deps=(self,), kind="coalesce")

    def repartition(self, numPartitions):
        """Exactly numPartitions partitions, records spread by a shuffle.

        Examples
        --------
        >>> rdd = sc.parallelize(range(20), 2).repartition(5)
        >>> rdd.getNumPartitions(), sorted(rdd.collect()) == list(range(20))
        (5, True)
        """
        n = int(numPartitions)
        if n <= 0:
            raise ValueError("Number of partitions must be positive.")

        def spread(i, it):
            # A different start per input partition, then round robin.
            import random
            k = random.Random(i).randrange(n)
            for x in it:
                yield k, x
                k = k + 1 if k + 1 < n else 0

        keyed = self.mapPartitionsWithIndex(spread)
        return keyed._shuffle(n, _identity_partition).values()

    def zip(self, other):
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

    def cartesian(self, other):
        """Every pair (a, b) of an element of this RDD and one of other.

        Examples
        --------
        >>> rdd = sc.parallelize([1, 2])
        >>> sorted(rdd.cartesian(rdd).collect())
        [(1, 1), (1, 2), (2, 1), (2, 2)]
        """
        return RDD(self.ctx, self.ctx._core.cartesian(self._node, other._node), deps=(self, other),
                   kind="cartesian")

    def __add__(self, other):
        if not isinstance(other, RDD):
            raise TypeError(f"unsupported operand: RDD + {type(other).__name__}")
        return self.union(other)

    # ---- shuffles ---------------------------------------------------------------------

    def _default_partitions(self):
        if self.ctx._conf.contains("spark.default.parallelism"):
            return self.ctx.defaultParallelism
        return self.getNumPartitions()

    def _memory_limit(self):
        """Bytes a worker may hold while merging (``spark.python.worker.memory``)."""
        return shuffle.parse_memory(self.ctx._conf.get("spark.python.worker.memory", "512m"))

    def _shuffle(self, numPartitions, partitionFunc, create=None, merge=None):
        """A shuffled RDD of this RDD's (key, value) pairs: partitioned by
        partitionFunc, values of a key combined on the map side when merge is given."""
        n = self._default_partitions() if numPartitions is None else int(numPartitions)
        if n < 1:
            raise ValueError(f"Number of partitions must be positive, got {numPartitions}")
        pfunc = None if partitionFunc is portable_hash else partitionFunc
        spec = cloudpickle.dumps((pfunc, create, merge, _MAP_COMBINE_KEYS, _SHUFFLE_BUFFER), protocol=5)
        node = self.ctx._core.shuffle(self._node, n, spec)
        return RDD(self.ctx, node, Partitioner(n, partitionFunc), deps=(self,), kind="shuffle")

    def partitionBy(self, numPartitions, partitionFunc=portable_hash):
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
        return self._shuffle(numPartitions, partitionFunc)

    def combineByKey(self, createCombiner, mergeValue, mergeCombiners, numPartitions=None,
                     partitionFunc=portable_hash):
        """Combines the values of each key with the three functions, on the map side
        before the shuffle and on the reduce side after it.

        Examples
        --------
        >>> x = sc.parallelize([("a", 1), ("b", 1), ("a", 2)])
        >>> sorted(x.combineByKey(lambda v: [v], lambda c, v: c + [v], lambda a, b: a + b).collect())
        [('a', [1, 2]), ('b', [1])]
        """
        shuffled = self._shuffle(numPartitions, partitionFunc, createCombiner, mergeValue)
        limit = self._memory_limit()
        return shuffled.mapPartitions(lambda it: shuffle.merge_combiners(it, mergeCombiners, limit), True)

    def reduceByKey(self, func, numPartitions=None, partitionFunc=portable_hash):
        """Merges the values of each key with an associative, commutative function.

        Examples
        --------
        >>> from operator import add
        >>> sorted(sc.parallelize([("a", 1), ("b", 1), ("a", 1)]).reduceByKey(add).collect())
        [('a', 2), ('b', 1)]
        """
        func = _as_native(func)
        return self.combineByKey(None, func, func, numPartitions, partitionFunc)

    def groupByKey(self, numPartitions=None, partitionFunc=portable_hash):
        """Groups the values of each key into a ResultIterable.

        Examples
        --------
        >>> rdd = sc.parallelize([("a", 1), ("b", 1), ("a", 1)])
        >>> sorted(rdd.groupByKey().mapValues(len).collect())
        [('a', 2), ('b', 1)]
        >>> sorted(rdd.groupByKey().mapValues(list).collect())
        [('a', [1, 1]), ('b', [1])]
        """
        shuffled = self._shuffle(numPartitions, partitionFunc)
        limit = self._memory_limit()
        return shuffled.mapPartitions(
            lambda it: ((k, ResultIterable(v)) for k, v in shuffle.group_values(it, limit)), True)

    # ---- actions -------------------------------------------------------------------------

    def _run(self, func=None, partitions=None):
        """Runs func(split, iterator) over partitions; returns each partition's
        decoded results as a list."""
        rdd = self if func is None else PipelinedRDD(self, [(OP_PARTITIONS, func)], None, fuse=False)
        loads = pickle.loads
        out = []
        for batches in self.ctx._run_job(rdd._node, partitions):
            part = []
            for b in batches:
                part.extend(loads(b))
            out.append(part)
        return out

    def collect(self):
        """All elements, in partition order.

        Examples
        --------
        >>> sc.parallelize([1, 2, 3], 2).collect()
        [1, 2, 3]
        """
        return [x for part in self._run() for x in part]

    def count(self):
        """The number of elements.

        Examples
        --------
        >>> sc.parallelize([2, 3, 4]).count()
        3
        """
        return sum(n for part in self._run(lambda _, it: [_core.count(it)]) for n in part)

    def take(self, num):
        """The first num elements, scanning partitions in growing rounds.

        Examples
        --------
        >>> sc.parallelize([2, 3, 4, 5, 6], 3).take(2)
        [2, 3]
        >>> sc.parallelize(range(100), 100).take(3)
        [0, 1, 2]
        """
        num = int(num)
        items = []
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

            def head(_, it, left=left):
                out = []
                if left > 0:
                    for x in it:
                        out.append(x)
                        if len(out) >= left:
                            break
                return out

            for part in self._run(head, parts):
                items.extend(part)
            scanned += len(parts)
        return items[:num]

    def first(self):
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

    def reduce(self, f):
        """Reduces the elements with a commutative, associative binary function.

        Examples
        --------
        >>> from operator import add
        >>> sc.parallelize([1, 2, 3, 4, 5]).reduce(add)
        15
        """
        sentinel = object()

        def part(_, it):
            acc = sentinel
            for x in it:
                acc = x if acc is sentinel else f(acc, x)
            return [] if acc is sentinel else [acc]

        vals = [v for p in self._run(part) for v in p]
        if not vals:
            raise ValueError("Can not reduce() empty RDD")
        return _reduce(f, vals)

    def sum(self):
        """The sum of the elements (0 for an empty RDD).

        Examples
        --------
        >>> sc.parallelize([1.0, 2.0, 3.0]).sum()
        6.0
        """
        return sum((v for p in self._run(lambda _, it: [sum(it, 0)]) for v in p), 0)

    def saveAsTextFile(self, path, compressionCodecClass=None):
        """Writes the elements as lines of text files ``part-NNNNN`` in a new directory,
        committed (with ``_SUCCESS``) only when every task succeeded.

        Examples
        --------
        >>> import os, tempfile
        >>> out = os.path.join(tempfile.mkdtemp(), "out")
        >>> sc.parallelize(["a", "b", "c"], 2).saveAsTextFile(out)
        >>> sorted(os.listdir(out))
        ['_SUCCESS', 'part-00000', 'part-00001']
        >>> sc.textFile(out).collect()
        ['a', 'b', 'c']
        """
        path = os.path.abspath(os.fspath(path))
        if os.path.exists(path):
            raise FileExistsError(
                f"Output directory {path} already exists; remove it or write to another path")
        parent = os.path.dirname(path)
        os.makedirs(parent, exist_ok=True)
        tmp = os.path.join(parent, f".{os.path.basename(path)}.ember-{uuid.uuid4().hex}")
        os.mkdir(tmp)
        gzip_out = compressionCodecClass is not None and "gzip" in compressionCodecClass.lower()

        def write(split, it):
            import gzip as _gzip
            name = os.path.join(tmp, f"part-{split:05d}" + (".gz" if gzip_out else ""))
            attempt = f"{name}.attempt-{os.getpid()}"
            opener = _gzip.open if gzip_out else open
            with opener(attempt, "wb") as f:
                for x in it:
                    if isinstance(x, bytes):
                        f.write(x)
                    else:
                        f.write((x if isinstance(x, str) else str(x)).encode("utf-8"))
                    f.write(b"\n")
            os.replace(attempt, name)
            return []

        try:
            self._run(write)
            open(os.path.join(tmp, "_SUCCESS"), "wb").close()
            os.rename(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


class PipelinedRDD(RDD):
    """An RDD made by narrow Python transformations of a parent; consecutive ones
    fuse into one command (one pass, one worker round trip per partition)."""

    def __init__(self, prev, ops, partitioner=None, fuse=True):
        if fuse and isinstance(prev, PipelinedRDD) and not prev.is_cached:
            self._parent = prev._parent
            self._ops = prev._ops + ops
        else:
            self._parent = prev
            self._ops = ops
        super().__init__(prev.ctx, None, partitioner)

    @property
    def _node(self):
        if self._node_obj is None:
            command = cloudpickle.dumps(self._ops, protocol=5)
            self._node_obj = self.ctx._core.pipeline(self._parent._node, command)
        return self._node_obj

    def getNumPartitions(self):
        return self._parent.getNumPartitions()

    def _steps(self):
        return [_OP_NAMES.get(kind, "mapPartitions") for kind, _ in self._ops], (self._parent,)
