"""Differential tests: the same small programs run on ember and on a real PySpark,
and their results must be equal.

Each program is a module-level function ``prog_<name>(sc)`` that returns plain data
(lists, tuples, dicts, numbers, strings; ResultIterables are compared by content).
To add one, write another ``prog_`` function; nothing else needs to change.

PySpark runs once for the whole module, in a subprocess that executes this file as
a script (so the programs' functions are shipped to PySpark's workers by value);
it writes every program's normalized result to a pickle, kept in pytest's cache
until this file, PySpark or Python change. ember runs each program on the shared
test context. Both use two local task slots, so default partition
counts agree. PySpark is 4.3 (the Makefile installs pyspark==4.3.0; it needs Java): without
it the module is skipped, or fails when EMBER_REQUIRE_PYSPARK is set (as in CI); set
EMBER_DIFF_PYSPARK_TIMEOUT to change how long PySpark may take (seconds).

Results compare exactly, including partition layouts (``glom``) where PySpark's
layout is deterministic. Where a layout depends on things ember does not copy
(the JVM's shuffle fetch order, repartition's JVM random start), programs sort.
"""
import os
import pickle
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.differential

# ---- helpers the programs use -----------------------------------------------------------


def raises(action, phrase=""):
    """("raised", exception type, phrase found in its text) or ("returned", result).

    Errors raised inside tasks reach the driver as different types (Py4JJavaError in
    PySpark, PythonException in ember), so for those the type is reported as
    "task failure" and only the phrase is compared."""
    try:
        return ("returned", action())
    except Exception as e:  # noqa: BLE001 - the point is to report any error
        name = type(e).__name__
        if name in ("Py4JJavaError", "PythonException"):
            name = "task failure"
        return ("raised", name, phrase in str(e))


def parts(rdd):
    """The partition layout: a list per partition."""
    return rdd.glom().collect()


def sorted_parts(rdd):
    """The partition layout with each partition sorted (order inside a shuffled
    partition follows fetch order, which engines need not share)."""
    return [sorted(p, key=repr) for p in rdd.glom().collect()]


def groups(rdd):
    """(key, sorted values) pairs of an RDD of (key, iterable), sorted by key."""
    return sorted(((k, sorted(vs)) for k, vs in rdd.collect()), key=repr)


# ---- the programs -------------------------------------------------------------------------

PAIRS = [("a", 1), ("b", 4), ("b", 5), ("a", 2), ("c", 7), ("d", 0), ("a", 9)]
OTHER = [("a", 3), ("c", None), ("e", 8), ("a", 6)]
WORDS = ["Mary", "had", "a", "little", "lamb", "whose", "fleece", "was", "white", "as", "snow"]


def prog_distinct(sc):
    rdd = sc.parallelize([1, 1, 2, 3, 5, 3, 8, 2, 1], 3)
    return sorted(rdd.distinct().collect()), rdd.distinct(4).getNumPartitions(), rdd.distinct().getNumPartitions()


def prog_distinct_layout(sc):
    return parts(sc.parallelize([1, 1, 2, 3, 5, 3, 8, 2, 1, 13, 21, 8], 3).distinct(4))


def prog_sample_without_replacement(sc):
    rdd = sc.parallelize(range(200), 4)
    return [rdd.sample(False, f, s).collect() for f, s in [(0.1, 81), (0.5, 7), (0.0, 3), (1.0, 3)]]


def prog_sample_with_replacement(sc):
    rdd = sc.parallelize(range(60), 3)
    return [rdd.sample(True, f, s).collect() for f, s in [(0.5, 1), (2.0, 42), (1.0, 0)]]


def prog_sample_large_poisson_mean(sc):
    from collections import Counter
    return sorted(Counter(sc.parallelize(range(10), 2).sample(True, 25.0, 5).collect()).items())


def prog_sample_fraction_above_one_without_replacement(sc):
    return sc.parallelize(range(10), 2).sample(False, 1.5, 5).collect()


def prog_sample_keeps_partitioner(sc):
    parted = sc.parallelize(PAIRS, 2).partitionBy(3)
    return parted.sample(False, 0.5, 1).partitioner == parted.partitioner


