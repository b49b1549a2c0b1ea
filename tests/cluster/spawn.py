"""The cluster test's program started without mpirun: its master mpi[2] makes it spawn
two executors of 2 task slots each. It runs a word count, a cached RDD read twice,
a broadcast and an accumulator, and writes to OUT (JSON) the results, its own pid,
the executors (sc._core.executors()) and where the cached partitions are, then
stops; OUT.stopped says sc.stop() returned."""
import json
import os
import sys
from operator import add

from ember import SparkConf, SparkContext

out_path = sys.argv[1]
sc = SparkContext("mpi[2]", "spawn", conf=SparkConf().set("spark.executor.cores", "2"))
seen = {"driver": os.getpid(), "executors": sc._core.executors(), "parallelism": sc.defaultParallelism}
lines = sc.parallelize(["a b", "b c", "c a b"] * 100, 6)
seen["words"] = sorted(lines.flatMap(str.split).map(lambda w: (w, 1)).reduceByKey(add, 3).collect())
squares = sc.parallelize(range(1000), 4).map(lambda x: x * x).cache()
seen["sums"] = [squares.sum(), squares.sum()]
seen["holders"] = sorted({b["executor"] for s in sc._storage_status() for b in s["blocks"]})
offset = sc.broadcast(7)
counted = sc.accumulator(0)
seen["broadcast"] = sc.parallelize(range(8), 4).map(lambda x: x + offset.value).collect()
sc.parallelize(range(10), 4).foreach(lambda x: counted.add(x))
seen["accumulator"] = counted.value
with open(out_path, "w") as f:
    json.dump(seen, f)
sc.stop()
with open(out_path + ".stopped", "w") as f:
    f.write("stopped")
