"""StatCounter: count, mean, variance, min and max of numbers in one pass, as
``pyspark.statcounter.StatCounter``.

The running mean and the sum of squared deviations (m2) are updated with Welford's
method; two counters merge with the parallel formula, so partition counters can be
combined in any order. ``RDD.stats()`` builds one counter per partition and merges
them on the driver.

As in PySpark, max, min and the standard deviations use numpy's ``maximum``,
``minimum`` and ``sqrt`` when numpy is installed, so a counter over numpy arrays
works element-wise (and max/min of numbers come back as numpy floats); without
numpy they are Python's ``max``, ``min`` and ``math.sqrt``.
"""

from __future__ import annotations

import copy
import math

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

__all__ = ["StatCounter"]

_ops: tuple[Callable[[Any, Any], Any], Callable[[Any, Any], Any], Callable[[float], float]] | None = None


def _numeric_ops() -> tuple[Callable[[Any, Any], Any], Callable[[Any, Any], Any], Callable[[float], float]]:
    """(maximum, minimum, sqrt): numpy's when it is installed, else Python's."""
    global _ops
    if _ops is None:
        try:
            import numpy
            _ops = (numpy.maximum, numpy.minimum, numpy.sqrt)
        except ImportError:
            _ops = (max, min, math.sqrt)
    return _ops


class StatCounter:
    """Running statistics of a stream of numbers.

    Parameters
    ----------
    values : iterable of numbers, optional
        Values merged at construction.

    Examples
    --------
    >>> s = StatCounter([1.0, 2.0, 3.0, 4.0])
    >>> s.count(), s.mean(), s.sum(), float(s.min()), float(s.max())
    (4, 2.5, 10.0, 1.0, 4.0)
    >>> s.variance(), s.sampleVariance()
    (1.25, 1.6666666666666667)
    >>> s
    (count: 4, mean: 2.5, stdev: 1.118033988749895, max: 4.0, min: 1.0)
    >>> StatCounter()
    (count: 0, mean: 0.0, stdev: nan, max: -inf, min: inf)
    """

    def __init__(self, values: Iterable[float] | None = None) -> None:
        self.n = 0
        self.mu = 0.0
        self.m2 = 0.0
        self.maxValue = float("-inf")
        self.minValue = float("inf")
        if values is not None:
            for v in values:
                self.merge(v)

    def merge(self, value: float) -> StatCounter:
        """Adds one value; returns self.

        Examples
        --------
        >>> StatCounter().merge(2).merge(4).mean()
        3.0
        """
        delta = value - self.mu
        self.n += 1
        self.mu += delta / self.n
        self.m2 += delta * (value - self.mu)
        maximum, minimum, _ = _numeric_ops()
        self.maxValue = maximum(self.maxValue, value)
        self.minValue = minimum(self.minValue, value)
        return self

    def mergeStats(self, other: StatCounter) -> StatCounter:
        """Merges another StatCounter into this one; returns self.

        Parameters
        ----------
        other : StatCounter

        Returns
        -------
        StatCounter
            self, now describing the values of both.

        Examples
        --------
        >>> a, b = StatCounter([1, 2]), StatCounter([3, 4])
        >>> a.mergeStats(b).count(), a.mean()
        (4, 2.5)
        >>> a.mergeStats([5])
        Traceback (most recent call last):
            ...
        TypeError: Can only merge StatCounter but got <class 'list'>
        """
        if not isinstance(other, StatCounter):
            raise TypeError("Can only merge StatCounter but got %s" % type(other))
        if other is self:
            return self.mergeStats(other.copy())
        if self.n == 0:
            self.n, self.mu, self.m2 = other.n, other.mu, other.m2
            self.maxValue, self.minValue = other.maxValue, other.minValue
        elif other.n != 0:
            total = self.n + other.n
            delta = other.mu - self.mu
            # Weighting towards the larger side keeps the mean stable when one
            # counter is much smaller than the other.
            if other.n * 10 < self.n:
                self.mu = self.mu + (delta * other.n) / total
            elif self.n * 10 < other.n:
                self.mu = other.mu - (delta * self.n) / total
            else:
                self.mu = (self.mu * self.n + other.mu * other.n) / total
            maximum, minimum, _ = _numeric_ops()
            self.maxValue = maximum(self.maxValue, other.maxValue)
            self.minValue = minimum(self.minValue, other.minValue)
            self.m2 += other.m2 + (delta * delta * self.n * other.n) / total
            self.n = total
        return self

    def copy(self) -> StatCounter:
        """An independent copy of this counter."""
        return copy.deepcopy(self)

    def count(self) -> int:
        """The number of values."""
        return int(self.n)

    def mean(self) -> float:
        """The mean (0.0 when empty)."""
        return self.mu

    def sum(self) -> float:
        """The sum, as count * mean."""
        return self.n * self.mu

    def min(self) -> float:
        """The smallest value (inf when empty)."""
        return self.minValue

    def max(self) -> float:
        """The largest value (-inf when empty)."""
        return self.maxValue

    def variance(self) -> float:
        """The population variance (divides by n); nan when empty."""
        return float("nan") if self.n == 0 else self.m2 / self.n

    def sampleVariance(self) -> float:
        """The sample variance (divides by n - 1); nan with fewer than two values."""
        return float("nan") if self.n <= 1 else self.m2 / (self.n - 1)

    def stdev(self) -> float:
        """The population standard deviation."""
        return _numeric_ops()[2](self.variance())

    def sampleStdev(self) -> float:
        """The sample standard deviation."""
        return _numeric_ops()[2](self.sampleVariance())

    def asDict(self, sample: bool = False) -> dict[str, float]:
        """The statistics as a dict.

        Parameters
        ----------
        sample : bool, optional
            As in PySpark, the flag works the other way round from its name: with the
            default ``False`` the dict holds the *sample* stdev and variance, with
            ``True`` the population ones.

        Returns
        -------
        dict
            count, mean, sum, min, max, stdev, variance.

        Examples
        --------
        >>> d = StatCounter([1.0, 2.0, 3.0, 4.0]).asDict()
        >>> d["count"], d["sum"], d["variance"]
        (4, 10.0, 1.6666666666666667)
        >>> StatCounter([1.0, 2.0, 3.0, 4.0]).asDict(sample=True)["variance"]
        1.25
        """
        return {
            "count": self.count(),
            "mean": self.mean(),
            "sum": self.sum(),
            "min": self.min(),
            "max": self.max(),
            "stdev": self.stdev() if sample else self.sampleStdev(),
            "variance": self.variance() if sample else self.sampleVariance(),
        }

    def __repr__(self) -> str:
        return "(count: %s, mean: %s, stdev: %s, max: %s, min: %s)" % (
            self.count(), self.mean(), self.stdev(), self.max(), self.min())
