"""One run of one workload on one engine, in a fresh process (started by run.py).

    python bench/child.py SPEC_JSON

The spec names the engine, the workload, the data files, an output directory, the
file to write the result to, and a file descriptor. The run:

1. imports the engine and creates its context (a SparkContext, or nothing for Dask
   and plain Python), then runs a tiny warm-up job (``parallelize(range(10), 2).count()``);
2. times the workload (the job time: lazy graph building, the actions, writing output);
3. writes one byte to the descriptor, telling the runner that the timed part is over,
   so the peak memory it samples is the run's and not the checking's;
4. stops the context, reduces the output to a digest, writes the result JSON.

Results: status "ok", "unsupported" (the engine lacks a method: AttributeError,
NotImplementedError, or the workload says so) or "error" (with the traceback).
"""

import json
import os
import shutil
import sys
import time
import traceback

T_START = time.perf_counter()

import workloads  # noqa: E402


def open_engine(engine, name, conf):
    """Creates the engine's context; returns (context or None, stop function)."""
    if engine in ("ember", "pyspark"):
        if engine == "ember":
            from ember import SparkConf, SparkContext
        else:
            from pyspark import SparkConf, SparkContext
        c = SparkConf().setMaster("local[2]").setAppName(f"bench-{name}")
        if engine == "pyspark":
            c.set("spark.ui.showConsoleProgress", "false")
        for k, v in conf.items():
            c.set(k, v)
        sc = SparkContext(conf=c)
        if engine == "pyspark":
            sc.setLogLevel("ERROR")
        sc.parallelize(range(10), 2).count()
        return sc, sc.stop
    if engine == "dask":
        import dask
        import dask.bag as db
        dask.config.set(scheduler="processes", num_workers=2)
        db.from_sequence(range(10), npartitions=2).count().compute()
        return None, lambda: None
    if engine == "python":
        return None, lambda: None
    raise ValueError(f"unknown engine {engine!r}")


def run(spec):
    engine, wname = spec["engine"], spec["workload"]
    w = workloads.BY_NAME[wname]
    d = dict(spec["data"])
    d["tasks"] = spec["sizes"]["tasks"]
    d["hot_values"] = spec["sizes"]["hot_values"]
    out = spec["out"]
    result = {"engine": engine, "workload": wname}
    laps = []
    signal_fd = spec.get("signal_fd")

    def signal():
        nonlocal signal_fd
        if signal_fd is not None:
            os.write(signal_fd, b"x")
            os.close(signal_fd)
            signal_fd = None

    stop = None
    try:
        ctx, stop = open_engine(engine, wname, getattr(w, "spark_conf", {}))
        t0 = time.perf_counter()
        result["setup_s"] = t0 - T_START

        def lap(label):
            laps.append((label, time.perf_counter() - t0))

        if engine in ("ember", "pyspark"):
            value = w.spark(ctx, d, out, lap)
        elif engine == "dask":
            value = w.dask(d, out, lap)
        else:
            value = w.python(d, out, lap)
        result["job_s"] = time.perf_counter() - t0
        signal()
        result["laps"] = laps
        stop()
        stop = None
        result["digest"] = w.digest(value, out)
        result["status"] = "ok"
    except workloads.Unsupported as e:
        result.update(status="unsupported", error=str(e))
    except (AttributeError, NotImplementedError) as e:
        result.update(status="unsupported", error=f"{type(e).__name__}: {e}",
                      traceback=traceback.format_exc())
    except BaseException as e:  # noqa: BLE001 - everything is reported to the runner
        result.update(status="error", error=f"{type(e).__name__}: {e}",
                      traceback=traceback.format_exc())
    finally:
        signal()
        if stop is not None:
            try:
                stop()
            except Exception:  # noqa: BLE001
                pass
        if out and os.path.isdir(out):
            shutil.rmtree(out, ignore_errors=True)
    return result


def main():
    spec = json.loads(sys.argv[1])
    result = run(spec)
    tmp = spec["result"] + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f)
    os.replace(tmp, spec["result"])
    sys.stdout.flush()
    sys.stderr.flush()
    # Python exits with os._exit-like speed only after atexit handlers; let them run
    # (they stop contexts and remove temp files) as in any user program.


if __name__ == "__main__":
    main()
