"""The web UI and Spark's monitoring REST API (ember._ui): addresses and ports, the
REST objects' field names against Spark's, the pages during and after a job, bad
requests and slow clients, and a real headless browser (chromium) on the pages."""
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import run_in_thread, run_python, wait_for

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "bench"))
from ui_screenshot import skewed_job  # noqa: E402  (the figure's job: partition 0 holds most values)

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
SPARK_TASK = {"taskId", "index", "attempt", "partitionId", "launchTime", "resultFetchStart", "duration",
              "executorId", "host", "status", "taskLocality", "speculative", "accumulatorUpdates", "errorMessage",
              "taskMetrics", "executorLogs", "schedulerDelay", "gettingResultTime"}
SPARK_TASK_METRICS = {"executorDeserializeTime", "executorDeserializeCpuTime", "executorRunTime", "executorCpuTime",
                      "resultSize", "jvmGcTime", "resultSerializationTime", "memoryBytesSpilled", "diskBytesSpilled",
                      "peakExecutionMemory", "inputMetrics", "outputMetrics", "shuffleReadMetrics",
                      "shuffleWriteMetrics"}
SPARK_SHUFFLE_READ = {"remoteBlocksFetched", "localBlocksFetched", "fetchWaitTime", "remoteBytesRead",
                      "remoteBytesReadToDisk", "localBytesRead", "recordsRead"}
SPARK_INPUT = {"bytesRead", "recordsRead"}
SPARK_OUTPUT = {"bytesWritten", "recordsWritten"}
SPARK_SHUFFLE_WRITE = {"bytesWritten", "writeTime", "recordsWritten"}


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
    for stage in mine:
        assert set(stage) <= SPARK_STAGE
        assert stage["status"] == "COMPLETE" and stage["numTasks"] == 4 and stage["numCompleteTasks"] == 4
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


class _FakeUI:
    """What server.serve_connection needs of the UI, for feeding it bytes directly."""

    def __init__(self, sc):
        self.sc, self.lock = sc, threading.Lock()

    def context(self):
        return self.sc

    def reading(self):
        return self.lock


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.binary(max_size=600),
                 st.builds(lambda m, p, v, h: m + b" " + p + b" " + v + b"\r\n" + h + b"\r\n\r\n",
                           st.sampled_from([b"GET", b"HEAD", b"POST", b"", b"G\x00T"]),
                           st.binary(max_size=80).map(lambda b: b"/" + b),
                           st.sampled_from([b"HTTP/1.1", b"HTTP/2", b""]),
                           st.binary(max_size=200))))
def test_the_request_parser_answers_any_bytes_with_a_status(sc, data):
    from ember._ui import server
    a, b = socket.socketpair()
    try:
        a.sendall(data)
        a.shutdown(socket.SHUT_WR)
        server.serve_connection(b, _FakeUI(sc))  # never raises
        b.close()
        answer = b""
        while chunk := a.recv(65536):
            answer += chunk
    finally:
        a.close()
        b.close()
    head = answer.split(b"\r\n", 1)[0]
    assert head[:9] == b"HTTP/1.1 " and head[9:12].isdigit(), answer[:200]
    assert int(head[9:12]) in (200, 302, 400, 404, 405, 408, 431, 501)


def held_until_released(tmp_path, limit=60):
    """(started, go, wait_go): wait_go(x), a task's function, creates the file `started`,
    then waits for the file `go` (at most limit seconds) and returns x."""
    started, go = tmp_path / "started", tmp_path / "go"

    def wait_go(x):
        started.touch()
        deadline = time.monotonic() + limit
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return x
    return started, go, wait_go


