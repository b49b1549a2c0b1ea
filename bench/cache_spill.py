"""Caching more than fits: a measurement of issue 9, ember and PySpark side by side.

    python bench/cache_spill.py [--gb 2] [--partitions 64] [--record 1000]
                                [--memory 512m] [--rounds 1] [--engines ember,pyspark]

Each engine, in its own child process, generates --gb GiB of records (--record bytes
each, made by the workers from sc.range), persists them with MEMORY_AND_DISK, and runs
three actions over the cached RDD: count() (which computes and caches it), the sum of
the record lengths, and a filtered count. The engines run alternately, --rounds times.

The memory setting, --memory, is the process memory each engine is given:
  - ember: spark.executor.memory (local mode: the driver process is the executor, and
    its block store keeps cached partitions within (memory - 300 MiB) * 0.6);
  - PySpark: spark.driver.memory, the heap of the JVM that runs the local executor
    (spark.executor.memory means nothing in local mode), with the same unified-memory
    fractions (Spark's defaults). Both use local[2] and Spark's default
    spark.python.worker.memory.
The peak RSS of the whole process tree (driver, JVM or engine, daemon, Python workers)
is sampled with psutil every 50 ms. For ember it must stay within the memory setting +
300 MB (the exit status is 1 otherwise).

Prints, per engine and round, the time of each action and the peak, then the ratio of
PySpark's total time to ember's.
"""
import argparse
import json
import os
import subprocess
import sys
import time

MB = 1 << 20


def child(engine, gb, partitions, record, memory):
    n = int(gb * (1 << 30)) // record

    def make(i):
        return b"%012d" % i + b"x" * (record - 12)

    if engine == "ember":
        from ember import SparkConf, SparkContext, StorageLevel
        conf = SparkConf().set("spark.executor.memory", memory)
    else:
        from pyspark import SparkConf, SparkContext, StorageLevel
        conf = SparkConf().set("spark.driver.memory", memory).set("spark.ui.enabled", "false")
    sc = SparkContext("local[2]", "cache-spill", conf=conf)
    if engine == "pyspark":
        sc.setLogLevel("ERROR")
    times = []
    try:
        rdd = sc.range(0, n, numSlices=partitions).map(make).persist(StorageLevel.MEMORY_AND_DISK)
        actions = [("count (computes, caches)", lambda: rdd.count()),
                   ("sum of lengths", lambda: rdd.map(len).sum()),
                   ("filtered count", lambda: rdd.filter(lambda r: r[11:12] == b"7").count())]
        results = []
        for name, action in actions:
            start = time.monotonic()
            results.append(action())
            times.append((name, time.monotonic() - start))
        assert results == [n, n * record, n // 10 + (n % 10 > 7)], results
    finally:
        sc.stop()
    print(json.dumps({"engine": engine, "times": times}))


def measure(engine, args):
    import psutil
    cmd = [sys.executable, os.path.abspath(__file__), "--child", engine, "--gb", str(args.gb), "--partitions",
           str(args.partitions), "--record", str(args.record), "--memory", args.memory]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    root = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        total = 0
        try:
            procs = [root] + root.children(recursive=True)
        except psutil.NoSuchProcess:
            break
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        peak = max(peak, total)
        time.sleep(0.05)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{engine} failed (exit {proc.returncode}):\n{err[-4000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak"] = peak
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gb", type=float, default=2.0)
    ap.add_argument("--partitions", type=int, default=64)
    ap.add_argument("--record", type=int, default=1000)
    ap.add_argument("--memory", default="512m")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--engines", default="ember,pyspark")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.gb, args.partitions, args.record, args.memory)
        return 0
    from ember.shuffle import parse_memory
    bound = parse_memory(args.memory) + 300 * MB
    engines = args.engines.split(",")
    print(f"{args.gb} GiB of {args.record}-byte records in {args.partitions} partitions, MEMORY_AND_DISK, "
          f"memory {args.memory}; load average {os.getloadavg()[0]:.1f} at start")
    totals = {e: [] for e in engines}
    peaks = {e: [] for e in engines}
    ok = True
    for r in range(args.rounds):
        for engine in engines:
            res = measure(engine, args)
            total = sum(t for _, t in res["times"])
            totals[engine].append(total)
            peaks[engine].append(res["peak"])
            steps = ", ".join(f"{name} {t:.1f} s" for name, t in res["times"])
            print(f"round {r + 1} {engine:8s} total {total:6.1f} s ({steps}); peak RSS of the process tree "
                  f"{res['peak'] / MB:.0f} MB")
            if engine == "ember" and res["peak"] > bound:
                print(f"  ember's peak is over the bound of {bound / MB:.0f} MB (memory + 300 MB)")
                ok = False
    if "ember" in totals and "pyspark" in totals:
        e, p = sum(totals["ember"]), sum(totals["pyspark"])
        print(f"pyspark / ember time: {p / e:.2f}; peaks: ember {max(peaks['ember']) / MB:.0f} MB, "
              f"pyspark {max(peaks['pyspark']) / MB:.0f} MB; load average {os.getloadavg()[0]:.1f} at the end")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
