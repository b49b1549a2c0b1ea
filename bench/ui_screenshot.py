"""The web UI's stage page for a skewed job, as a PNG: a groupByKey whose partition 0
holds 70% of the values, then a map over each group that takes time by its size, so
one reduce task runs far longer than the others (run twice: the second run is shown,
its workers warm); headless chromium (as tests/test_ui.py
drives it) saves the stage page of the reduce stage, with its timeline, the summary
of the tasks and their rows.

    .venv/bin/python bench/ui_screenshot.py [out.png, default docs/img/ui-stage-skewed.png]
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

from ember import SparkConf, SparkContext


def skewed_job(sc):
    """A groupByKey whose partition 0 holds most values, and a map over each group that
    takes time by its size: one reduce task runs far longer than the others. Returns
    [(key, number of values)]. (tests/test_ui.py runs it too.)"""
    def work(kv):
        key, values = kv
        time.sleep(len(values) / 20000)
        return key, len(values)
    data = [(0 if i % 10 < 7 else i % 8, i) for i in range(8000)]
    sc.setJobDescription("a skewed groupByKey")
    try:
        return sc.parallelize(data, 8).groupByKey(8).map(work).collect()
    finally:
        sc.setJobDescription(None)


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "docs", "img",
                                                                             "ui-stage-skewed.png"))
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        sys.exit("chromium is not installed (apt-get install chromium)")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    sc = SparkContext("local[2]", "skewed", conf=SparkConf().set("spark.ui.port", "0"))
    try:
        skewed_job(sc)  # once first, so that the workers' first-task imports are not in the figure
        sc.setJobGroup("shown", "the skewed job shown")
        skewed_job(sc)
        [job_id] = sc.statusTracker().getJobIdsForGroup("shown")
        reduce_id = sc.statusTracker().getJobInfo(job_id).stageIds[-1]
        url = f"{sc.uiWebUrl}/stages/stage/?id={reduce_id}&attempt=0"
        with tempfile.TemporaryDirectory() as profile:
            subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                            "--disable-extensions", f"--user-data-dir={profile}", "--window-size=1400,1000",
                            "--hide-scrollbars", f"--screenshot={out}", url], check=True, capture_output=True,
                           timeout=120)
    finally:
        sc.stop()
    print(f"{out}: {os.path.getsize(out)} bytes, stage {reduce_id} of job {job_id}")


if __name__ == "__main__":
    main()
