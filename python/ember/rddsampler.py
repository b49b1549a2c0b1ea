"""Seeded per-partition samplers behind ``sample``, ``randomSplit`` and ``sampleByKey``.

Each sampler is a function ``f(partitionIndex, iterator)`` run by the workers. A
partition draws from its own ``random.Random(seed ^ partitionIndex)`` after ten
warm-up ``randint(0, 1)`` draws (neighbouring seeds would otherwise start alike),
and makes the same draws, in the same order, as PySpark's samplers. With the same
seed and the same partition layout the results are therefore exactly PySpark's.

- Without replacement an element is kept when ``random() < fraction``.
- With replacement an element is repeated a Poisson(fraction) number of times:
  Knuth's product of uniforms for a mean below 20, sums of exponential gaps above.
- ``randomSplit`` keeps the elements whose draw falls in ``[lower, upper)``; every
  split uses the same seed, so the splits partition the data.
"""

import math
import random
import sys

__all__ = ["default_seed", "bernoulli", "poisson", "in_range", "stratified"]


def default_seed():
    """A seed for a sampler that was given none (drawn on the driver)."""
    return random.randint(0, sys.maxsize)


def partition_random(seed, split):
    """The generator of partition ``split``: seeded with ``seed ^ split``, warmed up."""
    rng = random.Random(seed ^ split)
    for _ in range(10):
        rng.randint(0, 1)
    return rng


def poisson_draw(rng, mean):
    """How many copies of an element a with-replacement sample keeps."""
    k = 0
    if mean < 20.0:
        limit = math.exp(-mean)
        p = rng.random()
        while p > limit:
            k += 1
            p *= rng.random()
    else:
        p = rng.expovariate(mean)
        while p < 1.0:
            k += 1
            p += rng.expovariate(mean)
    return k


def bernoulli(fraction, seed):
    """Keeps each element with probability ``fraction``."""

    def sample(split, iterator):
        draw = partition_random(seed, split).random
        for x in iterator:
            if draw() < fraction:
                yield x

    return sample


def poisson(fraction, seed):
    """Repeats each element a Poisson(``fraction``) number of times."""

    def sample(split, iterator):
        rng = partition_random(seed, split)
        for x in iterator:
            for _ in range(poisson_draw(rng, fraction)):
                yield x

    return sample


def in_range(lower, upper, seed):
    """Keeps the elements whose uniform draw lies in ``[lower, upper)``."""

    def sample(split, iterator):
        draw = partition_random(seed, split).random
        for x in iterator:
            if lower <= draw() < upper:
                yield x

    return sample


def stratified(withReplacement, fractions, seed):
    """Samples (key, value) pairs with the fraction ``fractions[key]`` of their key."""

    def sample(split, iterator):
        rng = partition_random(seed, split)
        if withReplacement:
            for key, value in iterator:
                for _ in range(poisson_draw(rng, fractions[key])):
                    yield key, value
        else:
            draw = rng.random
            for key, value in iterator:
                if draw() < fractions[key]:
                    yield key, value

    return sample
