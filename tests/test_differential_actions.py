"""The same small programs on ember and on a real PySpark, results compared.

Each ``prog_*(sc)`` gets a SparkContext (ember's session context, or one module-wide
PySpark context) and returns plain data. The reference is PySpark 4.3 (the Makefile installs
pyspark==4.3.0; it needs a Java runtime): without it the module is skipped, or fails when
EMBER_REQUIRE_PYSPARK is set (as in CI).

Programs in DIFFERENT show deliberate differences from PySpark; for them the test
checks that the results do differ (so the list stays true) and shows both. Everything
else must be equal.
"""
import os
import re
import shutil
import sys
import tempfile

import pytest
from conftest import pyspark_or_skip

pytestmark = pytest.mark.differential

RESULTS = {"compared": 0, "equal": 0, "different": []}
_SCRATCH = []


def scratch():
    """A temporary directory, removed when the module's tests end."""
    d = tempfile.mkdtemp(prefix="ember-diff-")
    _SCRATCH.append(d)
    return d


@pytest.fixture(scope="module")
def psc():
    pyspark_or_skip()
    from pyspark import SparkConf as PConf
    from pyspark import SparkContext as PContext
    from pyspark import cloudpickle
    os.environ["PYSPARK_PYTHON"] = sys.executable
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    conf = (PConf().setMaster("local[2]").setAppName("differential")
            .set("spark.ui.enabled", "false").set("spark.ui.showConsoleProgress", "false"))
    try:
        ctx = PContext(conf=conf)
    except Exception as e:  # no usable JVM here
        if os.environ.get("EMBER_REQUIRE_PYSPARK"):
            pytest.fail(f"EMBER_REQUIRE_PYSPARK is set but PySpark did not start: {e}")
        pytest.skip(f"PySpark did not start: {e}")
    ctx.setLogLevel("ERROR")
    yield ctx
    ctx.stop()
    for d in _SCRATCH:
        shutil.rmtree(d, ignore_errors=True)


def lib(sc):
    """The package the context comes from (ember or pyspark)."""
    return sys.modules[type(sc).__module__.split(".")[0]]


def err(f):
    """(exception type, first line) of what f raises, for Python-side errors."""
    try:
        f()
    except Exception as e:
        return type(e).__name__, str(e).splitlines()[0] if str(e) else ""
    return None


def files(tree):
    """Makes a temporary directory with files {name: bytes}; returns its path."""
    d = scratch()
    for name, data in tree.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    return d


TEXTS = {"f0.txt": b"hello\nworld\n", "f1.txt": b"x" * 100, "f2.txt": b"", "f3.txt": b"abc\xffdef",
         "_skipped": b"no", ".hidden": b"no"}

# ---- collecting and counting ------------------------------------------------------------------


def prog_collect_as_map(sc):
    return sc.parallelize([(1, 2), (3, 4), (1, 5)], 2).collectAsMap()


def prog_count_by_value(sc):
    c = sc.parallelize(["a", "b", "a", None, "a", None], 3).countByValue()
    return type(c).__name__, sorted(c.items(), key=repr)


def prog_count_by_key(sc):
    c = sc.parallelize([("a", 1), ("b", 1), ("a", 1)]).countByKey()
    return type(c).__name__, sorted(c.items())


def prog_reduce_by_key_locally(sc):
    pairs = sc.parallelize([("k", "x"), ("j", "1"), ("k", "y"), ("k", "z"), ("j", "2")], 3)
    return pairs.reduceByKeyLocally(lambda a, b: a + b), sc.parallelize([], 2).reduceByKeyLocally(max)


def prog_is_empty(sc):
    return (sc.parallelize([], 2).isEmpty(), sc.parallelize([1]).isEmpty(), sc.emptyRDD().isEmpty(),
            sc.parallelize(range(10), 10).filter(lambda x: x == 9).isEmpty())


def prog_lookup(sc):
    pairs = sc.parallelize([(i % 4, i) for i in range(20)], 3)
    saved = os.environ.get("PYTHONHASHSEED")
    os.environ["PYTHONHASHSEED"] = "0"  # PySpark's driver-side partitioner checks it
    try:
        return sorted(pairs.lookup(1)), pairs.lookup(9), sorted(pairs.partitionBy(3).lookup(2))
    finally:
        if saved is None:
            del os.environ["PYTHONHASHSEED"]
        else:
            os.environ["PYTHONHASHSEED"] = saved


