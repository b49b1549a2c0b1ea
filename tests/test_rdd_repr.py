"""RDD reprs for the REPL: class, id, name, partitions, the call that made it, lineage."""
import re


def test_repr_of_a_word_count(sc, tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("a b\nb\n")
    lines = sc.textFile(str(path))
    counts = lines.flatMap(str.split).map(lambda w: (w, 1)).reduceByKey(lambda a, b: a + b)
    counts.setName("counts")
    text = repr(counts)
    m = re.fullmatch(r"PipelinedRDD\[(\d+)\] 'counts' \(2 partitions\) from reduceByKey at "
                     r"test_rdd_repr.py:(\d+); lineage: textFile -> flatMap -> map -> shuffle -> mapPartitions",
                     text)
    assert m, text
    assert int(m.group(1)) == counts.id()
    assert repr(lines).startswith(f"RDD[{lines.id()}] '{path}' (2 partitions) from textFile at test_rdd_repr.py:")
    assert repr(lines).endswith("; lineage: textFile")
    assert sorted(counts.collect()) == [("a", 1), ("b", 2)]   # repr does not disturb the job


def test_repr_lineage_of_several_parents_caching_and_long_chains(sc):
    a = sc.parallelize(range(4), 2)
    b = a.map(lambda x: x * 2).cache()
    u = a.union(b.filter(bool))
    assert repr(u).endswith("; lineage: union(parallelize, parallelize -> map (cached) -> filter)")
    z = sc.union([a, a]).coalesce(1)
    assert repr(z).endswith("lineage: union(parallelize, parallelize) -> coalesce")
    assert "(1 partition) from coalesce" in repr(z)
    long = a
    for _ in range(20):
        long = long.map(lambda x: x + 1)
    assert repr(long).endswith("lineage: parallelize -> map -> ... 15 more -> map -> map -> map -> map")
    assert long.sum() == sum(range(4)) + 4 * 20
