"""The cluster test's program stopped while a job runs: rank 0 starts a job of slow
tasks and, once every task slot runs one, writes to OUT (JSON) the processes it saw
(its own pid, the executors, their workers and daemons). HOW says what ends the job:
  wait     the test signals mpirun or the driver; the driver writes OUT.end (JSON)
           with what the job raised, then stops
  stop     another thread calls sc.stop() while the tasks run
  cancel   another thread calls sc.cancelAllJobs(), then the program stops normally"""
import json
import os
import sys
import threading
import time

from ember import SparkContext


def write(path, value):
    with open(path + ".tmp", "w") as f:
        json.dump(value, f)
        f.flush()
        os.fsync(f.fileno())
    os.rename(path + ".tmp", path)


out_path, how = sys.argv[1], sys.argv[2]
sc = SparkContext("local[2]", "stop-job")
seen = {"driver": os.getpid(), "executors": sc._core.executors()}
slots = sc.defaultParallelism
# each slot's worker (a child of its executor's daemon): the slow job's tasks run in them
seen["workers"] = sorted(set(sc.parallelize(range(slots), slots).map(lambda _: (os.getpid(), os.getppid()))
                             .collect()))


def slow(x):
    time.sleep(120)
    return x


def report_when_running():
    time.sleep(1.5)  # the slow job's tasks reach the workers
    write(out_path, seen)
    if how == "stop":
        sc.stop()
    elif how == "cancel":
        sc.cancelAllJobs()


end = {}
threading.Thread(target=report_when_running, daemon=True).start()
try:
    sc.parallelize(range(4 * slots), 4 * slots).map(slow).collect()
    end["raised"] = None
except BaseException as e:  # noqa: BLE001 - KeyboardInterrupt too: the test reads what it was
    end["raised"] = type(e).__name__
    end["message"] = str(e)
write(out_path + ".end", end)
if how != "stop":
    sc.stop()
write(out_path + ".stopped", {"stopped": True})
