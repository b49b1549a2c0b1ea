"""Actions: collecting, counting, folds and tree aggregates, ordering, sampling,
statistics, histogram, approximate counts, lookup, foreach, toLocalIterator."""
import math
import threading
from collections import defaultdict
from operator import add

import pytest

from ember import PythonException
from ember.rdd import BoundedFloat
from ember.statcounter import StatCounter


def test_collect_as_map_last_value_wins(sc):
    assert sc.parallelize([(1, 2), (3, 4), (1, 5)], 2).collectAsMap() == {1: 5, 3: 4}
    assert sc.parallelize([], 3).collectAsMap() == {}


def test_count_by_value_and_key_are_defaultdicts(sc):
    words = ["a", "b", "a", "c", "a", "b"]
    counts = sc.parallelize(words, 3).countByValue()
    assert isinstance(counts, defaultdict) and counts["zzz"] == 0
    assert dict((k, v) for k, v in counts.items() if v) == {"a": 3, "b": 2, "c": 1}
    by_key = sc.parallelize([(w, None) for w in words], 4).countByKey()
    assert isinstance(by_key, defaultdict)
    assert dict(by_key) == {"a": 3, "b": 2, "c": 1}
    assert dict(sc.parallelize([], 2).countByValue()) == {}
    with pytest.raises(ValueError, match="empty RDD"):  # no partitions at all: as PySpark
        sc.emptyRDD().countByValue()


def test_reduce_by_key_locally(sc):
    pairs = sc.parallelize([("a", 1), ("b", 2), ("a", 3), ("b", 4), ("c", 5)], 3)
    assert pairs.reduceByKeyLocally(add) == {"a": 4, "b": 6, "c": 5}
    assert sc.parallelize([], 2).reduceByKeyLocally(add) == {}
    with pytest.raises(ValueError, match="empty RDD"):
        sc.emptyRDD().reduceByKeyLocally(add)
    # the function sees values in partition order when merging
    got = sc.parallelize([("k", "x"), ("k", "y"), ("k", "z")], 3).reduceByKeyLocally(add)
    assert got == {"k": "xyz"}


def test_fold_uses_zero_per_partition_and_once_more(sc):
    rdd = sc.parallelize([1, 2, 3], 3)
    assert rdd.fold(10, add) == 10 + 11 + 12 + 13
    assert sc.parallelize([], 4).fold(0, add) == 0
    assert sc.emptyRDD().fold(7, add) == 7


def test_aggregate_with_mutable_zero_is_safe(sc):
    # One worker serves several partitions: a shared zero would leak between them.
    rdd = sc.parallelize(range(10), 5)
    zero = []
    got = rdd.aggregate(zero, lambda acc, x: acc.append(x) or acc, lambda a, b: a.extend(b) or a)
    assert sorted(got) == list(range(10))
    assert zero == []  # the caller's object is never mutated
    folded = rdd.map(lambda x: [x]).fold([], lambda a, b: a.extend(b) or a)
    assert sorted(folded) == list(range(10))
    assert sc.parallelize([]).aggregate((0, 0), lambda a, x: a, lambda a, b: a) == (0, 0)


def test_tree_aggregate_and_reduce(sc):
    rdd = sc.parallelize(range(-50, 51), 13)
    for depth in (1, 2, 3, 5):
        assert rdd.treeReduce(add, depth) == 0
        assert rdd.treeAggregate(0, add, add, depth) == 0
    # mutable zero: every partition gets its own copy
    zero = {}

    def seq(acc, x):
        acc[x % 3] = acc.get(x % 3, 0) + 1
        return acc

    def comb(a, b):
        for k, v in b.items():
            a[k] = a.get(k, 0) + v
        return a

    got = sc.parallelize(range(90), 9).treeAggregate(zero, seq, comb, 2)
    assert got == {0: 30, 1: 30, 2: 30} and zero == {}
    # zero used once per partition only (no extra use on the driver)
    assert sc.parallelize([1, 2, 3], 3).treeAggregate(10, add, add) == 36
    assert sc.emptyRDD().treeAggregate(5, add, add) == 5


