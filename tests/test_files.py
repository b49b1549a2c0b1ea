"""addFile / addPyFile / SparkFiles / listFiles."""
import os
import uuid
import zipfile

import pytest

from ember import SparkFiles


def _unique(name):
    stem, ext = os.path.splitext(name)
    return f"{stem}_{uuid.uuid4().hex[:8]}{ext}"


def test_added_file_is_found_by_name_in_tasks(sc, tmp_path):
    name = _unique("factor.txt")
    path = tmp_path / name
    path.write_text("7")
    sc.addFile(str(path))

    def scale(it):
        with open(SparkFiles.get(name)) as f:
            k = int(f.read())
        return [x * k for x in it]

    assert sc.parallelize([1, 2, 3], 3).mapPartitions(scale).collect() == [7, 14, 21]
    assert "file:" + str(path) in sc.listFiles
    root = SparkFiles.getRootDirectory()
    assert SparkFiles.get(name) == os.path.join(root, name)
    assert sc.parallelize([0]).map(lambda _: (SparkFiles.getRootDirectory(), SparkFiles.get(name))).collect() == \
        [(root, os.path.join(root, name))]


def test_the_added_copy_does_not_follow_later_edits(sc, tmp_path):
    name = _unique("v.txt")
    path = tmp_path / name
    path.write_text("one")
    sc.addFile(str(path))
    path.write_text("two")
    sc.addFile(str(path))  # the same path again: ignored
    assert sc.parallelize([0]).map(lambda _: open(SparkFiles.get(name)).read()).collect() == ["one"]
    assert sum(1 for f in sc.listFiles if f.endswith(name)) == 1


def test_same_name_from_another_path(sc, tmp_path):
    name = _unique("same.txt")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "c").mkdir()
    (tmp_path / "a" / name).write_text("x")
    (tmp_path / "b" / name).write_text("x")
    (tmp_path / "c" / name).write_text("different")
    sc.addFile(str(tmp_path / "a" / name))
    sc.addFile(str(tmp_path / "b" / name))  # identical contents: fine
    with pytest.raises(ValueError, match=f"{name} was already added.*different contents"):
        sc.addFile(str(tmp_path / "c" / name))
    assert "file:" + str(tmp_path / "c" / name) not in sc.listFiles


def test_bad_paths(sc, tmp_path):
    with pytest.raises(FileNotFoundError, match="does-not-exist.txt does not exist"):
        sc.addFile(str(tmp_path / "does-not-exist.txt"))
    with pytest.raises(ValueError, match="is a directory; pass recursive=True"):
        sc.addFile(str(tmp_path))
    with pytest.raises(ValueError, match="only local paths"):
        sc.addFile("http://example.com/data.txt")


def test_directory_with_recursive(sc, tmp_path):
    d = tmp_path / _unique("conf")
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "x.txt").write_text("deep")
    sc.addFile("file://" + str(d), recursive=True)
    rel = os.path.join(d.name, "sub", "x.txt")
    assert sc.parallelize([0]).map(lambda _: open(SparkFiles.get(rel)).read()).collect() == ["deep"]


def test_add_py_file_module_is_imported_in_tasks(sc, tmp_path):
    mod = _unique("ember_helper.py")[:-3]
    (tmp_path / f"{mod}.py").write_text("def triple(x):\n    return 3 * x\n")
    sc.addPyFile(str(tmp_path / f"{mod}.py"))
    got = sc.parallelize([1, 2, 3], 3).map(lambda x: __import__(mod).triple(x)).collect()
    assert got == [3, 6, 9]


def test_add_py_file_zip_package_is_importable(sc, tmp_path):
    pkg = _unique("zpkg.x")[:-2]
    archive = tmp_path / f"{pkg}.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr(f"{pkg}/__init__.py", "from .inner import double\n")
        z.writestr(f"{pkg}/inner.py", "def double(x):\n    return 2 * x\n")
    sc.addPyFile(str(archive))
    got = sc.parallelize([1, 2], 2).map(lambda x: __import__(pkg).double(x)).collect()
    assert got == [2, 4]
    # Importable on the driver too, and a function of it ships by reference.
    module = __import__(pkg)
    assert sc.parallelize([5]).map(module.double).collect() == [10]


def test_spark_files_cannot_be_constructed():
    with pytest.raises(NotImplementedError, match="Do not construct SparkFiles objects"):
        SparkFiles()


def test_a_stopped_context_adds_no_files_and_leaves_no_temp_dir(tmp_path):
    from conftest import run_python
    code = f"""
import os
from ember import SparkContext
sc = SparkContext("local[1]", "stopped")
tmp = sc._core.tmpdir
sc.stop()
try:
    sc.addFile({str(tmp_path)!r} + "/x")
except RuntimeError as e:
    print("refused:", e)
print("left behind:", os.path.exists(tmp))
"""
    (tmp_path / "x").write_text("x")
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    assert "refused: this SparkContext is stopped" in out.stdout
    assert "left behind: False" in out.stdout
