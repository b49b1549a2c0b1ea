"""Results streamed to Python: take()/first() stop their job once enough rows
arrived, toLocalIterator() fetches partitions as it reaches them,
spark.driver.maxResultSize bounds what a job sends back, and independent map
stages of one job run at the same time."""
import os
import subprocess
import sys

from conftest import run_python


def _stages_of_group(sc, group):
    tracker = sc.statusTracker()
    stages = []
    for job in sorted(tracker.getJobIdsForGroup(group)):
        stages += [tracker.getStageInfo(s) for s in tracker.getJobInfo(job).stageIds]
    return stages


def test_take_on_1000_partitions_runs_one_task(sc):
    rdd = sc.parallelize(range(100_000), 1000)
    sc.setJobGroup("take-1000", "take(10)")
    try:
        assert rdd.take(10) == list(range(10))
        assert rdd.first() == 0
    finally:
        sc.setJobGroup(None, None)
    stages = _stages_of_group(sc, "take-1000")
    assert [(s.numTasks, s.numCompletedTasks) for s in stages] == [(1, 1), (1, 1)]


TAKE_STOP = r"""
import os, sys, time
from ember import SparkContext
gate, started = sys.argv[1], sys.argv[2]


def part(i, it):
    open(os.path.join(started, str(i)), "w").close()
    if i == 0:
        return []
    if i >= 2:
        for _ in range(6000):          # a deadlock breaker only: 60 s
            if os.path.exists(gate):
                break
            time.sleep(0.01)
    return [x * 10 + i for x in it]


with SparkContext("local[1]", "take-stop") as sc:
    rdd = sc.parallelize(range(16), 8).mapPartitionsWithIndex(part)
    sc.setJobGroup("take-stop", "take(1)")
    assert rdd.take(1) == [21]
    tracker = sc.statusTracker()
    stages = [tracker.getStageInfo(s) for j in sorted(tracker.getJobIdsForGroup("take-stop"))
              for s in tracker.getJobInfo(j).stageIds]
    print([(s.numTasks, s.numCompletedTasks) for s in stages], sorted(os.listdir(started)))
    assert sc.parallelize([1, 2]).collect() == [1, 2]   # still usable
"""


def test_take_stops_a_round_once_enough_rows_arrived(tmp_path):
    # One slot. Partition 0 is empty, so take(1) runs a second round over partitions
    # 1-4; partition 1 holds the row, partitions 2-4 wait on a gate that is never
    # opened: the round must stop as soon as partition 1's result arrived.
    script, started = tmp_path / "take.py", tmp_path / "started"
    started.mkdir()
    script.write_text(TAKE_STOP)
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "gate"), str(started)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    stages, ran = out.stdout.strip().split("] [")
    assert stages + "]" == "[(1, 1), (4, 1)]"      # round 2: partition 1 only completed
    # partitions 0, 1, and at most the one running when the job stopped
    assert len(ran.split(",")) <= 3


def test_collect_keeps_partition_order_when_tasks_finish_out_of_order(sc, tmp_path):
    # Partition 0 waits until partition 1 has finished (its mark), so its result
    # arrives second; collect() still gives partition order.
    mark = str(tmp_path / "p1-done")

    def part(i, it):
        import time
        rows = list(it)
        if i == 0:
            for _ in range(6000):          # a deadlock breaker only: 60 s
                if os.path.exists(mark):
                    break
                time.sleep(0.01)
            return rows + ["0 after 1" if os.path.exists(mark) else "0 alone"]
        open(mark, "w").close()
        return rows

    assert sc.parallelize(range(4), 2).mapPartitionsWithIndex(part).collect() == [0, 1, "0 after 1", 2, 3]


def test_to_local_iterator_runs_a_job_per_partition_as_it_goes(sc):
    rdd = sc.parallelize(range(40), 4)
    sc.setJobGroup("local-iter", "toLocalIterator")
    try:
        it = rdd.toLocalIterator()
        assert next(it) == 0
        assert len(sc.statusTracker().getJobIdsForGroup("local-iter")) == 1
        assert [next(it) for _ in range(10)] == list(range(1, 11))   # into partition 1
        assert len(sc.statusTracker().getJobIdsForGroup("local-iter")) == 2
        assert list(it) == list(range(11, 40))
        assert len(sc.statusTracker().getJobIdsForGroup("local-iter")) == 4
    finally:
        sc.setJobGroup(None, None)


