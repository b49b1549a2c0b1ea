"""Two builds of ember on one workload, run alternately in one run: what a change costs.

    python bench/ab.py A_SITE B_SITE [--workload wordcount] [--repeats 5] [--text-mb 100]

A_SITE and B_SITE are directories each holding an installed ember, for instance the
commit before a change and the change itself:

    git -C REPO archive REV | tar -x -C SRC
    .venv/bin/pip install --no-build-isolation --target SITE SRC

Every run is a fresh process (bench/child.py, as bench/run.py runs it) with its site
first on PYTHONPATH. Runs alternate A B B A A B ..., so drift in the machine's load
falls on both alike. Prints each run's job time, the median of each build, B / A and
the machine's load average, and checks that both give the same output.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import datagen  # noqa: E402
import workloads  # noqa: E402


def run_once(site, workload, data, sizes, scratch):
    result = os.path.join(scratch, "result.json")
    spec = {"engine": "ember", "workload": workload, "data": data, "sizes": sizes,
            "out": os.path.join(scratch, "out"), "result": result}
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([site, HERE]))
    proc = subprocess.run([sys.executable, os.path.join(HERE, "child.py"), json.dumps(spec)],
                          env=env, cwd=scratch, capture_output=True, text=True)
    try:
        with open(result) as f:
            res = json.load(f)
    except (OSError, ValueError):
        sys.exit(f"no result from the build in {site} (exit status {proc.returncode}):\n"
                 f"{proc.stderr[-2000:]}")
    if res.get("status") != "ok":
        sys.exit(f"the build in {site} failed: {res.get('error')}\n{res.get('traceback', '')}")
    return res["job_s"], res["digest"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a", metavar="A_SITE", help="directory holding build A of ember")
    ap.add_argument("b", metavar="B_SITE", help="directory holding build B of ember")
    ap.add_argument("--workload", default="wordcount", choices=sorted(workloads.BY_NAME))
    ap.add_argument("--repeats", type=int, default=5, help="runs of each build (default 5)")
    ap.add_argument("--text-mb", type=float, default=100, help="size of the text (default 100)")
    ap.add_argument("--data-dir", default=datagen.DEFAULT_DATA_DIR)
    args = ap.parse_args(argv)
    for site in (args.a, args.b):
        if not os.path.isdir(os.path.join(site, "ember")):
            ap.error(f"{site} holds no ember package; install one there with pip install --target")

    w = workloads.BY_NAME[args.workload]
    sizes = workloads.Sizes.full(args.text_mb)
    specs = sizes.specs()
    data = {n: datagen.ensure(specs[n], args.data_dir) for n in w.data}
    times = {"A": [], "B": []}
    digests = {}
    order = [("A", "B"), ("B", "A")]
    with tempfile.TemporaryDirectory(prefix="ember-ab-") as scratch:
        for i in range(args.repeats):
            for which in order[i % 2]:
                site = args.a if which == "A" else args.b
                t, digest = run_once(site, w.name, data, sizes.as_dict(), scratch)
                times[which].append(t)
                digests.setdefault(which, digest)
                print(f"run {i + 1} {which}: {t:.3f} s  (load {os.getloadavg()[0]:.1f})", flush=True)
    a, b = statistics.median(times["A"]), statistics.median(times["B"])
    print(f"{w.name}: A median {a:.3f} s, B median {b:.3f} s, B / A = {b / a:.3f}")
    print(f"same output: {digests['A'] == digests['B']}; load average now "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    return 0 if digests["A"] == digests["B"] else 1


if __name__ == "__main__":
    sys.exit(main())
