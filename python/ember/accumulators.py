"""Accumulators: variables that tasks add to and only the driver reads.

How updates travel. Pickling an accumulator into a task's closure ships its id, a
zero value and its AccumulatorParam. In a worker process each id has one local
copy, shared by every command that captured it; the copy starts each task from
the zero value (reset lazily on the task's first ``add``). When a task ends well the
worker sends the values of the copies the task touched as the task's report; the
engine hands the driver the reports of successful attempts only, so a failed or
retried attempt adds nothing, and the driver merges them with ``addInPlace`` when
the job ends (also when it fails or is cancelled: the tasks that succeeded count).

As in PySpark, an update made inside a transformation counts every time the
transformation runs: a recomputed, uncached RDD adds again; a shuffle's map
output reused by a later job does not.
"""

from __future__ import annotations

import itertools
import _pickle as pickle  # pickle's C core; pickle.py would import re and enum (see daemon.py)
import _thread  # threading's C core: threading.py is a large part of the worker daemon's imports

from ember._typing import Generic, T, U

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any
    from weakref import WeakValueDictionary

__all__ = [
    "Accumulator",
    "AccumulatorParam",
    "AddingAccumulatorParam",
    "INT_ACCUMULATOR_PARAM",
    "FLOAT_ACCUMULATOR_PARAM",
    "COMPLEX_ACCUMULATOR_PARAM",
]

# Driver: id -> Accumulator. Weak: an accumulator nobody can read needs no updates.
# Made with the first accumulator (see _weak_values).
_registry: WeakValueDictionary[int, Accumulator[Any]] | None = None
_ids = itertools.count()
_merge_lock = _thread.allocate_lock()

# Worker: id -> this process's copy (made with the first copy); the running task's
# number; the copies it touched.
_task_copies: WeakValueDictionary[int, Accumulator[Any]] | None = None
_task_number = 0
_touched: dict[int, Accumulator[Any]] = {}


def _weak_values() -> WeakValueDictionary[int, Accumulator[Any]]:
    """A new id -> accumulator map holding its values weakly. weakref is imported
    here: the worker daemon, which loads this module, has no other use for it."""
    import weakref
    return weakref.WeakValueDictionary()


def _next_id() -> int:
    return next(_ids)


def _deserialize_accumulator(aid: int, zero_value: Any, accum_param: AccumulatorParam[Any]) -> Accumulator[Any]:
    """Unpickles an accumulator: the driver's own object where it exists (the
    driver), else this worker process's copy of it."""
    global _task_copies
    acc = _registry.get(aid) if _registry is not None else None
    if acc is not None:
        return acc
    if _task_copies is None:
        _task_copies = _weak_values()
    acc = _task_copies.get(aid)
    if acc is None:
        acc = Accumulator.__new__(Accumulator)
        acc.aid = aid
        acc.accum_param = accum_param
        acc._value = zero_value
        acc._deserialized = True
        acc._zero = zero_value
        acc._task = -1
        _task_copies[aid] = acc
    return acc


def _task_begin() -> None:
    """Worker: a new task starts; copies restart from zero on their first add."""
    global _task_number
    _task_number += 1
    _touched.clear()


def _task_report() -> Any:
    """Worker: the pickled [(id, value)] of the copies the task touched (b"" if none)."""
    if not _touched:
        return b""
    updates = [(aid, acc._value) for aid, acc in _touched.items()]
    _touched.clear()
    try:
        return pickle.dumps(updates, protocol=5)
    except Exception:
        import cloudpickle
        return cloudpickle.dumps(updates, protocol=5)


def _merge_reports(reports: Any) -> None:
    """Driver: adds the updates of successful tasks into the accumulators."""
    with _merge_lock:
        for report in reports:
            for aid, update in pickle.loads(report):
                acc = _registry.get(aid) if _registry is not None else None
                if acc is not None:
                    acc._value = acc.accum_param.addInPlace(acc._value, update)


def _not_accessible() -> Any:
    return RuntimeError("[VALUE_NOT_ACCESSIBLE] Value `Accumulator.value` cannot be accessed inside "
                        "tasks: only the driver reads an accumulator; tasks may only add() to it")