def test_the_pages_during_a_job_and_after(sc, tmp_path):
    started, go, wait_go = held_until_released(tmp_path)

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
    started, go, wait_go = held_until_released(tmp_path)

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
        dom = chromium(browser, tmp_path / "profile", f"{sc.uiWebUrl}/jobs/", f"--screenshot={running}", "--dump-dom")
        assert f'id="job-{job_id}"' in dom and "Active Jobs (1)" in dom and "RUNNING" in dom
        assert os.path.getsize(running) > 1000
    finally:
        go.touch()
        t.join(60)
    assert out.get("result") == 2, out
    stage_ids = sc.statusTracker().getJobInfo(job_id).stageIds
    assert len(stage_ids) == 2
    done = os.path.join(ARTIFACTS, "ui-jobs-done.png")
    dom = chromium(browser, tmp_path / "profile", f"{sc.uiWebUrl}/jobs/job/?id={job_id}", f"--screenshot={done}",
                   "--dump-dom")
    assert "SUCCEEDED" in dom
    for sid in stage_ids:
        assert f'id="stage-{sid}"' in dom
    assert os.path.getsize(done) > 1000

    # The stage page of a skewed job: the timeline shows one long bar.
    skewed_job(sc)
    reduce_id = sc.statusTracker().getJobInfo(sc.statusTracker().getJobIdsForGroup(None)[0]).stageIds[-1]
    shot = os.path.join(ARTIFACTS, "ui-stage-skewed.png")
    url = f"{sc.uiWebUrl}/stages/stage/?id={reduce_id}&attempt=0"
    dom = chromium(browser, tmp_path / "profile", url, "--window-size=1400,1100", f"--screenshot={shot}", "--dump-dom")
    assert dom.count('class="task-bar"') == 8 and 'id="timeline"' in dom
    assert os.path.getsize(shot) > 1000


def test_stage_tasks_in_rest_and_page(sc, api):
    result = dict(skewed_job(sc))
    assert result[0] == 5800
    job = get_json(f"{api}/jobs")[1][0]
    map_id, reduce_id = job["stageIds"]
    reduce_stage = get_json(f"{api}/stages/{reduce_id}/0?details=true")[1]
    assert set(reduce_stage) <= SPARK_STAGE
    assert reduce_stage["name"].startswith("collect at ") and "completionTime" in reduce_stage
    map_stage = get_json(f"{api}/stages/{map_id}/0")[1]
    assert map_stage["name"].startswith("groupByKey at ")  # the call site of the shuffle
    assert map_stage["inputBytes"] > 0 and map_stage["shuffleWriteBytes"] > 0
    assert reduce_stage["shuffleReadBytes"] == map_stage["shuffleWriteBytes"]
    tasks = reduce_stage["tasks"]
    assert len(tasks) == 8
    for tid, task in tasks.items():
        m = task["taskMetrics"]
        assert set(task) <= SPARK_TASK and set(m) <= SPARK_TASK_METRICS
        assert set(m["shuffleReadMetrics"]) <= SPARK_SHUFFLE_READ and set(m["inputMetrics"]) <= SPARK_INPUT
        assert set(m["outputMetrics"]) <= SPARK_OUTPUT and set(m["shuffleWriteMetrics"]) <= SPARK_SHUFFLE_WRITE
        assert int(tid) == task["taskId"] and task["status"] == "SUCCESS" and task["executorId"] == "driver"
        assert m["outputMetrics"]["recordsWritten"] == 1  # each reduce partition holds one key
        assert m["memoryBytesSpilled"] == m["diskBytesSpilled"] == 0
    by_partition = {t["partitionId"]: t for t in tasks.values()}
    skewed = by_partition[0]
    assert skewed["duration"] == max(t["duration"] for t in tasks.values())
    assert skewed["taskMetrics"]["shuffleReadMetrics"]["localBytesRead"] > 5 * by_partition[1]["taskMetrics"][
        "shuffleReadMetrics"]["localBytesRead"]
    assert sum(t["taskMetrics"]["resultSize"] for t in tasks.values()) == reduce_stage["resultSize"] > 0
    # Records: the map stage read the 8000 pairs and wrote them to the shuffle; the reduce
    # stage read those, the skewed partition most of them, and sent one group each.
    reads = {p: t["taskMetrics"]["shuffleReadMetrics"]["recordsRead"] for p, t in by_partition.items()}
    assert map_stage["inputRecords"] == 8000 and map_stage["outputRecords"] == 0
    assert reduce_stage["shuffleReadRecords"] == sum(reads.values()) == map_stage["shuffleWriteRecords"] > 0
    assert reads[0] == max(reads.values()) > 5 * reads[1]
    assert reduce_stage["outputRecords"] == 8 and reduce_stage["inputRecords"] == 0
    assert reduce_stage["memoryBytesSpilled"] == reduce_stage["diskBytesSpilled"] == 0
    listed = get_json(f"{api}/stages/{reduce_id}/0/taskList?offset=2&length=3")[1]
    assert [t["index"] for t in listed] == [2, 3, 4]

    page = get(f"{sc.uiWebUrl}/stages/stage/?id={reduce_id}&attempt=0")[1].decode()
    assert page.count('class="task-bar"') == 8 and page.count('class="task"') == 8
    assert f'data-task="{skewed["taskId"]}"' in page and "a skewed groupByKey" not in page.split("<main>")[0]
    assert "Shuffle Read Size / Records" in page and "Spill (Disk)" in page
    row = page.split(f'id="task-{skewed["taskId"]}"')[1].split("</tr>")[0]
    assert f" / {reads[0]}</td>" in row  # the skewed task's shuffle records on its row
    summary = page.split('class="summary"')[1].split("</table>")[0]
    assert "Shuffle Read Size / Records" in summary and f" / {reads[0]}</td>" in summary  # its Max


