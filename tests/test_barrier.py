"""Barrier execution mode (RDD.barrier): tasks of a barrier stage run together,
synchronise with BarrierTaskContext, and fail and retry as one stage."""
import os
import time

import pytest

from ember import BarrierTaskContext, PythonException, RDDBarrier, TaskContext


def test_barrier_returns_rdd_barrier(sc):
    b = sc.parallelize(range(4), 2).barrier()
    assert isinstance(b, RDDBarrier)
    rdd = b.mapPartitionsWithIndex(lambda i, it: [(i, sum(it))])
    assert rdd.getNumPartitions() == 2
    assert rdd.collect() == [(0, 1), (1, 5)]


def test_all_gather_in_partition_order(sc):
    def gather(i, it):
        if i == 0:
            time.sleep(0.2)  # partition 0 arrives last: the order must not be arrival order
        return [BarrierTaskContext.get().allGather(f"p{i}:{sum(it)}")]

    got = sc.parallelize(range(6), 2).barrier().mapPartitionsWithIndex(gather).collect()
    assert got == [["p0:3", "p1:12"], ["p0:3", "p1:12"]]


def test_successive_calls_and_transformations_after(sc):
    def rounds(it):
        ctx = BarrierTaskContext.get()
        me = str(ctx.partitionId())
        first = ctx.allGather(me)
        ctx.barrier()
        second = ctx.allGather(me * 2)
        return [(first, second)]

    got = sc.parallelize([1, 2], 2).barrier().mapPartitions(rounds).map(lambda x: x[1]).collect()
    assert got == [["00", "11"], ["00", "11"]]


def test_barrier_synchronises(sc, tmp_path):
    d = str(tmp_path)

    def stamp(i, it):
        if i == 1:
            time.sleep(0.3)  # without a real barrier, partition 0 would pass well before this
        with open(os.path.join(d, f"before-{i}"), "w") as f:
            f.write(repr(time.time()))
        BarrierTaskContext.get().barrier()
        with open(os.path.join(d, f"after-{i}"), "w") as f:
            f.write(repr(time.time()))
        return []

    sc.parallelize(range(2), 2).barrier().mapPartitionsWithIndex(stamp).collect()

    def read(name):
        with open(os.path.join(d, name)) as f:
            return float(f.read())

    before = [read(f"before-{i}") for i in range(2)]
    after = [read(f"after-{i}") for i in range(2)]
    assert min(after) >= max(before)


def test_task_infos_and_task_context(sc):
    def info(it):
        ctx = BarrierTaskContext.get()
        assert TaskContext.get() is ctx
        return [([t.address for t in ctx.getTaskInfos()], ctx.partitionId(), ctx.attemptNumber())]

    got = sc.parallelize(range(2), 2).barrier().mapPartitions(info).collect()
    assert got == [(["localhost", "localhost"], 0, 0), (["localhost", "localhost"], 1, 0)]


def test_not_in_barrier_stage(sc):
    with pytest.raises(RuntimeError, match=r"\[NOT_IN_BARRIER_STAGE\]"):
        BarrierTaskContext.get()
    with pytest.raises(PythonException, match=r"NOT_IN_BARRIER_STAGE"):
        sc.parallelize([1], 1).map(lambda x: BarrierTaskContext.get()).collect()


def test_all_gather_wants_a_string(sc):
    with pytest.raises(PythonException, match=r"\[NOT_STR\]"):
        sc.parallelize([1], 1).barrier().mapPartitions(lambda it: BarrierTaskContext.get().allGather(1)).collect()


def test_more_tasks_than_slots_fails_fast(sc):
    rdd = sc.parallelize(range(6), 3).barrier().mapPartitions(lambda it: it)
    with pytest.raises(PythonException) as err:
        rdd.collect()
    text = str(err.value)
    assert "[BARRIER_SLOTS]" in text and "3 tasks" in text and "only 2 task slots" in text
    assert "local[N]" in text and "partitions" in text
    # The context is still usable, and the same data with fewer partitions runs.
    assert sc.parallelize(range(6), 2).barrier().mapPartitions(lambda it: [sum(it)]).collect() == [3, 12]


