"""StatusTracker: progress of recent jobs and stages, as ``pyspark.status``.

The context records each job it submits (id, group, call site, outcome) in a
small Python history; the engine reports running stages and remembers the final
task counts of the last 1000 finished ones.
"""

from __future__ import annotations

import collections
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ember.context import SparkContext

__all__ = ["SparkJobInfo", "SparkStageInfo", "SparkExecutorInfo", "StatusTracker"]

_RETAINED_JOBS = 1000


# Named tuples as PySpark's (collections', not typing's: importing typing would add
# to every context's start-up).
class SparkJobInfo(collections.namedtuple("SparkJobInfo", ["jobId", "stageIds", "status"])):
    """A job: its id (int), the ids of the stages it ran (list of int), and its
    status (``RUNNING``, ``SUCCEEDED`` or ``FAILED``)."""

    __slots__ = ()


class SparkStageInfo(collections.namedtuple(
        "SparkStageInfo", ["stageId", "currentAttemptId", "name", "numTasks", "numActiveTasks",
                           "numCompletedTasks", "numFailedTasks"])):
    """A stage: its id, attempt, name (the call site of the job's action) and
    task counts (all int but the name)."""

    __slots__ = ()


class SparkExecutorInfo(collections.namedtuple(
        "SparkExecutorInfo", ["host", "port", "cacheSize", "numRunningTasks", "usedOnHeapStorageMemory",
                              "usedOffHeapStorageMemory", "totalOnHeapStorageMemory", "totalOffHeapStorageMemory"])):
    """An executor: where it runs (host str, port int), its cached bytes, running
    tasks and memory (bytes, all int)."""

    __slots__ = ()


class _Job:
    """A job as the context saw it: its group, call site (name), description and
    tags (local properties when submitted), status, and wall-clock submission and
    completion times (seconds since the epoch; completed is None while it runs)."""

    __slots__ = ("group", "name", "status", "submitted", "completed", "description", "tags")

    def __init__(self, group: Any, name: Any, description: Any = None, tags: Any = ()) -> None:
        self.group, self.name, self.status = group, name, "RUNNING"
        self.description, self.tags = description, tuple(tags)
        self.submitted = time.time()
        self.completed: float | None = None


class _JobHistory:
    """The context's record of its recent jobs (thread-safe)."""

    def __init__(self, retained: Any = _RETAINED_JOBS) -> None:
        self._lock = threading.Lock()
        self._jobs: collections.OrderedDict[int, _Job] = collections.OrderedDict()
        self._retained = retained

    def started(self, job_id: Any, group: Any, name: Any, description: Any = None, tags: Any = ()) -> None:
        with self._lock:
            self._jobs[job_id] = _Job(group, name, description, tags)
            while len(self._jobs) > self._retained:
                self._jobs.popitem(last=False)

    def finished(self, job_id: Any, status: Any) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                job.status = status
                job.completed = time.time()

    def get(self, job_id: Any) -> Any:
        with self._lock:
            return self._jobs.get(job_id)

    def items(self) -> Any:
        with self._lock:
            return list(self._jobs.items())


