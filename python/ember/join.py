"""Joins and cogroups of pair RDDs, composed from union and groupByKey as PySpark
composes them.

Each side's values are tagged with the side's index (``mapValues``, which keeps a
partitioner), the tagged RDDs are unioned and grouped by key, and each key's group
is split back into one list per side. Joins then emit the cross product of the two
lists per key (an outer side with no values contributes a single None).

Because the tagging keeps partitioners, two RDDs partitioned by equal partitioners
union into an RDD with the same partitioner and partition count, and the grouping
needs no shuffle: partition i of the result is computed from partition i of each
side in one task (see ``RDD.union``). Otherwise the grouping shuffles, into
``numPartitions`` partitions, by default the sum of both sides' partition counts
(or ``spark.default.parallelism`` when it is set).
"""

from __future__ import annotations

from functools import partial, reduce

from ember.resultiterable import ResultIterable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ember.rdd import RDD

__all__ = ["python_join", "python_left_outer_join", "python_right_outer_join",
           "python_full_outer_join", "python_cogroup"]


def _tag(side, value):
    return side, value


def _sides(tagged, n):
    """The values of one key, one list per side, in arrival order."""
    bufs = [[] for _ in range(n)]
    for side, value in tagged:
        bufs[side].append(value)
    return bufs


def _inner(tagged):
    left, right = _sides(tagged, 2)
    return ((v, w) for v in left for w in right)


def _left_outer(tagged):
    left, right = _sides(tagged, 2)
    return ((v, w) for v in left for w in (right or (None,)))


def _right_outer(tagged):
    left, right = _sides(tagged, 2)
    return ((v, w) for v in (left or (None,)) for w in right)


def _full_outer(tagged):
    left, right = _sides(tagged, 2)
    return ((v, w) for v in (left or (None,)) for w in (right or (None,)))


def _regroup(n, tagged):
    return tuple(ResultIterable(vs) for vs in _sides(tagged, n))


def _tagged_union(rdds):
    tagged = [rdd.mapValues(partial(_tag, i)) for i, rdd in enumerate(rdds)]
    return reduce(lambda acc, rdd: acc.union(rdd), tagged)


def _join(rdd, other, numPartitions, pairs):
    return _tagged_union((rdd, other)).groupByKey(numPartitions).flatMapValues(pairs)


def python_join(rdd: RDD[Any], other: RDD[Any], numPartitions: int | None) -> RDD[Any]:
    """(k, (v, w)) for every v of k in rdd and w of k in other."""
    return _join(rdd, other, numPartitions, _inner)


def python_left_outer_join(rdd: RDD[Any], other: RDD[Any], numPartitions: int | None) -> RDD[Any]:
    """As python_join, plus (k, (v, None)) for keys of rdd missing in other."""
    return _join(rdd, other, numPartitions, _left_outer)


def python_right_outer_join(rdd: RDD[Any], other: RDD[Any], numPartitions: int | None) -> RDD[Any]:
    """As python_join, plus (k, (None, w)) for keys of other missing in rdd."""
    return _join(rdd, other, numPartitions, _right_outer)


def python_full_outer_join(rdd: RDD[Any], other: RDD[Any], numPartitions: int | None) -> RDD[Any]:
    """Both outer joins at once."""
    return _join(rdd, other, numPartitions, _full_outer)


def python_cogroup(rdds: tuple[RDD[Any], ...], numPartitions: int | None) -> RDD[Any]:
    """(k, (ResultIterable of rdds[0]'s values of k, ... one per RDD)) for every key."""
    return _tagged_union(rdds).groupByKey(numPartitions).mapValues(partial(_regroup, len(rdds)))
