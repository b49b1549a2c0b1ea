"""Start-up of a whole ember process, side by side with ``python -c pass``, and where its
time goes.

    python bench/startup.py [--runs 41] [--traced-runs 15] [--no-breakdown] [--rt] [--late-daemon]

The program is bench/workloads.py's start-up workload (import ember, a local[2]
context, ``parallelize(range(10), 2).count()``, stop, exit). Its runs alternate with
runs of ``python -c pass``; each is a fresh process timed from spawn to exit. The
report gives the medians, their ratio, the CPU time of each process tree (driver,
daemon and workers) and the load average around the runs.

``--rt`` runs everything at real-time round-robin priority (``chrt -r 1``; needs root
or CAP_SYS_NICE), ember and ``python -c pass`` alike, so that on a machine loaded by
other work their processes are not preempted; it approximates a quiet machine, it is
not one (the caches and the memory bus stay shared).

The breakdown comes from more runs of the same program under ``strace -f
--seccomp-bpf`` (only process start, fork, the daemon's control socket and exit stop
the processes, so its overhead is small) with timestamps the program prints itself.
Its phases follow the critical path: the driver's interpreter start, ``import
ember`` up to the daemon's spawn (ember.context starts it first thing, see
ember._early), then the daemon's interpreter and imports (while the driver imports
the rest, runs ``SparkContext()`` and submits the job), the first worker's fork, the
first task to the count, ``stop()`` and the interpreter's exit. (A build from before
the early start, run with ``--baseline`` or on PYTHONPATH, shows its own phases:
``SparkContext()`` spawned the daemon there.) Median of each phase over the traced
runs; the daemon's own imports are also timed alone (``python -c "from ember import daemon, _commands, taskcontext,
worker"`` beside ``python -c pass``).
"""

import argparse
import os
import re
import resource
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


