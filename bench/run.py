"""Runs the benchmarks: ember side by side with PySpark, Dask Bag and plain Python.

    python bench/run.py [--quick] [--only W ...] [--engines E ...] [--big] [--repeats N]

Every run of a workload on an engine is a fresh process (bench/child.py), so start-up,
worker processes and the JVM are all counted and runs are independent. Engines run
alternately (ember, pyspark, dask, python, then rotated) and each workload is repeated;
the report gives, per workload and engine:

- time: the median job time (context created and warm, the workload's actions and
  output); for start-up, the whole process from spawn to exit;
- process: the median time from spawn to the end of the job (interpreter, imports,
  context, warm-up job and the job);
- peak RSS: the largest summed RSS of the run's whole process tree (driver, workers,
  JVM), sampled every 50 ms (2 ms in the first 0.25 s, 10 ms up to 1 s), the
  largest over its repeats;
- the ratios of both to ember's, and whether the output equals the other engines'.

Results go to bench/results/<date>-<machine>.{json,md,svg} (the .md shows the chart
under its table). An engine that is not installed is reported as skipped; a method
ember lacks as unsupported.
"""

import argparse
import datetime
import json
import os
import platform
import re
import select
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import datagen  # noqa: E402
import procmon  # noqa: E402
import workloads  # noqa: E402

ENGINES = ["ember", "pyspark", "dask", "python"]
ENGINE_MODULE = {"ember": "ember", "pyspark": "pyspark", "dask": "dask.bag", "python": None}
MB = 1 << 20
BUSY = 0.25  # cores used by other processes above which a figure is flagged


# ---- environment -----------------------------------------------------------------------

def child_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([HERE] + [p for p in [env.get("PYTHONPATH")] if p])
    env["PYSPARK_PYTHON"] = sys.executable
    env["PYSPARK_DRIVER_PYTHON"] = sys.executable
    return env


def engine_versions(engines):
    """{engine: version string or None if it cannot be imported}; the skip reasons."""
    versions, reasons = {}, {}
    for e in engines:
        mod = ENGINE_MODULE[e]
        if mod is None:
            versions[e] = platform.python_version()
            continue
        top = mod.split(".")[0]
        code = f"import {mod}, {top}; print(getattr({top}, '__version__', '?'))"
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env=child_env())
        if r.returncode != 0:
            last = (r.stderr.strip().splitlines() or ["import failed"])[-1]
            versions[e] = None
            reasons[e] = f"not installed ({last})"
            continue
        versions[e] = r.stdout.strip()
        if e == "pyspark" and not java_version():
            versions[e] = None
            reasons[e] = "no java found (PySpark needs a JVM)"
    return versions, reasons


def java_version():
    java = os.path.join(os.environ["JAVA_HOME"], "bin", "java") if os.environ.get("JAVA_HOME") else "java"
    try:
        r = subprocess.run([java, "-version"], capture_output=True, text=True)
    except OSError:
        return None
    line = (r.stderr.strip().splitlines() or [""])[0]
    return line or None