def test_tree_reduce_errors(sc):
    with pytest.raises(ValueError, match=r"^Cannot reduce empty RDD\.$"):
        sc.parallelize([], 3).treeReduce(add)
    with pytest.raises(ValueError, match="Depth cannot be smaller than 1 but got 0."):
        sc.parallelize([1]).treeReduce(add, 0)
    with pytest.raises(ValueError, match="Depth cannot be smaller than 1 but got -1."):
        sc.parallelize([1]).treeAggregate(0, add, add, -1)
    assert sc.parallelize([None, None], 2).treeReduce(lambda a, b: a) is None


def test_max_min_with_key(sc):
    words = sc.parallelize(["aa", "b", "cccc", "ddd"], 2)
    assert words.max() == "ddd" and words.min() == "aa"
    assert words.max(key=len) == "cccc" and words.min(key=len) == "b"
    with pytest.raises(ValueError, match="Can not reduce"):
        sc.parallelize([], 2).max()


def test_take_ordered_and_top(sc):
    data = [5, 3, 9, 1, 7, 2, 8, 6, 4, 0]
    rdd = sc.parallelize(data, 4)
    assert rdd.takeOrdered(3) == [0, 1, 2]
    assert rdd.takeOrdered(3, key=lambda x: -x) == [9, 8, 7]
    assert rdd.takeOrdered(100) == sorted(data)
    assert rdd.takeOrdered(0) == [] and sc.emptyRDD().takeOrdered(3) == []
    assert rdd.top(3) == [9, 8, 7]
    assert rdd.top(2, key=lambda x: -x) == [0, 1]
    assert rdd.top(0) == [] and rdd.top(-1) == []
    assert sc.parallelize([], 3).top(2) == []
    with pytest.raises(ValueError, match=r"^top N cannot be negative\.$"):
        rdd.takeOrdered(-1)


def test_take_sample_sizes_and_seeds(sc):
    rdd = sc.parallelize(range(100), 4)
    a = rdd.takeSample(False, 10, 42)
    assert len(a) == 10 and len(set(a)) == 10 and set(a) <= set(range(100))
    assert rdd.takeSample(False, 10, 42) == a  # seeded: repeatable
    b = rdd.takeSample(True, 300, 7)
    assert len(b) == 300 and set(b) <= set(range(100))
    everything = rdd.takeSample(False, 1000, 1)
    assert sorted(everything) == list(range(100)) and everything != list(range(100))
    assert rdd.takeSample(False, 0) == [] and sc.emptyRDD().takeSample(True, 5) == []
    assert sc.parallelize([], 3).takeSample(False, 5, 1) == []
    with pytest.raises(ValueError, match="Sample size cannot be negative."):
        rdd.takeSample(False, -1)
    with pytest.raises(ValueError, match="Sample size cannot be greater than"):
        rdd.takeSample(False, 2 ** 63)


def test_take_sample_matches_pyspark_vectors(sc):
    # Recorded from PySpark 3.5.3: sc.parallelize(range(1000), 10).takeSample(...)
    rdd = sc.parallelize(range(1000), 10)
    assert rdd.takeSample(False, 5, 1) == [844, 530, 968, 785, 881]
    assert rdd.takeSample(True, 5, 2) == [100, 795, 643, 587, 0]
    assert sc.parallelize(range(5), 2).takeSample(False, 10, 7) == [4, 0, 3, 1, 2]


