"""addArchive / listArchives: archives unpacked into the files root for the tasks."""
import io
import os
import tarfile
import uuid
import zipfile

import pytest

from ember import SparkFiles


def _unique(stem, ext):
    return f"{stem}-{uuid.uuid4().hex[:8]}{ext}"


def _write_tar(path, mode, members):
    with tarfile.open(path, mode) as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))


def _read_in_task(sc, name, member):
    def read(_):
        with open(os.path.join(SparkFiles.get(name), member)) as f:
            return f.read()
    return sc.parallelize([0], 1).map(read).collect()[0]


@pytest.mark.parametrize("ext, mode", [(".tar", "w"), (".tar.gz", "w:gz"), (".tgz", "w:gz")])
def test_tar_archives_are_unpacked(sc, tmp_path, ext, mode):
    name = _unique("data", ext)
    _write_tar(tmp_path / name, mode, {"dir/inner.txt": b"tarred", "top.txt": b"top"})
    sc.addArchive(str(tmp_path / name))
    assert _read_in_task(sc, name, "dir/inner.txt") == "tarred"
    assert _read_in_task(sc, name, "top.txt") == "top"
    assert "file:" + str(tmp_path / name) in sc.listArchives
    assert "file:" + str(tmp_path / name) not in sc.listFiles


@pytest.mark.parametrize("ext", [".zip", ".jar", ".ZIP"])
def test_zip_and_jar_archives_are_unpacked(sc, tmp_path, ext):
    name = _unique("pkg", ext)
    with zipfile.ZipFile(tmp_path / name, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a/b.txt", "zipped")
    sc.addArchive("file:" + str(tmp_path / name))
    assert _read_in_task(sc, name, "a/b.txt") == "zipped"
    assert os.path.isdir(SparkFiles.get(name))


def test_alias_names_the_directory(sc, tmp_path):
    alias = _unique("env", "")
    with zipfile.ZipFile(tmp_path / "same-name.zip", "w") as z:
        z.writestr("x.txt", "aliased")
    sc.addArchive(str(tmp_path / "same-name.zip") + "#" + alias)
    assert _read_in_task(sc, alias, "x.txt") == "aliased"
    assert f"file:{tmp_path / 'same-name.zip'}#{alias}" in sc.listArchives


def test_adding_the_same_path_twice_is_ignored(sc, tmp_path):
    name = _unique("twice", ".zip")
    with zipfile.ZipFile(tmp_path / name, "w") as z:
        z.writestr("v.txt", "1")
    sc.addArchive(str(tmp_path / name))
    sc.addArchive(str(tmp_path / name))
    assert sum(1 for a in sc.listArchives if a.endswith(name)) == 1


def test_same_name_from_another_path_is_refused(sc, tmp_path):
    name = _unique("clash", ".zip")
    for sub in ["a", "b"]:
        (tmp_path / sub).mkdir()
        with zipfile.ZipFile(tmp_path / sub / name, "w") as z:
            z.writestr("v.txt", sub)
    sc.addArchive(str(tmp_path / "a" / name))
    with pytest.raises(ValueError, match="already in the files root"):
        sc.addArchive(str(tmp_path / "b" / name))
    assert _read_in_task(sc, name, "v.txt") == "a"


def test_missing_archive(sc, tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.zip"):
        sc.addArchive(str(tmp_path / "nope.zip"))


def test_corrupt_archive_leaves_nothing_behind(sc, tmp_path):
    name = _unique("broken", ".tar.gz")
    (tmp_path / name).write_bytes(b"not a tar at all")
    with pytest.raises(ValueError, match=f"Cannot unpack archive .*{name}"):
        sc.addArchive(str(tmp_path / name))
    root = SparkFiles.getRootDirectory()
    assert not [n for n in os.listdir(root) if name in n]
    assert not any(a.endswith(name) for a in sc.listArchives)


def test_members_cannot_escape_the_directory(sc, tmp_path):
    name = _unique("evil", ".tar")
    _write_tar(tmp_path / name, "w", {"../escaped.txt": b"x"})
    with pytest.raises(ValueError, match="Cannot unpack archive"):
        sc.addArchive(str(tmp_path / name))
    assert not os.path.exists(os.path.join(os.path.dirname(SparkFiles.getRootDirectory()), "escaped.txt"))


def test_other_files_are_copied_as_they_are(sc, tmp_path):
    name = _unique("plain", ".txt")
    (tmp_path / name).write_text("as is")
    sc.addArchive(str(tmp_path / name))
    assert sc.parallelize([0], 1).map(lambda _: open(SparkFiles.get(name)).read()).collect() == ["as is"]
