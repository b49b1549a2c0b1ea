"""Spark's monitoring REST API (``/api/v1``) over what the context knows.

Objects carry Spark's field names (its ``status.api.v1`` classes: ApplicationInfo,
JobData, StageData ...) where ember has the same concept, and leave out the fields
it has no figure for. Times are Spark's text form (``2026-12-07T09:41:04.123GMT``).

The figures come from the context's job history (``sc._jobs``: the last
``spark.ui.retainedJobs`` jobs), the engine's stage counters (the running stages, and
the last 1000 that finished) and its task log (``src/tasklog.c``: each stage's kind,
status and times, and each task attempt's times, worker, bytes and records read and
written, spills and error, for the last ``spark.ui.retainedStages`` stages and ``spark.ui.retainedTasks``
attempts). They are read, never changed, so serving them takes no lock that a job or
a cancellation waits for longer than a copy.
"""
import time
from collections import namedtuple

from ember._lineage import site_text

__all__ = ["get", "public", "NotFound", "BadParameter", "NotAvailable", "app_info", "jobs", "stages", "tasks",
           "storage", "executors", "environment", "spark_time", "stage_name", "TaskRow", "task_rows"]


class NotFound(LookupError):
    """No such application, job, stage or endpoint (answered with 404)."""


class BadParameter(ValueError):
    """A path or query parameter of the wrong form (answered with 400)."""


def spark_time(seconds):
    """Spark's date form for seconds since the epoch: ``2026-12-07T09:41:04.123GMT``."""
    ms = int(round(seconds * 1000))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}GMT"


# ---- the model: jobs and stages as dicts with Spark's names -----------------------------

_STAGE_STATUS = ("ACTIVE", "COMPLETE", "FAILED", "SKIPPED")   # EMBER_STAGE_*
_TASK_STATUS = ("RUNNING", "SUCCESS", "FAILED", "KILLED")        # EMBER_TASK_*
_STAGE_KINDS = ("result", "shuffle map", "cache")                # EMBER_STAGE_KIND_*


def _stage_records(sc):
    """stage id -> [job id, tasks, completed, active, failed, submitted_ms, running]:
    finished stages, then running ones over them (a stage that finishes in between
    shows as finished)."""
    core = sc._core
    out = {}
    for sid, jid, n, done, active, failed, sub in core.finished_stages():
        out[sid] = [jid, n, done, 0, failed, sub, False]
    for sid, jid, n, done, active, failed, sub in core.active_stages():
        out[sid] = [jid, n, done, active, failed, sub, True]
    return out


def _stage_status(record, job, logged):
    """Spark's StageStatus of an engine stage record, given its job (or None) and
    its task log record (or None)."""
    jid, n, done, active, failed, sub, running = record
    if running:
        return "ACTIVE"
    if logged is not None:
        return _STAGE_STATUS[logged[5]]
    if done == n:
        return "COMPLETE"
    if done == 0 and failed == 0 and job is not None and job.status == "SUCCEEDED":
        return "SKIPPED"  # a map stage whose shuffle output existed already
    return "FAILED"


def stage_name(sc, logged, job, sid):
    """Spark's stage name: the call site of the operation whose output the stage
    makes (a shuffle's, for a map stage; the action's, for a result stage)."""
    if logged is not None and logged[3] != 0:
        info = sc._node_info.get(logged[4])
        if info is not None and info[1]:
            return site_text(info[1])  # ("groupByKey", file, line): "groupByKey at file:line"
    return job.name if job is not None else f"stage {sid}"


def _stage_data(sc, sid, record, job, logged, now_ms):
    jid, n, done, active, failed, sub, running = record
    status = _stage_status(record, job, logged)
    data = {
        "status": status,
        "stageId": sid,
        "attemptId": 0,
        "numTasks": n,
        "numActiveTasks": active,
        "numCompleteTasks": done,
        "numFailedTasks": failed,
        "numKilledTasks": 0,
        "numCompletedIndices": done,
        "name": stage_name(sc, logged, job, sid),
        "description": job.description if job is not None else None,
        "details": "",
        "schedulingPool": "default",
        "_jobId": jid,  # ember's: the pages link a stage to its job (not served)
        "killedTasksSummary": {},
    }
    if logged is not None:
        data["attemptId"] = logged[2]
        data["_kind"] = _STAGE_KINDS[logged[3]]
        if status != "SKIPPED":
            data["submissionTime"] = spark_time(logged[7] / 1000)
        if logged[8]:
            data["completionTime"] = spark_time(logged[8] / 1000)
            data["_durationMs"] = logged[8] - logged[7]
        elif status == "ACTIVE":
            data["_durationMs"] = time.time() * 1000 - logged[7]
    elif status != "SKIPPED":
        # The engine's counters are CLOCK_MONOTONIC: convert through "now".
        data["submissionTime"] = spark_time(time.time() - (now_ms - sub) / 1000)
    if data["description"] is None:
        del data["description"]
    return data


