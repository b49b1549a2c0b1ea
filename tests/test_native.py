"""ember.native: the typed record format from Python (every type round-trips, the
exact bytes of the C encoder, clear errors for what does not fit), and C functions
applied to RDDs in the workers (same answers as the Python path, errors and crashes
that name the function)."""
import math
import os
import re
import struct
import subprocess
import sys
from collections import namedtuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ember import _core, native

scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-2**200, max_value=2**200)
           | st.floats(allow_nan=False) | st.text() | st.binary())
hashable = st.recursive(scalars, lambda inner: st.tuples(inner) | st.tuples(inner, inner), max_leaves=6)
records = st.recursive(
    scalars,
    lambda inner: (st.lists(inner, max_size=5) | st.lists(inner, max_size=5).map(tuple)
                   | st.dictionaries(hashable, inner, max_size=4)),
    max_leaves=25)


def same(a, b):
    """Equal, and of the same types all the way down (True is not 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


@settings(max_examples=300, deadline=None)
@given(records)
def test_every_type_round_trips(obj):
    data = native.dumps(obj)
    assert same(native.loads(data), obj)
    # one encoding per value: encoding the decoded object gives the same bytes
    assert native.dumps(native.loads(data)) == data


@settings(max_examples=100, deadline=None)
@given(st.lists(records, max_size=20))
def test_batches_round_trip(objs):
    assert all(same(a, b) for a, b in zip(_core.records_loads(_core.records_dumps(objs)), objs))
    assert len(_core.records_loads(_core.records_dumps(objs))) == len(objs)


def test_nan_and_signed_zero():
    assert math.isnan(native.loads(native.dumps(float("nan"))))
    assert math.copysign(1.0, native.loads(native.dumps(-0.0))) == -1.0


def test_exact_bytes_match_the_documented_format():
    # tuple(2) ['ab', -2], then small ints as zigzag varints, float little-endian
    assert native.dumps(("ab", -2)) == b"\x08\x02\x06\x02ab\x03\x03"
    assert native.dumps(150) == b"\x03\xac\x02"
    assert native.dumps(1.5) == b"\x05" + struct.pack("<d", 1.5)
    assert native.dumps(True) == b"\x02" and native.dumps(None) == b"\x00"
    assert native.dumps({"k": [b"x"]}) == b"\x0a\x01\x06\x01k\x09\x01\x07\x01x"


@pytest.mark.parametrize("n", [2**63 - 1, -2**63, 2**63, -2**63 - 1, 2**64, -2**64, 10**100, -10**100])
def test_integers_at_and_past_64_bits(n):
    data = native.dumps(n)
    assert native.loads(data) == n
    assert data[0] == (0x03 if -2**63 <= n < 2**63 else 0x04)


def test_unsupported_type_names_type_and_place():
    with pytest.raises(TypeError, match=r"cannot encode set at \[1\]\['k'\] as an ember record"):
        native.dumps((1, {"k": {1, 2}}))
    with pytest.raises(TypeError, match=r"cannot encode object at \[0\] as an ember record \(in the input of "
                                        r"mapNative tok\)"):
        native.dumps([object()], where="the input of mapNative tok")


def test_subclasses_are_refused_with_advice():
    Pair = namedtuple("Pair", "a b")
    with pytest.raises(TypeError, match=r"cannot encode Pair as an ember record: subclasses of built-in types"):
        native.dumps(Pair(1, 2))


def test_lone_surrogate_is_refused():
    with pytest.raises(ValueError, match=r"cannot encode str at \[0\].*lone surrogate"):
        native.dumps(["\udc80"])


def test_too_deep_is_refused():
    obj = None
    for _ in range(250):
        obj = [obj]
    with pytest.raises(ValueError, match="nested too deep"):
        native.dumps(obj)


@pytest.mark.parametrize("data, what", [
    (b"", "truncated"), (b"\x0b", "unknown tag"), (b"\x06\x02\xc3\x28", "not UTF-8"),
    (b"\x09\x03\x00", "count past the end"), (b"\x00\x00", "1 bytes after the record"),
])
def test_corrupt_records_are_refused(data, what):
    with pytest.raises(ValueError, match=what):
        native.loads(data)


def test_batch_header_is_checked():
    with pytest.raises(ValueError, match="version 2"):
        _core.records_loads(b"EMR\x02")
    with pytest.raises(ValueError, match="no EMR header"):
        _core.records_loads(b"\x00")


# ---- C functions over RDDs: mapNative, flatMapNative, filterNative, native merge ----------

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def udfs():
    return native.compile(os.path.join(ROOT, "tests", "native", "udfs.c"))


def test_map_flatmap_filter_match_the_python_path(sc, udfs):
    rdd = sc.parallelize(range(-50, 50), 4)
    assert rdd.mapNative(udfs, "plus1").collect() == rdd.map(lambda x: x + 1).collect()
    pairs = sc.parallelize([("a", 1), (2, b"x"), (None, [1.5])], 2)
    assert pairs.mapNative(udfs, "swap").collect() == pairs.map(lambda kv: (kv[1], kv[0])).collect()
    lists = sc.parallelize([[1, 2], (), ("x", None, 3.5)], 3)
    assert lists.flatMapNative(udfs, "items").collect() == lists.flatMap(lambda x: x).collect()
    words = sc.parallelize(["ab", "abcd", "hello", "", "xyz!"], 2)
    assert words.filterNative(udfs, "long_str").collect() == ["abcd", "hello", "xyz!"]
    # Python and C steps mixed in one stage
    assert (rdd.map(lambda x: x * 3).mapNative(udfs, "plus1").filter(lambda x: x % 2 == 0).collect()
            == [x * 3 + 1 for x in range(-50, 50) if (x * 3 + 1) % 2 == 0])


@settings(max_examples=20, deadline=None)
@given(st.lists(records, max_size=30))
def test_every_type_passes_through_c_unchanged(sc, udfs, objs):
    out = sc.parallelize(objs, 3).mapNative(udfs, "identity").collect()
    assert len(out) == len(objs) and all(same(a, b) for a, b in zip(out, objs))


def test_native_merge_in_reduce_by_key(sc, udfs):
    data = [(i % 7, (i * 37) % 101) for i in range(500)]
    rdd = sc.parallelize(data, 5)
    assert (sorted(rdd.reduceByKey(native.merge(udfs, "max_int"), 3).collect())
            == sorted(rdd.reduceByKey(max, 3).collect()))


def test_native_wordcount_matches_python(sc, tmp_path):
    lib = native.compile(os.path.join(ROOT, "examples", "native_udf", "wordcount.c"))
    path = tmp_path / "text.txt"
    lines = [" ".join(f"w{(i * j) % 23}" for j in range(i % 9)) + ("\t x  " if i % 3 else "") for i in range(400)]
    path.write_text("\n".join(lines) + "\n")
    text = sc.textFile(str(path), 3)
    got = text.flatMapNative(lib, "tokenize").reduceByKey(native.merge(lib, "add")).collect()
    want = text.flatMap(lambda line: line.split()).map(lambda w: (w, 1)).reduceByKey(lambda a, b: a + b).collect()
    assert sorted(got) == sorted(want)


def test_native_udf_example_runs():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "native_udf", "wordcount.py"),
                          os.path.join(ROOT, "examples", "data", "ember.txt"), "local[2]"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines()]
    assert len(rows) == 10 and all(int(n) > 0 for n, _ in rows)
    with open(os.path.join(ROOT, "examples", "data", "ember.txt"), "rb") as f:
        counts = {}
        for w in f.read().split():
            counts[w.decode()] = counts.get(w.decode(), 0) + 1
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    assert [(int(n), w) for n, w in rows] == [(n, w) for w, n in top]


def test_native_functions_never_run_in_the_driver(sc, udfs):
    pids = set(sc.parallelize(range(20), 4).mapNative(udfs, "where").collect())
    assert os.getpid() not in pids
    with open("/proc/self/maps") as f:
        assert udfs not in f.read()  # the driver never even loaded the library
    with pytest.raises(RuntimeError, match="run in the worker processes only"):
        native.merge(udfs, "max_int")(1, 2)


def test_unsupported_input_names_type_and_function(sc, udfs):
    with pytest.raises(Exception, match=r"cannot encode set at \[1\] as an ember record \(in the input of "
                                        r"mapNative identity \(.*udfs.*\)\)"):
        sc.parallelize([(1, {2})], 1).mapNative(udfs, "identity").collect()


def test_failing_native_function_names_itself(sc, udfs):
    with pytest.raises(Exception, match=r"mapNative refuse \(.*\) failed: refuse: will not take a str"):
        sc.parallelize(["x"], 1).mapNative(udfs, "refuse").collect()
    with pytest.raises(Exception, match=r"mapNative two \(.*\) wrote more than one record"):
        sc.parallelize([1], 1).mapNative(udfs, "two").collect()
    with pytest.raises(Exception, match=r"the library has no function nosuch"):
        sc.parallelize([1], 1).mapNative(udfs, "nosuch").collect()
    assert sc.parallelize([1, 2]).mapNative(udfs, "plus1").collect() == [2, 3]  # context still fine


def test_crash_kills_only_the_worker_and_names_function_and_signal(sc, udfs):
    rdd = sc.parallelize(range(20), 4).mapNative(udfs, "crash13")
    with pytest.raises(Exception) as info:
        rdd.collect()
    msg = str(info.value)
    assert "failed 4 times" in msg
    assert re.search(r"native function mapNative crash13 \(.*udfs.*\) crashed with signal 11 \(SIGSEGV\)", msg), msg
    # the driver lives on, the crashed workers were replaced
    assert sc.parallelize(range(10), 2).mapNative(udfs, "plus1").sum() == 55


def test_bad_arguments_fail_in_the_driver(sc, udfs, tmp_path):
    rdd = sc.parallelize([1])
    with pytest.raises(FileNotFoundError, match="no shared library at .*nope.so; build one with "
                                                "ember.native.compile"):
        rdd.mapNative(str(tmp_path / "nope.so"), "f")
    with pytest.raises(ValueError, match="is not the name of a C function"):
        rdd.filterNative(udfs, "not a name")
    bad = tmp_path / "bad.c"
    bad.write_text("int f(void) { return syntax error; }\n")
    with pytest.raises(RuntimeError, match=r"compiling .*bad.c failed"):
        native.compile(str(bad))


def test_map_partitions_native(sc, udfs, tmp_path):
    rdd = sc.parallelize(range(100), 4)  # pickled records: through NativeFn in the Python worker
    want = [(sum(p), len(p)) for p in rdd.glom().collect()]
    assert rdd.mapPartitionsNative(udfs, "sum_count").collect() == want
    assert sc.range(0, 100, 1, 4).mapPartitionsNative(udfs, "sum_count").collect() == want  # in C, whole
    with pytest.raises(Exception, match="sum_count: expected ints, got str"):
        sc.parallelize(["x"], 1).mapPartitionsNative(udfs, "sum_count").collect()


def test_partition_by_a_native_partitioner(sc, udfs):
    by_int = native.partitioner(udfs, "by_int")
    pairs = sc.parallelize([(i, str(i)) for i in range(20)] + [("s", 0)], 3)  # pickled: NativeFn partitions
    parts = pairs.partitionBy(4, by_int).glom().collect()
    assert [sorted(k for k, _ in p if isinstance(k, int)) for p in parts] == [
        [i for i in range(20) if i % 4 == r] for r in range(4)]
    assert ("s", 0) in parts[3]
    moved = pairs.partitionBy(4, by_int)
    assert moved.partitionBy(4, native.partitioner(udfs, "by_int")) is moved  # same partitioner: no shuffle
    typed = sc.range(0, 20, 1, 2).mapNative(udfs, "pair_self")  # native steps only: partitioned in C
    assert [sorted(p) for p in typed.partitionBy(2, by_int).glom().collect()] == [
        [(i, i) for i in range(0, 20, 2)], [(i, i) for i in range(1, 20, 2)]]
    with pytest.raises(Exception, match="by_int: cannot place a float key"):
        sc.parallelize([(1.5, 1)], 1).partitionBy(2, by_int).collect()
    with pytest.raises(Exception, match="returned partition 2, not one of the 2 partitions"):
        sc.parallelize([(1, 1)], 1).partitionBy(2, native.partitioner(udfs, "too_far")).collect()
    with pytest.raises(TypeError, match="not a merge function"):
        pairs.partitionBy(2, native.merge(udfs, "max_int"))