def test_partial_barrier_stage_is_refused(sc):
    rdd = sc.parallelize(range(4), 2).barrier().mapPartitions(lambda it: it)
    with pytest.raises(PythonException, match=r"\[BARRIER_PARTIAL\].*collect\(\)"):
        rdd.take(1)
    assert rdd.collect() == [0, 1, 2, 3]


def test_barrier_stage_before_a_shuffle(sc):
    def gathered(it):
        n = len(BarrierTaskContext.get().allGather(""))
        return [(x % 2, n) for x in it]

    got = sc.parallelize(range(4), 2).barrier().mapPartitions(gathered).reduceByKey(lambda a, b: a + b)
    assert sorted(got.collect()) == [(0, 4), (1, 4)]


def test_failed_task_retries_whole_stage(sc, tmp_path):
    d = str(tmp_path)

    def flaky(i, it):
        ctx = BarrierTaskContext.get()
        with open(os.path.join(d, f"run-{i}-{ctx.attemptNumber()}"), "w"):
            pass
        if i == 1 and ctx.attemptNumber() == 0:
            raise ValueError("first attempt fails")
        # Partition 0 of the first attempt waits here for a peer that failed: the
        # engine must kill it (else this would wait for the sync timeout).
        return [(i, ctx.attemptNumber(), ctx.allGather(str(i)))]

    got = sc.parallelize(range(2), 2).barrier().mapPartitionsWithIndex(flaky).collect()
    assert got == [(0, 1, ["0", "1"]), (1, 1, ["0", "1"])]
    # Partition 0's first attempt may be killed before it starts (its peer failed first).
    runs = set(os.listdir(d))
    assert runs - {"run-0-0"} == {"run-0-1", "run-1-0", "run-1-1"}


def test_failing_every_attempt_fails_the_job(sc):
    def always(it):
        BarrierTaskContext.get().barrier()
        raise ValueError("barrier task always fails")

    with pytest.raises(PythonException, match="barrier task always fails"):
        sc.parallelize(range(2), 2).barrier().mapPartitions(always).collect()
    assert sc.parallelize(range(2), 2).barrier().mapPartitions(lambda it: [1]).sum() == 2


def test_peer_finishing_without_the_call_fails(sc):
    def uneven(i, it):
        if i == 1:
            BarrierTaskContext.get().barrier()
        return [i]

    with pytest.raises(PythonException, match=r"\[BARRIER_PEER_FINISHED\].*partition 0 finished after 0"):
        sc.parallelize(range(2), 2).barrier().mapPartitionsWithIndex(uneven).collect()


def test_sync_timeout(sc, monkeypatch):
    monkeypatch.setattr(sc, "_conf", sc._conf._copy().set("spark.barrier.sync.timeout", "200ms"))

    def late(i, it):
        if i == 1:
            time.sleep(3)
        BarrierTaskContext.get().barrier()
        return [i]

    rdd = sc.parallelize(range(2), 2).barrier().mapPartitionsWithIndex(late)
    with pytest.raises(PythonException, match=r"\[BARRIER_TIMEOUT\].*spark.barrier.sync.timeout"):
        rdd.collect()


def test_barrier_stage_waits_for_a_slot_per_task(sc, tmp_path):
    import threading
    d = str(tmp_path)

    def busy(x):
        time.sleep(0.5)
        with open(os.path.join(d, "busy-end"), "w") as f:
            f.write(repr(time.time()))
        return x

    def started(i, it):
        with open(os.path.join(d, f"start-{i}"), "w") as f:
            f.write(repr(time.time()))
        BarrierTaskContext.get().barrier()
        return [i]

    other = threading.Thread(target=lambda: sc.parallelize([0], 1).map(busy).collect())
    other.start()
    while not sc.statusTracker().getActiveStageIds():
        time.sleep(0.01)  # the busy job holds one of the two slots
    assert sc.parallelize(range(2), 2).barrier().mapPartitionsWithIndex(started).collect() == [0, 1]
    other.join()

    def read(name):
        with open(os.path.join(d, name)) as f:
            return float(f.read())

    # Neither barrier task started while the busy task held a slot.
    assert min(read("start-0"), read("start-1")) >= read("busy-end")
