"""The first-cut RDD API: transformations, actions, pipelining, caching."""
from operator import add

import pytest

from ember import PythonException, ResultIterable, _core


def test_parallelize_layout_matches_pyspark(sc):
    assert sc.parallelize([1, 2, 3, 4, 5], 3).glom().collect() == [[1], [2, 3], [4, 5]]
    assert sc.parallelize(["a", "b", "c"], 2).glom().collect() == [["a"], ["b", "c"]]
    assert sc.parallelize(range(1, 8), 4).glom().collect() == [[1], [2, 3], [4, 5], [6, 7]]
    assert sc.parallelize(range(0, 6, 2), 5).glom().collect() == [[], [0], [], [2], [4]]
    sizes = [len(p) for p in sc.parallelize(list(range(10000)), 2).glom().collect()]
    assert sizes == [5120, 4880]


def test_narrow_chain(sc):
    rdd = sc.parallelize(range(20), 3)
    got = (rdd.map(lambda x: x * 3).filter(lambda x: x % 2 == 0)
           .flatMap(lambda x: [x, -x]).mapPartitions(lambda it: (y + 1 for y in it)).collect())
    want = [y + 1 for x in range(20) if (x * 3) % 2 == 0 for y in (x * 3, -x * 3)]
    assert got == want


def test_consecutive_narrow_ops_fuse_into_one_node(sc):
    base = sc.parallelize([1, 2, 3])
    chained = base.map(str).filter(bool).map(len)
    assert chained._parent is base
    assert len(chained._ops) == 3


def test_map_to_a_pair_with_a_constant_runs_in_c(sc):
    # lambda x: (x, c) for a constant c of a plain type becomes the C op OP_PAIR; a
    # function that does anything else (or pairs with something not a plain constant)
    # stays a Python call. The results are the same either way.
    y = 5
    words = sc.parallelize(["a", "b", "a", 3, None], 2)
    cases = [(lambda w: (w, 1), True), (lambda w: (w, "one"), True), (lambda w: (w, b"1"), True),
             (lambda w: (w, 2.5), True), (lambda w: (w, (1, 2)), False), (lambda w: (1, w), False),
             (lambda w: (w, y), False), (lambda w: (w, w), False), (lambda w, z=1: (w, z), False),
             (lambda *w: (w, 1), False)]
    for f, in_c in cases:
        mapped = words.map(f)
        assert (mapped._ops[-1][0] == _core.OP_PAIR) == in_c, f
        assert mapped.collect() == [f(w) for w in ["a", "b", "a", 3, None]]
    assert sorted(words.map(lambda w: (w, 1)).reduceByKey(add).collect(), key=repr) == [
        ("a", 2), ("b", 1), (3, 1), (None, 1)]


def test_pairs_with_a_constant_into_a_combining_shuffle(sc):
    # map(lambda x: (x, 1)) before reduceByKey/combineByKey: the shuffle writer takes
    # the keys without their pairs; keys met once pass its table by (past 4096 keys),
    # frequent ones merge, and every count comes out right.
    import collections

    words = [f"u{i}" if i % 3 == 0 else f"f{i % 40}" for i in range(90_000)] + [b"x", 7, None] * 5
    rdd = sc.parallelize(words, 3).map(lambda w: (w, 1))
    assert rdd._ops[-1][0] == _core.OP_PAIR
    expected = collections.Counter(words)
    assert dict(rdd.reduceByKey(add).collect()) == expected
    lists = dict(rdd.combineByKey(lambda v: [v], lambda c, v: c + [v], lambda a, b: a + b).collect())
    assert {k: len(c) for k, c in lists.items()} == expected
    assert set(map(tuple, lists.values())) == {(1,) * n for n in set(expected.values())}


