"""Reduce-side merging under a memory limit spills to disk and still gives the
right answer."""
import collections
import os
import random

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
    rnd = random.Random(3)
    records = [(rnd.randrange(20000), rnd.randrange(10)) for _ in range(50000)]
    # A limit of one byte: the table spills at once.
    merged = shuffle.merge_combiners(iter(records), add, 1)
    first = next(merged)
    assert [f for f in os.listdir(tmp_path) if f.startswith("spill-")]  # being read back
    got = dict([first, *merged])
    expected = collections.Counter()
    for k, v in records:
        expected[k] += v
    assert got == dict(expected)
    assert os.listdir(tmp_path) == []  # spill files removed once read
    groups = dict(shuffle.GroupByKey(1)(iter(records)))
    want = collections.defaultdict(list)
    for k, v in records:
        want[k].append(v)
    assert {k: list(v) for k, v in groups.items()} == dict(want)  # values in arrival order
    del groups
    assert os.listdir(tmp_path) == []


def test_combine_values_uses_all_three_functions(tmp_path, monkeypatch):
    # combineByKey of an RDD partitioned as asked: create and merge_value on the
    # records, merge_combiners on combiners read back from a spill.
    monkeypatch.setenv("EMBER_LOCAL_DIR", str(tmp_path))
    records = [(i % 300, i) for i in range(6000)]
    for limit in (1, 1 << 40):
        got = dict(shuffle.combine_values(iter(records), lambda v: [v], lambda c, v: c + [v],
                                          lambda a, b: a + b, limit))
        assert {k: sorted(c) for k, c in got.items()} == {k: list(range(k, 6000, 300)) for k in range(300)}
    assert os.listdir(tmp_path) == []


def test_a_stop_iteration_in_merge_fails_loudly(tmp_path):
    def merge(a, b):
        raise StopIteration
    with pytest.raises(RuntimeError, match="STOP_ITERATION_OCCURRED"):
        list(shuffle.merge_combiners(iter([(1, 1), (1, 2)]), merge, 1 << 30))


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


