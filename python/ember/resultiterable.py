"""ResultIterable: the values of one key after ``groupByKey``, ``groupBy`` or ``cogroup``."""

from collections.abc import Iterable

__all__ = ["ResultIterable"]


class ResultIterable(Iterable):
    """The values of one key: iterable (more than once), with ``len()``; ``data``
    holds them as a list.

    Examples
    --------
    >>> groups = dict(sc.parallelize([("a", 1), ("a", 2)]).groupByKey().collect())
    >>> len(groups["a"]), sorted(groups["a"])
    (2, [1, 2])
    """

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