def machine_info(name):
    info = {"name": name, "hostname": socket.gethostname(), "platform": platform.platform(),
            "python": platform.python_version(), "cores": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            info["memory_gib"] = round(int(f.readline().split()[1]) / (1 << 20), 1)
    except OSError:
        pass
    info["java"] = java_version()
    try:
        info["ember_commit"] = subprocess.run(
            ["git", "-C", HERE, "rev-parse", "--short", "HEAD"], capture_output=True,
            text=True).stdout.strip() or None
    except OSError:
        pass
    return info


# ---- one run ------------------------------------------------------------------------------

def _kill(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def measure(argv, env, cwd, timeout, log_path, signal_fd=None, signal_r=None):
    """Runs argv in a new process, sampling its tree's RSS until the child signals the
    end of its timed part (or exits). Returns a dict of measurements."""
    with open(log_path, "wb") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                pass_fds=(signal_fd,) if signal_fd is not None else ())
    if signal_fd is not None:
        os.close(signal_fd)
    sampler = procmon.TreeSampler(proc.pid)
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        pidfd = None
    t_signal = t_exit = None
    background = None
    timed_out = False
    try:
        while True:
            now = time.perf_counter()
            if t_signal is None:
                sampler.sample()
            if now - t0 > timeout:
                timed_out = True
                break
            # Fine sampling at first, for short-lived runs (start-up takes ~0.1 s).
            elapsed = now - t0
            interval = 0.002 if elapsed < 0.25 else 0.01 if elapsed < 1 else 0.05
            fds = [fd for fd in (pidfd, signal_r if t_signal is None else None) if fd is not None]
            ready, _, _ = select.select(fds, [], [], interval)
            if signal_r is not None and signal_r in ready and t_signal is None:
                t_signal = time.perf_counter()
                os.read(signal_r, 1)
                background = sampler.background(t_signal - t0)
            if pidfd is None or pidfd in ready:
                pid, status = os.waitpid(proc.pid, os.WNOHANG)
                if pid == proc.pid:
                    t_exit = time.perf_counter()
                    if t_signal is None:
                        background = sampler.background(t_exit - t0)
                    proc.returncode = os.waitstatus_to_exitcode(status)
                    break
    finally:
        if pidfd is not None:
            os.close(pidfd)
        if signal_r is not None:
            os.close(signal_r)
    if t_exit is not None and t_signal is None:
        t_signal = t_exit
    if timed_out:
        sampler.sample()
        _kill(sampler.seen)
        proc.wait()
    # (The kernel's ru_maxrss of the child is no help: it includes this process's
    # own pages, which the child had between fork and exec.)
    peak = sampler.peak if sampler.available else None
    # Whatever the run started must be gone shortly after it exits.
    leftover = []
    deadline = time.perf_counter() + 10
    while True:
        leftover = procmon.alive(sampler.seen - {proc.pid})
        if not leftover or time.perf_counter() > deadline:
            break
        time.sleep(0.1)
    _kill(leftover)
    return {"returncode": proc.returncode, "timed_out": timed_out,
            "process_s": None if t_signal is None else t_signal - t0,
            "exit_s": None if t_exit is None else t_exit - t0,
            "peak_rss": peak,
            "rss_method": sampler.method, "leftover_pids": leftover,
            "background_cores": background}


def wait_quiet(max_wait, threshold=0.25):
    """Waits (up to max_wait seconds) until other processes keep less than `threshold`
    of a core busy, so runs are not measured while the machine is shared.
    Returns {"waited_s", "load"}: the wait and the last load seen (cores)."""
    if max_wait <= 0:
        return {"waited_s": 0, "load": None}
    t0 = time.perf_counter()
    while True:
        load = procmon.background_load(0.5)
        waited = time.perf_counter() - t0
        if load is None or load < threshold or waited >= max_wait:
            return {"waited_s": round(waited, 2), "load": None if load is None else round(load, 2)}


def _tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def run_startup(engine, ctx, rep):
    log = os.path.join(ctx["log_dir"], f"startup-{engine}-{rep}.log")
    settle = wait_quiet(ctx["settle_s"])
    m = measure([sys.executable, "-c", workloads.STARTUP[engine]], ctx["env"], ctx["scratch"],
                ctx["timeout"], log)
    run = {"workload": "startup", "engine": engine, "rep": rep, "peak_rss": m["peak_rss"],
           "process_s": m["exit_s"], "job_s": m["exit_s"], "leftover_pids": m["leftover_pids"],
           "background_cores": m["background_cores"], "settle": settle}
    if run["background_cores"] is None:
        # Too short to measure the load during the run: the load just before it.
        run["background_cores"] = settle["load"]
    out = _tail(log, 200).strip().splitlines()
    if m["timed_out"]:
        run.update(status="error", error=f"timed out after {ctx['timeout']} s")
    elif m["returncode"] != 0:
        run.update(status="error", error=f"exit status {m['returncode']}", log_tail=_tail(log))
    else:
        run.update(status="ok", digest={"count": out[-1] if out else None})
    return run


def run_child(w, engine, ctx, rep):
    out = os.path.join(ctx["out_dir"], f"{w.name}-{engine}-{rep}")
    if os.path.exists(out):
        import shutil
        shutil.rmtree(out)
    result_path = os.path.join(ctx["log_dir"], f"{w.name}-{engine}-{rep}.json")
    if os.path.exists(result_path):
        os.remove(result_path)
    log = os.path.join(ctx["log_dir"], f"{w.name}-{engine}-{rep}.log")
    settle = wait_quiet(ctx["settle_s"])
    r, wfd = os.pipe()
    spec = {"engine": engine, "workload": w.name, "data": ctx["data"], "sizes": ctx["sizes"],
            "out": out, "result": result_path, "signal_fd": wfd}
    m = measure([sys.executable, os.path.join(HERE, "child.py"), json.dumps(spec)], ctx["env"],
                ctx["scratch"], ctx["timeout"], log, signal_fd=wfd, signal_r=r)
    run = {"workload": w.name, "engine": engine, "rep": rep, "peak_rss": m["peak_rss"],
           "process_s": m["process_s"], "leftover_pids": m["leftover_pids"],
           "background_cores": m["background_cores"], "settle": settle}
    try:
        with open(result_path) as f:
            res = json.load(f)
    except (OSError, ValueError):
        res = None
    if m["timed_out"]:
        run.update(status="error", error=f"timed out after {ctx['timeout']} s")
    elif res is None:
        run.update(status="error", error=f"no result (exit status {m['returncode']})",
                   log_tail=_tail(log))
    else:
        for k in ("status", "job_s", "setup_s", "laps", "digest", "error", "traceback"):
            if k in res:
                run[k] = res[k]
        if m["returncode"] != 0 and run["status"] == "ok":
            run.update(status="error", error=f"exit status {m['returncode']} after the job",
                       log_tail=_tail(log))
    if run["status"] != "ok":
        run["process_s"] = None
    return run


# ---- summary ---------------------------------------------------------------------------------

def _median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarize(runs, workload_names, engines, skipped):
    """Per (workload, engine): status, median times, peak RSS, ratios, output check."""
    rows = []
    equal = {}
    for wname in workload_names:
        per = {}
        for e in engines:
            rs = [r for r in runs if r["workload"] == wname and r["engine"] == e]
            row = {"workload": wname, "engine": e, "runs": len(rs)}
            if (wname, e) in skipped:
                row.update(status="skipped", note=skipped[(wname, e)])
            elif not rs:
                row.update(status="skipped", note="not run")
            else:
                bad = [r for r in rs if r["status"] != "ok"]
                if bad:
                    row.update(status=bad[0]["status"], note=bad[0].get("error", ""))
                else:
                    row["status"] = "ok"
                ok = [r for r in rs if r["status"] == "ok"]
                if ok:
                    row["times"] = [r["job_s"] for r in ok]
                    row["median_s"] = _median(row["times"])
                    row["process_median_s"] = _median(r["process_s"] for r in ok)
                    rss = [r["peak_rss"] for r in ok if r["peak_rss"] is not None]
                    row["peak_rss"] = max(rss) if rss else None
                    row["background_cores"] = _median(r.get("background_cores") for r in ok)
                    row["digests"] = [r.get("digest") for r in ok]
                    leftovers = sorted({p for r in rs for p in r.get("leftover_pids") or ()})
                    if leftovers:
                        row["leftover_pids"] = leftovers
                    laps = [r.get("laps") for r in ok if r.get("laps")]
                    if laps:
                        row["laps_median"] = [
                            [label, _median(lap[i][1] for lap in laps)]
                            for i, (label, _) in enumerate(laps[0])]
            per[e] = row
        # Output check: every ok run of every engine against one reference.
        ref_engine = next((e for e in ["python", "ember", "pyspark", "dask"]
                           if e in per and per[e].get("digests")), None)
        if ref_engine is None:
            equal[wname] = None
        else:
            ref = per[ref_engine]["digests"][0]
            equal[wname] = True
            for e, row in per.items():
                if not row.get("digests"):
                    continue
                same = all(d == ref for d in row["digests"])
                row["output"] = "equal" if same else "MISMATCH"
                if not same:
                    equal[wname] = False
                    row["reference"] = {"engine": ref_engine, "digest": ref}
            if sum(1 for row in per.values() if row.get("digests")) < 2:
                equal[wname] = None if equal[wname] else False
        base = per.get("ember", {})
        for row in per.values():
            if base.get("median_s") and row.get("median_s") is not None:
                row["time_vs_ember"] = row["median_s"] / base["median_s"]
            if base.get("peak_rss") and row.get("peak_rss") is not None:
                row["rss_vs_ember"] = row["peak_rss"] / base["peak_rss"]
            row.pop("digests", None)
            rows.append(row)
    return rows, equal


def _fmt_s(x):
    if x is None:
        return "–"
    return f"{x * 1000:.0f} ms" if x < 1 else f"{x:.2f} s" if x < 100 else f"{x:.0f} s"


def _fmt_mb(x):
    return "n/a" if x is None else f"{x / MB:,.0f} MB"


def _fmt_ratio(x):
    return "" if x is None else f"{x:.2f}×" if x < 10 else f"{x:.0f}×"


def _cell_status(row):
    st = row["status"]
    note = (row.get("note") or "").replace("|", "/").replace("\n", " ")
    if len(note) > 110:
        note = note[:107] + "..."
    return st if not note else f"{st} ({note})"


def markdown_tables(rows, equal, titles):
    """A compact table (workload x engine) and a detailed one."""
    engines = [e for e in ENGINES if any(r["engine"] == e for r in rows)]
    wnames = list(dict.fromkeys(r["workload"] for r in rows))
    by = {(r["workload"], r["engine"]): r for r in rows}
    out = ["| workload | " + " | ".join(engines) + " | outputs |",
           "|---|" + "---|" * len(engines) + "---|"]
    for w in wnames:
        cells = []
        for e in engines:
            r = by[(w, e)]
            if r.get("median_s") is not None and r["status"] == "ok":
                c = _fmt_s(r["median_s"])
                if e != "ember" and r.get("time_vs_ember"):
                    c += f" ({_fmt_ratio(r['time_vs_ember'])})"
                if (r.get("background_cores") or 0) > BUSY:
                    c += " †"
                if r.get("output") == "MISMATCH":
                    c += " **MISMATCH**"
            else:
                c = r["status"]
            cells.append(c)
        eq = equal.get(w)
        eqs = "equal" if eq else "**MISMATCH**" if eq is False else "–"
        out.append(f"| {titles.get(w, w)} | " + " | ".join(cells) + f" | {eqs} |")
    if any((r.get("background_cores") or 0) > BUSY for r in rows):
        out.append("")
        out.append(f"† other processes kept more than {BUSY} of a core busy during these "
                   "runs (median); the machine was shared.")
    out.append("")
    out.append("| workload | engine | time (median) | vs ember | process | peak RSS | vs ember "
               "| runs | other load | output | status |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for w in wnames:
        for e in engines:
            r = by[(w, e)]
            ok = r.get("median_s") is not None
            out.append("| " + " | ".join([
                titles.get(w, w), e,
                _fmt_s(r.get("median_s")) if ok else "–",
                _fmt_ratio(r.get("time_vs_ember")) if ok else "",
                _fmt_s(r.get("process_median_s")) if ok else "–",
                _fmt_mb(r.get("peak_rss")) if ok else "–",
                _fmt_ratio(r.get("rss_vs_ember")) if ok else "",
                str(r.get("runs", 0)),
                "" if r.get("background_cores") is None else f"{r['background_cores']:.2f}",
                "**MISMATCH**" if r.get("output") == "MISMATCH" else r.get("output", "–"),
                _cell_status(r)]) + " |")
    return "\n".join(out) + "\n"


# ---- main ---------------------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="tiny data, one repeat: checks the harness, not the speed")
    ap.add_argument("--only", nargs="+", metavar="W",
                    help="workloads to run: " + ", ".join(w.name for w in workloads.ALL))
    ap.add_argument("--engines", nargs="+", metavar="E", default=ENGINES,
                    help="engines to run: " + ", ".join(ENGINES))
    ap.add_argument("--big", action="store_true",
                    help="also run the big workloads, each with a 256 MiB budget: word count over "
                         "4 GiB, groupByKey of 50 M values of one key and sortByKey over 2 GB of pairs")
    ap.add_argument("--repeats", type=int, help="repeats of every workload (default: per workload)")
    ap.add_argument("--engine-budget", type=float, default=180, metavar="SECONDS",
                    help="stop repeating an engine on a workload once its runs of it took "
                         "this long in all (default 180; it keeps at least one run)")
    ap.add_argument("--retry-busy", type=int, metavar="N",
                    help="measure a run again (up to N times) when other processes kept "
                         f"more than {BUSY} of a core busy meanwhile (default 2; 0 with --quick)")
    ap.add_argument("--text-mb", type=float, default=100, help="size of the text (default 100)")
    ap.add_argument("--timeout", type=float, help="seconds before a run is killed")
    ap.add_argument("--settle", type=float,
                    help="before each run, wait up to this many seconds for other processes "
                         "to leave the cores idle (default 120; 0 with --quick)")
    ap.add_argument("--data-dir", default=datagen.DEFAULT_DATA_DIR)
    ap.add_argument("--results-dir", default=os.path.join(HERE, "results"))
    ap.add_argument("--machine", default=socket.gethostname().split(".")[0],
                    help="machine name in the result file names")
    ap.add_argument("--no-chart", action="store_true")
    args = ap.parse_args(argv)
    if args.retry_busy is None:
        args.retry_busy = 0 if args.quick else 2
    for e in args.engines:
        if e not in ENGINES:
            ap.error(f"unknown engine {e!r}; choose from {', '.join(ENGINES)}")
    for w in args.only or ():
        if w not in workloads.BY_NAME:
            ap.error(f"unknown workload {w!r}; choose from "
                     + ", ".join(w.name for w in workloads.ALL))
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    engines = [e for e in ENGINES if e in args.engines]
    chosen = [w for w in workloads.ALL if not args.only or w.name in args.only]
    sizes = workloads.Sizes.quick() if args.quick else workloads.Sizes.full(args.text_mb)
    started = datetime.datetime.now()
    stamp = started.strftime("%Y-%m-%d")
    machine = re.sub(r"[^A-Za-z0-9_.-]+", "-", args.machine)
    os.makedirs(args.results_dir, exist_ok=True)
    base = os.path.join(args.results_dir, f"{stamp}-{machine}" + ("-quick" if args.quick else ""))
    log_dir = os.path.join(args.data_dir, "logs")
    out_dir = os.path.join(args.data_dir, "out")
    scratch = os.path.join(args.data_dir, "scratch")
    for d in (log_dir, out_dir, scratch):
        os.makedirs(d, exist_ok=True)

    versions, missing = engine_versions(engines)
    for e, why in missing.items():
        print(f"engine {e}: skipped, {why}")

    # Which cells run at all.
    skipped = {}
    to_run = []
    for w in chosen:
        if w.name in workloads.BIG and not args.big:
            for e in engines:
                skipped[(w.name, e)] = "pass --big to run it"
            continue
        to_run.append(w)
        for e in engines:
            if e in missing:
                skipped[(w.name, e)] = missing[e]

    # Data.
    specs = sizes.specs(big=any(w.name in workloads.BIG for w in to_run))
    needed = sorted({n for w in to_run for n in w.data})
    data = {}
    data_info = {}
    for n in needed:
        data[n] = datagen.ensure(specs[n], args.data_dir)
        data_info[n] = {"file": os.path.basename(data[n]), "bytes": os.path.getsize(data[n]),
                        "spec": specs[n]}

    ctx = {"env": child_env(), "log_dir": log_dir, "out_dir": out_dir, "scratch": scratch,
           "data": data, "sizes": sizes.as_dict(),
           "timeout": args.timeout or (120 if args.quick else 1800),
           "settle_s": args.settle if args.settle is not None else 0 if args.quick else 120}
    runs = []
    for w in to_run:
        reps = args.repeats or (1 if args.quick else w.repeats)
        active = [e for e in engines if (w.name, e) not in skipped]
        if "dask" in active and w.dask_unsupported:
            # Nothing to run: the workload cannot be written for Dask Bag.
            active.remove("dask")
            runs.append({"workload": w.name, "engine": "dask", "rep": 0,
                         "status": "unsupported", "error": w.dask_unsupported})
        spent = dict.fromkeys(active, 0.0)
        for rep in range(reps):
            order = active[rep % len(active):] + active[:rep % len(active)] if active else []
            for e in order:
                if rep > 0 and spent[e] > args.engine_budget:
                    continue
                t_run = time.perf_counter()
                discarded = []
                while True:
                    if w.name == "startup":
                        run = run_startup(e, ctx, rep)
                    else:
                        run = run_child(w, e, ctx, rep)
                    busy = run.get("background_cores")
                    if (run["status"] != "ok" or busy is None or busy <= BUSY
                            or len(discarded) >= args.retry_busy):
                        break
                    print(f"[{w.name}] {rep + 1}/{reps} {e:8s} {_fmt_s(run.get('job_s'))} while "
                          f"other processes used {busy:.2f} cores: measuring it again", flush=True)
                    discarded.append({k: run.get(k) for k in
                                      ("job_s", "process_s", "peak_rss", "background_cores")})
                if discarded:
                    run["discarded"] = discarded
                runs.append(run)
                spent[e] += time.perf_counter() - t_run
                shown = (f"{_fmt_s(run.get('job_s'))}, {_fmt_mb(run.get('peak_rss'))}"
                         if run["status"] == "ok" else f"{run['status']}: {run.get('error', '')}")
                print(f"[{w.name}] {rep + 1}/{reps} {e:8s} {shown}", flush=True)
                if run["status"] == "error" and run.get("log_tail"):
                    print("    " + run["log_tail"].strip().replace("\n", "\n    "), flush=True)
                if run.get("leftover_pids"):
                    print(f"    left processes behind: {run['leftover_pids']}", flush=True)

    wnames = [w.name for w in chosen]
    titles = {w.name: w.title for w in workloads.ALL}
    rows, equal = summarize(runs, wnames, engines, skipped)
    table = markdown_tables(rows, equal, titles)
    command = "python bench/run.py" + ("" if not argv else " " + " ".join(shlex.quote(a) for a in argv))
    result = {
        "date": started.isoformat(timespec="seconds"),
        "duration_s": (datetime.datetime.now() - started).total_seconds(),
        "command": command,
        "machine": machine_info(machine),
        "engines": {e: versions.get(e) for e in engines},
        "quick": args.quick,
        "sizes": sizes.as_dict(),
        "data": data_info,
        "summary": rows,
        "outputs_equal": equal,
        "runs": runs,
        "table_markdown": table,
    }
    with open(base + ".json", "w") as f:
        json.dump(result, f, indent=1)
    chart_line = ""
    if not args.no_chart:
        import chart
        msg = chart.write(result, base + ".svg")
        print(msg)
        if os.path.exists(base + ".svg"):
            chart_line = f"\n![median time and peak RSS per workload and engine]({os.path.basename(base)}.svg)\n"
    with open(base + ".md", "w") as f:
        f.write(f"Command: `{command}`\n\nMachine: {describe_machine(result)}\n\n{table}{chart_line}")
    print()
    print(table)
    print(f"results: {base}.json")

    mismatched = [w for w, ok in equal.items() if ok is False]
    errors = [r for r in rows if r["status"] == "error"]
    for w in mismatched:
        print(f"!!! OUTPUT MISMATCH in {w}: engines disagree (see {base}.json)")
    for r in errors:
        print(f"!!! {r['workload']} failed on {r['engine']}: {r.get('note', '')}")
    return 1 if mismatched or errors else 0


def describe_machine(result):
    m = result["machine"]
    eng = ", ".join(f"{e} {v}" for e, v in result["engines"].items() if v)
    return (f"{m.get('cpu', '?')}, {m.get('cores')} cores, {m.get('memory_gib', '?')} GiB; "
            f"{m.get('platform')}; Python {m.get('python')}; {m.get('java') or 'no java'}; "
            f"{eng}; ember at {m.get('ember_commit')}")


if __name__ == "__main__":
    sys.exit(main())
