"""File sources and sinks: wholeTextFiles, binaryFiles, binaryRecords, pickle files
(round trip, splitting, corrupt files), textFile names, union of many."""
import collections
import enum
import os
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ember import PythonException, _core
from ember import _files


@pytest.fixture
def text_dir(tmp_path):
    d = tmp_path / "texts"
    d.mkdir()
    contents = {"f0.txt": "hello\nworld\n", "f1.txt": "x" * 100, "f2.txt": "", "f3.txt": "abc",
                "_ignored": "no", ".hidden": "no"}
    for name, text in contents.items():
        (d / name).write_text(text)
    return d


def test_whole_text_files(sc, text_dir):
    rdd = sc.wholeTextFiles(str(text_dir))
    got = sorted(rdd.collect())
    want = sorted((f"file:{text_dir}/{n}", t) for n, t in
                  [("f0.txt", "hello\nworld\n"), ("f1.txt", "x" * 100), ("f2.txt", ""), ("f3.txt", "abc")])
    assert got == want
    assert rdd.name() == str(text_dir)
    # partitions: packed to ceil(total / minPartitions) bytes, counts as in Spark
    assert rdd.getNumPartitions() == 2
    assert sc.wholeTextFiles(str(text_dir), 3).getNumPartitions() == 2
    assert sc.wholeTextFiles(str(text_dir), 10).getNumPartitions() == 3
    raw = sc.wholeTextFiles(str(text_dir / "f0.txt"), use_unicode=False).collect()
    assert raw == [(f"file:{text_dir}/f0.txt".encode(), b"hello\nworld\n")]


def test_whole_text_files_invalid_utf8_and_globs(sc, tmp_path):
    (tmp_path / "bad.txt").write_bytes(b"ok\xffok")
    (tmp_path / "good.txt").write_text("fine")
    got = dict(sc.wholeTextFiles(str(tmp_path / "*.txt")).collect())
    assert got[f"file:{tmp_path}/bad.txt"] == "ok\ufffdok"
    both = sc.wholeTextFiles(f"{tmp_path}/bad.txt,file:{tmp_path}/good.txt").count()
    assert both == 2


def test_sources_ship_only_descriptors(sc, text_dir, tmp_path):
    # The driver parallelizes file names, never the files' contents.
    rdd = sc.wholeTextFiles(str(text_dir))
    assert sorted(rdd._parent.collect()) == sorted(str(text_dir / n) for n in ["f0.txt", "f1.txt", "f2.txt", "f3.txt"])
    (tmp_path / "r.bin").write_bytes(bytes(64))
    records = sc.binaryRecords(str(tmp_path / "r.bin"), 8)
    assert records._parent.collect() == [(str(tmp_path / "r.bin"), 0, 64)]


def test_missing_paths(sc, tmp_path):
    with pytest.raises(FileNotFoundError):
        sc.wholeTextFiles(str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError):
        sc.binaryFiles(str(tmp_path / "nope*"))
    with pytest.raises(FileNotFoundError):
        sc.pickleFile(str(tmp_path / "nope"))
    with pytest.raises(ValueError, match="local files only"):
        sc.wholeTextFiles("hdfs://namenode/data")


def test_binary_files(sc, tmp_path):
    blobs = {f"b{i}.bin": bytes(range(i * 10, i * 10 + 10)) for i in range(5)}
    for name, data in blobs.items():
        (tmp_path / name).write_bytes(data)
    rdd = sc.binaryFiles(str(tmp_path))
    assert rdd.getNumPartitions() == 1  # small files share one partition, as in Spark
    assert sorted(rdd.collect()) == sorted((f"file:{tmp_path}/{n}", d) for n, d in blobs.items())


def test_binary_file_groups_follow_spark_split_size(tmp_path):
    files = []
    for i in range(4):
        p = tmp_path / f"big{i}"
        with open(p, "wb") as f:
            f.truncate(3 << 20)  # 3 MiB, sparse
        files.append(str(p))
    # split size (4 * (3 + 4) MiB) / max(4, 2) = 7 MiB; files packed until a group reaches it
    assert _files.binary_file_groups(files, 2, 4) == [files[:3], files[3:]]
    # never below the 4 MiB open cost
    assert _files.binary_file_groups(files, 100, 2) == [files[:2], files[2:]]
    # never above 128 MiB, and small totals stay together
    assert _files.binary_file_groups(files, 1, 1) == [files]


