"""The web UI and Spark's monitoring REST API (ember._ui): addresses and ports, the
REST objects' field names against Spark's, the pages during and after a job, bad
requests and slow clients, and a real headless browser (chromium) on the pages."""
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import run_in_thread, run_python, wait_for

# Field names of Spark's REST objects (org.apache.spark.status.api.v1: ApplicationInfo,
# ApplicationAttemptInfo, JobData, StageData), as its monitoring API documents them.
SPARK_APPLICATION = {"id", "name", "coresGranted", "maxCores", "coresPerExecutor", "memoryPerExecutorMB",
                     "attempts"}
SPARK_ATTEMPT = {"attemptId", "startTime", "endTime", "lastUpdated", "duration", "sparkUser", "completed",
                 "appSparkVersion", "startTimeEpoch", "endTimeEpoch", "lastUpdatedEpoch"}
SPARK_JOB = {"jobId", "name", "description", "submissionTime", "completionTime", "stageIds", "jobGroup", "jobTags",
             "status", "numTasks", "numActiveTasks", "numCompletedTasks", "numSkippedTasks", "numFailedTasks",
             "numKilledTasks", "numCompletedIndices", "numActiveStages", "numCompletedStages", "numSkippedStages",
             "numFailedStages", "killedTasksSummary"}
SPARK_STAGE = {"status", "stageId", "attemptId", "numTasks", "numActiveTasks", "numCompleteTasks", "numFailedTasks",
               "numKilledTasks", "numCompletedIndices", "submissionTime", "firstTaskLaunchedTime",
               "completionTime", "failureReason", "executorDeserializeTime", "executorDeserializeCpuTime",
               "executorRunTime", "executorCpuTime", "resultSize", "jvmGcTime", "resultSerializationTime",
               "memoryBytesSpilled", "diskBytesSpilled", "peakExecutionMemory", "inputBytes", "inputRecords",
               "outputBytes", "outputRecords", "shuffleRemoteBlocksFetched", "shuffleLocalBlocksFetched",
               "shuffleFetchWaitTime", "shuffleRemoteBytesRead", "shuffleRemoteBytesReadToDisk",
               "shuffleLocalBytesRead", "shuffleReadBytes", "shuffleReadRecords", "shuffleWriteBytes",
               "shuffleWriteTime", "shuffleWriteRecords", "name", "description", "details", "schedulingPool",
               "rddIds", "accumulatorUpdates", "tasks", "executorSummary", "killedTasksSummary",
               "resourceProfileId"}


def get(url, timeout=10):
    """(status, body bytes, headers) of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


def get_json(url):
    status, body, headers = get(url)
    assert headers["Content-Type"] == "application/json", (url, status, body[:200])
    return status, json.loads(body)


def raw_request(port, data, read_timeout=15):
    """Sends data on a fresh connection to the UI; returns all it answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


@pytest.fixture
def api(sc):
    return f"{sc.uiWebUrl}/api/v1/applications/{sc.applicationId}"


def test_the_ui_listens_on_loopback_only_by_default(sc):
    url = sc.uiWebUrl
    assert url.startswith("http://127.0.0.1:")
    port = int(url.rsplit(":", 1)[1])
    assert 4040 <= port
    # The kernel's table of listening TCP sockets: ours is bound to 127.0.0.1 only.
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in open(table).read().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, p = local.split(":")
            if state == "0A" and int(p, 16) == port:
                listening.append(addr)
    assert listening == ["0100007F"], listening  # 127.0.0.1, little-endian hex


def test_a_second_context_picks_the_next_free_port(sc):
    port = int(sc.uiWebUrl.rsplit(":", 1)[1])
    proc = run_python("from ember import SparkContext, SparkConf\n"
                      f"sc = SparkContext('local[1]', conf=SparkConf().set('spark.ui.port', '{port}'))\n"
                      "print(sc.uiWebUrl)\n"
                      "sc.stop()\n")
    assert proc.returncode == 0, proc.stderr
    other = int(proc.stdout.split()[-1].rsplit(":", 1)[1])
    assert other > port
    assert other <= port + 16  # spark.port.maxRetries


