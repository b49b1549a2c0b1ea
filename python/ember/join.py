"""Joins, cogroups and the set operations of RDDs: each input partitioned alike, then
one C cogroup per reduce partition (``_core.Cogroup``).

The partition count is PySpark's: ``numPartitions``, else ``spark.default.parallelism``
when it is set, else the partition count of the union of the inputs (one RDD's count
when all share a partitioner, else the sum). Each input is partitioned by
``Partitioner(n, portable_hash)``; an input already partitioned so is not shuffled.
Partition i of every input then goes to one task (a zip of the partitions, as the
partitioner-aware union does), where ``_core.Cogroup`` builds a table on the other
side and streams this side through it (joins, subtractByKey, subtract,
intersection), or groups all sides (cogroup). Past ``spark.python.worker.memory``
it spills both sides by hash to disk and joins bucket by bucket; a join's bucket
still past the budget is split again by hash with a new seed, level by level, until
it fits or holds a single key. The only Python run per record is the user's.

Output order within a partition: keys of this RDD in the order its records arrive
(each record of a key paired with the other side's values of that key, in their
order), then, for right and full outer joins, the other side's keys missing here in
the order they first arrived; cogroup gives every key once, in first-arrival order.
When a partition spills, that order holds within each of the spill's buckets.
"""

from __future__ import annotations

from functools import reduce

from ember import _core
from ember.resultiterable import ResultIterable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ember.rdd import RDD

__all__ = ["python_join", "python_left_outer_join", "python_right_outer_join",
           "python_full_outer_join", "python_cogroup", "python_subtract_by_key", "python_subtract",
           "python_intersection"]


class _CogroupStep:
    """f(split, it) over nested zip pairs of k partition iterators (((p0, p1), p2), ...):
    the records ``_core.Cogroup`` makes of them."""

    def __init__(self, how: int, k: int, limit: int) -> None:
        self.how = how
        self.k = k
        self.limit = limit

    def __call__(self, split: int, it: Any) -> Any:
        from ember.rdd import _unzipped
        from ember.shuffle import _spill_dir
        for nested in it:
            return _core.Cogroup(_unzipped(nested, self.k), self.how, self.limit, _spill_dir(), ResultIterable)
        return ()


def _partition_count(rdds: tuple[RDD[Any], ...], numPartitions: int | None) -> int:
    """PySpark's: the groupByKey of the union of the inputs decides."""
    if numPartitions is not None:
        return int(numPartitions)
    ctx = rdds[0].ctx
    if ctx._conf.contains("spark.default.parallelism"):
        return int(ctx.defaultParallelism)
    count, partitioner = rdds[0].getNumPartitions(), rdds[0].partitioner
    for rdd in rdds[1:]:  # as union() pairs them up
        if partitioner is None or partitioner != rdd.partitioner:
            count += rdd.getNumPartitions()
            partitioner = None
    return count


def _cogrouped(rdds: tuple[RDD[Any], ...], numPartitions: int | None, how: int,
               keeps_partitioner: bool = True) -> RDD[Any]:
    from ember.rdd import RDD, Partitioner, _one, portable_hash
    n = _partition_count(rdds, numPartitions)
    if n < 1:
        raise ValueError(f"Number of partitions must be positive, got {numPartitions}")
    partitioner = Partitioner(n, portable_hash)
    ctx = rdds[0].ctx
    parted = [rdd if rdd.partitioner == partitioner else rdd.partitionBy(n) for rdd in rdds]
    node = reduce(lambda acc, rdd: ctx._core.zip(acc, rdd.mapPartitions(_one)._node),
                  parted[1:], parted[0].mapPartitions(_one)._node)
    zipped: RDD[Any] = RDD(ctx, node, partitioner)
    step = _CogroupStep(how, len(rdds), rdds[0]._memory_limit())
    return zipped.mapPartitionsWithIndex(step, keeps_partitioner)


def python_join(rdd: RDD[Any], other: RDD[Any], numPartitions: int | None) -> RDD[Any]:
    """(k, (v, w)) for every v of k in rdd and w of k in other."""
    return _cogrouped((rdd, other), numPartitions, _core.COGROUP_JOIN)


def python_left_outer_join(rdd: RDD[Any], other: RDD[Any], numPartitions: int | None) -> RDD[Any]:
    """As python_join, plus (k, (v, None)) for keys of rdd missing in other."""
    return _cogrouped((rdd, other), numPartitions, _core.COGROUP_LEFT)


def python_right_outer_join(rdd: RDD[Any], other: RDD[Any], numPartitions: int | None) -> RDD[Any]:
    """As python_join, plus (k, (None, w)) for keys of other missing in rdd."""
    return _cogrouped((rdd, other), numPartitions, _core.COGROUP_RIGHT)


def python_full_outer_join(rdd: RDD[Any], other: RDD[Any], numPartitions: int | None) -> RDD[Any]:
    """Both outer joins at once."""
    return _cogrouped((rdd, other), numPartitions, _core.COGROUP_FULL)


def python_cogroup(rdds: tuple[RDD[Any], ...], numPartitions: int | None) -> RDD[Any]:
    """(k, (ResultIterable of rdds[0]'s values of k, ... one per RDD)) for every key."""
    return _cogrouped(rdds, numPartitions, _core.COGROUP_ALL)


def python_subtract_by_key(rdd: RDD[Any], other: RDD[Any], numPartitions: int | None) -> RDD[Any]:
    """The pairs of rdd whose key is not a key of other."""
    return _cogrouped((rdd, other), numPartitions, _core.COGROUP_SUBTRACT_BY_KEY)


def python_subtract(rdd: RDD[Any], other: RDD[Any], numPartitions: int | None) -> RDD[Any]:
    """The elements of rdd that are not elements of other (duplicates kept)."""
    pairs = (rdd._pipe((_core.OP_PAIR, None)), other._pipe((_core.OP_PAIR, None)))
    return _cogrouped(pairs, numPartitions, _core.COGROUP_SUBTRACT, False)


def python_intersection(rdd: RDD[Any], other: RDD[Any]) -> RDD[Any]:
    """The elements of both rdd and other, each once."""
    pairs = (rdd._pipe((_core.OP_PAIR, None)), other._pipe((_core.OP_PAIR, None)))
    return _cogrouped(pairs, None, _core.COGROUP_INTERSECTION, False)