class StatusTracker:
    """Low-level status of recent jobs and stages, for progress reporting. The
    answers are snapshots with weak consistency: a job's stage may be missing
    while it starts or once it has left the history (the last 1000 jobs and
    stages are kept).

    Examples
    --------
    >>> sc.setJobGroup("tracked", "a tracked job")
    >>> sc.parallelize(range(10), 2).map(lambda x: (x % 2, x)).reduceByKey(lambda a, b: a + b).count()
    2
    >>> sc.setJobGroup(None, None)
    >>> tracker = sc.statusTracker()
    >>> [job] = tracker.getJobIdsForGroup("tracked")
    >>> info = tracker.getJobInfo(job)
    >>> info.status, len(info.stageIds)
    ('SUCCEEDED', 2)
    >>> [tracker.getStageInfo(s).numCompletedTasks for s in info.stageIds]
    [2, 2]
    """

    def __init__(self, sc: SparkContext) -> None:
        self._sc = sc

    def _stages(self) -> Any:
        """stage id -> (job id, tasks, completed, active, failed): running stages,
        then finished ones (a stage finishing in between shows as finished)."""
        core = self._sc._core
        out = {}
        for sid, jid, n, done, active, failed, _ in core.active_stages():
            out[sid] = (jid, n, done, active, failed)
        for sid, jid, n, done, active, failed, _ in core.finished_stages():
            out[sid] = (jid, n, done, 0, failed)
        return out

    def getJobIdsForGroup(self, jobGroup: str | None = None) -> list[int]:
        """The ids of the known jobs of a job group (newest first): running,
        failed and succeeded ones.

        Parameters
        ----------
        jobGroup : str, optional
            The group; None means the jobs run outside any group.

        Returns
        -------
        list of int

        Examples
        --------
        >>> sc.setJobGroup("g-ids", "two jobs")
        >>> sc.parallelize([1]).count(), sc.parallelize([2]).count()
        (1, 1)
        >>> sc.setJobGroup(None, None)
        >>> ids = sc.statusTracker().getJobIdsForGroup("g-ids")
        >>> len(ids), ids[0] > ids[1]
        (2, True)
        """
        # By id, not by record order: jobs of two threads may be recorded out of order.
        return sorted((jid for jid, job in self._sc._jobs.items() if job.group == jobGroup), reverse=True)

    def getActiveStageIds(self) -> list[int]:
        """The ids of the running stages, sorted.

        Returns
        -------
        list of int

        Examples
        --------
        >>> sc.statusTracker().getActiveStageIds()
        []
        """
        return sorted(sid for sid, *_ in self._sc._core.active_stages())

    def getActiveJobsIds(self) -> list[int]:
        """The ids of the running jobs, sorted.

        Returns
        -------
        list of int

        Examples
        --------
        >>> sc.statusTracker().getActiveJobsIds()
        []
        """
        return sorted(jid for jid, job in self._sc._jobs.items() if job.status == "RUNNING")

    def getJobInfo(self, jobId: int) -> SparkJobInfo | None:
        """A job's stages and status, or None when the job is unknown.

        Parameters
        ----------
        jobId : int

        Returns
        -------
        SparkJobInfo or None

        Examples
        --------
        >>> sc.setJobGroup("g-info", "one job")
        >>> sc.parallelize([1, 2]).collect()
        [1, 2]
        >>> sc.setJobGroup(None, None)
        >>> tracker = sc.statusTracker()
        >>> tracker.getJobInfo(tracker.getJobIdsForGroup("g-info")[0]).status
        'SUCCEEDED'
        >>> tracker.getJobInfo(10 ** 9) is None
        True
        """
        job = self._sc._jobs.get(jobId)
        if job is None:
            return None
        stage_ids = sorted(sid for sid, (jid, *_) in self._stages().items() if jid == jobId)
        return SparkJobInfo(jobId, stage_ids, job.status)

    def getStageInfo(self, stageId: int) -> SparkStageInfo | None:
        """A stage's task counts, or None when the stage is unknown.

        Parameters
        ----------
        stageId : int

        Returns
        -------
        SparkStageInfo or None

        Examples
        --------
        >>> sc.setJobGroup("g-stage", "one stage")
        >>> sc.parallelize(range(6), 3).count()
        6
        >>> sc.setJobGroup(None, None)
        >>> tracker = sc.statusTracker()
        >>> [stage] = tracker.getJobInfo(tracker.getJobIdsForGroup("g-stage")[0]).stageIds
        >>> info = tracker.getStageInfo(stage)
        >>> info.numTasks, info.numActiveTasks, info.numCompletedTasks, info.numFailedTasks
        (3, 0, 3, 0)
        >>> info.name
        'count at ...'
        """
        got = self._stages().get(stageId)
        if got is None:
            return None
        jid, n, done, active, failed = got
        job = self._sc._jobs.get(jid)
        name = job.name if job is not None else f"stage {stageId}"
        return SparkStageInfo(stageId, 0, name, n, active, done, failed)

    def getExecutorInfos(self) -> list[SparkExecutorInfo]:
        """The executors: in local mode, one, this process (the driver). ``host`` is
        ``spark.driver.host`` (``localhost`` unless set) and ``port`` 0 (no executor
        listens on a port); ``cacheSize`` is the bytes of cached partitions (memory and block files),
        ``usedOnHeapStorageMemory`` those in memory; ``totalOnHeapStorageMemory`` is the
        block store's budget, the unified region of ``spark.executor.memory`` (1g unless
        set) times ``spark.memory.fraction``; nothing is off-heap.

        Returns
        -------
        list of SparkExecutorInfo

        Examples
        --------
        >>> [info] = sc.statusTracker().getExecutorInfos()
        >>> info.host, info.port, info.numRunningTasks, info.totalOnHeapStorageMemory
        ('localhost', 0, 0, 455501414)
        """
        from ember import _blocks
        conf = self._sc._conf
        blocks = self._sc._core.storage_status()
        in_memory = sum(mem for _, _, _, _, mem, _ in blocks)
        cached = in_memory + sum(disk for _, _, _, _, _, disk in blocks)
        running = sum(active for _, _, _, _, active, _, _ in self._sc._core.active_stages())
        total, _ = _blocks.memory_budget(conf)
        return [SparkExecutorInfo(conf.get("spark.driver.host", "localhost"), 0, cached, running, in_memory, 0,
                                  total, 0)]
