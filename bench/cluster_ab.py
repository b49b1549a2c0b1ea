"""Two builds of ember on bench/cluster.py's shuffle, run alternately in one run, each
against a raw MPI_Alltoallv of the same bytes: what a change to the cluster shuffle
does.

    python bench/cluster_ab.py A_PYTHON B_PYTHON [--shuffle-mb 256] [--repeats 3]
                               [--executors 2,3] [--btl tcp,self]

A_PYTHON and B_PYTHON are interpreters that each import an installed ember (for
instance a copy of the venv made before the change: cp -a .venv .venv-before). For
each repeat and each executor count it runs bench/cluster_job.py's shuffle with A and
with B (in turns A B, then B A, so drift in the machine's load falls on both alike),
then bench/alltoallv.c on the bytes moved. Prints every run (throughput, CPU of the
process tree, map and reduce stage, transfer phase as bench/cluster.py defines it),
then per executor count the medians, each build's ratio to Alltoallv, B / A and the
load average.
"""

import argparse
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import cluster  # noqa: E402

MB = 1 << 20


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a_python")
    ap.add_argument("b_python")
    ap.add_argument("--shuffle-mb", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--executors", default="2,3", help="executor counts, comma-separated (default 2,3)")
    ap.add_argument("--btl", default="tcp,self", help="Open MPI's byte transports (default tcp,self)")
    args = ap.parse_args(argv)
    counts = [int(e) for e in args.executors.split(",")]
    alltoallv = cluster.build_alltoallv()
    job = os.path.join(HERE, "cluster_job.py")
    figs = {(e, k): [] for e in counts for k in ("A", "B", "A_cpu", "B_cpu", "A_transfer", "B_transfer", "mpi")}
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for rep in range(args.repeats):
        for e in counts:
            builds = [("A", args.a_python), ("B", args.b_python)]
            for name, python in builds if rep % 2 == 0 else builds[::-1]:
                cmd = cluster.mpirun_cmd(e + 1, args.btl) + [python, job, "shuffle", str(args.shuffle_mb * MB),
                                                             "local[1]"]
                out, cpu = cluster.run(cmd)
                moved = out["bytes"]
                figs[(e, name)].append(moved / out["seconds"])
                figs[(e, name + "_cpu")].append(cpu)
                transfer = out["transfer_bytes"] / out["transfer_s"] if out.get("transfer_s") else 0.0
                figs[(e, name + "_transfer")].append(transfer)
                print(f"repeat {rep} executors {e} {name}: {moved / out['seconds'] / MB:.0f} MiB/s, CPU {cpu:.2f} s, "
                      f"map {out['map_stage_s']:.2f} s + reduce {out['reduce_stage_s']:.2f} s, transfer phase "
                      f"{transfer / MB:.0f} MiB/s", flush=True)
            out, _ = cluster.run(cluster.mpirun_cmd(e, args.btl) + [alltoallv, str(moved // e), "1"])
            assert out["received_ok"], out
            figs[(e, "mpi")].append(out["bytes_per_rank"] * e / out["seconds"][0])
            print(f"repeat {rep} executors {e} Alltoallv: {figs[(e, 'mpi')][-1] / MB:.0f} MiB/s", flush=True)
    print(f"\nshuffle of {args.shuffle_mb} MiB, medians of {args.repeats}; load average at the end "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print("| executors | A | B | Alltoallv | A / Alltoallv | B / Alltoallv | B / A | CPU A | CPU B | transfer A "
          "| transfer B |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for e in counts:
        a, b, mpi = (statistics.median(figs[(e, k)]) for k in ("A", "B", "mpi"))
        a_cpu, b_cpu, a_tr, b_tr = (statistics.median(figs[(e, k)]) for k in ("A_cpu", "B_cpu", "A_transfer",
                                                                              "B_transfer"))  # 0: none fetched
        print(f"| {e} | {a / MB:.0f} MiB/s | {b / MB:.0f} MiB/s | {mpi / MB:.0f} MiB/s | {a / mpi:.0%} | {b / mpi:.0%} "
              f"| {b / a:.2f} | {a_cpu:.2f} s | {b_cpu:.2f} s | {a_tr / MB:.0f} MiB/s | {b_tr / MB:.0f} MiB/s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