@pytest.mark.parametrize("job", ["reduceByKey(lambda a, b: a + b, 2)", "sortByKey(True, 2)"])
def test_spills_in_rest_and_page(job):
    """A reduceByKey past spark.python.worker.memory spills (python/ember/shuffle.py), and
    so does a sortByKey (its sorted runs, python/_core/sort.c): the reduce tasks report
    memory and disk bytes spilled, summed on the stage."""
    proc = run_python(
        "import json, urllib.request\n"
        "from ember import SparkContext, SparkConf\n"
        "conf = SparkConf().set('spark.ui.port', '0').set('spark.python.worker.memory', '1m')\n"
        "sc = SparkContext('local[2]', conf=conf)\n"
        f"n = sc.parallelize(range(300000), 2).map(lambda x: (x, x)).{job}.count()\n"
        "api = f'{sc.uiWebUrl}/api/v1/applications/{sc.applicationId}'\n"
        "stages = json.load(urllib.request.urlopen(api + '/stages'))\n"
        "sid = min(s['stageId'] for s in stages if s['shuffleReadBytes'])\n"
        "stage = json.load(urllib.request.urlopen(f'{api}/stages/{sid}/0?details=true'))\n"
        "page = urllib.request.urlopen(f'{sc.uiWebUrl}/stages/stage/?id={sid}&attempt=0').read().decode()\n"
        "print(json.dumps([n, stage, page]))\n"
        "sc.stop()\n")
    assert proc.returncode == 0, proc.stderr
    n, stage, page = json.loads(proc.stdout.splitlines()[-1])
    assert n == 300000
    tasks = stage["tasks"].values()
    assert len(tasks) == 2
    for t in tasks:
        m = t["taskMetrics"]
        assert m["diskBytesSpilled"] > 0 and m["memoryBytesSpilled"] > 0
        assert m["shuffleReadMetrics"]["recordsRead"] > 65536  # past a chunk: memory is checked
    assert sum(t["taskMetrics"]["shuffleReadMetrics"]["recordsRead"] for t in tasks) == 300000
    assert stage["diskBytesSpilled"] == sum(t["taskMetrics"]["diskBytesSpilled"] for t in tasks)
    assert stage["memoryBytesSpilled"] == sum(t["taskMetrics"]["memoryBytesSpilled"] for t in tasks)
    summary = page.split('class="summary"')[1].split("</table>")[0]
    assert "Spill (Memory)" in summary and "Spill (Disk)" in summary