def test_ui_disabled_and_port_closed_after_stop():
    proc = run_python("import socket\n"
                      "from ember import SparkContext, SparkConf\n"
                      "sc = SparkContext('local[1]', conf=SparkConf().set('spark.ui.enabled', 'false'))\n"
                      "print(sc.uiWebUrl)\n"
                      "sc.stop()\n"
                      "sc = SparkContext('local[1]', conf=SparkConf().set('spark.ui.port', '0'))\n"
                      "port = int(sc.uiWebUrl.rsplit(':', 1)[1])\n"
                      "socket.create_connection(('127.0.0.1', port), timeout=5).close()\n"
                      "sc.stop()\n"
                      "try:\n"
                      "    socket.create_connection(('127.0.0.1', port), timeout=5)\n"
                      "    print('still open')\n"
                      "except ConnectionRefusedError:\n"
                      "    print('closed')\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["None", "closed"]


def test_rest_field_names_are_sparks(sc, api):
    sc.setJobGroup("rest-group", "rest description")
    sc.addJobTag("rest-tag")
    try:
        assert sc.parallelize(range(20), 4).map(lambda x: (x % 2, x)).reduceByKey(lambda a, b: a + b).count() == 2
    finally:
        sc.removeJobTag("rest-tag")
        sc.setJobGroup(None, None)
    status, apps = get_json(f"{sc.uiWebUrl}/api/v1/applications")
    assert status == 200 and [a["id"] for a in apps] == [sc.applicationId]
    assert set(apps[0]) <= SPARK_APPLICATION and {"id", "name", "attempts"} <= set(apps[0])
    assert set(apps[0]["attempts"][0]) <= SPARK_ATTEMPT
    assert apps[0]["attempts"][0]["completed"] is False

    status, jobs = get_json(f"{api}/jobs")
    assert status == 200
    job = next(j for j in jobs if j.get("jobGroup") == "rest-group")
    assert set(job) <= SPARK_JOB
    assert {"jobId", "name", "submissionTime", "completionTime", "stageIds", "status", "numTasks",
            "numCompletedTasks", "numActiveStages", "numCompletedStages"} <= set(job)
    assert job["status"] == "SUCCEEDED" and job["description"] == "rest description"
    assert job["jobTags"] == ["rest-tag"]
    assert len(job["stageIds"]) == 2 and job["numTasks"] == 8 and job["numCompletedTasks"] == 8
    assert job["numCompletedStages"] == 2
    assert get_json(f"{api}/jobs/{job['jobId']}") == (200, job)
    assert job in get_json(f"{api}/jobs?status=succeeded")[1]
    assert job not in get_json(f"{api}/jobs?status=failed")[1]

    status, stages = get_json(f"{api}/stages")
    mine = [s for s in stages if s["stageId"] in job["stageIds"]]
    assert len(mine) == 2
    for st in mine:
        assert set(st) <= SPARK_STAGE
        assert st["status"] == "COMPLETE" and st["numTasks"] == 4 and st["numCompleteTasks"] == 4
    status, attempts = get_json(f"{api}/stages/{mine[0]['stageId']}")
    assert status == 200 and [a["attemptId"] for a in attempts] == [0]
    assert get_json(f"{api}/stages/{mine[0]['stageId']}/0")[1]["stageId"] == mine[0]["stageId"]


def test_skipped_and_failed_stages_and_jobs(sc, api):
    pairs = sc.parallelize(range(10), 2).map(lambda x: (x % 3, x)).reduceByKey(lambda a, b: a + b)
    pairs.count()
    pairs.count()  # its map stage is skipped: the shuffle output exists
    status, jobs = get_json(f"{api}/jobs")
    second = jobs[0]
    assert second["numSkippedStages"] == 1 and second["numCompletedStages"] == 1
    assert second["numSkippedTasks"] == 2
    skipped = get_json(f"{api}/stages/{second['stageIds'][0]}")[1][0]
    assert skipped["status"] == "SKIPPED"

    def boom(x):
        raise ValueError("boom in the UI test")
    with pytest.raises(Exception, match="boom in the UI test"):
        sc.parallelize([1], 1).map(boom).collect()
    failed = get_json(f"{api}/jobs?status=failed")[1][0]
    assert failed["status"] == "FAILED" and failed["numFailedTasks"] >= 1 and failed["numFailedStages"] == 1
    assert get_json(f"{api}/stages/{failed['stageIds'][0]}")[1][0]["status"] == "FAILED"


def test_unknown_paths_and_ids_answer_json_errors(sc, api):
    for url, code in [(f"{sc.uiWebUrl}/api/v1/nothing", 404), (f"{sc.uiWebUrl}/api/v1/applications/app-x/jobs", 404),
                      (f"{api}/jobs/999999", 404), (f"{api}/stages/999999", 404), (f"{api}/jobs/abc", 400),
                      (f"{api}/jobs?status=sideways", 400), (f"{api}/whatever", 404), (f"{sc.uiWebUrl}/nope/", 404),
                      (f"{sc.uiWebUrl}/jobs/job/?id=999999", 404)]:
        status, body, headers = get(url)
        assert status == code, url
        assert headers["Content-Type"] == "application/json"
        assert json.loads(body)["error"], url


def test_bad_requests_are_refused_and_slow_clients_block_nothing(sc):
    port = int(sc.uiWebUrl.rsplit(":", 1)[1])
    assert raw_request(port, b"NONSENSE\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    assert raw_request(port, b"POST /api/v1/applications HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 405 ")
    huge = b"GET /jobs/ HTTP/1.1\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n"
    try:
        assert raw_request(port, huge).startswith(b"HTTP/1.1 431 ")
    except ConnectionResetError:
        pass  # the server answered and closed before reading all we sent: also refused
    # Clients that connect and send nothing (or half a request) hold only their own
    # threads: requests and jobs go on meanwhile.
    stalled = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
    stalled[0].sendall(b"GET /jobs/ HTTP/1.1\r\nHost: x\r\n")
    try:
        started = time.monotonic()
        assert sc.parallelize(range(100), 2).sum() == 4950
        assert get(f"{sc.uiWebUrl}/api/v1/applications")[0] == 200
        assert time.monotonic() - started < 4  # well before the stalled clients' 10 s timeout
    finally:
        for s in stalled:
            s.close()
    # HEAD answers the headers alone.
    head = raw_request(port, b"HEAD /jobs/ HTTP/1.1\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and head.endswith(b"\r\n\r\n")


def test_the_pages_during_a_job_and_after(sc, tmp_path):
    started = tmp_path / "started"
    go = tmp_path / "go"

    def wait_go(x):
        started.touch()
        deadline = time.monotonic() + 30
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return x

    def job():
        sc.setJobGroup("page-group", "page description <b>escaped</b>")
        sc.addJobTag("page-tag")
        try:
            return sc.parallelize(range(4), 2).map(lambda x: (x, x)).groupByKey().map(wait_go).count()
        finally:
            sc.clearJobTags()
            sc.setJobGroup(None, None)

    t, out = run_in_thread(job)
    try:
        wait_for(started.exists, "the job's first result task")
        wait_for(lambda: sc.statusTracker().getJobIdsForGroup("page-group"), "the job in the history")
        status, body, _ = get(f"{sc.uiWebUrl}/jobs/")
        page = body.decode()
        assert status == 200
        assert 'http-equiv="refresh"' in page  # refreshes while a job runs
        assert "Active Jobs (1)" in page and "page-group" in page and "page-tag" in page
        assert "page description &lt;b&gt;escaped&lt;/b&gt;" in page
        assert "<script" not in page and "http://" not in page.split("</head>")[0]  # no external asset
    finally:
        go.touch()
        t.join(30)
    assert out.get("result") == 4, out
    [job] = [j for j in json.loads(get(f"{sc.uiWebUrl}/api/v1/applications/{sc.applicationId}/jobs")[1])
             if j.get("jobGroup") == "page-group"]
    page = get(f"{sc.uiWebUrl}/jobs/")[1].decode()
    assert f'id="job-{job["jobId"]}"' in page and 'http-equiv="refresh"' not in page
    for sid in job["stageIds"]:
        assert f'/stages/stage/?id={sid}&amp;attempt=0' in page
    page = get(f"{sc.uiWebUrl}/jobs/job/?id={job['jobId']}")[1].decode()
    assert all(f'id="stage-{sid}"' in page for sid in job["stageIds"])
    page = get(f"{sc.uiWebUrl}/stages/")[1].decode()
    assert all(f'id="stage-{sid}"' in page for sid in job["stageIds"])
    status, body, _ = get(f"{sc.uiWebUrl}/stages/stage/?id={job['stageIds'][-1]}&attempt=0")
    assert status == 200 and b"COMPLETE" in body
    status, _, headers = get(f"{sc.uiWebUrl}/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")  # redirected to /jobs/


# ---- a real browser ----------------------------------------------------------------------

ARTIFACTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "build", "test-artifacts")


def chromium_or_skip():
    """The path of Debian's chromium (.ci/run installs it); skips without it, or fails
    when EMBER_REQUIRE_BROWSER is set (CI sets it)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("EMBER_REQUIRE_BROWSER"):
            pytest.fail("EMBER_REQUIRE_BROWSER is set but chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


def chromium(browser, profile, url, *args):
    """Runs headless chromium on url with args (--dump-dom, --screenshot=...); returns stdout."""
    proc = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--disable-extensions", f"--user-data-dir={profile}", "--window-size=1400,900",
                           *args, url], capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k != "LD_PRELOAD"})  # not under make asan's ASan
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_a_browser_shows_the_jobs_page_during_a_job_and_after(sc, tmp_path):
    browser = chromium_or_skip()
    os.makedirs(ARTIFACTS, exist_ok=True)
    started, go = tmp_path / "started", tmp_path / "go"

    def wait_go(x):
        started.touch()
        deadline = time.monotonic() + 60
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return x

    def job():
        sc.setJobGroup("browser-group", "a job the browser watches")
        try:
            return sc.parallelize(range(6), 3).map(lambda x: (x % 2, x)).reduceByKey(lambda a, b: a + b) \
                .map(wait_go).count()
        finally:
            sc.setJobGroup(None, None)

    t, out = run_in_thread(job)
    try:
        wait_for(started.exists, "the job's result stage")
        # The job's thread records it (on_submit) as its tasks start: wait for that too.
        wait_for(lambda: sc.statusTracker().getJobIdsForGroup("browser-group"), "the job in the history")
        [job_id] = sc.statusTracker().getJobIdsForGroup("browser-group")
        running = os.path.join(ARTIFACTS, "ui-jobs-running.png")
        chromium(browser, tmp_path / "profile", f"{sc.uiWebUrl}/jobs/", f"--screenshot={running}")
        dom = chromium(browser, tmp_path / "profile", f"{sc.uiWebUrl}/jobs/", "--dump-dom")
        assert f'id="job-{job_id}"' in dom and "Active Jobs (1)" in dom and "RUNNING" in dom
        assert os.path.getsize(running) > 1000
    finally:
        go.touch()
        t.join(60)
    assert out.get("result") == 2, out
    stage_ids = sc.statusTracker().getJobInfo(job_id).stageIds
    assert len(stage_ids) == 2
    done = os.path.join(ARTIFACTS, "ui-jobs-done.png")
    dom = chromium(browser, tmp_path / "profile", f"{sc.uiWebUrl}/jobs/job/?id={job_id}", "--dump-dom")
    chromium(browser, tmp_path / "profile", f"{sc.uiWebUrl}/jobs/", f"--screenshot={done}")
    assert "SUCCEEDED" in dom
    for sid in stage_ids:
        assert f'id="stage-{sid}"' in dom
    assert os.path.getsize(done) > 1000
