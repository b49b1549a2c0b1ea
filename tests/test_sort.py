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


def test_sort_by_key_runs_count_and_sample_jobs_when_defined(sc, tmp_path):
    seen = tmp_path / "seen"
    seen.mkdir()

    def note(i, it):
        (seen / f"{i}-{len(list(seen.iterdir()))}").touch()
        return it

    rdd = sc.parallelize([(i, i) for i in range(40)], 2).mapPartitionsWithIndex(note)
    rdd.sortByKey(True, 2)
    assert len(list(seen.iterdir())) == 4  # count, then sample: two jobs of two tasks
    rdd.sortByKey(True, 1)
    assert len(list(seen.iterdir())) == 4  # one partition: no job until an action


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
