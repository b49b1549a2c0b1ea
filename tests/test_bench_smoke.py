"""One tiny pass of the benchmark harness (bench/), so that it keeps working.

Runs ember and plain Python over the --quick data and checks what the harness
reports: the result files, statuses, and that the outputs were compared and equal.
Nothing here asserts a time.
"""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")


@pytest.fixture(scope="module")
def bench_modules():
    sys.path.insert(0, BENCH)
    try:
        import run
        import workloads
        yield run, workloads
    finally:
        sys.path.remove(BENCH)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    cmd = [sys.executable, os.path.join(BENCH, "run.py"), "--quick", "--engines", "ember",
           "python", "--data-dir", str(tmp / "data"), "--results-dir", str(tmp / "results"),
           "--machine", "smoke", "--no-chart"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    files = sorted(os.listdir(tmp / "results"))
    with open(tmp / "results" / [f for f in files if f.endswith(".json")][0]) as f:
        result = json.load(f)
    return proc, files, result


@pytest.mark.slow
def test_smoke_pass_writes_results(smoke):
    proc, files, result = smoke
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert any(f.endswith("-smoke-quick.json") for f in files)
    assert any(f.endswith("-smoke-quick.md") for f in files)
    assert result["quick"] is True
    assert result["engines"]["ember"] and result["engines"]["python"]
    assert "| word count |" in result["table_markdown"]


@pytest.mark.slow
def test_smoke_pass_compares_outputs(smoke, bench_modules):
    _, workloads = bench_modules
    _, _, result = smoke
    rows = {(r["workload"], r["engine"]): r for r in result["summary"]}
    for w in ["startup", "wordcount", "tasks", "groupbykey_hot", "cache"]:
        assert rows[(w, "python")]["status"] == "ok"
        assert rows[(w, "ember")]["status"] == "ok", rows[(w, "ember")]
        assert rows[(w, "ember")]["output"] == "equal"
        assert result["outputs_equal"][w] is True
    for w in ["sort", "join"]:
        # Written against the PySpark API: ok once ember has the method, until then
        # reported as unsupported, never as an error.
        assert rows[(w, "python")]["status"] == "ok"
        assert rows[(w, "ember")]["status"] in ("ok", "unsupported")
        if rows[(w, "ember")]["status"] == "ok":
            assert result["outputs_equal"][w] is True
    big = rows[("wordcount_4g", "ember")]
    assert big["status"] == "skipped" and "--big" in big["note"]
    for r in result["runs"]:
        if r["status"] == "ok":
            assert r["job_s"] >= 0
            assert r.get("peak_rss") is None or r["peak_rss"] > 0


def test_mismatch_is_reported(bench_modules):
    run, _ = bench_modules
    runs = [
        {"workload": "w", "engine": "python", "status": "ok", "job_s": 1.0, "process_s": 1.0,
         "peak_rss": 10, "digest": {"sha256": "a"}},
        {"workload": "w", "engine": "ember", "status": "ok", "job_s": 0.5, "process_s": 0.6,
         "peak_rss": 20, "digest": {"sha256": "b"}},
    ]
    rows, equal = run.summarize(runs, ["w"], ["ember", "python"], {})
    assert equal["w"] is False
    by = {r["engine"]: r for r in rows}
    assert by["ember"]["output"] == "MISMATCH"
    assert by["python"]["time_vs_ember"] == 2.0
    assert "MISMATCH" in run.markdown_tables(rows, equal, {})


def test_missing_engine_is_skipped(bench_modules, monkeypatch):
    run, _ = bench_modules
    monkeypatch.setitem(run.ENGINE_MODULE, "dask", "no_such_module_for_ember_bench")
    versions, reasons = run.engine_versions(["dask", "python"])
    assert versions["dask"] is None
    assert reasons["dask"].startswith("not installed")
    assert versions["python"]


def test_tree_sampler_counts_children(bench_modules):
    import procmon
    if not procmon.TreeSampler(os.getpid()).available:
        pytest.skip("no way to read process memory here")
    child = subprocess.Popen([sys.executable, "-c",
                              "import subprocess, sys; subprocess.run([sys.executable, '-c', "
                              "'import time; b = b\"x\" * (64 << 20); time.sleep(3)'])"])
    try:
        import time
        sampler = procmon.TreeSampler(child.pid)
        deadline = time.time() + 10
        while sampler.peak < (64 << 20) and time.time() < deadline:
            sampler.sample()
            time.sleep(0.05)
        assert sampler.peak >= 64 << 20
        assert len(sampler.seen) >= 2
    finally:
        child.wait()


def test_big_text_has_about_50m_distinct_words_in_4_gib(tmp_path):
    # Issue 10's big word count is over 4 GiB with ~50 M distinct words. The random
    # tokens (the distinct words) are a fixed share of the words, so 4 MiB of the same
    # text, scaled, says how many the 4 GiB hold (the Zipf vocabulary adds at most 20,000).
    sys.path.insert(0, BENCH)
    try:
        import datagen
    finally:
        sys.path.remove(BENCH)
    spec = datagen.bigtext_spec(4)
    path = datagen.ensure(spec, data_dir=str(tmp_path), log=lambda *a: None)
    with open(path, encoding="ascii") as f:
        words = f.read().split()
    vocabulary = set(datagen.vocabulary(spec["vocab"], spec["seed"]))
    tokens = [w for w in words if w not in vocabulary]
    assert 0.06 < len(tokens) / len(words) < 0.08
    scaled = len(set(tokens)) * (4096 / 4)
    assert 45e6 < scaled < 55e6, scaled
    assert datagen.ensure(spec, data_dir=str(tmp_path), log=lambda *a: None) == path  # reused
    assert open(path, "rb").read() == open(datagen.ensure(dict(spec), data_dir=str(tmp_path / "b"),
                                                          log=lambda *a: None), "rb").read()  # deterministic
