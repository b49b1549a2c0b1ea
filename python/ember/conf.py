"""SparkConf: key-value settings of an application."""


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

    def __init__(self, loadDefaults=True, _jvm=None, _jconf=None):
        self._conf = {}

    def set(self, key, value):
        """Sets a key to a value (stored as str)."""
        self._conf[key] = str(value)
        return self

    def setIfMissing(self, key, value):
        """Sets a key only when it has no value yet."""
        if key not in self._conf:
            self.set(key, value)
        return self

    def setMaster(self, value):
        """Sets the master URL: ``local``, ``local[N]``, ``local[*]`` or ``local[N,F]``."""
        return self.set("spark.master", value)

    def setAppName(self, value):
        """Sets the application name."""
        return self.set("spark.app.name", value)

    def setSparkHome(self, value):
        """Sets ``spark.home`` (kept for compatibility; ember does not use it)."""
        return self.set("spark.home", value)

    def setExecutorEnv(self, key=None, value=None, pairs=None):
        """Sets environment variables of the workers (``spark.executorEnv.*``)."""
        if (key is not None and pairs is not None) or (key is None and pairs is None):
            raise ValueError("Either pass one key-value pair or a list of pairs")
        if key is not None:
            self.set("spark.executorEnv." + key, value)
        else:
            for k, v in pairs:
                self.set("spark.executorEnv." + k, v)
        return self

    def setAll(self, pairs):
        """Sets several (key, value) pairs."""
        for k, v in pairs:
            self.set(k, v)
        return self

    def get(self, key, defaultValue=None):
        """The value of a key, or defaultValue (None) when unset."""
        return self._conf.get(key, defaultValue)

    def getAll(self):
        """All (key, value) pairs."""
        return list(self._conf.items())

    def contains(self, key):
        """Whether the key has a value."""
        return key in self._conf

    def toDebugString(self):
        """One ``key=value`` line per setting."""
        return "\n".join(f"{k}={v}" for k, v in self._conf.items())

    def _copy(self):
        c = SparkConf()
        c._conf = dict(self._conf)
        return c

    def __repr__(self):
        return f"SparkConf({self._conf!r})"