def prog_foreach(sc):
    d = scratch()

    def touch(x):
        open(os.path.join(d, str(x)), "w").close()

    r1 = sc.parallelize(range(5), 2).foreach(touch)
    r2 = sc.parallelize(range(5, 8), 2).foreachPartition(lambda it: [touch(x) for x in it])
    r3 = sc.parallelize([8, 9], 1).foreachPartition(lambda it: (touch(x) for x in it))
    return r1, r2, r3, sorted(int(n) for n in os.listdir(d))


def prog_to_local_iterator(sc):
    rdd = sc.parallelize(range(10), 4)
    return (list(rdd.toLocalIterator()), list(rdd.toLocalIterator(prefetchPartitions=True)),
            list(sc.emptyRDD().toLocalIterator()), type(rdd.toLocalIterator()).__name__ != "list")


def prog_take(sc):
    rdd = sc.parallelize(range(100), 20).filter(lambda x: x % 7 == 3)
    return rdd.take(0), rdd.take(1), rdd.take(5), rdd.take(1000)[-2:], rdd.first()

# ---- ordering and sampling ---------------------------------------------------------------------


def prog_take_ordered(sc):
    rdd = sc.parallelize([10, 1, 2, 9, 3, 4, 5, 6, 7], 3)
    return (rdd.takeOrdered(6), rdd.takeOrdered(6, key=lambda x: -x), rdd.takeOrdered(0),
            rdd.takeOrdered(100), sc.emptyRDD().takeOrdered(2))


def prog_top(sc):
    rdd = sc.parallelize([10, 4, 2, 12, 3], 2)
    return (rdd.top(1), rdd.top(3), rdd.top(3, key=str), rdd.top(0), rdd.top(-2),
            sc.parallelize([], 3).top(2))


def prog_take_sample_without_replacement(sc):
    rdd = sc.parallelize(range(1000), 10)
    return rdd.takeSample(False, 5, 1), rdd.takeSample(False, 50, 12345)


def prog_take_sample_with_replacement(sc):
    rdd = sc.parallelize(range(1000), 10)
    return rdd.takeSample(True, 5, 2), rdd.takeSample(True, 30, 99)


def prog_take_sample_everything(sc):
    return (sc.parallelize(range(5), 2).takeSample(False, 10, 7),
            sc.parallelize(range(30), 3).takeSample(False, 30, 3),
            sc.parallelize(range(20), 4).takeSample(True, 40, 5))


def prog_take_sample_edges(sc):
    return (sc.parallelize(range(10)).takeSample(False, 0, 1), sc.emptyRDD().takeSample(True, 3, 1),
            sc.parallelize([], 2).takeSample(False, 3, 1), len(sc.parallelize(range(10)).takeSample(True, 7)))

# ---- folds and aggregates ----------------------------------------------------------------------


def prog_fold(sc):
    add = lambda a, b: a + b  # noqa: E731
    return (sc.parallelize([1, 2, 3], 3).fold(10, add), sc.parallelize(range(10), 4).fold(0, add),
            sc.emptyRDD().fold(5, add), sc.parallelize([[1], [2]], 2).fold([], add))


def prog_aggregate(sc):
    seq = lambda acc, x: (acc[0] + x, acc[1] + 1)  # noqa: E731
    comb = lambda a, b: (a[0] + b[0], a[1] + b[1])  # noqa: E731
    return (sc.parallelize([1, 2, 3, 4], 2).aggregate((0, 0), seq, comb),
            sc.parallelize([]).aggregate((0, 0), seq, comb),
            sc.parallelize([1, 2, 3], 3).aggregate(10, lambda a, x: a + x, lambda a, b: a + b))


def prog_aggregate_mutable_zero(sc):
    got = sc.parallelize(range(10), 5).aggregate([], lambda a, x: a.append(x) or a, lambda a, b: a.extend(b) or a)
    return sorted(got)


def prog_tree_aggregate(sc):
    add = lambda a, b: a + b  # noqa: E731
    rdd = sc.parallelize([-5, -4, -3, -2, -1, 1, 2, 3, 4], 10)
    return ([rdd.treeAggregate(0, add, add, d) for d in (1, 2, 3, 5)],
            sc.parallelize([1, 2, 3], 3).treeAggregate(10, add, add),
            sc.parallelize(range(100), 16).treeAggregate((0, 0), lambda a, x: (a[0] + x, a[1] + 1),
                                                         lambda a, b: (a[0] + b[0], a[1] + b[1]), 3))


def prog_tree_reduce(sc):
    add = lambda a, b: a + b  # noqa: E731
    rdd = sc.parallelize(range(1000), 10)
    return [rdd.treeReduce(add, d) for d in (1, 2, 4)], sc.parallelize(["a", "b", "c"], 3).treeReduce(add)


