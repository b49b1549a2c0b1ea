"""Cluster mode on this machine: ember's shuffle between executors against a raw
MPI_Alltoallv of the same bytes, and word count at 1, 2 and 3 ranks.

    python bench/cluster.py [--quick] [--shuffle-mb 256] [--text-mb 100] [--repeats 3]
                            [--cores 2] [--btl tcp,self]

Shuffle: with E = 2 and 3 executors (mpirun -np E+1; rank 0 is the driver, which holds
no data), bench/cluster_job.py shuffles --shuffle-mb MiB from one map task per slot to
one reduce task per slot (map output written to the executors' shuffle files, each
reducer pulling its buckets from the other executors over MPI); bench/alltoallv.c,
built here with mpicc, moves the same bytes with one MPI_Alltoallv among E ranks
(--shuffle-mb / E per rank, spread evenly, a share to itself as a reducer keeps its
own bucket). Both over the same Open MPI settings (--btl; the default forces TCP on
loopback, as between hosts without shared memory). Throughput is the shuffled bytes
over the time of the job (ember: the driver's wall time of the whole job, map tasks,
writing, pulling and reduce tasks; MPI: the slowest rank's MPI_Alltoallv). Beside it:
the job's map and reduce stages (first launch to last finish in the task log; a reduce
task's time includes pulling its buckets), and the same job without its shuffle
(generate and sum the values).

Transfer phase (beside the whole-job figure, not instead of it): the bytes of buckets
ember's reducers pulled from other executors over MPI (a reducer's own executor's
buckets are read in place, not moved), over the time from the reduce stage's first
fetch request to the last of those bytes arriving, as each executor's network thread
records them in the task log (remote_bytes_fetched, fetch_begin_us, fetch_end_us:
wall-clock times, comparable between the ranks of one host). It spans the MPI sends and
receives, reading the pieces from the map output files and writing them into the
reducers' local copies, but not the map tasks, the reduce tasks' reading and
unpickling, or scheduling. Its Alltoallv counterpart counts the bytes the Alltoallv
moved between different ranks (its share to itself left out), over the same slowest
rank's time. (With a tiny --shuffle-mb every reducer may run where all its buckets
are: nothing is fetched, and the table says so.)

Word count: bench/cluster_job.py over datagen's Zipf text at 1 rank (local mode,
local[cores]) and at 2 and 3 ranks (1 and 2 executors, the --cores task slots split
between them: local[cores / executors] each), so every run uses the same slots.

Runs alternate (ember, MPI; 1, 2, 3 ranks) and each figure is the median of --repeats.
CPU is the user+sys time of mpirun's whole process tree (sampled from /proc every
50 ms, workers included), start-up and warm-up job included. Prints a table; --out FILE also writes the figures as JSON.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import datagen  # noqa: E402
import procmon  # noqa: E402

MB = 1 << 20


def mpirun_cmd(np, btl):
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        sys.exit("bench/cluster.py needs mpirun: apt-get install openmpi-bin libopenmpi-dev, then reinstall ember")
    # --bind-to none: Open MPI binds each rank to one core by default (2 ranks or fewer),
    # which would put all of a rank's workers on one core.
    cmd = [mpirun, "-np", str(np), "--oversubscribe", "--bind-to", "none", "--mca", "btl", btl]
    if "tcp" in btl.split(","):
        cmd += ["--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo"]
    return cmd


def build_alltoallv():
    mpicc = shutil.which("mpicc")
    if mpicc is None:
        sys.exit("bench/cluster.py builds bench/alltoallv.c with mpicc: apt-get install libopenmpi-dev")
    out = os.path.join(ROOT, "build", "bench", "alltoallv")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    subprocess.run([mpicc, "-O2", "-Wall", "-o", out, os.path.join(HERE, "alltoallv.c")], check=True)
    return out


def run(cmd):
    """Runs cmd; returns (its last stdout line as JSON, CPU seconds of its process tree)."""
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    tree = procmon.TreeSampler(proc.pid)
    while proc.poll() is None:
        tree.sample()
        time.sleep(0.05)
    out, err = proc.communicate()
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{out}{err}")
    return json.loads(out.strip().splitlines()[-1]), sum(tree.cpu.values())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="defaults of a small pass: 32 MiB shuffled, 8 MiB of text, 1 repeat")
    ap.add_argument("--shuffle-mb", type=int, help="MiB shuffled (default 256)")
    ap.add_argument("--text-mb", type=float, help="MiB of text to count (default 100)")
    ap.add_argument("--repeats", type=int, help="runs of each figure (default 3)")
    ap.add_argument("--cores", type=int, default=min(2, os.cpu_count() or 1),
                    help="task slots of each word count run (default: 2, or 1 on one CPU)")
    ap.add_argument("--btl", default="tcp,self", help="Open MPI's byte transports for both (default tcp,self)")
    ap.add_argument("--data-dir", default=datagen.DEFAULT_DATA_DIR)
    ap.add_argument("--out", help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    for name, full, quick in (("shuffle_mb", 256, 32), ("text_mb", 100, 8), ("repeats", 3, 1)):
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    alltoallv = build_alltoallv()
    job = os.path.join(HERE, "cluster_job.py")
    text = datagen.ensure(datagen.text_spec(args.text_mb), args.data_dir)
    nbytes = args.shuffle_mb * MB

    shuffle = {e: {"ember": [], "ember_cpu": [], "unshuffled": [], "stages": [], "mpi": [], "transfer": [],
                   "mpi_between": []} for e in (2, 3)}
    words = {r: {"seconds": [], "cpu": [], "result": None} for r in (1, 2, 3)}
    for _ in range(args.repeats):
        for e, fig in shuffle.items():
            out, cpu = run(mpirun_cmd(e + 1, args.btl) + [sys.executable, job, "shuffle", str(nbytes), "local[1]"])
            assert out["executors"] == e, out
            fig["ember"].append(out["bytes"] / out["seconds"])
            fig["ember_cpu"].append(cpu)
            fig["unshuffled"].append(out["seconds_without_shuffle"])
            fig["stages"].append((out["map_stage_s"], out["reduce_stage_s"]))
            if out["transfer_s"] > 0:  # none when every reducer ran where all its buckets were
                fig["transfer"].append(out["transfer_bytes"] / out["transfer_s"])
            fig["bytes"] = out["bytes"]
            # The bytes ember moved, as one Alltoallv among the executors.
            out, _ = run(mpirun_cmd(e, args.btl) + [alltoallv, str(out["bytes"] // e), "1"])
            assert out["received_ok"], out
            fig["mpi"].append(out["bytes_per_rank"] * e / out["seconds"][0])
            # Between ranks: each rank's shares to the e - 1 others.
            fig["mpi_between"].append(out["bytes_per_rank"] // e * (e - 1) * e / out["seconds"][0])
        for r, fig in words.items():
            executors = r - 1
            slots = args.cores if executors == 0 else max(1, args.cores // executors)
            out, cpu = run(mpirun_cmd(r, args.btl) + [sys.executable, job, "wordcount", text, f"local[{slots}]"])
            assert out["executors"] == executors, out
            fig["seconds"].append(out["seconds"])
            fig["cpu"].append(cpu)
            fig["slots"] = slots
            if fig["result"] is None:
                fig["result"] = [out["distinct"], out["total"]]
            assert fig["result"] == [out["distinct"], out["total"]], (fig["result"], out)
    agree = len({tuple(f["result"]) for f in words.values()}) == 1

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"cluster mode on this machine ({os.cpu_count()} CPUs), Open MPI btl {args.btl}, median of "
          f"{args.repeats}; load average {load} at the end")
    print(f"\nshuffle of {args.shuffle_mb} MiB (1 MiB values, rounded down to whole ones per map task), one map "
          "and one reduce task per executor\n")
    print("| executors | ember shuffle | MPI_Alltoallv | ember / Alltoallv | map + reduce stage | ember CPU "
          "| job without shuffle | ember transfer phase | Alltoallv between ranks | transfer / Alltoallv |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    report = {"load": os.getloadavg(), "btl": args.btl, "repeats": args.repeats, "shuffle": {}, "wordcount": {}}
    for e, fig in shuffle.items():
        ember, mpi = statistics.median(fig["ember"]), statistics.median(fig["mpi"])
        cpu, plain = statistics.median(fig["ember_cpu"]), statistics.median(fig["unshuffled"])
        map_s, reduce_s = (statistics.median(x) for x in zip(*fig["stages"]))
        between = statistics.median(fig["mpi_between"])
        transfer = statistics.median(fig["transfer"]) if fig["transfer"] else None
        shown = (f"{transfer / MB:.0f} MiB/s", f"{transfer / between:.0%}") if transfer else ("none fetched", "–")
        print(f"| {e} | {ember / MB:.0f} MiB/s | {mpi / MB:.0f} MiB/s | {ember / mpi:.0%} | {map_s:.2f} + "
              f"{reduce_s:.2f} s | {cpu:.2f} s | {plain:.2f} s | {shown[0]} | {between / MB:.0f} MiB/s | {shown[1]} |")
        report["shuffle"][e] = {"ember_bytes_per_s": ember, "alltoallv_bytes_per_s": mpi, "ratio": ember / mpi,
                                "map_stage_s": map_s, "reduce_stage_s": reduce_s, "ember_cpu_s": cpu,
                                "seconds_without_shuffle": plain, "bytes": fig["bytes"],
                                "transfer_bytes_per_s": transfer, "alltoallv_between_bytes_per_s": between,
                                "transfer_ratio": transfer / between if transfer else None}
    print(f"\nword count of {os.path.basename(text)} ({os.path.getsize(text) / MB:.0f} MiB), {args.cores} task "
          f"slots in all\n")
    print("| ranks | executors x slots | job time | vs 1 rank | CPU (process tree) |")
    print("|---|---|---|---|---|")
    one = statistics.median(words[1]["seconds"])
    for r, fig in words.items():
        t, cpu = statistics.median(fig["seconds"]), statistics.median(fig["cpu"])
        layout = f"local[{fig['slots']}]" if r == 1 else f"{r - 1} x {fig['slots']}"
        print(f"| {r} | {layout} | {t:.2f} s | {t / one:.2f}x | {cpu:.2f} s |")
        report["wordcount"][r] = {"seconds": t, "cpu_s": cpu, "slots_per_executor": fig["slots"],
                                  "distinct_total": fig["result"]}
    print(f"\nword counts agree across ranks: {agree} (distinct, total = {words[1]['result']})")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