def test_native_merge_spills_in_rest(tmp_path):
    """reduceByKey with a native merge spills its table past spark.python.worker.memory
    (src/nworker.c's merge, in C) and its reduce tasks report the bytes, as Python's do."""
    lib = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "examples", "native_udf",
                       "wordcount.c")
    path = tmp_path / "words.txt"
    path.write_text("\n".join(" ".join(f"w{i * 10 + j}" for j in range(10)) for i in range(20000)) + "\n")
    proc = run_python(
        "import json, os, urllib.request\n"
        "from ember import SparkContext, SparkConf, native\n"
        f"lib = native.compile({lib!r})\n"
        "conf = SparkConf().set('spark.ui.port', '0').set('spark.python.worker.memory', '1m')\n"
        "sc = SparkContext('local[2]', conf=conf)\n"
        f"counts = sc.textFile({str(path)!r}, 2).flatMapNative(lib, 'tokenize')"
        ".reduceByKey(native.merge(lib, 'add'), 2).collect()\n"
        "api = f'{sc.uiWebUrl}/api/v1/applications/{sc.applicationId}'\n"
        "stages = json.load(urllib.request.urlopen(api + '/stages'))\n"
        "sid = max(s['stageId'] for s in stages)\n"
        "stage = json.load(urllib.request.urlopen(f'{api}/stages/{sid}/0?details=true'))\n"
        "left = [f for f in os.listdir(sc._core.tmpdir) if f.endswith('.spill')]\n"
        "print(json.dumps([len(counts), sorted(set(c for _, c in counts)), stage, left]))\n"
        "sc.stop()\n")
    assert proc.returncode == 0, proc.stderr
    n, values, stage, left = json.loads(proc.stdout.splitlines()[-1])
    assert n == 200000 and values == [1] and left == []
    tasks = stage["tasks"].values()
    assert len(tasks) == 2 and stage["shuffleReadRecords"] == 200000
    for t in tasks:
        assert t["taskMetrics"]["memoryBytesSpilled"] > (1 << 20) and t["taskMetrics"]["diskBytesSpilled"] > 0
    assert stage["diskBytesSpilled"] == sum(t["taskMetrics"]["diskBytesSpilled"] for t in tasks)


def test_spill_code_counts_into_the_running_task(sc, api):
    """_core.note_spill(memory_bytes, disk_bytes), called by spilling code in a worker,
    adds to the running task's spill figures; each task starts from 0."""
    from ember import _core

    def spill(index, it):
        _core.note_spill(1000 * (index + 1), 10 * (index + 1))
        _core.note_spill(1, 2)
        return it
    sc.setJobDescription("spill counter")
    try:
        sc.parallelize(range(6), 3).mapPartitionsWithIndex(spill).collect()
    finally:
        sc.setJobDescription(None)
    [job] = [j for j in get_json(f"{api}/jobs")[1] if j.get("description") == "spill counter"]
    stage = get_json(f"{api}/stages/{job['stageIds'][0]}/0?details=true")[1]
    got = sorted((t["partitionId"], t["taskMetrics"]["memoryBytesSpilled"], t["taskMetrics"]["diskBytesSpilled"])
                 for t in stage["tasks"].values())
    assert got == [(0, 1001, 12), (1, 2001, 22), (2, 3001, 32)]
    assert stage["memoryBytesSpilled"] == 6003 and stage["diskBytesSpilled"] == 66
    assert stage["inputRecords"] == 6 and stage["outputRecords"] == 6


def test_records_of_native_steps(sc, api, tmp_path):
    """A task of native steps only (run in C, nworker.c's emberV_run) counts its records too."""
    from ember import native
    lib = native.compile(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "examples",
                                      "native_udf", "wordcount.c"))
    path = tmp_path / "text.txt"
    path.write_text("a b c\nb c\nc\n\nd\n")
    sc.setJobDescription("native records")
    try:
        got = dict(sc.textFile(str(path), 2).flatMapNative(lib, "tokenize")
                   .reduceByKey(native.merge(lib, "add"), 2).collect())
    finally:
        sc.setJobDescription(None)
    assert got == {"a": 1, "b": 2, "c": 3, "d": 1}
    [job] = [j for j in get_json(f"{api}/jobs")[1] if j.get("description") == "native records"]
    map_stage, reduce_stage = (get_json(f"{api}/stages/{sid}/0")[1] for sid in job["stageIds"])
    assert map_stage["inputRecords"] == 5  # the lines, the empty one too
    assert 4 <= map_stage["shuffleWriteRecords"] <= 7  # the words, combined on the map side per split
    assert reduce_stage["shuffleReadRecords"] == map_stage["shuffleWriteRecords"]
    assert reduce_stage["outputRecords"] == 4