def stages(sc, with_totals=False, only=None):
    """StageData of every stage known (newest first), or of stage `only`; with_totals
    adds the sums of its tasks' figures (run time, bytes read and written) from the
    task log."""
    jobs = dict(sc._jobs.items())
    now_ms = time.monotonic() * 1000  # engine stage times are CLOCK_MONOTONIC milliseconds
    recs = _stage_records(sc)
    if only is not None:
        recs = {only: recs[only]} if only in recs else {}
    logged = {r[0]: r for r in sc._core.stage_records()}
    out = [_stage_data(sc, sid, rec, jobs.get(rec[0]), logged.get(sid), now_ms)
           for sid, rec in sorted(recs.items(), reverse=True)]
    if with_totals:
        by_stage = {}
        for t in task_rows(sc, -1 if only is None else only):
            by_stage.setdefault(t.stage_id, []).append(t)
        for st in out:
            _add_totals(st, by_stage.get(st["stageId"], []))
    return out


# ---- tasks ------------------------------------------------------------------------------

# A task log row (``_core.Context.task_infos``): times in ms since the epoch (finish 0
# while it runs), status an EMBER_TASK_* index of _TASK_STATUS, error None or text. The
# records and spill figures are the worker's counts, sent when the attempt succeeds;
# remote_fetched (bytes of its shuffle read fetched from other executors) and the
# fetch's first request and last byte (us since the epoch, 0: none) are its executor's.
TaskRow = namedtuple("TaskRow", "task_id stage_id stage_attempt job_id index partition attempt worker pid status "
                                "launch finish input_bytes shuffle_read output_bytes shuffle_write records_read "
                                "records_written shuffle_records_read shuffle_records_written memory_spilled "
                                "disk_spilled error executor remote_fetched fetch_begin_us fetch_end_us")


def task_rows(sc, stage_id):
    """The task log's rows of a stage (stage_id -1: of all stages), oldest first."""
    return [TaskRow._make(r) for r in sc._core.task_infos(stage_id)]


def _run_ms(row, now_ms):
    return (row.finish if row.finish else now_ms) - row.launch


def task_data(row, kind, now_ms):
    """Spark's TaskData of a task log row (a TaskRow), with ember's own figures under
    "_" keys: the worker slot and pid, the stage's kind."""
    duration = _run_ms(row, now_ms)
    metrics = {
        "executorRunTime": duration,
        "resultSize": row.output_bytes if kind == "result" else 0,
        "memoryBytesSpilled": row.memory_spilled,
        "diskBytesSpilled": row.disk_spilled,
        "inputMetrics": {"bytesRead": row.input_bytes, "recordsRead": row.records_read},
        "outputMetrics": {"bytesWritten": row.output_bytes, "recordsWritten": row.records_written},
        "shuffleReadMetrics": {"localBytesRead": max(0, row.shuffle_read - row.remote_fetched),
                               "remoteBytesRead": row.remote_fetched,
                               "recordsRead": row.shuffle_records_read},
        "shuffleWriteMetrics": {"bytesWritten": row.shuffle_write, "recordsWritten": row.shuffle_records_written},
    }
    data = {
        "taskId": row.task_id,
        "index": row.index,
        "attempt": row.attempt,
        "partitionId": row.partition,
        "launchTime": spark_time(row.launch / 1000),
        "duration": duration,
        "executorId": str(row.executor) if row.executor else "driver",  # cluster mode: the executor's rank
        "host": "localhost",
        "status": _TASK_STATUS[row.status],
        "taskLocality": "PROCESS_LOCAL",
        "speculative": False,
        "accumulatorUpdates": [],
        "taskMetrics": metrics,
        "_worker": row.worker,
        "_pid": row.pid,
        "_launchMs": row.launch,
        "_finishMs": row.finish,
        "_cachedBytes": row.output_bytes if kind == "cache" else 0,
        "_stageAttempt": row.stage_attempt,
    }
    if row.error is not None:
        data["errorMessage"] = row.error
    return data


def tasks(sc, stage_id, kind):
    """TaskData of the logged attempts of a stage, in launch order."""
    now_ms = time.time() * 1000
    return [task_data(row, kind, now_ms) for row in task_rows(sc, stage_id)]


