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
    now = time.time()
    rows = []
    for st in stage_list:
        sub = st.get("submissionTime")
        duration = duration_text((now - _parse_spark_time(sub)) * 1000) if sub and st["status"] == "ACTIVE" else ""
        if "completionTime" in st and sub:
            duration = duration_text((_parse_spark_time(st["completionTime"]) - _parse_spark_time(sub)) * 1000)
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


def stage_page(sc, query):
    sid = _query_int(query, "id")
    attempt = int(query.get("attempt", 0)) if str(query.get("attempt", "0")).isdigit() else 0
    found = [s for s in api.stages(sc) if s["stageId"] == sid and s["attemptId"] == attempt]
    if not found:
        raise api.NotFound(f"unknown stage: {sid} attempt {attempt} (the UI keeps the last 1000 stages)")
    st = found[0]
    facts = (f'<dl><dt>Status</dt><dd class="status-{st["status"]}">{st["status"]}</dd>'
             f'<dt>Call site</dt><dd>{esc(st["name"])}</dd>'
             f'<dt>Job</dt><dd><a href="/jobs/job/?id={st["_jobId"]}">{st["_jobId"]}</a></dd>'
             f'<dt>Submitted</dt><dd>{esc(st.get("submissionTime", ""))}</dd>'
             f'<dt>Tasks</dt><dd>{progress_bar(st["numCompleteTasks"], st["numActiveTasks"], st["numTasks"])}'
             f'{_failed_note(st["numFailedTasks"])}</dd></dl>')
    return layout(sc, "stages", f"Details for Stage {sid} (Attempt {attempt})", facts, st["status"] == "ACTIVE")


_PAGES = {
    "/jobs/": jobs_page,
    "/jobs/job/": job_page,
    "/stages/": stages_page,
    "/stages/stage/": stage_page,
}


def render(sc, path, query):
    """The HTML of the page at path, or None when there is no such page."""
    if not path.endswith("/"):
        path += "/"
    page = _PAGES.get(path)
    return None if page is None else page(sc, query)
