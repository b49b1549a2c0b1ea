"""What start-up loads: `import ember` is cheap, the driver and the worker daemon import
only what they use, and commands whose functions are importable by name need no
cloudpickle. (How long start-up takes is measured in bench/, not here.)"""
import pickle

import pytest

import ember
from conftest import run_python
from ember import _commands, _core


def loaded_after(code):
    """The modules a fresh interpreter has loaded after running code."""
    proc = run_python(code + "\nimport sys\nprint(' '.join(sorted(sys.modules)))")
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.splitlines()[-1].split())


def test_import_ember_loads_no_submodule_until_a_name_is_used():
    mods = loaded_after("import ember")
    assert {m for m in mods if m.startswith("ember.")} == set()
    assert "ember.context" in loaded_after("import ember\nember.SparkContext")


def test_public_names_resolve_and_show_in_dir():
    for name in ember.__all__:
        assert getattr(ember, name) is not None
        assert name in dir(ember)
    from ember.context import SparkContext
    assert ember.SparkContext is SparkContext
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        ember.Nope
    from ember import rdd  # submodules still import as attributes
    assert rdd.RDD is ember.RDD


def test_the_driver_imports_neither_cloudpickle_nor_logging_nor_typing():
    mods = loaded_after("from ember import SparkContext")
    assert not {"cloudpickle", "logging", "typing"} & mods


def test_before_the_daemon_starts_the_driver_loads_only_what_sparkcontext_needs():
    # Importing ember.context starts the worker daemon; ember.rdd, threading (the web
    # UI's) and the progress bar load when SparkContext() runs, while the daemon
    # starts. pickle.py, re and random are never needed for a first job.
    mods = loaded_after("from ember import SparkContext")
    assert not {"ember.rdd", "ember.progress", "ember._ui", "threading", "pickle", "re", "random",
                "importlib"} & mods
    mods = loaded_after("from ember import SparkContext\n"
                        "sc = SparkContext('local[2]')\n"
                        "assert sc.parallelize(range(10), 2).count() == 10\n"
                        "sc.stop()\n")
    assert "ember.rdd" in mods
    assert not {"pickle", "re", "random"} & mods


def test_what_the_daemon_preloads_leaves_out_the_drivers_modules():
    mods = loaded_after("from ember import _commands, taskcontext, worker")
    assert not {"ember.context", "ember.rdd", "cloudpickle", "logging", "typing"} & mods
    assert not {"threading", "pickle", "re"} & mods  # _thread and _pickle, their C cores, serve
    mods = loaded_after("from ember import daemon, _commands, taskcontext, worker")
    assert not {"_socket", "array", "weakref"} & mods  # _core.recv_request reads the control socket


def test_recv_request_reads_a_byte_and_the_descriptors_it_carries():
    import os
    import socket
    a, b = socket.socketpair()
    r, w = os.pipe()
    try:
        socket.send_fds(a, [b"F"], [r, w])
        msg, fds = _core.recv_request(b.fileno())
        assert msg == b"F" and len(fds) == 2
        os.write(fds[1], b"through the passed pipe")
        assert os.read(r, 100) == b"through the passed pipe"
        for fd in fds:
            os.close(fd)
        a.send(b"Q")
        assert _core.recv_request(b.fileno()) == (b"Q", [])
        a.close()
        assert _core.recv_request(b.fileno()) == (b"", [])  # end of file: the engine is gone
        with pytest.raises(OSError):
            _core.recv_request(r)  # not a socket
    finally:
        b.close()
        os.close(r)
        os.close(w)