def test_map_partitions_with_index_through_union(sc):
    a = sc.parallelize([1, 2], 2).mapPartitionsWithIndex(lambda i, it: [(i, x) for x in it])
    b = sc.parallelize([3], 1).mapPartitionsWithIndex(lambda i, it: [(i, x) for x in it])
    u = a.union(b).mapPartitionsWithIndex(lambda i, it: [(i, y) for y in it])
    assert u.collect() == [(0, (0, 1)), (1, (1, 2)), (2, (0, 3))]


def test_pair_ops(sc):
    pairs = sc.parallelize([("a", 1), ("b", 2), ("a", 3), ("c", 4)], 3)
    assert sorted(pairs.reduceByKey(add).collect()) == [("a", 4), ("b", 2), ("c", 4)]
    groups = dict(pairs.groupByKey().collect())
    assert isinstance(groups["a"], ResultIterable)
    assert sorted(groups["a"]) == [1, 3] and len(groups["a"]) == 2
    assert pairs.mapValues(lambda v: v * 10).collect() == [("a", 10), ("b", 20), ("a", 30), ("c", 40)]
    assert pairs.flatMapValues(range).count() == 10
    assert pairs.keys().collect() == ["a", "b", "a", "c"]
    assert pairs.values().sum() == 10


def test_reduce_by_key_num_partitions_and_partitioner(sc):
    pairs = sc.parallelize([(i % 7, 1) for i in range(100)], 4)
    reduced = pairs.reduceByKey(add, 3)
    assert reduced.getNumPartitions() == 3
    parts = reduced.glom().collect()
    for index, part in enumerate(parts):
        for k, _ in part:
            assert k % 3 == index  # small int keys hash to themselves
    assert sorted(reduced.collect()) == sorted((k, sum(1 for i in range(100) if i % 7 == k)) for k in range(7))
    assert reduced.mapValues(str).partitioner == reduced.partitioner
    assert reduced.map(lambda kv: kv).partitioner is None


def test_partition_by_keeps_keys_together(sc):
    pairs = sc.parallelize([(x, x) for x in [1, 2, 3, 4, 2, 4, 1]], 3)
    parts = pairs.partitionBy(2).glom().collect()
    assert not set(k for k, _ in parts[0]) & set(k for k, _ in parts[1])
    same = pairs.partitionBy(2)
    assert same.partitionBy(2) is same