def test_stats_and_moments(sc):
    values = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]
    rdd = sc.parallelize(values, 3)
    s = rdd.stats()
    assert isinstance(s, StatCounter)
    assert (s.count(), s.mean(), s.sum(), s.min(), s.max()) == (8, 5.0, 40.0, 2.0, 9.0)
    assert rdd.variance() == pytest.approx(4.0) and rdd.stdev() == pytest.approx(2.0)
    assert rdd.sampleVariance() == pytest.approx(32 / 7)
    assert rdd.sampleStdev() == pytest.approx(math.sqrt(32 / 7))
    assert rdd.mean() == 5.0
    # the parallel merge equals a one-pass counter
    one = StatCounter(values)
    assert s.mean() == pytest.approx(one.mean()) and s.variance() == pytest.approx(one.variance())


def test_stats_edge_cases(sc):
    empty = sc.parallelize([], 2).stats()
    assert repr(empty) == "(count: 0, mean: 0.0, stdev: nan, max: -inf, min: inf)"
    assert math.isnan(sc.parallelize([1.0]).sampleVariance())
    with pytest.raises(ValueError, match="Can not reduce"):
        sc.emptyRDD().stats()
    ints = sc.parallelize([1, 2, 3]).stats()
    assert ints.max() == 3
    # As PySpark: numpy's maximum when numpy is installed (a numpy float), else Python's (an int).
    try:
        import numpy
    except ImportError:
        assert type(ints.max()) is int
    else:
        assert type(ints.max()) is numpy.float64


def test_stats_over_numpy_arrays_is_element_wise(sc):
    numpy = pytest.importorskip("numpy")
    rows = [numpy.array([1.0, 10.0]), numpy.array([3.0, 30.0]), numpy.array([2.0, 20.0]), numpy.array([6.0, 0.0])]
    s = sc.parallelize(rows, 3).stats()
    assert s.count() == 4
    assert s.max().tolist() == [6.0, 30.0] and s.min().tolist() == [1.0, 0.0]
    assert s.mean().tolist() == [3.0, 15.0]
    assert s.stdev() == pytest.approx(numpy.std(rows, axis=0))
    assert sc.parallelize(rows, 2).sampleVariance() == pytest.approx(numpy.var(rows, axis=0, ddof=1))


def test_statcounter_merge_rules():
    a = StatCounter([1.0, 2.0])
    assert a.mergeStats(a).count() == 4  # merging with itself merges a copy
    small, big = StatCounter([100.0]), StatCounter(float(i) for i in range(50))
    merged = big.copy().mergeStats(small)
    assert merged.count() == 51 and merged.mean() == pytest.approx((sum(range(50)) + 100) / 51)
    assert StatCounter().mergeStats(StatCounter([3.0])).mean() == 3.0
    d = StatCounter([1.0, 2.0, 3.0, 4.0]).asDict()
    assert d["stdev"] == pytest.approx(math.sqrt(5 / 3))  # the sample stdev: PySpark's quirk
    assert StatCounter([1.0, 2.0, 3.0, 4.0]).asDict(True)["variance"] == 1.25


def test_histogram_even_buckets(sc):
    assert sc.parallelize(range(51)).histogram(2) == ([0, 25, 50], [25, 26])
    assert sc.parallelize(range(51), 3).histogram([0, 5, 25, 50]) == ([0, 5, 25, 50], [5, 20, 26])
    floats = sc.parallelize([1.0, 2.5, 3.3, float("nan"), None, 7], 2)
    assert floats.histogram(3) == ([1.0, 3.0, 5.0, 7], [2, 1, 1])
    assert sc.parallelize([3, 3, 3]).histogram(4) == ([3, 3], [3])
    assert sc.parallelize([1, 2, 3]).histogram(1) == ([1, 3], [3])
    bounds, counts = sc.parallelize(range(10), 2).histogram(3)
    assert bounds == [0, 3.0, 6.0, 9] and counts == [3, 3, 4]
    # values outside explicit buckets are ignored; the last bucket is closed
    assert sc.parallelize([-1, 0, 10, 11, 20, 21]).histogram([0, 10, 20]) == ([0, 10, 20], [1, 3])


