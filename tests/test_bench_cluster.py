"""One tiny pass of bench/cluster.py (cluster mode's figures), so that it keeps
working: it builds bench/alltoallv.c, runs the shuffle at 2 and 3 executors against
MPI_Alltoallv and the word count at 1, 2 and 3 ranks, and writes its figures. Nothing
here asserts a time. Skipped without mpirun, mpicc or ember's MPI shim, unless
EMBER_REQUIRE_MPI=1 (CI) makes that a failure."""
import glob
import json
import os
import shutil
import subprocess
import sys

import pytest

import ember

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
missing = [what for what, ok in (("mpirun", shutil.which("mpirun")), ("mpicc", shutil.which("mpicc")),
                                  ("ember's MPI shim (_mpi_shim.so)",
                                   glob.glob(os.path.join(os.path.dirname(ember.__file__), "_mpi_shim*.so"))))
           if not ok]
if missing:
    if os.environ.get("EMBER_REQUIRE_MPI") == "1":
        raise RuntimeError(f"EMBER_REQUIRE_MPI=1 but no {', '.join(missing)}: install openmpi-bin and "
                           "libopenmpi-dev, reinstall ember")
    pytest.skip(f"no {', '.join(missing)}", allow_module_level=True)


@pytest.mark.slow
def test_quick_pass_reports_every_figure(tmp_path):
    out = tmp_path / "cluster.json"
    run = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "cluster.py"), "--quick", "--shuffle-mb", "4",
                          "--text-mb", "1", "--data-dir", str(tmp_path / "data"), "--out", str(out)],
                         capture_output=True, text=True, timeout=600, env=dict(os.environ, TMPDIR=str(tmp_path)))
    assert run.returncode == 0, run.stdout + run.stderr
    figures = json.loads(out.read_text())
    assert sorted(figures["shuffle"]) == ["2", "3"]
    for executors, fig in figures["shuffle"].items():  # whole 1 MiB values, one map task per executor
        assert fig["bytes"] == 4 // int(executors) * int(executors) << 20
        assert fig["ember_bytes_per_s"] > 0 and fig["alltoallv_bytes_per_s"] > 0
        assert fig["ratio"] == pytest.approx(fig["ember_bytes_per_s"] / fig["alltoallv_bytes_per_s"])
        assert fig["alltoallv_between_bytes_per_s"] > 0
    # With 2 executors each reducer's buckets are on both: the transfer phase has bytes
    # (with 3, one 1 MiB value a map task, each reducer may find its one bucket local).
    fig = figures["shuffle"]["2"]
    assert fig["transfer_bytes_per_s"] > 0
    assert fig["transfer_ratio"] == pytest.approx(fig["transfer_bytes_per_s"] / fig["alltoallv_between_bytes_per_s"])
    assert sorted(figures["wordcount"]) == ["1", "2", "3"]
    counts = {tuple(fig["distinct_total"]) for fig in figures["wordcount"].values()}
    assert len(counts) == 1 and next(iter(counts))[1] > 0
    assert "| 3 | 2 x 1 |" in run.stdout and "word counts agree across ranks: True" in run.stdout
    assert [n for n in os.listdir(tmp_path) if n.startswith("ember-")] == []
