"""The cluster test's program for locality (mpirun -np 3 python locality.py OUT):
where tasks ran, from the driver's task log and the REST API's TaskData, written to
OUT as JSON by rank 0 for tests/test_cluster.py."""
import glob
import json
import os
import sys
import time

from ember import SparkConf, SparkContext, StorageLevel
from ember._ui import api

out_path = sys.argv[1]
# A long wait, so that a task runs on its executor even when a slot there frees late.
sc = SparkContext("local[2]", "cluster-locality", conf=SparkConf().set("spark.locality.wait", "60s"))
results = {}


def where(stage_id):
    """{partition: executorId} of the stage's successful attempts, as the REST API says."""
    now = time.time() * 1000
    return {row.partition: api.task_data(row, "result", now)["executorId"]
            for row in api.task_rows(sc, stage_id) if row.status == 1}


# Map task m writes all its records into bucket 3 - m: each reduce task's input is
# on one executor, and not the one its slot order would give it.
pairs = sc.parallelize(range(4), 4).flatMap(lambda m: [(3 - m + 4 * i, i) for i in range(2000)])
shuffled = pairs.partitionBy(4, lambda k: k)
results["counts"] = shuffled.mapPartitionsWithIndex(lambda i, it: [(i, sum(1 for _ in it))]).collect()
stages = sorted({row.stage_id for row in api.task_rows(sc, -1)})
maps, reduces = where(stages[0]), where(stages[1])
results["map_executors"] = sorted(set(maps.values()))
results["reduce_on_map_executor"] = [reduces[3 - m] == maps[m] for m in range(4)]
# ... so they fetched nothing from the other executor.
results["reduce_remote_fetched"] = [row.remote_fetched for row in api.task_rows(sc, stages[1]) if row.status == 1]
# Every map task writes to every bucket alike: each reduce task's input is spread
# over both executors, none is preferred, and the reduce tasks take the free slots of
# both at once (none waits the 60 s for a slot on the executor holding a few bytes more).
even = sc.parallelize(range(4), 4).flatMap(lambda m: [(k, m) for k in range(400)]).partitionBy(4, lambda k: k)
results["even_counts"] = even.mapPartitionsWithIndex(lambda i, it: [(i, sum(1 for _ in it))]).collect()
stages = sorted({row.stage_id for row in api.task_rows(sc, -1)})
results["even_map_executors"] = sorted(set(where(stages[-2]).values()))
results["even_reduce_executors"] = sorted(set(where(stages[-1]).values()))
# Each of those fetched the other executor's share of its input, as its executor's
# network thread counted it (the REST API's remoteBytesRead; the rest local), between
# its first fetch request and its last byte.
now = time.time() * 1000
results["even_fetches"] = [
    [0 < row.remote_fetched < row.shuffle_read, row.launch * 1000 - 1000 <= row.fetch_begin_us <= row.fetch_end_us,
     row.fetch_end_us <= row.finish * 1000 + 1000, reads["remoteBytesRead"] == row.remote_fetched,
     reads["localBytesRead"] + reads["remoteBytesRead"] == row.shuffle_read]
    for row in api.task_rows(sc, stages[-1]) if row.status == 1
    for reads in [api.task_data(row, "result", now)["taskMetrics"]["shuffleReadMetrics"]]]
# Cached partitions stay on the executors that computed them; the driver's store (and
# the REST API) names where; the next action runs each task on its block's executor
# and reads the block there: nothing is computed again.
nums = sc.parallelize(range(4000), 4).map(lambda x: x * 3)
for name, level in [("memory", StorageLevel.MEMORY_ONLY), ("disk", StorageLevel.DISK_ONLY)]:
    cached = nums.map(lambda x: x + 1).persist(level)
    first = cached.collect()
    [info] = [i for i in sc._storage_status() if i["id"] == cached.id()]
    holder = {b["partition"]: str(b["executor"]) for b in info["blocks"]}
    rest = api.get(sc, ["applications", sc.applicationId, "storage", "rdd", str(cached.id())], {})
    before = len(api.task_rows(sc, -1))
    second = cached.map(lambda x: x - 1).collect()
    rows = api.task_rows(sc, -1)[before:]
    ran = {row.partition: api.task_data(row, "result", time.time() * 1000)["executorId"] for row in rows}
    files = glob.glob(os.path.join(os.path.dirname(sc._core.tmpdir), "ember-*", f"rdd-{cached.id()}-*.block"))
    results[name] = {
        "same": first == [x * 3 + 1 for x in range(4000)] and second == [x * 3 for x in range(4000)],
        "cached": info["num_cached_partitions"],
        "bytes": info["memory_used"] > 0 if name == "memory" else info["disk_used"] > 0,
        "holders": sorted(set(holder.values())),
        "rest_holders": [p["executors"] for p in rest["partitions"]] == [[holder[p]] for p in range(4)],
        "second_tasks": len(rows),
        "ran_on_holder": [ran[p] == holder[p] for p in range(4)],
        "files_on": sorted({os.path.basename(os.path.dirname(f)).rsplit("-", 1)[0] for f in files}),
    }
    cached.unpersist()
    deadline = time.monotonic() + 10
    while glob.glob(os.path.join(os.path.dirname(sc._core.tmpdir), "ember-*", f"rdd-{cached.id()}-*.block")) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    results[name]["files_after_unpersist"] = len(glob.glob(
        os.path.join(os.path.dirname(sc._core.tmpdir), "ember-*", f"rdd-{cached.id()}-*.block")))
    results[name]["storage_after_unpersist"] = [i for i in sc._storage_status() if i["id"] == cached.id()]
sc.stop()
with open(out_path, "w") as f:
    json.dump(results, f)