def test_failed_and_killed_attempts_show_with_their_errors(sc, api, tmp_path):
    def boom(x):
        if x == 1:
            raise ValueError("partition one fails for the UI")
        return x
    with pytest.raises(Exception, match="partition one fails"):
        sc.parallelize(range(2), 2).map(boom).collect()
    failed_job = get_json(f"{api}/jobs?status=failed")[1][0]
    [sid] = failed_job["stageIds"]
    stage = get_json(f"{api}/stages/{sid}?details=true")[1][0]
    failures = [t for t in stage["tasks"].values() if t["status"] == "FAILED"]
    assert len(failures) == 4 and sorted(t["attempt"] for t in failures) == [0, 1, 2, 3]  # local[2]: 4 tries
    assert all("Traceback" in t["errorMessage"] and "partition one fails" in t["errorMessage"] for t in failures)
    page = get(f"{sc.uiWebUrl}/stages/stage/?id={sid}&attempt=0")[1].decode()
    assert "ValueError: partition one fails for the UI" in page and 'class="err"' in page

    started = tmp_path / "started"

    def slow(x):
        started.touch()
        time.sleep(60)
        return x

    def job():
        sc.setJobGroup("ui-cancel", "cancelled while the UI watches")
        try:
            return sc.parallelize(range(2), 2).map(slow).collect()
        finally:
            sc.setJobGroup(None, None)
    t, out = run_in_thread(job)
    wait_for(started.exists, "the job's first task")
    wait_for(lambda: sc.statusTracker().getJobIdsForGroup("ui-cancel"), "the job in the history")
    running = get_json(f"{api}/jobs?status=running")[1]
    [rid] = [j["jobId"] for j in running if j.get("jobGroup") == "ui-cancel"]
    sc.cancelJobGroup("ui-cancel")
    t.join(30)
    assert "error" in out
    [job_data] = [j for j in get_json(f"{api}/jobs")[1] if j["jobId"] == rid]
    stage = get_json(f"{api}/stages/{job_data['stageIds'][0]}?details=true")[1][0]
    assert stage["status"] == "FAILED"
    assert {t["status"] for t in stage["tasks"].values()} == {"KILLED"}


def test_retained_tasks_and_jobs_are_bounded():
    proc = run_python("from ember import SparkContext, SparkConf\n"
                      "conf = SparkConf().set('spark.ui.retainedTasks', '5').set('spark.ui.retainedStages', '3')\n"
                      "conf.set('spark.ui.retainedJobs', '4').set('spark.ui.port', '0')\n"
                      "sc = SparkContext('local[2]', conf=conf)\n"
                      "for i in range(6):\n"
                      "    sc.parallelize(range(4), 4).count()\n"
                      "print(len(sc._core.task_infos(-1)), len(sc._core.stage_records()),\n"
                      "      len(sc.statusTracker().getJobIdsForGroup(None)))\n"
                      "print(min(t[0] for t in sc._core.task_infos(-1)))\n"
                      "sc.stop()\n")
    assert proc.returncode == 0, proc.stderr
    counts, oldest = proc.stdout.splitlines()[-2:]
    assert counts.split() == ["5", "3", "4"]
    assert int(oldest) == 20  # 24 attempts ran: the last 5 are kept


# ---- storage, executors, environment, event log -------------------------------------------

SPARK_RDD_STORAGE = {"id", "name", "numPartitions", "numCachedPartitions", "storageLevel", "memoryUsed", "diskUsed",
                     "dataDistribution", "partitions"}
SPARK_EXECUTOR = {"id", "hostPort", "isActive", "rddBlocks", "memoryUsed", "diskUsed", "totalCores", "maxTasks",
                  "activeTasks", "failedTasks", "completedTasks", "totalTasks", "totalDuration", "totalGCTime",
                  "totalInputBytes", "totalShuffleRead", "totalShuffleWrite", "isBlacklisted", "maxMemory",
                  "addTime", "removeTime", "removeReason", "executorLogs", "memoryMetrics", "blacklistedInStages",
                  "peakMemoryMetrics", "attributes", "resources", "resourceProfileId", "isExcluded",
                  "excludedInStages"}
SPARK_ENVIRONMENT = {"runtime", "sparkProperties", "hadoopProperties", "systemProperties", "metricsProperties",
                     "classpathEntries", "resourceProfiles"}


