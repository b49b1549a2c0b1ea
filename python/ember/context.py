"""SparkContext: the entry point of an ember application."""

import atexit
import os
import pickle
import re
import sys
import threading
import weakref

import cloudpickle

from ember import _core
from ember.conf import SparkConf
from ember.rdd import RDD, _union_rdds

__all__ = ["SparkContext"]

_live_contexts = weakref.WeakSet()


def _stop_all_at_exit():
    for sc in list(_live_contexts):
        sc.stop()


atexit.register(_stop_all_at_exit)


def _parse_master(master):
    """Returns (slots, max_failures or None) for a local master URL."""
    m = re.fullmatch(r"local(?:\[(\*|\d+)(?:\s*,\s*(\d+))?\])?", master.strip())
    if not m:
        raise ValueError(
            f"Unsupported master URL {master!r}: use local, local[N], local[*] or local[N,F] "
            "(cluster mode runs under mpirun)")
    n = m.group(1)
    slots = 1 if n is None else (os.cpu_count() or 1) if n == "*" else int(n)
    if slots < 1:
        raise ValueError(f"master {master!r} asks for {slots} task slots; ask for at least 1")
    return slots, int(m.group(2)) if m.group(2) else None


def _dumps(obj):
    try:
        return pickle.dumps(obj, protocol=5)
    except Exception:
        return cloudpickle.dumps(obj, protocol=5)


