"""SparkSession: the entry point PySpark programs since Spark 2.0 start with.

ember has no Spark SQL engine; a SparkSession here is the way in to the RDD API
(``spark.sparkContext``), plus ``spark.read.text`` and the session's settings
(``spark.conf``). There is one session per SparkContext, as in PySpark:
``SparkSession.builder...getOrCreate()`` returns the existing one while its context
runs. Spark SQL's methods (``sql``, ``createDataFrame``, ``table`` ...) raise
``NotImplementedError`` saying what to use from the RDD API instead.
"""
from __future__ import annotations

import threading

from ember._typing import T, overload
from ember.conf import SparkConf
from ember.context import SparkContext
from ember.sql.dataframe import DataFrameReader, _not_sql

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from types import TracebackType
    from typing import Any, ClassVar, NoReturn

__all__ = ["SparkSession", "RuntimeConfig"]

_UNSET = object()


class RuntimeConfig:
    """``spark.conf``: the session's settings. They start as the context's settings
    plus the builder's options; ``set`` changes the session's view only (the
    context's settings are fixed once it runs, as in Spark).

    Examples
    --------
    >>> spark.conf.set("spark.example.key", "1")
    >>> spark.conf.get("spark.example.key")
    '1'
    >>> spark.conf.unset("spark.example.key")
    >>> spark.conf.get("spark.example.key", "absent")
    'absent'
    >>> spark.conf.get("spark.master") == spark.sparkContext.master
    True
    """

    def __init__(self, settings: Mapping[str, str]) -> None:
        self._settings = dict(settings)
        self._lock = threading.Lock()

    def set(self, key: str, value: str | int | bool) -> None:
        """Sets a setting (values are kept as strings; True/False as ``true``/``false``)."""
        if isinstance(value, bool):
            value = str(value).lower()
        with self._lock:
            self._settings[str(key)] = str(value)

    @overload
    def get(self, key: str) -> str: ...

    @overload
    def get(self, key: str, default: T) -> str | T: ...

    def get(self, key: str, default: Any = _UNSET) -> Any:
        """A setting's value; ``default`` when it is not set, else NoSuchElementException's
        counterpart, a KeyError naming the key."""
        with self._lock:
            if key in self._settings:
                return self._settings[key]
        if default is _UNSET:
            raise KeyError(f"[SQL_CONF_NOT_FOUND] The SQL config {key!r} cannot be found: set it with "
                           f"spark.conf.set or the builder's config(), or pass a default to get().")
        return default

    def unset(self, key: str) -> None:
        """Removes a setting."""
        with self._lock:
            self._settings.pop(key, None)

    @property
    def getAll(self) -> dict[str, str]:
        """Every setting, as a dict."""
        with self._lock:
            return dict(self._settings)

    def isModifiable(self, key: str) -> bool:
        """Whether ``set`` may change key while the session runs: ``spark.*`` settings
        of the context (master, memory ...) are fixed once it runs."""
        return not str(key).startswith("spark.") or str(key).startswith("spark.sql.")


class _ClassProperty:
    """``SparkSession.builder``: a new Builder each time it is read, on the class or
    on a session."""

    def __init__(self, getter: Callable[[type[SparkSession]], SparkSession.Builder]) -> None:
        self._getter = getter

    def __get__(self, instance: object, owner: type[SparkSession]) -> SparkSession.Builder:
        return self._getter(owner)