def test_histogram_uneven_and_non_numbers(sc):
    rdd = sc.parallelize([0, 1, 2, 3, 4, 5, 10, 11, 20], 2)
    assert rdd.histogram([0, 2, 10, 20]) == ([0, 2, 10, 20], [2, 4, 3])
    strings = sc.parallelize(["ab", "ac", "b", "bd", "ef"])
    assert strings.histogram(("a", "b", "c")) == (("a", "b", "c"), [2, 2])


@pytest.mark.parametrize("buckets, error, message", [
    (0, ValueError, "number of buckets must be >= 1"),
    ([1], ValueError, "buckets should have more than one value"),
    ([3, 1], ValueError, "buckets should be sorted"),
    ([1, 1, 2], ValueError, "buckets should not contain duplicated values"),
    ([1, float("nan")], ValueError, "can not have None or NaN in buckets"),
    ([None, 1], ValueError, "can not have None or NaN in buckets"),
    ("ab", TypeError, r"buckets should be a list or tuple or number\(int or long\)"),
])
def test_histogram_bucket_errors(sc, buckets, error, message):
    with pytest.raises(error, match=message):
        sc.parallelize([1, 2]).histogram(buckets)


def test_histogram_data_errors(sc):
    with pytest.raises(ValueError, match="Can not generate buckets with infinite value"):
        sc.parallelize([1.0, float("inf")]).histogram(2)
    with pytest.raises(TypeError, match="Can not generate buckets with non-number in RDD"):
        sc.parallelize(["a", "b"]).histogram(2)
    with pytest.raises(ValueError, match="empty RDD"):
        sc.parallelize([], 2).histogram(3)


def test_approximate_actions_are_exact(sc):
    rdd = sc.parallelize(range(1000), 10)
    assert rdd.countApprox(1) == 1000
    s = rdd.sumApprox(1)
    assert isinstance(s, BoundedFloat) and s == 499500.0
    assert (s.confidence, s.low, s.high) == (1.0, 499500.0, 499500.0)
    m = rdd.meanApprox(1, 0.9)
    assert m == 499.5 and (m.low, m.high) == (499.5, 499.5)
    assert sc.parallelize([], 2).sumApprox(1) == 0.0
    assert sc.emptyRDD().meanApprox(1) == 0.0 and sc.emptyRDD().sumApprox(1).high == 0.0
    with pytest.raises(ValueError, match="confidence"):
        rdd.sumApprox(1, 1.5)


def test_count_approx_distinct(sc):
    for n in (0, 1, 10, 1000, 20000):
        got = sc.parallelize(range(n), 4).countApproxDistinct()
        assert abs(got - n) <= max(2, 0.15 * n), (n, got)
    dup = sc.parallelize([i % 50 for i in range(5000)], 3).countApproxDistinct()
    assert 45 <= dup <= 55
    fine = sc.parallelize(range(20000), 3).countApproxDistinct(0.01)
    assert abs(fine - 20000) < 1000
    sparse = sc.parallelize(range(3000), 2).countApproxDistinct(0.001)  # dict registers
    assert abs(sparse - 3000) < 30
    with pytest.raises(ValueError, match="relativeSD should be greater than 0.000017"):
        sc.parallelize([1]).countApproxDistinct(0.00001)
    assert sc.parallelize([1]).countApproxDistinct(0.5) == 1  # precision clamped to 4


def test_lookup_scans_only_the_owning_partition(sc):
    pairs = sc.parallelize([(i % 10, i) for i in range(100)], 5)
    assert sorted(pairs.lookup(3)) == list(range(3, 100, 10))
    assert pairs.lookup(99) == []
    # partitioned: poison every other partition; lookup must not touch them
    part = pairs.partitionBy(4)

    def poison(i, it):
        if i != 3 % 4:
            raise RuntimeError(f"partition {i} should not be scanned")
        return it

    poisoned = part.mapPartitionsWithIndex(poison, preservesPartitioning=True)
    assert poisoned.partitioner == part.partitioner
    assert sorted(poisoned.lookup(3)) == list(range(3, 100, 10))
    with pytest.raises(PythonException, match="should not be scanned"):
        poisoned.collect()


