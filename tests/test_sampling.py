"""sample, randomSplit and sampleByKey: seeded results follow PySpark's per-partition
generators exactly (checked here against a reference written from the documented
algorithm, and against PySpark itself in test_differential.py)."""
import math
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ember import PythonException


def reference_generator(seed, split):
    rng = random.Random(seed ^ split)
    for _ in range(10):
        rng.randint(0, 1)
    return rng


def reference_poisson(rng, mean):
    k = 0
    if mean < 20.0:
        limit, p = math.exp(-mean), rng.random()
        while p > limit:
            k += 1
            p *= rng.random()
    else:
        p = rng.expovariate(mean)
        while p < 1.0:
            k += 1
            p += rng.expovariate(mean)
    return k


def reference_sample(layout, with_replacement, fraction, seed):
    out = []
    for split, part in enumerate(layout):
        rng = reference_generator(seed, split)
        for x in part:
            if with_replacement:
                out.extend([x] * reference_poisson(rng, fraction))
            elif rng.random() < fraction:
                out.append(x)
    return out


@settings(max_examples=25, deadline=None)
@given(n=st.integers(0, 300), slices=st.integers(1, 6), fraction=st.floats(0, 1.2),
       seed=st.integers(0, 2 ** 40), with_replacement=st.booleans())
def test_sample_matches_reference_algorithm(sc, n, slices, fraction, seed, with_replacement):
    rdd = sc.parallelize(range(n), slices)
    layout = rdd.glom().collect()
    got = rdd.sample(with_replacement, fraction, seed).collect()
    assert got == reference_sample(layout, with_replacement, fraction, seed)


def test_sample_large_poisson_mean_uses_exponential_gaps(sc):
    rdd = sc.parallelize(range(40), 2)
    got = rdd.sample(True, 30.0, 11).collect()
    assert got == reference_sample(rdd.glom().collect(), True, 30.0, 11)
    counts = Counter(got)
    assert abs(sum(counts.values()) / 40 - 30.0) < 3.0


def test_sample_edges_and_errors(sc):
    rdd = sc.parallelize(range(50), 3)
    assert rdd.sample(False, 0.0, 1).collect() == []
    assert rdd.sample(False, 1.0, 1).collect() == list(range(50))
    assert rdd.sample(True, 0.0, 1).collect() == []
    with pytest.raises(ValueError, match="^Fraction must be nonnegative.$"):
        rdd.sample(False, -0.01)
    with pytest.raises(ValueError, match="Fraction must be nonnegative."):
        rdd.sample(True, float("nan"))


def test_sample_without_seed_is_fixed_when_defined(sc):
    sampled = sc.parallelize(range(1000), 2).sample(False, 0.5)
    assert sampled.collect() == sampled.collect()
    others = {tuple(sc.parallelize(range(1000), 2).sample(False, 0.5).collect()) for _ in range(3)}
    assert len(others) > 1


def test_sample_keeps_partitioner(sc):
    parted = sc.parallelize([(i, i) for i in range(20)]).partitionBy(3)
    assert parted.sample(False, 0.5, 2).partitioner == parted.partitioner
    assert parted.sampleByKey(False, {i: 0.5 for i in range(20)}, 2).partitioner == parted.partitioner
    assert all(s.partitioner == parted.partitioner for s in parted.randomSplit([1, 1], 3))


@settings(max_examples=20, deadline=None)
@given(n=st.integers(0, 200), slices=st.integers(1, 5),
       weights=st.lists(st.floats(0, 10), min_size=1, max_size=5).filter(lambda w: sum(w) > 0),
       seed=st.integers(0, 2 ** 32 - 1))
def test_random_split_partitions_the_data(sc, n, slices, weights, seed):
    rdd = sc.parallelize(range(n), slices)
    splits = [s.collect() for s in rdd.randomSplit(weights, seed)]
    assert len(splits) == len(weights)
    assert sorted(x for s in splits for x in s) == list(range(n))
    for s, w in zip(splits, weights):
        if w == 0:
            assert s == []


def test_random_split_follows_cumulative_weights(sc):
    rdd = sc.parallelize(range(300), 3)
    layout = rdd.glom().collect()
    a, b = rdd.randomSplit([1, 3], 42)
    want_a, want_b = [], []
    for split, part in enumerate(layout):
        rng = reference_generator(42, split)
        for x in part:
            (want_a if rng.random() < 0.25 else want_b).append(x)
    assert a.collect() == want_a and b.collect() == want_b


def test_random_split_errors(sc):
    rdd = sc.parallelize(range(5))
    with pytest.raises(ValueError, match="Weights must be nonnegative"):
        rdd.randomSplit([0.5, -0.5])
    with pytest.raises(ValueError, match="Sum of weights must be positive"):
        rdd.randomSplit([0, 0])


def test_sample_by_key(sc):
    fractions = {"a": 0.2, "b": 0.0, "c": 1.0}
    rdd = sc.parallelize([(k, i) for i in range(500) for k in "abc"], 4)
    got = rdd.sampleByKey(False, fractions, 5).collect()
    counts = Counter(k for k, _ in got)
    assert counts["b"] == 0 and counts["c"] == 500 and 50 < counts["a"] < 150
    layout = rdd.glom().collect()
    want = []
    for split, part in enumerate(layout):
        rng = reference_generator(5, split)
        want.extend(kv for kv in part if rng.random() < fractions[kv[0]])
    assert got == want
    with_replacement = rdd.sampleByKey(True, {"a": 2.0, "b": 0.5, "c": 0.0}, 5).collect()
    counts = Counter(k for k, _ in with_replacement)
    assert counts["c"] == 0 and 800 < counts["a"] < 1200 and 150 < counts["b"] < 350


def test_sample_by_key_errors(sc):
    with pytest.raises(AssertionError, match="Negative fraction value"):
        sc.parallelize([("a", 1)]).sampleByKey(False, {"a": -0.5})
    with pytest.raises(PythonException, match="KeyError"):
        sc.parallelize([("a", 1), ("z", 2)]).sampleByKey(False, {"a": 0.5}, 1).collect()
