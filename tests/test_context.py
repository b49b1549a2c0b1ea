"""SparkContext: one active context, identity, settings, local properties, runJob,
sources that need no files, the Hadoop methods ember does not have."""
import logging
import os
import re
import threading
import time

import pytest

import ember
from ember import SparkConf, SparkContext

from conftest import run_python


def test_one_active_context_with_pyspark_message(sc):
    with pytest.raises(ValueError) as err:
        SparkContext("local", "second")
    msg = str(err.value)
    assert re.fullmatch(
        r"Cannot run multiple SparkContexts at once; existing SparkContext\(app=ember-tests, "
        r"master=local\[2\]\) created by __init__ at .*conftest\.py:\d+ ", msg), msg
    assert SparkContext.getOrCreate() is sc
    assert SparkContext.getOrCreate(SparkConf().setAppName("ignored")) is sc


def test_get_or_create_and_restart_in_a_fresh_process():
    code = """
from ember import SparkContext, SparkConf
sc = SparkContext.getOrCreate(SparkConf().setMaster("local[3]").setAppName("first"))
assert SparkContext.getOrCreate() is sc
assert (sc.master, sc.appName, sc.defaultParallelism, sc.defaultMinPartitions) == ("local[3]", "first", 3, 2)
try:
    SparkContext("local", "again")
except ValueError as e:
    assert "created by getOrCreate at <string>:3 " in str(e), str(e)
else:
    raise AssertionError("a second context was allowed")
sc.stop()
sc.stop()
sc2 = SparkContext("local", "second")
assert sc2.parallelize([1, 2]).sum() == 3 and sc2.defaultParallelism == 1
sc2.stop()
with SparkContext(conf=SparkConf().set("spark.default.parallelism", "5")) as sc3:
    assert sc3.defaultParallelism == 5 and sc3.defaultMinPartitions == 2
print("ok")
"""
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_identity(sc):
    assert sc.version == ember.__version__
    assert re.fullmatch(r"local-\d{13}", sc.applicationId)
    assert sc.applicationId == f"local-{sc.startTime}"
    assert abs(sc.startTime / 1000 - time.time()) < 24 * 3600
    assert sc.uiWebUrl.startswith("http://127.0.0.1:") and sc.resources == {}
    assert isinstance(sc.sparkUser(), str) and sc.sparkUser()


def test_spark_user_env(sc, monkeypatch):
    monkeypatch.setenv("SPARK_USER", "alice")
    assert sc.sparkUser() == "alice"


def test_get_conf_is_a_copy(sc):
    conf = sc.getConf()
    assert conf.get("spark.app.name") == "ember-tests" and conf.get("spark.master") == "local[2]"
    conf.set("spark.app.name", "changed")
    assert sc.getConf().get("spark.app.name") == "ember-tests"


def test_set_log_level(sc):
    logger = logging.getLogger("ember")
    before = logger.level
    try:
        for name, level in [("debug", logging.DEBUG), ("WARN", logging.WARNING), ("Error", logging.ERROR),
                            ("FATAL", logging.CRITICAL), ("INFO", logging.INFO)]:
            sc.setLogLevel(name)
            assert logger.level == level
        sc.setLogLevel("OFF")
        assert logger.level > logging.CRITICAL
        sc.setLogLevel("ALL")
        sc.setLogLevel("trace")
        with pytest.raises(ValueError, match="^Supplied level verbose did not match one of: "
                                             "ALL,DEBUG,ERROR,FATAL,TRACE,WARN,INFO,OFF$"):
            sc.setLogLevel("verbose")
    finally:
        logger.setLevel(before)


def test_local_properties_are_per_thread(sc):
    sc.setLocalProperty("group", "main")
    seen = {}

    def other():
        seen["before"] = sc.getLocalProperty("group")
        sc.setLocalProperty("group", "other")
        seen["after"] = sc.getLocalProperty("group")

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert seen == {"before": None, "after": "other"}
    assert sc.getLocalProperty("group") == "main"
    sc.setLocalProperty("group", None)
    assert sc.getLocalProperty("group") is None
    sc.setLocalProperty("missing", None)  # removing an absent key is fine


def test_run_job(sc):
    rdd = sc.parallelize(range(10), 3)
    assert sc.runJob(rdd, lambda it: [sum(it)]) == [3, 12, 30]
    assert sc.runJob(rdd, lambda it: [sum(it)], [2, 0]) == [30, 3]
    assert sc.runJob(rdd, lambda it: it, [1], allowLocal=True) == [3, 4, 5]
    assert sc.runJob(rdd, lambda it: [1], []) == []
    with pytest.raises(ValueError, match=r"^Attempting to access a non-existent partition: 5\. "
                                         r"Total number of partitions: 3$"):
        sc.runJob(rdd, lambda it: it, [5])


def test_empty_rdd(sc):
    e = sc.emptyRDD()
    assert e.getNumPartitions() == 0 and e.collect() == [] and e.count() == 0
    assert e.sum() == 0 and e.isEmpty() and e.take(3) == []
    assert e.union(sc.parallelize([1])).collect() == [1]
    assert e.map(lambda x: x).collect() == []


def test_set_system_property_becomes_a_default():
    code = """
from ember import SparkContext
SparkContext.setSystemProperty("spark.default.parallelism", "7")
SparkContext.setSystemProperty("other.key", "x")
with SparkContext("local[2]", "props") as sc:
    assert sc.defaultParallelism == 7, sc.defaultParallelism
    assert sc.getConf().get("other.key") is None
print("ok")
"""
    result = run_python(code)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("call", [
    lambda sc: sc.newAPIHadoopFile("/tmp/x", "F", "K", "V"),
    lambda sc: sc.newAPIHadoopRDD("F", "K", "V"),
    lambda sc: sc.hadoopFile("/tmp/x", "F", "K", "V"),
    lambda sc: sc.hadoopRDD("F", "K", "V"),
    lambda sc: sc.parallelize([(1, 2)]).saveAsHadoopFile("/tmp/x", "F"),
    lambda sc: sc.parallelize([(1, 2)]).saveAsNewAPIHadoopFile("/tmp/x", "F"),
    lambda sc: sc.parallelize([(1, 2)]).saveAsHadoopDataset({}),
    lambda sc: sc.parallelize([(1, 2)]).saveAsNewAPIHadoopDataset({}),
])
def test_hadoop_methods_say_why_and_what_instead(sc, call):
    with pytest.raises(NotImplementedError, match=r"JVM, which ember does not have; use .*(pickle|text)"):
        call(sc)


def test_sql_and_resource_methods_say_why(sc):
    rdd = sc.parallelize([1])
    with pytest.raises(NotImplementedError, match="Spark SQL"):
        rdd.toDF()
    with pytest.raises(NotImplementedError, match="resource"):
        rdd.withResources(None)
    with pytest.raises(NotImplementedError, match="resource"):
        rdd.getResourceProfile()


def test_context_is_not_picklable(sc):
    import pickle
    with pytest.raises(RuntimeError, match="CONTEXT_ONLY_VALID_ON_DRIVER"):
        pickle.dumps(sc)


def test_checkpoint_dir_accepts_file_uris(sc, tmp_path):
    sc.setCheckpointDir(f"file:{tmp_path}")
    d = sc.getCheckpointDir()
    assert d.startswith(f"file:{tmp_path}/") and os.path.isdir(d[len("file:"):])
    with pytest.raises(ValueError, match="local files only"):
        sc.setCheckpointDir("hdfs://nn/ck")
