"""SparkContext: the entry point of an ember application.

Start-up: this module first starts the worker daemon (ember._early), then imports
only what ``SparkContext()`` needs; ember.rdd, the progress bar and the web UI are
loaded when a context starts. The daemon's interpreter starts on the other core
meanwhile.
"""

from __future__ import annotations

from ember import _early

_early.start()  # first: the worker daemon starts while the rest is imported
import _pickle as pickle  # pickle's C core; pickle.py would import re and enum (start-up time)
import atexit
import os
import sys
import _thread  # threading's C core: threading.py is start-up time SparkContext() does not need
import time
import weakref

from ember import _blocks, _core, _lineage
from ember._early import mpi_launch as _mpi_launch, worker_path as _worker_path
from ember import accumulators as _accumulators
from ember.broadcast import Broadcast
from ember.conf import SparkConf
from ember import log as _log
from ember.profiler import BasicProfiler, MemoryProfiler, ProfilerCollector, UDFBasicProfiler, _incorrect_conf
from ember.serializers import (AutoBatchedSerializer, BatchedSerializer, CloudPickleSerializer, cloudpickle_dumps,
                               CPickleSerializer, PickleSerializer)

from ember._typing import T, U

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from types import TracebackType
    from typing import Any, NoReturn

    from ember.accumulators import Accumulator, AccumulatorParam
    from ember.rdd import RDD
    from ember.serializers import Serializer
    from ember.status import StatusTracker

__all__ = ["SparkContext"]

_live_contexts: weakref.WeakSet[SparkContext] = weakref.WeakSet()


def _stop_all_at_exit() -> None:
    for sc in list(_live_contexts):
        sc.stop()


atexit.register(_stop_all_at_exit)


_BYTE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "g": 1 << 30,
               "gb": 1 << 30, "t": 1 << 40, "tb": 1 << 40, "p": 1 << 50, "pb": 1 << 50}


def _byte_size(text: Any, key: Any) -> Any:
    """Bytes in a Spark size string as Spark reads a bytes setting: a whole number
    with an optional unit (b, k/kb, m/mb, g/gb, t/tb, p/pb; none: bytes)."""
    number, unit = _leading_digits(str(text).lower().strip())
    unit = unit.strip()
    if not number or unit not in _BYTE_UNITS:
        raise ValueError(f"{key}={text!r} is not a size: use a whole number with an optional unit "
                         f"(b, k, m, g, t, p), like 1g, 512m or 0 for unlimited")
    return int(number) * _BYTE_UNITS[unit]


def _worker_memory(conf: Any) -> Any:
    """spark.executor.pyspark.memory in bytes (each worker's address-space limit), or None."""
    value = conf.get("spark.executor.pyspark.memory")
    if value is None:
        return None
    from ember.shuffle import parse_memory
    try:
        nbytes = parse_memory(value)
    except ValueError:
        nbytes = 0
    if nbytes <= 0:
        raise ValueError(f"spark.executor.pyspark.memory={value!r} is not a size: use e.g. 512m or 2g")
    return nbytes


def _parse_master(master: Any) -> Any:
    """Returns (slots, max_failures or None) for a master URL: local ones, and "mpi"
    (cluster mode: the slots are each executor's, spark.executor.cores or its CPUs)."""
    url = master.strip()
    if url == "mpi":
        return os.cpu_count() or 1, None
    n = f = ""
    if url.startswith("local[") and url.endswith("]"):
        n, comma, f = url[len("local["):-1].partition(",")
        if comma:  # local[N,F]: spaces allowed around the comma
            n, f = n.rstrip(), f.lstrip()
            ok = f.isdecimal()
        else:
            ok = True
        ok = ok and (n == "*" or n.isdecimal())
    else:
        ok = url == "local"
    if not ok:
        raise ValueError(
            f"Unsupported master URL {master!r}: use local, local[N], local[*], local[N,F], or mpi "
            "(cluster mode, under mpirun)")
    slots = 1 if not n else (os.cpu_count() or 1) if n == "*" else int(n)
    if slots < 1:
        raise ValueError(f"master {master!r} asks for {slots} task slots; ask for at least 1")
    return slots, int(f) if f else None


def _leading_digits(text: str) -> tuple[str, str]:
    """text split after its leading decimal digits: ("512", "m") for "512m"."""
    i = 0
    while i < len(text) and text[i].isdecimal():
        i += 1
    return text[:i], text[i:]


def _locality_wait_ms(conf: Any) -> int:
    """spark.locality.wait in ms (Spark's default 3s): how long a cluster-mode task waits
    for a free slot on the executor that dominates its input (it alone holds a fifth or
    more, and at least half) before it runs elsewhere."""
    value = conf.get("spark.locality.wait")
    if value is None:
        return 3000
    from ember.taskcontext import _timeout_seconds  # imports re: only when the key is set
    return int(_timeout_seconds(value, "spark.locality.wait") * 1000)


def _mpi_shim() -> str:
    """The path of ember's MPI shim, or an error saying how to get one."""
    import glob
    here = os.path.dirname(os.path.abspath(_core.__file__))
    found = sorted(glob.glob(os.path.join(here, "_mpi_shim*.so")))
    if not found:
        raise RuntimeError(
            "cluster mode (master 'mpi' or a program started by mpirun) needs ember built with MPI, and this "
            f"one was built without it ({here} has no _mpi_shim.so): install Open MPI or MPICH with its "
            "headers (Debian: apt-get install libopenmpi-dev openmpi-bin) and reinstall ember")
    return found[0]


