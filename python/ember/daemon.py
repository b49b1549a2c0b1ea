"""The worker daemon: one per SparkContext, started by the engine with posix_spawn.

It imports what workers need once, then waits on its control socket (fd 3). Each
request carries two pipe ends (SCM_RIGHTS); the daemon forks a worker that serves
tasks over them, and answers with the worker's pid. When the control socket
closes — the context stopped, or the driver died — it kills its workers, removes
the context's temp dir and exits, so nothing is left behind.
"""

import _socket  # not socket: its enums would take a tenth of the daemon's start-up
import array
import os
import signal
import sys


def _reap(children):
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        children.discard(pid)


def _recv_fds(sock):
    """One request: (its byte, the file descriptors it carries)."""
    fds = array.array("i")
    msg, ancdata, _, _ = sock.recvmsg(1, _socket.CMSG_SPACE(2 * fds.itemsize))
    for level, kind, data in ancdata:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
    return msg, list(fds)


def main(argv):
    ctl_fd, tmpdir = int(argv[1]), argv[2]
    import gc

    # Preloaded, so that workers forked below start warm: the worker loop, the task
    # context and the functions of ember's own actions. Not the driver's modules
    # (ember.context, ember.rdd ...) nor cloudpickle: a worker imports cloudpickle when
    # a command needs it (see ember._commands), the others when a task uses them.
    from ember import _commands, taskcontext, worker  # noqa: F401

    # What is loaded now lives as long as the daemon: keep it out of the collector's
    # way (and out of copy-on-write faults in forked workers). Workers allocate many
    # short-lived records; a larger first generation makes collections rarer.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)

    os.environ["EMBER_LOCAL_DIR"] = tmpdir  # workers spill under the context's temp dir
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    children = set()
    signal.signal(signal.SIGCHLD, lambda *_: _reap(children))
    sock = _socket.socket(fileno=ctl_fd)
    try:
        while True:
            try:
                msg, fds = _recv_fds(sock)
            except (ConnectionError, OSError):
                break
            if not msg:
                break
            if len(fds) != 2:
                for fd in fds:
                    os.close(fd)
                sock.sendall((-22).to_bytes(4, "little", signed=True))
                continue
            try:
                pid = os.fork()
            except OSError as e:
                for fd in fds:
                    os.close(fd)
                sock.sendall((-e.errno).to_bytes(4, "little", signed=True))
                continue
            if pid == 0:
                code = 1
                try:
                    sock.close()
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    code = worker.main(fds[0], fds[1])
                finally:
                    os._exit(code)
            for fd in fds:
                os.close(fd)
            children.add(pid)
            sock.sendall(pid.to_bytes(4, "little", signed=True))
    finally:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _reap(children)
        import shutil
        shutil.rmtree(tmpdir, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv)
    # Nothing is left to clean up: skip the interpreter's teardown, which stop() would
    # wait for.
    sys.stderr.flush()
    os._exit(0)
