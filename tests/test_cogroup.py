"""The C cogroup of a reduce partition (``_core.Cogroup``, python/_core/cogroup.c):
every kind against a dict-based reference, in memory and with budgets so small that
every path spills; output order; spill files removed; a join's spilled bucket still
past the budget split again; one key's values beyond the budget (SpilledValues);
errors; and the same through RDD jobs with a tiny ``spark.python.worker.memory``."""
import gc
import operator
import os
import pickle
import sys
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ember import _core
from ember.resultiterable import ResultIterable

KINDS = {
    "join": _core.COGROUP_JOIN, "left": _core.COGROUP_LEFT, "right": _core.COGROUP_RIGHT,
    "full": _core.COGROUP_FULL, "subtract_by_key": _core.COGROUP_SUBTRACT_BY_KEY,
    "subtract": _core.COGROUP_SUBTRACT, "intersection": _core.COGROUP_INTERSECTION,
    "cogroup": _core.COGROUP_ALL, "group": _core.COGROUP_GROUP,
}
LIMITS = [1, 3000, 1 << 40]  # always spilling, spilling now and then, never


def by_key(pairs):
    d = defaultdict(list)
    for k, v in pairs:
        d[k].append(v)
    return d


def reference(kind, a_pairs, b_pairs):
    """What the kind yields, in the order it yields it without spilling."""
    a, b = by_key(a_pairs), by_key(b_pairs)
    if kind in ("join", "left", "right", "full"):
        out = []
        for k, v in a_pairs:
            ws = b.get(k) or ([None] if kind in ("left", "full") else [])
            out += [(k, (v, w)) for w in ws]
        if kind in ("right", "full"):
            out += [(k, (None, w)) for k, ws in b.items() if k not in a for w in ws]
        return out
    if kind == "subtract_by_key":
        return [(k, v) for k, v in a_pairs if k not in b]
    if kind == "subtract":
        return [k for k, _ in a_pairs if k not in b]
    if kind == "intersection":
        return list(dict.fromkeys(k for k, _ in a_pairs if k in b))
    if kind == "cogroup":
        keys = dict.fromkeys([k for k, _ in a_pairs] + [k for k, _ in b_pairs])
        return [(k, (a.get(k, []), b.get(k, []))) for k in keys]
    return list(a.items())


def run(kind, a_pairs, b_pairs, limit, tmp):
    sides = [iter(a_pairs)] if kind == "group" else [iter(a_pairs), iter(b_pairs)]
    out = list(_core.Cogroup(sides, KINDS[kind], limit, str(tmp), ResultIterable))
    if kind == "cogroup":
        assert all(type(ri) is ResultIterable for _, vs in out for ri in vs)
        out = [(k, tuple(list(ri) for ri in vs)) for k, vs in out]
    if kind == "group":
        assert all(type(ri) is ResultIterable and ri.maxindex == len(ri.data) for _, ri in out)
        out = [(k, list(ri)) for k, ri in out]
    return out


pairs = st.lists(st.tuples(st.one_of(st.integers(0, 30), st.sampled_from(["a", "b", "é", (1, "x")])),
                           st.integers(-5, 5)), max_size=300)


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=20, deadline=None)
@given(a=pairs, b=pairs)
def test_every_kind_matches_the_reference(tmp_path_factory, kind, a, b):
    tmp = tmp_path_factory.mktemp("spill")
    want = reference(kind, a, b)
    for limit in LIMITS:
        got = run(kind, a, b, limit, tmp)
        if limit == LIMITS[-1]:
            assert got == want  # in memory: the order too
        else:
            assert sorted(got, key=repr) == sorted(want, key=repr)
        assert os.listdir(tmp) == []


def test_spilled_join_of_many_keys(tmp_path):
    a = [(i % 5000, i) for i in range(20000)]
    b = [(i % 7000, -i) for i in range(10000)]
    for kind in ("join", "full", "cogroup", "subtract_by_key", "intersection"):
        got = run(kind, a, b, 100_000, tmp_path)
        assert sorted(got, key=repr) == sorted(reference(kind, a, b), key=repr), kind
    assert os.listdir(tmp_path) == []


def files_while_reading(it, tmp, every=500):
    """The records of it, and the most spill files seen in tmp while reading them."""
    out, most = [], 0
    for x in it:
        if len(out) % every == 0:
            most = max(most, len(os.listdir(tmp)))
        out.append(x)
    return out, most