def test_storage_from_the_block_stores_report(sc, api, monkeypatch):
    report = [{"id": 41, "name": "cached <nums>", "storage_level": "Memory Serialized 1x Replicated",
               "num_partitions": 4, "num_cached_partitions": 3, "memory_used": 2048, "disk_used": 0,
               "blocks": [{"partition": 0, "executor": 0, "memory_used": 1024, "disk_used": 0},
                          {"partition": 2, "executor": 2, "memory_used": 512, "disk_used": 0},
                          {"partition": 3, "executor": 2, "memory_used": 512, "disk_used": 0}]}]
    monkeypatch.setattr(sc, "_storage_status", lambda: report, raising=False)
    status, rdds = get_json(f"{api}/storage/rdd")
    assert status == 200 and len(rdds) == 1 and set(rdds[0]) <= SPARK_RDD_STORAGE
    assert rdds[0] == {"id": 41, "name": "cached <nums>", "numPartitions": 4, "numCachedPartitions": 3,
                       "storageLevel": "Memory Serialized 1x Replicated", "memoryUsed": 2048, "diskUsed": 0}
    detail = get_json(f"{api}/storage/rdd/41")[1]
    assert detail["id"] == 41 and set(detail) <= SPARK_RDD_STORAGE
    assert [(p["blockName"], p["executors"], p["memoryUsed"]) for p in detail["partitions"]] == [
        ("rdd_41_0", ["driver"], 1024), ("rdd_41_2", ["2"], 512), ("rdd_41_3", ["2"], 512)]
    assert detail["dataDistribution"] == [{"address": "driver", "memoryUsed": 1024, "diskUsed": 0},
                                          {"address": "2", "memoryUsed": 1024, "diskUsed": 0}]
    assert get(f"{api}/storage/rdd/42")[0] == 404
    page = get(f"{sc.uiWebUrl}/storage/")[1].decode()
    assert 'id="rdd-41"' in page and "cached &lt;nums&gt;" in page and "2.0 KiB" in page
    assert get_json(f"{api}/executors")[1][0]["rddBlocks"] == 3
    # Without the block store's report (a build without it), the API says so, the page degrades.
    monkeypatch.setattr(type(sc), "_storage_status", None, raising=False)
    monkeypatch.delattr(sc, "_storage_status", raising=False)
    status, body, _ = get(f"{api}/storage/rdd")
    assert status == 501 and "_storage_status" in json.loads(body)["error"]
    assert "Engine memory in use" in get(f"{sc.uiWebUrl}/storage/")[1].decode()


def test_storage_of_a_persisted_rdd(sc, api):
    if not hasattr(sc, "_storage_status"):
        pytest.skip("the block store of this build does not report cached RDDs (SparkContext._storage_status)")
    rdd = sc.parallelize(range(100), 4).setName("ui-cached").cache()
    try:
        assert rdd.count() == 100
        [info] = [r for r in get_json(f"{api}/storage/rdd")[1] if r["id"] == rdd.id()]
        assert info["name"] == "ui-cached" and info["numCachedPartitions"] == 4 and info["memoryUsed"] > 0
    finally:
        rdd.unpersist()


def test_executors_and_workers(sc, api):
    assert sc.parallelize(range(20), 4).map(lambda x: x + 1).sum() == 210
    [ex] = get_json(f"{api}/executors")[1]
    assert set(ex) <= SPARK_EXECUTOR
    assert ex["id"] == "driver" and ex["totalCores"] == 2 and ex["completedTasks"] >= 4
    assert ex["totalTasks"] >= ex["completedTasks"] + ex["failedTasks"] and ex["totalDuration"] > 0
    assert get_json(f"{api}/allexecutors")[1][0]["id"] == "driver"
    page = get(f"{sc.uiWebUrl}/executors/")[1].decode()
    assert page.count('class="worker"') == 2  # local[2]: two worker slots, each with its process and RSS
    assert "MiB" in page