def prog_sample_negative_fraction(sc):
    return raises(lambda: sc.parallelize(range(5)).sample(False, -0.1, 1), "Fraction must be nonnegative.")


def prog_random_split(sc):
    rdd = sc.parallelize(range(100), 3)
    return [s.collect() for s in rdd.randomSplit([2, 3, 5], 17)]


def prog_random_split_normalizes_weights(sc):
    rdd = sc.parallelize(range(50), 2)
    return [s.collect() for s in rdd.randomSplit([0.2, 0.8], 3)] == [s.collect() for s in rdd.randomSplit([1, 4], 3)]


def prog_random_split_bad_weights(sc):
    rdd = sc.parallelize(range(5))
    return (raises(lambda: rdd.randomSplit([1, -1], 1), "Weights must be nonnegative"),
            raises(lambda: rdd.randomSplit([0, 0], 1), "Sum of weights must be positive"))


def prog_sample_by_key(sc):
    rdd = sc.parallelize([(k, i) for i in range(100) for k in "abc"], 3)
    fractions = {"a": 0.1, "b": 0.5, "c": 1.0}
    return rdd.sampleByKey(False, fractions, 2).collect(), rdd.sampleByKey(True, fractions, 9).collect()


def prog_sample_by_key_negative_fraction(sc):
    return raises(lambda: sc.parallelize([("a", 1)]).sampleByKey(False, {"a": -1.0}, 1), "Negative fraction value")


def prog_intersection(sc):
    a = sc.parallelize([1, 10, 2, 3, 4, 5, 2, 10], 2)
    b = sc.parallelize([1, 6, 2, 3, 7, 8, 1], 3)
    both = a.intersection(b)
    return sorted(both.collect()), both.getNumPartitions(), both.partitioner is None


def prog_subtract(sc):
    a = sc.parallelize([("a", 1), ("b", 4), ("b", 5), ("a", 3), ("b", 4)], 2)
    b = sc.parallelize([("a", 3), ("c", None)], 3)
    return sorted(a.subtract(b).collect()), a.subtract(b).getNumPartitions(), a.subtract(b, 2).getNumPartitions()


def prog_subtract_by_key(sc):
    a = sc.parallelize(PAIRS, 2)
    b = sc.parallelize(OTHER, 2)
    out = a.subtractByKey(b)
    return sorted(out.collect()), out.getNumPartitions(), out.partitioner is not None


def prog_group_by(sc):
    rdd = sc.parallelize([1, 1, 2, 3, 5, 8, 13, 21], 3)
    return groups(rdd.groupBy(lambda x: x % 3)), rdd.groupBy(lambda x: x % 3, 5).getNumPartitions()


def prog_group_by_layout(sc):
    return parts(sc.parallelize(range(12), 3).groupBy(lambda x: x % 4, 2).mapValues(list))


def prog_group_by_key_layout(sc):
    return parts(sc.parallelize(PAIRS, 3).groupByKey(2).mapValues(list))


def prog_reduce_by_key_layout(sc):
    return parts(sc.parallelize([(i % 5, i) for i in range(30)], 3).reduceByKey(lambda a, b: a + b, 3))


def prog_key_by(sc):
    rdd = sc.parallelize(range(5), 2).keyBy(lambda x: x * x)
    return rdd.collect(), rdd.partitioner is None


def prog_sort_by_key(sc):
    tmp = [("a", 1), ("b", 2), ("1", 3), ("d", 4), ("2", 5)]
    rdd = sc.parallelize(tmp)
    return (rdd.sortByKey().first(), rdd.sortByKey(True, 1).collect(), parts(rdd.sortByKey(True, 2)),
            parts(rdd.sortByKey(False)), parts(rdd.sortByKey(False, 3)))


def prog_sort_by_key_layout_many_partitions(sc):
    keys = [(x * 7919) % 1000 for x in range(1000)]
    rdd = sc.parallelize([(k, str(k)) for k in keys], 4)
    return [len(p) for p in parts(rdd.sortByKey(True, 5))], rdd.sortByKey(False, 3).collect()


