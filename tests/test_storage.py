"""The block store under a tiny memory budget (spark.executor.memory=8m with no
reserved memory: 4.8 MiB for blocks and the engine's working memory, 2.4 MiB of it
kept for blocks): every storage level evicts, spills or recomputes, and the results
equal the unbudgeted ones. Each case runs in its own interpreter (one context each)."""
import textwrap

from conftest import run_python

_PRELUDE = """
import glob, os
from ember import SparkConf, SparkContext, StorageLevel
conf = (SparkConf().set("spark.executor.memory", "8m").set("spark.testing.reservedMemory", "0"))
LIMIT = int(8 * 2**20 * 0.6)
sc = SparkContext("local[2]", "storage", conf=conf)
calls = sc.accumulator(0)

def rows(n, offset=0):
    def row(i):
        calls.add(1)
        return (i, f"{i:08d}" * 25)
    return sc.range(offset, offset + n, numSlices=10).map(row)

def expected(n, offset=0):
    return [(i, f"{i:08d}" * 25) for i in range(offset, offset + n)]

def status(rdd):
    [info] = [i for i in sc._storage_status() if i["id"] == rdd.id()]
    return info

def block_files():
    return glob.glob(os.path.join(sc._core.tmpdir, "*.block"))
"""


def _run(body):
    proc = run_python(_PRELUDE + textwrap.dedent(body) + "\nsc.stop()\nprint('ok')\n", timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stdout + proc.stderr


def test_memory_only_evicts_least_recently_used_and_recomputes():
    _run("""
    a = rows(8000).cache()                   # about 1.7 MB pickled: fits
    assert a.count() == 8000
    assert status(a)["num_cached_partitions"] == 10 and status(a)["disk_used"] == 0
    before = calls.value
    assert a.collect() == expected(8000) and calls.value == before   # read from the cache
    b = rows(16000, 8000).cache()            # about 3.5 MB more: a's least recently used go
    assert b.collect() == expected(16000, 8000)
    sa, sb = status(a), status(b)
    assert sa["num_cached_partitions"] < 10, sa
    assert sa["memory_used"] + sb["memory_used"] <= LIMIT, (sa, sb)
    assert sa["storage_level"] == "Memory Serialized 1x Replicated"
    before = calls.value
    assert a.collect() == expected(8000)     # dropped partitions computed again
    assert calls.value > before
    big = rows(40000, 50000).cache()         # bigger than the whole budget: part kept, all right
    assert big.collect() == expected(40000, 50000)
    kept = status(big)["num_cached_partitions"]
    assert 0 < kept < 10
    before = calls.value
    assert big.count() == 40000              # what was not kept is computed once (and kept if it fits now)
    assert calls.value - before == (10 - kept) * 4000 and status(big)["num_cached_partitions"] >= kept
    assert not block_files()                 # MEMORY_ONLY never writes a file
    info = sc.statusTracker().getExecutorInfos()[0]
    assert info.totalOnHeapStorageMemory == LIMIT and 0 < info.usedOnHeapStorageMemory <= LIMIT
    """)


def test_memory_and_disk_spills_reads_back_and_recomputes_a_bad_file():
    _run("""
    d = rows(40000).persist(StorageLevel.MEMORY_AND_DISK)     # about 8.6 MB
    assert d.count() == 40000
    s = status(d)
    assert s["num_cached_partitions"] == 10 and s["disk_used"] > 0 and s["memory_used"] <= LIMIT, s
    files = block_files()
    assert files
    before = calls.value
    assert d.collect() == expected(40000) and calls.value == before   # memory and files, nothing computed
    with open(files[0], "r+b") as f:         # damage one block file: it is computed again
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 0xFF]))
    os.remove(files[1])                      # and lose another
    assert d.collect() == expected(40000)
    assert calls.value == before + 2 * 4000
    assert d.map(lambda r: r[0]).sum() == sum(range(40000))
    d.unpersist()
    assert not block_files() and not [i for i in sc._storage_status() if i["id"] == d.id()]
    e = rows(40000).persist(StorageLevel.MEMORY_AND_DISK_2)   # one copy, on this machine
    assert e.count() == 40000 and block_files()
    tmp = sc._core.tmpdir
    sc.stop()
    assert not os.path.exists(tmp)           # stop() leaves no block file
    """)


def test_disk_only_writes_files_and_holds_no_memory():
    _run("""
    for level in (StorageLevel.DISK_ONLY, StorageLevel.DISK_ONLY_2, StorageLevel.OFF_HEAP):
        r = rows(20000).persist(level)
        assert r.collect() == expected(20000)
        s = status(r)
        assert s["num_cached_partitions"] == 10, s
        if level.useMemory or level.useOffHeap:
            assert s["memory_used"] > 0 or s["disk_used"] > 0
        else:
            assert s["memory_used"] == 0 and s["disk_used"] > 0, s
        before = calls.value
        assert r.filter(lambda x: x[0] % 2).count() == 10000 and calls.value == before
        if not level.useMemory:              # the workers read the files: a damaged one is computed again
            [path] = [p for p in block_files() if p.endswith("-3.block")]
            with open(path, "r+b") as f:
                f.truncate(os.path.getsize(path) - 1)
            assert r.collect() == expected(20000) and calls.value == before + 2000
        r.unpersist()
        assert not block_files()
    """)


def test_a_full_disk_fails_the_job_naming_spark_local_dir():
    # RLIMIT_FSIZE stands in for a full disk: writing past it fails (EFBIG).
    _run("""
    import resource, signal
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, resource.RLIM_INFINITY))
    r = rows(8000).persist(StorageLevel.DISK_ONLY)
    try:
        r.count()
        raise AssertionError("a block write past the file size limit did not fail the job")
    except Exception as e:
        text = str(e)
    assert "spark.local.dir" in text and "cached partition" in text and "File too large" in text, text
    assert not [f for f in os.listdir(sc._core.tmpdir) if f.endswith(".tmp")]
    r.unpersist()
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    assert rows(100).count() == 100          # the context stays usable
    """)


def test_budget_keys_are_checked():
    proc = run_python(textwrap.dedent("""
    from ember import SparkConf, SparkContext
    for key, value, words in [("spark.executor.memory", "100m", "must be at least"),
                              ("spark.executor.memory", "lots", "not a memory size"),
                              ("spark.memory.fraction", "1.5", "between 0 and 1"),
                              ("spark.memory.storageFraction", "x", "between 0 and 1")]:
        try:
            SparkContext("local[1]", "bad", conf=SparkConf().set(key, value))
            raise AssertionError(f"{key}={value} was accepted")
        except ValueError as e:
            assert key in str(e) and words in str(e), str(e)
    print("ok")
    """))
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stdout + proc.stderr
