"""Job groups, cancellation, concurrent jobs from several threads, the status tracker."""
import threading
import time

import pytest

from conftest import run_in_thread, wait_for

from ember import JobCancelledError


def test_cancel_job_group_from_another_thread(sc, tmp_path):
    started = tmp_path / "started"

    def slow(x):
        started.touch()
        time.sleep(60)
        return x

    def job():
        sc.setJobGroup("long-group", "a job to cancel")
        return sc.parallelize(range(4), 4).map(slow).collect()

    t, out = run_in_thread(job)
    wait_for(started.exists, "the job's first task")
    asked = time.monotonic()
    sc.cancelJobGroup("long-group")
    t.join(timeout=30)
    assert not t.is_alive()
    assert isinstance(out.get("error"), JobCancelledError), out
    assert out["raised_at"] - asked < 1.0
    assert "cancelled part of cancelled job group long-group" in str(out["error"])
    # The context is usable at once, on the same workers' slots.
    assert sc.parallelize(range(10), 4).map(lambda x: x * 2).sum() == 90
    tracker = sc.statusTracker()
    [job_id] = tracker.getJobIdsForGroup("long-group")
    assert tracker.getJobInfo(job_id).status == "FAILED"


def test_cancelling_one_group_leaves_others_running(sc, tmp_path):
    go = tmp_path / "go"
    started = tmp_path / "started"
    victim_started = tmp_path / "victim-started"

    def wait_go(x):
        started.touch()
        _deadline = time.monotonic() + 30
        while not go.exists() and time.monotonic() < _deadline:
            time.sleep(0.01)
        return x

    def hold(x):
        victim_started.touch()
        time.sleep(60)

    def victim():
        sc.setJobGroup("victim", "cancelled")
        return sc.parallelize(range(2), 2).map(hold).collect()

    def survivor():
        sc.setJobGroup("survivor", "kept")
        return sc.parallelize([1, 2, 3], 1).map(wait_go).collect()

    ts, survived = run_in_thread(survivor)
    wait_for(started.exists, "the surviving job's task")
    tv, cancelled = run_in_thread(victim)
    # Wait for this victim's own task (the second slot), not for the group to appear in
    # the status tracker: the session's tracker may hold an earlier test's job of group
    # "victim" (test_job_tags has one), and cancelJobGroup before this job is submitted
    # reaches no job, as in Spark: the job would then run its 60 s tasks uncancelled.
    wait_for(victim_started.exists, "the victim job's task")
    sc.cancelJobGroup("victim")
    tv.join(timeout=30)
    assert isinstance(cancelled.get("error"), JobCancelledError)
    go.touch()
    ts.join(timeout=30)
    assert survived == {"result": [1, 2, 3]}


def test_cancel_all_jobs(sc, tmp_path):
    started = tmp_path / "started"

    def slow(x):
        started.touch()
        time.sleep(60)

    runs = [run_in_thread(lambda: sc.parallelize([1], 1).map(slow).collect()) for _ in range(2)]
    wait_for(started.exists, "a task")
    wait_for(lambda: len(sc.statusTracker().getActiveJobsIds()) == 2, "two running jobs")
    sc.cancelAllJobs()
    for t, out in runs:
        t.join(timeout=30)
        assert isinstance(out.get("error"), JobCancelledError)
        assert "cancellation of all jobs" in str(out["error"])
    assert sc.parallelize([1, 2]).count() == 2


def test_two_threads_run_jobs_at_the_same_time(sc, tmp_path):
    # Job A's only task waits for a file that job B's task writes: this finishes
    # only if both jobs run at once (two task slots).
    handoff = tmp_path / "handoff"

    def wait_for_b(x):
        deadline = time.monotonic() + 30
        while not handoff.exists():
            if time.monotonic() > deadline:
                raise RuntimeError("job B never ran while job A was running")
            time.sleep(0.01)
        return x + int(handoff.read_text())

    def job_a():
        return sc.parallelize([1, 2, 3], 1).map(wait_for_b).collect()

    def job_b():
        def write(x):
            tmp = str(handoff) + ".tmp"
            with open(tmp, "w") as f:
                f.write("100")
            import os
            os.replace(tmp, handoff)
            return x
        time.sleep(0.05)
        return sorted(sc.parallelize(range(6), 1).map(write).map(lambda x: (x % 3, x))
                      .reduceByKey(lambda a, b: a + b).collect())

    ta, a = run_in_thread(job_a)
    tb, b = run_in_thread(job_b)
    ta.join(timeout=60)
    tb.join(timeout=60)
    assert a == {"result": [101, 102, 103]}
    assert b == {"result": [(0, 3), (1, 5), (2, 7)]}