def prog_max_min(sc):
    words = sc.parallelize(["aa", "b", "cccc", "ddd"], 2)
    nums = sc.parallelize([1.0, 5.0, 43.0, 10.0])
    return (words.max(), words.min(), words.max(key=len), words.min(key=len), nums.max(key=str),
            nums.min(key=str))

# ---- statistics -----------------------------------------------------------------------------------


def prog_moments(sc):
    rdd = sc.parallelize(range(1000), 10)
    return rdd.mean(), rdd.variance(), rdd.stdev(), rdd.sampleVariance(), rdd.sampleStdev(), rdd.sum()


def prog_stats(sc):
    s = sc.parallelize([1, 2, 3, 4], 2).stats()
    f = sc.parallelize([1.0, 2.0, 3.0, 4.0, 10.0], 3).stats()
    return repr(s), s.count(), s.sum(), s.max(), type(s.max()).__name__, f.asDict(), f.asDict(True)


def prog_stats_empty(sc):
    return repr(sc.parallelize([], 2).stats()), sc.parallelize([], 2).mean()


def prog_statcounter_class(sc):
    StatCounter = lib(sc).statcounter.StatCounter
    a = StatCounter([1.0, 2.0])
    b = StatCounter(float(i) for i in range(30))
    a.mergeStats(b)
    c = StatCounter([5.0])
    c.mergeStats(c)
    return repr(a), repr(c), repr(StatCounter()), a.copy().merge(100.0).max(), err(lambda: a.mergeStats([1]))


def prog_histogram_int(sc):
    return (sc.parallelize(range(51)).histogram(2), sc.parallelize(range(10), 3).histogram(3),
            sc.parallelize([1.0, 2.5, 3.3, float("nan"), None, 7], 2).histogram(3),
            sc.parallelize([3, 3, 3]).histogram(4), sc.parallelize([1, 2, 3]).histogram(1))


def prog_histogram_list(sc):
    return (sc.parallelize(range(51)).histogram([0, 5, 25, 50]),
            sc.parallelize(range(51), 2).histogram([0, 15, 30, 45, 60]),
            sc.parallelize([0, 1, 2, 3, 4, 5, 10, 11, 20], 2).histogram([0, 2, 10, 20]),
            sc.parallelize([-1, 0, 10, 11, 20, 21]).histogram((0, 10, 20)),
            sc.parallelize(["ab", "ac", "b", "bd", "ef"]).histogram(("a", "b", "c")),
            sc.parallelize([0.1, 0.2, 0.35, 0.4]).histogram([0.0, 0.1, 0.2, 0.3, 0.4]))


def prog_histogram_errors(sc):
    one = sc.parallelize([1, 2])
    return [err(lambda b=b: one.histogram(b)) for b in (0, [1], [3, 1], [1, 1, 2], [1, float("nan")], "ab")] + [
        err(lambda: sc.parallelize([1.0, float("inf")]).histogram(2)),
        err(lambda: sc.parallelize(["a", "b"]).histogram(2)),
        err(lambda: sc.parallelize([], 2).histogram(3))]

# ---- approximate ------------------------------------------------------------------------------------


def prog_approx_exact_when_complete(sc):
    rdd = sc.parallelize(range(1000), 10)
    s, m = rdd.sumApprox(10000), rdd.meanApprox(10000, 0.9)
    e = sc.parallelize([], 2).sumApprox(10000)
    return (rdd.countApprox(10000), type(s).__name__, s, s.confidence, s.low, s.high, m, m.low, m.high,
            e, e.low, e.high)


def prog_count_approx_distinct_small(sc):
    return [sc.parallelize(range(n), 3).countApproxDistinct() for n in (0, 1, 10)]


def prog_count_approx_distinct_within_error(sc):
    out = []
    for n, rsd in ((1000, 0.05), (5000, 0.05), (20000, 0.01)):
        est = sc.parallelize(range(n), 3).countApproxDistinct(rsd)
        out.append(abs(est - n) / n < 4 * rsd)
    est = sc.parallelize(range(1000)).map(str).countApproxDistinct()
    out.append(900 < est < 1100)
    out.append(err(lambda: sc.parallelize([1]).countApproxDistinct(0.00001)))
    out.append(sc.parallelize([1, 1, 1]).countApproxDistinct(0.5))
    return out

# ---- errors of misuse --------------------------------------------------------------------------------


def prog_misuse_errors(sc):
    add = lambda a, b: a + b  # noqa: E731
    rdd = sc.parallelize(range(10), 2)
    return [err(lambda: rdd.takeOrdered(-1)), err(lambda: rdd.takeSample(False, -1)),
            err(lambda: rdd.takeSample(False, 2 ** 63)), err(lambda: sc.parallelize([], 2).treeReduce(add)),
            err(lambda: rdd.treeReduce(add, 0)), err(lambda: rdd.treeAggregate(0, add, add, 0)),
            err(lambda: sc.parallelize([], 2).reduce(add)), err(lambda: sc.emptyRDD().first()),
            err(lambda: sc.parallelize([], 2).max()), err(lambda: sc.emptyRDD().stats()),
            err(lambda: sc.emptyRDD().top(1))]