class Accumulator(Generic[T]):
    """A shared variable that tasks add to with ``add`` or ``+=`` and that only the
    driver reads, through ``value``. Create one with :meth:`SparkContext.accumulator`.

    Each task's additions reach the driver once, when the task succeeds; a failed
    or retried attempt adds nothing. Additions made inside a transformation count
    again whenever that transformation is recomputed.

    Parameters
    ----------
    aid : int
        The accumulator's id.
    value : object
        The initial value.
    accum_param : AccumulatorParam
        Says how values add up.

    Examples
    --------
    >>> a = sc.accumulator(1)
    >>> a.value
    1
    >>> a.value = 2
    >>> a += 5
    >>> a.value
    7
    >>> sc.accumulator(1.0).value, sc.accumulator(1j).value
    (1.0, 1j)
    >>> def f(x):
    ...     global a
    ...     a += x
    >>> sc.parallelize([1, 2, 3]).map(f).count()
    3
    >>> a.value
    13
    >>> b = sc.accumulator(0)
    >>> sc.parallelize([1, 2, 3]).map(lambda x: b.add(x)).count()
    3
    >>> b.value
    6
    >>> sc.parallelize([1]).map(lambda x: b.value).collect()  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
        ...
    ember.PythonException: ... [VALUE_NOT_ACCESSIBLE] Value `Accumulator.value` cannot be accessed inside tasks...
    >>> sc.accumulator([1.0, 2.0])
    Traceback (most recent call last):
        ...
    TypeError: No default accumulator param for type <class 'list'>: pass an AccumulatorParam
    """

    # A task's copy (made by _deserialize_accumulator) also has _zero and _task: the
    # zero it restarts from, and the task whose additions _value holds.
    _zero: T
    _task: int

    def __init__(self, aid: int, value: T, accum_param: AccumulatorParam[T]) -> None:
        self.aid = aid
        self.accum_param = accum_param
        self._value = value
        self._deserialized = False
        global _registry
        if _registry is None:
            _registry = _weak_values()
        _registry[aid] = self

    def __reduce__(self) -> Any:
        param = self.accum_param
        return _deserialize_accumulator, (self.aid, param.zero(self._value), param)

    @property
    def value(self) -> T:
        """The accumulated value; readable and settable on the driver only.

        Examples
        --------
        >>> acc = sc.accumulator(10)
        >>> acc.value = 3
        >>> acc.value
        3
        """
        if self._deserialized:
            raise _not_accessible()
        return self._value

    @value.setter
    def value(self, value: T) -> None:
        if self._deserialized:
            raise _not_accessible()
        self._value = value

    def add(self, term: T) -> None:
        """Adds a term to the accumulator's value (``addInPlace``).

        Parameters
        ----------
        term : object
            The value to add.

        Examples
        --------
        >>> acc = sc.accumulator(0)
        >>> acc.add(4)
        >>> acc.value
        4
        >>> sc.parallelize(range(10), 3).map(lambda x: acc.add(x)).count()
        10
        >>> acc.value
        49
        """
        if self._deserialized and self._task != _task_number:
            # First addition of this task: start from a fresh zero.
            self._task = _task_number
            import copy  # here: the worker daemon loads this module, and rarely needs copy
            self._value = copy.deepcopy(self._zero)
            _touched[self.aid] = self
        self._value = self.accum_param.addInPlace(self._value, term)

    def __iadd__(self, term: T) -> Accumulator[T]:
        self.add(term)
        return self

    def __str__(self) -> str:
        return str(self._value)

    def __repr__(self) -> str:
        return f"Accumulator<id={self.aid}, value={self._value}>"


class AccumulatorParam(Generic[T]):
    """Says how values of an accumulator's type add up: subclass it and implement
    ``zero`` and ``addInPlace``.

    Examples
    --------
    >>> class VectorAccumulatorParam(AccumulatorParam):
    ...     def zero(self, value):
    ...         return [0.0] * len(value)
    ...     def addInPlace(self, val1, val2):
    ...         for i in range(len(val1)):
    ...             val1[i] += val2[i]
    ...         return val1
    >>> va = sc.accumulator([1.0, 2.0, 3.0], VectorAccumulatorParam())
    >>> def g(x):
    ...     global va
    ...     va += [x] * 3
    >>> sc.parallelize([1, 2, 3]).map(g).count()
    3
    >>> va.value
    [7.0, 8.0, 9.0]
    """

    def zero(self, value: T) -> T:
        """A zero value of the type, shaped like value (e.g. a vector of zeros).

        Parameters
        ----------
        value : object
            The accumulator's initial value.

        Returns
        -------
        object
            The zero tasks start adding from.

        Examples
        --------
        >>> from ember.accumulators import INT_ACCUMULATOR_PARAM
        >>> INT_ACCUMULATOR_PARAM.zero(5)
        0
        """
        raise NotImplementedError(f"{type(self).__name__} must implement zero(value)")

    def addInPlace(self, value1: T, value2: T) -> T:
        """Adds value2 to value1 and returns the sum; may update value1 in place.

        Parameters
        ----------
        value1, value2 : object
            The values to add.

        Returns
        -------
        object
            The sum.

        Examples
        --------
        >>> from ember.accumulators import FLOAT_ACCUMULATOR_PARAM
        >>> FLOAT_ACCUMULATOR_PARAM.addInPlace(1.5, 2.0)
        3.5
        """
        raise NotImplementedError(f"{type(self).__name__} must implement addInPlace(value1, value2)")


class AddingAccumulatorParam(AccumulatorParam[U]):
    """An AccumulatorParam that adds with ``+=`` from a given zero value.

    Parameters
    ----------
    zero_value : object
        The zero of the type.

    Examples
    --------
    >>> from ember.accumulators import AddingAccumulatorParam
    >>> p = AddingAccumulatorParam(0)
    >>> p.addInPlace(p.zero(7), 7)
    7
    """

    def __init__(self, zero_value: U) -> None:
        self.zero_value = zero_value

    def zero(self, value: U) -> U:
        """The zero value given at construction.

        Examples
        --------
        >>> from ember.accumulators import AddingAccumulatorParam
        >>> AddingAccumulatorParam(0.0).zero(2.5)
        0.0
        """
        return self.zero_value

    def addInPlace(self, value1: U, value2: U) -> U:
        """Returns ``value1 += value2``.

        Examples
        --------
        >>> from ember.accumulators import AddingAccumulatorParam
        >>> AddingAccumulatorParam(0j).addInPlace(1j, 2)
        (2+1j)
        """
        value1 += value2  # type: ignore[operator]  # U is a type with +=
        return value1


INT_ACCUMULATOR_PARAM = AddingAccumulatorParam(0)
FLOAT_ACCUMULATOR_PARAM = AddingAccumulatorParam(0.0)
COMPLEX_ACCUMULATOR_PARAM = AddingAccumulatorParam(0.0j)