def test_environment_redacts_secrets():
    proc = run_python("import json, urllib.request\n"
                      "from ember import SparkContext, SparkConf\n"
                      "conf = SparkConf().set('spark.ui.port', '0').set('my.db.password', 'hunter2')\n"
                      "conf.set('spark.s3.access.key', 'AKIA-SECRET').set('plain.setting', 'token=abc')\n"
                      "conf.set('spark.visible', 'shown')\n"
                      "sc = SparkContext('local[1]', conf=conf)\n"
                      "env = json.load(urllib.request.urlopen(\n"
                      "    f'{sc.uiWebUrl}/api/v1/applications/{sc.applicationId}/environment'))\n"
                      "page = urllib.request.urlopen(f'{sc.uiWebUrl}/environment/').read().decode()\n"
                      "print(json.dumps([sorted(env), dict(env['sparkProperties']),\n"
                      "                  'hunter2' in page or 'AKIA' in page or 'abc' in page]))\n"
                      "sc.stop()\n"
                      "conf.set('spark.redaction.regex', 'visible')\n"
                      "sc = SparkContext('local[1]', conf=conf)\n"
                      "env = json.load(urllib.request.urlopen(\n"
                      "    f'{sc.uiWebUrl}/api/v1/applications/{sc.applicationId}/environment'))\n"
                      "print(json.dumps(dict(env['sparkProperties'])))\n"
                      "sc.stop()\n")
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.splitlines()[-2:]
    keys, props, leaked = json.loads(first)
    assert set(keys) <= SPARK_ENVIRONMENT and leaked is False
    assert props["my.db.password"] == props["spark.s3.access.key"] == "*********(redacted)"
    assert props["plain.setting"] == "*********(redacted)"  # the value looks secret
    assert props["spark.visible"] == "shown" and props["spark.master"] == "local[1]"
    props = json.loads(second)
    assert props["spark.visible"] == "*********(redacted)" and props["my.db.password"] == "hunter2"


def test_event_log_of_a_finished_application(tmp_path):
    events_dir = tmp_path / "events"
    events_dir.mkdir()
    proc = run_python("from ember import SparkContext, SparkConf\n"
                      "conf = SparkConf().set('spark.ui.port', '0').set('spark.eventLog.enabled', 'true')\n"
                      f"conf.set('spark.eventLog.dir', 'file:{events_dir}')\n"
                      "sc = SparkContext('local[2]', 'logged', conf=conf)\n"
                      "import os\n"
                      "print(sorted(os.listdir(" + repr(str(events_dir)) + ")))\n"
                      "sc.parallelize(range(10), 2).map(lambda x: (x % 2, x)).reduceByKey(lambda a, b: a + b).count()\n"
                      "def boom(x):\n"
                      "    raise ValueError('boom')\n"
                      "try:\n"
                      "    sc.parallelize([1], 1).map(boom).count()\n"
                      "except Exception:\n"
                      "    pass\n"
                      "print(sc.applicationId)\n"
                      "sc.stop()\n")
    assert proc.returncode == 0, proc.stderr
    listed, app_id = proc.stdout.splitlines()[-2:]
    assert listed == str([app_id + ".inprogress"])
    assert os.listdir(events_dir) == [app_id]  # renamed at stop()
    events = [json.loads(line) for line in (events_dir / app_id).read_text().splitlines()]
    names = [e["Event"] for e in events]
    assert names[:3] == ["SparkListenerLogStart", "SparkListenerApplicationStart", "SparkListenerEnvironmentUpdate"]
    assert names[-1] == "SparkListenerApplicationEnd"
    assert names.count("SparkListenerJobStart") == names.count("SparkListenerJobEnd") == 2
    assert names.count("SparkListenerStageCompleted") == 3
    assert names.count("SparkListenerTaskEnd") == 4 + 4  # 2 map + 2 reduce, then 4 failed attempts
    ends = [e for e in events if e["Event"] == "SparkListenerJobEnd"]
    assert [e["Job Result"]["Result"] for e in ends] == ["JobSucceeded", "JobFailed"]
    failed = [e for e in events if e["Event"] == "SparkListenerTaskEnd" and e["Task Info"]["Failed"]]
    assert len(failed) == 4 and all("ValueError: boom" in e["Task End Reason"]["Description"] for e in failed)
    assert events[1]["App ID"] == app_id and events[1]["App Name"] == "logged"