def _warn_if_bound(slots: int, who: str) -> None:
    """Under an MPI launch, warns when this rank's CPU affinity (which mpirun sets:
    Open MPI binds each rank to one core by default with 2 ranks or fewer, to a
    socket otherwise) leaves fewer CPUs than its task slots: its workers, which
    inherit it, would share those CPUs and run that much slower."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # no affinity on this platform: nothing to say
        return
    if cpus < slots:
        import warnings  # a warning on stderr: ember's log is silent unless the program configures logging
        warnings.warn(
            f"{who} has {slots} task slots but may run on {cpus} CPU{'' if cpus == 1 else 's'} only (the CPU "
            f"binding mpirun gave this rank); its Python workers share {'it' if cpus == 1 else 'them'}. Start "
            f"mpirun with --bind-to none, or give each rank as many cores as slots (--map-by slot:PE={slots})",
            RuntimeWarning, stacklevel=3)


def _run_executor(conf: Any, slots: int, rank: int) -> None:
    """Runs this process as executor `rank` until the driver stops, then ends the
    process: an executor never returns into the program that made the context."""
    import socket
    os.environ["EMBER_EXECUTOR"] = f"executor rank {rank} (host {socket.gethostname()})"
    code = 0
    try:
        _core.mpi_executor(slots, sys.executable, os.pathsep.join(_worker_path()),
                           conf.get("spark.local.dir"), _mpi_shim(), *_blocks.memory_budget(conf))
    except BaseException as e:  # noqa: BLE001 - the process ends either way; say why
        print(f"ember: executor rank {rank} failed: {e}", file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


_INPUTS = ("sc.textFile(), sc.wholeTextFiles(), sc.binaryFiles(), sc.binaryRecords(), sc.pickleFile() or "
           "sc.sequenceFile() (uncompressed SequenceFiles)")


def _no_hadoop(method: Any, instead: Any) -> Any:
    return (f"{method}() reads Hadoop formats through the JVM, which ember does not have; "
            f"use {instead} instead")


def _dumps(obj: Any) -> Any:
    try:
        return pickle.dumps(obj, protocol=5)
    except Exception:
        return cloudpickle_dumps(obj, 5)


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
    batchSize : int, optional
        Records per pickled batch of ``parallelize``: 0 (the default) sizes batches
        automatically, -1 makes one batch of everything.
    serializer : Serializer, optional
        How records are stored: ember always uses pickles (protocol 5, through
        cloudpickle), so only ``CPickleSerializer()`` (the default),
        ``CloudPickleSerializer()`` or ``PickleSerializer()`` are accepted; others
        (``MarshalSerializer()`` ...) raise NotImplementedError.
    conf : SparkConf, optional
        Settings; copied.
    profiler_cls : type, optional
        The profiler of each RDD when ``spark.python.profile`` is true (default
        :class:`ember.profiler.BasicProfiler`).
    udf_profiler_cls : type, optional
        Accepted as PySpark's; ember has no SQL UDFs to profile.
    memory_profiler_cls : type, optional
        Accepted as PySpark's (:class:`ember.profiler.MemoryProfiler`); PySpark uses
        it for SQL UDFs only, which ember does not have.

    Examples
    --------
    >>> sc.parallelize([1, 2, 3]).map(lambda x: x * 2).collect()
    [2, 4, 6]
    >>> sc.defaultParallelism >= 1
    True
    >>> sc.serializer
    AutoBatchedSerializer(CloudPickleSerializer())
    """

    _active_spark_context: SparkContext | None = None
    _system_properties: dict[str, str] = {}  # setSystemProperty: defaults of later contexts
    _lock = _thread.RLock()
    PACKAGE_EXTENSIONS = (".zip", ".egg", ".jar")
    master: str
    appName: str
    _callsite: Any

    def __init__(self, master: str | None = None, appName: str | None = None, sparkHome: str | None = None,
                 pyFiles: list[str] | None = None, environment: dict[str, Any] | None = None, batchSize: int = 0,
                 serializer: Serializer | None = None, conf: SparkConf | None = None, gateway: None = None,
                 jsc: None = None, profiler_cls: type[BasicProfiler] = BasicProfiler,
                 udf_profiler_cls: type[UDFBasicProfiler] = UDFBasicProfiler,
                 memory_profiler_cls: type[MemoryProfiler] = MemoryProfiler) -> None:
        element_serializer = _element_serializer(serializer)
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
            # node id -> (label, call site, name): see _lineage
            self._node_info: dict[int, tuple[str | None, Any, str | None]] = {}
            # node id -> weakref to an RDD to checkpoint
            self._pending_checkpoints: dict[int, weakref.ref[RDD[Any]]] = {}
            self._checkpoint_dir: str | None = None
            self._conf = conf
            self.master = conf.get("spark.master", "")  # set just above
            self.appName = conf.get("spark.app.name", "")
            self.sparkHome = sparkHome
            self.environment = dict(environment or {})
            self._batchSize = batchSize
            self._unbatched_serializer = element_serializer
            self.profiler_collector: ProfilerCollector | None = None
            if conf.get("spark.python.profile", "false").lower() == "true":
                self.profiler_collector = ProfilerCollector(
                    profiler_cls, udf_profiler_cls, conf.get("spark.python.profile.dump"))
                self.profiler_collector.memory_profiler_cls = memory_profiler_cls
            self.serializer = (AutoBatchedSerializer(element_serializer) if batchSize == 0
                               else BatchedSerializer(element_serializer, batchSize))
            event_dir = None
            if conf.get("spark.eventLog.enabled", "false").strip().lower() == "true":
                from ember._ui import eventlog
                event_dir = eventlog.directory(conf)  # before anything starts: it may raise
            slots, failures = _parse_master(self.master)
            if failures is None:
                failures = int(conf.get("spark.task.maxFailures", "4"))
            # Cluster mode: master "mpi", or any master in a launch of 2 ranks or more
            # (local[N] then gives each executor N slots). Executors stop here for good.
            launch = _mpi_launch()
            mpi = None
            if self.master.strip() == "mpi" and launch is None:
                raise RuntimeError(
                    "master 'mpi' runs under an MPI launcher: start the program with `mpirun -np K python "
                    "app.py` (rank 0 is the driver, ranks 1..K-1 executors); `ember-submit --master mpi` "
                    "shows the line")
            if launch is not None and (launch[1] > 1 or self.master.strip() == "mpi"):
                cores = conf.get("spark.executor.cores")
                if self.master.strip() == "mpi" and cores is not None:
                    slots = int(cores)
                mpi = _mpi_shim()
                if launch[0] != 0:
                    _warn_if_bound(slots, f"executor rank {launch[0]}")
                    _run_executor(conf, slots, launch[0])
            elif launch is not None:  # local mode in a launch of one rank: its workers are this rank's
                _warn_if_bound(slots, "this program (local mode under mpirun)")
            self._slots = slots
            self._cluster = mpi is not None
            max_result = _byte_size(conf.get("spark.driver.maxResultSize", "1g"), "spark.driver.maxResultSize")
            self._worker_memory = _worker_memory(conf)
            self._daemon_restarts = 0
            memory_limit, storage_reserve = _blocks.memory_budget(conf)
            self._core = _core.Context(slots, sys.executable, os.pathsep.join(_worker_path()), failures,
                                       conf.get("spark.local.dir"), max_result_size=max_result,
                                       memory_limit=memory_limit, storage_reserve=storage_reserve, mpi=mpi,
                                       started=_early.take(), locality_wait_ms=_locality_wait_ms(conf))
            if mpi is not None:  # the executors' slots, all of them
                self._slots = sum(e[3] for e in self._core.executors())
            self._core.freed_nodes()            # from now on the engine tells which nodes went
            self._init_shared_state()
            from ember import progress
            self._progress = progress.for_context(conf, self._core)
            tasks, stages = conf.get("spark.ui.retainedTasks"), conf.get("spark.ui.retainedStages")
            if tasks is not None or stages is not None:
                self._core.tasklog_retain(int(tasks or 100000), int(stages or 1000))
            from ember import _ui
            self._ui = _ui.start(self, conf)
            self._event_log = None if event_dir is None else eventlog.EventLog(self, event_dir)
            SparkContext._active_spark_context = self
            _live_contexts.add(self)
        for path in pyFiles or ():
            self.addPyFile(path)
        _log.info("SparkContext started: master=%s, app=%s, slots=%d", self.master, self.appName, slots)

    # ---- lifecycle -----------------------------------------------------------------------

    @classmethod
    def getOrCreate(cls, conf: SparkConf | None = None) -> SparkContext:
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
            active = cls._active_spark_context
            if active is None:
                active = cls(conf=conf or SparkConf())  # becomes the active context
            return active

    def stop(self) -> None:
        """Stops the workers and removes temporary files. Safe to call twice."""
        with SparkContext._lock:
            ui = getattr(self, "_ui", None)
            if ui is not None:
                ui.close()
            event_log = getattr(self, "_event_log", None)
            if event_log is not None:
                event_log.close()
            progress_bar = getattr(self, "_progress", None)
            if progress_bar is not None:
                progress_bar.close()
            core = getattr(self, "_core", None)
            if core is not None:
                if not core.stopped:
                    _log.info("SparkContext stopping: app=%s", self.appName)
                core.stop()
            if SparkContext._active_spark_context is self:
                SparkContext._active_spark_context = None
            _live_contexts.discard(self)

    def __enter__(self) -> SparkContext:
        return self

    def __exit__(self, type: type[BaseException] | None, value: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def __reduce__(self) -> NoReturn:
        raise RuntimeError(
            "[CONTEXT_ONLY_VALID_ON_DRIVER] It appears that you are attempting to reference "
            "SparkContext from a broadcast variable, action, or transformation. SparkContext can "
            "only be used on the driver, not in code that runs on workers.")

    def __repr__(self) -> str:
        return f"<SparkContext master={self.master} appName={self.appName}>"

    # ---- identity and settings -----------------------------------------------------------

    @property
    def version(self) -> str:
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
    def applicationId(self) -> str:
        """A unique id of this application: ``local-<start time in ms>``.

        Examples
        --------
        >>> sc.applicationId.startswith("local-")
        True
        """
        return f"local-{self._start_ms}"

    @property
    def startTime(self) -> int:
        """When the context started, in milliseconds since the epoch.

        Examples
        --------
        >>> sc.startTime > 0
        True
        """
        return self._start_ms

    @property
    def pythonExec(self) -> str:
        """The Python interpreter the workers run (this driver's own).

        Examples
        --------
        >>> import sys
        >>> sc.pythonExec == sys.executable
        True
        """
        return sys.executable

    @property
    def pythonVer(self) -> str:
        """The workers' Python version, ``major.minor``.

        Examples
        --------
        >>> import sys
        >>> sc.pythonVer == "%d.%d" % sys.version_info[:2]
        True
        """
        return "%d.%d" % sys.version_info[:2]

    @property
    def uiWebUrl(self) -> str | None:
        """The address of the web UI (``http://127.0.0.1:4040`` unless
        ``spark.ui.host``/``spark.ui.port`` say otherwise, or the next free port), or
        None when ``spark.ui.enabled`` is false or no port was free.

        Examples
        --------
        >>> sc.uiWebUrl.startswith("http://127.0.0.1:")
        True
        """
        ui = getattr(self, "_ui", None)
        return None if ui is None else ui.url

    @property
    def resources(self) -> dict[str, Any]:
        """An empty dict: ember schedules no custom resources (GPUs, FPGAs).

        Examples
        --------
        >>> sc.resources
        {}
        """
        return {}

    def sparkUser(self) -> str:
        """The user running the application: ``$SPARK_USER``, else the login name.

        Examples
        --------
        >>> isinstance(sc.sparkUser(), str)
        True
        """
        import getpass
        return os.environ.get("SPARK_USER") or getpass.getuser()

    def getConf(self) -> SparkConf:
        """A copy of the context's settings.

        Examples
        --------
        >>> conf = sc.getConf()
        >>> conf.get("spark.master") == sc.master
        True
        """
        return self._conf._copy()

    def setLogLevel(self, logLevel: str) -> None:
        """Sets the level of the ``ember`` logger (Python ``logging``), by PySpark's names.

        Parameters
        ----------
        logLevel : str
            One of ALL, DEBUG, ERROR, FATAL, INFO, OFF, TRACE, WARN.

        Examples
        --------
        >>> sc.setLogLevel("WARN")
        >>> sc.setLogLevel("CHATTY")
        Traceback (most recent call last):
            ...
        ValueError: Supplied level CHATTY did not match one of: ALL,DEBUG,ERROR,FATAL,TRACE,WARN,INFO,OFF
        """
        _log.set_log_level(logLevel)

    @classmethod
    def setSystemProperty(cls, key: str, value: str) -> None:
        """Sets a process-wide property. ``spark.*`` keys become defaults of every
        context created afterwards, as JVM system properties do in PySpark.

        Examples
        --------
        >>> SparkContext.setSystemProperty("spark.example.setting", "1")
        >>> SparkContext._system_properties.pop("spark.example.setting")
        '1'
        """
        cls._system_properties[key] = str(value)

    @classmethod
    def getSystemProperty(cls, key: str) -> str | None:
        """A process-wide property: one set with :meth:`setSystemProperty`, else
        the few the JVM's ``System.getProperty`` has that mean the same in this
        process (``user.name``, ``user.home``, ``user.dir``, ``os.name``, ``os.arch``,
        ``java.io.tmpdir``, ``file.separator``, ``path.separator``,
        ``line.separator``); None for others (ember has no JVM: ``java.home`` is None).

        Parameters
        ----------
        key : str

        Returns
        -------
        str or None

        Examples
        --------
        >>> SparkContext.setSystemProperty("spark.example.sys", "on")
        >>> SparkContext.getSystemProperty("spark.example.sys")
        'on'
        >>> _ = SparkContext._system_properties.pop("spark.example.sys")
        >>> SparkContext.getSystemProperty("file.separator")
        '/'
        >>> SparkContext.getSystemProperty("java.home") is None
        True
        """
        if key in cls._system_properties:
            return cls._system_properties[key]
        value: str | None = _process_property(key)
        return value

    @property
    def defaultParallelism(self) -> int:
        """Default number of partitions: ``spark.default.parallelism``, else the slots."""
        return int(self._conf.get("spark.default.parallelism", self._slots))

    @property
    def defaultMinPartitions(self) -> int:
        """Default minimum partitions of file inputs: ``min(defaultParallelism, 2)``."""
        return min(self.defaultParallelism, 2)

    # ---- data sources --------------------------------------------------------------------

    def _label(self, rdd: RDD[Any], label: str) -> None:
        """Names the class of rdd's node in repr() and toDebugString()."""
        node = rdd._node_obj_built()
        _, site, name = self._node_info.get(node.id, (None, rdd._site, rdd._name))
        self._node_info[node.id] = (label, site, name)

    def _descriptor_source(self, partitions: Sequence[Any], read: Callable[[Iterable[Any]], Iterable[Any]],
                           label: str | None = None) -> RDD[Any]:
        """An RDD whose partition i is read(descriptors of partition i) in a worker: the
        driver ships only the small descriptors (paths, byte ranges)."""
        base: RDD[Any] = _rdd(self, self._core.parallelize([[_dumps(list(d))] for d in partitions]))
        rdd = base.mapPartitions(read)
        if label:
            self._label(rdd, label)
        return rdd

    def _pickle_source(self, partitions: Sequence[Any], label: str | None = None) -> RDD[Any]:
        from ember import _files
        return self._descriptor_source(
            partitions, lambda it: (x for p, start, end in it for x in _files.read_pickle_split(p, start, end)),
            label)

    def emptyRDD(self) -> RDD[Any]:
        """An RDD with no partitions and no elements.

        Examples
        --------
        >>> rdd = sc.emptyRDD()
        >>> rdd.getNumPartitions(), rdd.collect(), rdd.isEmpty()
        (0, [], True)
        """
        rdd: RDD[Any] = _rdd(self, self._core.parallelize([]))
        self._label(rdd, "EmptyRDD")
        return rdd

    def parallelize(self, c: Iterable[T], numSlices: int | None = None) -> RDD[T]:
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
            return _rdd(self, self._core.range(c.start, c.stop, c.step, n))
        data = list(c)
        size = len(data)
        batch = self._batchSize or 1024
        bs = max(1, min(size // n, batch)) if self._batchSize != -1 else max(size, 1)
        batches = [data[i:i + bs] for i in range(0, size, bs)]
        nb = len(batches)
        parts = [[_dumps(b) for b in batches[p * nb // n:(p + 1) * nb // n]] for p in range(n)]
        return _rdd(self, self._core.parallelize(parts))

    def range(self, start: int, end: int | None = None, step: int = 1, numSlices: int | None = None) -> RDD[int]:
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

    def textFile(self, name: str, minPartitions: int | None = None, use_unicode: bool = True) -> RDD[str]:
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
        rdd: RDD[str] = _rdd(self, self._core.text(name, n, not use_unicode))
        return rdd.setName(name)

    def wholeTextFiles(self, path: str, minPartitions: int | None = None,
                       use_unicode: bool = True) -> RDD[tuple[str, str]]:
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

    def binaryFiles(self, path: str, minPartitions: int | None = None) -> RDD[tuple[str, bytes]]:
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

    def binaryRecords(self, path: str, recordLength: int) -> RDD[bytes]:
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

    def pickleFile(self, name: str, minPartitions: int | None = None) -> RDD[Any]:
        """Loads an RDD saved with ``RDD.saveAsPickleFile`` (by ember or by PySpark: both
        write Hadoop SequenceFiles of pickled batches). A file that is not a pickle
        file, or is damaged, gives a ValueError naming it (and the byte offset).

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

    def sequenceFile(self, path: str, keyClass: str | None = None, valueClass: str | None = None,
                     keyConverter: str | None = None, valueConverter: str | None = None, minSplits: int | None = None,
                     batchSize: int = 0) -> RDD[tuple[Any, Any]]:
        """Reads a Hadoop SequenceFile of Writable keys and values as (key, value) pairs,
        converted as PySpark converts them: Text to str, IntWritable, LongWritable and
        VIntWritable/VLongWritable to int, DoubleWritable and FloatWritable to float,
        BooleanWritable to bool, BytesWritable to bytearray, NullWritable to None. The
        classes recorded in each file decide the conversion (as in Hadoop); other
        Writables, compressed SequenceFiles and converters raise NotImplementedError.

        Parameters
        ----------
        path : str
            A file, a directory, globs, comma-separated.
        keyClass, valueClass : str, optional
            Fully qualified Writable class names, e.g. ``"org.apache.hadoop.io.Text"``
            (accepted for compatibility; the file's own classes are used).
        keyConverter, valueConverter : str, optional
            Not supported (Java classes); must be None.
        minSplits : int, optional
            Large files are cut at sync markers to give at least this many partitions.
        batchSize : int, optional
            Ignored (PySpark's serialization batch size).

        Examples
        --------
        >>> import os, tempfile
        >>> out = os.path.join(tempfile.mkdtemp(), "seq")
        >>> sc.parallelize([("a", 1), ("b", 2)]).saveAsSequenceFile(out)
        >>> sorted(sc.sequenceFile(out, "org.apache.hadoop.io.Text", "org.apache.hadoop.io.IntWritable").collect())
        [('a', 1), ('b', 2)]
        """
        from ember import _files, _hadoop
        for name, conv in (("keyConverter", keyConverter), ("valueConverter", valueConverter)):
            if conv is not None:
                raise NotImplementedError(
                    f"sequenceFile({name}={conv!r}): converters are Java classes, which ember cannot run; "
                    "convert the values with rdd.map() after reading")
        for name, cls in (("keyClass", keyClass), ("valueClass", valueClass)):
            if cls is not None and not isinstance(cls, str):
                raise TypeError(f"sequenceFile {name} must be a class name string, got {type(cls).__name__}")
        files = _files.list_files(path)
        for f in files:
            with open(f, "rb") as fh:
                head = fh.read(64)
            if not _hadoop.is_sequence_file(head):
                raise ValueError(f"{f} is not a Hadoop SequenceFile (it looks like {_hadoop.describe(head)}); "
                                 "read text with sc.textFile")
            _hadoop.check_file(f)
        splits = _files.pickle_splits(files, minSplits or self.defaultMinPartitions)
        return self._descriptor_source(
            [[s] for s in splits],
            lambda it: (kv for p, start, end in it for kv in _hadoop.read_split(p, start, end))).setName(path)

    def newAPIHadoopFile(self, path: str, inputFormatClass: str, keyClass: str, valueClass: str,
                         keyConverter: str | None = None, valueConverter: str | None = None,
                         conf: dict[str, str] | None = None, batchSize: int = 0) -> NoReturn:
        """Not available: Hadoop InputFormats need the JVM. Use textFile,
        wholeTextFiles, binaryFiles, binaryRecords or pickleFile."""
        raise NotImplementedError(_no_hadoop("newAPIHadoopFile", _INPUTS))

    def newAPIHadoopRDD(self, inputFormatClass: str, keyClass: str, valueClass: str, keyConverter: str | None = None,
                        valueConverter: str | None = None, conf: dict[str, str] | None = None,
                        batchSize: int = 0) -> NoReturn:
        """Not available: Hadoop InputFormats need the JVM. Use textFile,
        wholeTextFiles, binaryFiles, binaryRecords or pickleFile."""
        raise NotImplementedError(_no_hadoop("newAPIHadoopRDD", _INPUTS))

    def hadoopFile(self, path: str, inputFormatClass: str, keyClass: str, valueClass: str,
                   keyConverter: str | None = None, valueConverter: str | None = None,
                   conf: dict[str, str] | None = None, batchSize: int = 0) -> NoReturn:
        """Not available: Hadoop InputFormats need the JVM. Use textFile,
        wholeTextFiles, binaryFiles, binaryRecords or pickleFile."""
        raise NotImplementedError(_no_hadoop("hadoopFile", _INPUTS))

    def hadoopRDD(self, inputFormatClass: str, keyClass: str, valueClass: str, keyConverter: str | None = None,
                  valueConverter: str | None = None, conf: dict[str, str] | None = None,
                  batchSize: int = 0) -> NoReturn:
        """Not available: Hadoop InputFormats need the JVM. Use textFile,
        wholeTextFiles, binaryFiles, binaryRecords or pickleFile."""
        raise NotImplementedError(_no_hadoop("hadoopRDD", _INPUTS))

    def union(self, rdds: list[RDD[T]]) -> RDD[T]:
        """The union of a list of RDDs: their partitions, in order.

        Examples
        --------
        >>> sc.union([sc.parallelize([1]), sc.parallelize([2, 3])]).collect()
        [1, 2, 3]
        """
        rdds = list(rdds)
        if not rdds:
            raise ValueError("union() needs at least one RDD")
        from ember.rdd import RDD, _union_rdds
        for r in rdds:
            if not isinstance(r, RDD):
                raise TypeError(f"union() expects RDDs, got {type(r).__name__}")
        if len(rdds) == 1:
            return rdds[0]
        return _union_rdds(self, rdds)

    # ---- shared variables ----------------------------------------------------------------

    def _init_shared_state(self) -> None:
        """Broadcasts, added files, local properties and the job history."""
        self._shared_lock = _thread.RLock()
        self._thread_local = _thread._local()
        self._next_broadcast = 0
        self._broadcast_alive: dict[int, int] = {}   # broadcast id -> generation (bumped by unpersist)
        self._added_files: dict[str, str] = {}       # "file:" URI -> name in the files root
        self._python_includes: list[str] = []   # names of added .zip/.egg/.jar files
        self._added_archives: dict[str, str] = {}    # "file:" URI (with any "#alias") -> name in the files root
        self._files_dir = os.path.join(self._core.tmpdir, "userFiles")
        from ember.status import _JobHistory
        self._jobs = _JobHistory(int(self._conf.get("spark.ui.retainedJobs", "1000")))

    def _new_broadcast_id(self) -> Any:
        with self._shared_lock:
            bid = self._next_broadcast
            self._next_broadcast += 1
            return bid

    def broadcast(self, value: T) -> Broadcast[T]:
        """Broadcasts a read-only value to the tasks: it is pickled once, stored by
        the engine, and loaded at most once per worker process.

        Parameters
        ----------
        value : object
            The value to share (picklable).

        Returns
        -------
        Broadcast
            Read it through ``.value``, on the driver or in tasks.

        Examples
        --------
        >>> mapping = {1: 10001, 2: 10002}
        >>> bc = sc.broadcast(mapping)
        >>> sc.range(5).map(lambda i: bc.value[i] if i in bc.value else -1).collect()
        [-1, 10001, 10002, -1, -1]
        >>> bc.destroy()
        """
        if self._core.stopped:
            raise RuntimeError("this SparkContext is stopped; create a new SparkContext to broadcast values")
        return Broadcast(self, value)

    def accumulator(self, value: T, accum_param: AccumulatorParam[T] | None = None) -> Accumulator[T]:
        """Creates an Accumulator: tasks add to it, the driver reads ``.value``.

        Parameters
        ----------
        value : object
            The initial value.
        accum_param : AccumulatorParam, optional
            How values add up; ints, floats and complex numbers have a default.

        Returns
        -------
        Accumulator

        Examples
        --------
        >>> acc = sc.accumulator(9)
        >>> acc += 1
        >>> acc.value
        10
        >>> sc.range(5).map(lambda x: acc.add(1)).count()
        5
        >>> acc.value
        15
        """
        param: Any  # an AccumulatorParam[T]: T is the type of value
        if accum_param is not None:
            param = accum_param
        elif isinstance(value, int):
            param = _accumulators.INT_ACCUMULATOR_PARAM
        elif isinstance(value, float):
            param = _accumulators.FLOAT_ACCUMULATOR_PARAM
        elif isinstance(value, complex):
            param = _accumulators.COMPLEX_ACCUMULATOR_PARAM
        else:
            raise TypeError(f"No default accumulator param for type {type(value)}: "
                            "pass an AccumulatorParam")
        return _accumulators.Accumulator(_accumulators._next_id(), value, param)

    # ---- files ---------------------------------------------------------------------------

    def _files_root(self) -> str:
        if self._core.stopped:
            raise RuntimeError("this SparkContext is stopped (its files went with it); "
                               "create a new SparkContext to add or find files")
        os.makedirs(self._files_dir, exist_ok=True)
        return self._files_dir

    def _write_into_files_root(self, name: str, write: Callable[[str], object]) -> None:
        """Puts a new entry called name into the files root: write(tmp) makes it at a
        temporary path beside, which is then renamed into place, so tasks never see a
        half-written copy; nothing is left at the temporary path if write fails."""
        import shutil
        dst = os.path.join(self._files_root(), name)
        tmp = os.path.join(self._files_dir, f".{name}.adding")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            write(tmp)
            os.replace(tmp, dst)
            self._share(dst)
        finally:
            if os.path.isdir(tmp):
                shutil.rmtree(tmp, ignore_errors=True)
            elif os.path.lexists(tmp):
                os.unlink(tmp)

    def _share(self, path: str) -> None:
        """Cluster mode: copies the file (or each file of the directory) at path, in
        the temp dir, to the same place in every executor's temp dir, where its tasks
        read it; tasks submitted afterwards find the copies complete. Nothing locally."""
        if not self._cluster:
            return
        found = [path] if not os.path.isdir(path) else sorted(
            os.path.join(d, f) for d, _, names in os.walk(path) for f in names)
        for f in found:
            self._core.share(os.path.relpath(f, self._core.tmpdir))

    def addFile(self, path: str, recursive: bool = False) -> None:
        """Adds a file (or, with recursive, a directory) for every task to use:
        it is copied once into the files root, where :meth:`SparkFiles.get` finds
        it by name. Adding the same path again is ignored.

        Parameters
        ----------
        path : str
            A local path or a ``file:`` URI.
        recursive : bool, optional
            Must be True to add a directory.

        Examples
        --------
        >>> import os, tempfile
        >>> from ember import SparkFiles
        >>> d = tempfile.mkdtemp()
        >>> path = os.path.join(d, "test1.txt")
        >>> _ = open(path, "w").write("100")
        >>> sc.addFile(path)
        >>> sc.addFile(path)
        >>> [f for f in sc.listFiles if f.endswith("/test1.txt")] == ["file:" + path]
        True
        >>> def func(iterator):
        ...     with open(SparkFiles.get("test1.txt")) as f:
        ...         mul = int(f.readline())
        ...     return [x * mul for x in iterator]
        >>> sc.parallelize([1, 2, 3, 4]).mapPartitions(func).collect()
        [100, 200, 300, 400]
        """
        src = _local_path(path)
        key = "file:" + src
        with self._shared_lock:
            if key in self._added_files:
                return
            if not os.path.exists(src):
                raise FileNotFoundError(f"File {src} does not exist; addFile needs an existing local path")
            if os.path.isdir(src) and not recursive:
                raise ValueError(f"{src} is a directory; pass recursive=True to add a directory")
            name = os.path.basename(src.rstrip(os.sep))
            dst = os.path.join(self._files_root(), name)
            if os.path.lexists(dst):
                if not _same_contents(src, dst):
                    raise ValueError(
                        f"File {name} was already added from another path and {src} has different "
                        "contents; rename one of them (files are found by name in the files root)")
            else:
                self._write_into_files_root(name, lambda tmp: _copy(src, tmp))
            self._added_files[key] = name

    @property
    def listFiles(self) -> list[str]:
        """The ``file:`` URIs of the files added with addFile and addPyFile.

        Examples
        --------
        >>> isinstance(sc.listFiles, list)
        True
        """
        with self._shared_lock:
            return list(self._added_files)

    def addPyFile(self, path: str) -> None:
        """Adds a Python dependency for the tasks: a .py file, or a .zip/.egg of
        packages, importable in the workers (and on the driver). Adding the same
        path again is ignored.

        Parameters
        ----------
        path : str
            A .py, .zip or .egg file.

        Examples
        --------
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "ember_doc_helper.py")
        >>> _ = open(path, "w").write("def triple(x):\\n    return 3 * x\\n")
        >>> sc.addPyFile(path)
        >>> sc.parallelize([1, 2]).map(lambda x: __import__("ember_doc_helper").triple(x)).collect()
        [3, 6]
        """
        self.addFile(path)
        name = os.path.basename(_local_path(path))
        root = self._files_root()
        with self._shared_lock:
            if root not in sys.path:
                sys.path.insert(1, root)
            if name[-4:].lower() in self.PACKAGE_EXTENSIONS and name not in self._python_includes:
                self._python_includes.append(name)
                sys.path.insert(1, os.path.join(root, name))
        import importlib
        importlib.invalidate_caches()

    def addArchive(self, path: str) -> None:
        """Adds an archive for every task to use: a .zip, .jar, .tar, .tar.gz or .tgz
        file is unpacked once into a directory of the files root named after the
        archive (or after ``#alias`` when the path ends with one), which
        :meth:`SparkFiles.get` finds by that name. Other files are copied as they
        are. Adding the same path again is ignored.

        Parameters
        ----------
        path : str
            A local path or a ``file:`` URI, optionally ending with ``#alias``.

        Examples
        --------
        >>> import os, tempfile, zipfile
        >>> from ember import SparkFiles
        >>> d = tempfile.mkdtemp()
        >>> _ = open(os.path.join(d, "test.txt"), "w").write("100")
        >>> zip_path = os.path.join(d, "archive_doc.zip")
        >>> with zipfile.ZipFile(zip_path, "w") as z:
        ...     z.write(os.path.join(d, "test.txt"), "test.txt")
        >>> sc.addArchive(zip_path)
        >>> sc.addArchive(zip_path)
        >>> [a for a in sc.listArchives if a.endswith("/archive_doc.zip")] == ["file:" + zip_path]
        True
        >>> def func(iterator):
        ...     with open(os.path.join(SparkFiles.get("archive_doc.zip"), "test.txt")) as f:
        ...         mul = int(f.readline())
        ...     return [x * mul for x in iterator]
        >>> sc.parallelize([1, 2, 3, 4]).mapPartitions(func).collect()
        [100, 200, 300, 400]
        """
        text = os.fspath(path)
        if not isinstance(text, str):
            raise TypeError(f"addArchive expects a path string, got {type(text).__name__}")
        text, _, alias = text.partition("#")
        src = _local_path(text)
        key = "file:" + src + ("#" + alias if alias else "")
        with self._shared_lock:
            if key in self._added_archives:
                return
            if not os.path.isfile(src):
                raise FileNotFoundError(f"Archive {src} does not exist (or is not a file); "
                                        "addArchive needs an existing local archive file")
            name = alias or os.path.basename(src)
            if name in (".", "..") or os.sep in name:
                raise ValueError(f"{name!r} cannot name an unpacked archive; choose a plain name after '#'")
            if os.path.lexists(os.path.join(self._files_root(), name)):
                raise ValueError(f"{name} is already in the files root (added from another path); "
                                 f"add {src} under another name with '{text}#<name>'")
            self._write_into_files_root(name, lambda tmp: _unpack_archive(src, tmp))
            self._added_archives[key] = name

    @property
    def listArchives(self) -> list[str]:
        """The ``file:`` URIs of the archives added with addArchive.

        Examples
        --------
        >>> isinstance(sc.listArchives, list)
        True
        """
        with self._shared_lock:
            return list(self._added_archives)

    # ---- checkpoints ---------------------------------------------------------------------

    def setCheckpointDir(self, dirName: str) -> None:
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
        import uuid
        sub = os.path.join(base, str(uuid.uuid4()))
        os.makedirs(sub)
        self._checkpoint_dir = sub

    def getCheckpointDir(self) -> str | None:
        """The ``file:`` URI of this context's checkpoint directory, or None when
        setCheckpointDir was not called.

        Examples
        --------
        >>> d = sc.getCheckpointDir()
        >>> d is None or d.startswith("file:/")
        True
        """
        return None if self._checkpoint_dir is None else "file:" + self._checkpoint_dir

    def _write_checkpoints(self, node: Any) -> None:
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

    # ---- job groups, local properties, cancellation --------------------------------------

    def _local_properties(self) -> Any:
        props = getattr(self._thread_local, "props", None)
        if props is None:
            props = self._thread_local.props = {}
        return props

    def setLocalProperty(self, key: str, value: str | None) -> None:
        """Sets a local property of this thread: it goes with the jobs this thread
        starts, and tasks read it with ``TaskContext.getLocalProperty``.

        Parameters
        ----------
        key : str
        value : str or None
            None removes the property.

        Examples
        --------
        >>> from ember import TaskContext
        >>> sc.setLocalProperty("pool", "fast")
        >>> sc.parallelize([0]).map(lambda _: TaskContext.get().getLocalProperty("pool")).collect()
        ['fast']
        >>> sc.setLocalProperty("pool", None)
        >>> sc.getLocalProperty("pool") is None
        True
        """
        props = self._local_properties()
        if value is None:
            props.pop(key, None)
        else:
            props[str(key)] = str(value)

    def getLocalProperty(self, key: str) -> str | None:
        """A local property of this thread, or None.

        Parameters
        ----------
        key : str

        Returns
        -------
        str or None

        Examples
        --------
        >>> sc.setLocalProperty("k", "v")
        >>> sc.getLocalProperty("k")
        'v'
        >>> sc.setLocalProperty("k", None)
        """
        value: str | None = self._local_properties().get(key)
        return value

    def setJobGroup(self, groupId: str, description: str, interruptOnCancel: bool = False) -> None:
        """Puts the jobs this thread starts from now on in a group, which
        :meth:`cancelJobGroup` cancels at once.

        Parameters
        ----------
        groupId : str
            The group (None leaves any group).
        description : str
            A description of the group's jobs.
        interruptOnCancel : bool, optional
            Recorded as in PySpark; ember always kills a cancelled job's running
            tasks (its worker processes are replaced).

        Examples
        --------
        >>> import threading, time
        >>> result = []
        >>> def start_job():
        ...     sc.setJobGroup("job_to_cancel", "some description")
        ...     try:
        ...         sc.parallelize(range(4), 2).map(lambda x: time.sleep(100)).collect()
        ...     except Exception as e:
        ...         result.append(type(e).__name__)
        >>> t = threading.Thread(target=start_job)
        >>> t.start()
        >>> while not sc.statusTracker().getJobIdsForGroup("job_to_cancel"):
        ...     time.sleep(0.01)
        >>> sc.cancelJobGroup("job_to_cancel")
        >>> t.join()
        >>> result
        ['JobCancelledError']
        """
        self.setLocalProperty("spark.jobGroup.id", groupId)
        self.setLocalProperty("spark.job.description", description)
        self.setLocalProperty("spark.job.interruptOnCancel", str(bool(interruptOnCancel)).lower())

    def setInterruptOnCancel(self, interruptOnCancel: bool) -> None:
        """Records whether cancelling this thread's jobs should interrupt their
        tasks; ember always kills the tasks of a cancelled job.

        Examples
        --------
        >>> sc.setInterruptOnCancel(True)
        >>> sc.getLocalProperty("spark.job.interruptOnCancel")
        'true'
        >>> sc.setLocalProperty("spark.job.interruptOnCancel", None)
        """
        self.setLocalProperty("spark.job.interruptOnCancel", str(bool(interruptOnCancel)).lower())

    def setJobDescription(self, value: str) -> None:
        """Sets the description of the jobs this thread starts.

        Parameters
        ----------
        value : str

        Examples
        --------
        >>> sc.setJobDescription("nightly totals")
        >>> sc.getLocalProperty("spark.job.description")
        'nightly totals'
        >>> sc.setJobDescription(None)
        """
        self.setLocalProperty("spark.job.description", value)

    def addJobTag(self, tag: str) -> None:
        """Adds a tag to the jobs this thread starts from now on;
        :meth:`cancelJobsWithTag` cancels them by it. Tasks see the thread's tags,
        comma-separated, in the local property ``spark.job.tags``.

        Parameters
        ----------
        tag : str
            A non-empty tag without a ``,`` (comma).

        Examples
        --------
        >>> import threading, time
        >>> result = []
        >>> def start_job():
        ...     sc.addJobTag("job_to_cancel")
        ...     try:
        ...         sc.parallelize(range(4), 2).map(lambda x: time.sleep(100)).collect()
        ...     except Exception as e:
        ...         result.append(str(e).splitlines()[0])
        >>> t = threading.Thread(target=start_job)
        >>> t.start()
        >>> while not sc.statusTracker().getActiveJobsIds():
        ...     time.sleep(0.01)
        >>> sc.cancelJobsWithTag("job_to_cancel")
        >>> t.join()
        >>> result  # doctest: +ELLIPSIS
        ['Job ... cancelled part of cancelled job tag job_to_cancel']
        >>> sc.addJobTag("a,b")
        Traceback (most recent call last):
            ...
        ValueError: Spark job tag cannot contain ','.
        """
        _check_tag(tag)
        tags = self.getJobTags()
        tags.add(tag)
        self.setLocalProperty("spark.job.tags", ",".join(sorted(tags)))

    def removeJobTag(self, tag: str) -> None:
        """Removes a tag added with :meth:`addJobTag` from this thread's jobs; a tag
        that was not added is ignored.

        Parameters
        ----------
        tag : str
            A non-empty tag without a ``,`` (comma).

        Examples
        --------
        >>> sc.addJobTag("job_to_cancel1")
        >>> sc.addJobTag("job_to_cancel2")
        >>> sorted(sc.getJobTags())
        ['job_to_cancel1', 'job_to_cancel2']
        >>> sc.removeJobTag("job_to_cancel1")
        >>> sc.getJobTags()
        {'job_to_cancel2'}
        >>> sc.clearJobTags()
        """
        _check_tag(tag)
        tags = self.getJobTags()
        tags.discard(tag)
        self.setLocalProperty("spark.job.tags", ",".join(sorted(tags)) if tags else None)

    def getJobTags(self) -> set[str]:
        """The tags this thread's jobs carry.

        Returns
        -------
        set of str

        Examples
        --------
        >>> sc.addJobTag("job_to_cancel")
        >>> sc.getJobTags()
        {'job_to_cancel'}
        >>> sc.clearJobTags()
        """
        value = self.getLocalProperty("spark.job.tags")
        return {t for t in value.split(",") if t} if value else set()

    def clearJobTags(self) -> None:
        """Removes all of this thread's job tags.

        Examples
        --------
        >>> sc.addJobTag("job_to_cancel")
        >>> sc.clearJobTags()
        >>> sc.getJobTags()
        set()
        """
        self.setLocalProperty("spark.job.tags", None)

    def cancelJobGroup(self, groupId: str) -> None:
        """Cancels the running jobs of a group: each raises
        ``JobCancelledError`` in the thread that started it, its running tasks are
        killed, and the context stays usable.

        Parameters
        ----------
        groupId : str

        Examples
        --------
        >>> sc.cancelJobGroup("no-such-group")
        """
        self._core.cancel_group(str(groupId))

    def cancelJobsWithTag(self, tag: str) -> None:
        """Cancels the scheduled and running jobs that carry a tag (see
        :meth:`addJobTag`): each raises ``JobCancelledError`` in the thread that
        started it, its running tasks are killed, and the context stays usable.

        Parameters
        ----------
        tag : str
            A non-empty tag without a ``,`` (comma).

        Examples
        --------
        >>> sc.cancelJobsWithTag("no-job-has-it")
        """
        _check_tag(tag)
        self._core.cancel_group(_TAG_LABEL + tag)

    def cancelAllJobs(self) -> None:
        """Cancels every job that is scheduled or running.

        Examples
        --------
        >>> sc.cancelAllJobs()
        >>> sc.parallelize([1, 2]).count()
        2
        """
        self._core.cancel_group(None)

    # ---- running jobs --------------------------------------------------------------------

    def runJob(self, rdd: RDD[T], partitionFunc: Callable[[Iterable[T]], Iterable[U]],
               partitions: Sequence[int] | None = None, allowLocal: bool = False) -> list[U]:
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

    def _run_job(self, node: Any, partitions: Any = None, on_partition: Any = None) -> Any:
        """Runs a job; returns each requested partition's list of result batches.
        With on_partition(index, batches), each partition goes there as its task
        finishes (None in the returned list); a true return stops the job.

        The job carries the calling thread's local properties (its group among
        them), and, for its tasks, the alive broadcasts, the files root and the
        Python includes. Accumulator updates of the tasks that succeeded are
        merged whatever the outcome; the job is recorded for the status tracker.
        """
        core = self._core
        if core.stopped:
            raise RuntimeError("this SparkContext is stopped; create a new SparkContext to run jobs")
        self._forget_freed_nodes()
        props = self._local_properties()
        group = props.get("spark.jobGroup.id")
        tags = self.getJobTags()
        labels = _job_labels(group, tags)
        description = props.get("spark.job.description")
        with self._shared_lock:
            alive = dict(self._broadcast_alive)
            files = (len(self._added_files), tuple(self._python_includes))
        info = pickle.dumps((props, alive, self._files_dir, files, self._worker_memory), protocol=5)
        name = _lineage.site_text(_lineage.callsite())
        jobs = self._jobs
        submitted: list[int] = []

        def on_submit(job_id: Any) -> None:
            submitted.append(job_id)
            jobs.started(job_id, group, name, description, sorted(tags))
            if self._event_log is not None:
                self._event_log.job_started(job_id, jobs.get(job_id))

        reports: list[bytes] = []
        status = "FAILED"
        try:
            with self._progress:
                batches, _ = core.run_job(node, partitions, labels, info, reports, on_submit, on_partition)
            status = "SUCCEEDED"
            if self._pending_checkpoints:
                self._write_checkpoints(node)
            return batches
        finally:
            if reports:
                _accumulators._merge_reports(reports)
            for job_id in submitted:
                jobs.finished(job_id, status)
                if self._event_log is not None:
                    self._event_log.job_finished(job_id, jobs.get(job_id))
            self._log_daemon_restarts()

    def _log_daemon_restarts(self) -> None:
        """Logs (a warning) each time the engine replaced a worker daemon that died."""
        count, note = self._core.daemon_restarts()
        if count != self._daemon_restarts:
            self._daemon_restarts = count
            _log.logger.warning("%s", note)

    def _forget_freed_nodes(self) -> None:
        """Drops what the driver keeps per engine node (labels, pending checkpoints)
        for the nodes the engine freed, so that bookkeeping stays as big as the
        lineage still alive, however many jobs run."""
        for node_id in self._core.freed_nodes():
            self._node_info.pop(node_id, None)
            self._pending_checkpoints.pop(node_id, None)

    def statusTracker(self) -> StatusTracker:
        """A StatusTracker over this context's recent jobs and stages.

        Examples
        --------
        >>> sc.statusTracker().getActiveStageIds()
        []
        """
        from ember.status import StatusTracker
        return StatusTracker(self)

    def _storage_status(self) -> list[dict[str, Any]]:
        """What the block store holds of each persisted RDD, as Spark's storage page
        shows it: a list of dicts with ``id``, ``name``, ``storage_level`` (as PySpark
        prints a StorageLevel), ``num_partitions``, ``num_cached_partitions``,
        ``memory_used`` and ``disk_used`` (bytes), and ``blocks``: where each cached
        partition is (``partition``, ``executor``: 0 for the driver, in cluster mode
        the rank of the executor keeping it, ``memory_used``, ``disk_used``).

        Examples
        --------
        >>> from ember import StorageLevel
        >>> rdd = sc.parallelize(range(100), 4).setName("nums").persist(StorageLevel.DISK_ONLY)
        >>> rdd.count()
        100
        >>> [info] = [i for i in sc._storage_status() if i["id"] == rdd.id()]
        >>> info["name"], info["storage_level"], info["num_partitions"], info["num_cached_partitions"]
        ('nums', 'Disk Serialized 1x Replicated', 4, 4)
        >>> info["memory_used"], info["disk_used"] > 0
        (0, True)
        >>> [(b["partition"], b["executor"]) for b in info["blocks"]]
        [(0, 0), (1, 0), (2, 0), (3, 0)]
        >>> rdd.unpersist() and [i for i in sc._storage_status() if i["id"] == rdd.id()]
        []
        """
        return _blocks.storage_status(self)

    # ---- profiling -----------------------------------------------------------------------

    def show_profiles(self) -> None:
        """Prints the profiles of the RDDs run so far (not shown before), one per
        RDD: the tasks' cProfile stats added up. Needs ``spark.python.profile=true``.

        Examples
        --------
        >>> sc.show_profiles()
        Traceback (most recent call last):
            ...
        RuntimeError: [INCORRECT_CONF_FOR_PROFILE] `spark.python.profile` or `spark.python.profile.memory` ...
        """
        if self.profiler_collector is None:
            raise _incorrect_conf()
        self.profiler_collector.show_profiles()

    def dump_profiles(self, path: str) -> None:
        """Writes the profile of each RDD run so far into the directory path, as
        ``rdd_<id>.pstats`` (read them with ``pstats.Stats``), then forgets them.
        Needs ``spark.python.profile=true``.

        Parameters
        ----------
        path : str
            A directory; created if missing.

        Examples
        --------
        >>> sc.dump_profiles("/tmp/never-written")
        Traceback (most recent call last):
            ...
        RuntimeError: [INCORRECT_CONF_FOR_PROFILE] `spark.python.profile` or `spark.python.profile.memory` ...
        """
        if self.profiler_collector is None:
            raise _incorrect_conf()
        self.profiler_collector.dump_profiles(path)



def _rdd(sc: SparkContext, node: Any) -> RDD[Any]:
    """An RDD over an engine node. ember.rdd is imported on first use, not with this
    module: SparkContext() starts the worker daemon before, and the import runs while
    the daemon starts."""
    from ember.rdd import RDD
    return RDD(sc, node)


def _element_serializer(serializer: Any) -> Any:
    """The record serializer of a new context: ember stores pickles, so a
    pickle-based serializer is taken as asked and any other one refused."""
    if serializer is None:
        return CPickleSerializer()
    if isinstance(serializer, (PickleSerializer, CloudPickleSerializer)):
        return serializer
    raise NotImplementedError(
        f"SparkContext(serializer={serializer!r}): ember stores records as pickles (protocol 5, through "
        "cloudpickle) and cannot use another serializer; pass CPickleSerializer() (the default), "
        "CloudPickleSerializer() or PickleSerializer() instead, or leave serializer unset")


_TAG_LABEL = "tag:"  # engine label of a job tag (include/ember.h, ember_job_submit)


def _check_tag(tag: Any) -> None:
    """Raises as Spark does for a tag that cannot be one."""
    if tag is None:
        raise ValueError("Spark job tag cannot be null.")
    if not isinstance(tag, str):
        raise TypeError(f"a job tag must be a str, got {type(tag).__name__}")
    if "," in tag:
        raise ValueError("Spark job tag cannot contain ','.")
    if not tag:
        raise ValueError("Spark job tag cannot be an empty string.")


def _job_labels(group: Any, tags: Any) -> Any:
    """The engine labels of a job: its group, then one "tag:<tag>" per tag; '\n'
    separates them (include/ember.h). None when the job has neither."""
    labels = ([group] if group else []) + [_TAG_LABEL + t for t in sorted(tags)]
    return "\n".join(labels) if labels else None


def _process_property(key: Any) -> Any:
    """The value of a JVM system property that has a counterpart in this process."""
    import getpass
    import platform
    import tempfile
    known: dict[str, Callable[[], str]] = {
        "user.name": getpass.getuser, "user.home": lambda: os.path.expanduser("~"), "user.dir": os.getcwd,
        "os.name": platform.system, "os.arch": platform.machine, "java.io.tmpdir": tempfile.gettempdir,
        "file.separator": lambda: os.sep, "path.separator": lambda: os.pathsep,
        "line.separator": lambda: os.linesep,
    }
    getter = known.get(key)
    return getter() if getter is not None else None


def _has_scheme(path: str) -> bool:
    """Whether path starts with a URI scheme and "://" (RFC 3986: a letter, then
    letters, digits, '+', '-' or '.')."""
    scheme, sep, _ = path.partition("://")
    return bool(sep and scheme[:1].isascii() and scheme[:1].isalpha()
                and all(c.isascii() and (c.isalnum() or c in "+.-") for c in scheme))


def _local_path(path: Any) -> Any:
    """An absolute local path from a path or a file: URI."""
    path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError(f"expected a path string, got {type(path).__name__}")
    if path.startswith("file:"):
        path = path[len("file:"):]
        if path.startswith("//"):
            path = path[2:]
    elif _has_scheme(path):
        raise ValueError(f"{path}: only local paths and file: URIs can be added in local mode; "
                         "copy the file to a local path first")
    return os.path.abspath(path)


def _copy(src: Any, dst: Any) -> None:
    """Copies the file or directory src to dst, keeping modes and times."""
    import shutil
    if os.path.isdir(src):
        shutil.copytree(src, dst)
    else:
        shutil.copy2(src, dst)


def _same_contents(a: Any, b: Any) -> Any:
    import filecmp
    if os.path.isdir(a) or os.path.isdir(b):
        if not (os.path.isdir(a) and os.path.isdir(b)):
            return False
        cmp = filecmp.dircmp(a, b)
        return not (cmp.left_only or cmp.right_only or cmp.diff_files or cmp.funny_files)
    return filecmp.cmp(a, b, shallow=False)


def _unpack_archive(src: Any, dst: Any) -> None:
    """Unpacks an archive into the new directory dst, chosen by the name's ending as
    Spark chooses: .zip/.jar, .tar.gz/.tgz, .tar; any other file is copied to dst.
    Members stay inside dst (zipfile strips absolute paths and "..", tarfile's
    "data" filter refuses them and links that point out)."""
    import shutil
    import tarfile
    import zipfile
    lower = src.lower()
    try:
        if lower.endswith((".zip", ".jar")):
            with zipfile.ZipFile(src) as z:  # extractall keeps members inside dst
                os.makedirs(dst)
                z.extractall(dst)
        elif lower.endswith((".tar.gz", ".tgz", ".tar")):
            with tarfile.open(src, "r:gz" if not lower.endswith(".tar") else "r:") as t:
                os.makedirs(dst)
                t.extractall(dst, filter="data")
        else:
            _log.logger.warning("Cannot unpack %s (not .zip, .jar, .tar, .tar.gz or .tgz); copying it as it is", src)
            shutil.copy2(src, dst)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, ValueError) as e:
        raise ValueError(f"Cannot unpack archive {src}: {e}") from e
