"""The Python side of the shuffle, around the C loops of ``_core``.

Reduce-side merging under a memory limit. After a shuffle, a reduce task merges the
values of each key of its partition (reduceByKey, combineByKey: ``merge_combiners``)
or groups them (groupByKey: ``GroupByKey``). Both run in C (``_core.Cogroup``, the
grouping table of python/_core/cogroup.c, which joins use too), counting the bytes
they hold against ``spark.python.worker.memory`` (512m by default). Past it the table
spills by hash to one shuffle-format file under the context's temp dir, and each of
its buckets is merged on its own at the end, so memory holds one bucket's keys at a
time; in groupByKey one key's values may exceed the limit (they go to a file of
their own and are read back in order).

Sorting runs in C (``_core``'s sort.c over libember's sort.c). ``sortByKey``
range-partitions as PySpark does: about 20 keys per output partition are sampled
(``sample(False, fraction, seed=1)`` after a count), the sample is sorted and
``numPartitions - 1`` evenly spaced boundaries taken (in keyfunc's terms); a key goes to
partition ``bisect_left(bounds, keyfunc(key))``, mirrored when descending. The count and
the sample are one pass (``CountAndSample``: the same random draws, so the same sample),
and the range partitioner is ``_core.RangePartitioner``, which the shuffle writer calls
without a Python call. Each partition is then sorted in its worker by
``_core.sort_pairs`` (``PartitionSorter``): keys decoded once into C keys (int, float,
str, bytes, tuples of them; other types compare with Python's ``<``; a pair of two
64-bit ints is held as C ints alone and made again on the way out), a stable sort,
and past ``spark.python.worker.memory`` sorted runs written to one-bucket shuffle files
under the context's temp dir and merged back by a C k-way merge; each run file is
removed as soon as it is opened for the merge. ``take_ordered`` selects takeOrdered's
and top's elements in C.

``repartition`` spreads records as Spark does (see ``RoundRobin``).
"""

import os
from itertools import islice

from ember import _core

__all__ = ["merge_combiners", "combine_values", "GroupByKey", "parse_memory", "identity", "RangePartitioner",
           "CountAndSample", "PartitionSorter", "take_ordered", "range_bounds", "RoundRobin"]


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


def _spill_dir():
    import tempfile
    return os.environ.get("EMBER_LOCAL_DIR") or tempfile.gettempdir()


def merge_combiners(iterator, merge, limit):
    """(key, combiner) records merged with merge(c1, c2) per key, in C
    (``_core.Cogroup``) under ``limit`` bytes, spilling by hash past it."""
    from ember.resultiterable import ResultIterable
    return _core.Cogroup([iterator], _core.COGROUP_COMBINE, limit, _spill_dir(), ResultIterable,
                         None, merge, merge)


def combine_values(iterator, create, merge_value, merge_combiners, limit):
    """(key, combiner) for the (key, value) records: create(v) for a key's first value,
    merge_value(c, v) for the next ones, in C under ``limit`` bytes (combineByKey of an
    RDD already partitioned as asked)."""
    from ember.resultiterable import ResultIterable
    return _core.Cogroup([iterator], _core.COGROUP_COMBINE, limit, _spill_dir(), ResultIterable,
                         create, merge_value, merge_combiners)


class GroupByKey:
    """``f(iterator)`` of groupByKey's reduce side: (key, ResultIterable of its values)
    for the (key, value) records, grouped in C (``_core.Cogroup``) under ``limit``
    bytes; one key's values may exceed it (they are then read back from a file)."""

    def __init__(self, limit):
        self.limit = limit

    def __call__(self, iterator):
        from ember.resultiterable import ResultIterable
        return _core.Cogroup([iterator], _core.COGROUP_GROUP, self.limit, _spill_dir(), ResultIterable)


_M32 = 0xFFFFFFFF
_M64 = (1 << 64) - 1


def identity(x):
    return x


def range_bounds(samples, numPartitions, keyfunc=identity):
    """The ``numPartitions - 1`` boundaries (in keyfunc's terms) of a sorted key sample.

    Examples
    --------
    >>> range_bounds(list(range(100)), 4)
    [25, 50, 75]
    >>> range_bounds(["a", "B", "c"], 2, str.lower)
    ['b']
    >>> range_bounds([], 3)
    []
    """
    if not samples:
        return []
    n = len(samples)
    return [keyfunc(samples[int(n * (i + 1) / numPartitions)]) for i in range(numPartitions - 1)]


RangePartitioner = _core.RangePartitioner
RangePartitioner.__doc__ = """A partition function: the range of bounds that ``keyfunc(key)`` falls in
(``bisect_left``), mirrored when not ascending. It runs in C: keys decode to C sort
keys (see the module docstring); the shuffle writer calls it without a Python call.

Examples
--------
>>> p = RangePartitioner([10, 20], 3)
>>> [p(k) for k in (5, 10, 15, 25)]
[0, 0, 1, 2]
>>> [RangePartitioner([10, 20], 3, ascending=False)(k) for k in (5, 10, 15, 25)]
[2, 2, 1, 0]
"""


def _c_keyfunc(keyfunc):
    """None for the identity (the C loops then use the key itself), else keyfunc."""
    return None if keyfunc is identity else keyfunc


