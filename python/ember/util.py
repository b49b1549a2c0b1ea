"""Threads that carry the driver thread's local properties, as ``pyspark.util``.

A SparkContext's local properties (``setLocalProperty``, ``setJobGroup``,
``setJobDescription``, job tags from ``addJobTag``) belong to the thread that set
them: a plain ``threading.Thread`` starts with none. :class:`InheritableThread`
copies the starting thread's properties when ``start()`` is called, and
:func:`inheritable_thread_target` copies them when it wraps a function, so the jobs
the new thread runs carry the same group, description and tags.
"""

from __future__ import annotations

import functools
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["InheritableThread", "inheritable_thread_target"]


def _context_of(session: Any) -> Any:
    """The SparkContext whose properties to copy: the session's, else the active one."""
    from ember.context import SparkContext
    if session is not None:
        return session.sparkContext
    return SparkContext._active_spark_context


def _snapshot(sc: Any) -> Any:
    return dict(sc._local_properties()) if sc is not None else None


def _install(sc: Any, props: Any) -> None:
    if sc is not None and props is not None:
        sc._thread_local.props = dict(props)


class InheritableThread(threading.Thread):
    """A ``threading.Thread`` whose target runs with the local properties (job group,
    description, job tags ...) the starting thread had when it called ``start()``.

    Parameters
    ----------
    target : callable
        The function the thread runs.
    *args, **kwargs
        Passed to ``threading.Thread`` (``args=``, ``kwargs=``, ``name=``, ``daemon=``).
    session : ember.sql.SparkSession, optional
        Copy the properties of this session's context (by default, the active
        SparkContext's).

    Examples
    --------
    >>> sc.setLocalProperty("pool", "inherited")
    >>> seen = []
    >>> t = InheritableThread(target=lambda: seen.append(sc.getLocalProperty("pool")))
    >>> t.start(); t.join()
    >>> seen
    ['inherited']
    >>> sc.setLocalProperty("pool", None)
    """

    def __init__(self, target: Callable[..., Any], *args: Any, session: Any = None, **kwargs: Any) -> None:
        self._session = session
        self._props = None

        def copy_local_properties(*a: Any, **k: Any) -> Any:
            _install(self._context, self._props)
            return target(*a, **k)

        super().__init__(*args, target=copy_local_properties, **kwargs)  # type: ignore[misc]

    def start(self) -> None:
        """Copies this thread's local properties, then starts the new thread."""
        self._context = _context_of(self._session)
        self._props = _snapshot(self._context)
        return super().start()


def inheritable_thread_target(f: Any = None) -> Any:
    """Wraps a thread's target so that it runs with the local properties the
    wrapping thread has now (when the function is wrapped, not when the thread
    starts). Given a SparkSession instead of a function, returns a decorator that
    copies that session's context's properties.

    Parameters
    ----------
    f : callable or ember.sql.SparkSession

    Returns
    -------
    callable

    Examples
    --------
    >>> import threading
    >>> sc.setJobGroup("inherited-group", "a group the thread inherits")
    >>> seen = []
    >>> @inheritable_thread_target
    ... def work():
    ...     seen.append(sc.getLocalProperty("spark.jobGroup.id"))
    >>> t = threading.Thread(target=work); t.start(); t.join()
    >>> seen
    ['inherited-group']
    >>> sc.setJobGroup(None, None)
    """
    from ember.sql import SparkSession
    session = f if isinstance(f, SparkSession) else None
    sc = _context_of(session)
    props = _snapshot(sc)

    def wrap(func: Any) -> Any:
        if not callable(func):
            raise TypeError(f"inheritable_thread_target needs a function (or a SparkSession), "
                            f"got {type(func).__name__}")

        @functools.wraps(func)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            _install(sc, props)
            return func(*args, **kwargs)
        return wrapped

    if session is not None:
        return wrap
    return wrap(f)