class SparkSession:
    """The entry point of a PySpark program: build it with ``SparkSession.builder``,
    reach the RDD API with :attr:`sparkContext`.

    Examples
    --------
    >>> spark = SparkSession.builder.appName("example").getOrCreate()
    >>> spark.sparkContext is sc
    True
    >>> spark.sparkContext.parallelize([1, 2, 3]).sum()
    6
    >>> SparkSession.builder.getOrCreate() is spark
    True
    """

    _instantiatedSession: ClassVar[SparkSession | None] = None
    _activeSession: ClassVar[SparkSession | None] = None
    _lock: ClassVar[threading.RLock] = threading.RLock()

    class Builder:
        """Collects the settings of the session (and of its context, when
        ``getOrCreate`` has to start one)."""

        def __init__(self) -> None:
            self._options: dict[str, str] = {}

        def config(self, key: str | None = None, value: Any | None = None, conf: SparkConf | None = None, *,
                   map: dict[str, Any] | None = None) -> SparkSession.Builder:
            """Sets options: ``config(key, value)``, ``config(conf=SparkConf)`` or
            ``config(map={key: value})``.

            Examples
            --------
            >>> b = SparkSession.builder.config("spark.some.key", 1).config(map={"k2": True})
            >>> sorted(b._options.items())
            [('k2', 'true'), ('spark.some.key', '1')]
            """
            with SparkSession._lock:
                if conf is not None:
                    for k, v in conf.getAll():
                        self._options[k] = v
                if map is not None:
                    for k, v in map.items():
                        self._options[k] = _to_str(v)
                if key is not None:
                    self._options[key] = _to_str(value)
            return self

        def master(self, master: str) -> SparkSession.Builder:
            """Sets the master (``local``, ``local[4]``, ``local[*]``)."""
            return self.config("spark.master", master)

        def appName(self, name: str) -> SparkSession.Builder:
            """Sets the application's name."""
            return self.config("spark.app.name", name)

        def enableHiveSupport(self) -> SparkSession.Builder:
            """Records ``spark.sql.catalogImplementation=hive`` as PySpark does; ember has
            no catalog, so nothing reads it."""
            return self.config("spark.sql.catalogImplementation", "hive")

        def remote(self, url: str) -> NoReturn:
            """Spark Connect: not in ember."""
            raise _not_sql("SparkSession.builder.remote (Spark Connect)",
                           "SparkSession.builder.master('local[*]') in this process")

        def create(self) -> NoReturn:
            """Spark Connect only, as in PySpark: not in ember."""
            raise _not_sql("SparkSession.builder.create (Spark Connect)", "SparkSession.builder.getOrCreate()")

        def getOrCreate(self) -> SparkSession:
            """The session of the running context, or a new one (starting a context
            from the options when none runs). Options given to a builder when the
            session exists already change its ``spark.conf`` only.

            Returns
            -------
            SparkSession
            """
            with SparkSession._lock:
                session = SparkSession._instantiatedSession
                if session is None or session._sc._core.stopped:
                    active = SparkContext._active_spark_context
                    if active is None:
                        conf = SparkConf()
                        for k, v in self._options.items():
                            conf.set(k, v)
                        active = SparkContext.getOrCreate(conf)
                    session = SparkSession(active, options=self._options)
                else:
                    for k, v in self._options.items():
                        session._conf.set(k, v)
                SparkSession._activeSession = session
                return session

    builder = _ClassProperty(lambda cls: cls.Builder())

    def __init__(self, sparkContext: SparkContext, jsparkSession: None = None,
                 options: dict[str, Any] = {}) -> None:  # noqa: B006 - PySpark's signature
        if jsparkSession is not None:
            raise _not_sql("SparkSession(jsparkSession=...)", "SparkSession(sparkContext)")
        self._sc = sparkContext
        settings = dict(sparkContext.getConf().getAll())
        settings.update({k: _to_str(v) for k, v in options.items()})
        self._conf = RuntimeConfig(settings)
        with SparkSession._lock:
            if SparkSession._instantiatedSession is None or SparkSession._instantiatedSession._sc is not sparkContext \
                    or sparkContext._core.stopped:
                SparkSession._instantiatedSession = self
            SparkSession._activeSession = self

    @classmethod
    def getActiveSession(cls) -> SparkSession | None:
        """The active session, or None.

        Examples
        --------
        >>> SparkSession.getActiveSession() is SparkSession.builder.getOrCreate()
        True
        """
        session = cls._activeSession
        if session is None or session._sc._core.stopped:
            return None
        return session

    @classmethod
    def active(cls) -> SparkSession:
        """The active session; creates one (and its context) when there is none."""
        return cls.getActiveSession() or cls.builder.getOrCreate()

    @property
    def sparkContext(self) -> SparkContext:
        """The SparkContext: the RDD API."""
        return self._sc

    @property
    def conf(self) -> RuntimeConfig:
        """The session's settings (:class:`RuntimeConfig`)."""
        return self._conf

    @property
    def version(self) -> str:
        """The version of ember running the session (as ``sc.version``)."""
        return self._sc.version

    @property
    def read(self) -> DataFrameReader:
        """A reader of text files into DataFrames of Rows (``spark.read.text``)."""
        return DataFrameReader(self)

    def stop(self) -> None:
        """Stops the session and its SparkContext.

        Examples
        --------
        >>> from conftest import run_python
        >>> run_python("from ember.sql import SparkSession\\n"
        ...            "s = SparkSession.builder.master('local[1]').getOrCreate()\\n"
        ...            "s.stop(); print(s.sparkContext._core.stopped)").stdout
        'True\\n'
        """
        self._sc.stop()
        with SparkSession._lock:
            if SparkSession._instantiatedSession is self:
                SparkSession._instantiatedSession = None
            if SparkSession._activeSession is self:
                SparkSession._activeSession = None

    def __enter__(self) -> SparkSession:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc_val: BaseException | None,
                 exc_tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<ember.sql.SparkSession master={self._sc.master} appName={self._sc.appName}>"