class CountAndSample:
    """``f(split, iterator)``: one pass of sortByKey's count and sample, as
    ``[(count, [(u, key), ...])]``. Each record draws ``u`` from the partition's
    generator of ``sample(False, fraction, seed)`` (seed 1 in sortByKey), and the pairs
    kept are every one that fraction ``min(max_sample / total, 1.0)`` keeps, for any
    total >= this partition's count: the driver keeps those with ``u < fraction``.

    Examples
    --------
    >>> [(n, kept)] = CountAndSample(1000.0)(0, iter([(k, None) for k in range(100)]))
    >>> n, len(kept)
    (100, 100)
    """

    def __init__(self, max_sample, seed=1):
        self.max_sample = max_sample
        self.seed = seed

    def __call__(self, split, iterator):
        from ember.rddsampler import partition_random
        draw = partition_random(self.seed, split).random
        return [_core.count_and_sample(iterator, draw, self.max_sample)]


class PartitionSorter:
    """``f(split, iterator)``: the (key, value) pairs of a partition sorted by
    ``keyfunc(key)`` in C; equal keys keep their order, also when descending. Past
    ``limit`` bytes of worker RSS, sorted runs spill to the context's temp dir and are
    merged back (``_core.sort_pairs``). With ``values`` it yields only the values.

    Examples
    --------
    >>> list(PartitionSorter()(0, iter([(2, "x"), (1, "y"), (2, "z")])))
    [(1, 'y'), (2, 'x'), (2, 'z')]
    >>> list(PartitionSorter(False, lambda k: k % 3)(0, iter([(2, "x"), (4, "y"), (3, "z")])))
    [(2, 'x'), (4, 'y'), (3, 'z')]
    >>> list(PartitionSorter(values=True)(0, iter([(2, "x"), (1, "y")])))
    ['y', 'x']
    """

    def __init__(self, ascending=True, keyfunc=identity, limit=512 << 20, values=False):
        self.ascending = ascending
        self.keyfunc = keyfunc
        self.limit = limit
        self.values = values

    def __call__(self, split, iterator):
        return _core.sort_pairs(iterator, self.ascending, _c_keyfunc(self.keyfunc), self.limit, _spill_dir(),
                                values=self.values)


def take_ordered(num, iterable, key=None, descending=False):
    """The first num of ``sorted(iterable, key=key, reverse=descending)``, as
    ``heapq.nsmallest`` (or ``nlargest``) gives them, selected in C.

    Examples
    --------
    >>> take_ordered(3, [5, 1, 4, 2]), take_ordered(2, ["b", "A", "c"], str.lower, True)
    ([1, 2, 4], ['c', 'b'])
    """
    return _core.take_ordered(iterable, num, key, descending)


# ---- repartition -------------------------------------------------------------------------
#
# PySpark's repartition(n) regroups each partition into chunks of 10 records (one JVM
# record each); the JVM then deals a partition's chunks round robin over the n outputs,
# starting after a position drawn from Spark's XORShiftRandom seeded with the partition
# index. Reproducing that generator gives the same layout as PySpark.


def _int32(x):
    x &= _M32
    return x - (1 << 32) if x >> 31 else x


def _rotl32(x, r):
    return ((x << r) | (x >> (32 - r))) & _M32


def _murmur3_mix_last(h, k):
    k = _rotl32((k * 0xCC9E2D51) & _M32, 15)
    return h ^ ((k * 0x1B873593) & _M32)


def _murmur3_bytes(data, seed):
    """Scala's MurmurHash3.bytesHash (x86 32-bit MurmurHash3), as a signed int."""
    h = seed & _M32
    whole = len(data) - len(data) % 4
    for i in range(0, whole, 4):
        h = _murmur3_mix_last(h, int.from_bytes(data[i:i + 4], "little"))
        h = (_rotl32(h, 13) * 5 + 0xE6546B64) & _M32
    if whole < len(data):
        h = _murmur3_mix_last(h, int.from_bytes(data[whole:], "little"))
    h ^= len(data)
    h = ((h ^ (h >> 16)) * 0x85EBCA6B) & _M32
    h = ((h ^ (h >> 13)) * 0xC2B2AE35) & _M32
    return _int32(h ^ (h >> 16))


class _XORShiftRandom:
    """Spark's XORShiftRandom: java.util.Random's nextInt over a xorshift generator
    whose 64-bit state is a MurmurHash3 of the big-endian seed."""

    def __init__(self, seed):
        data = (seed & _M64).to_bytes(8, "big")
        low = _murmur3_bytes(data, 0x3C074A61)
        high = _murmur3_bytes(data, low)
        self.state = ((high << 32) | (low & _M32)) & _M64

    def next_bits(self, bits):
        s = self.state
        s ^= (s << 21) & _M64
        s ^= s >> 35
        s ^= (s << 4) & _M64
        self.state = s
        return _int32(s & ((1 << bits) - 1))

    def next_int(self, bound):
        r = self.next_bits(31)
        if bound & (bound - 1) == 0:
            return _int32((bound * r) >> 31)
        u = r
        while True:
            r = u % bound
            if _int32(u - r + bound - 1) >= 0:
                return r
            u = self.next_bits(31)


class RoundRobin:
    """``f(split, iterator)`` for repartition: yields (target partition, chunk of up to
    ``chunk`` records), chunks dealt round robin as PySpark deals them (chunk < 1 means
    the whole partition is one chunk).

    Examples
    --------
    >>> list(RoundRobin(4, 3)(2, iter(range(7))))
    [(0, [0, 1, 2]), (1, [3, 4, 5]), (2, [6])]
    """

    def __init__(self, numPartitions, chunk=10):
        self.numPartitions = numPartitions
        self.chunk = chunk

    def __call__(self, split, iterator):
        n = self.numPartitions
        position = _XORShiftRandom(split).next_int(n)
        if self.chunk < 1:
            chunks = iter([list(iterator)])
        else:
            it = iter(iterator)
            chunks = iter(lambda: list(islice(it, self.chunk)), [])
        for records in chunks:
            if records:
                position = _int32(position + 1)
                yield position % n, records
