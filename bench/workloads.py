"""The benchmark workloads, each written for the four engines as a user would write it.

ember and PySpark share one implementation (``spark``): the same program, only the
import differs, which is the point of ember. Dask Bag (``dask``) and plain
single-process Python (``python``, the reference floor) have their own, idiomatic for
that tool. An implementation returns the workload's output (or writes it to ``out``);
``digest`` reduces that output to a small, engine-independent summary that the
runner compares across engines.

The start-up workload is different: it is a whole program (``STARTUP``), timed from
process spawn to exit.
"""

import hashlib
import os
import re
import zlib
from collections import Counter, defaultdict

import datagen

# Dask reads text in blocks of Hadoop's local block size, so all engines cut the
# input into the same number of partitions.
DASK_BLOCKSIZE = 32 << 20


class Unsupported(Exception):
    """The engine has no way to run this workload (not a failure)."""


# ---- sizes ---------------------------------------------------------------------------

class Sizes:
    """The data behind the workloads: the full set, or a tiny one for --quick."""

    def __init__(self, text_mb, sort_records, group_records, group_keys, join_left,
                 join_right, join_keys, tasks, big_text_mb=4096, hot_values=50_000_000,
                 big_sort_records=100_000_000):
        self.text_mb = text_mb
        self.sort_records = sort_records
        self.group_records = group_records
        self.group_keys = group_keys
        self.join_left = join_left
        self.join_right = join_right
        self.join_keys = join_keys
        self.tasks = tasks
        self.big_text_mb = big_text_mb
        self.hot_values = hot_values
        self.big_sort_records = big_sort_records

    @classmethod
    def full(cls, text_mb=100):
        return cls(text_mb=text_mb, sort_records=10_000_000, group_records=4_000_000,
                   group_keys=500_000, join_left=2_000_000, join_right=1_000_000,
                   join_keys=1_000_000, tasks=2000)

    @classmethod
    def quick(cls):
        return cls(text_mb=1, sort_records=50_000, group_records=50_000, group_keys=5_000,
                   join_left=20_000, join_right=10_000, join_keys=10_000, tasks=100,
                   big_text_mb=8, hot_values=200_000, big_sort_records=200_000)

    def specs(self, big=False):
        """Dataset name -> datagen spec."""
        s = {
            "text": datagen.text_spec(self.text_mb),
            # as big, most words (two thirds) random tokens: high-cardinality word count.
            "hightext": datagen.hightext_spec(self.text_mb),
            # (int, int) records, keys uniform over 2**31: sortByKey.
            "sort": datagen.kv_spec(self.sort_records, 1 << 31, "int", seed=3),
            # string keys, one hot key carrying a quarter of the records: groupByKey.
            "group": datagen.kv_spec(self.group_records, self.group_keys, "str", hot=0.25,
                                     seed=4),
            # int keys: every left record meets ~join_right/(2*join_keys) right records.
            "join_left": datagen.kv_spec(self.join_left, self.join_keys, "int", seed=5),
            "join_right": datagen.kv_spec(self.join_right, 2 * self.join_keys, "int",
                                          seed=6),
        }
        if big:
            # ~12 M distinct words per GiB: ~50 M in the full 4 GiB.
            s["big_text"] = datagen.bigtext_spec(self.big_text_mb)
            # 100 M (int, int) records, about 2 GB of text: sortByKey under a 256 MiB budget.
            s["big_sort"] = datagen.kv_spec(self.big_sort_records, 1 << 31, "int", seed=8)
        return s

    def as_dict(self):
        return dict(vars(self))


# ---- helpers for digests ----------------------------------------------------------------

def _pairs_digest(pairs):
    """Summary of a collection of (key, value) pairs with unique keys."""
    pairs = list(pairs)
    d = dict(pairs)
    h = hashlib.sha256()
    for k, v in sorted(d.items()):
        h.update(repr((k, v)).encode())
        h.update(b"\n")
    return {"keys": len(d), "duplicate_keys": len(pairs) - len(d), "sha256": h.hexdigest()[:16]}


def _part_files(out):
    """The data files of an output directory, in partition order."""
    names = [n for n in os.listdir(out) if not n.startswith(("_", "."))]
    return [os.path.join(out, n)
            for n in sorted(names, key=lambda n: [int(t) if t.isdigit() else t
                                                   for t in re.split(r"(\d+)", n)])]


