"""Spark's monitoring REST API (``/api/v1``) over what the context knows.

Objects carry Spark's field names (its ``status.api.v1`` classes: ApplicationInfo,
JobData, StageData ...) where ember has the same concept, and leave out the fields
it has no figure for. Times are Spark's text form (``2026-12-07T09:41:04.123GMT``).

The figures come from the context's job history (``sc._jobs``: the last
``spark.ui.retainedJobs`` jobs) and the engine's stage counters (the running stages,
and the last 1000 that finished); they are read, never changed, so serving them
takes no lock that a job or a cancellation waits for longer than a copy.
"""
import time

__all__ = ["get", "public", "NotFound", "BadParameter", "app_info", "jobs", "stages", "spark_time"]


class NotFound(LookupError):
    """No such application, job, stage or endpoint (answered with 404)."""


class BadParameter(ValueError):
    """A path or query parameter of the wrong form (answered with 400)."""


def spark_time(seconds):
    """Spark's date form for seconds since the epoch: ``2026-12-07T09:41:04.123GMT``."""
    ms = int(round(seconds * 1000))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}GMT"


# ---- the model: jobs and stages as dicts with Spark's names -----------------------------

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


def _stage_status(record, job):
    """Spark's StageStatus of an engine stage record, given its job (or None)."""
    jid, n, done, active, failed, sub, running = record
    if running:
        return "ACTIVE"
    if done == n:
        return "COMPLETE"
    if done == 0 and failed == 0 and job is not None and job.status == "SUCCEEDED":
        return "SKIPPED"  # a map stage whose shuffle output existed already
    return "FAILED"


def _stage_data(sid, record, job, now_ms):
    jid, n, done, active, failed, sub, running = record
    status = _stage_status(record, job)
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
        "name": job.name if job is not None else f"stage {sid}",
        "description": job.description if job is not None else None,
        "details": "",
        "schedulingPool": "default",
        "_jobId": jid,  # ember's: the pages link a stage to its job (not served)
        "killedTasksSummary": {},
    }
    if status != "SKIPPED":
        # The engine's clock is CLOCK_MONOTONIC: convert through "now".
        data["submissionTime"] = spark_time(time.time() - (now_ms - sub) / 1000)
    if data["description"] is None:
        del data["description"]
    return data


def stages(sc):
    """StageData of every stage known (newest first)."""
    jobs = dict(sc._jobs.items())
    now_ms = time.monotonic() * 1000  # engine stage times are CLOCK_MONOTONIC milliseconds
    recs = _stage_records(sc)
    return [_stage_data(sid, rec, jobs.get(rec[0]), now_ms) for sid, rec in sorted(recs.items(), reverse=True)]


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
        return _filter_status(stages(sc), query, _STAGE_STATUSES)
    if head == "stages" and len(args) in (1, 2):
        sid = _int(args[0], "stage id")
        found = [s for s in stages(sc) if s["stageId"] == sid]
        if len(args) == 2:
            attempt = _int(args[1], "stage attempt id")
            found = [s for s in found if s["attemptId"] == attempt]
            if found:
                return found[0]
        elif found:
            return found
        raise NotFound(f"unknown stage: {'/'.join(args)} (the UI keeps the last 1000 stages)")
    raise NotFound(f"unknown endpoint /api/v1/{'/'.join(parts)}")