def prog_empty_rdd_actions(sc):
    e = sc.emptyRDD()
    add = lambda a, b: a + b  # noqa: E731
    return [err(lambda: e.countByValue()), err(lambda: e.countByKey()), err(lambda: e.reduceByKeyLocally(add)),
            err(lambda: e.mean()), err(lambda: e.histogram([1, 2])), e.sumApprox(10), e.meanApprox(10),
            e.countApprox(10), e.countApproxDistinct(), e.collectAsMap(), e.lookup(1), e.foreach(print),
            e.takeOrdered(2), e.fold(0, add), e.treeAggregate(1, add, add), e.count(), e.sum()]


def prog_take_sample_more_seeds(sc):
    return (sc.parallelize(range(100), 4).takeSample(False, 10, 0),
            sc.parallelize(range(7), 3).takeSample(True, 20, 11))


# ---- sources ---------------------------------------------------------------------------------------


def prog_empty_rdd(sc):
    e = sc.emptyRDD()
    return e.getNumPartitions(), e.collect(), e.count(), e.sum(), e.take(2), e.union(sc.parallelize([1])).collect()


def prog_whole_text_files(sc):
    d = files(TEXTS)
    rdd = sc.wholeTextFiles(d)
    got = sorted((k.replace("file:" + d, "DIR"), v) for k, v in rdd.collect())
    counts = [sc.wholeTextFiles(d, n).getNumPartitions() for n in (None, 1, 3, 10)]
    return got, counts, rdd.name() == d


def prog_whole_text_files_bytes(sc):
    d = files(TEXTS)
    raw = sc.wholeTextFiles(os.path.join(d, "f3.txt"), use_unicode=False).collect()
    return [(k.replace(b"file:" + d.encode(), b"DIR"), v) for k, v in raw]


def prog_whole_text_files_glob_and_list(sc):
    d = files(TEXTS)
    a = sorted(os.path.basename(k) for k, _ in sc.wholeTextFiles(os.path.join(d, "f[01].txt")).collect())
    b = sorted(os.path.basename(k) for k, _ in
               sc.wholeTextFiles(f"{d}/f0.txt,{d}/f2.txt").collect())
    return a, b


def prog_binary_files(sc):
    d = files({f"b{i}.bin": bytes(range(i, i + 20)) for i in range(6)})
    rdd = sc.binaryFiles(d)
    got = sorted((k.replace("file:" + d, "DIR"), v) for k, v in rdd.collect())
    return got, rdd.getNumPartitions(), sc.binaryFiles(d, 10).getNumPartitions()


def prog_binary_records(sc):
    d = files({"r.bin": bytes(range(30))})
    p = os.path.join(d, "r.bin")
    return sc.binaryRecords(p, 5).collect(), sc.binaryRecords(p, 10).getNumPartitions(), \
        sc.binaryRecords(d, 3).count()


def prog_pickle_file_round_trip(sc):
    d = scratch()
    data = [{"k": i, "v": (i, str(i))} for i in range(100)] + [None, b"b", 1.5]
    out = os.path.join(d, "pk")
    r = sc.parallelize(data, 3).saveAsPickleFile(out, 7)
    back = sc.pickleFile(out)
    auto = os.path.join(d, "auto")
    sc.parallelize(data, 2).saveAsPickleFile(auto, 0)
    return (r, sorted(n for n in os.listdir(out) if not n.endswith(".crc")), back.getNumPartitions(),
            sorted(map(repr, back.collect())) == sorted(map(repr, data)),
            sorted(map(repr, sc.pickleFile(auto).collect())) == sorted(map(repr, data)))


def prog_union_of_many(sc):
    rdds = [sc.parallelize(range(i * 3, i * 3 + 3), 2) for i in range(5)]
    u = sc.union(rdds)
    return u.getNumPartitions(), u.collect(), sc.union([sc.parallelize(["a"]), sc.emptyRDD()]).collect()


def prog_text_file(sc):
    d = files({"t.txt": b"a\nb\xff\n"})
    p = os.path.join(d, "t.txt")
    return sc.textFile(p).collect(), sc.textFile(p, use_unicode=False).collect(), sc.textFile(p).name() == p

# ---- persistence and identity -------------------------------------------------------------------------


