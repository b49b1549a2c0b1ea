"""Mixed lineages (issue 16): a C-built RDD handed to Python is an ordinary RDD
(ember.native.call), Python RDDs are processed by C functions, a C program hands
its RDDs to Python steps (ember_node_python, tests/native/driver.c), and every mix
gives the pure Python path's answer. Native steps over text or native shuffles run in C
in the Python worker (_core.native_run); over pickled records through NativeFn."""

import os
import signal
import subprocess
import sys

import pytest
from conftest import build_with_libember

from ember import native

HERE = os.path.dirname(os.path.abspath(__file__))

LINES = ["the quick brown fox", "jumps over the lazy dog", "", "the end é", "naïve 日本 the"] * 40


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    """tests/native/mixed.c with the example's tokenize and add, compiled afresh (the
    compile cache would not see a change of the second file)."""
    udf = os.path.join(os.path.dirname(HERE), "examples", "native_udf", "wordcount.c")
    out = str(tmp_path_factory.mktemp("lib") / "mixed.so")
    return native.compile(os.path.join(HERE, "native", "mixed.c"), output=out, cflags=[udf])


@pytest.fixture(scope="module")
def text(tmp_path_factory):
    path = tmp_path_factory.mktemp("mixed") / "lines.txt"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    return str(path)


def python_counts(sc, rdd):
    return sorted(rdd.flatMap(lambda line: line.split()).map(lambda w: (w, 1)).reduceByKey(lambda a, b: a + b)
                  .collect())


def test_c_built_rdd_transformed_in_python(sc, lib, text):
    lines = sc.textFile(text, 3)
    counts = native.call(lib, "word_counts", lines)
    assert counts.getNumPartitions() == 3
    doubled = counts.map(lambda kv: (kv[0], kv[1] * 2)).filter(lambda kv: kv[1] > 2)
    want = [(w, 2 * n) for w, n in python_counts(sc, lines) if 2 * n > 2]
    assert sorted(doubled.collect()) == want


def test_c_built_rdd_from_c_records(sc, lib):
    squares = native.call(lib, "squares", sc=sc)
    assert squares.getNumPartitions() == 3
    assert squares.collect() == [i * i for i in range(10)]
    assert squares.map(lambda x: x + 1).sum() == sum(i * i + 1 for i in range(10))
    with pytest.raises(RuntimeError, match="word_counts takes one RDD of lines, got 0"):
        native.call(lib, "word_counts", sc=sc)


def test_native_text_job_runs_in_c_and_matches_python(sc, lib, text):
    lines = sc.textFile(text, 4)
    counts = lines.flatMapNative(lib, "tokenize").reduceByKey(native.merge(lib, "add"), 2)
    assert sorted(counts.collect()) == python_counts(sc, lines)
    # Python steps after the native reduce side read its typed shuffle output
    assert sorted(counts.mapValues(lambda n: -n).collect()) == [(w, -n) for w, n in python_counts(sc, lines)]


def test_python_rdds_by_c_functions(sc, lib):
    data = sc.parallelize(LINES, 4)  # pickled records: C functions through NativeFn
    counts = data.flatMapNative(lib, "tokenize").reduceByKey(native.merge(lib, "add"))
    assert sorted(counts.collect()) == python_counts(sc, data)
    # a Python shuffle's (pickled) output under a native step
    pairs = data.flatMap(str.split).map(lambda w: (w, len(w))).partitionBy(3)
    assert sorted(pairs.mapNative(lib, "swap").collect()) == sorted((n, w) for w, n in pairs.collect())


def test_every_record_type_round_trips_through_c(sc, lib):
    objs = [None, True, False, 0, -1, 2 ** 63, -(2 ** 70), 1.5, float("inf"), "", "é日本", b"", b"\x00\xff",
            (), (1, "a"), [], [1, [2, (3,)]], {}, {"k": [1, None], 2: b"x"}]
    assert sc.parallelize(objs, 3).mapNative(lib, "same").collect() == objs


def test_crash_in_a_c_step_over_text_names_the_function(sc, lib, tmp_path):
    path = tmp_path / "boom.txt"
    path.write_text("fine\nboom here\n")
    with pytest.raises(Exception) as info:
        sc.textFile(str(path), 1).flatMapNative(lib, "crash_on_boom").collect()
    msg = str(info.value)
    assert "crash_on_boom" in msg and f"signal {int(signal.SIGSEGV)} (SIGSEGV)" in msg
    assert "failed 4 times" in msg
    assert sc.parallelize([1, 2]).count() == 2  # the context is still usable


# ---- a C program driving a mixed lineage (tests/native/driver.c) ---------------------

ROOT = os.path.dirname(HERE)


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    """tests/native/driver.c with libember's sources, linked with -rdynamic (the library
    it dlopens resolves ember_* against it), by the system compiler."""
    return build_with_libember(str(tmp_path_factory.mktemp("driver") / "driver"),
                               [os.path.join(HERE, "native", "driver.c")], ["-rdynamic"])


def run_driver(driver, lib, text, case=None):
    pythonpath = os.pathsep.join([os.path.join(HERE, "native")] + [os.path.abspath(p) for p in sys.path if p])
    cmd = [driver, sys.executable, pythonpath, lib, text] + ([case] if case else [])
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_c_program_hands_its_rdds_to_python_steps(sc, lib, driver, text):
    r = run_driver(driver, lib, text)
    assert r.returncode == 0, r.stdout + r.stderr
    *rows, records, sizes = r.stdout.splitlines()
    got = sorted((w, int(n)) for w, n in (row.split("\t") for row in rows))
    counts = {}
    for w, n in python_counts(sc, sc.textFile(text, 3)):
        counts[w.upper()] = counts.get(w.upper(), 0) + n
    want = sorted((w, n) for w, n in counts.items() if n >= 2)
    assert got == want
    assert records == f"records {len(want)}"
    per_partition = [int(x) for x in sizes.split()[1].split(",")]
    assert len(per_partition) == 3 and sum(per_partition) == len(want)


@pytest.mark.parametrize("case, message", [
    ("unimportable", "mixed_steps:no_such_function"),
    ("unencodable", "cannot encode set"),
    ("executable", "shared librar"),
    ("native", "ember_context_create_python"),
])
def test_c_program_python_step_errors(lib, driver, text, case, message):
    r = run_driver(driver, lib, text, case)
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stdout.startswith("error ") and message in r.stdout
