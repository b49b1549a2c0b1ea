"""Sorting pieces of the shuffle: the range partitioner of ``sortByKey`` and the
per-partition sort that follows it (also used by
``repartitionAndSortWithinPartitions``).

``sortByKey`` range-partitions as PySpark does: it counts the RDD, samples about 20
keys per output partition (``sample(False, fraction, seed=1)``), sorts the sample
and takes ``numPartitions - 1`` evenly spaced boundaries; a key goes to partition
``bisect_left(bounds, keyfunc(key))``, mirrored when descending. Each partition is
then sorted in its worker.

The sort is Python's ``sorted`` over the whole partition, in the worker's memory;
sorted runs are not yet spilled to disk, so a single partition must fit in a
worker's memory (use more partitions for more data).
"""

from bisect import bisect_left

__all__ = ["identity", "RangePartitioner", "PartitionSorter", "range_bounds"]


def identity(x):
    return x


def _first(kv):
    return kv[0]


def range_bounds(samples, numPartitions, keyfunc=identity):
    """The ``numPartitions - 1`` boundaries (in keyfunc's terms) of a sorted key sample.

    Examples
    --------
    >>> range_bounds(list(range(100)), 4)
    [25, 50, 75]
    >>> range_bounds(["a", "B", "c"], 2, str.lower)
    ['b']
    >>> range_bounds([], 3)
    []
    """
    if not samples:
        return []
    n = len(samples)
    return [keyfunc(samples[int(n * (i + 1) / numPartitions)]) for i in range(numPartitions - 1)]


class RangePartitioner:
    """A partition function: the range of bounds that ``keyfunc(key)`` falls in.

    Examples
    --------
    >>> p = RangePartitioner([10, 20], 3)
    >>> [p(k) for k in (5, 10, 15, 25)]
    [0, 0, 1, 2]
    >>> [RangePartitioner([10, 20], 3, ascending=False)(k) for k in (5, 10, 15, 25)]
    [2, 2, 1, 0]
    """

    def __init__(self, bounds, numPartitions, ascending=True, keyfunc=identity):
        self.bounds = bounds
        self.numPartitions = numPartitions
        self.ascending = ascending
        self.keyfunc = keyfunc

    def __call__(self, key):
        p = bisect_left(self.bounds, self.keyfunc(key))
        return p if self.ascending else self.numPartitions - 1 - p


class PartitionSorter:
    """``f(split, iterator)``: the (key, value) pairs of a partition sorted by
    ``keyfunc(key)``; equal keys keep their order, also when descending.

    Examples
    --------
    >>> list(PartitionSorter()(0, iter([(2, "x"), (1, "y"), (2, "z")])))
    [(1, 'y'), (2, 'x'), (2, 'z')]
    >>> list(PartitionSorter(False, lambda k: k % 3)(0, iter([(2, "x"), (4, "y"), (3, "z")])))
    [(2, 'x'), (4, 'y'), (3, 'z')]
    """

    def __init__(self, ascending=True, keyfunc=identity):
        self.ascending = ascending
        self.keyfunc = keyfunc

    def __call__(self, split, iterator):
        if self.keyfunc is identity:
            key = _first
        else:
            keyfunc = self.keyfunc

            def key(kv):
                return keyfunc(kv[0])

        return iter(sorted(iterator, key=key, reverse=not self.ascending))