def prog_sort_by_key_keyfunc(sc):
    pairs = [(w, i) for i, w in enumerate(WORDS)]
    return parts(sc.parallelize(pairs, 2).sortByKey(True, 3, keyfunc=lambda k: k.lower()))


def prog_sort_by_key_one_partition(sc):
    rdd = sc.parallelize([(3, "c"), (1, "a"), (2, "b"), (1, "z")], 3)
    return parts(rdd.sortByKey(numPartitions=1)), parts(rdd.sortByKey(False, 1))


def prog_sort_by_key_empty(sc):
    return sc.parallelize([], 2).sortByKey().collect(), sc.parallelize([], 2).sortByKey().getNumPartitions()


def prog_sort_by_key_duplicates_stable(sc):
    rdd = sc.parallelize([(k % 3, k) for k in range(30)], 3)
    return parts(rdd.sortByKey(True, 2)), parts(rdd.sortByKey(False, 2))


def prog_sort_by(sc):
    tmp = [("a", 1), ("b", 2), ("1", 3), ("d", 4), ("2", 5)]
    rdd = sc.parallelize(tmp, 2)
    return (rdd.sortBy(lambda x: x[0]).collect(), rdd.sortBy(lambda x: x[1]).collect(),
            parts(rdd.sortBy(lambda x: -x[1], True, 3)))


def prog_repartition_and_sort_within_partitions(sc):
    rdd = sc.parallelize([(0, 5), (3, 8), (2, 6), (0, 8), (3, 8), (1, 3)], 3)
    return (parts(rdd.repartitionAndSortWithinPartitions(2, lambda x: x % 2, True)),
            parts(rdd.repartitionAndSortWithinPartitions(3, ascending=False)),
            parts(rdd.repartitionAndSortWithinPartitions(2, keyfunc=lambda k: -k)))


def prog_sort_by_key_key_kinds(sc):
    # Each kind the C sort decodes, and mixes Python orders (int with float and bool),
    # descending with equal keys, and layouts from the C range partitioner.
    numbers = [(k, i) for i, k in enumerate([3, 1.5, True, -2, 2**70, -0.0, 0, 1, 2.0, -2**65, 1.5, 3])]
    texts = [(k, i) for i, k in enumerate(["b", "a\u0100", "a", "", "\U0001f600", "ab", "a\xe9", "b"])]
    blobs = [(k, i) for i, k in enumerate([b"b", b"a\xff", b"", b"a", b"a\x00", b"b"])]
    tuples = [(k, i) for i, k in enumerate([(1, "b"), (1, "a"), (0, "z", 1), (1,), (0, "z"), (1, "a"), (0.5, "")])]
    out = []
    for data in (numbers, texts, blobs, tuples):
        rdd = sc.parallelize(data, 3)
        out.append((parts(rdd.sortByKey()), parts(rdd.sortByKey(False, 2)), rdd.sortByKey(True, 1).collect()))
    return out


def prog_sort_by_key_incomparable_keys(sc):
    def fails(rdd):
        return raises(lambda: rdd.sortByKey(numPartitions=1).collect(), "not supported between instances")
    return (fails(sc.parallelize([(1, 1), ("a", 2)], 2)), fails(sc.parallelize([((1, 2), 1), ((1, "x"), 2)], 1)),
            fails(sc.parallelize([(None, 1), (None, 2)], 1)))


def prog_sort_by_key_spills_past_a_small_budget(sc):
    # 1m of spark.python.worker.memory is below any worker's RSS: both engines spill
    # sorted runs and merge them back; equal keys keep their order across runs.
    old = sc._conf.get("spark.python.worker.memory")
    sc._conf.set("spark.python.worker.memory", "1m")
    try:
        rdd = sc.parallelize([((i * 7919) % 5003, i) for i in range(150000)], 2)
        up, down = rdd.sortByKey(True, 2).glom().collect(), rdd.sortByKey(False, 2).glom().collect()
        by = sc.parallelize(range(150000), 2).sortBy(lambda x: (x % 7, -x), numPartitions=2)
        return ([len(p) for p in up], up[0][:50], up[1][-50:], [len(p) for p in down], down[0][:50],
                down[1][-50:], by.take(20))
    finally:
        sc._conf.set("spark.python.worker.memory", old or "512m")


