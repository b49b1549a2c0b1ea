"""Word count over the benchmark text four ways: a C-only ember job (examples/c/wordcount.c,
no Python anywhere), ember from Python with native (C) functions, ember with Python
lambdas, and a hand-written single-process C program (bench/wc.c).

    python bench/native_wordcount.py [--text-mb 100] [--repeats 3] [--cores N] [--rt] [--baseline REV]

Builds bench/wc.c and examples/c/wordcount.c (with libember's sources) with the system
compiler (into build/bench/), and the native functions of examples/native_udf/wordcount.c
with ember.native.compile. The engines run alternately, one run of each per repeat. Every run is
a fresh process timed from spawn to the end of its job (to exit for the C program),
start-up included; the report gives the
median of the repeats, and checks that the three agree (distinct words, total words
and an order-independent checksum, computed as bench/wc.c computes it). The target it
reports against: the hand-written C's time divided by the cores ember uses, times 1.2.

Each run's CPU time (user + system) is that of all its processes, workers included:
this process is their subreaper (Linux), so a worker its daemon does not wait for is
reaped here and counted; a Python child's summary after the job is not counted. On a
loaded machine the CPU times compare the engines, the wall times the machine.

``--baseline REV`` also builds the C-only job from git revision REV (``git archive`` into
build/bench/baseline) and runs it alternately with the others: the ratio of the two
jobs' CPU times measures a change even on a loaded machine.

``--rt`` runs every engine at real-time round-robin priority (``chrt -r 1``, as
bench/startup.py does; needs root or CAP_SYS_NICE), so that on a machine loaded by other
work their processes are not preempted. It approximates a quiet machine, it is not one:
caches and the memory bus stay shared, and while ember's two workers hold both cores the
other work waits, while the one-core C program leaves it the other core.
"""

import argparse
import ctypes
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import datagen  # noqa: E402

# One child per run: the job, then the summary line "<distinct> <total> <checksum>
# <the job's end> <CPU seconds this process spent after it>".
CHILD = r"""
import sys, time
from ember import SparkContext, native
path, mode, cores, lib = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
M = (1 << 64) - 1

def fnv1a(b):
    h = 1469598103934665603
    for c in b:
        h = ((h ^ c) * 1099511628211) & M
    return h

with SparkContext(f"local[{cores}]", "native-wordcount-bench") as sc:
    text = sc.textFile(path, cores * 2)  # as examples/c/wordcount.c splits it: two a slot
    if mode == "native":
        counts = text.flatMapNative(lib, "tokenize").reduceByKey(native.merge(lib, "add"))
    else:
        counts = text.flatMap(lambda line: line.split()).map(lambda w: (w, 1)).reduceByKey(lambda a, b: a + b)
    pairs = counts.collect()
done, done_cpu = time.time(), time.process_time()  # the job's end; the summary below is not timed
total = sum(n for _, n in pairs)
checksum = sum(n * fnv1a(w.encode()) for w, n in pairs) & M
print(len(pairs), total, checksum, done, time.process_time() - done_cpu)
"""


cpu_seconds = []  # CPU time of each run (its processes, workers included), in order

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper():
    """Makes this process the subreaper of the runs' processes (Linux): a worker whose
    parent ends without waiting for it (a Python context's daemon does not wait for
    its workers) is handed to this process, which reaps it, so that getrusage counts
    its CPU time too. False where prctl is not there."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def reap_orphans():
    """Waits for every process a run left to this subreaper (they end with their
    context's daemon)."""
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def timed(cmd):
    """(seconds from spawn to the end of the job, the summary fields). An ember child
    from Python prints the wall-clock time its job ended after the summary, and the
    CPU time it spent after that (its summary in Python), which is not counted; the C
    programs' time is spawn to exit."""
    t0 = time.time()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run(cmd, capture_output=True, text=True)
    end = time.time()
    reap_orphans()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = ru1.ru_utime - ru0.ru_utime + ru1.ru_stime - ru0.ru_stime
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stderr}")
    out = r.stdout.split()
    if len(out) == 5:
        cpu -= float(out.pop())
        end = float(out.pop())
    cpu_seconds.append(cpu)
    return end - t0, out


def build_c_job(cc, root, out):
    """Builds examples/c/wordcount.c of the source tree `root` with its libember sources
    into `out`; returns out."""
    src = os.path.join(root, "src")
    subprocess.run([cc, "-O2", "-std=c11", "-D_GNU_SOURCE", "-DEMBER_BUILDING", "-I", os.path.join(root, "include"),
                    "-I", src, os.path.join(root, "examples", "c", "wordcount.c"),
                    os.path.join(root, "examples", "native_udf", "wordcount.c")]
                   + [os.path.join(src, f) for f in sorted(os.listdir(src)) if f.endswith(".c") and f != "mpi_shim.c"]
                   + ["-lz", "-lpthread", "-ldl", "-lm", "-o", out], check=True)
    return out