def test_big_values_come_through_whole(sc):
    """Values of 256 KiB and more are read from a mapping of the shuffle file and
    unpickled from where they lie (no copy through a buffer or a bytes object): each
    arrives whole, under its key, whether alone in a batch or among small ones; a
    damaged byte in one still fails its range's checksum and reruns its map task."""
    sizes = [300 << 10, 1 << 20, 5, 3 << 20, 1, 256 << 10]

    def values(part):
        return [(part * 10 + i, bytes([part * 10 + i]) * n) for i, n in enumerate(sizes)]

    pairs = sc.parallelize(range(4), 4).flatMap(values).partitionBy(3)
    got = dict(pairs.collect())
    assert sorted(got) == sorted(p * 10 + i for p in range(4) for i in range(len(sizes)))
    for k, v in got.items():
        assert v == bytes([k]) * sizes[k % 10]
    grouped = pairs.mapValues(len).groupByKey(2).mapValues(sum).collect()
    assert dict(grouped) == {k: sizes[k % 10] for k in got}
    files = _shuffle_files(sc, pairs)
    data = bytearray(open(files[1], "rb").read())
    data[len(data) // 2] ^= 0x01  # inside a big value
    open(files[1], "wb").write(bytes(data))
    assert dict(pairs.collect()) == got


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


def _shuffle_write_records(tmp_path, records, create, merge, combine_bytes, nbuckets=3):
    """The records a map task writes, read back bucket by bucket."""
    path = str(tmp_path / "map-0")
    sizes = _core.shuffle_write(iter(records), path, nbuckets, None, create, merge, combine_bytes, 1 << 20)
    assert len(sizes) == nbuckets
    return [r for b in range(nbuckets) for r in _core.ShuffleIter([path], b)]


def test_map_side_combine_with_a_high_hit_rate(tmp_path):
    # Few keys: everything merges; one record per key comes out.
    records = [(i % 50, 1) for i in range(100_000)]
    out = _shuffle_write_records(tmp_path, records, None, add, 1 << 30)
    assert sorted(out) == [(k, 2000) for k in range(50)]


def test_map_side_combine_caps_itself_when_keys_rarely_repeat(tmp_path):
    # Unique keys but for one hot key: after the first 65536 records the table stops
    # taking new keys (they pass through as (k, create(v))) and keeps merging the hot one.
    records = [(("hot" if i % 4 == 0 else i), i) for i in range(200_000)]
    out = _shuffle_write_records(tmp_path, records, lambda v: [v], lambda c, v: c.append(v) or c, 1 << 30)
    merged = collections.defaultdict(list)
    for k, c in out:
        merged[k].extend(c)
    assert {k: sorted(c) for k, c in merged.items()} == {k: sorted(v) for k, v in _by_key(records).items()}
    assert len([k for k, _ in out if k == "hot"]) == 1  # the hot key was combined, once
    assert len(out) == 1 + 150_000  # every other key once: written as it came or from the table


def test_map_side_combine_stops_growing_when_most_keys_are_new(tmp_path):
    # Each key comes three times in a row: the first passes by (the admission filter
    # has not met it), the second goes in, the third merges. A third of the records
    # meet their key, enough to pass the first check (one in eight) but not worth a
    # table grown to its budget (64 MB here). Once it holds a sixteenth of that and a
    # window of 65536 records has fewer than half hits, it takes no new key: a key
    # first seen later ("late") passes by every time, while the keys it holds still merge.
    records = [(i, 1) for i in range(100_000) for _ in range(3)] + [("late", 1)] * 1000 + [(7, 1)]
    out = _shuffle_write_records(tmp_path, records, None, add, 64 << 20)
    totals = collections.Counter()
    for k, n in out:
        totals[k] += n
    assert totals == collections.Counter(k for k, _ in records)
    assert len([k for k, _ in out if k == "late"]) == 1000  # each passed by, none merged
    assert [n for k, n in out if k == 7] == [4]  # among the first 4096 keys: it went in at once, all merged


def test_map_side_combine_keeps_keys_met_once_out(tmp_path):
    # Nine records in ten carry one of 45 frequent keys, one in ten a key met once. A
    # key met once does not go in (past the first 4096 keys), so the table stays far
    # under its budget (1 MiB, some 7000 keys) and is never drained: every frequent
    # key comes out once. Taken in, the keys met once would fill it every ~80000
    # records and the frequent keys come out again after each drain.
    records = [((i if i % 10 == 0 else f"f{i % 50}"), 1) for i in range(300_000)]
    out = _shuffle_write_records(tmp_path, records, None, add, 1 << 20)
    totals = collections.Counter()
    for k, n in out:
        totals[k] += n
    assert totals == collections.Counter(k for k, _ in records)
    assert sorted(k for k, _ in out if isinstance(k, str)) == sorted({k for k, _ in records if isinstance(k, str)})


def test_map_side_combine_adds_ints_in_the_table_as_python_does(tmp_path):
    # With operator.add the table sums small ints as C ints and short ASCII str keys
    # compare in the table: sums past 62 bits, floats and bools after ints, and keys of
    # other kinds (long, non-ASCII, ints equal to floats) must come out as Python's.
    big = (1 << 62) - 5
    keys = ["a", "fifteen-chars-x", "sixteen-chars-xy", "é", "ab" * 40, 3, 3.0, (1, "a")]
    values = [1, big, big, -big, -big, -big, 2.5, True, 1 << 70, -3, 0]
    records = [(k, v) for _ in range(3) for k in keys for v in values]
    records += [(f"w{i}", 1) for i in range(6000)] + [("late", 1 << 61)] * 4  # past 4096 keys: the filter
    expected = {}
    for k, v in records:
        expected[k] = expected[k] + v if k in expected else v
    for budget in (1 << 30, 2000):  # one table; drained again and again
        out = _shuffle_write_records(tmp_path, records, None, add, budget)
        got = {}
        for k, v in out:
            got[k] = got[k] + v if k in got else v
        assert got == expected
        assert {k: type(v) for k, v in got.items()} == {k: type(v) for k, v in expected.items()}


def test_shuffle_write_fails_on_a_bad_record_or_input_error_after_records_taken_ahead(tmp_path):
    # The writer takes records ahead of the one it combines; a record that is not a
    # pair, or an error of the input, still fails the task with its own error.
    def failing():
        yield from [("a", 1)] * 20
        raise ValueError("input broke")

    path = str(tmp_path / "m")
    for merge in (add, None):
        with pytest.raises(TypeError, match="expects \\(key, value\\) pairs, got a int"):
            _core.shuffle_write(iter([("a", 1)] * 20 + [5]), path, 2, None, None, merge, 1 << 20, 1 << 20)
        with pytest.raises(ValueError, match="input broke"):
            _core.shuffle_write(failing(), path, 2, None, None, merge, 1 << 20, 1 << 20)


def test_str_int_pairs_are_written_without_pickle_as_pickle_reads_them(tmp_path):
    # Buckets of (str, int) pairs with 32-bit ints are encoded in C; anything else is
    # pickled. Either way the reduce side reads back equal records of equal types.
    strs = ["", "a", "x" * 255, "y" * 256, "z" * 70_000, "é", "日本", "\U0001f600", "\ud800"]
    ints = [0, 255, 256, 65535, 65536, -1, -256, 2**31 - 1, 2**31, -2**31, -2**31 - 1, 1 << 70, True]
    batches = [[(s, i) for i in ints] for s in strs] + [[(s, 1) for s in strs]] + [
        [("a", 1), ("b", 2.5)], [("a", 1), ["b", 2]], [("a", 1), (b"b", 2)], [("a", 1)] * 5000]
    for records in batches:
        out = _shuffle_write_records(tmp_path, records, None, None, 0, nbuckets=1)
        assert out == records
        assert [tuple(map(type, r)) for r in out] == [tuple(map(type, r)) for r in records]
    _shuffle_write_records(tmp_path, [("a", 1), ("bc", 300)], None, None, 0, nbuckets=1)
    with open(tmp_path / "map-0", "rb") as f:  # the C encoding: no frame, no memo
        assert b"\x80\x05](\x8c\x01aK\x01\x86\x8c\x02bcM,\x01\x86e." in f.read()


def test_map_side_combine_is_bounded_in_bytes(tmp_path):
    # A tiny budget with a high hit rate: the table is written out whenever it is full,
    # so keys come out several times, each time combined.
    records = [(i % 5000, 1) for i in range(100_000)]
    out = _shuffle_write_records(tmp_path, records, None, add, 50_000)
    assert len(out) > 5000
    totals = collections.Counter()
    for k, n in out:
        totals[k] += n
    assert totals == collections.Counter({k: 20 for k in range(5000)})


def _by_key(records):
    d = collections.defaultdict(list)
    for k, v in records:
        d[k].append(v)
    return d


def test_distinct_counts_keys_values_key_by_on_c_paths(sc):
    rdd = sc.parallelize([1, 2, 2, "a", "a", None, (1, 2), (1, 2)], 3)
    assert sorted(rdd.distinct().collect(), key=repr) == sorted([1, 2, "a", None, (1, 2)], key=repr)
    assert rdd.countByValue() == {1: 1, 2: 2, "a": 2, None: 1, (1, 2): 2}
    pairs = sc.parallelize([("a", 1), ("b", 2), ["a", 3], ("c", 4, 5)], 2)
    assert pairs.countByKey() == {"a": 2, "b": 1, "c": 1}
    assert pairs.keys().collect() == ["a", "b", "a", "c"]  # x[0], as PySpark, whatever x is
    assert pairs.values().collect() == [1, 2, 3, 4]
    assert sc.parallelize(["ab", "cd"]).keys().collect() == ["a", "c"]
    assert sc.parallelize(range(4), 2).keyBy(lambda x: x % 2).collect() == [(0, 0), (1, 1), (0, 2), (1, 3)]
    with pytest.raises(Exception, match="ZeroDivisionError"):
        sc.parallelize([0]).keyBy(lambda x: 1 / x).collect()
    with pytest.raises(Exception, match="not subscriptable"):
        sc.parallelize([1]).keys().collect()
