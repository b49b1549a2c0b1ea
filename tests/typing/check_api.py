"""What a type checker infers for a user's program (make lint runs mypy --strict on this
file; it is never executed). Each assert_type states the type PySpark 4.3's stubs give."""

from __future__ import annotations

from collections.abc import Iterable

from typing_extensions import assert_type

from ember import SparkConf, SparkContext
from ember.rdd import RDD
from ember.resultiterable import ResultIterable


def program(sc: SparkContext) -> None:
    lines = sc.textFile("in.txt")
    assert_type(lines, RDD[str])
    words = lines.flatMap(str.split)
    assert_type(words, RDD[str])
    pairs = words.map(lambda w: (w, 1))
    assert_type(pairs, RDD[tuple[str, int]])
    counts = pairs.reduceByKey(lambda a, b: a + b)
    assert_type(counts, RDD[tuple[str, int]])
    assert_type(counts.collect(), list[tuple[str, int]])
    assert_type(counts.collectAsMap(), dict[str, int])
    assert_type(counts.sortByKey(), RDD[tuple[str, int]])
    assert_type(counts.keys(), RDD[str])
    assert_type(counts.mapValues(float), RDD[tuple[str, float]])
    assert_type(counts.groupByKey(), RDD[tuple[str, Iterable[int]]])
    assert_type(counts.join(sc.parallelize([("a", 2.0)])), RDD[tuple[str, tuple[int, float]]])
    assert_type(counts.leftOuterJoin(sc.parallelize([("a", b"x")])), RDD[tuple[str, tuple[int, bytes | None]]])
    assert_type(counts.cogroup(counts), RDD[tuple[str, tuple[ResultIterable[int], ResultIterable[int]]]])
    nums = sc.parallelize(range(10), 2)
    assert_type(nums, RDD[int])
    assert_type(nums.max(), int)
    assert_type(nums.top(3), list[int])
    assert_type(nums.takeOrdered(3, key=lambda x: -x), list[int])
    assert_type(nums.sum(), int)
    assert_type(nums.mean(), float)
    assert_type(nums.count(), int)
    assert_type(nums.first(), int)
    assert_type(nums.glom(), RDD[list[int]])
    assert_type(nums.zipWithIndex(), RDD[tuple[int, int]])
    assert_type(nums.aggregate(0.0, lambda acc, x: acc + x, lambda a, b: a + b), float)
    b = sc.broadcast({"k": 1})
    assert_type(b.value, dict[str, int])
    acc = sc.accumulator(0)
    acc.add(1)
    assert_type(acc.value, int)
    conf = SparkConf()
    assert_type(conf.get("spark.master"), str | None)
    assert_type(conf.get("spark.master", "local"), str)