def test_binary_records(sc, tmp_path):
    p = tmp_path / "recs.bin"
    p.write_bytes(bytes(range(12)))
    rdd = sc.binaryRecords(str(p), 4)
    assert rdd.collect() == [bytes([0, 1, 2, 3]), bytes([4, 5, 6, 7]), bytes([8, 9, 10, 11])]
    with pytest.raises(PythonException, match="is not a whole number of records of 5 bytes"):
        sc.binaryRecords(str(p), 5).collect()
    with pytest.raises(ValueError, match="recordLength must be positive"):
        sc.binaryRecords(str(p), 0)


def test_record_splits_are_whole_records(tmp_path):
    p = tmp_path / "big.bin"
    with open(p, "wb") as f:
        f.truncate(100 << 20)
    splits = _files.record_splits([str(p)], 3)
    # pieces of 32 MiB rounded down to whole records, cut while more than 1.1 pieces remain
    assert [end - start for _, start, end in splits] == [33554430] * 3 + [(100 << 20) - 3 * 33554430]
    assert all((end - start) % 3 == 0 for _, start, end in splits[:-1])
    assert splits[0][1] == 0 and splits[-1][2] == 100 << 20
    assert all(a[2] == b[1] for a, b in zip(splits, splits[1:]))


def test_pickle_file_round_trip(sc, tmp_path):
    data = [{"k": i, "v": [i] * (i % 3)} for i in range(200)] + [None, (1, "a"), b"bytes", 2.5]
    out = tmp_path / "pk"
    sc.parallelize(data, 3).saveAsPickleFile(str(out), 7)
    assert sorted(os.listdir(out)) == [".part-00000.crc", ".part-00001.crc", ".part-00002.crc", "_SUCCESS",
                                       "part-00000", "part-00001", "part-00002"]
    back = sc.pickleFile(str(out))
    assert back.getNumPartitions() == 3
    assert back.collect() == data
    assert back.name() == str(out)
    auto = tmp_path / "auto"
    sc.parallelize(data, 2).saveAsPickleFile(f"file:{auto}", 0)
    assert sc.pickleFile(str(auto)).collect() == data
    assert sc.pickleFile(str(auto / "part-00001")).collect() == sc.parallelize(data, 2).glom().collect()[1]


def test_pickle_file_splits_large_files(sc, tmp_path):
    out = tmp_path / "many"
    # ~1 MB: a sync marker every 100 KiB, where a SequenceFile can be cut (as in Hadoop)
    sc.parallelize(range(200000), 1).saveAsPickleFile(str(out), 10)
    one = sc.pickleFile(str(out))
    assert one.getNumPartitions() == 2  # defaultMinPartitions
    more = sc.pickleFile(str(out), 8)
    assert more.getNumPartitions() >= 8
    assert more.collect() == list(range(200000))
    assert sum(len(p) > 0 for p in more.glom().collect()) >= 6


def test_save_as_pickle_file_refuses_existing_dir(sc, tmp_path):
    out = tmp_path / "exists"
    out.mkdir()
    with pytest.raises(FileExistsError, match="already exists"):
        sc.parallelize([1]).saveAsPickleFile(str(out))
    with pytest.raises(ValueError, match="batchSize"):
        sc.parallelize([1]).saveAsPickleFile(str(tmp_path / "neg"), -1)


def test_failed_save_leaves_nothing(sc, tmp_path):
    out = tmp_path / "failed"
    with pytest.raises(PythonException, match="ZeroDivisionError"):
        sc.parallelize([1, 0, 2], 3).map(lambda x: 1 // x).saveAsPickleFile(str(out))
    assert os.listdir(tmp_path) == []


def _write_good(sc, tmp_path):
    out = tmp_path / "good"
    sc.parallelize(range(100), 1).saveAsPickleFile(str(out), 10)
    return out / "part-00000"


def test_corrupt_pickle_file_wrong_magic(sc, tmp_path):
    bad = tmp_path / "notpickle"
    bad.write_text("hello\n")
    with pytest.raises(ValueError, match=f"{bad} is not a pickle file written by saveAsPickleFile"):
        sc.pickleFile(str(bad))


def test_corrupt_pickle_file_truncated(sc, tmp_path):
    part = _write_good(sc, tmp_path)
    data = part.read_bytes()
    part.write_bytes(data[:-5])
    os.unlink(part.parent / ".part-00000.crc")
    with pytest.raises(PythonException, match=f"truncated SequenceFile {part}: the record at byte"):
        sc.pickleFile(str(part)).collect()


def test_corrupt_pickle_file_flipped_byte(sc, tmp_path):
    part = _write_good(sc, tmp_path)
    data = bytearray(part.read_bytes())
    data[140] ^= 0xFF
    part.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=f"checksum error in {part} at byte 0"):
        sc.pickleFile(str(part)).collect()


