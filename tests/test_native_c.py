"""C jobs (include/ember.h, "C jobs"): examples/c/wordcount.c, a C-only word count,
runs with no Python interpreter reachable and gives the Python path's answer."""

import os
import shutil
import subprocess

import pytest
from conftest import build_with_libember

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def wordcount(tmp_path_factory):
    """The example's binary: the one `make ctest` built, else compiled here from the
    sources (libember's files with the example, by the system compiler)."""
    built = os.path.join(ROOT, "build", "c", "wordcount")
    if os.path.exists(built):
        return built
    return build_with_libember(str(tmp_path_factory.mktemp("wc") / "wordcount"),
                               [os.path.join(ROOT, "examples", "c", "wordcount.c"),
                                os.path.join(ROOT, "examples", "native_udf", "wordcount.c")])


def no_python_env(tmp_path):
    """An environment whose PATH holds no python3 (nor python) and no PYTHON* variable."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("sh", "ls"):
        path = shutil.which(tool)
        if path:
            os.symlink(path, bindir / tool)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and not k.startswith("VIRTUAL_ENV")}
    env["PATH"] = str(bindir)
    return env


def python_counts(sc, path):
    return dict(sc.textFile(path, 4).flatMap(lambda line: line.split())
                .map(lambda w: (w, 1)).reduceByKey(lambda a, b: a + b).collect())


def test_c_only_job_runs_without_python(sc, wordcount, tmp_path):
    text = tmp_path / "words.txt"
    words = [f"w{i % 97}" for i in range(20000)] + ["é", "naïve", "日本"] * 7
    text.write_text("\n".join(" ".join(words[i:i + 13]) for i in range(0, len(words), 13)) + "\n", encoding="utf-8")
    env = no_python_env(tmp_path)
    assert shutil.which("python3", path=env["PATH"]) is None
    r = subprocess.run([wordcount, str(text), "local[2]", "--all"], env=env, capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    got = {}
    for line in r.stdout.decode("utf-8").splitlines():
        word, count = line.split("\t")
        got[word] = int(count)
    assert got == python_counts(sc, str(text))


def test_c_only_job_answers_the_example_text(sc, wordcount, tmp_path):
    path = os.path.join(ROOT, "examples", "data", "ember.txt")
    r = subprocess.run([wordcount, path, "local[3]"], env=no_python_env(tmp_path), capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    counts = python_counts(sc, path)
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].encode()))[:10]
    assert r.stdout.decode().splitlines() == [f"{n} {w}" for w, n in top]


def test_c_only_job_names_a_missing_file(wordcount, tmp_path):
    """The failing job's context is stopped all the same: no temp dir is left."""
    env = no_python_env(tmp_path)
    env["TMPDIR"] = str(tmp_path / "tmp")
    os.mkdir(env["TMPDIR"])
    r = subprocess.run([wordcount, str(tmp_path / "nope.txt"), "local[1]"], env=env, capture_output=True, timeout=120)
    assert r.returncode == 1
    assert b"nope.txt" in r.stderr
    assert os.listdir(env["TMPDIR"]) == []


def test_c_only_job_names_the_native_daemon_when_it_cannot_start(wordcount, tmp_path):
    """The native daemon is the program run again through /proc/self/exe: started through
    the dynamic loader, /proc/self/exe is the loader, which cannot run it. The error says
    which daemon failed and why, not the Python daemon's hint."""
    loader = next((p for p in ("/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1") if os.path.exists(p)),
                  None)
    if loader is None:
        pytest.skip("no known dynamic loader path on this machine")
    env = no_python_env(tmp_path)
    env["TMPDIR"] = str(tmp_path / "tmp")
    os.mkdir(env["TMPDIR"])
    path = os.path.join(ROOT, "examples", "data", "ember.txt")
    r = subprocess.run([loader, wordcount, path, "local[1]"], env=env, capture_output=True, timeout=120)
    assert r.returncode == 1
    err = r.stderr.decode()
    assert "the native worker daemon (this program run again through /proc/self/exe)" in err
    assert "Python" not in err and "import ember" not in err
    assert os.listdir(env["TMPDIR"]) == []
