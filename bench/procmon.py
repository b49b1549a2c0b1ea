"""The memory and CPU of a process and all its descendants, sampled; the machine's load.

On Linux, /proc is read directly: one ``/proc/PID/stat`` per process gives its parent,
its RSS and its CPU time. Elsewhere psutil is used if installed; without either, RSS
is reported as unavailable (None).

RSS is summed over the tree, so pages shared between processes (a forked worker's
copy-on-write pages, shared libraries) count once per process that maps them.

The machine may be shared, so a run also records the CPU that processes outside its
tree used meanwhile (``background``): the machine's busy time from /proc/stat, less
the tree's own CPU time and the sampler's.
"""

import os
import time

try:
    import psutil
except ImportError:  # the smoke test runs without it
    psutil = None

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_HAVE_PROC = os.path.exists("/proc/self/stat")


def _read_stat(pid):
    """(ppid, rss_bytes, cpu_seconds) of one process from /proc, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # Fields after the command name (which is in parentheses and may hold spaces):
    # rest[0] is field 3 (state), so field n is rest[n - 3].
    rest = stat[stat.rfind(b")") + 2:].split()
    return int(rest[1]), int(rest[21]) * _PAGE, (int(rest[11]) + int(rest[12])) / _TICK


def machine_busy():
    """(busy CPU seconds, total CPU seconds) of the machine since boot, or None."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return None
    total = sum(fields[:8])
    idle = fields[3] + fields[4]
    return (total - idle) / _TICK, total / _TICK


def background_load(seconds=0.5):
    """Cores kept busy by the whole machine over `seconds` (None without /proc)."""
    a = machine_busy()
    if a is None:
        return None
    t0 = time.perf_counter()
    time.sleep(seconds)
    b = machine_busy()
    return (b[0] - a[0]) / (time.perf_counter() - t0)


class TreeSampler:
    """Samples the summed RSS of `pid` and its descendants and their CPU time;
    remembers every pid seen."""

    def __init__(self, pid):
        self.pid = pid
        self.peak = 0
        self.seen = {pid}
        self.cpu = {}  # pid -> last seen CPU seconds of that process alone
        self._tree = {pid}      # live pids of the tree
        self._others = set()    # pids known to be outside it
        self._busy0 = machine_busy()
        self._self0 = time.process_time()
        if _HAVE_PROC:
            self.method = "proc"
        elif psutil is not None:
            self.method = "psutil"
            try:
                self._root = psutil.Process(pid)
            except psutil.Error:
                self._root = None
        else:
            self.method = None

    @property
    def available(self):
        return self.method is not None

    def _sample_proc(self):
        # Cheap enough to run every few milliseconds: a pid is read once to learn
        # whether it belongs to the tree; afterwards only the tree's pids are read.
        pids = [int(n) for n in os.listdir("/proc") if n.isdigit()]
        stats = {}
        for pid in list(self._tree):
            st = _read_stat(pid)
            if st is None:
                self._tree.discard(pid)
            else:
                stats[pid] = st
        pending = {}
        for pid in pids:
            if pid not in self._tree and pid not in self._others:
                st = _read_stat(pid)
                if st is not None:
                    pending[pid] = st
        grew = True
        while grew:  # a new child may be read before its new parent joins the tree
            grew = False
            for pid, st in list(pending.items()):
                if st[0] in self._tree:
                    self._tree.add(pid)
                    stats[pid] = st
                    del pending[pid]
                    grew = True
        self._others.update(pending)
        total = 0
        for pid, (_, rss, cpu) in stats.items():
            self.seen.add(pid)
            self.cpu[pid] = cpu
            total += rss
        return total

    def sample(self):
        """Takes one sample; returns the tree's RSS in bytes (None if unavailable)."""
        if self.method == "proc":
            total = self._sample_proc()
        elif self.method == "psutil":
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
                    t = p.cpu_times()
                    self.cpu[p.pid] = t.user + t.system
                    self.seen.add(p.pid)
                except psutil.Error:
                    pass
        else:
            return None
        self.peak = max(self.peak, total)
        return total

    def background(self, wall):
        """Cores used outside the tree (and outside this sampler) over the `wall`
        seconds since the sampler was made; None where unknown or under a second."""
        busy1 = machine_busy()
        # /proc/stat counts in clock ticks (10 ms): shorter windows say nothing.
        if self._busy0 is None or busy1 is None or wall < 1.0:
            return None
        busy = busy1[0] - self._busy0[0]
        mine = time.process_time() - self._self0
        return max(0.0, (busy - sum(self.cpu.values()) - mine) / wall)


def alive(pids):
    """The pids of `pids` that still exist and are not zombies."""
    left = []
    for pid in pids:
        if _HAVE_PROC:
            try:
                with open(f"/proc/{pid}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            if stat[stat.rfind(b")") + 2:stat.rfind(b")") + 3] != b"Z":
                left.append(pid)
        else:
            try:
                os.kill(pid, 0)
                left.append(pid)
            except OSError:
                pass
    return left
