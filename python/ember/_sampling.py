"""Seeded per-partition sampling with PySpark's random number sequence.

A partition's generator is ``random.Random(seed ^ partitionIndex)`` after ten warm-up
``randint(0, 1)`` draws; without replacement an element is kept when the next
``random()`` is below the fraction, with replacement it is repeated a Poisson number of
times. Because the draws are the same as PySpark's, the same seed picks the same
elements from the same partition layout.
"""

import math
import random
import sys

__all__ = ["sample_partition", "fraction_for_sample_size", "new_seed"]


def new_seed():
    """A seed for callers that were given none."""
    return random.randint(0, sys.maxsize)


def _generator(seed, split):
    rng = random.Random(seed ^ split)
    for _ in range(10):  # the seeds of neighbouring partitions are close: mix them
        rng.randint(0, 1)
    return rng


def _poisson(rng, mean):
    if mean < 20.0:  # Knuth: multiply uniforms until below exp(-mean)
        limit = math.exp(-mean)
        p = rng.random()
        k = 0
        while p > limit:
            k += 1
            p *= rng.random()
        return k
    p = rng.expovariate(mean)  # add exponential gaps until past 1
    k = 0
    while p < 1.0:
        k += 1
        p += rng.expovariate(mean)
    return k


def sample_partition(split, iterator, withReplacement, fraction, seed):
    """Yields the sampled elements of one partition.

    Examples
    --------
    >>> list(sample_partition(0, range(10), False, 0.5, 42)) == list(sample_partition(0, range(10), False, 0.5, 42))
    True
    >>> list(sample_partition(0, range(10), False, 1.0, 1))
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    """
    rng = _generator(seed, split)
    if withReplacement:
        for x in iterator:
            for _ in range(_poisson(rng, fraction)):
                yield x
    else:
        for x in iterator:
            if rng.random() < fraction:
                yield x


def fraction_for_sample_size(num, total, withReplacement):
    """A sampling fraction that yields at least num of total elements with
    probability 99.99%: Poisson bounds (5 standard deviations, 9 below 12 elements)
    with replacement, a binomial bound (delta 5e-5) without.

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
