"""SparkConf: key-value settings of an application."""

from __future__ import annotations

from ember._typing import overload


class SparkConf:
    """Configuration for an ember application, as ``pyspark.SparkConf``.

    Setters return the conf, so calls chain. Values are stored as strings.

    Examples
    --------
    >>> conf = SparkConf().setMaster("local[2]").setAppName("demo")
    >>> conf.get("spark.master")
    'local[2]'
    >>> conf.set("spark.task.maxFailures", 2).get("spark.task.maxFailures")
    '2'
    >>> conf.get("missing") is None
    True
    """

    def __init__(self, loadDefaults: bool = True, _jvm: None = None, _jconf: None = None) -> None:
        self._conf: dict[str, str] = {}

    def set(self, key: str, value: str) -> SparkConf:
        """Sets a key to a value (stored as str)."""
        self._conf[key] = str(value)
        return self

    def setIfMissing(self, key: str, value: str) -> SparkConf:
        """Sets a key only when it has no value yet."""
        if key not in self._conf:
            self.set(key, value)
        return self

    def setMaster(self, value: str) -> SparkConf:
        """Sets the master URL: ``local``, ``local[N]``, ``local[*]`` or ``local[N,F]``."""
        return self.set("spark.master", value)

    def setAppName(self, value: str) -> SparkConf:
        """Sets the application name."""
        return self.set("spark.app.name", value)

    def setSparkHome(self, value: str) -> SparkConf:
        """Sets ``spark.home`` (kept for compatibility; ember does not use it)."""
        return self.set("spark.home", value)

    def setExecutorEnv(self, key: str | None = None, value: str | None = None,
                       pairs: list[tuple[str, str]] | None = None) -> SparkConf:
        """Sets environment variables of the workers (``spark.executorEnv.*``)."""
        if (key is not None and pairs is not None) or (key is None and pairs is None):
            raise ValueError("Either pass one key-value pair or a list of pairs")
        if key is not None:
            self.set("spark.executorEnv." + key, str(value))
        else:
            for k, v in pairs or ():
                self.set("spark.executorEnv." + k, v)
        return self

    def setAll(self, pairs: list[tuple[str, str]]) -> SparkConf:
        """Sets several (key, value) pairs."""
        for k, v in pairs:
            self.set(k, v)
        return self

    @overload
    def get(self, key: str) -> str | None: ...

    @overload
    def get(self, key: str, defaultValue: None) -> str | None: ...

    @overload
    def get(self, key: str, defaultValue: str) -> str: ...

    def get(self, key: str, defaultValue: str | None = None) -> str | None:
        """The value of a key, or defaultValue (None) when unset."""
        return self._conf.get(key, defaultValue)

    def getAll(self) -> list[tuple[str, str]]:
        """All (key, value) pairs."""
        return list(self._conf.items())

    def contains(self, key: str) -> bool:
        """Whether the key has a value."""
        return key in self._conf

    def toDebugString(self) -> str:
        """One ``key=value`` line per setting."""
        return "\n".join(f"{k}={v}" for k, v in self._conf.items())

    def _copy(self) -> SparkConf:
        c = SparkConf()
        c._conf = dict(self._conf)
        return c

    def __repr__(self) -> str:
        return f"SparkConf({self._conf!r})"