def prog_take_ordered_and_top_keys(sc):
    rdd = sc.parallelize([(i * 37) % 101 for i in range(300)] + [2.5, -1.0, True], 3)
    words = sc.parallelize(WORDS, 2)
    return (rdd.takeOrdered(10), rdd.top(10), rdd.takeOrdered(5, key=lambda x: -x), rdd.top(7, key=lambda x: x % 10),
            words.takeOrdered(4, key=str.lower), words.top(4, key=len), words.takeOrdered(50))


def prog_aggregate_by_key(sc):
    rdd = sc.parallelize(PAIRS, 3)
    seq = lambda acc, v: (acc[0] + v, acc[1] + 1)  # noqa: E731
    comb = lambda a, b: (a[0] + b[0], a[1] + b[1])  # noqa: E731
    return sorted(rdd.aggregateByKey((0, 0), seq, comb).collect())


def prog_aggregate_by_key_mutable_zero(sc):
    def seq(acc, v):
        acc.append(v)
        return acc

    def comb(a, b):
        a.extend(b)
        return a

    rdd = sc.parallelize(PAIRS, 3)
    return sorted((k, sorted(v)) for k, v in rdd.aggregateByKey([], seq, comb, 2).collect())


def prog_fold_by_key(sc):
    from operator import add, mul
    rdd = sc.parallelize([(k, v) for k, v in PAIRS if v], 3)
    return sorted(rdd.foldByKey(0, add).collect()), sorted(rdd.foldByKey(1, mul, 4).collect())


def prog_fold_by_key_mutable_zero(sc):
    def extend(a, b):
        a.extend(b)
        return a

    rdd = sc.parallelize(PAIRS, 2).mapValues(lambda v: [v])
    return sorted((k, sorted(v)) for k, v in rdd.foldByKey([], extend).collect())


def prog_join(sc):
    a = sc.parallelize(PAIRS, 2)
    b = sc.parallelize(OTHER, 3)
    out = a.join(b)
    return sorted(out.collect(), key=repr), out.getNumPartitions(), a.join(b, 2).getNumPartitions()


def prog_join_layout(sc):
    a = sc.parallelize([(i % 4, i) for i in range(10)], 2)
    b = sc.parallelize([(i % 3, -i) for i in range(6)], 2)
    return sorted_parts(a.join(b)), sorted_parts(a.join(b, 3))


def prog_left_outer_join(sc):
    a = sc.parallelize(PAIRS, 2)
    b = sc.parallelize(OTHER, 2)
    return sorted(a.leftOuterJoin(b).collect(), key=repr)


def prog_right_outer_join(sc):
    a = sc.parallelize(PAIRS, 2)
    b = sc.parallelize(OTHER, 2)
    return sorted(a.rightOuterJoin(b).collect(), key=repr)


def prog_full_outer_join(sc):
    a = sc.parallelize(PAIRS, 2)
    b = sc.parallelize(OTHER, 1)
    out = a.fullOuterJoin(b)
    return sorted(out.collect(), key=repr), out.getNumPartitions()


def prog_join_empty_sides(sc):
    a = sc.parallelize(PAIRS, 2)
    e = sc.parallelize([], 2)
    return (a.join(e).collect(), sorted(a.leftOuterJoin(e).collect(), key=repr),
            e.rightOuterJoin(a).count(), e.fullOuterJoin(e).collect())


def prog_cogroup(sc):
    a = sc.parallelize(PAIRS, 2)
    b = sc.parallelize(OTHER, 2)
    out = a.cogroup(b)
    values = sorted(((k, (sorted(v), sorted(w, key=repr))) for k, (v, w) in out.collect()), key=repr)
    kinds = {type(x).__name__ for _, vw in out.collect() for x in vw}
    return values, kinds, out.getNumPartitions(), a.cogroup(b, 3).getNumPartitions()


