"""Cluster mode on MPI: the same programs under `mpirun -np 3` (rank 0 the driver,
ranks 1 and 2 executors) and in local mode give the same results; losing an
executor fails the running job fast, naming the rank and host, and leaves no
process and no temp dir behind. Skipped without mpirun or without ember's MPI shim,
unless EMBER_REQUIRE_MPI=1 (CI) makes that a failure."""
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

import ember

from conftest import cluster_and_local_results

HERE = os.path.dirname(os.path.abspath(__file__))
SHIM = glob.glob(os.path.join(os.path.dirname(ember.__file__), "_mpi_shim*.so"))
MPIRUN = shutil.which("mpirun")

if not (MPIRUN and SHIM):
    why = "mpirun not found" if not MPIRUN else "ember was built without MPI (no _mpi_shim.so)"
    if os.environ.get("EMBER_REQUIRE_MPI") == "1":
        raise RuntimeError(f"EMBER_REQUIRE_MPI=1 but {why}: install openmpi-bin and libopenmpi-dev, reinstall ember")
    pytest.skip(why, allow_module_level=True)


def mpirun_command(script, *args, tmpdir, sigkill_after=5):
    """The command and environment that run script under mpirun -np 3 over TCP on
    loopback, its temp dirs under tmpdir. When a rank dies, mpirun sends the others
    SIGTERM and, by default, SIGKILL 1 s later: odls_base_sigkill_timeout makes that
    sigkill_after seconds, so that under load the driver has time to fail its job,
    write what the test reads and stop before a SIGKILL can cut it short (the
    time-to-fail the test checks is measured by the driver itself)."""
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", TMPDIR=str(tmpdir),
               OMPI_MCA_rmaps_base_oversubscribe="1")
    cmd = [MPIRUN, "-np", "3", "--oversubscribe", "--mca", "btl", "tcp,self", "--mca", "btl_tcp_if_include", "lo",
           "--mca", "oob_tcp_if_include", "lo", "--mca", "odls_base_sigkill_timeout", str(sigkill_after),
           "-x", "TMPDIR", sys.executable, os.path.join(HERE, "cluster", script), *map(str, args)]
    return cmd, env


def mpirun(script, *args, tmpdir, timeout=120):
    """Runs script under mpirun -np 3 (see mpirun_command) to its end."""
    cmd, env = mpirun_command(script, *args, tmpdir=tmpdir)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def processes_naming(text):
    """Pids of processes whose command line mentions text (the daemons name their temp dir)."""
    found = []
    for d in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(d, "rb") as f:
                if text.encode() in f.read():
                    found.append(int(d.split("/")[2]))
        except OSError:
            pass
    return found