def test_many_threads_get_their_own_results(sc):
    results = {}

    def run(k):
        rdd = sc.parallelize(range(200), 4).map(lambda x: (x % 5, x * k))
        results[k] = sorted(rdd.reduceByKey(lambda a, b: a + b).collect())

    threads = [threading.Thread(target=run, args=(k,)) for k in range(1, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(1, 7):
        assert results[k] == [(r, k * sum(x for x in range(200) if x % 5 == r)) for r in range(5)]


def test_status_tracker_while_a_job_runs_and_after(sc, tmp_path):
    release = tmp_path / "release"
    started = tmp_path / "started"

    def hold(x):
        started.touch()
        deadline = time.monotonic() + 30
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return x

    def job():
        sc.setJobGroup("tracked-run", "held until released")
        pairs = sc.parallelize(range(8), 4).map(lambda x: (x % 2, x))
        return sorted(pairs.reduceByKey(lambda a, b: a + b).map(hold).collect())

    tracker = sc.statusTracker()
    t, out = run_in_thread(job)
    wait_for(started.exists, "the result stage's tasks")
    # The job's thread records the job (on_submit) as the engine starts its tasks: on a
    # busy machine a task can start first.
    wait_for(lambda: tracker.getJobIdsForGroup("tracked-run"), "the job in the history")
    [job_id] = tracker.getJobIdsForGroup("tracked-run")
    assert job_id in tracker.getActiveJobsIds()
    running = tracker.getJobInfo(job_id)
    assert running.status == "RUNNING" and len(running.stageIds) == 2
    map_stage, result_stage = running.stageIds
    assert result_stage in tracker.getActiveStageIds()
    assert map_stage not in tracker.getActiveStageIds()
    done = tracker.getStageInfo(map_stage)
    assert (done.numTasks, done.numCompletedTasks, done.numActiveTasks) == (4, 4, 0)
    live = tracker.getStageInfo(result_stage)
    assert live.numTasks == 4 and live.numActiveTasks >= 1 and live.numCompletedTasks < 4
    assert "test_jobs.py" in live.name and live.name.startswith("collect at ")
    release.touch()
    t.join(timeout=30)
    assert out == {"result": [(0, 12), (1, 16)]}
    finished = tracker.getJobInfo(job_id)
    assert finished.status == "SUCCEEDED" and finished.stageIds == [map_stage, result_stage]
    assert tracker.getStageInfo(result_stage)[3:] == (4, 0, 4, 0)
    assert job_id not in tracker.getActiveJobsIds()
    assert tracker.getJobInfo(-1) is None and tracker.getStageInfo(-1) is None


def test_failed_attempts_show_in_stage_info(sc, tmp_path):
    flag = tmp_path / "failed"

    def flaky(x):
        if not flag.exists():
            flag.touch()
            raise RuntimeError("once")
        return x

    sc.setJobGroup("flaky-group", "one retry")
    try:
        assert sc.parallelize([1, 2], 1).map(flaky).collect() == [1, 2]
    finally:
        sc.setJobGroup(None, None)
    tracker = sc.statusTracker()
    [job_id] = tracker.getJobIdsForGroup("flaky-group")
    [stage] = tracker.getJobInfo(job_id).stageIds
    info = tracker.getStageInfo(stage)
    assert (info.numTasks, info.numCompletedTasks, info.numFailedTasks) == (1, 1, 1)


def test_jobs_without_a_group(sc):
    sc.parallelize([1]).count()
    tracker = sc.statusTracker()
    ungrouped = tracker.getJobIdsForGroup()
    assert ungrouped and tracker.getJobInfo(ungrouped[0]).status == "SUCCEEDED"
    assert ungrouped == sorted(ungrouped, reverse=True)


def test_failed_job_status(sc):
    sc.setJobGroup("failing", "fails")
    try:
        with pytest.raises(Exception, match="division by zero"):
            sc.parallelize([1], 1).map(lambda x: 1 / 0 if x else "always").collect()
    finally:
        sc.setJobGroup(None, None)
    tracker = sc.statusTracker()
    [job_id] = tracker.getJobIdsForGroup("failing")
    assert tracker.getJobInfo(job_id).status == "FAILED"


def test_cancelled_job_keeps_the_updates_of_its_finished_tasks(sc):
    acc = sc.accumulator(0)

    def part(i, it):
        acc.add(1)
        if i == 1:
            time.sleep(60)
        return it

    def job():
        sc.setJobGroup("half-done", "one task finishes, one is cancelled")
        return sc.parallelize(range(4), 2).mapPartitionsWithIndex(part).collect()

    tracker = sc.statusTracker()
    t, out = run_in_thread(job)

    def first_task_done():
        ids = tracker.getJobIdsForGroup("half-done")
        stages = tracker.getJobInfo(ids[0]).stageIds if ids else []
        return stages and tracker.getStageInfo(stages[0]).numCompletedTasks == 1

    wait_for(first_task_done, "the first task to finish")
    sc.cancelJobGroup("half-done")
    t.join(timeout=30)
    assert isinstance(out.get("error"), JobCancelledError)
    assert acc.value == 1


def test_stage_history_keeps_the_last_1000_stages(sc):
    rdd = sc.parallelize([1], 1)
    for _ in range(1005):
        rdd.count()
    history = sc._core.finished_stages()
    ids = [h[0] for h in history]
    assert len(ids) == 1000 and ids == sorted(ids) and ids[-1] - ids[0] == 999
    tracker = sc.statusTracker()
    assert tracker.getStageInfo(ids[0]) is not None
    assert tracker.getStageInfo(ids[0] - 1) is None


def test_run_job_binding_cancels_when_on_submit_raises(sc):
    node = sc.parallelize(range(4), 2).map(lambda x: time.sleep(60))._node

    def refuse(job_id):
        raise KeyError(f"job {job_id} refused")

    with pytest.raises(KeyError, match="refused"):
        sc._core.run_job(node, None, None, b"", [], refuse)
    assert sc.parallelize([1, 2, 3]).sum() == 6


def test_cancelled_shuffle_leaves_no_map_output(sc, tmp_path):
    import os
    import threading
    import time as _time
    gate = tmp_path / "started"

    def slow(i, it):
        if i == 3:
            gate.touch()
            _time.sleep(30)
        return ((x % 5, x) for x in it)

    def cancel():
        while not gate.exists():
            _time.sleep(0.01)
        _time.sleep(0.2)
        sc.cancelJobGroup("cleanup-group")

    before = {f for f in os.listdir(sc._core.tmpdir) if f.startswith("shuffle-")}
    t = threading.Thread(target=cancel)
    t.start()
    sc.setJobGroup("cleanup-group", "cancelled in the map stage")
    try:
        with pytest.raises(Exception, match="cancelled"):
            sc.parallelize(range(40), 4).mapPartitionsWithIndex(slow).reduceByKey(lambda a, b: a + b).collect()
    finally:
        sc.setJobGroup(None, None)
        t.join()
    after = {f for f in os.listdir(sc._core.tmpdir) if f.startswith("shuffle-")}
    assert after == before


def _job_stages(sc, group, action):
    sc.setJobGroup(group, "stage ids")
    try:
        action()
    finally:
        sc.setJobGroup(None, None)
    tracker = sc.statusTracker()
    [job] = tracker.getJobIdsForGroup(group)
    ids = tracker.getJobInfo(job).stageIds
    stages = [tracker.getStageInfo(s) for s in ids]
    return ids, [s.numCompletedTasks for s in stages], [s.numTasks for s in stages]


def test_stage_ids_include_map_stages_skipped_as_spark(sc):
    counts = sc.parallelize(range(20), 3).map(lambda x: (x % 4, x)).reduceByKey(lambda a, b: a + b, 2)
    first, done, tasks = _job_stages(sc, "skip-1", counts.collect)
    assert len(first) == 2 and done == [3, 2] and tasks == [3, 2]
    # The map output exists: the next job skips its map stage, which Spark still lists
    # (a new stage id, no task completed), as it lists the stages behind a skipped one.
    again, done, tasks = _job_stages(sc, "skip-2", counts.collect)
    assert len(again) == 2 and min(again) > max(first) and done == [0, 2] and tasks == [3, 2]
    chained = counts.map(lambda kv: (kv[1] % 3, 1)).reduceByKey(lambda a, b: a + b, 2)
    ids, done, tasks = _job_stages(sc, "skip-3", chained.collect)
    assert len(ids) == 3 and done == [0, 2, 2] and tasks == [3, 2, 2]
    ids, done, _ = _job_stages(sc, "skip-4", chained.count)
    assert len(ids) == 3 and done == [0, 0, 2]
    # A lineage reading a shuffle twice lists its skipped stage once.
    twice = counts.union(counts)
    ids, done, _ = _job_stages(sc, "skip-5", twice.collect)
    assert len(ids) == 2 and done == [0, 2]