def prog_cogroup_with_key_by(sc):
    rdd1 = sc.parallelize(range(0, 3)).keyBy(lambda x: x * x)
    rdd2 = sc.parallelize(zip(range(0, 5), range(0, 5)))
    return [(x, list(map(list, y))) for x, y in sorted(rdd1.cogroup(rdd2).collect())]


def prog_group_with(sc):
    rdd1 = sc.parallelize([("a", 5), ("b", 6)])
    rdd2 = sc.parallelize([("a", 1), ("b", 4)])
    rdd3 = sc.parallelize([("a", 2)])
    rdd4 = sc.parallelize([("b", 42)])
    out = rdd1.groupWith(rdd2, rdd3, rdd4)
    return [(x, tuple(map(list, y))) for x, y in sorted(out.collect())], out.getNumPartitions()


def prog_zip_with_index(sc):
    return (sc.parallelize(["a", "b", "c", "d"], 3).zipWithIndex().collect(),
            sc.parallelize(range(7), 1).zipWithIndex().collect(),
            parts(sc.parallelize(range(10), 4).filter(lambda x: x % 3).zipWithIndex()))


def prog_zip_with_unique_id(sc):
    return (sc.parallelize(["a", "b", "c", "d", "e"], 3).zipWithUniqueId().collect(),
            parts(sc.parallelize(range(9), 4).zipWithUniqueId()))


def prog_pipe(sc):
    rdd = sc.parallelize(["1", "2", "", "3", "a\n", "b\nc", 4, None], 2)
    return rdd.pipe("cat").collect(), parts(rdd.pipe("wc -l"))


def prog_pipe_env(sc):
    return (sc.parallelize(["x"], 1).pipe("env").collect(),
            sc.parallelize(["x"], 1).pipe("env", env={"EMBER_DIFF": "yes"}).collect())


def prog_pipe_exit_code(sc):
    rdd = sc.parallelize(["x"], 1)
    return (rdd.pipe("false").collect(),
            raises(lambda: rdd.pipe("false", checkCode=True).collect(),
                   "[PIPE_FUNCTION_EXITED] Pipe function `false` exited with error code 1."))


def prog_pipe_missing_command(sc):
    return raises(lambda: sc.parallelize(["x"], 1).pipe("ember-no-such-command").collect(), "No such file")


def prog_map_partitions_with_split(sc):
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = sc.parallelize([1, 2, 3, 4], 4).mapPartitionsWithSplit(lambda i, it: [i * 10 + x for x in it]).collect()
    return out, [w.category.__name__ for w in caught if issubclass(w.category, FutureWarning)]


def prog_partitioner_preservation(sc):
    parted = sc.parallelize(PAIRS, 3).partitionBy(2)
    same = parted.partitioner
    return {
        "partitionBy": same is not None,
        "mapValues": parted.mapValues(str).partitioner == same,
        "flatMapValues": parted.flatMapValues(lambda v: [v]).partitioner == same,
        "filter": parted.filter(bool).partitioner == same,
        "map": parted.map(lambda kv: kv).partitioner is None,
        "map preserving": parted.map(lambda kv: kv, True).partitioner == same,
        "keys": parted.keys().partitioner is None,
        "reduceByKey": parted.reduceByKey(lambda a, b: a + b).partitioner is not None,
        "groupByKey": parted.groupByKey().partitioner is not None,
        "join": parted.join(parted).partitioner is not None,
        "zipWithIndex": parted.zipWithIndex().partitioner is None,
        "coalesce": parted.coalesce(1).partitioner is None,
        "glom": parted.glom().partitioner is None,
        "partitionBy same": parted.partitionBy(2) is parted,
    }


def prog_co_partitioned_union(sc):
    rdd = sc.parallelize(range(10)).map(lambda x: (x, x))
    parted = rdd.partitionBy(2)
    return (parted.union(parted).getNumPartitions(), parted.union(rdd).getNumPartitions(),
            rdd.union(parted).getNumPartitions(), parts(parted.union(parted)),
            parted.union(parted).partitioner == parted.partitioner)