def _lines(out):
    for path in _part_files(out):
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.rstrip("\n")
                if line:
                    yield line


def _multiset_digest(lines):
    """Count and an order-independent checksum of lines (sum of CRC-32s)."""
    n = 0
    crc_sum = 0
    crc = zlib.crc32
    for line in lines:
        n += 1
        crc_sum += crc(line.encode())
    return {"records": n, "crc_sum": crc_sum}


# ---- workloads --------------------------------------------------------------------------

class Workload:
    name = ""
    title = ""
    data = ()            # dataset names it reads
    writes_output = False
    repeats = 3          # full run; --quick uses 1
    dask_unsupported = None

    def spark(self, sc, d, out, lap):
        raise NotImplementedError

    def dask(self, d, out, lap):
        raise Unsupported(self.dask_unsupported or "not written for dask")

    def python(self, d, out, lap):
        raise NotImplementedError

    def digest(self, result, out):
        return result


class WordCount(Workload):
    name = "wordcount"
    title = "word count"
    data = ("text",)
    text = "text"

    def spark(self, sc, d, out, lap):
        counts = (sc.textFile(d[self.text])
                    .flatMap(lambda line: line.split())
                    .map(lambda word: (word, 1))
                    .reduceByKey(lambda a, b: a + b))
        return counts.collect()

    def dask(self, d, out, lap):
        import dask.bag as db
        lines = db.read_text(d[self.text], blocksize=DASK_BLOCKSIZE)
        return lines.map(str.split).flatten().frequencies().compute()

    def python(self, d, out, lap):
        counts = Counter()
        with open(d[self.text], encoding="utf-8") as f:
            for line in f:
                counts.update(line.split())
        return counts.items()

    def digest(self, result, out):
        result = list(result)
        s = _pairs_digest(result)
        s["words"] = sum(n for _, n in result)
        return s


class HighCardWordCount(WordCount):
    """Word count where most words occur once: the map-side combine must not cost more
    than it saves (compare its MB/s with ``wordcount``'s)."""
    name = "wordcount_highcard"
    title = "word count, high-cardinality text"
    data = ("hightext",)
    text = "hightext"


class BigWordCount(WordCount):
    """Word count over 4 GiB of text with ~50 M distinct words (``datagen.bigtext_spec``)
    under a 256 MiB budget. The counts are written out, not collected: 50 M pairs do
    not fit a 512 MiB process tree, and a user with that many keys writes them."""
    name = "wordcount_4g"
    title = "word count, 4 GiB, ~50 M distinct words, 256 MiB budget"
    data = ("big_text",)
    text = "big_text"
    repeats = 1
    writes_output = True
    # The budget, for both Spark-API engines: each Python worker spills its aggregation
    # past spark.python.worker.memory. (PySpark's JVM keeps its default heap: it does
    # not start under 450 MiB.) Dask Bag and plain Python have no such setting.
    spark_conf = {"spark.python.worker.memory": "256m"}

    def spark(self, sc, d, out, lap):
        counts = (sc.textFile(d[self.text])
                    .flatMap(lambda line: line.split())
                    .map(lambda word: (word, 1))
                    .reduceByKey(lambda a, b: a + b))
        counts.saveAsTextFile(out)

    def dask(self, d, out, lap):
        import dask.bag as db
        lines = db.read_text(d[self.text], blocksize=DASK_BLOCKSIZE)
        counts = lines.map(str.split).flatten().frequencies()
        counts.map(str).to_textfiles(os.path.join(out, "*.part"), last_endline=True)

    def python(self, d, out, lap):
        os.makedirs(out)
        with open(os.path.join(out, "part-00000"), "w", encoding="utf-8") as f:
            f.writelines(f"{kv}\n" for kv in WordCount.python(self, d, out, lap))

    def digest(self, result, out):
        return _multiset_digest(_lines(out))


class Tasks(Workload):
    name = "tasks"
    title = "task overhead"
    repeats = 5

    def spark(self, sc, d, out, lap):
        n = d["tasks"]
        return sc.parallelize(range(n), n).count()

    def dask(self, d, out, lap):
        import dask.bag as db
        n = d["tasks"]
        return db.from_sequence(range(n), npartitions=n).count().compute()

    def python(self, d, out, lap):
        parts = [range(i, i + 1) for i in range(d["tasks"])]
        return sum(len(p) for p in parts)

    def digest(self, result, out):
        return {"count": result}