def prog_persist(sc):
    StorageLevel = lib(sc).StorageLevel
    rdd = sc.parallelize([1, 2, 3])
    out = [rdd.is_cached, str(rdd.getStorageLevel()), repr(rdd.getStorageLevel())]
    rdd.persist(StorageLevel.DISK_ONLY)
    out += [rdd.is_cached, str(rdd.getStorageLevel()), rdd.collect()]
    try:
        rdd.persist(StorageLevel.MEMORY_ONLY)
        out.append("changed")
    except Exception as e:
        out.append("Cannot change storage level of an RDD after it was already assigned a level" in str(e))
    rdd.persist(StorageLevel.DISK_ONLY)
    rdd.unpersist()
    out += [rdd.is_cached, str(rdd.getStorageLevel())]
    rdd.cache()
    out += [str(rdd.getStorageLevel()), rdd.map(lambda x: x + 1).collect()]
    return out


def prog_storage_levels(sc):
    StorageLevel = lib(sc).StorageLevel
    names = ["NONE", "DISK_ONLY", "DISK_ONLY_2", "DISK_ONLY_3", "MEMORY_ONLY", "MEMORY_ONLY_2", "MEMORY_AND_DISK",
             "MEMORY_AND_DISK_2", "MEMORY_AND_DISK_DESER", "OFF_HEAP"]
    return [(n, str(getattr(StorageLevel, n)), repr(getattr(StorageLevel, n))) for n in names]


def prog_checkpoint(sc):
    d = scratch()
    before_dir = sc.getCheckpointDir()
    sc.setCheckpointDir(d)
    ckdir = sc.getCheckpointDir()
    rdd = sc.parallelize(range(6), 3).map(lambda x: x * 2)
    rdd.checkpoint()
    out = [ckdir.startswith("file:" + d + "/"), rdd.is_checkpointed, rdd.isCheckpointed(), rdd.getCheckpointFile()]
    out.append(rdd.take(1))
    f = rdd.getCheckpointFile()
    out += [rdd.isCheckpointed(), f == f"{ckdir}/rdd-{rdd.id()}",
            sorted(n for n in os.listdir(f[len("file:"):]) if not n.startswith("."))]
    out += [rdd.collect(), rdd.map(lambda x: x + 1).collect(), rdd.getNumPartitions()]
    second = rdd.toDebugString().decode().splitlines()[1]
    out.append(second.startswith(" |  ReliableCheckpointRDD["))
    return before_dir is None or before_dir.startswith("file:"), out


def prog_local_checkpoint(sc):
    rdd = sc.parallelize(range(4), 2).map(lambda x: x + 1)
    rdd.localCheckpoint()
    out = [rdd.isLocallyCheckpointed(), rdd.isCheckpointed(), str(rdd.getStorageLevel())]
    out.append(rdd.collect())
    out += [rdd.isLocallyCheckpointed(), rdd.isCheckpointed(), rdd.getCheckpointFile()]
    return out


def prog_local_checkpoint_then_pipelined_child(sc):
    rdd = sc.parallelize(range(4), 2).map(lambda x: x + 1)
    rdd.localCheckpoint()
    total = rdd.map(lambda x: x * 2).sum()
    return total, rdd.isCheckpointed()


def prog_ids_and_names(sc):
    rdd = sc.parallelize(range(10))
    first = rdd.id()
    mapped = rdd.map(str).filter(bool)
    second = mapped.id()
    named = sc.parallelize([1]).setName("numbers")
    return (first == rdd.id(), second == first + 1, second == mapped.id(), rdd.name(), named.name(),
            "numbers" in repr(named), rdd.context is sc)


def prog_debug_string_shape(sc):
    rdd = sc.parallelize(range(10), 2).map(lambda x: (x % 3, x)).reduceByKey(lambda a, b: a + b)
    return [re.sub(r"\S+\[\d+\] at .*? \[", "X [", line) for line in rdd.toDebugString().decode().splitlines()]


def prog_debug_string_narrow(sc):
    u = sc.union([sc.parallelize([1], 1), sc.parallelize([2], 1)]).coalesce(1)
    lines = u.toDebugString().decode().splitlines()
    return type(u.toDebugString()).__name__, [re.sub(r"\[\d+\] at .*? \[", "[] [", line) for line in lines[:2]]

# ---- the context -------------------------------------------------------------------------------------


def prog_context_identity(sc):
    # Not uiWebUrl: the PySpark context here runs with its UI off (test_ui.py tests ember's).
    return (type(sc).getOrCreate() is sc, bool(re.fullmatch(r"local-\d{13}", sc.applicationId)),
            sc.startTime > 1_600_000_000_000, isinstance(sc.sparkUser(), str), sc.defaultParallelism,
            sc.defaultMinPartitions, sc.getConf().get("spark.master"))


