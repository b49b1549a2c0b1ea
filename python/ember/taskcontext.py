"""TaskContext: information about the running task, available inside tasks."""

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
    """

    def __init__(self, task):
        self._task = task

    @classmethod
    def get(cls):
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

    def partitionId(self):
        """The index of the partition this task computes.

        Returns
        -------
        int

        Examples
        --------
        >>> sc.parallelize(range(3), 3).mapPartitions(lambda it: [TaskContext.get().partitionId()]).collect()
        [0, 1, 2]
        """
        return self._task["partition"]

    def stageId(self):
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
        return self._task["stage"]

    def attemptNumber(self):
        """How many times this task was tried before this attempt (0 on the first).

        Returns
        -------
        int

        Examples
        --------
        >>> sc.parallelize([0]).map(lambda _: TaskContext.get().attemptNumber()).collect()
        [0]
        """
        return self._task["attempt"]

    def taskAttemptId(self):
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
        return self._task["attempt_id"]

    def cpus(self):
        """The CPUs reserved for this task (one task slot: 1).

        Returns
        -------
        int

        Examples
        --------
        >>> sc.parallelize([0]).map(lambda _: TaskContext.get().cpus()).collect()
        [1]
        """
        return 1

    def resources(self):
        """Resources (GPUs ...) allocated to this task: none in ember.

        Returns
        -------
        dict

        Examples
        --------
        >>> sc.parallelize([0]).map(lambda _: TaskContext.get().resources()).collect()
        [{}]
        """
        return {}

    def getLocalProperty(self, key):
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
        return self._task.get("properties", {}).get(key)


def _set(task):
    global _current
    _current = TaskContext(task) if task is not None else None
