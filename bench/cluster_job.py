"""The program bench/cluster.py runs under mpirun (rank 0 the driver, the others
executors; with one rank, local mode). Rank 0 prints one line of JSON.

    cluster_job.py shuffle BYTES MASTER   shuffles about BYTES bytes (1 MiB values under
                                          int keys, as many whole ones a map task as fit)
                                          from one map task per slot to one reduce task
                                          per slot; also the same job without the shuffle
                                          (generate and sum only)
    cluster_job.py wordcount PATH MASTER  counts the words of PATH (4 partitions a slot)

Each times its job after a small warm-up job (workers started, connections made);
"seconds" is the job's wall time, measured by the driver. The shuffle also gives its
reduce stage's transfer phase, from the task log's fetch figures, which each executor's
network thread records for the reduce tasks it ran: "transfer_bytes" is the bytes of
buckets pulled from other executors, "transfer_s" the time from the first fetch request
any executor sent to the last of those bytes arriving at any executor (wall-clock
microseconds, comparable between the ranks of one host).
"""
import json
import sys
import time

from ember import SparkContext

VALUE = 1 << 20  # bytes of one shuffled value


def values(part, count):
    """count values of VALUE bytes under keys part, part + 1, ... (spread over reducers);
    each value its own object, so that pickling a batch cannot share one copy of it."""
    payload = b"x" * (VALUE - 8)
    for i in range(count):
        yield part + i, b"%08d" % i + payload


def shuffle(sc, nbytes):
    slots = sc.defaultParallelism
    per_task = max(1, nbytes // VALUE // slots)
    maps = sc.parallelize(range(slots), slots).flatMap(lambda p: values(p * per_task, per_task))
    warm = maps.partitionBy(slots).map(lambda kv: len(kv[1])).count()
    seen = {row[0] for row in sc._core.task_infos(-1)}
    t0 = time.perf_counter()
    moved = maps.partitionBy(slots).map(lambda kv: len(kv[1])).sum()
    t1 = time.perf_counter()
    # The task log's rows of the job: (task id, stage id, ..., launch, finish in ms, ...,
    # remote bytes fetched, first fetch request and last byte in us) by stage.
    spans, fetched, fetch_span = {}, 0, None
    for row in sc._core.task_infos(-1):
        if row[0] not in seen:
            first, last = spans.get(row[1], (row[10], row[11]))
            spans[row[1]] = (min(first, row[10]), max(last, row[11]))
            if len(row) > 26 and row[25]:  # a build before the fetch figures has no such columns
                fetched += row[24]
                begin, end = fetch_span or (row[25], row[26])
                fetch_span = (min(begin, row[25]), max(end, row[26]))
    unshuffled = maps.map(lambda kv: len(kv[1])).sum()
    t2 = time.perf_counter()
    assert moved == unshuffled == slots * per_task * VALUE and warm == slots * per_task, (moved, unshuffled)
    map_stage, reduce_stage = (spans[k] for k in sorted(spans))
    return {"bytes": moved, "seconds": t1 - t0, "seconds_without_shuffle": t2 - t1,
            "map_stage_s": (map_stage[1] - map_stage[0]) / 1000,
            "reduce_stage_s": (reduce_stage[1] - reduce_stage[0]) / 1000,
            "transfer_bytes": fetched, "transfer_s": (fetch_span[1] - fetch_span[0]) / 1e6 if fetch_span else 0.0}


def wordcount(sc, path):
    sc.parallelize(range(sc.defaultParallelism), sc.defaultParallelism).map(lambda x: (x, 1)).reduceByKey(
        lambda a, b: a + b).count()
    t0 = time.perf_counter()
    counts = sc.textFile(path, 4 * sc.defaultParallelism).flatMap(str.split).map(lambda w: (w, 1)).reduceByKey(
        lambda a, b: a + b).collect()
    t1 = time.perf_counter()
    return {"seconds": t1 - t0, "distinct": len(counts), "total": sum(n for _, n in counts)}


def main():
    what, arg, master = sys.argv[1], sys.argv[2], sys.argv[3]
    sc = SparkContext(master, f"bench-cluster-{what}")
    out = shuffle(sc, int(arg)) if what == "shuffle" else wordcount(sc, arg)
    out["executors"] = len(sc._core.executors())
    out["slots"] = sc.defaultParallelism
    sc.stop()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
