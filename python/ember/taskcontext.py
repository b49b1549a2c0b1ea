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
        """Returns the current task's TaskContext, or None outside a task."""
        return _current

    def partitionId(self):
        """The partition this task computes."""
        return self._task["partition"]

    def stageId(self):
        """The id of the stage this task belongs to."""
        return self._task["stage"]

    def attemptNumber(self):
        """How many times this task was tried before (0 on the first attempt)."""
        return self._task["attempt"]

    def taskAttemptId(self):
        """An id unique to this attempt of this task within the context."""
        return self._task["attempt_id"]

    def cpus(self):
        """CPUs reserved for this task."""
        return 1

    def getLocalProperty(self, key):
        """A local property set on the driver (None if missing)."""
        return self._task.get("properties", {}).get(key)


def _set(task):
    global _current
    _current = TaskContext(task) if task is not None else None
