"""Joins, cogroup and the set operations, against a dict-based reference; the
narrow join of co-partitioned RDDs; default partition counts."""
import json
from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import run_python
from ember import ResultIterable, TaskContext

pair_lists = st.lists(st.tuples(st.integers(0, 8), st.integers(-5, 5)), max_size=40)
slices = st.integers(1, 4)


def by_key(pairs):
    d = defaultdict(list)
    for k, v in pairs:
        d[k].append(v)
    return d


def reference_join(left, right, keep_left=False, keep_right=False):
    a, b = by_key(left), by_key(right)
    out = []
    for k in set(a) | set(b):
        vs = a.get(k) or ([None] if keep_right else [])
        ws = b.get(k) or ([None] if keep_left else [])
        out.extend((k, (v, w)) for v in vs for w in ws)
    return sorted(out, key=repr)


@settings(max_examples=25, deadline=None)
@given(left=pair_lists, right=pair_lists, n1=slices, n2=slices, out=st.one_of(st.none(), st.integers(1, 5)))
def test_joins_match_reference(sc, left, right, n1, n2, out):
    a, b = sc.parallelize(left, n1), sc.parallelize(right, n2)

    def got(rdd):
        assert rdd.getNumPartitions() == (n1 + n2 if out is None else out)
        return sorted(rdd.collect(), key=repr)

    assert got(a.join(b, out)) == reference_join(left, right)
    assert got(a.leftOuterJoin(b, out)) == reference_join(left, right, keep_left=True)
    assert got(a.rightOuterJoin(b, out)) == reference_join(left, right, keep_right=True)
    assert got(a.fullOuterJoin(b, out)) == reference_join(left, right, keep_left=True, keep_right=True)


@settings(max_examples=25, deadline=None)
@given(left=pair_lists, right=pair_lists, n1=slices, n2=slices)
def test_cogroup_and_subtract_by_key_match_reference(sc, left, right, n1, n2):
    a, b = sc.parallelize(left, n1), sc.parallelize(right, n2)
    da, db = by_key(left), by_key(right)
    grouped = a.cogroup(b).collect()
    assert all(isinstance(x, ResultIterable) for _, vw in grouped for x in vw)
    got = {k: (sorted(v), sorted(w)) for k, (v, w) in grouped}
    assert got == {k: (sorted(da.get(k, [])), sorted(db.get(k, []))) for k in set(da) | set(db)}
    assert len(grouped) == len(got)  # each key once
    assert sorted(a.subtractByKey(b).collect()) == sorted((k, v) for k, v in left if k not in db)


@settings(max_examples=25, deadline=None)
@given(left=st.lists(st.integers(0, 10), max_size=30), right=st.lists(st.integers(0, 10), max_size=30),
       n1=slices, n2=slices)
def test_set_operations_match_reference(sc, left, right, n1, n2):
    a, b = sc.parallelize(left, n1), sc.parallelize(right, n2)
    assert sorted(a.intersection(b).collect()) == sorted(set(left) & set(right))
    assert sorted(a.subtract(b).collect()) == sorted(x for x in left if x not in set(right))
    assert sorted(a.distinct().collect()) == sorted(set(left))
    assert a.intersection(b).getNumPartitions() == n1 + n2


def test_group_with_many_rdds(sc):
    rdds = [sc.parallelize([("a", i), ("b", -i)] * i, 2) for i in range(1, 4)]
    rdds.append(sc.parallelize([("c", 0)], 1))
    got = {k: [sorted(x) for x in vs] for k, vs in rdds[0].groupWith(*rdds[1:]).collect()}
    assert got == {"a": [[1], [2, 2], [3, 3, 3], []], "b": [[-1], [-2, -2], [-3, -3, -3], []],
                   "c": [[], [], [], [0]]}
    assert rdds[0].groupWith(*rdds[1:]).getNumPartitions() == 7


def stage_of_join(left, right):
    """(stage of the task that computed the left side's records, stage of the join's
    result task), per joined record."""
    tagged = left.mapPartitions(lambda it: ((k, (v, TaskContext.get().stageId())) for k, v in it), True)
    joined = tagged.join(right)
    return joined.map(lambda kv: (kv[1][0][1], TaskContext.get().stageId())).collect()


