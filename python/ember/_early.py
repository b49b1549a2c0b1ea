"""The worker daemon, started as the driver imports ember.context.

A SparkContext needs a worker daemon, and the daemon's interpreter start is most of a
small job's start-up. ember.context calls ``start()`` before it imports anything
else, ``_core`` included: it spawns the daemon a local context would spawn (the
command line and environment of src/workers.c's spawn_daemon, with "-" for the
temp dir, which the context sends once it exists), so that the daemon's interpreter
and imports run on another core while the driver imports the rest of ember and
builds its SparkContext. ``SparkContext()`` hands it to the engine (``take()``),
which uses it when /proc shows the command line and environment it would give a
daemon now (the same interpreter, the workers' sys.path, the same environment), and
otherwise ends it and spawns another. A daemon no context took is ended at
interpreter exit; should the driver be killed, the daemon exits when its control
socket closes.

Not started in the worker daemon and its workers, under an MPI launch (its ranks
start their own), or with ``EMBER_EARLY_DAEMON=0`` in the environment.
"""

from __future__ import annotations

import atexit
import os
import sys

# What the daemon's interpreter runs: DAEMON_BOOT of src/workers.c, which says why.
# The engine takes the daemon only when this is the same text.
BOOT = ("import os, sys\n"
        "_p = os.environ.get('PYTHONPATH')\n"
        "sys.path[:] = [e for e in _p.split(os.pathsep) if e] if _p else sys.path[1:]\n"
        "from ember import daemon\n"
        "daemon.main(sys.argv)\n")

# The daemon's environment is the driver's without these (src/workers.c's daemon_env).
_MPI_PREFIXES = ("OMPI_", "PMIX_", "PMI_")
_REPLACED = ("PYTHONHASHSEED", "PYTHONPATH", "EMBER_NATIVE_DAEMON", "EMBER_TYPED_RESULTS")


def worker_path() -> list[str]:
    """The workers' sys.path: the driver's, each entry made absolute ('' is the working
    directory, as for the driver), in the driver's order. Workers import nothing else
    from the working directory. Should the path find another ember first (sys.path
    changed since ember was imported), the driver's own package comes first."""
    path: list[str] = []
    for entry in sys.path:
        if isinstance(entry, str):
            entry = os.path.abspath(entry or os.curdir)
            if entry not in path:
                path.append(entry)
    ember_init = sys.modules["ember"].__file__
    assert ember_init is not None  # a package imported from files
    from _frozen_importlib_external import PathFinder  # importlib.machinery's, without importing importlib
    spec = PathFinder.find_spec("ember", path)
    if spec is None or not spec.origin or os.path.realpath(spec.origin) != os.path.realpath(ember_init):
        path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(ember_init))))
    return path


def mpi_launch() -> tuple[int, int] | None:
    """(rank, size) when an MPI launcher (mpirun, mpiexec, srun) started this process, else None."""
    env = os.environ
    for rank, size in (("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"), ("PMI_RANK", "PMI_SIZE"),
                       ("PMIX_RANK", "SLURM_NTASKS")):
        if rank in env and size in env:
            try:
                return int(env[rank]), int(env[size])
            except ValueError:
                return None
    return None


_started: tuple[int, int] | None = None  # (pid, control socket fd)
_parent = 0  # the process that started it


def _spawn(pythonpath: str) -> tuple[int, int]:
    """Spawns the daemon (as src/workers.c's spawn_daemon does): (pid, control fd)."""
    import _signal  # signal and socket would cost start-up time: their C cores serve
    import _socket
    env = {k: v for k, v in os.environ.items() if k not in _REPLACED and not k.startswith(_MPI_PREFIXES)}
    env["PYTHONHASHSEED"] = "0"  # workers hash the same everywhere
    env["PYTHONPATH"] = pythonpath
    ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)  # both close-on-exec
    try:
        pid = os.posix_spawn(sys.executable, [sys.executable, "-c", BOOT, "3", "-"], env,
                             file_actions=[(os.POSIX_SPAWN_DUP2, theirs.fileno(), 3),  # dup2 clears close-on-exec
                                           (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0)],
                             setpgroup=0, setsigmask=(), setsigdef=(_signal.SIGPIPE, _signal.SIGINT))
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
    return pid, ours.detach()


def start() -> None:
    """Starts the daemon, unless this process is a daemon or a worker, an MPI launch
    or EMBER_EARLY_DAEMON=0 says not to, or it is started already."""
    global _started, _parent
    if _started is not None or "ember.daemon" in sys.modules or not sys.executable or mpi_launch() is not None \
            or os.environ.get("EMBER_EARLY_DAEMON") == "0":
        return
    try:
        _started = _spawn(os.pathsep.join(worker_path()))
    except OSError:
        return  # SparkContext() spawns one itself, and reports what fails then
    _parent = os.getpid()
    atexit.register(_discard)


def _discard() -> None:
    """Ends the daemon no context took: it has no workers and no temp dir yet."""
    started = take()
    if started is not None:
        pid, fd = started
        os.close(fd)
        os.kill(pid, 9)  # SIGKILL
        os.waitpid(pid, 0)


def take() -> tuple[int, int] | None:
    """The daemon started at import, (pid, control socket fd), for
    ``_core.Context(started=...)``, which takes both over; once. None when there is
    none (or this is a forked copy of the process that started it)."""
    global _started
    started, _started = _started, None
    if started is not None and os.getpid() != _parent:
        os.close(started[1])  # a fork's copy of the socket; the daemon is not its child
        return None
    return started
