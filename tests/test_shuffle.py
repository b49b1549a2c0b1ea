"""Reduce-side merging under a memory limit spills to disk and still gives the
right answer."""
import collections
import os
import random

from operator import add

import pytest

from ember import shuffle


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
    groups = dict(shuffle.GroupByKey(1)(iter(records)))
    want = collections.defaultdict(list)
    for k, v in records:
        want[k].append(v)
    assert {k: list(v) for k, v in groups.items()} == dict(want)  # values in arrival order
    del groups
    assert os.listdir(tmp_path) == []  # spill files removed


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


def _shuffle_prefix(rdd):
    """The file name prefix of the map output of the shuffle under rdd."""
    node = rdd._node
    while node.kind != "shuffle":
        node = node.parents[0]
    return f"shuffle-{node.id}-"


def _shuffle_files(sc, rdd):
    """The committed map output files of the shuffle under rdd, by map partition."""
    prefix = _shuffle_prefix(rdd)
    files = {}
    for name in os.listdir(sc._core.tmpdir):
        if name.startswith(prefix) and name.endswith(".data"):
            files[int(name[len(prefix):].split("-")[0])] = os.path.join(sc._core.tmpdir, name)
    return files


def _counted_pairs(sc, acc):
    def tag(split, it):
        acc.add(1)  # one per map task that ran to the end
        return ((x % 7, 1) for x in it)
    return sc.parallelize(range(700), 4).mapPartitionsWithIndex(tag)


@pytest.mark.parametrize("damage", ["flip a data byte", "truncate", "delete"])
def test_a_bad_shuffle_file_reruns_the_map_task_that_wrote_it(sc, damage):
    acc = sc.accumulator(0)
    counts = _counted_pairs(sc, acc).reduceByKey(add, 3)
    assert sorted(counts.collect()) == [(k, 100) for k in range(7)]
    assert acc.value == 4
    files = _shuffle_files(sc, counts)
    assert sorted(files) == [0, 1, 2, 3]
    victim = files[2]
    data = bytearray(open(victim, "rb").read())
    if damage == "flip a data byte":
        data[len(data) // 4] ^= 0x10
        open(victim, "wb").write(bytes(data))
    elif damage == "truncate":
        open(victim, "wb").write(bytes(data[:-5]))
    else:
        os.unlink(victim)
    assert sorted(counts.collect()) == [(k, 100) for k in range(7)]
    assert acc.value == 5  # map task 2 ran again, the others did not
    after = _shuffle_files(sc, counts)
    assert after[2] != victim and {after[m] for m in (0, 1, 3)} == {files[m] for m in (0, 1, 3)}


def test_a_shuffle_file_bad_every_time_fails_the_job_naming_it(sc, tmp_path):
    """The map task's output is damaged each time it is written: after the retry
    limit the job fails with an error naming the file and the checksum. One reduce
    partition, so that the task that damages a file is the one that reads it: with
    several, a reducer may finish reading the file before another one damages it."""
    acc = sc.accumulator(0)
    counts = _counted_pairs(sc, acc).reduceByKey(add, 1)
    counts.count()

    def damage_map_2(split, it):
        for name in os.listdir(sc_tmpdir):  # the reduce task runs after every map output exists
            if name.startswith(prefix) and name.split("-")[2] == "2" and name.endswith(".data"):
                try:  # each file written is damaged once, by whichever task claims it first
                    os.close(os.open(marks / name, os.O_CREAT | os.O_EXCL))
                except FileExistsError:
                    continue
                path = os.path.join(sc_tmpdir, name)
                data = bytearray(open(path, "rb").read())
                data[10] ^= 1
                open(path, "wb").write(bytes(data))
        return it

    sc_tmpdir, prefix, marks = sc._core.tmpdir, _shuffle_prefix(counts), tmp_path
    with pytest.raises(Exception) as info:
        counts.mapPartitionsWithIndex(damage_map_2).collect()
    text = str(info.value)
    assert "could not read shuffle file" in text and "fails its checksum" in text, text
    assert sc.parallelize([1, 2]).count() == 2
