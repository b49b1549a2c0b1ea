"""Shared fixtures: one local context for the whole test session."""
import os
import sys

import pytest

from ember import SparkContext


@pytest.fixture(scope="session")
def sc():
    ctx = SparkContext("local[2]", "ember-tests")
    yield ctx
    ctx.stop()


@pytest.fixture(autouse=True)
def no_job_outlives_its_test(request):
    """After each test that uses the shared context: the jobs it left running (it failed
    before cancelling or joining them) are cancelled and waited for, so that their tasks
    do not hold the two task slots that the next tests wait for."""
    yield
    if "sc" not in request.fixturenames:
        return
    ctx = request.getfixturevalue("sc")
    tracker = ctx.statusTracker()
    if tracker.getActiveJobsIds():
        ctx.cancelAllJobs()
        wait_for(lambda: not tracker.getActiveJobsIds(), "the jobs a test left running to end once cancelled")


def build_with_libember(out, sources, ldflags=()):
    """Compiles C sources with libember's own (src/*.c but the MPI shim, a library of its
    own built with MPI) into the executable out, by the system compiler."""
    import shutil
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.fail(f"no C compiler (cc) to build {' '.join(sources)}")
    src = [os.path.join(root, "src", f) for f in sorted(os.listdir(os.path.join(root, "src")))
           if f.endswith(".c") and f != "mpi_shim.c"]
    subprocess.run([cc, "-O1", "-std=c11", "-D_GNU_SOURCE", "-DEMBER_BUILDING", "-I" + os.path.join(root, "include"),
                    "-I" + os.path.join(root, "src"), *sources, *src, *ldflags,
                    "-lz", "-lpthread", "-ldl", "-lm", "-o", out], check=True)
    return out


def cluster_and_local_results(cluster_json, data, tmpdir):
    """The results tests/cluster/jobs.py wrote to cluster_json under mpirun, and those it
    gives in local mode over the same input (run here, its temp dir under tmpdir), each
    without its "executors" count, which is checked: 2 executors, then none."""
    import json
    import subprocess
    out = os.path.join(os.path.dirname(str(cluster_json)), "local.json")
    jobs = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cluster", "jobs.py")
    local = subprocess.run([sys.executable, jobs, out, str(data)], capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, TMPDIR=str(tmpdir)))
    assert local.returncode == 0, local.stderr
    with open(cluster_json) as f:
        cluster = json.load(f)
    with open(out) as f:
        plain = json.load(f)
    assert cluster.pop("executors") == 2 and plain.pop("executors") == 0
    return cluster, plain


def run_python(code, env=None, timeout=120):
    """Runs code in a fresh interpreter; returns the CompletedProcess."""
    import subprocess
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=full_env, timeout=timeout)


def wait_for(cond, what, timeout=30.0):
    """Polls cond() until it is true; fails naming what was awaited after timeout s."""
    import time
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def run_in_thread(target):
    """Starts target() in a thread; returns (thread, out) where out gets "result", or
    "error" and "raised_at" (time.monotonic()) when it raised."""
    import threading
    import time
    out = {}

    def body():
        try:
            out["result"] = target()
        except BaseException as e:
            out["error"] = e
            out["raised_at"] = time.monotonic()

    t = threading.Thread(target=body)
    t.start()
    return t, out


PYSPARK_VERSION = "4.3."  # the release the differential tests compare with (Makefile's PYSPARK)


def pyspark_or_skip():
    """The pyspark module when PySpark 4.3 and a Java runtime are here; else skips the
    test — or fails it when EMBER_REQUIRE_PYSPARK is set (CI sets it, so the
    differential tests cannot silently stop running)."""
    import shutil
    why = None
    try:
        import pyspark
    except ImportError:
        why = "pyspark is not installed (make test installs pyspark==4.3.0)"
    else:
        if not pyspark.__version__.startswith(PYSPARK_VERSION):
            why = (f"the differential tests compare with PySpark {PYSPARK_VERSION}x, "
                   f"pyspark {pyspark.__version__} is installed")
        elif shutil.which("java") is None and "JAVA_HOME" not in os.environ:
            why = "PySpark needs a Java runtime (java on PATH or JAVA_HOME)"
    if why is None:
        return pyspark
    if os.environ.get("EMBER_REQUIRE_PYSPARK"):
        pytest.fail(f"EMBER_REQUIRE_PYSPARK is set but {why}")
    pytest.skip(why)
