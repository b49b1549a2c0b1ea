"""Live exchange of files with a running PySpark: ember writes pickle files, SequenceFiles
and compressed text that PySpark reads, and reads what PySpark writes.

PySpark runs once for the module, in a subprocess executing this file as a script: it
reads the directories ember wrote, writes its own, and pickles what it read. The
module is skipped when pyspark (and Java) are not installed; EMBER_PYSPARK_PYTHON
names another Python that has pyspark (default: this one).
"""
import bz2
import gzip
import os
import pickle
import shutil
import subprocess
import sys

import pytest

LINES = ["alpha", "beta gamma", "", "delta épsilon"] * 50
PICKLED = [{"a": 1}, (2, 3), None, "text", 4.5, [1, 2, 3], b"bytes", 10**20] * 30
SEQUENCES = {
    "seq_str_int": [("a", 1), ("b", 2), ("c", -3)],
    "seq_long_double": [(2**40, 0.5), (2**41, -1.5)],
    "seq_bool_bytes": [(True, bytearray(b"\x00\xff")), (False, bytearray(b""))],
    "seq_none_str": [(None, "v1"), (None, "v2")],
    "seq_big": [("key%d" % i, i) for i in range(20000)],
    "seq_long_text": [("k" * n, "é" * n) for n in (0, 127, 128, 255, 256, 70000)],
}
CODECS = ["GzipCodec", "BZip2Codec", "DefaultCodec"]
# Files read by both in several splits: which split each line goes to is Hadoop's rule.
SPLIT_FILES = ["multi.bz2", "plain.txt"]
SPLIT_PARTITIONS = [2, 3, 7, 16, 41]
# A UTF-8 byte order mark at the start of a file: Hadoop drops it.
BOM_FILES = {"bom.txt": b"\xef\xbb\xbfa\n\xef\xbb\xbfb\n", "bom_only.txt": b"\xef\xbb\xbf",
             "bom_line.txt": b"\xef\xbb\xbf\r\nx", "bom.gz": gzip.compress(b"\xef\xbb\xbfz\n")}


def _split_text():
    """Lines of every length, some "\r\n" and lone "\r": about 900 kB, so that a bzip2
    -1 file of it has 9 blocks."""
    import random
    rnd = random.Random(11)
    parts = []
    for i in range(30000):
        parts.append("".join(rnd.choices("abcdefghij ", k=rnd.choice([0, 1, 7, 30, 120]))) + str(i))
        parts.append(rnd.choice(["\n"] * 6 + ["\r\n", "\r"]))
    return "".join(parts).encode()


def _pyspark_side(ember_dir, out_dir, result_path):
    """Runs in the subprocess: reads ember's files with PySpark, writes PySpark's."""
    from pyspark import SparkConf, SparkContext
    sc = SparkContext("local[2]", "formats", conf=SparkConf().set("spark.ui.enabled", "false"))
    got = {}
    try:
        got["pickle"] = sc.pickleFile(os.path.join(ember_dir, "pickle")).collect()
        got["pickle_auto"] = sc.pickleFile(os.path.join(ember_dir, "pickle_auto")).collect()
        for name in SEQUENCES:
            got[name] = sc.sequenceFile(os.path.join(ember_dir, name)).collect()
        for codec in CODECS + ["ZStandardCodec"]:
            try:
                got["text_" + codec] = sc.textFile(os.path.join(ember_dir, "text_" + codec)).collect()
            except Exception as e:  # noqa: BLE001 - PySpark's own limits are recorded, not hidden
                causes = [ln.strip() for ln in str(e).splitlines() if "Exception:" in ln or "Error:" in ln]
                got["text_" + codec] = ("error", " | ".join(causes)[:2000])
        sc.parallelize(PICKLED, 3).saveAsPickleFile(os.path.join(out_dir, "pickle"), 4)
        for name, data in SEQUENCES.items():
            sc.parallelize(data, 2).saveAsSequenceFile(os.path.join(out_dir, name))
        for codec in CODECS:
            sc.parallelize(LINES, 2).saveAsTextFile(os.path.join(out_dir, "text_" + codec),
                                                    "org.apache.hadoop.io.compress." + codec)
        for name in BOM_FILES:
            got["bom_" + name] = sc.textFile(os.path.join(ember_dir, name)).collect()
        for name in SPLIT_FILES:
            for n in SPLIT_PARTITIONS:
                got[f"glom_{name}_{n}"] = sc.textFile(os.path.join(ember_dir, name), n).glom().collect()
    finally:
        sc.stop()
    with open(result_path, "wb") as f:
        pickle.dump(got, f)


