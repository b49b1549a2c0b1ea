"""SparkContext: the entry point of an ember application."""

import atexit
import getpass
import logging
import os
import pickle
import re
import sys
import threading
import time
import uuid
import weakref

import cloudpickle

from ember import _core, _lineage
from ember.conf import SparkConf
from ember.rdd import RDD

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


# setLogLevel's names, in the order Spark lists them, and the logging levels they map to.
_LOG_LEVELS = {"ALL": 1, "DEBUG": logging.DEBUG, "ERROR": logging.ERROR, "FATAL": logging.CRITICAL,
               "TRACE": 5, "WARN": logging.WARNING, "INFO": logging.INFO, "OFF": logging.CRITICAL + 10}

_INPUTS = "sc.textFile(), sc.wholeTextFiles(), sc.binaryFiles(), sc.binaryRecords() or sc.pickleFile()"


def _no_hadoop(method, instead):
    return (f"{method}() reads Hadoop formats through the JVM, which ember does not have; "
            f"use {instead} instead")


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
    _system_properties = {}  # setSystemProperty: defaults of later contexts

    def __init__(self, master=None, appName=None, sparkHome=None, pyFiles=None, environment=None,
                 batchSize=0, serializer=None, conf=None, gateway=None, jsc=None, profiler_cls=None):
        conf = SparkConf() if conf is None else conf._copy()
        if master:
            conf.setMaster(master)
        if appName:
            conf.setAppName(appName)
        for k, v in SparkContext._system_properties.items():
            if k.startswith("spark."):
                conf.setIfMissing(k, v)
        conf.setIfMissing("spark.master", os.environ.get("EMBER_MASTER", "local[*]"))
        conf.setIfMissing("spark.app.name", os.environ.get("EMBER_APP_NAME", "ember"))
        for item in os.environ.get("EMBER_CONF", "").split("\n"):
            if "=" in item:
                k, v = item.split("=", 1)
                conf.setIfMissing(k.strip(), v.strip())
        with SparkContext._lock:
            active = SparkContext._active_spark_context
            if active is not None:
                method, filename, line = active._callsite
                raise ValueError(
                    "Cannot run multiple SparkContexts at once; existing "
                    f"SparkContext(app={active.appName}, master={active.master}) "
                    f"created by {method} at {filename}:{line} ")
            self._callsite = _lineage.callsite()
            self._start_ms = int(time.time() * 1000)
            self._local = threading.local()     # setLocalProperty
            self._node_info = {}                # node id -> (label, call site, name): see _lineage
            self._pending_checkpoints = {}      # node id -> weakref to an RDD to checkpoint
            self._checkpoint_dir = None
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
        """Returns the active context, or creates one from conf.

        Parameters
        ----------
        conf : SparkConf, optional
            Used only when no context is active.

        Returns
        -------
        SparkContext

        Examples
        --------
        >>> SparkContext.getOrCreate() is sc
        True
        """
        with cls._lock:
            if cls._active_spark_context is None:
                cls(conf=conf or SparkConf())
            return cls._active_spark_context

    def getConf(self):
        """A copy of the context's settings.

        Examples
        --------
        >>> conf = sc.getConf()
        >>> conf.get("spark.master") == sc.master
        True
        """
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
        return rdd.setName(name)

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
        return RDD(self, self._core.union([r._node for r in rdds]))

    # ---- jobs -----------------------------------------------------------------

    def _run_job(self, node, partitions=None):
        """Runs a job; returns each requested partition's list of result batches."""
        core = self._core
        if core.stopped:
            raise RuntimeError("this SparkContext is stopped; create a new SparkContext to run jobs")
        batches, _reports = core.run_job(node, partitions)
        if self._pending_checkpoints:
            self._write_checkpoints(node)
        return batches

    # ---- identity and settings -------------------------------------------------------

    @property
    def version(self):
        """The version of ember running this context.

        Examples
        --------
        >>> import ember
        >>> sc.version == ember.__version__
        True
        """
        from ember import __version__
        return __version__

    @property
    def applicationId(self):
        """A unique id of this application: ``local-<start time in ms>``.

        Examples
        --------
        >>> sc.applicationId.startswith("local-")
        True
        """
        return f"local-{self._start_ms}"

    @property
    def startTime(self):
        """When the context started, in milliseconds since the epoch.

        Examples
        --------
        >>> sc.startTime > 0
        True
        """
        return self._start_ms

    PACKAGE_EXTENSIONS = (".zip", ".egg", ".jar")

    @property
    def pythonExec(self):
        """The Python interpreter the workers run (this driver's own).

        Examples
        --------
        >>> import sys
        >>> sc.pythonExec == sys.executable
        True
        """
        return sys.executable

    @property
    def pythonVer(self):
        """The workers' Python version, ``major.minor``.

        Examples
        --------
        >>> import sys
        >>> sc.pythonVer == "%d.%d" % sys.version_info[:2]
        True
        """
        return "%d.%d" % sys.version_info[:2]

    @property
    def uiWebUrl(self):
        """None: ember has no web UI (PySpark's value when ``spark.ui.enabled=false``).

        Examples
        --------
        >>> sc.uiWebUrl is None
        True
        """
        return None

    @property
    def resources(self):
        """An empty dict: ember schedules no custom resources (GPUs, FPGAs).

        Examples
        --------
        >>> sc.resources
        {}
        """
        return {}

    @classmethod
    def setSystemProperty(cls, key, value):
        """Sets a process-wide property. ``spark.*`` keys become defaults of every
        context created afterwards, as JVM system properties do in PySpark.

        Examples
        --------
        >>> SparkContext.setSystemProperty("spark.example.setting", "1")
        >>> SparkContext._system_properties.pop("spark.example.setting")
        '1'
        """
        cls._system_properties[key] = str(value)

    def setLogLevel(self, logLevel):
        """Sets the level of ember's log messages (the ``ember`` logger).

        Parameters
        ----------
        logLevel : str
            One of ALL, DEBUG, ERROR, FATAL, INFO, OFF, TRACE, WARN (any case).

        Examples
        --------
        >>> sc.setLogLevel("warn")
        >>> sc.setLogLevel("LOUD")
        Traceback (most recent call last):
            ...
        ValueError: Supplied level LOUD did not match one of: ALL,DEBUG,ERROR,FATAL,TRACE,WARN,INFO,OFF
        """
        level = str(logLevel).upper()
        if level not in _LOG_LEVELS:
            raise ValueError(f"Supplied level {logLevel} did not match one of: {','.join(_LOG_LEVELS)}")
        logging.getLogger("ember").setLevel(_LOG_LEVELS[level])

    def setLocalProperty(self, key, value):
        """Sets a property of the jobs this thread submits; None removes it.

        Examples
        --------
        >>> sc.setLocalProperty("pool", "fast")
        >>> sc.getLocalProperty("pool")
        'fast'
        >>> sc.setLocalProperty("pool", None)
        >>> sc.getLocalProperty("pool") is None
        True
        """
        props = self._thread_local_properties()
        if value is None:
            props.pop(key, None)
        else:
            props[key] = value

    def getLocalProperty(self, key):
        """A property set in this thread with setLocalProperty, or None.

        Examples
        --------
        >>> sc.getLocalProperty("never.set") is None
        True
        """
        return self._thread_local_properties().get(key)

    def _thread_local_properties(self):
        """This thread's local properties (a dict, created on first use)."""
        props = getattr(self._local, "properties", None)
        if props is None:
            props = self._local.properties = {}
        return props

    def sparkUser(self):
        """The user running the application: ``$SPARK_USER``, else the login name.

        Examples
        --------
        >>> isinstance(sc.sparkUser(), str)
        True
        """
        return os.environ.get("SPARK_USER") or getpass.getuser()

    # ---- more sources -------------------------------------------------------------------

    def emptyRDD(self):
        """An RDD with no partitions and no elements.

        Examples
        --------
        >>> rdd = sc.emptyRDD()
        >>> rdd.getNumPartitions(), rdd.collect(), rdd.isEmpty()
        (0, [], True)
        """
        rdd = RDD(self, self._core.parallelize([]))
        self._label(rdd, "EmptyRDD")
        return rdd

    def _label(self, rdd, label):
        """Names the class of rdd's node in repr() and toDebugString()."""
        node = rdd._node_obj_built()
        _, site, name = self._node_info.get(node.id, (None, rdd._site, rdd._name))
        self._node_info[node.id] = (label, site, name)

    def _descriptor_source(self, partitions, read, label=None):
        """An RDD whose partition i is read(descriptors of partition i) in a worker: the
        driver ships only the small descriptors (paths, byte ranges)."""
        base = RDD(self, self._core.parallelize([[_dumps(list(d))] for d in partitions]))
        rdd = base.mapPartitions(read)
        if label:
            self._label(rdd, label)
        return rdd

    def wholeTextFiles(self, path, minPartitions=None, use_unicode=True):
        """Reads whole text files as ``(file URI, content)`` pairs. Paths, directories,
        globs and comma-separated lists are accepted as in textFile; each worker reads
        its own files.

        Parameters
        ----------
        path : str
        minPartitions : int, optional
            Files are packed into partitions of about ``total size / minPartitions``
            bytes (default ``defaultMinPartitions``).
        use_unicode : bool, optional
            False gives bytes (keys too), as PySpark does.

        Returns
        -------
        RDD
            of (str, str) pairs.

        Examples
        --------
        >>> import os, tempfile
        >>> d = tempfile.mkdtemp()
        >>> for name, text in [("1.txt", "1"), ("2.txt", "2")]:
        ...     with open(os.path.join(d, name), "w") as f:
        ...         _ = f.write(text)
        >>> sorted((os.path.basename(k), v) for k, v in sc.wholeTextFiles(d).collect())
        [('1.txt', '1'), ('2.txt', '2')]
        >>> sc.wholeTextFiles(d).first()[0].startswith("file:/")
        True
        """
        from ember import _files
        n = minPartitions or self.defaultMinPartitions
        groups = _files.whole_file_groups(_files.list_files(path), n)
        mode = "text" if use_unicode else "text-bytes"
        rdd = self._descriptor_source(groups, lambda it: _files.read_whole_files(it, mode))
        return rdd.setName(path)

    def binaryFiles(self, path, minPartitions=None):
        """Reads whole binary files as ``(file URI, bytes)`` pairs; each worker reads
        its own files.

        Parameters
        ----------
        path : str
            Files, directories, globs, comma-separated.
        minPartitions : int, optional
            A hint; small files are packed together as Spark packs them.

        Examples
        --------
        >>> import os, tempfile
        >>> d = tempfile.mkdtemp()
        >>> with open(os.path.join(d, "b.bin"), "wb") as f:
        ...     _ = f.write(bytes([0, 1, 2]))
        >>> [(os.path.basename(k), v) for k, v in sc.binaryFiles(d).collect()]
        [('b.bin', b'\\x00\\x01\\x02')]
        """
        from ember import _files
        n = minPartitions or self.defaultMinPartitions
        groups = _files.binary_file_groups(_files.list_files(path), n, self.defaultParallelism)
        rdd = self._descriptor_source(groups, lambda it: _files.read_whole_files(it, "binary"))
        return rdd.setName(path)

    def binaryRecords(self, path, recordLength):
        """Reads files of fixed-length binary records: each element is recordLength
        bytes. A file whose size is not a multiple of recordLength fails the job with
        an error naming it.

        Examples
        --------
        >>> import os, tempfile
        >>> p = os.path.join(tempfile.mkdtemp(), "r.bin")
        >>> with open(p, "wb") as f:
        ...     _ = f.write(bytes(range(6)))
        >>> sc.binaryRecords(p, 2).collect()
        [b'\\x00\\x01', b'\\x02\\x03', b'\\x04\\x05']
        """
        from ember import _files
        length = int(recordLength)
        if length <= 0:
            raise ValueError(f"recordLength must be positive, got {recordLength}")
        splits = _files.record_splits(_files.list_files(path), length)
        rdd = self._descriptor_source(
            [[s] for s in splits],
            lambda it: (rec for p, start, end in it for rec in _files.read_records(p, start, end, length)))
        return rdd.setName(path)

    def pickleFile(self, name, minPartitions=None):
        """Reads the elements that ``RDD.saveAsPickleFile`` wrote (ember's pickle file
        format). A file that is not such a file, or is damaged, gives an error naming it.

        Parameters
        ----------
        name : str
            The directory (or files, globs, comma-separated).
        minPartitions : int, optional
            Large files are cut into byte ranges to give at least this many partitions.

        Examples
        --------
        >>> import os, tempfile
        >>> out = os.path.join(tempfile.mkdtemp(), "p")
        >>> sc.parallelize([{"a": 1}, (2, 3), None], 2).saveAsPickleFile(out)
        >>> sc.pickleFile(out).collect()
        [{'a': 1}, (2, 3), None]
        """
        from ember import _files
        files = _files.list_files(name)
        for f in files:
            _files.check_pickle_header(f)
        splits = _files.pickle_splits(files, minPartitions or self.defaultMinPartitions)
        return self._pickle_source([[s] for s in splits]).setName(name)

    def _pickle_source(self, partitions, label=None):
        from ember import _files
        return self._descriptor_source(
            partitions, lambda it: (x for p, start, end in it for x in _files.read_pickle_split(p, start, end)),
            label)

    # ---- Hadoop formats: not available --------------------------------------------------------

    def sequenceFile(self, path, keyClass=None, valueClass=None, keyConverter=None, valueConverter=None,
                     minSplits=None, batchSize=0):
        """Not available: Hadoop SequenceFiles need the JVM. Use pickleFile for data
        saved with saveAsPickleFile, or textFile."""
        raise NotImplementedError(_no_hadoop("sequenceFile", "sc.pickleFile() or sc.textFile()"))

    def newAPIHadoopFile(self, path, inputFormatClass, keyClass, valueClass, keyConverter=None,
                         valueConverter=None, conf=None, batchSize=0):
        """Not available: Hadoop InputFormats need the JVM. Use textFile,
        wholeTextFiles, binaryFiles, binaryRecords or pickleFile."""
        raise NotImplementedError(_no_hadoop("newAPIHadoopFile", _INPUTS))

    def newAPIHadoopRDD(self, inputFormatClass, keyClass, valueClass, keyConverter=None,
                        valueConverter=None, conf=None, batchSize=0):
        """Not available: Hadoop InputFormats need the JVM. Use textFile,
        wholeTextFiles, binaryFiles, binaryRecords or pickleFile."""
        raise NotImplementedError(_no_hadoop("newAPIHadoopRDD", _INPUTS))

    def hadoopFile(self, path, inputFormatClass, keyClass, valueClass, keyConverter=None,
                   valueConverter=None, conf=None, batchSize=0):
        """Not available: Hadoop InputFormats need the JVM. Use textFile,
        wholeTextFiles, binaryFiles, binaryRecords or pickleFile."""
        raise NotImplementedError(_no_hadoop("hadoopFile", _INPUTS))

    def hadoopRDD(self, inputFormatClass, keyClass, valueClass, keyConverter=None,
                  valueConverter=None, conf=None, batchSize=0):
        """Not available: Hadoop InputFormats need the JVM. Use textFile,
        wholeTextFiles, binaryFiles, binaryRecords or pickleFile."""
        raise NotImplementedError(_no_hadoop("hadoopRDD", _INPUTS))

    # ---- jobs on chosen partitions; checkpoints -----------------------------------------------

    def runJob(self, rdd, partitionFunc, partitions=None, allowLocal=False):
        """Runs partitionFunc(iterator) on the chosen partitions of rdd (all when None)
        and returns all results in one list. allowLocal is ignored.

        Examples
        --------
        >>> rdd = sc.parallelize(range(10), 3)
        >>> sc.runJob(rdd, lambda it: [sum(it)])
        [3, 12, 30]
        >>> sc.runJob(rdd, lambda it: [x * x for x in it], [0, 2])
        [0, 1, 4, 36, 49, 64, 81]
        """
        n = rdd.getNumPartitions()
        parts = list(range(n)) if partitions is None else [int(p) for p in partitions]
        for p in parts:
            if not 0 <= p < n:
                raise ValueError(
                    f"Attempting to access a non-existent partition: {p}. Total number of partitions: {n}")
        mapped = rdd.mapPartitions(partitionFunc)
        return [x for part in mapped._run(None, parts) for x in part]

    def setCheckpointDir(self, dirName):
        """Sets the directory under which RDD.checkpoint() writes; a new
        sub-directory with a unique name is made in it for this context.

        Examples
        --------
        >>> import os, tempfile
        >>> d = tempfile.mkdtemp()
        >>> sc.setCheckpointDir(d)
        >>> sc.getCheckpointDir().startswith("file:" + d)
        True
        """
        from ember import _files
        base = os.path.abspath(_files.local_path(dirName))
        sub = os.path.join(base, str(uuid.uuid4()))
        os.makedirs(sub)
        self._checkpoint_dir = sub

    def getCheckpointDir(self):
        """The ``file:`` URI of this context's checkpoint directory, or None when
        setCheckpointDir was not called.

        Examples
        --------
        >>> d = sc.getCheckpointDir()
        >>> d is None or d.startswith("file:/")
        True
        """
        return None if self._checkpoint_dir is None else "file:" + self._checkpoint_dir

    def _write_checkpoints(self, node):
        """After a job over node: writes the pending checkpoints of the RDDs in its
        lineage (the nearest ones on each path, as Spark does)."""
        pending = self._pending_checkpoints
        seen, stack, found = set(), [node], []
        while stack:
            n = stack.pop()
            if n.id in seen:
                continue
            seen.add(n.id)
            if n.id in pending:
                found.append(n.id)
            else:
                stack.extend(n.parents)
        for nid in found:
            ref = pending.pop(nid, None)
            rdd = ref() if ref is not None else None
            if rdd is not None:
                rdd._write_checkpoint()
