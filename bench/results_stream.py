"""Results streamed to the driver: two measurements of issue 9.

    python bench/results_stream.py [--gb 2] [--partitions 128] [--record 1024]
                                   [--limit-mb 300] [--take-partitions 1000]

1. toLocalIterator() over --gb GiB of records made by the workers (--record bytes
   each, in --partitions partitions), consumed one record at a time, with and without
   prefetchPartitions; the driver's RSS is sampled every 10 ms (/proc/self/statm) and
   its peak is reported. It must stay under --limit-mb.
2. take(10) on an RDD of --take-partitions partitions whose first partition holds
   enough: the tasks its jobs ran, read from the status tracker. It must be 1.

Prints one line per figure and exits 1 when a figure is outside its bound.
"""
import argparse
import os
import sys
import threading
import time

PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1 << 20


def rss():
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * PAGE


class PeakRSS:
    """Samples this process's RSS in a thread until stopped; keeps the peak."""

    def __init__(self, every=0.01):
        self.every, self.peak, self._stop = every, rss(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, rss())

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss())


def local_iterator(sc, gb, partitions, record, prefetch):
    n = int(gb * (1 << 30)) // record
    payload = record

    def make(i):
        return b"%012d" % i + b"x" * (payload - 12)

    rdd = sc.range(0, n, numSlices=partitions).map(make)
    count = nbytes = 0
    start = time.monotonic()
    with PeakRSS() as peak:
        for x in rdd.toLocalIterator(prefetchPartitions=prefetch):
            count += 1
            nbytes += len(x)
    return count, nbytes, time.monotonic() - start, peak.peak


def take_tasks(sc, partitions):
    rdd = sc.parallelize(range(partitions * 100), partitions)
    sc.setJobGroup("bench-take", "take(10)")
    try:
        got = rdd.take(10)
    finally:
        sc.setJobGroup(None, None)
    tracker = sc.statusTracker()
    tasks = jobs = 0
    for job in tracker.getJobIdsForGroup("bench-take"):
        jobs += 1
        for stage in tracker.getJobInfo(job).stageIds:
            tasks += tracker.getStageInfo(stage).numCompletedTasks
    return got, jobs, tasks


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gb", type=float, default=2.0, help="GiB of records for toLocalIterator (default 2)")
    ap.add_argument("--partitions", type=int, default=128, help="partitions of that RDD (default 128)")
    ap.add_argument("--record", type=int, default=1024, help="bytes per record (default 1024)")
    ap.add_argument("--limit-mb", type=float, default=300, help="driver RSS bound in MiB (default 300)")
    ap.add_argument("--take-partitions", type=int, default=1000, help="partitions for take(10) (default 1000)")
    ap.add_argument("--master", default="local[2]")
    args = ap.parse_args(argv)

    from ember import SparkContext
    ok = True
    with SparkContext(args.master, "bench-results-stream") as sc:
        print(f"driver RSS with a context: {rss() / MB:.1f} MiB")
        for prefetch in (False, True):
            count, nbytes, secs, peak = local_iterator(sc, args.gb, args.partitions, args.record, prefetch)
            within = peak < args.limit_mb * MB
            ok &= within and nbytes == count * args.record
            print(f"toLocalIterator(prefetchPartitions={prefetch}): {count} records, {nbytes / MB:.0f} MiB "
                  f"in {secs:.1f} s; driver peak RSS {peak / MB:.1f} MiB "
                  f"({'under' if within else 'OVER'} {args.limit_mb:.0f} MiB)")
        got, jobs, tasks = take_tasks(sc, args.take_partitions)
        ok &= got == list(range(10)) and tasks == 1
        print(f"take(10) on {args.take_partitions} partitions: {got == list(range(10)) and 'right rows' or got}, "
              f"{jobs} job(s), {tasks} task(s) run")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
