"""The cluster test's program that cancels jobs while their cache tasks finish. Each
round persists a new RDD of many small partitions DISK_ONLY (an executor keeps each
partition its task computed as a block file in its own temp dir), counts it in a job
group and, once a few of its block files are there, cancels the group: tasks are
finishing on both executors then, some of them with their answers on the way to the
driver. Once the job has raised, the round notes which partitions the executors'
files hold and which the driver records (waiting up to 10 s for the two to agree,
as a dropped block's file goes a moment after the cancel). The last round then
counts its RDD again. OUT (JSON): the rounds, each {"files": [partitions, one
entry per file], "recorded": [partitions], "raised": the exception's name}, and
the last count with the files and records after it."""
import glob
import json
import os
import sys
import threading
import time

from ember import SparkContext, StorageLevel

ROUNDS, PARTS, CANCEL_AFTER = 4, 400, 16

out_path = sys.argv[1]
sc = SparkContext("local[2]", "cancel-cache")
executor_dirs = os.path.join(os.path.dirname(sc._core.tmpdir), "ember-executor-*")


def files(rdd):
    """The partitions of rdd whose block files the executors' temp dirs hold, one entry a file."""
    names = glob.glob(os.path.join(executor_dirs, f"rdd-{rdd.id()}-*.block"))
    return sorted(int(os.path.basename(n).split("-")[2].split(".")[0]) for n in names)


def recorded(rdd):
    """The partitions of rdd the driver records as kept by an executor."""
    return sorted(b["partition"] for s in sc._storage_status() if s["id"] == rdd.id() for b in s["blocks"])


def settled(rdd):
    deadline = time.monotonic() + 10
    while files(rdd) != recorded(rdd) and time.monotonic() < deadline:
        time.sleep(0.05)
    return {"files": files(rdd), "recorded": recorded(rdd)}


def cancel_when_kept(rdd, group, done):
    while len(files(rdd)) < CANCEL_AFTER and not done.is_set():
        time.sleep(0.002)
    sc.cancelJobGroup(group)


rounds = []
for r in range(ROUNDS):
    rdd = sc.parallelize(range(PARTS * 10), PARTS).map(lambda x: x * 2).persist(StorageLevel.DISK_ONLY)
    group, done = f"round-{r}", threading.Event()
    canceller = threading.Thread(target=cancel_when_kept, args=(rdd, group, done))
    canceller.start()
    sc.setJobGroup(group, "cancelled while its cache tasks finish")
    raised = None
    try:
        rdd.count()
    except Exception as e:  # noqa: BLE001 - the test reads what it was
        raised = type(e).__name__
    done.set()
    canceller.join()
    sc.setJobGroup("after", "not cancelled")
    rounds.append(dict(settled(rdd), raised=raised))
last = {"count": rdd.count(), **settled(rdd)}
with open(out_path + ".tmp", "w") as f:
    json.dump({"rounds": rounds, "last": last}, f)
os.rename(out_path + ".tmp", out_path)
sc.stop()
