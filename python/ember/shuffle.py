"""Reduce-side merging under a memory limit.

After a shuffle, a reduce task merges the values of each key of its partition
(reduceByKey, combineByKey) or groups them (groupByKey). The merging loops run in C
(``_core.combine_by_key``, ``_core.group_by_key``) a chunk of records at a time;
between chunks the worker's resident memory is checked against
``spark.python.worker.memory`` (512m by default). Past it, the keys held so far are
spilled: hash-partitioned into ``SPILL_FILES`` files under the context's temp dir.
At the end each file is merged on its own, so memory holds one file's keys at a time.
A partition whose keys are all distinct and small therefore needs about
1/``SPILL_FILES`` of its size in memory. (One key's values in groupByKey must still
fit in memory: they are returned as one list.)
"""

import os
import pickle
import tempfile

from ember import _core

__all__ = ["merge_combiners", "group_values", "parse_memory"]

CHUNK = 65536      # records merged between two memory checks
SPILL_FILES = 64   # files a spill is hash-partitioned into
_PAGE = os.sysconf("SC_PAGE_SIZE")


def parse_memory(text):
    """Bytes in a JVM-style memory string: '512m', '2g', '1024k', '100' (MiB)."""
    text = str(text).strip().lower()
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    if text and text[-1] == "b":
        text = text[:-1]
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    try:
        return int(text) << 20
    except ValueError:
        raise ValueError(f"invalid memory size {text!r}: use a number with k, m or g, like 512m") from None


def _rss():
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * _PAGE


def _spill_dir():
    return os.environ.get("EMBER_LOCAL_DIR") or tempfile.gettempdir()


class _Spill:
    """SPILL_FILES files of pickled lists of (key, value), keys placed by hash."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="spill-", dir=_spill_dir())
        self.files = [open(os.path.join(self.dir, str(i)), "wb") for i in range(SPILL_FILES)]
        self.count = 0

    def write(self, d):
        groups = [[] for _ in range(SPILL_FILES)]
        for kv in d.items():
            # A different mix of bits than the shuffle's (all keys here share hash % n).
            groups[_core.portable_hash((kv[0], 0x5EED)) % SPILL_FILES].append(kv)
        for f, g in zip(self.files, groups):
            if g:
                pickle.dump(g, f, protocol=5)
        self.count += 1
        d.clear()

    def read(self, i):
        self.files[i].close()
        with open(os.path.join(self.dir, str(i)), "rb") as f:
            while True:
                try:
                    yield pickle.load(f)
                except EOFError:
                    return
        os.unlink(os.path.join(self.dir, str(i)))

    def close(self):
        for f in self.files:
            f.close()
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))
        os.rmdir(self.dir)


def _bounded(iterator, limit, fill, remerge):
    """Runs fill(it, into, n) over the records chunk by chunk, spilling past limit;
    yields the merged (key, value) pairs, re-merging spilled files with remerge."""
    it = iter(iterator)
    d = {}
    spill = None
    try:
        while fill(it, d, CHUNK) == CHUNK:
            if _rss() > limit:
                spill = spill or _Spill()
                spill.write(d)
        if spill is None:
            yield from d.items()
            return
        spill.write(d)
        for i in range(SPILL_FILES):
            part = {}
            for batch in spill.read(i):
                remerge(batch, part)
            yield from part.items()
            part.clear()
    finally:
        if spill is not None:
            spill.close()


def merge_combiners(iterator, merge, limit):
    """(key, combiner) records merged with merge(c1, c2) per key, under limit bytes."""
    return _bounded(iterator, limit,
                    lambda it, d, n: _core.combine_by_key(it, None, merge, d, n),
                    lambda batch, d: _core.combine_by_key(batch, None, merge, d))


def group_values(iterator, limit):
    """(key, [values]) for the (key, value) records, under limit bytes (but each key's
    values together)."""
    return _bounded(iterator, limit,
                    lambda it, d, n: _core.group_by_key(it, d, n),
                    lambda batch, d: _core.group_by_key(batch, d, -1, True))