@pytest.mark.parametrize("kind", ["join", "left", "right", "full", "subtract_by_key", "intersection"])
def test_join_bucket_past_the_budget_is_split_again(tmp_path, kind):
    # 20000 build keys under 20 kB: each of the 64 buckets of the first spill (~300
    # keys) is past the budget again, so it is split into 64 more (new files, 2 more)
    # instead of being loaded whole; each split's files go once its buckets are read.
    a = [(i % 30000, i) for i in range(40000)]
    b = [(i * 7 % 20000, -i) for i in range(20000)] + [(5, 1), (-1, 2)]
    it = _core.Cogroup([iter(a), iter(b)], KINDS[kind], 20_000, str(tmp_path), ResultIterable)
    first = next(it)
    assert len(os.listdir(tmp_path)) == 4  # the first spill's 2 files and the split's 2
    got, most = files_while_reading(it, tmp_path)
    assert most == 4
    assert sorted([first] + got, key=repr) == sorted(reference(kind, a, b), key=repr)
    assert os.listdir(tmp_path) == []
    loose = _core.Cogroup([iter(a), iter(b)], KINDS[kind], 200_000, str(tmp_path), ResultIterable)
    next(loose)  # a budget the first spill's buckets fit in: no split
    assert len(os.listdir(tmp_path)) == 2


def grouped(kind, out):
    """The records of a GROUP, COGROUP or COMBINE with lists for ResultIterables, sorted."""
    if kind == "group":
        out = [(k, list(ri)) for k, ri in out]
    if kind == "cogroup":
        out = [(k, tuple(list(ri) for ri in vs)) for k, vs in out]
    return sorted(out, key=repr)


GROUPING = {"group": (_core.COGROUP_GROUP, 1, {}), "cogroup": (_core.COGROUP_ALL, 2, {}),
            "combine": (_core.COGROUP_COMBINE, 1, {"merge_value": operator.add, "merge_combiners": operator.add})}


@pytest.mark.parametrize("kind", GROUPING)
def test_grouping_bucket_past_the_budget_is_split_again(tmp_path, kind):
    # 20000 keys under 20 kB: each bucket of the first spill is past the budget again
    # when loaded, so it is split into 64 more (a new file per side) instead of being
    # loaded whole; the result is the in-memory one.
    how, nsides, kw = GROUPING[kind]
    a = [(i % 20000, i) for i in range(40000)]
    b = [(i * 7 % 15000, -i) for i in range(20000)]
    sides = [a, b][:nsides]
    want = grouped(kind, _core.Cogroup([iter(s) for s in sides], how, 1 << 40, str(tmp_path), ResultIterable, **kw))
    got, most = files_while_reading(_core.Cogroup([iter(s) for s in sides], how, 20_000, str(tmp_path),
                                                  ResultIterable, **kw), tmp_path, every=200)
    assert most == 2 * nsides  # the first spill's files and the split's
    assert grouped(kind, got) == want
    assert os.listdir(tmp_path) == []
    loose = _core.Cogroup([iter(s) for s in sides], how, 400_000, str(tmp_path), ResultIterable, **kw)
    next(loose)  # a budget the first spill's buckets fit in: no split
    assert len(os.listdir(tmp_path)) == nsides


def test_group_split_keeps_a_big_keys_values_in_order(tmp_path):
    # A key whose values went to a file of their own in a bucket that is then split:
    # its values move to the split's files, in order, and then to a file of their own
    # again.
    a = [(i % 3000, i) for i in range(6000)] + [("hot", v) for v in range(20000)] + [(i, -i) for i in range(3000)]
    got = grouped("group", _core.Cogroup([iter(a)], _core.COGROUP_GROUP, 10_000, str(tmp_path), ResultIterable))
    assert got == sorted(by_key(a).items(), key=repr)
    assert os.listdir(tmp_path) == []


def test_join_key_past_the_budget_alone_is_not_split_forever(tmp_path):
    # One key's build values are past the budget: splitting cannot part them, so after
    # a split that leaves them together the bucket is loaded whole.
    a = [("hot", 1), ("cold", 2)] + [(i, i) for i in range(3000)]
    b = [("hot", v) for v in range(20000)] + [(i, -i) for i in range(0, 6000, 2)] + [("cold", 0)]
    for kind in ("join", "full", "subtract_by_key"):
        got, most = files_while_reading(_core.Cogroup([iter(a), iter(b)], KINDS[kind], 50_000, str(tmp_path),
                                                      ResultIterable), tmp_path)
        assert sorted(got, key=repr) == sorted(reference(kind, a, b), key=repr), kind
        assert 2 <= most <= 2 * 3  # two levels of splits at most
        assert os.listdir(tmp_path) == []


