"""The ``ember`` shell (also ``python -m ember``): a Python prompt with a SparkContext ready
as ``sc``, as PySpark's ``pyspark`` shell::

    ember [--master M] [--name N] [--conf k=v ...] [--py-files a.py,b.zip] [--no-ipython]

It uses IPython when it is installed (``--no-ipython``: the plain Python prompt). Settings
reach the context as with ``ember-submit`` (see ``ember.submit``); the shell also turns the
console progress bar on (``spark.ui.showConsoleProgress=true`` unless set otherwise) and
shows warnings of the ``ember`` logger. Ctrl-C while a job runs cancels the job (its tasks
are killed) and returns to the prompt with ``sc`` still usable; Ctrl-D stops the context
and leaves.
"""

import argparse
import os
import platform
import sys

__all__ = ["main", "banner"]

APP_NAME = "EmberShell"


def banner(sc):
    """The lines the shell greets with: versions, master and task slots.

    Parameters
    ----------
    sc : SparkContext
        The shell's context.

    Returns
    -------
    str

    Examples
    --------
    >>> from ember.shell import banner
    >>> print(banner(sc))  # doctest: +ELLIPSIS
    ember 0.1.0: Spark-style RDDs on a C engine (Python 3...)
    SparkContext available as 'sc' (master = local[2], app = ember-tests, 2 slots).
    Ctrl-C cancels a running job; Ctrl-D quits. More logging: sc.setLogLevel("INFO").
    """
    from ember import __version__
    return "\n".join([
        f"ember {__version__}: Spark-style RDDs on a C engine "
        f"(Python {platform.python_version()}, {platform.python_implementation()})",
        f"SparkContext available as 'sc' (master = {sc.master}, app = {sc.appName}, "
        f"{sc._slots} slot{'s' if sc._slots != 1 else ''}).",
        'Ctrl-C cancels a running job; Ctrl-D quits. More logging: sc.setLogLevel("INFO").',
    ])


def _parser():
    from ember.submit import add_options
    parser = argparse.ArgumentParser(
        prog="ember", description="An interactive Python shell with a SparkContext ready as sc.")
    add_options(parser)
    parser.add_argument("--no-ipython", action="store_true",
                        help="use the plain Python prompt even when IPython is installed")
    parser.add_argument("script", nargs="?", help=argparse.SUPPRESS)
    return parser


def _plain_repl(namespace, greeting):
    """The standard library's console, with line editing, history and completion."""
    import code
    try:
        import readline
        import rlcompleter
    except ImportError:
        readline = None
    if readline is not None:
        hook = getattr(sys, "__interactivehook__", None)
        if hook is not None:       # history in ~/.python_history, as `python` keeps it
            hook()
        readline.set_completer(rlcompleter.Completer(namespace).complete)
        readline.parse_and_bind("tab: complete")
    startup = os.environ.get("PYTHONSTARTUP")
    if startup and os.path.isfile(startup):
        with open(startup) as f:
            exec(compile(f.read(), startup, "exec"), namespace)
    code.interact(banner=greeting, local=namespace, exitmsg="")


def _ipython_repl(namespace, greeting):
    import IPython
    from traitlets.config import Config
    cfg = Config()
    cfg.TerminalIPythonApp.display_banner = False
    cfg.TerminalInteractiveShell.confirm_exit = False   # Ctrl-D leaves at once
    print(greeting)
    IPython.start_ipython(argv=[], user_ns=namespace, config=cfg)


def main(argv=None):
    """Runs the shell until Ctrl-D; returns the exit status.

    Parameters
    ----------
    argv : list of str, optional
        The command line without the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 after a clean exit.

    Examples
    --------
    >>> from ember.shell import main
    >>> main(["--help"])  # doctest: +ELLIPSIS, +NORMALIZE_WHITESPACE
    usage: ember [-h] [--version] [--master MASTER] [--name NAME] ...
    0
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return e.code
    if args.script:
        parser.print_usage(sys.stderr)
        print(f"ember: error: the shell does not run scripts; use: ember-submit {args.script}",
              file=sys.stderr)
        return 2
    from ember.submit import apply_settings, flat_py_files
    name = (args.name or dict(args.conf).get("spark.app.name") or os.environ.get("EMBER_APP_NAME")
            or APP_NAME)
    apply_settings(args.master, name, args.conf, flat_py_files(args),
                   defaults=[("spark.ui.showConsoleProgress", "true")])
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, "")     # the current directory, as the Python prompt has it

    from ember import SparkConf, SparkContext, StorageLevel
    from ember.log import logger, set_log_level
    if logger.level == 0:
        set_log_level("WARN")
    sc = SparkContext()
    namespace = {"__name__": "__main__", "__doc__": None, "sc": sc, "SparkContext": SparkContext,
                 "SparkConf": SparkConf, "StorageLevel": StorageLevel}
    use_ipython = not args.no_ipython
    if use_ipython:
        try:
            import IPython  # noqa: F401
        except ImportError:
            use_ipython = False
    try:
        (_ipython_repl if use_ipython else _plain_repl)(namespace, banner(sc))
    finally:
        sc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
