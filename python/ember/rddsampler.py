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

from __future__ import annotations

import math
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from typing import Any

__all__ = ["default_seed", "bernoulli", "poisson", "in_range", "stratified", "fraction_for_sample_size"]


def default_seed():
    """A seed for a sampler that was given none (drawn on the driver).

    Examples
    --------
    >>> 0 <= default_seed() <= sys.maxsize
    True
    """
    import random  # here, not at import: random is a large part of ember's import time
    return random.randint(0, sys.maxsize)


def partition_random(seed, split):
    """The generator of partition ``split``: seeded with ``seed ^ split``, warmed up.

    Examples
    --------
    >>> a, b = partition_random(7, 1), partition_random(6, 0)
    >>> a.random() == b.random()
    True
    """
    import random
    rng = random.Random(seed ^ split)
    for _ in range(10):
        rng.randint(0, 1)
    return rng


def poisson_draw(rng, mean):
    """How many copies of an element a with-replacement sample keeps: a draw from
    the Poisson distribution with the given mean.

    Examples
    --------
    >>> rng = partition_random(1, 0)
    >>> draws = [poisson_draw(rng, 3.0) for _ in range(20000)]
    >>> 2.9 < sum(draws) / len(draws) < 3.1
    True
    """
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


def bernoulli(fraction: float, seed: int) -> Callable[[int, Iterable[Any]], Iterator[Any]]:
    """Keeps each element with probability ``fraction``.

    Examples
    --------
    >>> list(bernoulli(0.5, 42)(0, range(10)))
    [0, 1, 3, 4, 7]
    >>> sc.parallelize(range(10), 1).sample(False, 0.5, 42).collect()
    [0, 1, 3, 4, 7]
    """

    def sample(split, iterator):
        draw = partition_random(seed, split).random
        for x in iterator:
            if draw() < fraction:
                yield x

    return sample


def poisson(fraction: float, seed: int) -> Callable[[int, Iterable[Any]], Iterator[Any]]:
    """Repeats each element a Poisson(``fraction``) number of times.

    Examples
    --------
    >>> list(poisson(1.0, 42)(0, "abcdef"))
    ['c', 'e']
    """

    def sample(split, iterator):
        rng = partition_random(seed, split)
        for x in iterator:
            for _ in range(poisson_draw(rng, fraction)):
                yield x

    return sample


def in_range(lower, upper, seed):
    """Keeps the elements whose uniform draw lies in ``[lower, upper)``.

    Examples
    --------
    >>> list(in_range(0.0, 0.5, 42)(0, range(10))), list(in_range(0.5, 1.0, 42)(0, range(10)))
    ([0, 1, 3, 4, 7], [2, 5, 6, 8, 9])
    """

    def sample(split, iterator):
        draw = partition_random(seed, split).random
        for x in iterator:
            if lower <= draw() < upper:
                yield x

    return sample


def stratified(withReplacement, fractions, seed):
    """Samples (key, value) pairs with the fraction ``fractions[key]`` of their key.

    Examples
    --------
    >>> list(stratified(False, {"a": 1.0, "b": 0.0}, 3)(0, [("a", 1), ("b", 2), ("a", 3)]))
    [('a', 1), ('a', 3)]
    """

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


def fraction_for_sample_size(num, total, withReplacement):
    """A sampling fraction that yields at least num of total elements with
    probability 99.99% (takeSample): Poisson bounds (5 standard deviations, 9 below 12
    elements) with replacement, a binomial bound (delta 5e-5) without.

    Examples
    --------
    >>> round(fraction_for_sample_size(10, 1000, False), 4)
    0.0371
    """
    fraction = float(num) / total
    if withReplacement:
        sd = 9 if num < 12 else 5
        return fraction + sd * math.sqrt(fraction / total)
    gamma = -math.log(0.00005) / total
    return min(1, fraction + gamma + math.sqrt(gamma * gamma + 2 * gamma * fraction))