def _run_script(code):
    out = run_python(code, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_collect_past_max_result_size_fails_and_the_context_stays_usable():
    _run_script(r"""
from ember import PythonException, SparkConf, SparkContext
conf = SparkConf().set("spark.driver.maxResultSize", "1m")
with SparkContext("local[2]", "max-result", conf=conf) as sc:
    big = sc.parallelize(range(8), 8).map(lambda i: b"x" * 300_000)
    try:
        big.collect()
        raise AssertionError("collect() past the limit did not fail")
    except PythonException as e:
        text = str(e)
    assert "spark.driver.maxResultSize (1024.0 KiB)" in text, text
    assert "Total size of serialized results of" in text, text
    assert len(big.take(2)) == 2                          # under the limit
    assert sc.parallelize(range(5)).sum() == 10
""")


def test_max_result_size_zero_is_unlimited_and_sizes_are_parsed():
    _run_script(r"""
from ember import SparkConf, SparkContext
conf = SparkConf().set("spark.driver.maxResultSize", "0")
with SparkContext("local[1]", "unlimited", conf=conf) as sc:
    assert len(sc.parallelize(range(4), 4).map(lambda i: b"x" * 400_000).collect()) == 4
for bad in ("1.5g", "lots", "12 parsecs"):
    conf = SparkConf().set("spark.driver.maxResultSize", bad)
    try:
        SparkContext("local[1]", "bad-size", conf=conf).stop()
        raise AssertionError(f"{bad!r} was accepted")
    except ValueError as e:
        assert "spark.driver.maxResultSize" in str(e), e
""")


JOIN = r"""
import os, sys, time
from ember import SparkContext
marks = sys.argv[1]


def side(name, other):
    def f(it):
        open(os.path.join(marks, name), "w").close()
        met = False
        for _ in range(6000):          # a deadlock breaker only: 60 s
            if os.path.exists(os.path.join(marks, other)):
                met = True
                break
            time.sleep(0.01)
        return [(k, v + ("!" if met else "?")) for k, v in it]
    return f


def add(a, b):
    return a + b


with SparkContext("local[2]", "join-stages") as sc:
    # join() is a union and one shuffle (as in PySpark): its two inputs' own shuffles
    # (reduceByKey) are the independent map stages.
    left = sc.parallelize([(1, "a"), (2, "b")], 1).mapPartitions(side("left", "right")).reduceByKey(add, 2)
    right = sc.parallelize([(1, "x"), (2, "y")], 1).mapPartitions(side("right", "left")).reduceByKey(add, 2)
    sc.setJobGroup("join", "join")
    print(sorted(left.join(right).collect()))
    tracker = sc.statusTracker()
    [job] = tracker.getJobIdsForGroup("join")
    print([(s.numTasks, s.numCompletedTasks) for s in map(tracker.getStageInfo, tracker.getJobInfo(job).stageIds)])
"""


def test_independent_map_stages_of_a_join_run_at_the_same_time(tmp_path):
    # Each side's map task marks that it started, then waits for the other side's
    # mark: run one after the other, the first would give up waiting and say so ("?").
    script = tmp_path / "join.py"
    script.write_text(JOIN)
    (tmp_path / "marks").mkdir()
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "marks")], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    joined, stages = out.stdout.strip().splitlines()
    assert joined == "[(1, ('a!', 'x!')), (2, ('b!', 'y!'))]"
    # the two reduceByKey map stages; the join of the co-partitioned sides is narrow
    assert stages == "[(1, 1), (1, 1), (2, 2)]"


def test_bench_results_stream_smoke():
    # The benchmark of bench/results_stream.py, smoke-sized: it checks its own bounds
    # (driver RSS under the limit, take(10) running one task) and exits 1 otherwise.
    bench = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench", "results_stream.py")
    out = subprocess.run([sys.executable, bench, "--gb", "0.01", "--partitions", "8", "--take-partitions", "1000"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "take(10) on 1000 partitions: right rows, 1 job(s), 1 task(s) run" in out.stdout
    assert out.stdout.count("under 300 MiB") == 2