def timed(argv, env=None):
    """(wall seconds, CPU seconds of the process tree) of one run of argv."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def side_by_side(runs, prefix, baseline, late_daemon=False):
    """Runs of ember's program, python -c pass, (given a baseline site) ember's
    program with the baseline's ember first on PYTHONPATH and (late_daemon) ember's
    program with EMBER_EARLY_DAEMON=0, in turns whose order alternates.
    {name: [(wall, cpu)]}."""
    ember_argv = prefix + [sys.executable, "-c", workloads.STARTUP["ember"]]
    pass_argv = prefix + [sys.executable, "-c", "pass"]
    turns = [("ember", ember_argv, None), ("python -c pass", pass_argv, None)]
    if baseline:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([baseline] + os.environ.get("PYTHONPATH", "").split(
            os.pathsep)).rstrip(os.pathsep))
        turns.append(("baseline ember", ember_argv, env))
    if late_daemon:
        turns.append(("ember, late daemon", ember_argv, dict(os.environ, EMBER_EARLY_DAEMON="0")))
    for _, argv, env in turns:
        timed(argv, env)  # warm the page cache
    results = {name: [] for name, _, _ in turns}
    for i in range(runs):
        for name, argv, env in turns if i % 2 == 0 else turns[::-1]:
            results[name].append(timed(argv, env))
    return results


_LINE = re.compile(r"^(\d+)\s+(\d+):(\d+):(\d+\.\d+)\s+(.*)$")


def _seconds(h, m, s):
    return int(h) * 3600 + int(m) * 60 + float(s)


def traced_run(strace, prefix):
    """One traced run: {phase: seconds}, in the order of the critical path."""
    fd, out = tempfile.mkstemp(prefix="ember-startup-strace-")
    os.close(fd)
    t_spawn = time.time()
    proc = subprocess.run(prefix + [strace, "-f", "--seccomp-bpf", "-tt", "-qq", "-o", out, "-e",
                                    "trace=execve,clone,clone3,vfork,recvmsg,exit_group",
                                    sys.executable, "-c", MARKED], capture_output=True, text=True, check=True)
    marks = next(line.split()[1:] for line in proc.stderr.splitlines() if line.startswith("MARKS"))
    t0, t1, t2, t3, t4 = (float(x) for x in marks)
    day = t_spawn - t_spawn % 86400  # strace prints the time of day (UTC)
    driver = daemon = None
    spawn = daemon_ready = fork = daemon_exit = driver_exec = driver_exit = None
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
        if pid == driver and rest.startswith(("clone3(", "clone(", "vfork(")) and "CLONE_VFORK" in rest \
                and spawn is None:
            spawn = t  # posix_spawn of the daemon
        elif rest.startswith("execve(") and pid != driver and daemon is None:
            daemon = pid
        elif pid == daemon and rest.startswith("recvmsg(") and daemon_ready is None:
            daemon_ready = t  # imports done: waits for the first request
        elif pid == daemon and rest.startswith(("clone(", "clone3(")) and fork is None:
            fork = t
        elif pid == daemon and rest.startswith("exit_group("):
            daemon_exit = t
        elif pid == driver and rest.startswith("exit_group("):
            driver_exit = t
    phases = {"driver: interpreter start": t0 - driver_exec}
    if spawn and daemon_ready and fork and spawn < t1:  # started as ember.context is imported
        phases.update({
            "driver: import ember, up to the daemon's spawn": spawn - t0,
            "daemon: spawn to ready (interpreter, imports)": daemon_ready - spawn,
            "  (driver meanwhile: the rest of import ember)": t1 - spawn,
            "  (driver meanwhile: SparkContext())": t2 - t1,
            "  (driver meanwhile: parallelize, count, waiting for a worker)": max(0.0, daemon_ready - t2),
            "daemon: first worker forked (once both are ready)": fork - max(daemon_ready, t2),
            "first task, to the count's result": t3 - fork,
        })
    elif spawn and daemon_ready and fork:  # started by SparkContext() (before the early start)
        phases.update({
            "driver: import ember": t1 - t0,
            "driver: SparkContext() up to the daemon's spawn": spawn - t1,
            "daemon: spawn to ready (interpreter, imports)": daemon_ready - spawn,
            "  (driver meanwhile: the rest of SparkContext())": t2 - spawn,
            "  (driver meanwhile: parallelize, count, waiting for a worker)": max(0.0, daemon_ready - t2),
            "daemon: first worker forked": fork - daemon_ready,
            "first task, to the count's result": t3 - fork,
        })
    else:
        phases.update({"driver: import ember": t1 - t0, "driver: SparkContext()": t2 - t1, "job": t3 - t2})
    phases["stop()"] = t4 - t3
    if daemon_exit:
        phases["  (of which: until the daemon has exited)"] = daemon_exit - t3
    if driver_exit:
        phases["driver: interpreter exit"] = driver_exit - t4
        phases["total (driver exec to exit)"] = driver_exit - driver_exec
    return phases


def import_cost(runs, prefix):
    """Median time of python -c "<the daemon's imports>" and of python -c pass, alternated."""
    daemon = [sys.executable, "-c", "from ember import daemon, _commands, taskcontext, worker"]
    plain = [sys.executable, "-c", "pass"]
    a, b = [], []
    for _ in range(runs):
        a.append(timed(prefix + daemon)[0])
        b.append(timed(prefix + plain)[0])
    return statistics.median(a), statistics.median(b)


def _ms(seconds):
    return f"{seconds * 1e3:.1f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=41, help="runs of each program (default 41)")
    ap.add_argument("--traced-runs", type=int, default=15, help="runs under strace for the breakdown (default 15)")
    ap.add_argument("--no-breakdown", action="store_true")
    ap.add_argument("--rt", action="store_true", help="run at real-time priority (chrt -r 1), see above")
    ap.add_argument("--baseline", metavar="SITE", help="a directory holding another build of ember (pip install "
                    "--target SITE): its start-up program runs in the same turns, for a before/after")
    ap.add_argument("--late-daemon", action="store_true", help="also run the program with EMBER_EARLY_DAEMON=0 "
                    "(the daemon spawned by SparkContext(), not as ember.context is imported), in the same turns")
    args = ap.parse_args(argv)
    prefix = []
    if args.rt:
        chrt = shutil.which("chrt")
        if chrt is None:
            sys.exit("--rt needs chrt (util-linux)")
        prefix = [chrt, "-r", "1"]
        try:
            subprocess.run(prefix + ["true"], check=True, capture_output=True)
        except subprocess.CalledProcessError as e:
            sys.exit(f"--rt: chrt -r 1 failed ({e.stderr.decode().strip()}); run as root or without --rt")
    load_before = os.getloadavg()
    results = side_by_side(args.runs, prefix, args.baseline, args.late_daemon)
    load_after = os.getloadavg()
    rt = " --rt" if args.rt else ""
    base = (f" --baseline {args.baseline}" if args.baseline else "") + (" --late-daemon" if args.late_daemon else "")
    traced = " --no-breakdown" if args.no_breakdown else f" --traced-runs {args.traced_runs}"
    print(f"command: python bench/startup.py --runs {args.runs}{traced}{rt}{base}  "
          f"({sys.executable}, Python {sys.version.split()[0]})")
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
          f"after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f} ({os.cpu_count()} cores)"
          + ("; at real-time priority (chrt -r 1)" if args.rt else ""))
    mp = statistics.median(w for w, _ in results["python -c pass"])
    print(f"{'program':24s} {'median':>9s} {'min':>9s} {'max':>9s} {'CPU':>9s} {'/ pass':>7s}  ({args.runs} runs each, "
          "CPU: median of the process tree's)")
    for name, runs in results.items():
        walls = [w for w, _ in runs]
        me = statistics.median(walls)
        print(f"{name:24s} {_ms(me):>6s} ms {_ms(min(walls)):>6s} ms {_ms(max(walls)):>6s} ms "
              f"{_ms(statistics.median(c for _, c in runs)):>6s} ms {me / mp:6.1f}x")
    if args.no_breakdown:
        return 0
    strace = shutil.which("strace")
    if strace is None:
        print("breakdown: strace is not installed (apt-get install strace); skipped")
        return 0
    runs = [traced_run(strace, prefix) for _ in range(args.traced_runs)]
    print(f"where the time goes (median of {len(runs)} runs under strace --seccomp-bpf; "
          "indented phases are in parallel with the line above):")
    for phase in runs[0]:
        values = [r[phase] for r in runs if phase in r]
        print(f"  {phase:62s} {_ms(statistics.median(values)):>7s} ms")
    daemon, plain_again = import_cost(args.traced_runs, prefix)
    print(f"the daemon's imports alone: python -c 'from ember import daemon, _commands, taskcontext, worker' "
          f"{_ms(daemon)} ms vs python -c pass {_ms(plain_again)} ms (medians of {args.traced_runs})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
