"""Start-up of a whole ember process, side by side with ``python -c pass``, and where its
time goes.

    python bench/startup.py [--runs 21] [--no-breakdown]

The program is bench/workloads.py's start-up workload (import ember, a local[2]
context, ``parallelize(range(10), 2).count()``, stop, exit). Its runs alternate with
runs of ``python -c pass``; each is a fresh process timed from spawn to exit. The
report gives the medians, their ratio and the load average around the runs.

The breakdown comes from more runs of the same program, each under
``strace -f`` (only process and pipe system calls are traced, so its overhead is a
few milliseconds) with timestamps the program prints itself: the driver's interpreter
start, ``import ember``, ``SparkContext()``, the job (the daemon's start-up and its
imports, the first worker's fork, the first task), ``stop()`` and the interpreter's
exit. Median of each phase over the traced runs. Without strace only the driver's
phases are given.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import workloads  # noqa: E402

# The start-up program with wall-clock marks (time.time(), comparable with strace's).
MARKED = (
    "import time, sys\n"
    "t0 = time.time()\n"
    "from ember import SparkContext\n"
    "t1 = time.time()\n"
    "sc = SparkContext('local[2]', 'startup')\n"
    "t2 = time.time()\n"
    "print(sc.parallelize(range(10), 2).count())\n"
    "t3 = time.time()\n"
    "sc.stop()\n"
    "t4 = time.time()\n"
    "print('MARKS', t0, t1, t2, t3, t4, file=sys.stderr)\n")


def timed(argv):
    t = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def side_by_side(runs):
    ember_argv = [sys.executable, "-c", workloads.STARTUP["ember"]]
    pass_argv = [sys.executable, "-c", "pass"]
    timed(ember_argv)  # warm the page cache
    load_before = os.getloadavg()
    ember, plain = [], []
    for _ in range(runs):
        ember.append(timed(ember_argv))
        plain.append(timed(pass_argv))
    return ember, plain, load_before, os.getloadavg()


_LINE = re.compile(r"^(\d+)\s+(\d+):(\d+):(\d+\.\d+)\s+(.*)$")


def _seconds(h, m, s):
    return int(h) * 3600 + int(m) * 60 + float(s)


def traced_run(strace):
    """One traced run: {phase: seconds}."""
    out = tempfile.mktemp(prefix="ember-startup-strace-")
    t_spawn = time.time()
    proc = subprocess.run([strace, "-f", "-tt", "-qq", "-o", out, "-e",
                           "trace=execve,clone,clone3,read,sendmsg,recvmsg,exit_group",
                           sys.executable, "-c", MARKED], capture_output=True, text=True, check=True)
    marks = next(line.split()[1:] for line in proc.stderr.splitlines() if line.startswith("MARKS"))
    t0, t1, t2, t3, t4 = (float(x) for x in marks)
    day = t_spawn - t_spawn % 86400  # strace prints the time of day (UTC)
    driver = daemon = None
    daemon_exec = daemon_ready = fork = first_task = daemon_exit = driver_exec = driver_exit = None
    workers = set()
    with open(out) as f:
        lines = f.readlines()
    os.unlink(out)
    for line in lines:
        m = _LINE.match(line)
        if not m:
            continue
        pid, rest = int(m.group(1)), m.group(5)
        t = day + _seconds(m.group(2), m.group(3), m.group(4))
        if driver is None:
            driver, driver_exec = pid, t
            continue
        if rest.startswith("execve(") and pid != driver and daemon is None:
            daemon, daemon_exec = pid, t
        elif pid == daemon and rest.startswith("recvmsg(") and daemon_ready is None:
            daemon_ready = t  # imports done: waits for the first request
        elif pid == daemon and rest.startswith(("clone(", "clone3(")) and fork is None:
            fork = t
            m2 = re.search(r"=\s*(\d+)\s*$", rest)
            if m2:
                workers.add(int(m2.group(1)))
        elif pid in workers and rest.startswith("read(") and first_task is None:
            first_task = t  # the first worker reads its first frame
        elif pid == daemon and rest.startswith("exit_group("):
            daemon_exit = t
        elif pid == driver and rest.startswith("exit_group("):
            driver_exit = t
    phases = {
        "interpreter start": t0 - driver_exec,
        "import ember": t1 - t0,
        "SparkContext()": t2 - t1,
    }
    if daemon_ready and fork and first_task:
        phases.update({
            "job: waiting for the daemon (its interpreter and imports)": max(0.0, daemon_ready - t2),
            "job: first worker forked": fork - max(daemon_ready, t2),
            "job: first task, to the result": t3 - fork,
            "(daemon: spawn to ready, in parallel)": daemon_ready - daemon_exec,
        })
    else:
        phases["job"] = t3 - t2
    phases["stop()"] = t4 - t3
    if driver_exit:
        phases["interpreter exit"] = driver_exit - t4
    if daemon_exit:
        phases["(daemon: exit after stop() began)"] = daemon_exit - t3
    return phases


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=21, help="runs of each program (default 21)")
    ap.add_argument("--traced-runs", type=int, default=7, help="runs under strace for the breakdown")
    ap.add_argument("--no-breakdown", action="store_true")
    args = ap.parse_args(argv)
    ember, plain, load_before, load_after = side_by_side(args.runs)
    me, mp = statistics.median(ember), statistics.median(plain)
    print(f"command: {sys.executable} bench/startup.py --runs {args.runs}")
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
          f"after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f} ({os.cpu_count()} cores)")
    print(f"ember start-up program: median {me * 1e3:.1f} ms (min {min(ember) * 1e3:.1f}, "
          f"max {max(ember) * 1e3:.1f}) over {len(ember)} runs")
    print(f"python -c pass:         median {mp * 1e3:.1f} ms (min {min(plain) * 1e3:.1f}, "
          f"max {max(plain) * 1e3:.1f}); ember / pass = {me / mp:.1f}x")
    if args.no_breakdown:
        return 0
    strace = shutil.which("strace")
    if strace is None:
        print("breakdown: strace is not installed (apt-get install strace); skipped")
        return 0
    runs = [traced_run(strace) for _ in range(args.traced_runs)]
    print(f"where the time goes (median of {len(runs)} runs under strace):")
    for phase in runs[0]:
        values = [r[phase] for r in runs if phase in r]
        print(f"  {phase:58s} {statistics.median(values) * 1e3:7.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