def test_is_empty(sc):
    assert sc.parallelize([], 3).isEmpty()
    assert sc.emptyRDD().isEmpty()
    assert not sc.parallelize([None]).isEmpty()
    assert not sc.parallelize(range(10), 10).filter(lambda x: x == 9).isEmpty()


def test_foreach_and_foreach_partition_run_for_effects(sc, tmp_path):
    out = tmp_path / "seen"
    out.mkdir()

    def touch(x):
        (out / str(x)).write_text("")

    assert sc.parallelize(range(6), 3).foreach(touch) is None
    assert sorted(int(p.name) for p in out.iterdir()) == list(range(6))

    def write_partition(it):
        items = list(it)
        if items:
            (out / f"p{items[0]}").write_text(",".join(map(str, items)))

    assert sc.parallelize(range(6), 3).foreachPartition(write_partition) is None
    assert sorted(p.read_text() for p in out.glob("p*")) == ["0,1", "2,3", "4,5"]
    # an iterable result is run through, as in PySpark
    sc.parallelize([100, 101], 1).foreachPartition(lambda it: (touch(x) for x in it))
    assert (out / "100").exists() and (out / "101").exists()
    with pytest.raises(PythonException, match="ZeroDivisionError"):
        sc.parallelize([0]).foreach(lambda x: 1 / x)


def test_to_local_iterator_runs_one_job_per_partition(sc):
    rdd = sc.parallelize(range(10), 4)
    assert list(rdd.toLocalIterator()) == list(range(10))
    assert list(rdd.toLocalIterator(prefetchPartitions=True)) == list(range(10))
    assert list(sc.emptyRDD().toLocalIterator()) == []
    calls = []
    original = sc._run_job

    def counting(node, partitions=None, *rest):
        calls.append(partitions)
        return original(node, partitions, *rest)

    sc._run_job = counting
    try:
        it = rdd.toLocalIterator()
        assert calls == []  # nothing runs before the first element is asked for
        assert next(it) == 0
        assert calls == [[0]]
        rest = list(it)
        assert rest == list(range(1, 10))
        assert calls == [[0], [1], [2], [3]]
    finally:
        del sc._run_job


def test_to_local_iterator_prefetch_runs_next_partition_in_background(sc):
    rdd = sc.parallelize(range(6), 3)
    seen_threads = set()
    original = sc._run_job

    def recording(node, partitions=None, *rest):
        seen_threads.add(threading.current_thread().name)
        return original(node, partitions, *rest)

    sc._run_job = recording
    try:
        assert list(rdd.toLocalIterator(True)) == list(range(6))
    finally:
        del sc._run_job
    assert any(name.startswith("ember-prefetch") for name in seen_threads)


def test_take_scans_partitions_in_growing_rounds(sc):
    calls = []
    original = sc._run_job

    def counting(node, partitions=None, *rest):
        calls.append(list(partitions))
        return original(node, partitions, *rest)

    sc._run_job = counting
    try:
        rdd = sc.parallelize(range(20), 20).filter(lambda x: x >= 15)
        assert rdd.take(2) == [15, 16]
        # 1 partition, then 4x while nothing found, capped at the partition count
        assert calls == [[0], [1, 2, 3, 4], list(range(5, 20))]
        calls.clear()
        # found some: interpolate with 1.5x, at most 4x the scanned count
        assert sc.parallelize(range(40), 20).take(7) == list(range(7))
        assert calls == [[0], [1, 2, 3, 4]]
    finally:
        del sc._run_job


def test_misuse_errors(sc):
    with pytest.raises(ValueError, match=r"^Can not reduce\(\) empty RDD$"):
        sc.parallelize([], 2).reduce(add)
    with pytest.raises(ValueError, match="RDD is empty"):
        sc.emptyRDD().first()
