"""Job tags: per-thread tags on jobs, cancellation by tag, alongside job groups."""
import threading
import time

import pytest

from conftest import run_in_thread, wait_for

from ember import JobCancelledError, TaskContext


@pytest.fixture(autouse=True)
def _no_tags_left(sc):
    yield
    sc.clearJobTags()


def test_tags_are_a_set_per_thread(sc):
    assert sc.getJobTags() == set()
    sc.addJobTag("a")
    sc.addJobTag("b")
    sc.addJobTag("a")
    assert sc.getJobTags() == {"a", "b"}
    seen = {}
    t = threading.Thread(target=lambda: seen.setdefault("tags", sc.getJobTags()))
    t.start()
    t.join()
    assert seen["tags"] == set()
    sc.removeJobTag("a")
    sc.removeJobTag("never-added")
    assert sc.getJobTags() == {"b"}
    sc.clearJobTags()
    assert sc.getJobTags() == set()


def test_tasks_see_the_tags_as_a_local_property(sc):
    sc.addJobTag("x")
    sc.addJobTag("y")
    [prop] = sc.parallelize([0], 1).map(lambda _: TaskContext.get().getLocalProperty("spark.job.tags")).collect()
    assert set(prop.split(",")) == {"x", "y"}


@pytest.mark.parametrize("method", ["addJobTag", "removeJobTag", "cancelJobsWithTag"])
def test_invalid_tags_raise_as_spark(sc, method):
    with pytest.raises(ValueError, match="Spark job tag cannot contain ','"):
        getattr(sc, method)("a,b")
    with pytest.raises(ValueError, match="cannot be an empty string"):
        getattr(sc, method)("")
    with pytest.raises(ValueError, match="cannot be null"):
        getattr(sc, method)(None)
    assert sc.getJobTags() == set()


def test_cancel_by_tag_from_another_thread(sc, tmp_path):
    started = tmp_path / "started"

    def slow(x):
        started.touch()
        time.sleep(60)
        return x

    def jobs():
        sc.setJobGroup("tagged-group", "a group whose job also has tags")
        sc.addJobTag("first")
        sc.addJobTag("victim")
        try:
            sc.parallelize(range(4), 4).map(slow).collect()
        except JobCancelledError as e:
            error = e
        else:
            error = None
        # The thread keeps its tags; its next job runs normally.
        return error, sc.parallelize(range(5), 2).map(lambda x: x + 1).collect()

    t, out = run_in_thread(jobs)
    wait_for(started.exists, "the tagged job's first task")
    sc.cancelJobsWithTag("victim")
    t.join(timeout=30)
    assert not t.is_alive()
    error, after = out["result"]
    assert isinstance(error, JobCancelledError)
    assert "cancelled part of cancelled job tag victim" in str(error)
    assert after == [1, 2, 3, 4, 5]
    # The status tracker reports the job group, not the engine's labels.
    tracker = sc.statusTracker()
    ids = tracker.getJobIdsForGroup("tagged-group")
    assert len(ids) == 2
    assert sorted(tracker.getJobInfo(i).status for i in ids) == ["FAILED", "SUCCEEDED"]


def test_tag_cancellation_spares_other_jobs_and_groups(sc, tmp_path):
    go = tmp_path / "go"
    started = tmp_path / "started"

    def wait_go(x):
        started.touch()
        deadline = time.monotonic() + 30
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return x

    def survivor():
        # A group named like the tag, and another tag: neither matches.
        sc.setJobGroup("victim", "not a tag")
        sc.addJobTag("other")
        return sc.parallelize([1, 2, 3], 1).map(wait_go).collect()

    ts, survived = run_in_thread(survivor)
    wait_for(started.exists, "the surviving job's task")
    sc.cancelJobsWithTag("victim")
    go.touch()
    ts.join(timeout=30)
    assert survived == {"result": [1, 2, 3]}


def test_job_group_cancels_a_job_with_tags(sc, tmp_path):
    started = tmp_path / "started"

    def slow(x):
        started.touch()
        time.sleep(60)

    def job():
        sc.addJobTag("t1")
        sc.setJobGroup("g-with-tags", "cancelled by group")
        sc.addJobTag("t2")
        return sc.parallelize([1], 1).map(slow).collect()

    t, out = run_in_thread(job)
    wait_for(started.exists, "the task")
    sc.cancelJobGroup("g-with-tags")
    t.join(timeout=30)
    assert isinstance(out.get("error"), JobCancelledError)
    assert "cancelled part of cancelled job group g-with-tags" in str(out["error"])


def test_collect_with_job_group_warns_and_runs_in_the_group(sc, tmp_path):
    started = tmp_path / "started"

    def slow(x):
        started.touch()
        time.sleep(60)

    def job():
        with pytest.warns(FutureWarning, match="collectWithJobGroup is deprecated"):
            return sc.parallelize([1], 1).map(slow).collectWithJobGroup("cwjg", "to cancel", True)

    t, out = run_in_thread(job)
    wait_for(started.exists, "the task")
    sc.cancelJobGroup("cwjg")
    t.join(timeout=30)
    assert isinstance(out.get("error"), JobCancelledError)
    with pytest.warns(FutureWarning):
        assert sc.parallelize(range(4), 2).collectWithJobGroup("cwjg-2", "d") == [0, 1, 2, 3]
    [job_id] = sc.statusTracker().getJobIdsForGroup("cwjg-2")
    assert sc.statusTracker().getJobInfo(job_id).status == "SUCCEEDED"
    # As PySpark: the group stays set for the thread.
    assert sc.getLocalProperty("spark.jobGroup.id") == "cwjg-2"
    sc.setJobGroup(None, None)
