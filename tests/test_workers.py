"""The Python workers: which modules they load, how their end is reported, the
daemon that forks them, and the limits they run under."""
import os
import subprocess
import sys
import textwrap

import pytest

from ember import PythonException


def _run_script(script_dir, cwd, body, env=None, timeout=120):
    """Writes body as app.py in script_dir and runs `python app.py` from cwd."""
    app = os.path.join(script_dir, "app.py")
    with open(app, "w") as f:
        f.write(textwrap.dedent(body))
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, app], cwd=cwd, capture_output=True, text=True,
                          env=full_env, timeout=timeout)


SHADOW = "open({marker!r}, 'a').write(__name__ + ' imported from the working directory\\n')\n"


def test_workers_do_not_import_from_the_working_directory(tmp_path):
    """A shadow ember/ package and cloudpickle.py in the working directory (say /tmp,
    shared with other users) are not imported by workers; a helper module next to
    the script is, as in PySpark local mode."""
    cwd, app_dir = tmp_path / "shared", tmp_path / "app"
    cwd.mkdir()
    app_dir.mkdir()
    marker = str(tmp_path / "shadow-imported")
    (cwd / "ember").mkdir()
    (cwd / "ember" / "__init__.py").write_text(SHADOW.format(marker=marker))
    (cwd / "ember" / "daemon.py").write_text(SHADOW.format(marker=marker))
    (cwd / "cloudpickle.py").write_text(SHADOW.format(marker=marker))
    (app_dir / "helper.py").write_text("def triple(x):\n    return 3 * x\n")
    proc = _run_script(app_dir, cwd, """
        import os, sys
        import helper
        from ember import SparkContext
        sc = SparkContext("local[2]", "isolation")
        print(sc.parallelize(range(4), 2).map(helper.triple).collect())
        print(sc.parallelize([0], 1).map(lambda _: sys.modules["ember"].__file__).collect()[0])
        print(sc.parallelize([0], 1).map(lambda _: sorted(set(sys.path) - {"", os.getcwd()}) == sorted(sys.path)
                                         ).collect()[0])
        sc.stop()
        """)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "[0, 3, 6, 9]"
    import ember
    assert os.path.realpath(lines[1]) == os.path.realpath(ember.__file__)
    assert lines[2] == "True", "the working directory is on the workers' sys.path"
    assert not os.path.exists(marker), open(marker).read()


def test_workers_sys_path_is_the_drivers_made_absolute(tmp_path):
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "extra_mod.py").write_text("VALUE = 42\n")
    proc = _run_script(tmp_path, tmp_path, """
        import os, sys
        sys.path.append("extra")            # relative: the driver resolves it from its cwd
        from ember import SparkContext
        sc = SparkContext("local[1]", "paths")
        driver = [os.path.abspath(p or ".") for p in sys.path]
        from ember import SparkFiles
        worker = sc.parallelize([0], 1).map(
            lambda _: [p for p in sys.path if not p.startswith(SparkFiles.getRootDirectory())]).collect()[0]
        print(worker == list(dict.fromkeys(driver)))
        print(os.path.join(os.getcwd(), "extra") in worker)
        print(sc.parallelize([0], 1).map(lambda _: __import__("extra_mod").VALUE).collect())
        sc.stop()
        """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "True", "[42]"]


def test_worker_tracebacks_name_the_users_file_and_line(sc):
    def divide(x):
        return x / 0

    with pytest.raises(PythonException) as info:
        sc.parallelize([1], 1).map(divide).collect()
    line = divide.__code__.co_firstlineno + 1
    assert f'File "{__file__}", line {line}, in divide' in str(info.value)
    assert "<dynamic-code>" not in str(info.value)
