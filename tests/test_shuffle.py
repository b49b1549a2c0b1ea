"""Reduce-side merging under a memory limit spills to disk and still gives the
right answer."""
import collections
import os
import random
import sys

from operator import add

import pytest

from ember import _core, shuffle


def test_parse_memory():
    assert shuffle.parse_memory("512m") == 512 << 20
    assert shuffle.parse_memory("2g") == 2 << 30
    assert shuffle.parse_memory("100") == 100 << 20
    with pytest.raises(ValueError, match="512m"):
        shuffle.parse_memory("lots")


def test_merge_and_group_spill_past_the_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBER_LOCAL_DIR", str(tmp_path))
    monkeypatch.setattr(shuffle, "CHUNK", 1000)
    rnd = random.Random(3)
    records = [(rnd.randrange(20000), rnd.randrange(10)) for _ in range(50000)]
    spills = []
    real = shuffle._Spill.write
    monkeypatch.setattr(shuffle._Spill, "write", lambda self, d: (spills.append(len(d)), real(self, d)))
    # A limit of one byte: every chunk spills.
    got = dict(shuffle.merge_combiners(iter(records), add, 1))
    expected = collections.Counter()
    for k, v in records:
        expected[k] += v
    assert got == {k: v for k, v in expected.items()}
    assert len(spills) > 10
    groups = dict(shuffle.group_values(iter(records), 1))
    want = collections.defaultdict(list)
    for k, v in records:
        want[k].append(v)
    assert {k: sorted(v) for k, v in groups.items()} == {k: sorted(v) for k, v in want.items()}
    assert os.listdir(tmp_path) == []  # spill files removed


def test_group_by_key_extends_lists_when_re_merging():
    # The re-merge of spilled groups: each record's value is a list that extends the
    # key's list. Reference counts show the C code neither leaks nor frees too soon.
    key, values, other = object(), [1, 2], (3,)
    refs = sys.getrefcount(key), sys.getrefcount(values), sys.getrefcount(other)
    d = {}
    assert _core.group_by_key([(key, values), ("k", iter([0])), (key, other), (key, [])], d, -1, True) == 4
    assert d == {key: [1, 2, 3], "k": [0]}
    assert d[key] is not values and values == [1, 2]
    del d
    assert (sys.getrefcount(key), sys.getrefcount(values), sys.getrefcount(other)) == refs
    with pytest.raises(TypeError):
        _core.group_by_key([(1, [1]), (1, 5)], {}, -1, True)  # 5 is not iterable
    assert _core.group_by_key([(1, 2), (1, 3)]) == {1: [2, 3]}


def test_no_spill_under_the_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBER_LOCAL_DIR", str(tmp_path))
    records = [(k % 7, 1) for k in range(1000)]
    assert dict(shuffle.merge_combiners(iter(records), add, 1 << 40)) == {k: len(range(k, 1000, 7)) for k in range(7)}
    assert os.listdir(tmp_path) == []


def test_jobs_with_a_tiny_worker_memory_limit(sc):
    old = sc._conf.get("spark.python.worker.memory")
    sc._conf.set("spark.python.worker.memory", "1m")  # below any worker's RSS: always spill
    try:
        pairs = sc.parallelize([(i % 5000, 1) for i in range(200000)], 4)
        counts = pairs.reduceByKey(add, 3).collect()
        assert dict(counts) == {k: 40 for k in range(5000)}
        groups = pairs.groupByKey(2).mapValues(len).collect()
        assert dict(groups) == {k: 40 for k in range(5000)}
    finally:
        sc._conf.set("spark.python.worker.memory", old or "512m")
