"""The cluster test's program that loses an executor: rank 0 starts a slow job, kills
executor rank 1 with SIGKILL once the job runs, and writes to OUT (JSON) the
processes it saw (executors, workers, daemons, its own pid), how long the job took to fail after
the kill and its error."""
import json
import os
import signal
import sys
import threading
import time

from ember import SparkContext

out_path = sys.argv[1]
sc = SparkContext("local[2]", "lose-executor")
seen = {"executors": sc._core.executors(), "driver": os.getpid()}
seen["workers"] = sorted(set(sc.parallelize(range(8), 8).map(lambda _: (os.getpid(), os.getppid())).collect()))
state = {}


def slow_job():
    try:
        sc.parallelize(range(8), 8).map(lambda x: time.sleep(60)).collect()
        state["error"] = None
    except Exception as e:  # noqa: BLE001 - the test reads the message
        state["error"] = f"{type(e).__name__}: {e}"
    state["failed_at"] = time.monotonic()


t = threading.Thread(target=slow_job)
t.start()
time.sleep(1.5)
victim = [e for e in seen["executors"] if e[0] == 1][0]
killed_at = time.monotonic()
os.kill(victim[2], signal.SIGKILL)
t.join(30)
seen["error"] = state.get("error")
seen["seconds"] = state["failed_at"] - killed_at if "failed_at" in state else None
with open(out_path, "w") as f:
    json.dump(seen, f)
    f.flush()
    os.fsync(f.fileno())
sc.stop()
