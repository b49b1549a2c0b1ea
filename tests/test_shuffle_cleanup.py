"""RDD.cleanShuffleDependencies: shuffle output removed, map stages rerun, results unchanged."""
import logging
import os
import threading
import time


def _shuffle_files(sc, node_id):
    return [f for f in os.listdir(sc._core.tmpdir) if f.startswith(f"shuffle-{node_id}-")]


def _shuffle_node_ids(rdd):
    ids, stack, seen = [], [rdd._node], set()
    while stack:
        n = stack.pop()
        if n.id in seen:
            continue
        seen.add(n.id)
        if n.kind == "shuffle":
            ids.append(n.id)
        stack.extend(n.parents)
    return sorted(ids)


def _counting(sc):
    calls = sc.accumulator(0)

    def count(x):
        calls.add(1)
        return x
    return calls, count


def test_map_stage_reruns_after_cleaning(sc):
    calls, count = _counting(sc)
    sums = sc.parallelize(range(100), 4).map(count).map(lambda x: (x % 7, x)).reduceByKey(lambda a, b: a + b, 3)
    expected = sorted((k, sum(x for x in range(100) if x % 7 == k)) for k in range(7))
    assert sorted(sums.collect()) == expected
    assert calls.value == 100
    [sid] = _shuffle_node_ids(sums)
    assert len(_shuffle_files(sc, sid)) == 4
    assert sorted(sums.collect()) == expected
    assert calls.value == 100  # reused
    sums.cleanShuffleDependencies()
    assert _shuffle_files(sc, sid) == []
    assert sorted(sums.collect()) == expected
    assert calls.value == 200  # the map stage ran again
    assert len(_shuffle_files(sc, sid)) == 4


def test_every_shuffle_of_the_lineage_is_cleaned(sc):
    calls, count = _counting(sc)
    pairs = sc.parallelize(range(20), 2).map(count).map(lambda x: (x % 4, 1))
    twice = pairs.reduceByKey(lambda a, b: a + b).map(lambda kv: (kv[1], kv[0])).groupByKey()
    result = sorted((k, sorted(v)) for k, v in twice.collect())
    assert result == [(5, [0, 1, 2, 3])]
    ids = _shuffle_node_ids(twice)
    assert len(ids) == 2 and all(_shuffle_files(sc, i) for i in ids)
    twice.cleanShuffleDependencies(blocking=True)
    assert not any(_shuffle_files(sc, i) for i in ids)
    assert sorted((k, sorted(v)) for k, v in twice.collect()) == result
    assert calls.value == 40


def test_a_persisted_rdd_stops_the_walk(sc):
    calls_a, count_a = _counting(sc)
    calls_b, count_b = _counting(sc)
    a = sc.parallelize(range(10), 2).map(count_a).map(lambda x: (x % 2, x)).reduceByKey(lambda x, y: x + y)
    a = a.cache()
    b = a.map(count_b).map(lambda kv: (kv[1] % 3, kv[0])).reduceByKey(lambda x, y: x + y)
    assert sorted(b.collect()) == [(1, 1), (2, 0)]
    [id_a] = _shuffle_node_ids(a)
    id_b = max(_shuffle_node_ids(b))
    assert _shuffle_files(sc, id_a) and _shuffle_files(sc, id_b)
    b.cleanShuffleDependencies()
    assert _shuffle_files(sc, id_a)  # behind the persisted RDD: kept
    assert _shuffle_files(sc, id_b) == []
    assert sorted(b.collect()) == [(1, 1), (2, 0)]
    assert (calls_a.value, calls_b.value) == (10, 4)
    a.unpersist()


def test_nothing_to_clean_before_any_job(sc):
    rdd = sc.parallelize(range(6), 2).map(lambda x: (x, x)).groupByKey()
    rdd.cleanShuffleDependencies()
    assert sorted(k for k, _ in rdd.collect()) == list(range(6))
    assert sc.parallelize([1, 2]).cleanShuffleDependencies() is None


def test_engine_clean_call(sc):
    shuffled = sc.parallelize([(1, 2)], 1).partitionBy(2)
    node = [n for n in [shuffled._node] + list(shuffled._node.parents) if n.kind == "shuffle"][0]
    assert node.clean_shuffle() is False  # not computed yet
    shuffled.count()
    assert node.clean_shuffle() is True
    assert node.clean_shuffle() is False
    assert sc.parallelize([1])._node.clean_shuffle() is False  # not a shuffle node
    assert shuffled.collect() == [(1, 2)]


def test_a_shuffle_in_use_is_kept(sc, tmp_path, caplog):
    go = tmp_path / "go"
    started = tmp_path / "started"
    sums = sc.parallelize(range(10), 2).map(lambda x: (x % 2, x)).reduceByKey(lambda a, b: a + b)
    assert sorted(sums.collect()) == [(0, 20), (1, 25)]
    [sid] = _shuffle_node_ids(sums)

    def gate(kv):
        started.touch()
        deadline = time.monotonic() + 30
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return kv

    out = {}
    t = threading.Thread(target=lambda: out.setdefault("result", sorted(sums.map(gate).collect())))
    t.start()
    deadline = time.monotonic() + 30
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    with caplog.at_level(logging.WARNING, logger="ember"):
        sums.cleanShuffleDependencies()
    assert "kept a shuffle" in caplog.text and "running job" in caplog.text
    assert len(_shuffle_files(sc, sid)) == 2
    go.touch()
    t.join(timeout=30)
    assert out["result"] == [(0, 20), (1, 25)]
    sums.cleanShuffleDependencies()  # the job is over: now it goes
    assert _shuffle_files(sc, sid) == []
