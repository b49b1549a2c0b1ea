"""The cluster test's program: the same file runs in local mode (python jobs.py OUT)
and under mpirun (mpirun -np 3 python jobs.py OUT); rank 0 writes what each job gave
to OUT as JSON, for tests/test_cluster.py to compare."""
import gc
import glob
import json
import os
import shutil
import sys
import time

from ember import SparkContext, SparkFiles

out_path, data = sys.argv[1], sys.argv[2]
sc = SparkContext("local[2]", "cluster-jobs")
results = {}
lines = sc.textFile(data, 4)
results["wordcount"] = sorted(lines.flatMap(str.split).map(lambda w: (w, 1)).reduceByKey(lambda a, b: a + b).collect())
left = sc.parallelize([(i % 7, i) for i in range(200)], 3)
right = sc.parallelize([(k, str(k) * 2) for k in range(5)], 2)
results["join"] = sorted(left.join(right, 4).collect())
results["sort"] = sc.parallelize([(i * 7919) % 1000 for i in range(1000)], 5).map(lambda x: (x, -x)).sortByKey(
    numPartitions=3).collect()
cached = lines.map(lambda s: len(s)).cache()
results["cache"] = [cached.sum(), cached.count(), cached.max()]
results["cached_partitions"] = [i["num_cached_partitions"] for i in sc._storage_status() if i["id"] == cached.id()]
bc = sc.broadcast({"a": 1, "b": 2})
acc = sc.accumulator(0)


def touch(x):
    acc.add(1)
    return bc.value.get(x, 0)


results["broadcast"] = sorted(sc.parallelize(["a", "b", "c"] * 10, 4).map(touch).collect())
results["accumulator"] = acc.value
# Map outputs lost (their files removed: the driver's in local mode, the executors' in
# cluster mode): the next action runs the map tasks again and gives the same answer.
pairs = sc.parallelize(range(100), 4).map(lambda x: (x % 10, x)).reduceByKey(lambda a, b: a + b, 3)
first = sorted(pairs.collect())


def map_outputs():
    """The shuffle files of the driver (local mode) or of the executors (cluster mode)."""
    return glob.glob(os.path.join(sc._core.tmpdir, "shuffle-*")) + glob.glob(
        os.path.join(os.path.dirname(sc._core.tmpdir), "ember-executor-*", "shuffle-*"))


lost = map_outputs()
for path in lost:
    os.unlink(path)
results["lost_shuffle"] = [len(lost) > 0, sorted(pairs.collect()) == first, first]
# Every shuffle released (no RDD refers to one now), its files are gone while the
# context runs: in cluster mode the driver tells each executor to remove its own.
had = len(map_outputs())
del pairs
gc.collect()
deadline = time.monotonic() + 10
while map_outputs() and time.monotonic() < deadline:
    time.sleep(0.05)
results["released_shuffle"] = [had > 0, map_outputs()]
# Broadcast values and added files reach each executor's own temp dir, sent once per
# executor over MPI: with the driver's copies out of reach while the job runs, tasks
# still read them (locally the workers read the driver's, so nothing is hidden).
side = os.path.join(os.path.dirname(sc._core.tmpdir), f"shared-{os.getpid()}")
os.makedirs(side)
with open(os.path.join(side, "factor.txt"), "w") as f:
    f.write("3")
with open(os.path.join(side, "cluster_helper.py"), "w") as f:
    f.write("def double(x):\n    return 2 * x\n")
sc.addFile(os.path.join(side, "factor.txt"))
sc.addPyFile(os.path.join(side, "cluster_helper.py"))
big = sc.broadcast(list(range(200000)))  # pickled, over one PUT message
hidden = [big._path, sc._files_dir] if sc._cluster else []
for path in hidden:
    os.rename(path, path + ".hidden")


def use(x):
    import cluster_helper
    with open(SparkFiles.get("factor.txt")) as f:
        k = int(f.read())
    return cluster_helper.double(x) * k + len(big.value), os.path.dirname(SparkFiles.getRootDirectory())


shared = sc.parallelize(range(6), 3).map(use).collect()
for path in hidden:
    os.rename(path + ".hidden", path)
results["shared"] = sorted(v for v, _ in shared)
results["shared_roots"] = sorted({os.path.basename(d).rsplit("-", 1)[0] for _, d in shared})


def copies():
    return glob.glob(os.path.join(os.path.dirname(sc._core.tmpdir), "ember-executor-*", os.path.basename(big._path)))


had = len(copies())
big.destroy()
deadline = time.monotonic() + 10
while copies() and time.monotonic() < deadline:
    time.sleep(0.05)
results["broadcast_copies"] = [had, len(copies())]
shutil.rmtree(side)
results["executors"] = len(sc._core.executors())
sc.stop()
with open(out_path, "w") as f:
    json.dump(results, f)