def prog_context_union_of_co_partitioned(sc):
    parted = sc.parallelize(range(6), 3).map(lambda x: (x, x)).partitionBy(2)
    u = sc.union([parted, parted.mapValues(lambda v: -v), parted])
    return u.getNumPartitions(), parts(u), u.partitioner is None


def prog_narrow_join(sc):
    rdd = sc.parallelize(range(10)).map(lambda x: (x, x))
    parted = rdd.partitionBy(2)
    return (parts(parted.join(parted)), parted.join(parted).getNumPartitions(),
            sorted(parted.join(rdd).collect()), parted.join(rdd).getNumPartitions(),
            [(k, list(map(list, vs))) for k, vs in sorted(parted.cogroup(parted).collect())][:3],
            parted.join(parted, 3).getNumPartitions())


def prog_narrow_reduce_by_key(sc):
    parted = sc.parallelize([(i % 5, i) for i in range(20)], 3).partitionBy(2)
    return parts(parted.reduceByKey(lambda a, b: a + b)), parts(parted.groupByKey().mapValues(list))


def prog_default_partition_counts(sc):
    a = sc.parallelize(PAIRS, 2)
    b = sc.parallelize(OTHER, 3)
    return {
        "join": a.join(b).getNumPartitions(),
        "leftOuterJoin": a.leftOuterJoin(b).getNumPartitions(),
        "cogroup": a.cogroup(b).getNumPartitions(),
        "groupWith": a.groupWith(b, a).getNumPartitions(),
        "subtractByKey": a.subtractByKey(b).getNumPartitions(),
        "subtract": a.subtract(b).getNumPartitions(),
        "intersection": a.intersection(b).getNumPartitions(),
        "distinct": b.distinct().getNumPartitions(),
        "groupByKey": b.groupByKey().getNumPartitions(),
        "sortByKey": b.sortByKey().getNumPartitions(),
        "union": a.union(b).getNumPartitions(),
    }


def prog_coalesce(sc):
    rdd = sc.parallelize(range(10), 5)
    return (parts(rdd.coalesce(3)), parts(rdd.coalesce(2)), rdd.coalesce(8).getNumPartitions(),
            parts(sc.parallelize([1, 2, 3, 4, 5], 3).coalesce(1)),
            raises(lambda: rdd.coalesce(0), "Number of partitions must be positive."))


def prog_repartition(sc):
    rdd = sc.parallelize(range(30), 3)
    return (rdd.repartition(4).getNumPartitions(), sorted(rdd.repartition(4).collect()),
            rdd.coalesce(5, True).getNumPartitions(), sorted(rdd.coalesce(2, shuffle=True).collect()))


def prog_repartition_layout(sc):
    return (parts(sc.parallelize(range(20), 3).repartition(4)),
            parts(sc.parallelize(range(100), 3).repartition(7)),
            [len(p) for p in parts(sc.parallelize(range(5000), 4).repartition(6))],
            parts(sc.parallelize(range(35), 2).coalesce(3, shuffle=True)))


def prog_zip(sc):
    a = sc.parallelize(range(6), 3)
    return (a.zip(a.map(lambda x: x * 10)).collect(), parts(a.zip(a.map(str))),
            raises(lambda: a.zip(sc.parallelize(range(6), 2)),
                   "Can only zip with RDD which has the same number of partitions"),
            # PySpark fails on the driver (ValueError) or in the JVM depending on batching,
            # ember in the task: compare only that it fails.
            raises(lambda: a.zip(a.filter(lambda x: x != 3)).collect())[0])


def prog_cartesian(sc):
    a = sc.parallelize([1, 2, 3], 2)
    b = sc.parallelize("xy", 2)
    return parts(a.cartesian(b)), a.cartesian(b).getNumPartitions()


def prog_union(sc):
    a = sc.parallelize([1, 2], 2)
    b = sc.parallelize([3], 1)
    return parts(a.union(b)), parts(sc.union([a, b, a])), (a + b).collect()


def prog_combine_by_key(sc):
    x = sc.parallelize(PAIRS, 3)
    out = x.combineByKey(lambda v: [v], lambda c, v: c + [v], lambda a, b: a + b, 2)
    return sorted((k, sorted(v)) for k, v in out.collect()), out.getNumPartitions()