def prog_version(sc):
    return sc.version


def prog_second_context(sc):
    try:
        type(sc)("local", "second")
    except ValueError as e:
        return re.sub(r"\(app=[^,]*, master=[^)]*\) created by \w+ at \S+:\d+ $", "(...) created by F at X:N ",
                      str(e))
    return "allowed"


def prog_local_properties(sc):
    import threading
    sc.setLocalProperty("k", "v")
    seen = []
    t = threading.Thread(target=lambda: seen.append(sc.getLocalProperty("k")))
    t.start()
    t.join()
    out = [sc.getLocalProperty("k"), seen, sc.getLocalProperty("never")]
    sc.setLocalProperty("k", None)
    out.append(sc.getLocalProperty("k"))
    return out


def prog_set_log_level(sc):
    for level in ("warn", "Info", "ERROR"):
        sc.setLogLevel(level)
    try:
        sc.setLogLevel("bogus")
    except Exception as e:
        expected = "Supplied level bogus did not match one of: ALL,DEBUG,ERROR,FATAL,TRACE,WARN,INFO,OFF"
        return type(e).__name__, expected in str(e)
    finally:
        sc.setLogLevel("ERROR")
    return "accepted"


def prog_run_job(sc):
    rdd = sc.parallelize(range(10), 3)
    out = [sc.runJob(rdd, lambda it: [sum(it)]), sc.runJob(rdd, lambda it: [sum(it)], [2, 0]),
           sc.runJob(rdd, lambda it: it, [1], True), sc.runJob(rdd, lambda it: [1], [])]
    try:
        sc.runJob(rdd, lambda it: it, [5])
    except Exception as e:
        out.append("Attempting to access a non-existent partition: 5. Total number of partitions: 3" in str(e))
    return out


def prog_driver_errors_from_the_jvm(sc):
    """Misuse that PySpark reports from the JVM (Py4JJavaError); ember raises Python types."""
    StorageLevel = lib(sc).StorageLevel
    d = scratch()
    rdd = sc.parallelize([1, 2], 2).persist(StorageLevel.DISK_ONLY)
    text = os.path.join(d, "t.txt")
    with open(text, "w") as f:
        f.write("not a pickle\n")
    return [err(lambda: rdd.persist(StorageLevel.MEMORY_ONLY))[0],
            err(lambda: sc.runJob(rdd, lambda it: it, [7]))[0],
            err(lambda: sc.parallelize([1]).saveAsPickleFile(d))[0],
            err(lambda: sc.pickleFile(text).collect())[0],
            err(lambda: sc.binaryRecords(text, 5).collect())[0]]


def prog_bounded_float(sc):
    BoundedFloat = lib(sc).rdd.BoundedFloat
    b = BoundedFloat(2.5, 0.95, 2.0, 3.0)
    return b, b + 1, (b.confidence, b.low, b.high), isinstance(b, float)


# ---- programs that start with SparkSession -----------------------------------------------------------


def sql(sc):
    """The sql module of the context's package (ember.sql or pyspark.sql)."""
    import importlib
    return importlib.import_module(lib(sc).__name__ + ".sql")


def session(sc):
    return sql(sc).SparkSession.builder.appName("differential-session").getOrCreate()


def raised_as(f, kind):
    """Whether f raises an instance of kind (PySpark raises subclasses: PySparkValueError ...)."""
    try:
        f()
    except kind:
        return True
    return False


WORDS = ["Mary", "had", "a", "little", "lamb", "whose", "fleece", "was", "white", "as", "snow"]
WORDS_TEXT = {"a.txt": b"the quick brown fox\njumps over the lazy dog\n", "b.txt": b"the dog barks\n\nfox\n"}


def prog_session_word_count(sc):
    spark = session(sc)
    d = files(WORDS_TEXT)
    lines = spark.read.text(d).rdd.map(lambda r: r[0])
    counts = lines.flatMap(lambda x: x.split(" ")).map(lambda x: (x, 1)).reduceByKey(lambda a, b: a + b)
    values = spark.read.text([os.path.join(d, "a.txt")]).rdd.map(lambda r: r.value).collect()
    whole = spark.read.text(os.path.join(d, "b.txt"), wholetext=True).rdd.map(lambda r: r.value).collect()
    return (sorted(counts.collect()), values, whole, spark.sparkContext is sc, spark._sc is sc,
            sql(sc).SparkSession.builder.getOrCreate() is spark, sql(sc).SparkSession.getActiveSession() is spark)


