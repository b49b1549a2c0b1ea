"""InheritableThread and inheritable_thread_target: threads that carry the starting
thread's local properties and job tags, as pyspark.util."""
import threading
import time

from conftest import run_in_thread, wait_for

from ember import InheritableThread, JobCancelledError, SparkContext, TaskContext, inheritable_thread_target
from ember.sql import SparkSession


def _in_task(sc, key):
    return sc.parallelize([0], 1).map(lambda _: TaskContext.get().getLocalProperty(key)).collect()[0]


def test_plain_threads_start_without_properties_inheritable_ones_with_a_copy(sc):
    sc.setJobGroup("parent-group", "the parent's jobs")
    sc.addJobTag("parent-tag")
    try:
        seen = {}

        def plain():
            seen["plain"] = sc.getLocalProperty("spark.jobGroup.id")

        def inherited():
            seen["group"] = _in_task(sc, "spark.jobGroup.id")
            seen["tags"] = sc.getJobTags()
            sc.setJobGroup("child-group", "changed in the child")  # does not reach the parent

        t = threading.Thread(target=plain)
        t.start(), t.join()
        t = InheritableThread(target=inherited)
        sc.setLocalProperty("set-before-start", "yes")   # start() copies, not __init__
        t.start(), t.join()
        assert seen == {"plain": None, "group": "parent-group", "tags": {"parent-tag"}}
        assert sc.getLocalProperty("spark.jobGroup.id") == "parent-group"
    finally:
        sc.setJobGroup(None, None)
        sc.clearJobTags()
        sc.setLocalProperty("set-before-start", None)


def test_a_tag_inherited_by_a_thread_cancels_its_job(sc, tmp_path):
    sc.addJobTag("inherited-cancel")
    started = tmp_path / "started"
    out = {}

    def job():
        try:
            sc.parallelize([0], 1).foreach(lambda _: (started.write_text("x"), time.sleep(60)))
        except JobCancelledError as e:
            out["cancelled"] = str(e)

    try:
        t = InheritableThread(target=job)
        t.start()
    finally:
        sc.clearJobTags()
    wait_for(started.exists, "the inherited thread's task to start")
    sc.cancelJobsWithTag("inherited-cancel")
    t.join(60)
    assert "inherited-cancel" in out["cancelled"]


def test_inheritable_thread_target_copies_when_wrapping(sc):
    sc.setLocalProperty("wrapped", "at-wrap-time")
    try:
        wrapped = inheritable_thread_target(lambda: sc.getLocalProperty("wrapped"))
        sc.setLocalProperty("wrapped", "later")
        t, out = run_in_thread(wrapped)
        t.join()
        assert out["result"] == "at-wrap-time"
        spark = SparkSession.builder.getOrCreate()
        decorate = inheritable_thread_target(spark)
        t, out = run_in_thread(decorate(lambda: sc.getLocalProperty("wrapped")))
        t.join()
        assert out["result"] == "later"
    finally:
        sc.setLocalProperty("wrapped", None)


def test_thread_arguments_pass_through(sc):
    got = []
    t = InheritableThread(lambda a, b=0: got.append(a + b), args=(1,), kwargs={"b": 2}, name="adder", daemon=True)
    t.start(), t.join()
    assert got == [3] and t.name == "adder" and t.daemon


def test_system_properties(sc):
    import getpass
    import os
    SparkContext.setSystemProperty("spark.test.sysprop", "1")
    try:
        assert SparkContext.getSystemProperty("spark.test.sysprop") == "1"
        assert sc.getSystemProperty("spark.test.sysprop") == "1"
    finally:
        SparkContext._system_properties.pop("spark.test.sysprop")
    assert SparkContext.getSystemProperty("user.name") == getpass.getuser()
    assert SparkContext.getSystemProperty("user.dir") == os.getcwd()
    assert SparkContext.getSystemProperty("java.home") is None
    assert SparkContext.getSystemProperty("no.such.property") is None


def test_executor_infos(sc, tmp_path):
    started = tmp_path / "started"
    release = tmp_path / "release"

    def hold(_):
        started.write_text("x")
        while not release.exists():
            time.sleep(0.01)

    t, out = run_in_thread(lambda: sc.parallelize([0], 1).foreach(hold))
    wait_for(started.exists, "the task to start")
    [info] = sc.statusTracker().getExecutorInfos()
    release.write_text("x")
    t.join()
    assert info.numRunningTasks == 1 and info.host == "localhost" and info.usedOnHeapStorageMemory >= 0
    [info] = sc.statusTracker().getExecutorInfos()
    unified = int(((1 << 30) - (300 << 20)) * 0.6)  # (1g - 300 MiB reserved) * spark.memory.fraction
    assert info.numRunningTasks == 0 and info.totalOnHeapStorageMemory == unified