def test_corrupt_pickle_file_bad_payload(sc, tmp_path):
    """A file in ember's earlier pickle format whose record does not unpickle."""
    part = tmp_path / "part-00000"
    payload = b"not a pickle"
    part.write_bytes(_files.PICKLE_MAGIC + struct.pack("<II", len(payload), zlib.crc32(payload)) + payload)
    with pytest.raises(PythonException, match="does not unpickle"):
        sc.pickleFile(str(part)).collect()


def test_text_file_named_with_its_path(sc, tmp_path):
    p = tmp_path / "lines.txt"
    p.write_text("a\nb\n")
    rdd = sc.textFile(str(p))
    assert rdd.name() == str(p)
    assert repr(rdd).startswith(f"RDD[{rdd.id()}] '{p}' (")
    assert sc.textFile(str(p), use_unicode=False).collect() == [b"a", b"b"]


def test_union_of_many(sc):
    rdds = [sc.parallelize(range(i * 3, i * 3 + 3), 2) for i in range(5)]
    u = sc.union(rdds)
    assert u.getNumPartitions() == 10
    assert u.collect() == list(range(15))
    assert sc.union([rdds[0]]) is rdds[0]
    mixed = sc.union([sc.parallelize(["a"]), sc.emptyRDD(), sc.range(2)])
    assert mixed.collect() == ["a", 0, 1]
    with pytest.raises(TypeError):
        sc.union([rdds[0], [1, 2]])


def test_save_as_text_file_writes_str_of_each_element(sc, tmp_path):
    # ints and tuples of ints are formatted in C: they must read as str() does
    class Named(str):
        pass

    elements = [0, -1, 7, 2**63 - 1, -2**63, 2**64, (1, 2), (-3, 2**62), (5,), (), (1, (2, 3)), (True, 1),
                1.5, "é\u0100", Named("sub"), b"raw\xff", None, [1, 2], {"a": 1}, ("a", 1)]
    sc.parallelize(elements, 3).saveAsTextFile(str(tmp_path / "out"))
    data = b"".join((tmp_path / "out" / f"part-0000{i}").read_bytes() for i in range(3))
    want = b"".join((e if isinstance(e, bytes) else str(e).encode()) + b"\n" for e in elements)
    assert data == want
    with pytest.raises((PythonException, UnicodeEncodeError)):
        sc.parallelize(["\ud800"], 1).saveAsTextFile(str(tmp_path / "bad"))


class _Color(enum.IntEnum):
    RED = 1


_Point = collections.namedtuple("_Point", "x y")

# What text_chunk formats in C (ints, floats, None, bools, plain ASCII str, tuples and
# lists of them) and what it leaves to str(): the lines must be str()'s either way.
_leaf = (st.integers() | st.floats() | st.none() | st.booleans() | st.text(max_size=6)
         | st.sampled_from(["it's", 'say "hi"', "back\\slash", "tab\t", "\x7f", "é", _Color.RED, b"x",
                            _Point(1, "a"), 2**64, -2**63, 1e16, -0.0]))
_record = st.recursive(_leaf, lambda inner: st.tuples(inner, inner) | st.lists(inner, max_size=3)
                       | st.tuples(inner), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(_record)
def test_text_lines_are_str_of_each_element(x):
    got = _core.text_chunk(iter([x]), 1 << 20)
    assert got == (x if isinstance(x, bytes) else str(x).encode()) + b"\n"


def test_text_lines_of_deep_tuples_are_str():
    x = 1
    for _ in range(20):
        x = (x, None)
    assert _core.text_chunk(iter([x, [x]]), 1 << 20) == f"{x}\n{[x]}\n".encode()
