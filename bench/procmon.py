"""The resident memory of a process and all its descendants, sampled.

With psutil installed, psutil walks the tree; without it, on Linux, /proc is read
directly (one ``/proc/PID/stat`` per process gives both the parent and the RSS).
Elsewhere, RSS is reported as unavailable (None).

RSS is summed over the tree, so pages shared between processes (a forked worker's
copy-on-write pages, shared libraries) count once per process that maps them.
"""

import os

try:
    import psutil
except ImportError:  # the smoke test runs without it
    psutil = None

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _proc_table():
    """{pid: (ppid, rss_bytes)} of every process, from /proc."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # Fields after the command name (which is in parentheses and may hold spaces).
        rest = stat[stat.rfind(b")") + 2:].split()
        table[int(name)] = (int(rest[1]), int(rest[21]) * _PAGE)
    return table


class TreeSampler:
    """Samples the summed RSS of `pid` and its descendants; remembers every pid seen."""

    def __init__(self, pid):
        self.pid = pid
        self.peak = 0
        self.seen = {pid}
        if psutil is not None:
            self.method = "psutil"
            try:
                self._root = psutil.Process(pid)
            except psutil.Error:
                self._root = None
        elif os.path.isdir("/proc/self"):
            self.method = "proc"
        else:
            self.method = None

    @property
    def available(self):
        return self.method is not None

    def sample(self):
        """Takes one sample; returns the tree's RSS in bytes (None if unavailable)."""
        if self.method == "psutil":
            total = 0
            if self._root is None:
                return 0
            try:
                procs = [self._root] + self._root.children(recursive=True)
            except psutil.Error:
                return 0
            for p in procs:
                try:
                    total += p.memory_info().rss
                    self.seen.add(p.pid)
                except psutil.Error:
                    pass
        elif self.method == "proc":
            table = _proc_table()
            children = {}
            for pid, (ppid, _) in table.items():
                children.setdefault(ppid, []).append(pid)
            total = 0
            todo = [self.pid] if self.pid in table else []
            while todo:
                pid = todo.pop()
                self.seen.add(pid)
                total += table[pid][1]
                todo.extend(children.get(pid, ()))
        else:
            return None
        self.peak = max(self.peak, total)
        return total


def alive(pids):
    """The pids of `pids` that still exist (and are not zombies)."""
    left = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
            if stat[stat.rfind(b")") + 2:stat.rfind(b")") + 3] != b"Z":
                left.append(pid)
        except FileNotFoundError:
            pass
        except OSError:
            try:
                os.kill(pid, 0)
                left.append(pid)
            except OSError:
                pass
    return left
