"""sortByKey, sortBy and repartitionAndSortWithinPartitions: total order, range
partitions, the jobs sortByKey runs when it is defined, and per-partition sorting."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ember import PythonException, portable_hash

keys = st.one_of(st.integers(-50, 50), st.text(max_size=4))


def check_ranges(parts, key=lambda k: k, ascending=True):
    """Each partition sorted, and partitions in key order."""
    flat = [kv for p in parts for kv in p]
    order = [key(k) for k, _ in flat]
    assert order == sorted(order, reverse=not ascending)


@settings(max_examples=30, deadline=None)
@given(data=st.lists(st.tuples(st.integers(-1000, 1000), st.integers()), max_size=200),
       slices=st.integers(1, 5), out=st.integers(1, 6), ascending=st.booleans())
def test_sort_by_key_equals_sorted(sc, data, slices, out, ascending):
    rdd = sc.parallelize(data, slices).sortByKey(ascending, out)
    got = rdd.collect()
    assert [k for k, _ in got] == sorted((k for k, _ in data), reverse=not ascending)
    assert sorted(got) == sorted(data)
    if data:
        assert rdd.getNumPartitions() == out
        check_ranges(rdd.glom().collect(), ascending=ascending)


@pytest.mark.slow
@settings(max_examples=20, deadline=None)
@given(data=st.lists(st.tuples(st.text(max_size=6), st.none()), max_size=100), out=st.integers(1, 4))
def test_sort_by_key_strings(sc, data, out):
    got = sc.parallelize(data, 3).sortByKey(True, out).keys().collect()
    assert got == sorted(k for k, _ in data)


def test_sort_by_key_spreads_well_spread_keys_over_all_partitions(sc):
    data = [((i * 7919) % 10007, i) for i in range(5000)]
    parts = sc.parallelize(data, 4).sortByKey(True, 8).glom().collect()
    assert all(parts) and max(map(len, parts)) < 2 * 5000 / 8
    check_ranges(parts)


def test_sort_by_key_keyfunc_gives_a_total_order(sc):
    words = ["Mary", "had", "a", "little", "lamb", "whose", "fleece", "was", "white", "as", "snow", "B", "Z"]
    rdd = sc.parallelize([(w, i) for i, w in enumerate(words)], 3)
    got = rdd.sortByKey(True, 3, keyfunc=str.lower)
    assert got.keys().collect() == sorted(words, key=str.lower)
    check_ranges(got.glom().collect(), key=str.lower)
    numbers = sc.parallelize([(i, None) for i in range(100)], 4)
    # A keyfunc that reverses the order: the bounds are compared in keyfunc's terms.
    desc = numbers.sortByKey(True, 4, keyfunc=lambda k: -k)
    assert desc.keys().collect() == list(range(99, -1, -1))
    assert all(desc.glom().collect())


def test_sort_by_key_is_stable_for_equal_keys_within_a_partition(sc):
    data = [(i % 3, i) for i in range(30)]
    one = sc.parallelize(data, 1)
    assert one.sortByKey(numPartitions=1).collect() == sorted(data, key=lambda kv: kv[0])
    assert one.sortByKey(False, 1).collect() == sorted(data, key=lambda kv: kv[0], reverse=True)


def test_sort_by_key_one_partition_and_empty(sc):
    rdd = sc.parallelize([(3, "c"), (1, "a"), (2, "b")], 3)
    single = rdd.sortByKey(numPartitions=1)
    assert single.getNumPartitions() == 1
    assert single.glom().collect() == [[(1, "a"), (2, "b"), (3, "c")]]
    empty = sc.parallelize([], 3)
    assert empty.sortByKey().collect() == [] and empty.sortByKey().getNumPartitions() == 3


def test_sort_by_key_runs_its_count_and_sample_job_when_defined(sc, tmp_path):
    seen = tmp_path / "seen"
    seen.mkdir()

    def note(i, it):
        (seen / f"{i}-{len(list(seen.iterdir()))}").touch()
        return it

    rdd = sc.parallelize([(i, i) for i in range(40)], 2).mapPartitionsWithIndex(note)
    rdd.sortByKey(True, 2)
    assert len(list(seen.iterdir())) == 2  # count and sample: one pass, a job of two tasks
    rdd.sortByKey(True, 1)
    assert len(list(seen.iterdir())) == 2  # one partition: no job until an action


def test_sort_by_key_runs_the_users_functions_once_and_drops_its_copy_once_shuffled(sc):
    calls = sc.accumulator(0)

    def pair(i):
        calls.add(1)
        return ((i * 7919) % 1009, i)

    def blocks():
        return {n for n in os.listdir(sc._core.tmpdir) if n.endswith(".block")}

    before = blocks()
    rdd = sc.parallelize(range(1000), 3).map(pair).sortByKey(True, 4)
    assert calls.value == 1000  # the sample job computed the copy
    assert len(blocks() - before) == 3  # the DISK_ONLY copy, one block a partition
    got = rdd.collect()
    assert got == sorted((((i * 7919) % 1009, i) for i in range(1000)), key=lambda kv: kv[0])
    assert calls.value == 1000  # the shuffle read the copy, not the function again
    assert blocks() == before  # and the copy went once the shuffle had its map output
    assert rdd.count() == 1000 and calls.value == 1000


def test_sort_by_key_default_partitions(sc):
    assert sc.parallelize([(i, i) for i in range(10)], 3).sortByKey().getNumPartitions() == 3


def test_sort_by_key_of_incomparable_keys_fails_the_task(sc):
    with pytest.raises((PythonException, TypeError), match="not supported between instances"):
        sc.parallelize([(1, 1), ("a", 2), (None, 3)], 1).sortByKey(numPartitions=1).collect()


def test_sort_by(sc):
    data = [("a", 1), ("b", 2), ("1", 3), ("d", 4), ("2", 5)]
    rdd = sc.parallelize(data, 2)
    assert rdd.sortBy(lambda x: x[0]).collect() == sorted(data)
    assert rdd.sortBy(lambda x: x[1], False).collect() == sorted(data, key=lambda x: -x[1])
    assert rdd.sortBy(lambda x: x[1], numPartitions=3).getNumPartitions() == 3


@settings(max_examples=20, deadline=None)
@given(data=st.lists(st.tuples(keys, st.integers()), max_size=60), out=st.integers(1, 4),
       ascending=st.booleans())
def test_repartition_and_sort_within_partitions(sc, data, out, ascending):
    data = [(k, v) for k, v in data if isinstance(k, int)] or [(0, 0)]
    rdd = sc.parallelize(data, 2).repartitionAndSortWithinPartitions(out, ascending=ascending)
    parts = rdd.glom().collect()
    assert len(parts) == out
    for index, part in enumerate(parts):
        assert all(portable_hash(k) % out == index for k, _ in part)
        ks = [k for k, _ in part]
        assert ks == sorted(ks, reverse=not ascending)
    assert sorted(kv for p in parts for kv in p) == sorted(data)


def test_repartition_and_sort_with_partition_func_and_keyfunc(sc):
    rdd = sc.parallelize([(0, 5), (3, 8), (2, 6), (0, 8), (3, 8), (1, 3)], 3)
    parts = rdd.repartitionAndSortWithinPartitions(2, lambda x: x % 2, True).glom().collect()
    assert parts == [[(0, 5), (0, 8), (2, 6)], [(1, 3), (3, 8), (3, 8)]]
    by_negation = rdd.repartitionAndSortWithinPartitions(2, lambda x: x % 2, keyfunc=lambda k: -k)
    assert by_negation.glom().collect() == [[(2, 6), (0, 5), (0, 8)], [(3, 8), (3, 8), (1, 3)]]
    assert by_negation.partitioner is not None


# ---- the C sort: key kinds, spills, the sample, takeOrdered -----------------------------

import heapq  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402

from ember import _core, shuffle  # noqa: E402

scalars = st.one_of(st.integers(-2**70, 2**70), st.floats(allow_nan=False), st.booleans())
same_kind_keys = st.one_of(
    st.lists(scalars, max_size=80),
    st.lists(st.text(max_size=5), max_size=80),
    st.lists(st.binary(max_size=4), max_size=80),
    st.lists(st.tuples(st.integers(-3, 3), st.text("ab\u0100", max_size=2)), max_size=80),
    st.lists(st.tuples(st.floats(-2, 2), st.tuples(st.integers(0, 2), st.binary(max_size=1))), max_size=80),
)


@settings(max_examples=60, deadline=None)
@given(keys=same_kind_keys, ascending=st.booleans())
def test_c_sort_equals_pythons_sorted(keys, ascending):
    pairs = [(k, i) for i, k in enumerate(keys)]
    got = list(_core.sort_pairs(iter(pairs), ascending, None, 1 << 50, "/nonexistent"))
    assert got == sorted(pairs, key=lambda kv: kv[0], reverse=not ascending)
    bounds = sorted(keys[:5])
    p = _core.RangePartitioner(bounds, len(bounds) + 1)
    from bisect import bisect_left
    assert [p(k) for k in keys] == [bisect_left(bounds, k) for k in keys]
    for n in (1, 3, 100):
        assert _core.take_ordered(keys, n) == heapq.nsmallest(n, keys)
        assert _core.take_ordered(keys, n, None, True) == heapq.nlargest(n, keys)


@settings(max_examples=40, deadline=None)
@given(keys=same_kind_keys, ascending=st.booleans(), chunk=st.integers(1, 9), keyed=st.booleans())
def test_spilled_runs_merge_back_to_pythons_sorted(tmp_path_factory, keys, ascending, chunk, keyed):
    # A limit of one byte: a run every `chunk` records; equal keys keep their order
    # across runs, and a keyfunc's keys travel with the records.
    spill_dir = tmp_path_factory.mktemp("runs")
    pairs = [(k, i) for i, k in enumerate(keys)]
    keyfunc = (lambda k: (k,)) if keyed else None
    it = _core.sort_pairs(iter(pairs), ascending, keyfunc, 1, str(spill_dir), chunk)
    assert it.runs == (len(pairs) // chunk if len(pairs) >= chunk else 0)
    assert list(it) == sorted(pairs, key=lambda kv: kv[0], reverse=not ascending)
    assert os.listdir(spill_dir) == []


@settings(max_examples=40, deadline=None)
@given(records=st.lists(st.one_of(
    st.tuples(st.integers(-2**65, 2**65), st.integers(-2**65, 2**65)),
    st.tuples(st.integers(-5, 5), st.booleans()),
    st.tuples(st.booleans(), st.integers(-5, 5)),
    st.lists(st.integers(-5, 5), min_size=2, max_size=2),
    st.tuples(st.floats(-9, 9), st.integers(-9, 9))), max_size=60),
    ascending=st.booleans(), chunk=st.integers(1, 9))
def test_pairs_of_ints_come_back_as_they_went_in(tmp_path_factory, records, ascending, chunk):
    # Pairs of 64-bit ints are held without their objects and made again: the same
    # values and types (bools, lists, bigger ints as they were), in memory and through
    # spilled runs.
    spill_dir = tmp_path_factory.mktemp("runs")
    want = sorted(records, key=lambda kv: kv[0], reverse=not ascending)
    for limit in (1 << 50, 1):
        got = list(_core.sort_pairs(iter(records), ascending, None, limit, str(spill_dir), chunk))
        assert got == want
        assert [(type(r), tuple(map(type, r))) for r in got] == [(type(r), tuple(map(type, r))) for r in want]
        values = list(_core.sort_pairs(iter(records), ascending, None, limit, str(spill_dir), chunk, values=True))
        assert values == [r[1] for r in want]
    with pytest.raises(TypeError, match="not supported between instances of '(str|int)' and '(int|str)'"):
        list(_core.sort_pairs(iter([(1, 2), ("a", 3)]), True, None, 1 << 50, "/tmp"))


def test_c_sort_other_types_use_pythons_comparison():
    class Version:
        def __init__(self, v):
            self.v = v

        def __lt__(self, other):
            return self.v < other.v

        def __eq__(self, other):
            return self.v == other.v

    pairs = [(Version(v), i) for i, v in enumerate([3, 1, 2, 1])] + [((1, Version(0)), 9)]
    with pytest.raises(TypeError, match="not supported between instances of 'tuple' and 'Version'"):
        list(_core.sort_pairs(iter(pairs), True, None, 1 << 50, "/tmp"))
    got = list(_core.sort_pairs(iter(pairs[:4]), False, None, 1 << 50, "/tmp"))
    assert [(k.v, i) for k, i in got] == [(3, 0), (2, 2), (1, 1), (1, 3)]
    nan = float("nan")  # a NaN key compares in Python, as sorted compares it
    assert list(_core.sort_pairs(iter([(nan, 1)]), True, None, 1 << 50, "/tmp")) == [(nan, 1)]
    assert math.isnan(_core.take_ordered([nan, 1.0], 1)[0]) == math.isnan(heapq.nsmallest(1, [nan, 1.0])[0])


def test_keyfunc_is_called_once_per_record_even_when_spilling(tmp_path):
    calls = []

    def keyfunc(k):
        calls.append(k)
        return -k

    records = [(i % 1000, i) for i in range(30000)]
    it = _core.sort_pairs(iter(records), True, keyfunc, 1, str(tmp_path), 5000)
    assert it.runs >= 1
    assert list(it) == sorted(records, key=lambda kv: -kv[0])
    assert len(calls) == len(records)


@pytest.mark.parametrize("ascending", [True, False])
def test_sorted_runs_spill_and_merge_back_and_are_removed(tmp_path, ascending):
    rnd = random.Random(7)
    records = [(rnd.randrange(3000), i) for i in range(125000)]
    # A limit of one byte: the first check spills, and then every run holds as many
    # records as the first (chunk): 12 runs on disk, 5000 records left in memory.
    it = _core.sort_pairs(iter(records), ascending, None, 1, str(tmp_path), 10000)
    assert it.runs == 12 and it.spilled_bytes > 0
    assert os.listdir(tmp_path) == []  # a run is unlinked once its reader has it open
    assert list(it) == sorted(records, key=lambda kv: kv[0], reverse=not ascending)
    it = _core.sort_pairs(iter(records), ascending, None, 1 << 50, str(tmp_path), 10000)
    assert it.runs == 0


def test_a_failing_sort_leaves_no_run_behind(tmp_path):
    records = [(i, i) for i in range(30000)] + [("x", 0)]
    with pytest.raises(TypeError):
        _core.sort_pairs(iter(records), True, None, 1, str(tmp_path), 5000)
    assert os.listdir(tmp_path) == []


def test_sort_by_key_spills_in_jobs_and_leaves_no_file(sc):
    old = sc._conf.get("spark.python.worker.memory")
    sc._conf.set("spark.python.worker.memory", "1m")  # below any worker's RSS: runs spill
    try:
        rnd = random.Random(5)
        data = [(rnd.randrange(10**6), i) for i in range(200000)]
        rdd = sc.parallelize(data, 2)
        assert rdd.sortByKey(True, 2).collect() == sorted(data, key=lambda kv: kv[0])
        assert rdd.sortByKey(False, 1, keyfunc=lambda k: k % 1000).collect() == \
            sorted(data, key=lambda kv: kv[0] % 1000, reverse=True)
        parts = rdd.repartitionAndSortWithinPartitions(2).glom().collect()
        assert all([k for k, _ in p] == sorted(k for k, _ in p) for p in parts)
        assert sorted(kv for p in parts for kv in p) == sorted(data)
    finally:
        sc._conf.set("spark.python.worker.memory", old or "512m")
    leftovers = [n for _, _, names in os.walk(sc._core.tmpdir) for n in names if n.endswith(".run")]
    assert leftovers == []


def test_count_and_sample_gives_the_sample_pysparks_two_jobs_give(sc):
    rdd = sc.parallelize([((i * 7919) % 10007, i) for i in range(20000)], 3)
    for n in (2, 7, 400):
        max_sample = n * 20.0
        size = rdd.count()
        fraction = min(max_sample / size, 1.0)
        want = rdd.sample(False, fraction, 1).map(lambda kv: kv[0]).collect()
        counted = rdd.mapPartitionsWithIndex(shuffle.CountAndSample(max_sample)).collect()
        assert sum(c for c, _ in counted) == size
        assert [k for _, kept in counted for u, k in kept if u < fraction] == want


def test_range_partitioner_is_picklable_and_checks_its_arguments():
    import pickle
    p = shuffle.RangePartitioner(["b", "d"], 3, False, str.lower)
    q = pickle.loads(pickle.dumps(p))
    assert [q(k) for k in ("A", "C", "E")] == [2, 1, 0]
    assert (q.bounds, q.numPartitions, q.ascending, q.keyfunc) == (["b", "d"], 3, False, str.lower)
    with pytest.raises(ValueError, match="numPartitions"):
        shuffle.RangePartitioner([], 0)
    with pytest.raises(TypeError, match="keyfunc"):
        shuffle.RangePartitioner([], 2, True, 5)
    with pytest.raises(TypeError, match="not supported"):
        shuffle.RangePartitioner([1], 2)("x")


def test_map_side_range_partitioning_of_incomparable_keys_fails_the_task(sc):
    with pytest.raises((PythonException, TypeError), match="not supported between instances"):
        sc.parallelize([(i, i) for i in range(100)] + [("a", 0)], 2).sortByKey(True, 2).collect()


def test_take_ordered_and_top_keep_heapqs_order_of_equal_keys(sc):
    data = [(i % 5, i) for i in range(100)]
    rdd = sc.parallelize(data, 4)
    first = lambda kv: kv[0]  # noqa: E731
    assert rdd.takeOrdered(12, key=first) == heapq.nsmallest(12, data, key=first)
    assert rdd.top(12, key=first) == heapq.nlargest(12, data, key=first)
    assert rdd.takeOrdered(5000) == sorted(data)
    with pytest.raises((PythonException, TypeError), match="not supported"):
        sc.parallelize([1, "a"], 1).takeOrdered(2)
