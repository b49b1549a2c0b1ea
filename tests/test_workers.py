"""The Python workers: which modules they load, how their end is reported, the
daemon that forks them, and the limits they run under."""
import os
import re
import subprocess
import sys
import textwrap

import pytest

from ember import PythonException


def _run_script(script_dir, cwd, body, env=None, timeout=120):
    """Writes body as app.py in script_dir and runs `python app.py` from cwd."""
    app = os.path.join(script_dir, "app.py")
    with open(app, "w") as f:
        f.write(textwrap.dedent(body))
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, app], cwd=cwd, capture_output=True, text=True,
                          env=full_env, timeout=timeout)


SHADOW = "open({marker!r}, 'a').write(__name__ + ' imported from the working directory\\n')\n"


def test_workers_do_not_import_from_the_working_directory(tmp_path):
    """A shadow ember/ package and cloudpickle.py in the working directory (say /tmp,
    shared with other users) are not imported by workers; a helper module next to
    the script is, as in PySpark local mode."""
    cwd, app_dir = tmp_path / "shared", tmp_path / "app"
    cwd.mkdir()
    app_dir.mkdir()
    marker = str(tmp_path / "shadow-imported")
    (cwd / "ember").mkdir()
    (cwd / "ember" / "__init__.py").write_text(SHADOW.format(marker=marker))
    (cwd / "ember" / "daemon.py").write_text(SHADOW.format(marker=marker))
    (cwd / "cloudpickle.py").write_text(SHADOW.format(marker=marker))
    (app_dir / "helper.py").write_text("def triple(x):\n    return 3 * x\n")
    proc = _run_script(app_dir, cwd, """
        import os, sys
        import helper
        from ember import SparkContext
        sc = SparkContext("local[2]", "isolation")
        print(sc.parallelize(range(4), 2).map(helper.triple).collect())
        print(sc.parallelize([0], 1).map(lambda _: sys.modules["ember"].__file__).collect()[0])
        print(sc.parallelize([0], 1).map(lambda _: sorted(set(sys.path) - {"", os.getcwd()}) == sorted(sys.path)
                                         ).collect()[0])
        sc.stop()
        """)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "[0, 3, 6, 9]"
    import ember
    assert os.path.realpath(lines[1]) == os.path.realpath(ember.__file__)
    assert lines[2] == "True", "the working directory is on the workers' sys.path"
    assert not os.path.exists(marker), open(marker).read()


def test_workers_sys_path_is_the_drivers_made_absolute(tmp_path):
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "extra_mod.py").write_text("VALUE = 42\n")
    proc = _run_script(tmp_path, tmp_path, """
        import os, sys
        sys.path.append("extra")            # relative: the driver resolves it from its cwd
        from ember import SparkContext
        sc = SparkContext("local[1]", "paths")
        driver = [os.path.abspath(p or ".") for p in sys.path]
        from ember import SparkFiles
        worker = sc.parallelize([0], 1).map(
            lambda _: [p for p in sys.path if not p.startswith(SparkFiles.getRootDirectory())]).collect()[0]
        print(worker == list(dict.fromkeys(driver)))
        print(os.path.join(os.getcwd(), "extra") in worker)
        print(sc.parallelize([0], 1).map(lambda _: __import__("extra_mod").VALUE).collect())
        sc.stop()
        """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "True", "[42]"]


def test_worker_tracebacks_name_the_users_file_and_line(sc):
    def divide(x):
        return x / 0

    with pytest.raises(PythonException) as info:
        sc.parallelize([1], 1).map(divide).collect()
    line = divide.__code__.co_firstlineno + 1
    assert f'File "{__file__}", line {line}, in divide' in str(info.value)
    assert "<dynamic-code>" not in str(info.value)


def _segfault(_):
    import ctypes
    return ctypes.string_at(0)


def _exit_1(_):
    os._exit(1)


def _exit_0(_):
    os._exit(0)


def _abort(_):
    os.abort()


def _sigkill(_):
    import signal
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.parametrize("crash, how, traceback", [
    (_segfault, r"killed by signal 11 \(SIGSEGV\)", "Fatal Python error: Segmentation fault"),
    (_exit_1, "exited with status 1", None),
    (_exit_0, "exited with status 0", None),
    (_abort, r"killed by signal 6 \(SIGABRT\)", "Fatal Python error: Aborted"),
    (_sigkill, r"killed by signal 9 \(SIGKILL\)", None),
])
def test_a_crashed_worker_says_how_it_ended(sc, crash, how, traceback):
    if crash is _segfault and "libasan" in os.environ.get("LD_PRELOAD", ""):
        pytest.skip("ASan takes the SIGSEGV itself")
    with pytest.raises(PythonException) as info:
        sc.parallelize([0, 1, 2, 3], 2).map(lambda x: crash(x) if x == 3 else x).collect()
    text = str(info.value)
    assert re.search(r"Python worker exited unexpectedly: " + how + r" \(pid \d+\) while running partition 1 "
                     r"of stage \d+ \(attempt 4\)", text), text
    if traceback:
        assert "The last Python traceback the worker wrote:\n" + traceback in text
        assert re.search(rf'File "{re.escape(__file__)}", line \d+ in {crash.__name__}\n', text), text
    else:
        assert "The last Python traceback" not in text
    assert sc.parallelize([1, 2]).count() == 2