def test_spill_files_removed_when_dropped_half_way(tmp_path):
    a = [(i % 500, i) for i in range(5000)]
    it = _core.Cogroup([iter(a), iter(a)], _core.COGROUP_JOIN, 1, str(tmp_path), ResultIterable)
    next(it)
    assert os.listdir(tmp_path)  # the spill files, being read
    del it
    gc.collect()
    assert os.listdir(tmp_path) == []


def test_one_key_beyond_the_budget_reads_back_from_its_file(tmp_path):
    values = list(range(300_000))
    records = [("hot", v) for v in values] + [("cold", 1), ("hot", -1)]
    groups = dict(_core.Cogroup([iter(records)], _core.COGROUP_GROUP, 200_000, str(tmp_path), ResultIterable))
    hot = groups["hot"]
    assert type(hot.data) is _core.SpilledValues
    assert len(hot) == hot.maxindex == 300_001
    assert list(hot) == values + [-1]
    assert list(hot) == values + [-1]  # iterable again
    assert pickle.loads(pickle.dumps(hot.data)) == values + [-1]  # pickles as the list of its values
    assert list(groups["cold"]) == [1] and type(groups["cold"].data) is list
    assert len(os.listdir(tmp_path)) == 1  # the hot key's file, while its values live
    del groups, hot
    gc.collect()
    assert os.listdir(tmp_path) == []


def test_no_references_leak(tmp_path):
    key, value = object(), object()
    refs = sys.getrefcount(key), sys.getrefcount(value)
    for kind in KINDS:
        for limit in (1, 1 << 40):
            run(kind, [(key, value), (key, value)], [(key, value)], limit, tmp_path)
    gc.collect()
    assert (sys.getrefcount(key), sys.getrefcount(value)) == refs


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(TypeError, match=r"\(key, value\) pairs, got a int"):
        list(_core.Cogroup([iter([1]), iter([])], _core.COGROUP_JOIN, 1 << 30, str(tmp_path), ResultIterable))
    with pytest.raises(TypeError, match="unhashable"):
        list(_core.Cogroup([iter([([1], 2)])], _core.COGROUP_GROUP, 1 << 30, str(tmp_path), ResultIterable))
    with pytest.raises(ValueError, match="takes 2 input sides, got 1"):
        _core.Cogroup([iter([])], _core.COGROUP_JOIN, 1, str(tmp_path), ResultIterable)
    with pytest.raises(ValueError, match="unknown cogroup kind 99"):
        _core.Cogroup([iter([])], 99, 1, str(tmp_path), ResultIterable)
    with pytest.raises(OSError, match="no-such-dir"):
        list(_core.Cogroup([iter([(1, 2)] * 10)], _core.COGROUP_GROUP, 1, str(tmp_path / "no-such-dir"),
                           ResultIterable))


def test_jobs_spill_with_a_tiny_worker_memory(sc):
    old = sc._conf.get("spark.python.worker.memory")
    a = sc.parallelize([(i % 3000, i) for i in range(20000)], 3)
    b = sc.parallelize([(i % 4000, -i) for i in range(8000)], 2)
    words = sc.parallelize([i % 777 for i in range(10000)], 2)

    def results():
        return (sorted(a.join(b).collect()), sorted(a.fullOuterJoin(b, 3).collect(), key=repr),
                sorted((k, sorted(x), sorted(y)) for k, (x, y) in a.cogroup(b).collect()),
                sorted(a.subtractByKey(b).collect()), sorted(words.subtract(b.keys()).collect()),
                sorted(words.intersection(b.keys()).collect()),
                sorted((k, list(vs)) for k, vs in a.groupByKey(2).collect()))

    want = results()
    sc._conf.set("spark.python.worker.memory", "1k")
    try:
        assert results() == want
    finally:
        sc._conf.set("spark.python.worker.memory", old or "512m")
    assert [f for f in os.listdir(sc._core.tmpdir) if f.startswith("spill-")] == []
