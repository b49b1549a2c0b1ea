"""Word count end to end over a generated text of many splits equals Counter."""
import collections
import random

from operator import add

import pytest


def make_text(path, lines=20000, seed=5):
    rnd = random.Random(seed)
    vocab = ["w%d" % i for i in range(3000)]
    weights = [1.0 / (i + 1) for i in range(len(vocab))]
    with open(path, "w", newline="") as f:
        for i in range(lines):
            words = rnd.choices(vocab, weights, k=rnd.randint(0, 15))
            sep = rnd.choice(["\n", "\n", "\r\n"])
            f.write(" ".join(words) + sep)
    return path


@pytest.mark.slow
def test_word_count_equals_counter(sc, tmp_path):
    path = make_text(tmp_path / "words.txt")
    with open(path, newline="") as f:
        expected = collections.Counter(w for line in f for w in line.split())
    rdd = sc.textFile(str(path), 7)
    assert rdd.getNumPartitions() >= 7
    counts = rdd.flatMap(lambda line: line.split()).map(lambda w: (w, 1)).reduceByKey(add)
    assert dict(counts.collect()) == dict(expected)
    assert counts.getNumPartitions() == rdd.getNumPartitions()
    assert sum(n for _, n in counts.collect()) == sum(expected.values())


@pytest.mark.slow
def test_word_count_over_directory_and_gzip(sc, tmp_path):
    import gzip
    d = tmp_path / "in"
    d.mkdir()
    make_text(d / "a.txt", 3000, seed=1)
    make_text(d / "b.txt", 3000, seed=2)
    with open(d / "b.txt", "rb") as src, gzip.open(d / "c.txt.gz", "wb") as dst:
        dst.write(src.read())
    (d / "_SUCCESS").write_text("ignored")
    (d / ".hidden").write_text("ignored too")
    expected = collections.Counter()
    for name in ["a.txt", "b.txt", "b.txt"]:
        with open(d / name, newline="") as f:
            expected.update(w for line in f for w in line.split())
    counts = sc.textFile(str(d)).flatMap(str.split).map(lambda w: (w, 1)).reduceByKey(add, 5)
    assert dict(counts.collect()) == dict(expected)
    pattern = sc.textFile(str(d / "*.txt"))
    assert pattern.count() == 6000