def baseline_run(cc, build, rev, path, cores):
    """{name: command} of the C-only job built from git revision rev (git archive into
    build/bench/baseline), or {} without one."""
    if not rev:
        return {}
    tree = os.path.join(build, "baseline")
    shutil.rmtree(tree, ignore_errors=True)
    os.makedirs(tree)
    archive = subprocess.run(["git", "-C", ROOT, "archive", rev], capture_output=True)
    if archive.returncode != 0:
        sys.exit(f"--baseline {rev}: git archive failed: {archive.stderr.decode(errors='replace').strip()}")
    subprocess.run(["tar", "-x", "-C", tree], input=archive.stdout, check=True)
    job = build_c_job(cc, tree, os.path.join(build, "wordcount-baseline"))
    return {f"ember C-only job at {rev[:12]} (local[{cores}])": [job, path, f"local[{cores}]", "--summary"]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--text-mb", type=float, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cores", type=int, default=os.cpu_count())
    ap.add_argument("--data-dir", default=datagen.DEFAULT_DATA_DIR)
    ap.add_argument("--rt", action="store_true", help="run at real-time priority (chrt -r 1), see above")
    ap.add_argument("--baseline", metavar="REV",
                    help="also run the C-only job built from git revision REV of this repository, "
                         "alternately with the others, and report its CPU time against this one's")
    args = ap.parse_args(argv)
    whole_tree = become_subreaper()
    prefix = []
    if args.rt:
        if shutil.which("chrt") is None:
            sys.exit("--rt needs chrt (util-linux)")
        prefix = [shutil.which("chrt"), "-r", "1"]
        if subprocess.run(prefix + ["true"], capture_output=True).returncode != 0:
            sys.exit("--rt: chrt -r 1 failed; run as root or without --rt")

    path = datagen.ensure(datagen.text_spec(args.text_mb), args.data_dir)
    build = os.path.join(ROOT, "build", "bench")
    os.makedirs(build, exist_ok=True)
    wc = os.path.join(build, "wc")
    cc = os.environ.get("CC", "cc")
    subprocess.run([cc, "-O2", "-o", wc, os.path.join(HERE, "wc.c")], check=True)
    cjob = build_c_job(cc, ROOT, os.path.join(build, "wordcount"))
    from ember import native
    lib = native.compile(os.path.join(ROOT, "examples", "native_udf", "wordcount.c"))

    runs = {"hand-written C (1 core)": [wc, path],
            f"ember C-only job (local[{args.cores}])": [cjob, path, f"local[{args.cores}]", "--summary"],
            **baseline_run(cc, build, args.baseline, path, args.cores),
            f"ember native functions (local[{args.cores}])":
                [sys.executable, "-c", CHILD, path, "native", str(args.cores), lib],
            f"ember Python lambdas (local[{args.cores}])":
                [sys.executable, "-c", CHILD, path, "python", str(args.cores), lib]}
    times, outputs, cpu = {name: [] for name in runs}, {}, {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, cmd in runs.items():
            t, out = timed(prefix + cmd)
            times[name].append(t)
            cpu[name].append(cpu_seconds[-1])
            outputs[name] = out
    c_time = statistics.median(times["hand-written C (1 core)"])
    target = 1.2 * c_time / args.cores
    print(f"word count, {os.path.basename(path)} ({os.path.getsize(path) / 2**20:.0f} MiB), "
          f"median of {args.repeats}, process spawn to the end of the job"
          f"{' at real-time priority (chrt -r 1)' if args.rt else ''}; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end")
    for name in runs:
        med = statistics.median(times[name])
        # Without a subreaper, CPU time is complete only for the C programs: a Python
        # context's daemon does not wait for its workers.
        used = f"CPU {statistics.median(cpu[name]):6.2f} s" if whole_tree or "C" in name.split("(")[0] else ""
        print(f"  {name:40s} {med:7.2f} s   {med / target:5.2f}x the target   {used}")
    print(f"  target: 1.2 x {c_time:.2f} s / {args.cores} cores = {target:.2f} s")
    if args.baseline:
        now, then = (statistics.median(cpu[n]) for n in list(runs)[1:3])
        print(f"  CPU of the C-only job: {now / then:.2f}x that of the one built from {args.baseline}")
    agree = len({tuple(o) for o in outputs.values()}) == 1
    print(f"  outputs agree: {agree} (distinct, total, checksum = {' '.join(outputs[next(iter(runs))])})")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
