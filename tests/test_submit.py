"""ember-submit: the script's SparkContext() sees the master, name, settings and py-files
given on the command line; exit codes for success, failure and bad usage."""
import os
import subprocess
import sys
import textwrap

import pytest

from ember.submit import apply_settings

SCRIPT = textwrap.dedent("""
    import sys
    from ember import SparkContext
    sc = SparkContext()
    print("MASTER", sc.master)
    print("NAME", sc.appName)
    print("CONF", sc.getConf().get("spark.task.maxFailures"), sc.getConf().get("spark.x"))
    print("ARGV", sys.argv[1:])
    if "--use-helper" in sys.argv:
        import helper, packed
        got = sc.parallelize([1, 2], 2).map(lambda x: __import__("helper").scale(x)).collect()
        print("HELPERS", helper.scale(1), packed.NAME, got)
    if "--fail" in sys.argv:
        sc.parallelize([1, 2], 2).map(lambda x: 1 // 0).collect()
    if "--exit" in sys.argv:
        sys.exit(int(sys.argv[-1]))
    print("DONE")
""")


def submit_command():
    script = os.path.join(os.path.dirname(sys.executable), "ember-submit")
    if os.path.exists(script):
        return [script]
    return [sys.executable, "-m", "ember.submit"]


def run_submit(args, tmp_path):
    env = dict(os.environ)
    for key in ("EMBER_MASTER", "EMBER_APP_NAME", "EMBER_CONF"):
        env.pop(key, None)
    return subprocess.run(submit_command() + args, capture_output=True, text=True, env=env,
                          cwd=str(tmp_path), timeout=120)


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "app.py"
    path.write_text(SCRIPT)
    return str(path)


def test_settings_reach_the_script_and_success_exits_zero(script, tmp_path):
    proc = run_submit(["--master", "local[1]", "--name", "nightly", "--conf", "spark.task.maxFailures=2",
                       "--conf", "spark.x=a=b", script, "one", "--two"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert "MASTER local[1]" in out
    assert "NAME nightly" in out
    assert "CONF 2 a=b" in out
    assert "ARGV ['one', '--two']" in out
    assert out[-1] == "DONE"


def test_defaults_without_options(script, tmp_path):
    proc = run_submit([script], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "MASTER local[*]" in proc.stdout.splitlines()
    assert "NAME ember" in proc.stdout.splitlines()
    assert "CONF None None" in proc.stdout.splitlines()


def test_conf_spark_master_is_the_master(script, tmp_path):
    proc = run_submit(["--conf", "spark.master=local[1]", "--conf", "spark.app.name=viaconf", script],
                      tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "MASTER local[1]" in proc.stdout.splitlines()
    assert "NAME viaconf" in proc.stdout.splitlines()


def test_py_files_reach_driver_and_workers(script, tmp_path):
    import zipfile
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "helper.py").write_text("def scale(x):\n    return 10 * x\n")
    with zipfile.ZipFile(lib / "bundle.zip", "w") as z:
        z.writestr("packed.py", "NAME = 'from-zip'\n")
    proc = run_submit(["--master", "local[2]", "--py-files", f"{lib / 'helper.py'},{lib / 'bundle.zip'}",
                       script, "--use-helper"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "HELPERS 10 from-zip [10, 20]" in proc.stdout.splitlines()


def test_failing_script_exits_nonzero_with_the_error(script, tmp_path):
    proc = run_submit(["--master", "local[1]", script, "--fail"], tmp_path)
    assert proc.returncode == 1
    assert "MASTER local[1]" in proc.stdout
    assert "DONE" not in proc.stdout
    assert "ZeroDivisionError" in proc.stderr
    assert "app.py" in proc.stderr              # the traceback starts at the script
    assert "runpy" not in proc.stderr           # ... not in ember-submit's own frames


def test_script_exit_code_is_kept(script, tmp_path):
    assert run_submit(["--master", "local[1]", script, "--exit", "3"], tmp_path).returncode == 3
    assert run_submit(["--master", "local[1]", script, "--exit", "0"], tmp_path).returncode == 0


@pytest.mark.parametrize("args, message", [
    (["--master", "yarn", "app.py"], "Unsupported master URL 'yarn'"),
    (["--conf", "novalue", "app.py"], "--conf expects key=value, got 'novalue'"),
    (["--py-files", "missing.py", "app.py"], "'missing.py' does not exist"),
    (["--py-files", "lib.tar", "app.py"], "takes .py, .zip or .egg files"),
    (["nothere.py"], "script 'nothere.py' not found"),
])
def test_bad_command_lines_exit_2_and_say_why(script, tmp_path, args, message):
    proc = run_submit(args, tmp_path)
    assert proc.returncode == 2
    assert message in proc.stderr


def test_apply_settings_ranks_command_line_over_environment_over_defaults():
    env = {"EMBER_CONF": "spark.a=env\nspark.b=env", "EMBER_MASTER": "local[3]"}
    apply_settings(None, None, [("spark.a", "first"), ("spark.a", "cli")],
                   defaults=[("spark.b", "default"), ("spark.c", "default")], environ=env)
    assert env["EMBER_MASTER"] == "local[3]"      # kept: no --master given
    assert "EMBER_APP_NAME" not in env
    assert env["EMBER_CONF"].split("\n") == ["spark.a=cli", "spark.b=env", "spark.c=default"]


def test_version(tmp_path):
    proc = run_submit(["--version"], tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == "ember 0.1.0"