def _parse_ints(line):
    k, v = line.split("\t")
    return int(k), int(v)


class SortByKey(Workload):
    name = "sort"
    title = "sortByKey, (int, int)"
    data = ("sort",)
    writes_output = True
    dask_unsupported = "dask.bag has no sort (a Dask user would switch to dask.dataframe)"

    def spark(self, sc, d, out, lap):
        pairs = sc.textFile(d[self.data[0]]).map(lambda line: tuple(map(int, line.split("\t"))))
        pairs.sortByKey().saveAsTextFile(out)

    def python(self, d, out, lap):
        with open(d[self.data[0]], encoding="utf-8") as f:
            pairs = [tuple(map(int, line.split("\t"))) for line in f]
        pairs.sort(key=lambda kv: kv[0])
        os.makedirs(out)
        with open(os.path.join(out, "part-00000"), "w", encoding="utf-8") as f:
            f.writelines(f"{kv}\n" for kv in pairs)

    def digest(self, result, out):
        keys = hashlib.sha256()
        last = None
        ordered = True

        def checked(lines):
            nonlocal last, ordered
            for line in lines:
                k = int(line[1:line.index(",")])
                if last is not None and k < last:
                    ordered = False
                last = k
                keys.update(b"%d," % k)
                yield line

        s = _multiset_digest(checked(_lines(out)))
        s["sorted_by_key"] = ordered
        s["keys_sha256"] = keys.hexdigest()[:16]
        return s


class BigSortByKey(SortByKey):
    """sortByKey over about 2 GB of (int, int) lines (100 M pairs in the full run)
    under a 256 MiB worker budget: each reduce partition's sort spills sorted runs
    and merges them back. Compare the peak RSS of the process tree with 512 MB."""
    name = "sort_2g"
    title = "sortByKey, 2 GB, 256 MiB budget"
    data = ("big_sort",)
    repeats = 1
    spark_conf = {"spark.python.worker.memory": "256m"}

    def python(self, d, out, lap):
        if os.path.getsize(d["big_sort"]) > 1 << 30:
            # 100 M tuples of two ints take about 12 GB in one Python process.
            raise Unsupported("a plain in-memory Python sort of 2 GB of pairs needs ~12 GB of memory")
        super().python(d, out, lap)


class GroupByKeyHot(Workload):
    name = "groupbykey_hot"
    title = "groupByKey, one hot key"
    data = ("group",)

    def spark(self, sc, d, out, lap):
        pairs = sc.textFile(d["group"]).map(lambda line: line.split("\t"))
        groups = (pairs.map(lambda kv: (kv[0], int(kv[1])))
                       .groupByKey()
                       .mapValues(lambda vs: (len(vs), sum(vs))))
        return groups.collect()

    def dask(self, d, out, lap):
        import dask.bag as db
        pairs = db.read_text(d["group"], blocksize=DASK_BLOCKSIZE).map(lambda line: line.split("\t"))
        groups = (pairs.map(lambda kv: (kv[0], int(kv[1])))
                       .groupby(lambda kv: kv[0])
                       .map(lambda g: (g[0], (len(g[1]), sum(v for _, v in g[1])))))
        return groups.compute()

    def python(self, d, out, lap):
        groups = defaultdict(list)
        with open(d["group"], encoding="utf-8") as f:
            for line in f:
                k, v = line.split("\t")
                groups[k].append(int(v))
        return [(k, (len(vs), sum(vs))) for k, vs in groups.items()]

    def digest(self, result, out):
        return _pairs_digest(result)


class GroupByKeyHuge(Workload):
    """groupByKey where one key holds all the values (50 M in the full run) under a
    256 MiB worker budget: the key's values cannot fit in memory; the user's function
    reads them back in order."""
    name = "groupbykey_50m"
    title = "groupByKey, 50 M values of one key, 256 MiB budget"
    data = ()
    repeats = 1
    dask_unsupported = "Dask Bag's groupby holds a group in memory"
    spark_conf = {"spark.python.worker.memory": "256m"}

    def spark(self, sc, d, out, lap):
        n = d["hot_values"]
        pairs = sc.parallelize(range(n), 8).map(lambda i: (0, i))
        return pairs.groupByKey().mapValues(lambda vs: (len(vs), sum(vs))).collect()

    def python(self, d, out, lap):
        values = defaultdict(list)  # the plain program: every value in one list
        for i in range(d["hot_values"]):
            values[0].append(i)
        return [(k, (len(vs), sum(vs))) for k, vs in values.items()]

    def digest(self, result, out):
        return {"groups": sorted(result)}