def prog_session_typed_program(sc):
    from typing import Tuple, get_type_hints
    RDD = lib(sc).RDD

    def count_sorted(words: RDD[str]) -> RDD[Tuple[int, int]]:
        sortedCount: RDD[Tuple[int, int]] = (words.map(lambda w: (len(w), 1)).reduceByKey(lambda a, b: a + b)
                                             .sortByKey())
        return sortedCount

    hints = get_type_hints(count_sorted)
    b = sc.broadcast(3)
    acc = sc.accumulator(0)
    typed = (lib(sc).Broadcast[int], lib(sc).Accumulator[int])
    return (count_sorted(session(sc).sparkContext.parallelize(WORDS, 2)).collect(),
            repr(hints["return"]).split(".")[-1],
            b.value, acc.value, [t.__origin__.__name__ for t in typed])


def prog_session_rows(sc):
    Row = sql(sc).Row
    spark = session(sc)
    people = spark.sparkContext.parallelize([Row(name="Alice", age=11), Row(name="Bob", age=23),
                                             Row(name="Carol", age=11)], 2)
    by_age = people.map(lambda r: (r.age, r["name"])).groupByKey().mapValues(sorted).sortByKey().collect()
    made = people.map(lambda r: Row(name=r.name.upper(), age=r.age + 1, tags=[Row(t=r.age)])).collect()
    Person = Row("name", "age")
    built = spark.sparkContext.parallelize([("x", 1), ("y", 2)]).map(lambda t: Person(*t)).collect()
    row = made[0]
    return (by_age, made, [repr(r) for r in made], [r.asDict() for r in built], row.asDict(True), repr(Person),
            "name" in row, "ALICE" in row, row[0], row.tags[0].t, [type(r).__name__ for r in built],
            raised_as(lambda: row.missing, AttributeError), raised_as(lambda: Row("a", b=1), ValueError))


def prog_session_conf(sc):
    spark = session(sc)
    spark.conf.set("spark.ember.diff.key", "v1")
    again = sql(sc).SparkSession.builder.config("spark.ember.diff.other", 2).getOrCreate()
    out = (again is spark, spark.conf.get("spark.ember.diff.key"), spark.conf.get("spark.ember.diff.other"),
           spark.conf.get("spark.ember.diff.absent", "dflt"), spark.conf.get("spark.master"),
           sc.getConf().get("spark.ember.diff.other"))
    spark.conf.unset("spark.ember.diff.key")
    return out + (spark.conf.get("spark.ember.diff.key", None),)


def prog_session_sql(sc):
    """Spark SQL itself: PySpark runs it, ember raises NotImplementedError."""
    spark = session(sc)
    return (err(lambda: spark.createDataFrame([(1, "a")], ["n", "s"]).columns),
            err(lambda: spark.sql("select 1 as one").columns),
            err(lambda: spark.read.text(files(WORDS_TEXT)).count))


def prog_namedtuple_records(sc):
    from collections import namedtuple
    Point = namedtuple("Point", "x y")
    pts = sc.parallelize([Point(1, 2), Point(3, 4), Point(1, 5)], 2)
    moved = pts.map(lambda p: Point(p.x + 1, p.y)).collect()
    return moved, [p.x for p in moved], sorted(pts.map(lambda p: (p.x, p.y)).reduceByKey(lambda a, b: a + b).collect())


def prog_stats_of_numpy_arrays(sc):
    import numpy as np
    s = sc.parallelize([np.array([1.0, 10.0]), np.array([3.0, 30.0]), np.array([2.0, 20.0])], 2).stats()
    return (s.count(), s.mean().tolist(), s.max().tolist(), s.min().tolist(), [round(x, 12) for x in s.stdev()],
            [round(x, 12) for x in s.sampleVariance()])


def prog_task_context_constructor(sc):
    TaskContext = lib(sc).TaskContext

    def f(it):
        made = TaskContext()
        return [(made is TaskContext.get(), made.partitionId(), str(made.cpuAmount()), made.cpus())]
    return sc.parallelize(range(4), 2).mapPartitions(f).collect()


def prog_inheritable_thread(sc):
    import threading
    InheritableThread = lib(sc).InheritableThread
    TaskContext = lib(sc).TaskContext
    sc.setJobGroup("inherit-group", "inherited by the thread")
    sc.setLocalProperty("inherit.k", "v")
    seen = []

    def body():
        seen.append(sc.parallelize([0], 1).map(
            lambda _: (TaskContext.get().getLocalProperty("inherit.k"),
                       TaskContext.get().getLocalProperty("spark.jobGroup.id"))).collect())
        sc.setLocalProperty("inherit.k", "changed in the thread")

    try:
        for cls in (InheritableThread, threading.Thread):
            t = cls(target=body)
            t.start()
            t.join()
        wrapped = lib(sc).inheritable_thread_target(lambda: seen.append(sc.getLocalProperty("inherit.k")))
        t = threading.Thread(target=wrapped)
        t.start()
        t.join()
        return seen, sc.getLocalProperty("inherit.k")
    finally:
        sc.setJobGroup(None, None)
        sc.setLocalProperty("inherit.k", None)


