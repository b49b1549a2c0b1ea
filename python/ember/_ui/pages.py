"""The UI's pages: plain HTML with inline CSS and SVG, no script and no external
asset (they work offline). A page refreshes itself every REFRESH_SECONDS while a
job runs. Everything shown comes from ``api`` (the same dicts the REST API
answers), so the pages and the API never disagree.
"""
import calendar
import html
import time

from ember._ui import api

REFRESH_SECONDS = 2

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:0;color:#222;font-size:14px}
header{background:#1f2937;color:#fff;padding:8px 16px;display:flex;gap:24px;align-items:center}
header .app{font-weight:600}
header a{color:#cbd5e1;text-decoration:none;padding:4px 6px;border-radius:4px}
header a.on{background:#374151;color:#fff}
main{padding:12px 16px}
h2{font-size:16px;margin:18px 0 6px}
table{border-collapse:collapse;width:100%;margin-bottom:8px}
th,td{border-bottom:1px solid #e5e7eb;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f4f6;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.tag{display:inline-block;background:#e0e7ff;border-radius:3px;padding:0 4px;margin-right:3px;font-size:12px}
.status-FAILED{color:#b91c1c}.status-RUNNING,.status-ACTIVE{color:#1d4ed8}.status-SKIPPED{color:#6b7280}
pre.err{white-space:pre-wrap;background:#fef2f2;border:1px solid #fecaca;padding:6px;margin:4px 0;
max-height:24em;overflow:auto}
.muted{color:#6b7280}
table.summary th,table.tasks th{text-align:right}table.tasks th:nth-child(n+5):nth-child(-n+7){text-align:left}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px}dt{font-weight:600}dd{margin:0}
"""

_TABS = [("jobs", "Jobs"), ("stages", "Stages"), ("storage", "Storage"), ("executors", "Executors"),
         ("environment", "Environment")]


def esc(value):
    return html.escape("" if value is None else str(value), quote=True)


def _parse_spark_time(text):
    """Seconds since the epoch of a spark_time() string."""
    return calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")) + int(text[20:23]) / 1000


def duration_text(ms):
    """Spark's way of showing a duration: "45 ms", "3 s", "1.2 min", "2.0 h"."""
    if ms is None:
        return ""
    if ms < 1000:
        return f"{int(ms)} ms"
    if ms < 60_000:
        return f"{ms / 1000:.0f} s" if ms >= 10_000 else f"{ms / 1000:.1f} s"
    if ms < 3_600_000:
        return f"{ms / 60_000:.1f} min"
    return f"{ms / 3_600_000:.1f} h"


def size_text(n):
    """Bytes as Spark shows them: "512.0 B", "1.5 KiB", "3.2 MiB"."""
    if n is None:
        return ""
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    v, u = float(n), 0
    while u < len(units) - 1 and v >= 1024:
        v /= 1024
        u += 1
    return f"{v:.1f} {units[u]}"


def progress_bar(done, running, total, width=200):
    """An inline SVG bar: completed (green) and running (blue) parts of total, and
    "done/total" with the running count written over it."""
    total = max(total, 0)
    w_done = width * done / total if total else 0
    w_run = width * running / total if total else 0
    label = f"{done}/{total}" + (f" ({running} running)" if running else "")
    return (f'<svg class="progress" width="{width}" height="16" role="img" aria-label="{esc(label)}">'
            f'<rect width="{width}" height="16" rx="3" fill="#e5e7eb"/>'
            f'<rect width="{w_done:.1f}" height="16" rx="3" fill="#34d399"/>'
            f'<rect x="{w_done:.1f}" width="{w_run:.1f}" height="16" fill="#93c5fd"/>'
            f'<text x="{width / 2}" y="12" font-size="11" text-anchor="middle" fill="#111">{esc(label)}</text>'
            f'</svg>')


def layout(sc, tab, title, body, refresh):
    nav = "".join(f'<a href="/{key}/" class="{"on" if key == tab else ""}">{name}</a>'
                  for key, name in _TABS if f"/{key}/" in _PAGES)
    meta = f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">' if refresh else ""
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">{meta}'
            f'<title>{esc(sc.appName)} - {esc(title)}</title><style>{_CSS}</style></head><body>'
            f'<header><span class="app">ember {esc(sc.version)} &middot; {esc(sc.appName)}</span>'
            f'<nav>{nav}</nav></header><main><h1 style="font-size:20px">{esc(title)}</h1>{body}</main>'
            f'</body></html>')


def _job_duration_ms(job, now):
    start = _parse_spark_time(job["submissionTime"])
    end = _parse_spark_time(job["completionTime"]) if "completionTime" in job else now
    return max(0.0, (end - start) * 1000)


def _job_description(job):
    desc = f'<div>{esc(job["description"])}</div>' if job.get("description") else ""
    return f'{desc}<a href="/jobs/job/?id={job["jobId"]}">{esc(job["name"])}</a>'


def jobs_table(job_list, now, caption, anchor):
    if not job_list:
        return ""
    rows = []
    for job in job_list:
        tags = "".join(f'<span class="tag">{esc(t)}</span>' for t in job["jobTags"])
        stage_links = " ".join(f'<a href="/stages/stage/?id={s}&amp;attempt=0">{s}</a>' for s in job["stageIds"])
        done_stages = job["numCompletedStages"]
        countable = len(job["stageIds"]) - job["numSkippedStages"]
        skipped = f' ({job["numSkippedStages"]} skipped)' if job["numSkippedStages"] else ""
        rows.append(
            f'<tr id="job-{job["jobId"]}" class="job"><td class="num">{job["jobId"]}</td>'
            f'<td>{_job_description(job)}</td><td>{esc(job.get("jobGroup", ""))}</td><td>{tags}</td>'
            f'<td>{esc(job["submissionTime"][:19].replace("T", " "))}</td>'
            f'<td class="num">{duration_text(_job_duration_ms(job, now))}</td>'
            f'<td class="status-{job["status"]}">{job["status"]}</td>'
            f'<td class="stages">{done_stages}/{countable}{skipped}<div class="muted">stages {stage_links}</div></td>'
            f'<td>{_job_bar(job)}'
            f'{_failed_note(job["numFailedTasks"])}</td></tr>')
    return (f'<h2 id="{anchor}">{caption} ({len(job_list)})</h2><table class="jobs"><thead><tr><th>Job Id</th>'
            '<th>Description</th><th>Job Group</th><th>Tags</th><th>Submitted</th><th>Duration</th><th>Status</th>'
            '<th>Stages: Succeeded/Total</th><th>Tasks (for all stages): Succeeded/Total</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>")


def _job_bar(job):
    """The progress bar of a job's tasks (those of its skipped stages left out)."""
    return progress_bar(job["numCompletedTasks"], job["numActiveTasks"], job["numTasks"] - job["numSkippedTasks"])


def _failed_note(failed):
    return f' <span class="status-FAILED">({failed} failed)</span>' if failed else ""


def jobs_page(sc, query):
    now = time.time()
    job_list = api.jobs(sc)
    running = [j for j in job_list if j["status"] == "RUNNING"]
    body = (f'<p class="muted">Started {esc(api.spark_time(sc.startTime / 1000)[:19].replace("T", " "))} UTC; '
            f'{len(job_list)} jobs known (the last spark.ui.retainedJobs).</p>'
            + (jobs_table(running, now, "Active Jobs", "active") or "")
            + jobs_table([j for j in job_list if j["status"] == "SUCCEEDED"], now, "Completed Jobs", "completed")
            + jobs_table([j for j in job_list if j["status"] == "FAILED"], now, "Failed Jobs", "failed"))
    if not job_list:
        body += "<p>No job has run yet.</p>"
    return layout(sc, "jobs", "Jobs", body, bool(running))


def stages_table(stage_list, caption, anchor):
    if not stage_list:
        return ""
    rows = []
    for st in stage_list:
        sub = st.get("submissionTime")
        duration = duration_text(st["_durationMs"]) if "_durationMs" in st else ""
        desc = f'<div>{esc(st["description"])}</div>' if st.get("description") else ""
        rows.append(
            f'<tr id="stage-{st["stageId"]}" class="stage"><td class="num">{st["stageId"]}</td>'
            f'<td>{desc}<a href="/stages/stage/?id={st["stageId"]}&amp;attempt={st["attemptId"]}">'
            f'{esc(st["name"])}</a></td>'
            f'<td><a href="/jobs/job/?id={st["_jobId"]}">{st["_jobId"]}</a></td>'
            f'<td>{esc((sub or "")[:19].replace("T", " "))}</td><td class="num">{duration}</td>'
            f'<td class="status-{st["status"]}">{st["status"]}</td>'
            f'<td>{progress_bar(st["numCompleteTasks"], st["numActiveTasks"], st["numTasks"])}'
            f'{_failed_note(st["numFailedTasks"])}</td></tr>')
    return (f'<h2 id="{anchor}">{caption} ({len(stage_list)})</h2><table class="stages"><thead><tr><th>Stage Id</th>'
            '<th>Description</th><th>Job</th><th>Submitted</th><th>Duration</th><th>Status</th>'
            '<th>Tasks: Succeeded/Total</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>")


def _stages_by_status(stage_list):
    return [(stages_table([s for s in stage_list if s["status"] == status], caption, status.lower()))
            for status, caption in (("ACTIVE", "Active Stages"), ("COMPLETE", "Completed Stages"),
                                    ("FAILED", "Failed Stages"), ("SKIPPED", "Skipped Stages"))]


def stages_page(sc, query):
    stage_list = api.stages(sc)
    body = "".join(_stages_by_status(stage_list)) or "<p>No stage has run yet.</p>"
    return layout(sc, "stages", "Stages", body, any(s["status"] == "ACTIVE" for s in stage_list))


def _query_int(query, key):
    try:
        return int(query[key])
    except (KeyError, ValueError):
        raise api.BadParameter(f"the page needs ?{key}=<integer>") from None


def job_page(sc, query):
    jid = _query_int(query, "id")
    stage_list = api.stages(sc)
    found = [j for j in api.jobs(sc, stage_list) if j["jobId"] == jid]
    if not found:
        raise api.NotFound(f"unknown job: {jid} (the UI keeps the last jobs of spark.ui.retainedJobs)")
    job = found[0]
    tags = "".join(f'<span class="tag">{esc(t)}</span>' for t in job["jobTags"]) or '<span class="muted">none</span>'
    facts = (f'<dl><dt>Status</dt><dd class="status-{job["status"]}">{job["status"]}</dd>'
             f'<dt>Call site</dt><dd>{esc(job["name"])}</dd>'
             + (f'<dt>Description</dt><dd>{esc(job["description"])}</dd>' if job.get("description") else "")
             + (f'<dt>Job group</dt><dd>{esc(job["jobGroup"])}</dd>' if job.get("jobGroup") else "")
             + f'<dt>Tags</dt><dd>{tags}</dd>'
             f'<dt>Submitted</dt><dd>{esc(job["submissionTime"])}</dd>'
             f'<dt>Duration</dt><dd>{duration_text(_job_duration_ms(job, time.time()))}</dd>'
             f'<dt>Tasks</dt><dd>{_job_bar(job)}</dd></dl>')
    mine = [s for s in stage_list if s["_jobId"] == jid]
    body = facts + "".join(_stages_by_status(mine))
    return layout(sc, "jobs", f"Details for Job {jid}", body, job["status"] == "RUNNING")


TIMELINE_MAX_TASKS = 400
TABLE_MAX_TASKS = 1000
_STATUS_COLOURS = {"SUCCESS": "#34d399", "RUNNING": "#60a5fa", "FAILED": "#f87171", "KILLED": "#9ca3af"}


def timeline(task_list, now_ms):
    """An inline SVG of the tasks' run times: one lane per worker slot, a bar per
    attempt from launch to end (now while it runs), coloured by status; a task far
    longer than the others (a skewed partition) shows as a far longer bar."""
    shown = task_list[-TIMELINE_MAX_TASKS:]
    if not shown:
        return '<p class="muted">No task has started.</p>'
    start = min(t["_launchMs"] for t in shown)
    end = max((t["_finishMs"] or now_ms) for t in shown)
    span = max(end - start, 1)
    lanes = sorted({t["_worker"] for t in shown})
    lane_of = {w: i for i, w in enumerate(lanes)}
    left, width, lane_h = 90, 1000, 22
    height = lane_h * len(lanes) + 30
    parts = [f'<svg id="timeline" width="{left + width + 40}" height="{height}" role="img" '
             f'aria-label="task timeline" style="font-size:11px">']
    for w, i in lane_of.items():
        y = 4 + i * lane_h
        parts.append(f'<text x="4" y="{y + 14}">worker {w}</text>'
                     f'<line x1="{left}" x2="{left + width}" y1="{y + lane_h - 2}" y2="{y + lane_h - 2}" '
                     f'stroke="#e5e7eb"/>')
    for t in shown:
        x0 = left + width * (t["_launchMs"] - start) / span
        x1 = left + width * ((t["_finishMs"] or now_ms) - start) / span
        y = 4 + lane_of[t["_worker"]] * lane_h
        colour = _STATUS_COLOURS.get(t["status"], "#9ca3af")
        tip = (f'task {t["taskId"]}: partition {t["partitionId"]}, attempt {t["attempt"]}, {t["status"]}, '
               f'{duration_text(t["duration"])}')
        parts.append(f'<rect class="task-bar" data-task="{t["taskId"]}" x="{x0:.1f}" y="{y + 2}" '
                     f'width="{max(x1 - x0, 1.5):.1f}" height="{lane_h - 6}" rx="2" fill="{colour}" '
                     f'stroke="#fff"><title>{esc(tip)}</title></rect>')
    axis_y = height - 10
    for k in range(5):
        x = left + width * k / 4
        parts.append(f'<text x="{x:.0f}" y="{axis_y}" text-anchor="middle" fill="#6b7280">'
                     f'+{duration_text(span * k / 4)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def size_records(nbytes, records):
    """Spark's "Size / Records" cell: "1.5 KiB / 120"."""
    return f"{size_text(nbytes)} / {records}"


def _shuffle_read(m):
    """The bytes of shuffle buckets a task read (taskMetrics m): those on its own
    executor and those fetched from others (cluster mode)."""
    return m["shuffleReadMetrics"]["localBytesRead"] + m["shuffleReadMetrics"]["remoteBytesRead"]


# The figures of a task (TaskData) that its row, the summary and the stage's facts
# show, as (heading, cell text of a task's taskMetrics, sort key of a task's metrics).
_TASK_FIGURES = [
    ("Input Size / Records", lambda m: size_records(m["inputMetrics"]["bytesRead"], m["inputMetrics"]["recordsRead"]),
     lambda m: m["inputMetrics"]["bytesRead"]),
    ("Output Size / Records (result or cache)",
     lambda m: size_records(m["outputMetrics"]["bytesWritten"], m["outputMetrics"]["recordsWritten"]),
     lambda m: m["outputMetrics"]["bytesWritten"]),
    ("Shuffle Read Size / Records",
     lambda m: size_records(_shuffle_read(m), m["shuffleReadMetrics"]["recordsRead"]), _shuffle_read),
    ("Shuffle Write Size / Records",
     lambda m: size_records(m["shuffleWriteMetrics"]["bytesWritten"], m["shuffleWriteMetrics"]["recordsWritten"]),
     lambda m: m["shuffleWriteMetrics"]["bytesWritten"]),
    ("Spill (Memory)", lambda m: size_text(m["memoryBytesSpilled"]), lambda m: m["memoryBytesSpilled"]),
    ("Spill (Disk)", lambda m: size_text(m["diskBytesSpilled"]), lambda m: m["diskBytesSpilled"]),
]


def tasks_table(task_list):
    shown = task_list[:TABLE_MAX_TASKS]
    rows = []
    for t in shown:
        m = t["taskMetrics"]
        err = (f'<details><summary>{esc(t["errorMessage"].strip().splitlines()[-1][:160])}</summary>'
               f'<pre class="err">{esc(t["errorMessage"])}</pre></details>') if t.get("errorMessage") else ""
        figures = "".join(f'<td class="num">{cell(m)}</td>' for _, cell, _ in _TASK_FIGURES)
        rows.append(
            f'<tr id="task-{t["taskId"]}" class="task"><td class="num">{t["index"]}</td>'
            f'<td class="num">{t["taskId"]}</td><td class="num">{t["partitionId"]}</td>'
            f'<td class="num">{t["attempt"]}</td><td class="status-{t["status"]}">{t["status"]}</td>'
            f'<td>worker {t["_worker"]} (pid {t["_pid"]})</td>'
            f'<td>{esc(t["launchTime"][:23].replace("T", " "))}</td>'
            f'<td class="num">{duration_text(t["duration"])}</td>{figures}'
            f'<td>{err}</td></tr>')
    more = (f'<p class="muted">The first {TABLE_MAX_TASKS} of {len(task_list)} attempts; the REST API lists '
            'all (.../taskList?offset=&amp;length=).</p>') if len(task_list) > TABLE_MAX_TASKS else ""
    headings = "".join(f"<th>{name}</th>" for name, _, _ in _TASK_FIGURES)
    return ('<table class="tasks"><thead><tr><th>Index</th><th>Task Id</th><th>Partition</th><th>Attempt</th>'
            '<th>Status</th><th>Worker</th><th>Launch Time</th><th>Duration</th>' + headings
            + '<th>Errors</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>" + more)


def _summary(task_list):
    """Min, quartiles and max over the successful attempts of their duration and each
    figure (Spark's summary shape): a skewed partition stands out in the Max column."""
    done = [t for t in task_list if t["status"] == "SUCCESS"]
    if not done:
        return ""

    def pick(ordered):
        n = len(ordered)
        return [ordered[0], ordered[n // 4], ordered[n // 2], ordered[3 * n // 4], ordered[-1]]
    rows = ["<tr><td>Duration</td>" + "".join(f'<td class="num">{duration_text(t["duration"])}</td>'
                                             for t in pick(sorted(done, key=lambda t: t["duration"]))) + "</tr>"]
    for name, cell, key in _TASK_FIGURES:
        ordered = sorted(done, key=lambda t: key(t["taskMetrics"]))
        if key(ordered[-1]["taskMetrics"]) == 0:
            continue  # a figure none of them has (no spill, no shuffle ...)
        rows.append(f"<tr><td>{name}</td>" + "".join(f'<td class="num">{cell(t["taskMetrics"])}</td>'
                                                      for t in pick(ordered)) + "</tr>")
    return ('<h2>Summary of the successful tasks</h2><table class="summary"><thead><tr><th>Metric</th><th>Min</th>'
            '<th>25th percentile</th><th>Median</th><th>75th percentile</th><th>Max</th></tr></thead><tbody>'
            + "".join(rows) + '</tbody></table>')


def stage_page(sc, query):
    sid = _query_int(query, "id")
    attempt = int(query.get("attempt", 0)) if str(query.get("attempt", "0")).isdigit() else 0
    found = [s for s in api.stages(sc, with_totals=True, only=sid) if s["attemptId"] == attempt]
    if not found:
        raise api.NotFound(f"unknown stage: {sid} attempt {attempt} (the UI keeps the last "
                           "spark.ui.retainedStages stages)")
    st = found[0]
    task_list = api.tasks(sc, sid, st.get("_kind"))
    facts = (f'<dl><dt>Status</dt><dd class="status-{st["status"]}">{st["status"]}</dd>'
             f'<dt>Call site</dt><dd>{esc(st["name"])}</dd>'
             + (f'<dt>Kind</dt><dd>{esc(st["_kind"])} stage</dd>' if "_kind" in st else "")
             + f'<dt>Job</dt><dd><a href="/jobs/job/?id={st["_jobId"]}">{st["_jobId"]}</a></dd>'
             f'<dt>Submitted</dt><dd>{esc(st.get("submissionTime", ""))}</dd>'
             f'<dt>Duration</dt><dd>{duration_text(st.get("_durationMs"))}</dd>'
             f'<dt>Total task time</dt><dd>{duration_text(st.get("executorRunTime", 0))}</dd>'
             f'<dt>Input</dt><dd>{size_records(st.get("inputBytes", 0), st.get("inputRecords", 0))}</dd>'
             f'<dt>Output (result or cache)</dt>'
             f'<dd>{size_records(st.get("outputBytes", 0), st.get("outputRecords", 0))}</dd>'
             f'<dt>Shuffle read</dt>'
             f'<dd>{size_records(st.get("shuffleReadBytes", 0), st.get("shuffleReadRecords", 0))}</dd>'
             f'<dt>Shuffle write</dt>'
             f'<dd>{size_records(st.get("shuffleWriteBytes", 0), st.get("shuffleWriteRecords", 0))}</dd>'
             f'<dt>Spill (memory / disk)</dt><dd>{size_text(st.get("memoryBytesSpilled", 0))} / '
             f'{size_text(st.get("diskBytesSpilled", 0))}</dd>'
             f'<dt>Tasks</dt><dd>{progress_bar(st["numCompleteTasks"], st["numActiveTasks"], st["numTasks"])}'
             f'{_failed_note(st["numFailedTasks"])}</dd></dl>')
    body = (facts + "<h2>Event Timeline</h2>" + timeline(task_list, time.time() * 1000) + _summary(task_list)
            + f"<h2>Tasks ({len(task_list)})</h2>" + tasks_table(task_list))
    return layout(sc, "stages", f"Details for Stage {sid} (Attempt {attempt})", body, st["status"] == "ACTIVE")


def storage_page(sc, query):
    from ember import _core
    try:
        rdds = api.storage(sc)
    except api.NotAvailable as e:
        body = (f'<p class="muted">{esc(e)}.</p><dl><dt>Engine memory in use</dt>'
                f'<dd>{size_text(_core.mem_used())}</dd></dl>')
        return layout(sc, "storage", "Storage", body, False)
    if not rdds:
        body = "<p>No RDD is cached (persist() an RDD and run a job over it).</p>"
    else:
        rows = "".join(
            f'<tr id="rdd-{r["id"]}" class="rdd"><td class="num">{r["id"]}</td><td>{esc(r["name"])}</td>'
            f'<td>{esc(r["storageLevel"])}</td><td class="num">{r["numCachedPartitions"]}</td>'
            f'<td class="num">{r["numPartitions"]}</td>'
            f'<td>{progress_bar(r["numCachedPartitions"], 0, r["numPartitions"], 120)}</td>'
            f'<td class="num">{size_text(r["memoryUsed"])}</td><td class="num">{size_text(r["diskUsed"])}</td></tr>'
            for r in rdds)
        body = ('<table class="storage"><thead><tr><th>ID</th><th>RDD Name</th><th>Storage Level</th>'
                '<th>Cached Partitions</th><th>Partitions</th><th>Fraction Cached</th><th>Size in Memory</th>'
                '<th>Size on Disk</th></tr></thead><tbody>' + rows + "</tbody></table>")
    return layout(sc, "storage", "Storage", body, False)


def executors_page(sc, query):
    [ex] = api.executors(sc)
    facts = (f'<dl><dt>Executor</dt><dd>driver (local mode: the engine runs in this process)</dd>'
             f'<dt>Task slots</dt><dd>{ex["totalCores"]}</dd>'
             f'<dt>Tasks</dt><dd>{ex["totalTasks"]} logged: {ex["completedTasks"]} succeeded, '
             f'{ex["failedTasks"]} failed, {ex["activeTasks"]} running</dd>'
             f'<dt>Task time</dt><dd>{duration_text(ex["totalDuration"])}</dd>'
             f'<dt>Engine memory</dt><dd>{size_text(ex["memoryUsed"])} of {size_text(ex["maxMemory"])}</dd>'
             f'<dt>Cached blocks</dt><dd>{ex["rddBlocks"]} ({size_text(ex["diskUsed"])} on disk)</dd>'
             f'<dt>Input / shuffle read / write</dt><dd>{size_text(ex["totalInputBytes"])} / '
             f'{size_text(ex["totalShuffleRead"])} / {size_text(ex["totalShuffleWrite"])}</dd>'
             f'<dt>Driver RSS</dt><dd>{size_text(ex["_driverRss"])}</dd></dl>')
    rows = "".join(
        f'<tr id="worker-{w["worker"]}" class="worker"><td class="num">{w["worker"]}</td>'
        f'<td class="num">{w["pid"]}</td>'
        f'<td class="num">{w["tasks"]}</td><td class="num">{w["failed"]}</td><td class="num">{w["active"]}</td>'
        f'<td class="num">{duration_text(w["busyMs"])}</td>'
        f'<td class="num">{size_text(w["rss"]) if w["rss"] is not None else "exited"}</td></tr>'
        for w in ex["_workers"])
    body = (facts + "<h2>Python workers</h2>"
            + ('<table class="workers"><thead><tr><th>Worker slot</th><th>Process</th><th>Tasks</th><th>Failed</th>'
               '<th>Running</th><th>Busy time</th><th>RSS</th></tr></thead><tbody>' + rows + "</tbody></table>"
               '<p class="muted">Over the attempts the task log keeps (spark.ui.retainedTasks); the process is the '
               'last one seen in the slot (a crashed worker is replaced).</p>'
               if rows else "<p>No task has run yet.</p>"))
    return layout(sc, "executors", "Executors", body, ex["activeTasks"] > 0)


def environment_page(sc, query):
    env = api.environment(sc)

    def table(pairs, caption, anchor):
        rows = "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in pairs)
        return (f'<h2 id="{anchor}">{caption}</h2><table class="env"><thead><tr><th>Name</th><th>Value</th></tr>'
                f'</thead><tbody>{rows}</tbody></table>')
    body = (table(env["runtime"].items(), "Runtime Information", "runtime")
            + table(env["sparkProperties"], "Spark Properties", "spark")
            + table(env["systemProperties"], "System Properties", "system")
            + table(env["classpathEntries"], "Python Path", "path"))
    return layout(sc, "environment", "Environment", body, False)


_PAGES = {
    "/jobs/": jobs_page,
    "/jobs/job/": job_page,
    "/stages/": stages_page,
    "/stages/stage/": stage_page,
    "/storage/": storage_page,
    "/executors/": executors_page,
    "/environment/": environment_page,
}


def render(sc, path, query):
    """The HTML of the page at path, or None when there is no such page."""
    if not path.endswith("/"):
        path += "/"
    page = _PAGES.get(path)
    return None if page is None else page(sc, query)
