"""Errors, retries and cleanup: a failing function, a killed worker, bad paths,
atomic output, and nothing left behind after stop() or exit."""
import os
import signal
import threading
import time

import pytest

from conftest import run_python
from ember import PythonException, SparkContext


def test_user_exception_carries_worker_traceback_and_context_survives(sc):
    def boom(x):
        if x == 3:
            raise ZeroDivisionError("bad record 3")
        return x

    with pytest.raises(PythonException) as info:
        sc.parallelize(range(5), 2).map(boom).collect()
    msg = str(info.value)
    assert "Traceback (most recent call last)" in msg
    assert "ZeroDivisionError: bad record 3" in msg
    assert "in boom" in msg
    assert "failed 4 times" in msg
    assert sc.parallelize(range(5), 2).map(lambda x: x + 1).collect() == [1, 2, 3, 4, 5]


def test_failing_task_is_retried_and_can_succeed(sc, tmp_path):
    flag = tmp_path / "failed-once"

    def flaky(x):
        if not flag.exists():
            flag.touch()
            raise RuntimeError("transient")
        return x

    assert sc.parallelize([1, 2, 3], 1).map(flaky).collect() == [1, 2, 3]


def test_worker_killing_itself_mid_task_is_replaced_and_retried(sc, tmp_path):
    flag = tmp_path / "killed"

    def die_once(i, it):
        out = []
        for n, x in enumerate(it):
            if i == 1 and n == 50 and not flag.exists():
                flag.touch()
                os.kill(os.getpid(), signal.SIGKILL)
            out.append(x * 2)
        return out

    got = sc.parallelize(range(300), 3).mapPartitionsWithIndex(die_once).collect()
    assert got == [x * 2 for x in range(300)]
    assert flag.exists()


def test_worker_killed_from_outside_mid_task(sc, tmp_path):
    pidfile = tmp_path / "pid"
    done = tmp_path / "killed"

    def slow(i, it):
        if i == 0 and not done.exists():
            pidfile.write_text(str(os.getpid()))
            time.sleep(30)
        return (x + 1 for x in it)

    def killer():
        for _ in range(300):
            if pidfile.exists() and pidfile.read_text():
                done.touch()
                os.kill(int(pidfile.read_text()), signal.SIGKILL)
                return
            time.sleep(0.02)

    t = threading.Thread(target=killer)
    t.start()
    start = time.monotonic()
    got = sc.parallelize(range(10), 2).mapPartitionsWithIndex(slow).collect()
    t.join()
    assert got == list(range(1, 11))
    assert done.exists()
    assert time.monotonic() - start < 20


def test_crash_every_time_fails_the_job_with_a_clear_message(sc):
    with pytest.raises(PythonException, match="exited unexpectedly"):
        sc.parallelize([1], 1).map(lambda x: os._exit(3)).collect()
    assert sc.parallelize([1, 2]).count() == 2


def test_missing_input_path_is_named(sc, tmp_path):
    missing = str(tmp_path / "nope" / "input.txt")
    with pytest.raises(FileNotFoundError, match="nope/input.txt"):
        sc.textFile(missing)
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        sc.textFile(str(tmp_path / "nothing-here*"))


def test_save_as_text_file_refuses_existing_dir(sc, tmp_path):
    out = tmp_path / "exists"
    out.mkdir()
    with pytest.raises(FileExistsError, match=str(out)):
        sc.parallelize([1]).saveAsTextFile(str(out))


def test_save_as_text_file_commits_only_on_success(sc, tmp_path):
    out = tmp_path / "out"

    def bad(x):
        if x == 7:
            raise ValueError("no")
        return x

    with pytest.raises(PythonException):
        sc.parallelize(range(10), 3).map(bad).saveAsTextFile(str(out))
    assert not out.exists()
    assert os.listdir(tmp_path) == []
    sc.parallelize([1, "two", b"three", None], 3).saveAsTextFile(str(out))
    assert sorted(os.listdir(out)) == ["_SUCCESS", "part-00000", "part-00001", "part-00002"]
    assert sc.textFile(str(out)).collect() == ["1", "two", "three", "None"]


def test_save_gzip(sc, tmp_path):
    out = tmp_path / "gz"
    sc.parallelize(["a", "b"], 2).saveAsTextFile(str(out), "org.apache.hadoop.io.compress.GzipCodec")
    assert sorted(os.listdir(out)) == ["_SUCCESS", "part-00000.gz", "part-00001.gz"]
    assert sc.textFile(str(out)).collect() == ["a", "b"]


def _children(pid):
    """Processes whose parent is pid, and theirs (from /proc)."""
    found, frontier = set(), {pid}
    while frontier:
        nxt = set()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid in frontier and int(entry) not in found:
                nxt.add(int(entry))
        found |= nxt
        frontier = nxt
    return found


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


STOP_PROGRAM = r"""
import os, sys, time
sys.path.insert(0, {tests!r})
from test_failures import _children, _alive
from ember import SparkContext
ctx = SparkContext("local[2]", "cleanup")
assert ctx.parallelize(range(10), 2).map(lambda x: (x % 3, x)).reduceByKey(lambda a, b: a + b).count() == 3
procs = _children(os.getpid())
assert len(procs) >= 3, procs  # the daemon and two workers
tmpdir = ctx._core.tmpdir
assert os.path.isdir(tmpdir)
ctx.stop()
ctx.stop()  # idempotent
deadline = time.monotonic() + 5
while any(_alive(p) for p in procs) and time.monotonic() < deadline:
    time.sleep(0.05)
assert not any(_alive(p) for p in procs), procs
assert not os.path.exists(tmpdir)
try:
    ctx.parallelize([1]).count()
    raise SystemExit("a stopped context ran a job")
except RuntimeError as e:
    assert "stopped" in str(e)
again = SparkContext("local[1]", "after-stop")
assert again.parallelize([1, 2]).count() == 2
again.stop()
print("OK")
"""


def test_stop_leaves_no_process_or_temp_file(tmp_path):
    proc = run_python(STOP_PROGRAM.format(tests=os.path.dirname(__file__)), env={"TMPDIR": str(tmp_path)})
    assert proc.stdout.strip() == "OK", proc.stderr
    assert os.listdir(tmp_path) == []


def test_interpreter_exit_and_driver_kill_leave_nothing(tmp_path):
    code = ("import os\nfrom ember import SparkContext\nsc = SparkContext('local[2]', 'exit')\n"
            "print(sc.parallelize(range(4), 2).map(lambda x: os.getpid()).distinct().collect()"
            " if hasattr(sc.parallelize([1]), 'distinct') else sc.parallelize(range(4), 2)"
            ".map(lambda x: os.getpid()).collect(), flush=True)\n{end}")
    for end in ["", "os.kill(os.getpid(), 9)"]:
        proc = run_python(code.format(end=end), env={"TMPDIR": str(tmp_path)})
        pids = {int(p) for p in proc.stdout.strip().strip("[]").split(",") if p.strip()}
        assert pids, proc.stderr
        deadline = time.monotonic() + 5
        while (any(_alive(p) for p in pids) or os.listdir(tmp_path)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(p) for p in pids)
        assert os.listdir(tmp_path) == []


def test_second_context_is_refused(sc):
    with pytest.raises(ValueError, match="Cannot run multiple SparkContexts at once"):
        SparkContext("local[1]", "second")