def _add_totals(st, rows):
    """Adds a stage's sums over its task rows (TaskRow) to its StageData, with Spark's
    StageData names."""
    now_ms = time.time() * 1000
    st["executorRunTime"] = int(sum(_run_ms(r, now_ms) for r in rows))
    st["inputBytes"] = sum(r.input_bytes for r in rows)
    st["inputRecords"] = sum(r.records_read for r in rows)
    st["outputBytes"] = sum(r.output_bytes for r in rows)
    st["outputRecords"] = sum(r.records_written for r in rows)
    st["shuffleReadBytes"] = sum(r.shuffle_read for r in rows)
    st["shuffleRemoteBytesRead"] = sum(r.remote_fetched for r in rows)
    st["shuffleLocalBytesRead"] = max(0, st["shuffleReadBytes"] - st["shuffleRemoteBytesRead"])
    st["shuffleReadRecords"] = sum(r.shuffle_records_read for r in rows)
    st["shuffleWriteBytes"] = sum(r.shuffle_write for r in rows)
    st["shuffleWriteRecords"] = sum(r.shuffle_records_written for r in rows)
    st["memoryBytesSpilled"] = sum(r.memory_spilled for r in rows)
    st["diskBytesSpilled"] = sum(r.disk_spilled for r in rows)
    st["resultSize"] = st["outputBytes"] if st.get("_kind") == "result" else 0
    if rows:
        st["firstTaskLaunchedTime"] = spark_time(min(r.launch for r in rows) / 1000)


def jobs(sc, stage_list=None):
    """JobData of every job in the history (newest first)."""
    stage_list = stages(sc) if stage_list is None else stage_list
    by_job = {}
    for st in stage_list:
        by_job.setdefault(st["_jobId"], []).append(st)
    out = []
    for jid, job in sorted(sc._jobs.items(), reverse=True):
        sts = sorted(by_job.get(jid, []), key=lambda s: s["stageId"])
        count = lambda status: sum(1 for s in sts if s["status"] == status)  # noqa: E731
        data = {
            "jobId": jid,
            "name": job.name,
            "submissionTime": spark_time(job.submitted),
            "stageIds": [s["stageId"] for s in sts],
            "jobGroup": job.group,
            "jobTags": list(job.tags),
            "status": job.status,
            "numTasks": sum(s["numTasks"] for s in sts),
            "numActiveTasks": sum(s["numActiveTasks"] for s in sts),
            "numCompletedTasks": sum(s["numCompleteTasks"] for s in sts),
            "numSkippedTasks": sum(s["numTasks"] for s in sts if s["status"] == "SKIPPED"),
            "numFailedTasks": sum(s["numFailedTasks"] for s in sts),
            "numKilledTasks": 0,
            "numCompletedIndices": sum(s["numCompletedIndices"] for s in sts),
            "numActiveStages": count("ACTIVE"),
            "numCompletedStages": count("COMPLETE"),
            "numSkippedStages": count("SKIPPED"),
            "numFailedStages": count("FAILED"),
            "killedTasksSummary": {},
        }
        if job.description is not None:
            data["description"] = job.description
        if job.group is None:
            del data["jobGroup"]
        if job.completed is not None:
            data["completionTime"] = spark_time(job.completed)
        out.append(data)
    return out


def app_info(sc):
    """ApplicationInfo of the running application."""
    start = sc.startTime / 1000
    now = time.time()
    return {
        "id": sc.applicationId,
        "name": sc.appName,
        "attempts": [{
            "startTime": spark_time(start),
            "endTime": spark_time(-0.001),  # Spark's value while the application runs
            "lastUpdated": spark_time(now),
            "duration": int((now - start) * 1000),
            "sparkUser": sc.sparkUser(),
            "completed": False,
            "appSparkVersion": sc.version,
            "startTimeEpoch": sc.startTime,
            "endTimeEpoch": -1,
            "lastUpdatedEpoch": int(now * 1000),
        }],
    }


# ---- storage, executors, environment ------------------------------------------------

class NotAvailable(RuntimeError):
    """A figure this build of ember does not report (answered with 501)."""


