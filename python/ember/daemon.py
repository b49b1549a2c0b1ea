"""The worker daemon: one per SparkContext, started by the engine with posix_spawn.

It imports what workers need once, then waits on its control socket (fd 3). Three
requests arrive there:

- ``F`` with two pipe ends (SCM_RIGHTS): fork a worker that serves tasks over them;
  the answer is the worker's pid (i32, or -errno).
- ``S`` with a worker's pid (u32): how that worker ended. The daemon reaps its
  workers and keeps their wait status; it waits up to two seconds for this one to
  end, then answers with the wait status (i32; -1 while it still runs, -2 when the
  pid is none of its workers), then the length (u32) and text of the last Python
  traceback the worker wrote (faulthandler's on a fatal signal, or the error that
  ended it), at most 8 KiB.
- ``T`` with the length (u32) and the path of the context's temp dir: only to a
  daemon started ahead of its context (``ember.daemon 3 -``, see ember._early), as
  the first request once a context takes it. Until then it has no temp dir; should
  the control socket close first (no context took it), it just exits.
- ``Q``: the context is stopping. The daemon kills its workers and exits; the driver
  removes the context's temp dir once it has exited.

Each worker writes such tracebacks to ``worker-<pid>.crash`` in the context's temp
dir; a worker that ends cleanly removes its file, the daemon removes the others once
read.

When the control socket closes without a ``Q`` — the driver died — the daemon kills
its workers, removes the context's temp dir and exits, so nothing is left behind.
"""

import _signal  # not signal: its enums would take a tenth of the daemon's start-up
import faulthandler
import os
import sys
import time

CRASH_TEXT_MAX = 8192
STATUS_WAIT_S = 2.0
STATUS_KEPT = 1024   # wait statuses of workers nobody asked about, kept at most


def crash_path(tmpdir, pid):
    return os.path.join(tmpdir, f"worker-{pid}.crash")


def _reap(children, statuses):
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        children.discard(pid)
        statuses[pid] = status
        while len(statuses) > STATUS_KEPT:
            del statuses[next(iter(statuses))]


def _recv_exact(fd, n):
    data = b""
    while len(data) < n:
        chunk = os.read(fd, n - len(data))
        if not chunk:
            raise ConnectionError("the engine closed the control socket mid-request")
        data += chunk
    return data


def _send(fd, data):
    """Sends an answer; False when the engine has closed the control socket."""
    try:
        while data:
            data = data[os.write(fd, data):]
        return True
    except OSError:
        return False


def _status_reply(pid, children, statuses, tmpdir):
    """The answer to an S request: wait status, then the worker's last traceback."""
    _signal.pthread_sigmask(_signal.SIG_BLOCK, {_signal.SIGCHLD})  # reaped here meanwhile
    try:
        deadline = time.monotonic() + STATUS_WAIT_S
        while pid not in statuses and pid in children and time.monotonic() < deadline:
            _reap(children, statuses)
            if pid not in statuses:
                time.sleep(0.005)
        if pid in statuses:
            status = statuses.pop(pid)
        else:
            status = -1 if pid in children else -2
    finally:
        _signal.pthread_sigmask(_signal.SIG_UNBLOCK, {_signal.SIGCHLD})
    text = b""
    if status >= 0:
        path = crash_path(tmpdir, pid)
        try:
            with open(path, "rb") as f:
                f.seek(max(0, os.fstat(f.fileno()).st_size - CRASH_TEXT_MAX))
                text = f.read(CRASH_TEXT_MAX)
            os.unlink(path)
        except OSError:
            pass
    return status.to_bytes(4, "little", signed=True) + len(text).to_bytes(4, "little") + text


def _serve_worker(fds, tmpdir, worker):
    """In the forked child: keeps the last Python traceback in the crash file and
    serves tasks; returns the exit code."""
    path = crash_path(tmpdir, os.getpid())
    crash = open(path, "w")
    faulthandler.enable(crash)
    code = worker.main(fds[0], fds[1], crash)
    if code == 0:
        faulthandler.disable()
        crash.close()
        os.unlink(path)
    return code