def prog_partition_by_layout(sc):
    pairs = sc.parallelize([(x, x) for x in [1, 2, 3, 4, 2, 4, 1, 7, 12, -3, None]], 3)
    return parts(pairs.partitionBy(3)), parts(pairs.partitionBy(2, lambda k: 0 if k is None else k // 3))


def prog_string_keys_layout(sc):
    words = sc.parallelize(WORDS * 2, 3).map(lambda w: (w, 1))
    return sorted_parts(words.reduceByKey(lambda a, b: a + b, 4)), sorted_parts(words.partitionBy(3))


# ---- the harness ---------------------------------------------------------------------------


def programs():
    """(name, function) of every program in this module, in definition order."""
    return [(name, f) for name, f in globals().items() if name.startswith("prog_") and callable(f)]


def normalize(value):
    """Plain, picklable, comparable data: ResultIterables become ("ResultIterable", list),
    defaultdicts become dicts."""
    if type(value).__name__ == "ResultIterable":
        return ("ResultIterable", [normalize(v) for v in value])
    if isinstance(value, tuple):
        return tuple(normalize(v) for v in value)
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if isinstance(value, dict):
        return {normalize(k): normalize(v) for k, v in value.items()}
    if isinstance(value, set):
        return {normalize(v) for v in value}
    return value


def run_program(f, sc):
    try:
        return ("ok", normalize(f(sc)))
    except Exception as e:  # noqa: BLE001 - reported and compared
        return ("error", type(e).__name__, str(e)[:2000])


def _pyspark_results(out_path):
    """Runs every program on a PySpark local[2] context; writes {name: result}."""
    from pyspark import SparkContext

    from pyspark import SparkConf
    conf = SparkConf().set("spark.ui.enabled", "false").set("spark.ui.showConsoleProgress", "false")
    sc = SparkContext("local[2]", "ember-differential", conf=conf)
    sc.setLogLevel("OFF")
    try:
        results = {}
        for name, f in programs():
            start = time.time()
            results[name] = run_program(f, sc)
            if os.environ.get("EMBER_DIFF_VERBOSE"):
                print(f"{name}: {time.time() - start:.2f}s", file=sys.stderr)
    finally:
        sc.stop()
    with open(out_path, "wb") as f:
        pickle.dump(results, f)


def _cache_key():
    """Changes when the programs, PySpark or Python change."""
    import hashlib

    import pyspark
    with open(__file__, "rb") as f:
        source = f.read()
    text = repr((source, pyspark.__version__, sys.version_info[:2]))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@pytest.fixture(scope="module")
def pyspark_results(request, tmp_path_factory):
    """PySpark's results, computed once per version of this file (PySpark needs about
    a minute) and kept in pytest's cache directory."""
    from conftest import pyspark_or_skip
    pyspark_or_skip()
    out = request.config.cache.mkdir("ember-differential") / f"pyspark-{_cache_key()}.pickle"
    if not out.exists():
        tmp = tmp_path_factory.mktemp("differential") / "pyspark.pickle"
        env = dict(os.environ, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable,
                   PYTHONHASHSEED="0")
        timeout = float(os.environ.get("EMBER_DIFF_PYSPARK_TIMEOUT", "600"))
        proc = subprocess.run([sys.executable, __file__, str(tmp)], env=env, capture_output=True, text=True,
                              timeout=timeout)
        if proc.returncode != 0 or not tmp.exists():
            pytest.fail(f"PySpark run failed (exit {proc.returncode}):\n{proc.stderr[-5000:]}")
        os.replace(tmp, out)
    with open(out, "rb") as f:
        return pickle.load(f)


@pytest.mark.parametrize("name", [name for name, _ in programs()])
def test_same_result_as_pyspark(sc, pyspark_results, name):
    want = pyspark_results[name]
    got = run_program(globals()[name], sc)
    assert want[0] == "ok", f"{name} failed on PySpark: {want}"
    assert got == want


if __name__ == "__main__":
    _pyspark_results(sys.argv[1])
