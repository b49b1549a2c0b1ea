"""TaskContext: information about the running task, available inside tasks; and
BarrierTaskContext, which the tasks of a barrier stage (RDD.barrier) use to wait for
each other and exchange messages.

The tasks of a barrier stage synchronise through files under the context's temp dir
(EMBER_LOCAL_DIR): a directory per stage attempt, ``barrier/stage-S-attempt-A``, so a
new attempt of the stage never sees the files of the one it replaces. The k-th
``barrier()``/``allGather()`` call of the task of partition p writes ``k-p`` (the
kind of call and the message, written under a temporary name and renamed), then waits
— sleeping, with a growing pause up to 50 ms — until the files of all partitions for
call k exist. A task that ends writes ``done-p`` (how many calls it made), so that a
peer waiting for a call it will never make fails at once; a peer that dies makes the
engine kill the whole stage; a peer that never comes fails the call after
``spark.barrier.sync.timeout`` (as Spark: 365 days unless set).
"""

from __future__ import annotations
import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from decimal import Decimal
    from typing import Any, NoReturn

_current = None


class TaskContext:
    """Contextual information about a task, read inside a function running on a
    worker. ``TaskContext.get()`` returns None on the driver.

    Examples
    --------
    >>> sc.parallelize(range(4), 2).map(lambda x: TaskContext.get().partitionId()).collect()
    [0, 0, 1, 1]
    >>> TaskContext.get() is None
    True

    ``TaskContext()`` called inside a task gives that task's context too:

    >>> sc.parallelize([0]).map(lambda _: TaskContext() is TaskContext.get()).collect()
    [True]
    """

    # The fields, typed as in a task; None in a context made outside a task without them.
    _stageId: int = None  # type: ignore[assignment]
    _partitionId: int = None  # type: ignore[assignment]
    _attemptNumber: int = None  # type: ignore[assignment]
    _taskAttemptId: int = None  # type: ignore[assignment]
    _cpus: int = None  # type: ignore[assignment]
    _cpuAmount: Decimal = None  # type: ignore[assignment]
    _resources: dict[str, Any] = None  # type: ignore[assignment]
    _localProperties: dict[str, str] | None = None
    _task: Any = None  # the engine's description of the running task (None outside tasks)

    def __new__(cls, **kwargs: Any) -> Any:
        """Inside a task, the task's context (as PySpark, whatever the arguments);
        elsewhere a new, empty one."""
        if isinstance(_current, cls):
            return _current
        return object.__new__(cls)

    def __init__(self, **kwargs: Any) -> None:
        # Keyword arguments name the fields: stageId=3 sets what stageId() returns.
        for key, value in kwargs.items():
            if not hasattr(type(self), f"_{key}") or key in ("task",):
                raise TypeError(f"TaskContext() got an unexpected keyword argument '{key}'")
            if value is not None:
                setattr(self, f"_{key}", value)

    @classmethod
    def _of_task(cls, task: Any) -> Any:
        """The context of a task the worker runs (task: the engine's dict)."""
        ctx = object.__new__(cls)
        ctx._task = task
        TaskContext.__init__(ctx, stageId=task["stage"], partitionId=task["partition"],
                             attemptNumber=task["attempt"], taskAttemptId=task["attempt_id"], cpus=1,
                             resources={}, localProperties=task.get("properties", {}))
        return ctx

    @classmethod
    def from_json(cls, json: dict[str, Any]) -> TaskContext:
        """A context from a dict with PySpark's keys (``stageId``, ``partitionId``,
        ``attemptNumber``, ``taskAttemptId``, ``cpus``, optional ``cpuAmount``,
        ``resources``, ``localProperties``).

        Examples
        --------
        >>> ctx = TaskContext.from_json({"stageId": 1, "partitionId": 2, "attemptNumber": 0,
        ...     "taskAttemptId": 7, "cpus": 1, "resources": {}, "localProperties": {"k": "v"}})
        >>> ctx.partitionId(), ctx.getLocalProperty("k"), ctx.cpuAmount()
        (2, 'v', None)
        """
        from decimal import Decimal
        if json.get("resources"):
            raise ValueError(f"TaskContext.from_json: ember tasks have no resources (GPUs ...), got "
                             f"{sorted(json['resources'])}; pass resources={{}}")
        return cls(stageId=json["stageId"], partitionId=json["partitionId"], attemptNumber=json["attemptNumber"],
                   taskAttemptId=json["taskAttemptId"], cpus=json["cpus"],
                   cpuAmount=Decimal(json["cpuAmount"]) if "cpuAmount" in json else None, resources={},
                   localProperties=json["localProperties"])

    @classmethod
    def get(cls) -> TaskContext | None:
        """The current task's TaskContext, or None outside a task (on the driver).

        Returns
        -------
        TaskContext or None

        Examples
        --------
        >>> sc.parallelize([0]).map(lambda _: TaskContext.get() is not None).collect()
        [True]
        """
        return _current

    def partitionId(self) -> int:
        """The index of the partition this task computes.

        Returns
        -------
        int

        Examples
        --------
        >>> sc.parallelize(range(3), 3).mapPartitions(lambda it: [TaskContext.get().partitionId()]).collect()
        [0, 1, 2]
        """
        return self._partitionId

    def stageId(self) -> int:
        """The id of the stage this task belongs to; stage ids grow over the
        context's life.

        Returns
        -------
        int

        Examples
        --------
        >>> ids = sc.parallelize(range(4), 2).map(lambda _: TaskContext.get().stageId()).collect()
        >>> len(set(ids))
        1
        """
        return self._stageId

    def attemptNumber(self) -> int:
        """How many times this task was tried before this attempt (0 on the first).

        Returns
        -------
        int

        Examples
        --------
        >>> sc.parallelize([0]).map(lambda _: TaskContext.get().attemptNumber()).collect()
        [0]
        """
        return self._attemptNumber

    def taskAttemptId(self) -> int:
        """An id unique to this attempt of this task within the context.

        Returns
        -------
        int

        Examples
        --------
        >>> ids = sc.parallelize(range(4), 4).map(lambda _: TaskContext.get().taskAttemptId()).collect()
        >>> len(set(ids))
        4
        """
        return self._taskAttemptId

    def cpus(self) -> int:
        """The CPUs reserved for this task (one task slot: 1).

        Returns
        -------
        int

        Examples
        --------
        >>> sc.parallelize([0]).map(lambda _: TaskContext.get().cpus()).collect()
        [1]
        """
        return self._cpus

    def cpuAmount(self) -> Decimal:
        """The exact amount of CPUs reserved for this task, as a Decimal (one task
        slot: 1).

        Returns
        -------
        decimal.Decimal

        Examples
        --------
        >>> sc.parallelize([0]).map(lambda _: TaskContext.get().cpuAmount()).collect()
        [Decimal('1')]
        """
        if self._cpuAmount is None and self._task is not None:
            # A task's, made on first use: importing decimal in every worker would
            # cost its first task a few milliseconds.
            from decimal import Decimal
            self._cpuAmount = Decimal(self._cpus)
        return self._cpuAmount

    def resources(self) -> dict[str, Any]:
        """Resources (GPUs ...) allocated to this task: none in ember.

        Returns
        -------
        dict

        Examples
        --------
        >>> sc.parallelize([0]).map(lambda _: TaskContext.get().resources()).collect()
        [{}]
        """
        return self._resources

    def getLocalProperty(self, key: str) -> str | None:
        """A local property the driver thread that started the job had set (with
        ``sc.setLocalProperty``, ``setJobGroup`` ...), or None.

        Parameters
        ----------
        key : str

        Returns
        -------
        str or None

        Examples
        --------
        >>> sc.setJobGroup("tc-group", "reading local properties")
        >>> sc.parallelize([0]).map(lambda _: TaskContext.get().getLocalProperty("spark.jobGroup.id")).collect()
        ['tc-group']
        >>> sc.setJobGroup(None, None)
        >>> sc.parallelize([0]).map(lambda _: TaskContext.get().getLocalProperty("missing")).collect()
        [None]
        """
        value: str | None = (self._localProperties or {}).get(key)
        return value


