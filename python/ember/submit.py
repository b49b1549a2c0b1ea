"""``ember-submit``: runs a PySpark-style script with a master, a name and settings, as
``spark-submit`` does::

    ember-submit [--master M] [--name N] [--conf k=v ...] [--py-files a.py,b.zip] script.py args...

How the settings reach the script. ``SparkContext()`` reads three environment variables
for what its caller did not set itself: ``EMBER_MASTER`` (the master URL),
``EMBER_APP_NAME`` and ``EMBER_CONF`` (``key=value`` lines). ember-submit sets them (its
own values ahead of any already in the environment), puts ``--py-files`` on ``sys.path``
(``.py`` files through a private directory, ``.zip``/``.egg`` as they are; the workers
get the same path), then runs the script in this process as ``__main__`` with
``sys.argv = [script, args...]``. As with spark-submit, what the script sets explicitly
(``SparkContext("local[4]")``, ``SparkConf().set(...)``) wins over the command line.

Exit status: the script's own (``sys.exit(n)``), else 0 on success and 1, with the
traceback on stderr, when it raised; 2 for a bad command line. The ``ember`` shell takes
the same options (``ember.shell``).
"""

import argparse
import atexit
import os
import runpy
import shutil
import sys
import tempfile
import traceback

__all__ = ["main", "apply_settings"]

_PY_FILE_KINDS = (".py", ".zip", ".egg")
_ENV_KEYS = ("EMBER_MASTER", "EMBER_APP_NAME", "EMBER_CONF")


def _conf_pair(text):
    """argparse type for ``--conf key=value``."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"--conf expects key=value, got {text!r}")
    if "\n" in text:
        raise argparse.ArgumentTypeError(f"--conf {key.strip()}: the value must be one line")
    return key.strip(), value.strip()


_MPI_LINE = """ember-submit --master mpi runs one copy of the program per MPI rank (rank 0 the driver,
ranks 1..K-1 executors), so start it with an MPI launcher, e.g.:
    mpirun -np 3 --hostfile hosts ember-submit --master mpi {script}
    srun -n 3 ember-submit --master mpi {script}          (Slurm, inside salloc or sbatch)
Each executor's task slots: --conf spark.executor.cores=N (default: its CPUs)."""


def _mpi_launch():
    from ember._early import mpi_launch
    return mpi_launch()