def storage(sc):
    """RDDStorageInfo of each persisted RDD, from the block store's report
    (``SparkContext._storage_status``); NotAvailable when the block store of this
    build does not report per-RDD figures."""
    report = getattr(sc, "_storage_status", None)
    if report is None:
        raise NotAvailable("this build's block store does not report per-RDD figures "
                           "(SparkContext._storage_status); the storage page shows the engine's total")
    return [{
        "id": r["id"],
        "name": r["name"],
        "numPartitions": r["num_partitions"],
        "numCachedPartitions": r["num_cached_partitions"],
        "storageLevel": r["storage_level"],
        "memoryUsed": r["memory_used"],
        "diskUsed": r["disk_used"],
    } for r in report()]


def _rdd_distribution(sc, rid, level):
    """RDDStorageInfo's detail: partitions (RDDPartitionInfo: block name, level, bytes,
    the executor holding it) and dataDistribution (RDDDataDistribution per executor).
    An executor is "driver" (local mode), or in cluster mode its rank."""
    blocks = next((r.get("blocks", []) for r in sc._storage_status() if r["id"] == rid), [])
    name = {b["executor"]: str(b["executor"]) if b["executor"] else "driver" for b in blocks}
    spread = {}
    for b in blocks:
        d = spread.setdefault(b["executor"], {"address": name[b["executor"]], "memoryUsed": 0, "diskUsed": 0})
        d["memoryUsed"] += b["memory_used"]
        d["diskUsed"] += b["disk_used"]
    return {
        "partitions": [{"blockName": f"rdd_{rid}_{b['partition']}", "storageLevel": level,
                        "memoryUsed": b["memory_used"], "diskUsed": b["disk_used"],
                        "executors": [name[b["executor"]]]} for b in blocks],
        "dataDistribution": [spread[e] for e in sorted(spread)],
    }


def _rss_bytes(pid):
    """The resident set size of process pid (bytes), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def workers(sc):
    """Per worker slot, over the logged attempts: its process (the last one seen),
    tasks run, failed and running, busy time (ms) and the process's RSS (None once
    it has exited)."""
    now_ms = time.time() * 1000
    out = {}
    for row in task_rows(sc, -1):
        w = out.setdefault(row.worker, {"worker": row.worker, "pid": row.pid, "tasks": 0, "failed": 0, "active": 0,
                                        "busyMs": 0})
        w["pid"] = row.pid
        w["tasks"] += 1
        w["failed"] += row.status == 2
        w["active"] += row.status == 0
        w["busyMs"] += _run_ms(row, now_ms)
    for w in out.values():
        w["busyMs"] = int(w["busyMs"])
        w["rss"] = _rss_bytes(w["pid"])
    return [out[k] for k in sorted(out)]


def executors(sc):
    """ExecutorSummary of the one executor of local mode, the driver, with its
    worker processes under "_workers" (ember's own)."""
    from ember.shuffle import parse_memory
    try:
        cached = storage(sc)
    except NotAvailable:
        cached = []
    ws = workers(sc)
    rows = task_rows(sc, -1)
    now_ms = time.time() * 1000
    from ember import _core
    return [{
        "id": "driver",
        "hostPort": "localhost",
        "isActive": True,
        "rddBlocks": sum(r["numCachedPartitions"] for r in cached),
        "memoryUsed": _core.mem_used(),
        "diskUsed": sum(r["diskUsed"] for r in cached),
        "totalCores": sc._slots,
        "maxTasks": sc._slots,
        "activeTasks": sum(w["active"] for w in ws),
        "failedTasks": sum(w["failed"] for w in ws),
        "completedTasks": sum(1 for r in rows if r.status == 1),
        "totalTasks": len(rows),
        "totalDuration": int(sum(_run_ms(r, now_ms) for r in rows)),
        "totalInputBytes": sum(r.input_bytes for r in rows),
        "totalShuffleRead": sum(r.shuffle_read for r in rows),
        "totalShuffleWrite": sum(r.shuffle_write for r in rows),
        "maxMemory": parse_memory(sc._conf.get("spark.executor.memory", "1g")),
        "addTime": spark_time(sc.startTime / 1000),
        "executorLogs": {},
        "_driverRss": _rss_bytes("self"),
        "_workers": ws,
    }]


DEFAULT_REDACTION = "(?i)secret|password|token|access[.]key"
REDACTED = "*********(redacted)"


def environment(sc):
    """ApplicationEnvironmentInfo: the context's settings (values of keys, or values,
    matching spark.redaction.regex redacted, as Spark does), the Python runtime and
    the module search path."""
    import platform
    import re
    import sys
    conf = sc._conf
    pattern = re.compile(conf.get("spark.redaction.regex", DEFAULT_REDACTION))
    props = sorted(conf.getAll())
    redacted = [[k, REDACTED if pattern.search(k) or pattern.search(v) else v] for k, v in props]
    return {
        "runtime": {"pythonVersion": platform.python_version(), "pythonExec": sys.executable,
                    "emberVersion": sc.version},
        "sparkProperties": redacted,
        "systemProperties": [["os.name", platform.system()], ["os.arch", platform.machine()],
                             ["os.version", platform.release()], ["user.name", sc.sparkUser()],
                             ["python.implementation", platform.python_implementation()]],
        "classpathEntries": [[p, "Python Path"] for p in sys.path if p],
    }


# ---- routing ----------------------------------------------------------------------------

def _int(text, what):
    try:
        return int(text)
    except ValueError:
        raise BadParameter(f"{what} must be an integer, got {text!r}") from None


def _filter_status(items, query, allowed):
    wanted = query.get("status")
    if wanted is None:
        return items
    if wanted.upper() not in allowed:
        raise BadParameter(f"status must be one of {', '.join(s.lower() for s in allowed)}, got {wanted!r}")
    return [i for i in items if i["status"] == wanted.upper()]


_JOB_STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "UNKNOWN")
_STAGE_STATUSES = ("ACTIVE", "COMPLETE", "PENDING", "FAILED", "SKIPPED")