class SparkContext:
    """The entry point of ember: runs an engine and its Python workers in this process.

    Parameters
    ----------
    master : str, optional
        ``local``, ``local[N]``, ``local[*]`` (all cores) or ``local[N,F]`` (F tries per
        task). Default: the ``spark.master`` setting, the ``EMBER_MASTER`` environment
        variable, else ``local[*]``.
    appName : str, optional
        A name for the application.
    conf : SparkConf, optional
        Settings; copied.

    Examples
    --------
    >>> sc.parallelize([1, 2, 3]).map(lambda x: x * 2).collect()
    [2, 4, 6]
    >>> sc.defaultParallelism >= 1
    True
    """

    _active_spark_context = None
    _lock = threading.RLock()

    def __init__(self, master=None, appName=None, sparkHome=None, pyFiles=None, environment=None,
                 batchSize=0, serializer=None, conf=None, gateway=None, jsc=None, profiler_cls=None):
        conf = SparkConf() if conf is None else conf._copy()
        if master:
            conf.setMaster(master)
        if appName:
            conf.setAppName(appName)
        conf.setIfMissing("spark.master", os.environ.get("EMBER_MASTER", "local[*]"))
        conf.setIfMissing("spark.app.name", os.environ.get("EMBER_APP_NAME", "ember"))
        for item in os.environ.get("EMBER_CONF", "").split("\n"):
            if "=" in item:
                k, v = item.split("=", 1)
                conf.setIfMissing(k.strip(), v.strip())
        with SparkContext._lock:
            active = SparkContext._active_spark_context
            if active is not None:
                raise ValueError(
                    "Cannot run multiple SparkContexts at once; existing "
                    f"SparkContext(app={active.appName}, master={active.master}); "
                    "call stop() on it first, or use SparkContext.getOrCreate()")
            self._conf = conf
            self.master = conf.get("spark.master")
            self.appName = conf.get("spark.app.name")
            self.sparkHome = sparkHome
            self.environment = dict(environment or {})
            self._batchSize = batchSize
            slots, failures = _parse_master(self.master)
            if failures is None:
                failures = int(conf.get("spark.task.maxFailures", "4"))
            self._slots = slots
            path = [p or os.getcwd() for p in sys.path]
            self._core = _core.Context(slots, sys.executable, os.pathsep.join(path), failures,
                                       conf.get("spark.local.dir"))
            SparkContext._active_spark_context = self
            _live_contexts.add(self)

    # ---- lifecycle -------------------------------------------------------------

    def stop(self):
        """Stops the workers and removes temporary files. Safe to call twice."""
        with SparkContext._lock:
            core = getattr(self, "_core", None)
            if core is not None:
                core.stop()
            if SparkContext._active_spark_context is self:
                SparkContext._active_spark_context = None
            _live_contexts.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def __reduce__(self):
        raise RuntimeError(
            "[CONTEXT_ONLY_VALID_ON_DRIVER] It appears that you are attempting to reference "
            "SparkContext from a broadcast variable, action, or transformation. SparkContext can "
            "only be used on the driver, not in code that runs on workers.")

    def __repr__(self):
        return f"<SparkContext master={self.master} appName={self.appName}>"

    @classmethod
    def getOrCreate(cls, conf=None):
        """Returns the active context, or creates one from conf."""
        with cls._lock:
            if cls._active_spark_context is None:
                cls(conf=conf or SparkConf())
            return cls._active_spark_context

    def getConf(self):
        """A copy of the context's settings."""
        return self._conf._copy()

    @property
    def defaultParallelism(self):
        """Default number of partitions: ``spark.default.parallelism``, else the slots."""
        return int(self._conf.get("spark.default.parallelism", self._slots))

    @property
    def defaultMinPartitions(self):
        """Default minimum partitions of file inputs: ``min(defaultParallelism, 2)``."""
        return min(self.defaultParallelism, 2)

    # ---- sources --------------------------------------------------------------

    def parallelize(self, c, numSlices=None):
        """Distributes a local collection to form an RDD.

        A ``range`` is split without being materialized; other iterables are cut into
        batches as PySpark cuts them, so ``glom()`` shows the same layout.

        Examples
        --------
        >>> sc.parallelize([1, 2, 3, 4, 5], 3).glom().collect()
        [[1], [2, 3], [4, 5]]
        >>> sc.parallelize(range(0, 6, 2), 5).glom().collect()
        [[], [0], [], [2], [4]]
        """
        n = self.defaultParallelism if numSlices is None else int(numSlices)
        if n < 1:
            raise ValueError(f"numSlices must be positive, got {numSlices}")
        if isinstance(c, range):
            return RDD(self, self._core.range(c.start, c.stop, c.step, n))
        data = list(c)
        size = len(data)
        batch = self._batchSize or 1024
        bs = max(1, min(size // n, batch)) if self._batchSize != -1 else max(size, 1)
        batches = [data[i:i + bs] for i in range(0, size, bs)]
        nb = len(batches)
        parts = [[_dumps(b) for b in batches[p * nb // n:(p + 1) * nb // n]] for p in range(n)]
        return RDD(self, self._core.parallelize(parts))

    def range(self, start, end=None, step=1, numSlices=None):
        """An RDD of ints from start (inclusive) to end (exclusive), like ``range``.

        Examples
        --------
        >>> sc.range(5).collect()
        [0, 1, 2, 3, 4]
        >>> sc.range(2, 4).collect()
        [2, 3]
        """
        if end is None:
            start, end = 0, start
        return self.parallelize(range(start, end, step), numSlices)

    def textFile(self, name, minPartitions=None, use_unicode=True):
        """Reads text files (a path, a directory, a glob, or several comma-separated)
        as an RDD of lines. Each worker reads its own byte range; ``.gz`` files are
        read whole.

        Examples
        --------
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "a.txt")
        >>> _ = open(path, "w").write("hello\\nworld\\n")
        >>> sc.textFile(path).collect()
        ['hello', 'world']
        """
        if not isinstance(name, str):
            raise TypeError(f"textFile expects a path string, got {type(name).__name__}")
        n = self.defaultMinPartitions if minPartitions is None else int(minPartitions)
        rdd = RDD(self, self._core.text(name, n, not use_unicode))
        rdd._name = name
        return rdd

    def union(self, rdds):
        """The union of a list of RDDs: their partitions, in order.

        Examples
        --------
        >>> sc.union([sc.parallelize([1]), sc.parallelize([2, 3])]).collect()
        [1, 2, 3]
        """
        rdds = list(rdds)
        if not rdds:
            raise ValueError("union() needs at least one RDD")
        for r in rdds:
            if not isinstance(r, RDD):
                raise TypeError(f"union() expects RDDs, got {type(r).__name__}")
        if len(rdds) == 1:
            return rdds[0]
        return _union_rdds(self, rdds)

    # ---- jobs -----------------------------------------------------------------

    def _run_job(self, node, partitions=None):
        """Runs a job; returns each requested partition's list of result batches."""
        core = self._core
        if core.stopped:
            raise RuntimeError("this SparkContext is stopped; create a new SparkContext to run jobs")
        batches, _reports = core.run_job(node, partitions)
        return batches
