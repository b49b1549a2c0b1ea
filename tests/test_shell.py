"""The ember shell driven in a pseudo-terminal: banner, a word count, Ctrl-C during a long
job (the job's tasks die, the prompt comes back, sc still works), Ctrl-D."""
import os
import subprocess
import sys
import time

import pytest

pexpect = pytest.importorskip("pexpect")

PROMPT = ">>> "
TIMEOUT = 60  # generous: CI machines are slow; a working shell answers in milliseconds


def command(name, module):
    """The installed console script, else ``python -m module``."""
    script = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.exists(script):
        return script, []
    return sys.executable, ["-m", module]


def shell_env(tmp_path, **extra):
    env = dict(os.environ, HOME=str(tmp_path), COLUMNS="80", **extra)
    for key in ("EMBER_MASTER", "EMBER_APP_NAME", "EMBER_CONF", "PYTHONSTARTUP"):
        env.pop(key, None)
    return env


def wait_for(predicate, what, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):  # gone before or while reading
        return False


def test_shell_word_count_ctrl_c_cancels_the_job_and_ctrl_d_exits(tmp_path):
    text = tmp_path / "words.txt"
    text.write_text("to be or not to be\nthat is the question\nto be\n")
    pids = tmp_path / "pids"
    pids.mkdir()
    exe, args = command("ember", "ember")
    child = pexpect.spawn(exe, args + ["--master", "local[2]", "--no-ipython"], cwd=str(tmp_path),
                          env=shell_env(tmp_path), encoding="utf-8", timeout=TIMEOUT)
    try:
        child.expect(PROMPT)
        banner = child.before
        assert "ember 0.1.0" in banner
        assert "master = local[2]" in banner and "2 slots" in banner
        assert "available as 'sc'" in banner

        child.sendline("counts = sc.textFile('words.txt').flatMap(str.split)"
                       ".map(lambda w: (w, 1)).reduceByKey(lambda a, b: a + b)")
        child.expect(PROMPT)
        child.sendline("print('WC', sorted(counts.collect(), key=lambda kv: (-kv[1], kv[0]))[:3])")
        child.expect(r"WC \[\('be', 3\), \('to', 3\), \('is', 1\)\]")
        child.expect(PROMPT)

        # A job whose tasks would sleep a minute; each task leaves its worker's pid.
        child.sendline("import os, time")
        child.expect(PROMPT)
        child.sendline(f"sc.parallelize(range(4), 4).map(lambda x: open(os.path.join({str(pids)!r}, "
                       "str(os.getpid())), 'w').close() or time.sleep(60)).collect()")
        wait_for(lambda: len(os.listdir(pids)) == 2, "two running tasks")
        child.sendintr()
        child.expect("KeyboardInterrupt")
        child.expect(PROMPT)
        # The cancelled tasks' workers were killed, not left sleeping.
        for pid in map(int, os.listdir(pids)):
            wait_for(lambda: not alive(pid), f"worker {pid} of the cancelled job to end")
        assert len(os.listdir(pids)) == 2   # the job did not go on to its other tasks

        child.sendline("print('SUM', sc.parallelize(range(10), 3).sum())")
        child.expect("SUM 45")
        child.expect(PROMPT)
        child.sendline("sc.parallelize([1, 2], 2).map(str)")
        child.expect(r"PipelinedRDD\[\d+\] \(2 partitions\) from map at <console>:1; "
                     r"lineage: parallelize -> map")
        child.expect(PROMPT)

        child.sendeof()
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, child.before


def test_python_m_ember_starts_and_exits_on_ctrl_d(tmp_path):
    child = pexpect.spawn(sys.executable, ["-m", "ember", "--master", "local[1]", "--no-ipython",
                                           "--name", "probe", "--conf", "spark.foo=bar"],
                          env=shell_env(tmp_path), encoding="utf-8", timeout=TIMEOUT)
    try:
        child.expect(PROMPT)
        assert "master = local[1]" in child.before and "app = probe" in child.before
        assert "1 slot)" in child.before
        child.sendline("print('CONF', sc.getConf().get('spark.foo'), "
                       "sc.getConf().get('spark.ui.showConsoleProgress'))")
        child.expect("CONF bar true")
        child.expect(PROMPT)
        child.sendeof()
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


def test_shell_uses_ipython_when_installed(tmp_path):
    pytest.importorskip("IPython")
    exe, args = command("ember", "ember")
    env = shell_env(tmp_path, IPYTHONDIR=str(tmp_path / "ipython"), IPY_TEST_SIMPLE_PROMPT="1")
    child = pexpect.spawn(exe, args + ["--master", "local[2]"], env=env, encoding="utf-8",
                          timeout=TIMEOUT)
    prompt = r"In \[\d+\]: "
    try:
        child.expect(prompt)
        assert "available as 'sc'" in child.before
        pids = tmp_path / "pids"
        pids.mkdir()
        child.sendline("import os, time")
        child.expect(prompt)
        child.sendline(f"sc.parallelize(range(2), 2).map(lambda x: open(os.path.join({str(pids)!r}, "
                       "str(os.getpid())), 'w').close() or time.sleep(60)).collect()")
        wait_for(lambda: len(os.listdir(pids)) == 2, "two running tasks")
        child.sendintr()
        child.expect("KeyboardInterrupt")
        child.expect(prompt)
        child.sendline("print('SUM', sc.parallelize(range(10), 3).sum())")
        child.expect("SUM 45")
        child.expect(prompt)
        child.sendeof()
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


def test_shell_refuses_a_script_and_points_to_ember_submit(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ember", "job.py"], capture_output=True, text=True,
                          env=shell_env(tmp_path), timeout=TIMEOUT)
    assert proc.returncode == 2
    assert "ember-submit job.py" in proc.stderr


def test_shell_rejects_a_bad_master(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ember", "--master", "yarn"], capture_output=True,
                          text=True, env=shell_env(tmp_path), timeout=TIMEOUT)
    assert proc.returncode == 2
    assert "Unsupported master URL 'yarn'" in proc.stderr