def public(value):
    """value without the keys starting with "_" (ember's own, for the pages), at any depth."""
    if isinstance(value, dict):
        return {k: public(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [public(v) for v in value]
    return value


def get(sc, parts, query):
    """The JSON value of GET /api/v1/<parts joined by '/'>; raises NotFound or BadParameter."""
    return public(_get(sc, parts, query))


def _get(sc, parts, query):
    if parts == ["version"]:
        return {"spark": sc.version}
    if not parts or parts[0] != "applications":
        raise NotFound(f"unknown endpoint /api/v1/{'/'.join(parts)}: try /api/v1/applications")
    if len(parts) == 1:
        return [app_info(sc)]
    if parts[1] != sc.applicationId:
        raise NotFound(f"unknown app: {parts[1]} (this driver runs {sc.applicationId})")
    rest = parts[2:]
    if not rest:
        return app_info(sc)
    head, args = rest[0], rest[1:]
    if head == "jobs" and not args:
        return _filter_status(jobs(sc), query, _JOB_STATUSES)
    if head == "jobs" and len(args) == 1:
        jid = _int(args[0], "job id")
        for job in jobs(sc):
            if job["jobId"] == jid:
                return job
        raise NotFound(f"unknown job: {jid} (the UI keeps the last jobs of spark.ui.retainedJobs)")
    if head == "stages" and not args:
        return _filter_status(stages(sc, with_totals=True), query, _STAGE_STATUSES)
    if head == "stages" and len(args) in (1, 2, 3):
        sid = _int(args[0], "stage id")
        found = stages(sc, with_totals=True, only=sid)
        details = query.get("details", "false").lower() == "true"
        if len(args) == 1 and found:
            for st in found:
                if details:
                    st["tasks"] = {str(t["taskId"]): t for t in tasks(sc, sid, st.get("_kind"))}
            return found
        if len(args) >= 2:
            attempt = _int(args[1], "stage attempt id")
            found = [s for s in found if s["attemptId"] == attempt]
        if found and len(args) == 2:
            if details:
                found[0]["tasks"] = {str(t["taskId"]): t for t in tasks(sc, sid, found[0].get("_kind"))}
            return found[0]
        if found and args[2] == "taskList":
            listed = tasks(sc, sid, found[0].get("_kind"))
            offset = _int(query.get("offset", "0"), "offset")
            length = _int(query.get("length", "20"), "length")
            return listed[offset:offset + length]
        if found:
            raise NotFound(f"unknown endpoint /api/v1/{'/'.join(parts)}: a stage attempt has .../taskList")
        raise NotFound(f"unknown stage: {'/'.join(args[:2])} (the UI keeps the last spark.ui.retainedStages stages)")
    if head == "storage" and args == ["rdd"]:
        return storage(sc)
    if head == "storage" and len(args) == 2 and args[0] == "rdd":
        rid = _int(args[1], "RDD id")
        for r in storage(sc):
            if r["id"] == rid:
                return dict(r, **_rdd_distribution(sc, rid, r["storageLevel"]))
        raise NotFound(f"unknown RDD: {rid} (not persisted, or nothing of it cached)")
    if head in ("executors", "allexecutors") and not args:
        return executors(sc)
    if head == "environment" and not args:
        return environment(sc)
    raise NotFound(f"unknown endpoint /api/v1/{'/'.join(parts)}")