def test_join_of_co_partitioned_rdds_does_not_shuffle(sc):
    rdd = sc.parallelize(range(10)).map(lambda x: (x, x))
    parted = rdd.partitionBy(2)
    assert parted.union(parted).getNumPartitions() == 2
    assert parted.union(rdd).getNumPartitions() == rdd.getNumPartitions() + 2
    d = sorted(parted.join(parted).collect())
    assert len(d) == 10 and d[0] == (0, (0, 0))
    stages = stage_of_join(parted, parted)
    assert len(stages) == 10 and all(a == b for a, b in stages)  # one stage reads both sides
    stages = stage_of_join(parted, rdd)
    assert len(stages) == 10 and all(a != b for a, b in stages)  # a shuffle in between
    cogrouped = sorted(parted.cogroup(parted).collect())
    assert [list(x) for x in cogrouped[0][1]] == [[0], [0]]
    # The layout is the partitioner's: partition i joins partition i of both sides.
    for index, part in enumerate(parted.join(parted.mapValues(str)).glom().collect()):
        assert part and all(k % 2 == index and w == str(v) for k, (v, w) in part)


def test_co_partitioned_join_shuffles_when_the_partitioning_differs(sc):
    pairs = sc.parallelize([(i, i) for i in range(12)], 3)
    by_mod = pairs.partitionBy(2, lambda k: k % 3)  # not portable_hash: groupByKey must shuffle
    assert by_mod.union(by_mod).getNumPartitions() == 2
    stages = stage_of_join(by_mod, by_mod)
    assert len(stages) == 12 and all(a != b for a, b in stages)
    parted = pairs.partitionBy(2)
    assert parted.join(parted, 3).getNumPartitions() == 3  # another count: shuffled
    assert sorted(parted.join(parted, 3).collect()) == [(i, (i, i)) for i in range(12)]
    assert parted.join(pairs.partitionBy(3)).getNumPartitions() == 5


def test_reduce_by_key_on_a_partitioned_rdd_combines_in_place(sc):
    parted = sc.parallelize([(i % 5, 1) for i in range(50)], 3).partitionBy(2)
    tagged = parted.mapPartitions(lambda it: ((k, (v, TaskContext.get().stageId())) for k, v in it), True)
    reduced = tagged.reduceByKey(lambda a, b: (a[0] + b[0], a[1]))
    out = reduced.map(lambda kv: (kv[0], kv[1][0], kv[1][1] == TaskContext.get().stageId())).collect()
    assert sorted(out) == [(k, 10, True) for k in range(5)]
    assert reduced.partitioner == parted.partitioner


def test_union_of_co_partitioned_rdds(sc):
    parted = sc.parallelize([(i, str(i)) for i in range(8)], 3).partitionBy(2)
    u = parted.union(parted.mapValues(lambda v: v + "!"))
    assert u.getNumPartitions() == 2 and u.partitioner == parted.partitioner
    parts = u.glom().collect()
    base = parted.glom().collect()
    assert parts == [base[i] + [(k, v + "!") for k, v in base[i]] for i in range(2)]
    three = sc.union([parted, parted, parted])
    assert three.getNumPartitions() == 2 and three.partitioner is None
    assert three.glom().collect() == [p * 3 for p in base]
    assert three.count() == 24 and three.take(3) == base[0][:3]


def test_default_partitions_follow_spark_default_parallelism():
    program = r"""
import json
from ember import SparkConf, SparkContext
conf = SparkConf().set("spark.default.parallelism", "7")
with SparkContext("local[2]", "dp", conf=conf) as sc:
    a = sc.parallelize([("a", 1)], 2)
    b = sc.parallelize([("a", 2)], 3)
    print(json.dumps([a.join(b).getNumPartitions(), a.cogroup(b).getNumPartitions(),
                      a.subtract(b).getNumPartitions(), a.intersection(b).getNumPartitions(),
                      a.distinct().getNumPartitions(), a.sortByKey().getNumPartitions(),
                      sorted(a.join(b).collect())]))
"""
    proc = run_python(program)
    assert proc.returncode == 0, proc.stderr
    counts = json.loads(proc.stdout.strip().splitlines()[-1])
    assert counts == [7, 7, 7, 7, 7, 7, [["a", [1, 2]]]]


def test_join_values_of_many_types(sc):
    a = sc.parallelize([(("t", 1), None), (None, [1]), (b"k", {"x": 1}), (2.0, "two")], 2)
    b = sc.parallelize([(("t", 1), 1), (None, 2), (2, "int two")], 3)
    got = sorted(a.join(b).collect(), key=repr)
    assert got == sorted([(("t", 1), (None, 1)), (None, ([1], 2)), (2.0, ("two", "int two"))], key=repr)