def test_custom_partition_func(sc):
    parts = sc.parallelize([(k, None) for k in range(10)]).partitionBy(3, lambda k: k // 4).glom().collect()
    assert [sorted(k for k, _ in p) for p in parts] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_combine_by_key(sc):
    x = sc.parallelize([("a", 1), ("b", 1), ("a", 2), ("a", 5)], 2)
    got = dict(x.combineByKey(lambda v: [v], lambda c, v: c + [v], lambda a, b: a + b).collect())
    assert sorted(got["a"]) == [1, 2, 5] and got["b"] == [1]


def test_actions(sc):
    rdd = sc.parallelize(range(10), 4)
    assert rdd.count() == 10
    assert rdd.sum() == 45
    assert rdd.reduce(add) == 45
    assert rdd.first() == 0
    assert rdd.take(0) == []
    assert rdd.take(5) == [0, 1, 2, 3, 4]
    assert rdd.take(100) == list(range(10))
    assert rdd.getNumPartitions() == 4
    with pytest.raises(ValueError, match="empty"):
        sc.parallelize([], 2).reduce(add)
    with pytest.raises(ValueError, match="RDD is empty"):
        sc.parallelize([], 2).first()
    assert sc.parallelize([], 3).collect() == []
    assert sc.parallelize([], 3).sum() == 0


def test_take_scans_few_partitions(sc, tmp_path):
    marker = tmp_path / "seen"
    marker.mkdir()

    def note(i, it):
        (marker / str(i)).touch()
        return it

    assert sc.parallelize(range(100), 50).mapPartitionsWithIndex(note).take(1) == [0]
    assert sorted(int(p.name) for p in marker.iterdir()) == [0]


def test_range_and_union(sc):
    assert sc.range(3, 10, 3).collect() == [3, 6, 9]
    assert sc.range(10, 0, -3).collect() == [10, 7, 4, 1]
    u = sc.union([sc.range(2), sc.parallelize(["x"]), sc.range(5, 6)])
    assert u.collect() == [0, 1, "x", 5]
    assert (sc.range(2) + sc.range(2)).count() == 4


def test_cache_computes_once(sc, tmp_path):
    calls = tmp_path / "calls"
    calls.mkdir()

    def record(i, it):
        (calls / f"{i}-{len(list(calls.iterdir()))}").touch()
        return it

    rdd = sc.parallelize(range(6), 2).mapPartitionsWithIndex(record).cache()
    assert rdd.count() == 6
    assert rdd.map(lambda x: x * 2).collect() == [0, 2, 4, 6, 8, 10]
    assert rdd.sum() == 15
    assert len(list(calls.iterdir())) == 2
    rdd.unpersist()
    assert rdd.count() == 6
    assert len(list(calls.iterdir())) == 4


def test_shuffle_output_is_reused_by_later_jobs(sc, tmp_path):
    calls = tmp_path / "maps"
    calls.mkdir()

    def record(i, it):
        (calls / f"{i}-{len(list(calls.iterdir()))}").touch()
        return it

    counts = sc.parallelize(["a", "b", "a"], 2).mapPartitionsWithIndex(record) \
        .map(lambda w: (w, 1)).reduceByKey(add)
    assert sorted(counts.collect()) == [("a", 2), ("b", 1)]
    assert counts.count() == 2
    assert sorted(counts.mapValues(str).collect()) == [("a", "2"), ("b", "1")]
    assert len(list(calls.iterdir())) == 2  # the map stage ran once


def test_stop_iteration_in_user_function_fails_the_task(sc):
    def bad(x):
        raise StopIteration()

    with pytest.raises(PythonException, match="STOP_ITERATION_OCCURRED"):
        sc.parallelize([1, 2]).map(bad).collect()


def test_functions_capture_closures_and_modules(sc):
    import math
    factor = 3
    offsets = {"base": 10}
    got = sc.parallelize([1, 4, 9]).map(lambda x: int(math.sqrt(x)) * factor + offsets["base"]).collect()
    assert got == [13, 16, 19]


def test_rdd_and_context_cannot_be_shipped(sc):
    rdd = sc.parallelize([1])
    with pytest.raises(Exception, match="SPARK-5063|RDD_TRANSFORM_ONLY_VALID_ON_DRIVER"):
        sc.parallelize([1]).map(lambda x: rdd.count()).collect()
    with pytest.raises(Exception, match="CONTEXT_ONLY_VALID_ON_DRIVER"):
        sc.parallelize([1]).map(lambda x: sc.defaultParallelism).collect()


def test_large_records_and_many_partitions(sc):
    big = "x" * (3 << 20)
    assert sc.parallelize([big, big], 2).map(len).collect() == [3 << 20, 3 << 20]
    assert sc.parallelize(range(2000), 500).map(lambda x: x + 1).sum() == sum(range(1, 2001))


def test_coalesce_zip_cartesian(sc):
    rdd = sc.parallelize(range(10), 5)
    assert rdd.coalesce(2).glom().collect() == [[0, 1, 2, 3], [4, 5, 6, 7, 8, 9]]
    assert rdd.coalesce(5).getNumPartitions() == 5
    with pytest.raises(ValueError, match="positive"):
        rdd.coalesce(0)
    rep = rdd.repartition(3)
    assert rep.getNumPartitions() == 3 and sorted(rep.collect()) == list(range(10))
    assert all(rep.glom().collect())
    a = sc.parallelize(range(6), 3)
    b = a.map(lambda x: x * 10)
    assert a.zip(b).collect() == [(x, x * 10) for x in range(6)]
    with pytest.raises(ValueError, match="same number of partitions"):
        a.zip(sc.parallelize(range(6), 2))
    with pytest.raises(PythonException, match="same number of elements"):
        a.zip(a.filter(lambda x: x != 3)).collect()
    cart = sc.parallelize([1, 2], 2).cartesian(sc.parallelize("ab", 2))
    assert cart.getNumPartitions() == 4
    assert cart.collect() == [(1, "a"), (1, "b"), (2, "a"), (2, "b")]
    # Inputs sent over the pipe (parallelized and cached) in one task, read in any order.
    c = sc.parallelize(range(4), 2).cache()
    assert c.zip(sc.parallelize("wxyz", 2)).collect() == list(zip(range(4), "wxyz"))
    assert c.coalesce(1).zip(sc.parallelize("wxyz", 1)).map(lambda p: p[1]).collect() == list("wxyz")


def test_released_commands_do_not_pile_up(sc):
    import gc
    from ember import _core
    # The web UI's task log keeps the last spark.ui.retainedTasks attempts (100000): here
    # the last 500 (and 200 stages), so that it is full before the jobs measured.
    sc._core.tasklog_retain(500, 200)
    try:
        base = sc.parallelize(range(4), 2)
        for _ in range(300):
            base.map(lambda x: x).count()
        gc.collect()
        before = _core.mem_used()
        for _ in range(2000):
            base.map(lambda x: x).count()
        gc.collect()
        assert _core.mem_used() - before < 16 * 1024
    finally:
        sc._core.tasklog_retain(100000, 1000)


def test_distinct_group_by_key_by(sc):
    rdd = sc.parallelize([3, 1, 3, 2, 1, 3], 3)
    assert sorted(rdd.distinct().collect()) == [1, 2, 3]
    assert rdd.distinct(5).getNumPartitions() == 5
    assert rdd.distinct().getNumPartitions() == 3
    grouped = dict(rdd.groupBy(lambda x: x % 2).collect())
    assert sorted(grouped[1]) == [1, 1, 3, 3, 3] and list(grouped[0]) == [2]
    assert isinstance(grouped[0], ResultIterable)
    assert rdd.keyBy(lambda x: -x).take(2) == [(-3, 3), (-1, 1)]


def test_aggregate_and_fold_by_key_copy_the_zero_per_key(sc):
    def append(acc, v):
        acc.append(v)
        return acc

    def extend(a, b):
        a.extend(b)
        return a

    pairs = sc.parallelize([("a", 1), ("b", 2), ("a", 3), ("b", 4), ("c", 5)], 2)
    got = dict(pairs.aggregateByKey([], append, extend).collect())
    assert {k: sorted(v) for k, v in got.items()} == {"a": [1, 3], "b": [2, 4], "c": [5]}
    folded = dict(pairs.mapValues(lambda v: [v]).foldByKey([], extend, 3).collect())
    assert {k: sorted(v) for k, v in folded.items()} == {"a": [1, 3], "b": [2, 4], "c": [5]}
    assert sorted(pairs.foldByKey(0, add).collect()) == [("a", 4), ("b", 6), ("c", 5)]


def test_zip_with_index_counts_partitions_first(sc, tmp_path):
    seen = tmp_path / "seen"
    seen.mkdir()

    def note(i, it):
        (seen / f"{i}-{len(list(seen.iterdir()))}").touch()
        return it

    rdd = sc.parallelize(list("abcdefg"), 3).mapPartitionsWithIndex(note)
    indexed = rdd.zipWithIndex()
    assert len(list(seen.iterdir())) == 3  # the count job ran when zipWithIndex was called
    assert indexed.collect() == [(c, i) for i, c in enumerate("abcdefg")]
    single = sc.parallelize(list("xyz"), 1).mapPartitionsWithIndex(note).zipWithIndex()
    assert len(list(seen.iterdir())) == 6  # one partition: no job
    assert single.collect() == [("x", 0), ("y", 1), ("z", 2)]
    assert sc.parallelize([], 3).zipWithIndex().collect() == []


def test_zip_with_unique_id(sc):
    rdd = sc.parallelize(range(10), 4)
    got = rdd.zipWithUniqueId().glom().collect()
    n = 4
    for k, part in enumerate(got):
        assert [uid for _, uid in part] == [i * n + k for i in range(len(part))]
    ids = [uid for part in got for _, uid in part]
    assert len(set(ids)) == 10


def test_pipe(sc):
    rdd = sc.parallelize(["b", "a\n", 3, None], 2)
    assert rdd.pipe("cat").collect() == ["b", "a", "3", "None"]
    assert rdd.pipe("sort").glom().collect() == [["a", "b"], ["3", "None"]]
    assert sc.parallelize(["x"], 1).pipe("env").collect() == []
    assert sc.parallelize(["x"], 1).pipe("env", env={"A": "1"}).collect() == ["A=1"]
    assert sc.parallelize(["x"], 1).pipe("sh -c 'exit 3'").collect() == []
    with pytest.raises(PythonException, match=r"\[PIPE_FUNCTION_EXITED\] Pipe function `sh -c 'exit 3'` "
                                              r"exited with error code 3\."):
        sc.parallelize(["x"], 1).pipe("sh -c 'exit 3'", checkCode=True).collect()
    with pytest.raises(PythonException, match="FileNotFoundError"):
        sc.parallelize(["x"], 1).pipe("ember-no-such-command").collect()
    big = sc.parallelize(range(200000), 2)
    assert big.pipe("cat").map(int).sum() == sum(range(200000))
    assert big.pipe("head -2").collect() == ["0", "1", "100000", "100001"]
    assert big.pipe("cat").take(3) == ["0", "1", "2"]


def test_pipe_reports_errors_of_its_input(sc):
    def bad(x):
        if x == 5:
            raise ValueError("bad input 5")
        return x

    with pytest.raises(PythonException, match="ValueError: bad input 5"):
        sc.parallelize(range(10), 1).map(bad).pipe("cat").collect()
    assert sc.parallelize(range(3), 1).pipe("cat").collect() == ["0", "1", "2"]


def test_map_partitions_with_split_is_deprecated(sc):
    with pytest.warns(FutureWarning, match="mapPartitionsWithIndex"):
        rdd = sc.parallelize([1, 2, 3, 4], 2).mapPartitionsWithSplit(lambda i, it: [(i, sum(it))])
    assert rdd.collect() == [(0, 3), (1, 7)]


def test_coalesce_never_adds_partitions_without_shuffle(sc):
    rdd = sc.parallelize(range(10), 3)
    assert rdd.coalesce(8).getNumPartitions() == 3
    assert rdd.coalesce(8).glom().collect() == rdd.glom().collect()
    assert rdd.coalesce(8, shuffle=True).getNumPartitions() == 8
    assert sc.parallelize(range(10), 5).coalesce(3).glom().collect() == [[0, 1], [2, 3, 4, 5], [6, 7, 8, 9]]


def test_partitioner_preservation(sc):
    parted = sc.parallelize([(i, i) for i in range(10)], 3).partitionBy(4)
    p = parted.partitioner
    assert p is not None and p.numPartitions == 4
    for kept in (parted.mapValues(str), parted.flatMapValues(lambda v: [v]), parted.filter(bool),
                 parted.map(lambda kv: kv, True), parted.sample(False, 0.5, 1), parted.groupByKey(),
                 parted.reduceByKey(add), parted.join(parted), parted.cogroup(parted),
                 parted.subtractByKey(parted), parted.union(parted)):
        assert kept.partitioner == p
    for dropped in (parted.map(lambda kv: kv), parted.keys(), parted.values(), parted.glom(),
                    parted.coalesce(2), parted.zipWithIndex(), parted.keyBy(str), parted.distinct(),
                    parted.union(sc.parallelize([(1, 1)]))):
        assert dropped.partitioner is None
