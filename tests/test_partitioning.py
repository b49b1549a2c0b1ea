"""The same key lands in the same partition whatever PYTHONHASHSEED the driver has."""
import json

from conftest import run_python

PROGRAM = r"""
import json
from ember import SparkContext, portable_hash
with SparkContext("local[2]", "seeds") as sc:
    keys = ["apple", "b", "", "long key " * 5, ("t", 1), None, 7, -1, 2.5, b"raw", "é漢"]
    pairs = sc.parallelize([(k, 1) for k in keys], 3)
    layout = pairs.partitionBy(4).glom().map(lambda p: [repr(k) for k, _ in p]).collect()
    reduced = pairs.reduceByKey(lambda a, b: a + b, 5).glom().map(lambda p: sorted(repr(k) for k, _ in p)).collect()
    print(json.dumps({"layout": layout, "reduced": reduced,
                      "driver_hashes": [portable_hash(k) for k in keys]}))
"""


def test_layout_independent_of_driver_hash_seed():
    results = []
    for seed in ["0", "1", "12345", "random"]:
        proc = run_python(PROGRAM, env={"PYTHONHASHSEED": seed})
        assert proc.returncode == 0, proc.stderr
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert all(r == results[0] for r in results[1:])


def test_string_hash_matches_python_with_seed_zero():
    proc = run_python("import json; print(json.dumps([hash(s) for s in ['apple', '', 'é漢', 'x' * 100]]"
                      " + [hash(b'raw')]))", env={"PYTHONHASHSEED": "0"})
    expected = json.loads(proc.stdout)
    from ember import portable_hash
    assert [portable_hash(s) for s in ["apple", "", "é漢", "x" * 100]] + [portable_hash(b"raw")] == expected


def test_portable_hash_golden_vectors():
    from ember import portable_hash
    assert portable_hash(None) == 0
    assert portable_hash((None, 1)) & 0xFFFFFFFF == 219750521


def test_custom_partition_func_does_not_leak_per_record(tmp_path):
    """shuffle_write with a partition function keeps no reference per record."""
    import sys

    from ember import _core

    def write(name):
        pairs = iter([(k, k) for k in range(20000)])
        return _core.shuffle_write(pairs, str(tmp_path / name), 1000, lambda k: k * 7, None, None,
                                   1 << 20, 1 << 20)

    write("warm")
    before = sys.getallocatedblocks()
    sizes = write("measured")
    assert len(sizes) == 1000 and all(s > 0 for s in sizes)
    assert sys.getallocatedblocks() - before < 1000