def test_count_and_sum_need_no_cloudpickle():
    proc = run_python("import sys\n"
                      "from ember import SparkContext\n"
                      "sc = SparkContext('local[2]')\n"
                      "print(sc.parallelize(range(10), 2).count(), sc.parallelize(range(5), 2).sum())\n"
                      "print('cloudpickle' in sys.modules)\n"
                      "print(sc.parallelize(range(3), 2).map(lambda x: -x).collect())\n"
                      "print('cloudpickle' in sys.modules)\n"
                      "sc.stop()\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:4] == ["10 10", "False", "[0, -1, -2]", "True"]


def test_commands_go_by_name_only_when_a_worker_can_import_them():
    assert b"cloudpickle" not in _commands.dumps_command([(0, _commands.count)])
    assert pickle.loads(_commands.dumps_command([(0, _commands.total)]))[0][1](0, iter([1, 2])) == [3]
    assert b"cloudpickle" in _commands.dumps_command([(0, lambda split, it: it)])
    # Functions and classes of __main__ go by value (a worker has not got the driver's
    # __main__), also when reached through an object. (A fresh process each: once
    # cloudpickle is loaded, it pickles everything.)
    for command in ["[f]", "{'k': Box()}", "[len, (0, f)]"]:
        proc = run_python("from ember import _commands\n"
                          "def f(x):\n    return x + 1\n"
                          "class Box:\n    pass\n"
                          f"print(b'cloudpickle' in _commands.dumps_command({command}))\n")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == ["True"], command


def test_once_cloudpickle_is_loaded_it_pickles_every_command():
    import cloudpickle
    by_cloudpickle = cloudpickle.dumps([(0, _commands.count)], protocol=5)
    assert _commands.dumps_command([(0, _commands.count)]) == by_cloudpickle


# The worker daemon started ahead (ember._early): the children of a program's process,
# their pids and the last two words of their command lines, and the parent of a worker.
CHILDREN = """
import os
def children():
    found = []
    for pid in os.listdir('/proc'):
        try:
            with open(f'/proc/{pid}/stat') as f:
                ppid = int(f.read().rsplit(')', 1)[1].split()[1])
            with open(f'/proc/{pid}/cmdline') as f:
                args = f.read().split('\\0')[:-1]
        except (OSError, ValueError, IndexError):
            continue
        if ppid == os.getpid():
            found.append((int(pid), args[-2:]))
    return found
def daemon_of(sc):
    return sc.parallelize([0], 1).map(lambda _: os.getppid()).collect()[0]
"""


def test_importing_ember_context_starts_the_daemon_the_context_then_takes():
    proc = run_python(CHILDREN + "from ember import SparkContext\n"
                      "early = children()\n"
                      "sc = SparkContext('local[2]')\n"
                      "assert sc.parallelize(range(10), 2).count() == 10\n"
                      "print(early, daemon_of(sc))\n"
                      "sc.stop()\n"
                      "print(children())\n")
    assert proc.returncode == 0, proc.stderr
    early, daemon = proc.stdout.splitlines()[0].rsplit(" ", 1)
    early = eval(early)
    assert len(early) == 1 and early[0][1] == ["3", "-"]  # its temp dir comes with the context
    assert int(daemon) == early[0][0]
    assert proc.stdout.splitlines()[1] == "[]"


def test_a_daemon_started_before_the_environment_changed_is_replaced():
    proc = run_python(CHILDREN + "from ember import SparkContext\n"
                      "early = children()[0][0]\n"
                      "os.environ['EMBER_TEST_LATE'] = 'set after the import'\n"
                      "sc = SparkContext('local[2]')\n"
                      "print(early, daemon_of(sc), early in [pid for pid, _ in children()])\n"
                      "print(sc.parallelize([0], 1).map(lambda _: os.environ.get('EMBER_TEST_LATE')).collect())\n"
                      "sc.stop()\n")
    assert proc.returncode == 0, proc.stderr
    early, daemon, still_there = proc.stdout.splitlines()[0].split()
    assert early != daemon and still_there == "False"  # ended and reaped at once
    assert proc.stdout.splitlines()[1] == "['set after the import']"


def test_a_daemon_no_context_took_ends_with_the_program():
    # atexit runs its functions last registered first: this one after ember's.
    proc = run_python(CHILDREN + "import atexit\n"
                      "atexit.register(lambda: print('at exit', children()))\n"
                      "import ember.context\n"
                      "print(len(children()))\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["1", "at exit []"]


def test_no_daemon_ahead_when_turned_off_nor_in_workers():
    proc = run_python(CHILDREN + "from ember import SparkContext\nprint(children())\n",
                      env={"EMBER_EARLY_DAEMON": "0"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[0] == "[]"
    proc = run_python(CHILDREN + "from ember import SparkContext\n"
                      "sc = SparkContext('local[1]')\n"
                      "def in_worker(_):\n"
                      "    import ember.context, ember._early\n"
                      "    return ember._early.take() is None, children()\n"
                      "print(sc.parallelize([0], 1).map(in_worker).collect())\n"
                      "sc.stop()\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[0] == "[(True, [])]"