def test_a_crashed_map_attempt_leaves_no_partial_shuffle_file(sc):
    def crash_late(split, it):
        for i, x in enumerate(it):
            if split == 1 and i == 1000:
                os._exit(1)
            yield x

    pairs = sc.parallelize(range(4000), 2).mapPartitionsWithIndex(crash_late).map(lambda x: (x, x))
    with pytest.raises(PythonException, match="exited with status 1"):
        pairs.partitionBy(3).count()
    assert [f for f in os.listdir(sc._core.tmpdir) if ".tmp." in f] == []


def _daemon_pid():
    """The worker daemon: this process's child whose command line runs ember.daemon."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and b"from ember import daemon" in cmdline:
            return int(entry)
    return None


def test_a_killed_daemon_is_replaced_on_the_next_job(sc, caplog):
    """The daemon and its workers are killed (SIGKILL to its process group): the next
    job's tasks fail on dead workers, are retried on workers of a new daemon, and a
    warning says what happened."""
    import signal
    assert sc.parallelize(range(4), 2).sum() == 6
    old = _daemon_pid()
    assert old is not None
    os.killpg(old, signal.SIGKILL)
    with caplog.at_level("WARNING", logger="ember"):
        assert sc.parallelize(range(4), 2).map(lambda x: x * 2).sum() == 12
    new = _daemon_pid()
    assert new is not None and new != old
    assert any(f"the Python worker daemon (pid {old}) died (killed by signal 9 (SIGKILL)" in r.getMessage()
               and "started a new one" in r.getMessage() for r in caplog.records), caplog.text
    assert sc.parallelize(range(10), 2).count() == 10


def test_a_daemon_killed_during_a_job_the_job_is_retried(sc, tmp_path):
    import signal
    gate = tmp_path / "gate"

    def wait_for_gate(x):
        import time
        while not gate.exists():
            time.sleep(0.01)
        return x

    from conftest import run_in_thread, wait_for
    sc.parallelize([0], 1).count()
    old = _daemon_pid()
    thread, out = run_in_thread(lambda: sc.parallelize(range(4), 2).map(wait_for_gate).sum())
    wait_for(lambda: sc.statusTracker().getActiveStageIds(), "the stage to start")
    os.killpg(old, signal.SIGKILL)
    gate.touch()
    thread.join(120)
    assert out.get("result") == 6, out
    assert _daemon_pid() not in (None, old)


MEMORY_PROGRAM = """
from ember import SparkConf, SparkContext, PythonException
conf = SparkConf().set("spark.executor.pyspark.memory", "512m")
sc = SparkContext("local[1,1]", "memory", conf=conf)
print(sc.parallelize([1], 1).map(lambda x: len(bytearray(100 << 20))).collect())
try:
    sc.parallelize([1], 1).map(lambda x: len(bytearray(2 << 30))).collect()
except PythonException as e:
    print("FAILED", str(e))
import resource
print(sc.parallelize([1], 1).map(lambda x: resource.getrlimit(resource.RLIMIT_AS)[0]).collect())
sc.stop()
"""


def test_executor_pyspark_memory_limits_each_workers_address_space():
    if "libasan" in os.environ.get("LD_PRELOAD", ""):
        pytest.skip("ASan reserves terabytes of address space up front")
    from conftest import run_python
    proc = run_python(MEMORY_PROGRAM)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "[104857600]"
    failed = "\n".join(lines[1:-1])
    assert failed.startswith("FAILED") and "MemoryError" in failed, proc.stdout
    assert "512 MiB" in failed and "spark.executor.pyspark.memory" in failed, failed
    assert lines[-1] == f"[{512 << 20}]"


def test_a_bad_executor_pyspark_memory_is_a_clear_error():
    from conftest import run_python
    proc = run_python("from ember import SparkConf, SparkContext\n"
                      "SparkContext('local[1]', conf=SparkConf().set('spark.executor.pyspark.memory', 'lots'))")
    assert "spark.executor.pyspark.memory='lots' is not a size" in proc.stderr