def prog_system_properties(sc):
    cls = type(sc)
    cls.setSystemProperty("spark.ember.diff.sys", "on")
    return (cls.getSystemProperty("spark.ember.diff.sys"), sc.getSystemProperty("file.separator"),
            cls.getSystemProperty("path.separator"), cls.getSystemProperty("user.dir") == os.getcwd(),
            cls.getSystemProperty("ember.no.such.property"))


def prog_skipped_stage_ids(sc):
    """A job's stage ids include map stages skipped because their shuffle output exists."""
    counts = sc.parallelize(range(20), 3).map(lambda x: (x % 4, x)).reduceByKey(lambda a, b: a + b, 2)
    chained = counts.map(lambda kv: (kv[1] % 3, 1)).reduceByKey(lambda a, b: a + b, 2)
    out = []
    for i, action in enumerate([counts.collect, counts.collect, chained.collect, chained.count]):
        sc.setJobGroup(f"diff-skip-{i}", "stage ids")
        try:
            action()
        finally:
            sc.setJobGroup(None, None)
        tracker = sc.statusTracker()
        [job] = tracker.getJobIdsForGroup(f"diff-skip-{i}")
        ids = sorted(tracker.getJobInfo(job).stageIds)
        out.append(([s - ids[0] for s in ids], [tracker.getStageInfo(s).numCompletedTasks for s in ids],
                    [tracker.getStageInfo(s).numTasks for s in ids]))
    return out


# Deliberate differences: program -> reason. The test checks that they do differ.
DIFFERENT = {
    "prog_session_sql": "ember has no Spark SQL engine: DataFrame operations, spark.sql and createDataFrame raise "
                        "NotImplementedError naming what to use from the RDD API (only spark.read.text(...).rdd "
                        "and the session's entry points exist).",
    "prog_version": "ember reports its own version, not Spark's (4.3.0).",
    "prog_driver_errors_from_the_jvm": "misuse PySpark reports as Py4JJavaError (from the JVM) raises a Python "
                                       "type in ember: ValueError (storage level change, runJob partition, not "
                                       "a pickle file: checked when pickleFile is called), FileExistsError "
                                       "(output exists), ember.PythonException (a partial binary record, found "
                                       "by the worker).",
    "prog_whole_text_files_bytes": "wholeTextFiles(use_unicode=False) gives the file's bytes as they are (as "
                                   "ember's textFile does); PySpark re-encodes the JVM's decoding (U+FFFD).",
    "prog_text_file": "textFile(use_unicode=False) gives each line's bytes as they are in the file; PySpark "
                      "gives the UTF-8 of the JVM's decoding, so invalid bytes come back as U+FFFD.",
    "prog_set_log_level": "a bad level raises ValueError; PySpark raises Py4JJavaError wrapping the JVM's "
                          "IllegalArgumentException (same message).",
    "prog_debug_string_shape": "ember's lineage has fewer nodes: the map-side combine runs inside the shuffle "
                               "(no PairwiseRDD/MapPartitionsRDD lines) and call sites name the user's line.",
    "prog_local_checkpoint_then_pipelined_child": "ember stops pipelining at a locally checkpointed RDD, so a "
                                                  "job on a child materializes it (isCheckpointed True); PySpark "
                                                  "fuses the child past it and never checkpoints.",
}

PROGRAMS = sorted(name for name in globals() if name.startswith("prog_"))


@pytest.mark.parametrize("name", PROGRAMS)
def test_program(sc, psc, name):
    prog = globals()[name]
    ours, theirs = prog(sc), prog(psc)
    RESULTS["compared"] += 1
    if name in DIFFERENT:
        RESULTS["different"].append(name)
        assert ours != theirs, f"{name} is listed as different but gives the same result: {ours!r}"
        print(f"\n{name}: ember {ours!r}\n{' ' * len(name)}  pyspark {theirs!r}\n  reason: {DIFFERENT[name]}")
    else:
        assert ours == theirs
        RESULTS["equal"] += 1


def test_summary():
    print(f"\ndifferential: {RESULTS['compared']} programs compared, {RESULTS['equal']} equal, "
          f"{len(RESULTS['different'])} deliberately different: {', '.join(RESULTS['different'])}")
    assert set(DIFFERENT) <= set(PROGRAMS)
