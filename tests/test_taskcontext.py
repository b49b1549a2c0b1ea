"""TaskContext in tasks: partition, stage, attempts, local properties; None on the driver."""
import threading

from ember import TaskContext


def _ctx(_):
    tc = TaskContext.get()
    return (tc.partitionId(), tc.stageId(), tc.attemptNumber(), tc.taskAttemptId(), tc.cpus())


def test_ids_of_tasks(sc):
    got = sc.parallelize(range(4), 4).map(_ctx).collect()
    assert [g[0] for g in got] == [0, 1, 2, 3]
    assert len({g[1] for g in got}) == 1
    assert [g[2] for g in got] == [0, 0, 0, 0]
    assert len({g[3] for g in got}) == 4
    assert {g[4] for g in got} == {1}
    again = sc.parallelize(range(4), 4).map(_ctx).collect()
    assert again[0][1] > got[0][1]  # a later job runs a later stage
    assert min(g[3] for g in again) > max(g[3] for g in got)


def test_shuffle_stages_have_their_own_ids(sc):
    def tag(x):
        return (x % 2, TaskContext.get().stageId())

    got = sc.parallelize(range(4), 2).map(tag).groupByKey().map(
        lambda kv: (sorted(set(kv[1])), TaskContext.get().stageId())).collect()
    for map_stages, reduce_stage in got:
        assert len(map_stages) == 1 and map_stages[0] < reduce_stage


def test_attempt_number_grows_on_retry(sc, tmp_path):
    flag = tmp_path / "failed"

    def f(x):
        tc = TaskContext.get()
        if not flag.exists():
            flag.touch()
            raise RuntimeError("first attempt fails")
        return tc.attemptNumber()

    assert sc.parallelize([0], 1).map(f).collect() == [1]


def test_none_on_the_driver(sc):
    assert TaskContext.get() is None
    sc.parallelize([1]).count()
    assert TaskContext.get() is None


def test_local_properties_follow_the_thread_that_starts_the_job(sc):
    def prop(_):
        return TaskContext.get().getLocalProperty("owner")

    results = {}

    def run(name):
        sc.setLocalProperty("owner", name)
        results[name] = sc.parallelize(range(4), 2).map(prop).collect()

    threads = [threading.Thread(target=run, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"a": ["a"] * 4, "b": ["b"] * 4}
    assert sc.getLocalProperty("owner") is None
    assert sc.parallelize([0]).map(prop).collect() == [None]


def test_job_group_and_description_reach_tasks(sc):
    sc.setJobGroup("tc-g", "described", interruptOnCancel=True)
    try:
        keys = ["spark.jobGroup.id", "spark.job.description", "spark.job.interruptOnCancel"]
        got = sc.parallelize([0]).map(lambda _: [TaskContext.get().getLocalProperty(k) for k in keys]).collect()
        assert got == [["tc-g", "described", "true"]]
    finally:
        sc.setJobGroup(None, None)
        sc.setLocalProperty("spark.job.interruptOnCancel", None)


def test_constructor_inside_a_task_gives_the_task_context(sc):
    def f(it):
        made = TaskContext()
        return [(made is TaskContext.get(), made.partitionId(), made.cpuAmount())]
    from decimal import Decimal
    assert sc.parallelize(range(4), 2).mapPartitions(f).collect() == [(True, 0, Decimal(1)), (True, 1, Decimal(1))]


def test_constructor_on_the_driver_and_from_json(sc):
    made = TaskContext()
    assert made.partitionId() is None and made.getLocalProperty("k") is None and TaskContext.get() is None
    ctx = TaskContext.from_json({"stageId": 4, "partitionId": 1, "attemptNumber": 2, "taskAttemptId": 9,
                                 "cpus": 1, "cpuAmount": "0.5", "resources": {}, "localProperties": {"a": "b"}})
    assert (ctx.stageId(), ctx.partitionId(), ctx.attemptNumber(), ctx.taskAttemptId(), ctx.cpus()) == (4, 1, 2, 9, 1)
    assert str(ctx.cpuAmount()) == "0.5" and ctx.getLocalProperty("a") == "b" and ctx.resources() == {}
    import pytest
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        TaskContext(colour="red")