def _to_str(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


# SparkSession's Spark SQL methods in PySpark 4.3 -> what to use from the RDD API.
_SESSION_INSTEAD = {
    "sql": "the RDD API on spark.sparkContext (ember has no SQL engine)",
    "createDataFrame": "spark.sparkContext.parallelize(data) (an RDD; Row records work in it)",
    "range": "spark.sparkContext.range(start, end, step)",
    "table": "spark.sparkContext.textFile or pickleFile",
    "newSession": "the one session of the context (SparkSession.builder.getOrCreate())",
    "addArtifact": "spark.sparkContext.addPyFile / addFile / addArchive",
    "addArtifacts": "spark.sparkContext.addPyFile / addFile / addArchive",
    "copyFromLocalToFs": "spark.sparkContext.addFile(path)",
    "addTag": "spark.sparkContext.addJobTag(tag)", "removeTag": "spark.sparkContext.removeJobTag(tag)",
    "getTags": "spark.sparkContext.getJobTags()", "clearTags": "spark.sparkContext.clearJobTags()",
    "interruptAll": "spark.sparkContext.cancelAllJobs()", "interruptTag": "spark.sparkContext.cancelJobsWithTag(tag)",
    "interruptOperation": "spark.sparkContext.cancelJobGroup(groupId)",
    "registerProgressHandler": "the console progress bar (spark.ui.showConsoleProgress)",
    "removeProgressHandler": "the console progress bar (spark.ui.showConsoleProgress)",
    "clearProgressHandlers": "the console progress bar (spark.ui.showConsoleProgress)",
}
_SESSION_PROPERTIES_INSTEAD = {
    "catalog": "RDDs kept in Python variables (ember has no catalog)",
    "udf": "plain Python functions in rdd.map", "udtf": "plain Python functions in rdd.flatMap",
    "readStream": "sc.textFile over the files as they arrive", "streams": "jobs run with the RDD API",
    "dataSource": "sc.textFile, pickleFile, binaryFiles", "profile": "spark.python.profile and sc.show_profiles()",
    "tvf": "spark.sparkContext.range or parallelize", "client": "SparkSession.builder.getOrCreate() (no Spark Connect)",
    "emptyDataFrame": "spark.sparkContext.emptyRDD()",
}


def _session_method(name: str, instead: str) -> Callable[..., NoReturn]:
    def method(self: SparkSession, *args: Any, **kwargs: Any) -> NoReturn:
        raise _not_sql(f"SparkSession.{name}", instead)
    method.__name__ = name
    method.__doc__ = f"Not in ember (Spark SQL): use {instead}."
    return method


for _name, _instead in _SESSION_INSTEAD.items():
    setattr(SparkSession, _name, _session_method(_name, _instead))
for _name, _instead in _SESSION_PROPERTIES_INSTEAD.items():
    setattr(SparkSession, _name, property(_session_method(_name, _instead), doc=f"Not in ember: use {_instead}."))