def test_results_match_local_mode(tmp_path):
    data = tmp_path / "words.txt"
    data.write_text("the quick brown fox\njumps over the lazy dog\nthe end\n" * 40 + "x" * 100 + "\n")
    run = mpirun("jobs.py", tmp_path / "cluster.json", data, tmpdir=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    cluster, plain = cluster_and_local_results(tmp_path / "cluster.json", data, tmp_path)
    # tasks found the added files under their executor's own temp dir, and each
    # executor had its copy of the broadcast until it was destroyed
    assert cluster.pop("shared_roots") == ["ember-executor"] and plain.pop("shared_roots") == ["ember"]
    assert cluster.pop("broadcast_copies") == [2, 0] and plain.pop("broadcast_copies") == [0, 0]
    assert cluster["shared"] == [200000 + 6 * x for x in range(6)]
    assert cluster == plain
    assert cluster["accumulator"] == 30 and cluster["cached_partitions"] == [4]
    assert cluster["lost_shuffle"][:2] == [True, True]
    assert cluster["released_shuffle"] == [True, []]
    assert [n for n in os.listdir(tmp_path) if n.startswith("ember-")] == []  # every temp dir removed


def read_json_when_written(path, proc, timeout):
    """The JSON the program writes at path (None if proc ends or timeout passes first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):  # not there yet, or half-written
            if proc.poll() is not None and not path.exists():
                return None
            time.sleep(0.05)
    return None


def test_lost_executor_fails_the_job_fast_and_leaves_nothing(tmp_path):
    # mpirun's SIGKILL comes 30 s after a rank died: the other ranks must end by
    # themselves, well before it (an executor once waited in MPI_Finalize for the
    # lost rank until the SIGKILL).
    cmd, env = mpirun_command("lose_executor.py", tmp_path / "seen.json", tmpdir=tmp_path, sigkill_after=30)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = read_json_when_written(tmp_path / "seen.json", proc, 120)
        assert seen is not None, proc.communicate(timeout=60)
        ranks = [seen["driver"]] + [e[2] for e in seen["executors"]]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(map(alive, ranks)):
            time.sleep(0.05)
        assert [p for p in ranks if alive(p)] == [], "ranks still running 10 s after the job failed"
    finally:
        if proc.poll() is None:  # its ranks are gone; mpirun itself waits out its SIGKILL timeout
            proc.terminate()
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    assert proc.returncode != 0  # mpirun ends the job: a rank was killed
    host = socket.gethostname()
    assert seen["error"] is not None, err
    assert f"executor rank 1 (host {host}" in seen["error"]
    assert seen["seconds"] < 5
    pids = [e[2] for e in seen["executors"]] + [p for pair in seen["workers"] for p in pair]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (any(map(alive, pids)) or processes_naming(str(tmp_path))):
        time.sleep(0.1)
    assert [p for p in pids if alive(p)] == []
    assert processes_naming(str(tmp_path)) == []
    assert [n for n in os.listdir(tmp_path) if n.startswith("ember-")] == []


def test_missing_input_names_path_and_host(tmp_path):
    script = tmp_path / "missing.py"
    script.write_text(
        "import os, sys\nfrom ember import SparkContext\nsc = SparkContext('local[1]', 'missing')\n"
        "p = sys.argv[1]\nopen(p, 'w').write('x\\n')\nrdd = sc.textFile(p)\n"
        "rdd.getNumPartitions()\nos.unlink(p)\n"
        "try:\n    rdd.count()\nexcept Exception as e:\n    print('ERROR', e)\nsc.stop()\n")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", TMPDIR=str(tmp_path))
    data = tmp_path / "gone.txt"
    run = subprocess.run([MPIRUN, "-np", "2", "--oversubscribe", "--mca", "btl", "tcp,self", "--mca",
                          "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo", "-x", "TMPDIR",
                          sys.executable, str(script), str(data)], env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert str(data) in run.stdout
    assert f"executor rank 1 (host {socket.gethostname()})" in run.stdout


def test_tasks_run_where_their_input_is(tmp_path):
    """Reduce tasks on the executor holding their shuffle input (fetching nothing;
    those whose input is spread fetch the other executor's share, counted in the task
    log and the REST API's remoteBytesRead); cached partitions
    kept by the executors that computed them, read there by the next action's tasks,
    removed there by unpersist()."""
    run = mpirun("locality.py", tmp_path / "out.json", tmpdir=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    seen = json.loads((tmp_path / "out.json").read_text())
    assert seen["counts"] == [[i, 2000] for i in range(4)]
    assert seen["map_executors"] == ["1", "2"]  # both executors ran map tasks: the test can fail
    assert seen["reduce_on_map_executor"] == [True] * 4
    assert seen["reduce_remote_fetched"] == [0] * 4
    assert seen["even_counts"] == [[i, 400] for i in range(4)]
    assert seen["even_map_executors"] == ["1", "2"]
    assert seen["even_reduce_executors"] == ["1", "2"]
    assert seen["even_fetches"] == [[True] * 5] * 4  # what each fetched, and when, in the task log and REST API
    for name in ("memory", "disk"):
        cache = seen[name]
        assert cache["same"] and cache["cached"] == 4 and cache["bytes"], cache
        assert cache["holders"] == ["1", "2"] and cache["rest_holders"], cache  # kept by both executors
        assert cache["second_tasks"] == 4 and cache["ran_on_holder"] == [True] * 4, cache  # nothing recomputed
        assert cache["files_on"] == (["ember-executor"] if name == "disk" else []), cache
        assert cache["files_after_unpersist"] == 0 and cache["storage_after_unpersist"] == [], cache


def test_cancelled_cache_tasks_leave_no_block_behind(tmp_path):
    """Jobs cancelled while their cache tasks finish on both executors: a block an
    executor kept whose answer the driver had not read when it cancelled is dropped
    there (no orphan using its budget and temp dir until the end), so the executors'
    block files are exactly the partitions the driver records; a later count is right
    and keeps every partition once."""
    run = mpirun("cancel_cache.py", tmp_path / "out.json", tmpdir=tmp_path, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    seen = json.loads((tmp_path / "out.json").read_text())
    for r in seen["rounds"]:
        assert r["raised"] is not None, r  # cancelled before every partition was counted
        assert r["files"] == r["recorded"], r
        assert len(r["recorded"]) < 400, r
    assert seen["last"]["count"] == 4000
    assert seen["last"]["files"] == seen["last"]["recorded"] == list(range(400))
    assert [n for n in os.listdir(tmp_path) if n.startswith("ember-")] == []


def run_until_stopped(tmp_path, how, stop, sigkill_after=10):
    """Runs stop_job.py under mpirun in a session of its own (as a terminal's foreground
    job), calls stop(proc, seen) once its slow job runs on every slot, and checks that
    every rank, worker and daemon then ends, mpirun too, and every temp dir goes, within
    60 s. Returns what the driver's job raised (None if it did not get to say) and
    whether the driver's sc.stop() returned (None if it was killed first)."""
    out = tmp_path / "seen.json"
    cmd, env = mpirun_command("stop_job.py", out, how, tmpdir=tmp_path, sigkill_after=sigkill_after)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        seen = read_json_when_written(out, proc, 120)
        assert seen is not None, proc.communicate(timeout=60)
        stop(proc, seen)
        pids = [seen["driver"]] + [e[2] for e in seen["executors"]] + [p for pair in seen["workers"] for p in pair]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (any(map(alive, pids)) or processes_naming(str(tmp_path))
                                               or proc.poll() is None):
            time.sleep(0.1)
        left = [p for p in pids if alive(p)], processes_naming(str(tmp_path)), proc.poll()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        out_text, err_text = proc.communicate(timeout=60)
    assert left[:2] == ([], []), f"still running 60 s after the stop: {left}\n{out_text}\n{err_text}"
    assert left[2] is not None, "mpirun still running 60 s after the stop"
    assert [n for n in os.listdir(tmp_path) if n.startswith("ember-")] == []
    said = {}
    for name in ("end", "stopped"):
        try:
            said[name] = json.loads((tmp_path / f"seen.json.{name}").read_text())
        except OSError:
            said[name] = None
    return said["end"], said["stopped"], err_text, left[2]


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm-mpirun", "sigterm-driver"])
def test_stopping_a_launch_ends_every_rank_and_leaves_nothing(tmp_path, how):
    """Ctrl-C at the terminal (SIGINT to mpirun's process group: mpirun does not pass it
    on, it sends every rank SIGTERM sigkill_after seconds later, SIGKILL as long again
    after that), SIGTERM to mpirun (the same), or SIGTERM to the driver alone. The
    running job fails saying so, and the driver's sc.stop() returns before mpirun's
    SIGKILL: it sends nothing to executors that ended with the SIGTERM (once it did, and
    Open MPI's TCP transport blocked the driver until the SIGKILL)."""
    def stop(proc, seen):
        if how == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)
        elif how == "sigterm-mpirun":
            proc.send_signal(signal.SIGTERM)
        else:
            os.kill(seen["driver"], signal.SIGTERM)

    end, stopped, err, _ = run_until_stopped(tmp_path, "wait", stop)
    assert stopped is not None, "the driver's sc.stop() did not return before mpirun's SIGKILL:\n" + err
    assert end is not None and end["raised"] == "RuntimeError", (end, err)
    assert "mpirun is ending the job (SIGTERM reached the driver" in end["message"] and "Ctrl-C" in end["message"]


@pytest.mark.parametrize("how", ["stop", "cancel"])
def test_stop_or_cancel_while_tasks_run_ends_every_rank(tmp_path, how):
    """sc.stop() from another thread while executors run tasks, or sc.cancelAllJobs()
    and then the program's own sc.stop(): the job ends, every rank ends by itself
    (mpirun exits 0) and nothing is left."""
    end, stopped, err, rc = run_until_stopped(tmp_path, how, lambda proc, seen: None)
    assert stopped is not None and rc == 0, err
    assert end is not None and end["raised"] is not None, end  # the slow job did not finish


@pytest.mark.parametrize("binding", ["core", "none"])
def test_a_rank_bound_to_fewer_cpus_than_its_slots_is_warned_about(tmp_path, binding):
    """Open MPI binds each rank to one core by default (2 ranks or fewer): an executor
    of 2 slots would run both workers on that core. It says so on stderr, naming the
    fix; unbound, it says nothing."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs 2 CPUs: a rank bound to none of them still has only 1")
    cmd, env = mpirun_command("x", tmpdir=tmp_path)
    program = ("from ember import SparkContext\n"
               "sc = SparkContext('local[2]', 'binding')\n"
               "print('sum', sc.parallelize(range(4), 2).sum())\n"
               "sc.stop()\n")
    cmd = cmd[:2] + ["2", "--bind-to", binding] + cmd[3:-1] + ["-c", program]  # python -c, not the script
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "sum 6" in r.stdout
    warned = "executor rank 1 has 2 task slots but may run on 1 CPU only" in r.stderr
    assert warned == (binding == "core"), r.stderr
    if warned:
        assert "--bind-to none" in r.stderr