def test_event_log_is_written_as_events_happen(tmp_path):
    """The events of a job are in the file while it runs (each flushed as it happens):
    a driver killed in the middle of a job leaves a log of whole JSON lines with the
    job's start, its stage's submission and the attempts that ended, and nothing after."""
    import signal
    events_dir = tmp_path / "events"
    events_dir.mkdir()
    code = ("import time\n"
            "from ember import SparkContext, SparkConf\n"
            "conf = SparkConf().set('spark.ui.port', '0').set('spark.eventLog.enabled', 'true')\n"
            f"conf.set('spark.eventLog.dir', {str(events_dir)!r})\n"
            "sc = SparkContext('local[2]', 'live', conf=conf)\n"
            "print(sc.applicationId, flush=True)\n"
            "def slow(i, it):\n"
            "    if i == 3:\n"
            "        time.sleep(120)  # the driver is killed meanwhile\n"
            "    return it\n"
            "sc.parallelize(range(8), 4).mapPartitionsWithIndex(slow).count()\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        app_id = proc.stdout.readline().strip()
        path = events_dir / (app_id + ".inprogress")
        wait_for(lambda: path.exists() and path.read_text().count('"SparkListenerTaskEnd"') == 3,
                 "three ended attempts in the event log while the job runs", timeout=60)
        assert proc.poll() is None  # the job still runs
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    events = [json.loads(line) for line in path.read_text().splitlines()]  # every line whole
    names = [e["Event"] for e in events]
    assert names[:4] == ["SparkListenerLogStart", "SparkListenerApplicationStart", "SparkListenerEnvironmentUpdate",
                         "SparkListenerJobStart"]
    assert names[4:] == ["SparkListenerStageSubmitted"] + ["SparkListenerTaskEnd"] * 3
    ended = sorted(e["Task Info"]["Partition ID"] for e in events if e["Event"] == "SparkListenerTaskEnd")
    assert ended == [0, 1, 2]
    assert all(e["Task Metrics"]["Input Metrics"]["Records Read"] == 2 for e in events[5:])
    assert os.listdir(events_dir) == [app_id + ".inprogress"]  # never renamed: the driver died


def test_stop_while_other_threads_read_the_engine(tmp_path):
    """stop() from one thread while others use the engine without the GIL: a textFile
    listing 3000 files (which outlasts the stop), and polls of active_stages and
    storage_status (as the progress bar and the UI do). Each such call holds the
    context, so the stop cannot free it under them: before, the listing read a freed
    context (ASan under `make asan`, or valgrind, shows it)."""
    for i in range(3000):
        (tmp_path / f"part-{i:05d}.txt").write_text("x\n")
    proc = run_python("import threading, time\n"
                      "from ember import SparkContext, SparkConf\n"
                      "for round in range(3):\n"
                      "    sc = SparkContext('local[1]', conf=SparkConf().set('spark.ui.enabled', 'false'))\n"
                      "    core = sc._core\n"
                      "    done, listed = threading.Event(), []\n"
                      "    def poll():\n"
                      "        while not done.is_set():\n"
                      "            core.active_stages()\n"
                      "            core.storage_status()\n"
                      f"    lister = threading.Thread(target=lambda: listed.append(core.text({str(tmp_path)!r}, 2, "
                      "False)))\n"
                      "    threads = [lister] + [threading.Thread(target=poll) for _ in range(2)]\n"
                      "    for t in threads:\n"
                      "        t.start()\n"
                      "    time.sleep(0.01)\n"
                      "    sc.stop()\n"
                      "    assert core.active_stages() == [] and core.storage_status() == []\n"
                      "    done.set()\n"
                      "    for t in threads:\n"
                      "        t.join()\n"
                      "    assert listed[0].num_partitions == 3000\n"
                      "print('ok')\n")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["ok"]


def test_event_log_dir_must_exist(tmp_path):
    proc = run_python("from ember import SparkContext, SparkConf\n"
                      "conf = SparkConf().set('spark.eventLog.enabled', 'true')\n"
                      f"conf.set('spark.eventLog.dir', {str(tmp_path / 'missing')!r})\n"
                      "try:\n"
                      "    SparkContext('local[1]', conf=conf)\n"
                      "except FileNotFoundError as e:\n"
                      "    print('refused:', e)\n"
                      "sc = SparkContext('local[1]')\n"  # nothing half-started was left behind
                      "print(sc.parallelize([1, 2]).count())\n"
                      "sc.stop()\n")
    assert proc.returncode == 0, proc.stderr
    assert "refused: spark.eventLog.dir" in proc.stdout and "missing" in proc.stdout
    assert proc.stdout.splitlines()[-1] == "2"