def _recv_tmpdir(ctl_fd):
    """The temp dir a ``T`` request names, or None when the socket closes first."""
    from ember import _core  # loaded by main already
    try:
        msg, fds = _core.recv_request(ctl_fd)
        for fd in fds:
            os.close(fd)
        if msg != b"T":
            return None
        n = int.from_bytes(_recv_exact(ctl_fd, 4), "little")
        return os.fsdecode(_recv_exact(ctl_fd, n))
    except (ConnectionError, OSError):
        return None


def main(argv):
    """Serves the control socket argv[1] for the context whose temp dir is argv[2]
    ("-": the first request names it, see ``T`` above); ends the process (os._exit)
    when the engine says 'Q' or goes away."""
    ctl_fd, tmpdir = int(argv[1]), argv[2]
    import gc
    gc.disable()  # no collections while importing: nothing imported is garbage

    # Preloaded, so that workers forked below start warm: the worker loop, the task
    # context and the functions of ember's own actions. Not the driver's modules
    # (ember.context, ember.rdd ...) nor cloudpickle: a worker imports cloudpickle when
    # a command needs it (see ember._commands), the others when a task uses them.
    from ember import _commands, _core, taskcontext, worker  # noqa: F401

    # What is loaded now lives as long as the daemon: keep it out of the collector's
    # way (and out of copy-on-write faults in forked workers). Workers allocate many
    # short-lived records; a larger first generation makes collections rarer.
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    gc.enable()

    if tmpdir == "-":
        tmpdir = _recv_tmpdir(ctl_fd)
        if tmpdir is None:  # no context took this daemon: nothing to clean up
            os._exit(0)
    os.environ["EMBER_LOCAL_DIR"] = tmpdir  # workers spill under the context's temp dir
    _signal.signal(_signal.SIGINT, _signal.SIG_IGN)
    children, statuses = set(), {}
    _signal.signal(_signal.SIGCHLD, lambda *_: _reap(children, statuses))
    closed = False  # the control socket closed without a 'Q': the driver is gone
    try:
        while True:
            try:
                msg, fds = _core.recv_request(ctl_fd)  # the socket module would cost start-up time
            except (ConnectionError, OSError):
                closed = True
                break
            if not msg:
                closed = True
                break
            if msg == b"Q":  # the engine is stopping: it removes the temp dir itself
                break
            if msg == b"S":
                for fd in fds:
                    os.close(fd)
                try:
                    pid = int.from_bytes(_recv_exact(ctl_fd, 4), "little")
                except (ConnectionError, OSError):
                    closed = True
                    break
                if not _send(ctl_fd, _status_reply(pid, children, statuses, tmpdir)):
                    closed = True
                    break
                continue
            if len(fds) != 2:
                for fd in fds:
                    os.close(fd)
                if not _send(ctl_fd, (-22).to_bytes(4, "little", signed=True)):
                    closed = True
                    break
                continue
            try:
                pid = os.fork()
            except OSError as e:
                for fd in fds:
                    os.close(fd)
                if not _send(ctl_fd, (-e.errno).to_bytes(4, "little", signed=True)):
                    closed = True
                    break
                continue
            if pid == 0:
                code = 1
                try:
                    os.close(ctl_fd)
                    _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)
                    code = _serve_worker(fds, tmpdir, worker)
                finally:
                    os._exit(code)
            for fd in fds:
                os.close(fd)
            children.add(pid)
            if not _send(ctl_fd, pid.to_bytes(4, "little", signed=True)):
                closed = True
                break
    finally:
        _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)
        for pid in list(children):
            try:
                os.kill(pid, _signal.SIGKILL)
            except ProcessLookupError:
                pass
        _reap(children, statuses)
        # After 'Q' the driver removes the context's temp dir itself once this daemon
        # has exited (stop() waits for that). EOF alone: the driver died, so the daemon
        # removes it. Not on an error of our own: the engine replaces this daemon.
        if closed:
            import shutil
            shutil.rmtree(tmpdir, ignore_errors=True)
    # Nothing is left to clean up: skip the interpreter's teardown, which stop() would
    # wait for.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv)