class BarrierTaskInfo:
    """Information about one task of a barrier stage.

    Attributes
    ----------
    address : str
        Where the task runs: ``"localhost"`` (every ember task runs on this machine).

    Examples
    --------
    >>> BarrierTaskInfo("localhost").address
    'localhost'
    """

    def __init__(self, address: str) -> None:
        self.address = address

    def __repr__(self) -> str:
        return f"BarrierTaskInfo(address={self.address!r})"


_SECONDS: dict[str, float] = {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def _timeout_seconds(value: object, key: str = "spark.barrier.sync.timeout") -> float:
    """Seconds of a Spark time setting (key names it in the error): a number of
    seconds, or with a unit (``500ms``, ``30s``, ``5min``, ``2h``, ``365d``)."""
    import re  # here: the worker daemon loads this module, and re is a tenth of its start-up
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", str(value).lower())
    if not m or m.group(2) not in _SECONDS and m.group(2):
        raise ValueError(f"{key} must be a time like 30s, 5min or 365d, got {value!r}")
    return float(m.group(1)) * _SECONDS[m.group(2) or "s"]


class BarrierTaskContext(TaskContext):
    """The TaskContext of a task in a barrier stage (see :meth:`RDD.barrier`): adds
    ``barrier()``, ``allGather()`` and ``getTaskInfos()``. Every task of the stage
    must make the same sequence of ``barrier()``/``allGather()`` calls.

    Examples
    --------
    >>> def f(it):
    ...     ctx = BarrierTaskContext.get()
    ...     ctx.barrier()
    ...     return [(ctx.partitionId(), len(ctx.getTaskInfos()))]
    >>> sc.parallelize(range(4), 2).barrier().mapPartitions(f).collect()
    [(0, 2), (1, 2)]
    """

    _calls: int        # barrier()/allGather() calls made so far
    _timeout: float    # spark.barrier.sync.timeout in seconds
    _stages_dir: str   # where barrier stages keep their files
    _dir: str          # this stage attempt's directory

    @classmethod
    def _of_task(cls, task: Any) -> Any:
        import tempfile
        ctx = super()._of_task(task)
        ctx._calls = 0
        ctx._timeout = 365 * 86400.0
        root = os.environ.get("EMBER_LOCAL_DIR") or tempfile.gettempdir()
        ctx._stages_dir = os.path.join(root, "barrier")
        ctx._dir = os.path.join(ctx._stages_dir, f"stage-{task['stage']}-attempt-{task['stage_attempt']}")
        return ctx

    @classmethod
    def from_json(cls, json: dict[str, Any]) -> NoReturn:
        """Not in ember: a BarrierTaskContext belongs to a running barrier task;
        use ``BarrierTaskContext.get()`` inside ``rdd.barrier().mapPartitions(f)``."""
        raise NotImplementedError("BarrierTaskContext.from_json: an ember barrier context synchronises through "
                                  "the engine's files of a running stage, so only its task makes one; use "
                                  "BarrierTaskContext.get() inside rdd.barrier().mapPartitions(f) instead")

    @classmethod
    def get(cls) -> BarrierTaskContext:
        """The current task's BarrierTaskContext, inside a barrier stage.

        Returns
        -------
        BarrierTaskContext

        Raises
        ------
        RuntimeError
            ``[NOT_IN_BARRIER_STAGE]`` outside a barrier stage (on the driver too).

        Examples
        --------
        >>> sc.parallelize([0], 1).barrier().mapPartitions(
        ...     lambda it: [type(BarrierTaskContext.get()).__name__]).collect()
        ['BarrierTaskContext']
        >>> BarrierTaskContext.get()
        Traceback (most recent call last):
            ...
        RuntimeError: [NOT_IN_BARRIER_STAGE] It is not in a barrier stage: ...
        """
        return cls._getOrCreate()

    @classmethod
    def _getOrCreate(cls) -> BarrierTaskContext:
        if not isinstance(_current, BarrierTaskContext):
            raise RuntimeError("[NOT_IN_BARRIER_STAGE] It is not in a barrier stage: BarrierTaskContext.get() "
                               "works inside a function given to rdd.barrier().mapPartitions(...) or "
                               "mapPartitionsWithIndex(...); use TaskContext.get() elsewhere.")
        return _current

    def _set_timeout(self, value: Any) -> None:
        self._timeout = _timeout_seconds(value)

    def barrier(self) -> None:
        """Waits until every task of the stage has called ``barrier()`` (as many
        times as this one), like MPI_Barrier.

        Examples
        --------
        >>> def f(it):
        ...     BarrierTaskContext.get().barrier()
        ...     return [sum(it)]
        >>> sc.parallelize(range(4), 2).barrier().mapPartitions(f).collect()
        [1, 5]
        """
        self._sync("barrier", "")

    def allGather(self, message: str = "") -> list[str]:
        """Waits until every task of the stage has called ``allGather()``, then
        returns the messages of all of them, ordered by partition.

        Parameters
        ----------
        message : str, optional
            This task's message.

        Returns
        -------
        list of str

        Examples
        --------
        >>> sc.parallelize(range(4), 2).barrier().mapPartitions(
        ...     lambda it: BarrierTaskContext.get().allGather(str(list(it)))[:1]).collect()
        ['[0, 1]', '[0, 1]']
        """
        if not isinstance(message, str):
            raise TypeError(f"[NOT_STR] Argument `message` should be a str, got {type(message).__name__}.")
        return self._sync("allGather", message)

    def getTaskInfos(self) -> list[BarrierTaskInfo]:
        """Information about every task of the stage, ordered by partition.

        Returns
        -------
        list of :class:`BarrierTaskInfo`

        Examples
        --------
        >>> sc.parallelize(range(2), 2).barrier().mapPartitions(
        ...     lambda it: [i.address for i in BarrierTaskContext.get().getTaskInfos()]).collect()
        ['localhost', 'localhost', 'localhost', 'localhost']
        """
        return [BarrierTaskInfo("localhost") for _ in range(self._task["barrier_tasks"])]

    def _path(self, name: Any) -> Any:
        return os.path.join(self._dir, name)

    def _write(self, name: Any, text: Any) -> None:
        tmp = self._path(f".{name}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, self._path(name))

    def _begin(self) -> None:
        """Called when the task starts: the first task of a retried stage removes
        the files of its earlier attempts."""
        attempt = self._task["stage_attempt"]
        if attempt and self.partitionId() == 0:
            import shutil
            for a in range(attempt):
                shutil.rmtree(os.path.join(self._stages_dir, f"stage-{self.stageId()}-attempt-{a}"),
                              ignore_errors=True)

    def _end(self) -> None:
        """Called when the task ends: peers waiting for a call it will not make fail."""
        try:
            os.makedirs(self._dir, exist_ok=True)
            self._write(f"done-{self.partitionId()}", str(self._calls))
        except OSError:
            pass  # the context's temp dir is gone: the context stopped

    def _sync(self, kind: str, message: str) -> list[str]:
        import json
        k = self._calls
        self._calls += 1
        n, me = self._task["barrier_tasks"], self.partitionId()
        os.makedirs(self._dir, exist_ok=True)
        self._write(f"{k}-{me}", json.dumps([kind, message]))
        got: list[Any] = [None] * n
        waiting = list(range(n))
        deadline = time.monotonic() + self._timeout
        pause = 0.0005
        while True:
            still = []
            for p in waiting:
                try:
                    with open(self._path(f"{k}-{p}"), encoding="utf-8") as f:
                        got[p] = json.load(f)
                except FileNotFoundError:
                    still.append(p)
            waiting = still
            if not waiting:
                break
            self._check_finished(waiting, k, kind)
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"[BARRIER_TIMEOUT] {kind}() call {k + 1} of the task of partition {me} in barrier stage "
                    f"{self.stageId()} waited {self._timeout:g} s (spark.barrier.sync.timeout) for the tasks "
                    f"of partitions {waiting}; make every task of the stage make the same barrier()/allGather() "
                    f"calls, or raise spark.barrier.sync.timeout.")
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
        kinds = {g[0] for g in got}
        if len(kinds) > 1:
            raise RuntimeError(
                f"[BARRIER_SYNC_MISMATCH] call {k + 1} of the tasks of barrier stage {self.stageId()} mixes "
                f"barrier() and allGather() ({[g[0] for g in got]} by partition); every task must make the "
                f"same sequence of calls.")
        return [g[1] for g in got]

    def _check_finished(self, waiting: Any, k: Any, kind: Any) -> None:
        for p in waiting:
            try:
                with open(self._path(f"done-{p}"), encoding="utf-8") as f:
                    calls = int(f.read())
            except (FileNotFoundError, ValueError):
                continue
            raise RuntimeError(
                f"[BARRIER_PEER_FINISHED] {kind}() call {k + 1} of the task of partition {self.partitionId()} in "
                f"barrier stage {self.stageId()} cannot complete: the task of partition {p} finished after "
                f"{calls} barrier()/allGather() call(s); every task of the stage must make the same calls.")


def _set(task: Any) -> None:
    global _current
    if task is None:
        _current = None
    elif task.get("barrier_tasks"):
        _current = BarrierTaskContext._of_task(task)
        _current._begin()
    else:
        _current = TaskContext._of_task(task)


def _end() -> None:
    """The running task is over (before _set(None)): tells barrier peers."""
    if isinstance(_current, BarrierTaskContext):
        _current._end()