def _pyspark_python():
    py = os.environ.get("EMBER_PYSPARK_PYTHON", sys.executable)
    if shutil.which("java") is None:
        return None
    ok = subprocess.run([py, "-c", "import pyspark"], capture_output=True).returncode == 0
    return py if ok else None


@pytest.fixture(scope="module")
def exchange(sc, tmp_path_factory):
    py = _pyspark_python()
    if py is None:
        pytest.skip("pyspark (and Java) are needed for the live exchange with PySpark")
    base = tmp_path_factory.mktemp("exchange")
    ember_dir, out_dir = base / "ember", base / "pyspark"
    ember_dir.mkdir()
    out_dir.mkdir()
    sc.parallelize(PICKLED, 3).saveAsPickleFile(str(ember_dir / "pickle"), 4)
    sc.parallelize(range(30000), 2).saveAsPickleFile(str(ember_dir / "pickle_auto"), 0)
    for name, data in SEQUENCES.items():
        sc.parallelize(data, 2).saveAsSequenceFile(str(ember_dir / name))
    for codec in CODECS + ["ZStandardCodec"]:
        sc.parallelize(LINES, 2).saveAsTextFile(str(ember_dir / ("text_" + codec)),
                                                "org.apache.hadoop.io.compress." + codec)
    text = _split_text()
    (ember_dir / "multi.bz2").write_bytes(bz2.compress(text, 1))
    (ember_dir / "plain.txt").write_bytes(text)
    for name, data in BOM_FILES.items():
        (ember_dir / name).write_bytes(data)
    result = base / "result.pickle"
    env = dict(os.environ, PYSPARK_PYTHON=py)
    env.pop("LD_PRELOAD", None)  # under `make asan`: the JVM does not run with the ASan runtime
    run = subprocess.run([py, __file__, str(ember_dir), str(out_dir), str(result)], capture_output=True,
                         text=True, env=env, timeout=float(os.environ.get("EMBER_DIFF_PYSPARK_TIMEOUT", 900)))
    assert run.returncode == 0, run.stderr[-3000:]
    with open(result, "rb") as f:
        return pickle.load(f), out_dir


def test_pyspark_reads_ember_pickle_files(exchange):
    got, _ = exchange
    assert got["pickle"] == PICKLED
    assert got["pickle_auto"] == list(range(30000))


@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_pyspark_reads_ember_sequence_files(exchange, name):
    got, _ = exchange
    assert got[name] == SEQUENCES[name]


@pytest.mark.parametrize("codec", CODECS)
def test_pyspark_reads_ember_compressed_text(exchange, codec):
    got, _ = exchange
    assert got["text_" + codec] == LINES


def test_pyspark_cannot_read_zstd_without_native_hadoop(exchange):
    # Hadoop's ZStandardCodec needs libhadoop's native code, which PySpark's wheel lacks;
    # ember writes standard zstd frames, which a Hadoop with native zstd reads.
    got, _ = exchange
    result = got["text_ZStandardCodec"]
    assert result == LINES or (result[0] == "error" and "native" in result[1].lower()), result


def test_ember_reads_pyspark_pickle_files(sc, exchange):
    _, out = exchange
    assert sc.pickleFile(str(out / "pickle")).collect() == PICKLED


@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_ember_reads_pyspark_sequence_files(sc, exchange, name):
    _, out = exchange
    assert sc.sequenceFile(str(out / name), minSplits=3).collect() == SEQUENCES[name]


@pytest.mark.parametrize("codec", CODECS)
def test_ember_reads_pyspark_compressed_text(sc, exchange, codec):
    _, out = exchange
    assert sc.textFile(str(out / ("text_" + codec))).collect() == LINES


@pytest.mark.parametrize("name", sorted(BOM_FILES))
def test_a_byte_order_mark_is_dropped_as_in_pyspark(sc, exchange, name):
    got, out = exchange
    path = os.path.join(os.path.dirname(out), "ember", name)
    assert sc.textFile(path).collect() == got["bom_" + name]


@pytest.mark.parametrize("name", SPLIT_FILES)
@pytest.mark.parametrize("n", SPLIT_PARTITIONS)
def test_lines_go_to_the_same_splits_as_in_pyspark(sc, exchange, name, n):
    """A multi-block .bz2 file and a plain one, cut in n or more splits: every split
    holds the same lines as in PySpark (so the whole equals the file read unsplit)."""
    got, _ = exchange
    path = os.path.join(os.path.dirname(exchange[1]), "ember", name)
    ours = sc.textFile(path, n).glom().collect()
    assert len(ours) == len(got[f"glom_{name}_{n}"])
    assert ours == got[f"glom_{name}_{n}"]
    assert [ln for part in ours for ln in part] == sc.textFile(path, 1).collect()


if __name__ == "__main__":
    _pyspark_side(*sys.argv[1:4])