def _master(text):
    """argparse type for ``--master``: checked as SparkContext will check it."""
    from ember.context import _parse_master
    try:
        _parse_master(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def _py_files(text):
    """argparse type for ``--py-files a.py,b.zip``: existing .py/.zip/.egg files."""
    paths = [p.strip() for p in text.split(",") if p.strip()]
    for p in paths:
        if not p.endswith(_PY_FILE_KINDS):
            raise argparse.ArgumentTypeError(f"--py-files takes .py, .zip or .egg files, got {p!r}")
        if not os.path.isfile(p):
            raise argparse.ArgumentTypeError(f"--py-files: {p!r} does not exist or is not a file")
    return [os.path.abspath(p) for p in paths]


def add_options(parser):
    """Adds the options that ember-submit and the shell share to an ArgumentParser."""
    from ember import __version__
    parser.add_argument("--version", action="version", version=f"ember {__version__}")
    parser.add_argument("--master", type=_master, metavar="MASTER",
                        help="local, local[N], local[*], local[N,F], or mpi (cluster mode: run "
                             "under mpirun, see docs/cluster.md) (default: $EMBER_MASTER, else local[*])")
    parser.add_argument("--name", metavar="NAME", help="the application's name")
    parser.add_argument("--conf", type=_conf_pair, action="append", default=[], metavar="KEY=VALUE",
                        help="a setting, e.g. spark.task.maxFailures=2 (repeatable)")
    parser.add_argument("--py-files", type=_py_files, action="append", default=[], metavar="FILES",
                        help="comma-separated .py, .zip or .egg files to put on the Python path "
                             "of the driver and the workers")


def flat_py_files(args):
    """The --py-files of parsed arguments, as one list of absolute paths."""
    return [p for group in args.py_files for p in group]


def _stage_py_files(paths):
    """Puts the files on sys.path; returns the directory holding copies of .py files."""
    staged = None
    for p in paths:
        if p.endswith(".py"):
            if staged is None:
                staged = tempfile.mkdtemp(prefix="ember-pyfiles-")
                atexit.register(shutil.rmtree, staged, True)
                sys.path.insert(1, staged)
            shutil.copy(p, staged)
        elif p not in sys.path:
            sys.path.insert(1, p)
    return staged


def apply_settings(master=None, name=None, conf=(), py_files=(), defaults=(), environ=None):
    """Makes ``SparkContext()`` in this process (and its child processes) use these
    settings, through EMBER_MASTER, EMBER_APP_NAME and EMBER_CONF.

    Parameters
    ----------
    master, name : str, optional
        The master URL and application name.
    conf : list of (str, str)
        Settings; a later one replaces an earlier one with the same key, and all of
        them go ahead of the settings already in ``EMBER_CONF``.
    py_files : list of str
        Absolute paths of .py, .zip and .egg files to put on ``sys.path``.
    defaults : list of (str, str)
        Settings used only when nothing else sets them (the shell turns the progress bar
        on this way).
    environ : dict, optional
        The environment to change (default ``os.environ``).

    Examples
    --------
    >>> from ember.submit import apply_settings
    >>> env = {"EMBER_CONF": "spark.a=old\\nspark.b=2"}
    >>> apply_settings("local[1]", "job", [("spark.a", "new")], defaults=[("spark.c", "3")],
    ...                environ=env)
    >>> env["EMBER_MASTER"], env["EMBER_APP_NAME"]
    ('local[1]', 'job')
    >>> env["EMBER_CONF"].split("\\n")
    ['spark.a=new', 'spark.b=2', 'spark.c=3']
    """
    env = os.environ if environ is None else environ
    settings = dict(conf)
    # spark.master / spark.app.name given as --conf mean the same as --master / --name.
    master = master or settings.pop("spark.master", None)
    name = name or settings.pop("spark.app.name", None)
    settings.pop("spark.master", None)
    settings.pop("spark.app.name", None)
    if master:
        env["EMBER_MASTER"] = master
    if name:
        env["EMBER_APP_NAME"] = name
    if py_files:
        _stage_py_files(py_files)
        settings.setdefault("spark.submit.pyFiles", ",".join(py_files))
    for item in env.get("EMBER_CONF", "").split("\n"):
        key, sep, value = item.partition("=")
        if sep:
            settings.setdefault(key.strip(), value.strip())
    for key, value in defaults:
        settings.setdefault(key, value)
    env["EMBER_CONF"] = "\n".join(f"{k}={v}" for k, v in settings.items())


def _parser():
    parser = argparse.ArgumentParser(
        prog="ember-submit",
        description="Run a PySpark-style script on ember. The script's SparkContext() picks up "
                    "the master, name and settings given here.")
    add_options(parser)
    parser.add_argument("script", help="the Python file to run")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the script")
    return parser


def _print_script_error(exc, script):
    """The traceback from the script's first frame on (ember-submit's own frames left out)."""
    tb = exc.__traceback__
    script = os.path.abspath(script)
    while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) != script:
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb)   # no script frame (a SyntaxError): just the error


def main(argv=None):
    """Runs ``ember-submit``; returns the exit status.

    Parameters
    ----------
    argv : list of str, optional
        The command line without the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
        The script's exit status.

    Examples
    --------
    >>> import tempfile, os
    >>> from ember.submit import main
    >>> script = os.path.join(tempfile.mkdtemp(), "hello.py")
    >>> _ = open(script, "w").write("import sys; print('hello', sys.argv[1:])")
    >>> main([script, "a", "b"])
    hello ['a', 'b']
    0
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if not os.path.exists(args.script):
        parser.error(f"script {args.script!r} not found")
    if args.master == "mpi" and _mpi_launch() is None:
        print(_MPI_LINE.format(script=" ".join([args.script] + args.args)), file=sys.stderr)
        return 2
    saved_argv, saved_path = list(sys.argv), list(sys.path)
    saved_env = {k: os.environ.get(k) for k in _ENV_KEYS}
    try:
        apply_settings(args.master, args.name, args.conf, flat_py_files(args))
        sys.argv[:] = [args.script] + args.args
        sys.path[:1] = [os.path.dirname(os.path.abspath(args.script))]  # as `python script.py`
        try:
            runpy.run_path(args.script, run_name="__main__")
        except SystemExit as e:
            code = e.code
            if code is None or isinstance(code, int):
                return code or 0
            print(code, file=sys.stderr)
            return 1
        except BaseException as e:  # the script failed: report it, exit non-zero
            _print_script_error(e, args.script)
            return 130 if isinstance(e, KeyboardInterrupt) else 1
        return 0
    finally:
        sys.stdout.flush()
        sys.argv[:] = saved_argv
        sys.path[:] = saved_path
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


if __name__ == "__main__":
    sys.exit(main())