class Join(Workload):
    name = "join"
    title = "join, int keys"
    data = ("join_left", "join_right")
    writes_output = True

    def spark(self, sc, d, out, lap):
        left = sc.textFile(d["join_left"]).map(lambda line: tuple(map(int, line.split("\t"))))
        right = sc.textFile(d["join_right"]).map(lambda line: tuple(map(int, line.split("\t"))))
        left.join(right).saveAsTextFile(out)

    def dask(self, d, out, lap):
        # Dask Bag joins against one in-memory partition (it has no shuffle join of two
        # bags); the smaller side is read whole, as the Dask documentation advises.
        import dask.bag as db
        left = db.read_text(d["join_left"], blocksize=DASK_BLOCKSIZE).map(_parse_ints)
        right = db.read_text(d["join_right"], blocksize=None).map(_parse_ints)
        joined = left.join(right, on_self=lambda kv: kv[0], on_other=lambda kv: kv[0])
        (joined.map(lambda rl: (rl[1][0], (rl[1][1], rl[0][1])))
               .map(str)
               .to_textfiles(os.path.join(out, "*.part"), last_endline=True))

    def python(self, d, out, lap):
        right = defaultdict(list)
        with open(d["join_right"], encoding="utf-8") as f:
            for line in f:
                k, v = line.split("\t")
                right[int(k)].append(int(v))
        os.makedirs(out)
        with open(d["join_left"], encoding="utf-8") as f, \
                open(os.path.join(out, "part-00000"), "w", encoding="utf-8") as o:
            for line in f:
                k, v = line.split("\t")
                k = int(k)
                for w in right.get(k, ()):
                    o.write(f"{(k, (int(v), w))}\n")

    def digest(self, result, out):
        return _multiset_digest(_lines(out))


class CacheReuse(Workload):
    name = "cache"
    title = "cache, then 3 counts"
    data = ("text",)

    def spark(self, sc, d, out, lap):
        lines = sc.textFile(d["text"]).map(lambda line: line.split()).cache()
        counts = []
        for i in range(3):
            counts.append(lines.count())
            lap(f"count{i + 1}")
        return counts

    def dask(self, d, out, lap):
        import dask.bag as db
        lines = db.read_text(d["text"], blocksize=DASK_BLOCKSIZE).map(str.split).persist()
        lap("persist")
        counts = []
        for i in range(3):
            counts.append(lines.count().compute())
            lap(f"count{i + 1}")
        return counts

    def python(self, d, out, lap):
        with open(d["text"], encoding="utf-8") as f:
            lines = [line.split() for line in f]
        counts = []
        for i in range(3):
            counts.append(len(lines))
            lap(f"count{i + 1}")
        return counts

    def digest(self, result, out):
        return {"counts": list(result)}


class Startup(Workload):
    """A whole program: import, create a context, count 10 numbers, stop, exit."""
    name = "startup"
    title = "start-up (whole process)"
    repeats = 7


# The start-up program of each engine, run as `python -c`; prints the count.
STARTUP = {
    "ember": (
        "from ember import SparkContext\n"
        "sc = SparkContext('local[2]', 'startup')\n"
        "print(sc.parallelize(range(10), 2).count())\n"
        "sc.stop()\n"),
    "pyspark": (
        "from pyspark import SparkContext\n"
        "sc = SparkContext('local[2]', 'startup')\n"
        "print(sc.parallelize(range(10), 2).count())\n"
        "sc.stop()\n"),
    "dask": (
        "import dask.bag as db\n"
        "print(db.from_sequence(range(10), npartitions=2).count()"
        ".compute(scheduler='processes', num_workers=2))\n"),
    "python": (
        "print(len(list(range(10))))\n"),
}

ALL = [Startup(), WordCount(), HighCardWordCount(), Tasks(), SortByKey(), GroupByKeyHot(), Join(),
       CacheReuse(), BigWordCount(), GroupByKeyHuge(), BigSortByKey()]
BY_NAME = {w.name: w for w in ALL}
BIG = {"wordcount_4g", "groupbykey_50m", "sort_2g"}
