"""DataFrame and DataFrameReader: the part of Spark SQL that RDD programs use.

Programs written for PySpark 2+ often read text with ``spark.read.text(path)`` and go
straight to the RDD API with ``.rdd``; ember has that: ``spark.read.text`` gives a
DataFrame whose ``rdd`` is an RDD of :class:`~ember.sql.Row` with one field, ``value``.
ember has no Spark SQL engine, so every other DataFrame and reader method raises
``NotImplementedError`` saying what to use from the RDD API instead.
"""
from __future__ import annotations

from ember.sql.types import Row

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, NoReturn

    from ember.rdd import RDD
    from ember.sql.session import SparkSession

__all__ = ["DataFrame", "DataFrameReader"]


def _not_sql(what: str, instead: str) -> NotImplementedError:
    return NotImplementedError(
        f"{what} is Spark SQL, which ember does not have (it implements PySpark's RDD API); "
        f"use {instead} instead")


# DataFrame methods of PySpark 4.3 -> what to use from the RDD API.
_DATAFRAME_INSTEAD = {
    "collect": "df.rdd.collect()", "count": "df.rdd.count()", "first": "df.rdd.first()",
    "head": "df.rdd.take(n)", "take": "df.rdd.take(n)", "tail": "df.rdd.collect()[-n:]",
    "show": "print(df.rdd.take(20))", "toLocalIterator": "df.rdd.toLocalIterator()",
    "isEmpty": "df.rdd.isEmpty()", "filter": "df.rdd.filter(f)", "where": "df.rdd.filter(f)",
    "select": "df.rdd.map(lambda r: ...)", "selectExpr": "df.rdd.map(lambda r: ...)",
    "withColumn": "df.rdd.map(lambda r: Row(**r.asDict(), name=...))", "drop": "df.rdd.map(...)",
    "groupBy": "df.rdd.groupBy(f) or .map(...).reduceByKey(f)", "groupby": "df.rdd.groupBy(f)",
    "agg": "df.rdd.aggregate(...) or .reduceByKey(f)", "join": "rdd.join(other) on (key, value) pairs",
    "distinct": "df.rdd.distinct()", "dropDuplicates": "df.rdd.distinct()", "drop_duplicates": "df.rdd.distinct()",
    "orderBy": "df.rdd.sortBy(keyfunc)", "sort": "df.rdd.sortBy(keyfunc)", "limit": "df.rdd.take(n)",
    "union": "df.rdd.union(other.rdd)", "unionAll": "df.rdd.union(other.rdd)",
    "unionByName": "df.rdd.union(other.rdd)", "subtract": "df.rdd.subtract(other.rdd)",
    "intersect": "df.rdd.intersection(other.rdd)", "sample": "df.rdd.sample(...)",
    "randomSplit": "df.rdd.randomSplit(weights)", "repartition": "df.rdd.repartition(n)",
    "coalesce": "df.rdd.coalesce(n)", "cache": "df.rdd.cache()", "persist": "df.rdd.persist(level)",
    "unpersist": "df.rdd.unpersist()", "foreach": "df.rdd.foreach(f)",
    "foreachPartition": "df.rdd.foreachPartition(f)", "write": "df.rdd.saveAsTextFile(path)",
    "toJSON": "df.rdd.map(lambda r: json.dumps(r.asDict()))", "toPandas": "df.rdd.collect()",
    "createOrReplaceTempView": "the RDD itself (ember has no SQL catalog)",
}


class DataFrame:
    """The rows ``spark.read.text`` read, reached through :attr:`rdd`.

    Examples
    --------
    >>> import os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> with open(os.path.join(d, "a.txt"), "w") as f:
    ...     _ = f.write("hello world\\nhi\\n")
    >>> df = spark.read.text(d)
    >>> df.rdd.map(lambda r: r.value).collect()
    ['hello world', 'hi']
    >>> df.columns
    ['value']
    >>> df.count()
    Traceback (most recent call last):
        ...
    NotImplementedError: DataFrame.count is Spark SQL, which ember does not have ...
    """

    def __init__(self, rdd: RDD[Row], session: SparkSession, columns: list[str]) -> None:
        self._rdd = rdd
        self._session = session
        self._columns = list(columns)

    @property
    def rdd(self) -> RDD[Row]:
        """The rows as an RDD of :class:`~ember.sql.Row`."""
        return self._rdd

    @property
    def sparkSession(self) -> SparkSession:
        """The SparkSession that made this DataFrame."""
        return self._session

    @property
    def columns(self) -> list[str]:
        """The names of the rows' fields."""
        return list(self._columns)

    def __repr__(self) -> str:
        return "DataFrame[%s]" % ", ".join(f"{c}: string" for c in self._columns)


def _dataframe_method(name: str) -> Callable[..., NoReturn]:
    instead = _DATAFRAME_INSTEAD.get(name, "the RDD API on df.rdd (an RDD of Row)")

    def method(self: Any, *args: Any, **kwargs: Any) -> NoReturn:
        raise _not_sql(f"DataFrame.{name}", instead)
    method.__name__ = name
    method.__doc__ = f"Not in ember (Spark SQL): use {instead}."
    return method


_DATAFRAME_METHODS = [
    "agg", "alias", "approxQuantile", "asTable", "cache", "checkpoint", "coalesce", "colRegex", "collect",
    "corr", "count", "cov", "createGlobalTempView", "createOrReplaceGlobalTempView", "createOrReplaceTempView",
    "createTempView", "crossJoin", "crosstab", "cube", "describe", "distinct", "drop", "dropDuplicates",
    "dropDuplicatesWithinWatermark", "drop_duplicates", "dropna", "exceptAll", "exists", "explain", "fillna",
    "filter", "first", "foreach", "foreachPartition", "freqItems", "groupBy", "groupby", "groupingSets", "head",
    "hint", "inputFiles", "intersect", "intersectAll", "isEmpty", "isLocal", "join", "lateralJoin", "limit",
    "localCheckpoint", "mapInArrow", "mapInPandas", "melt", "mergeInto", "metadataColumn", "nearestByJoin",
    "observe", "offset", "orderBy", "pandas_api", "persist", "printSchema", "randomSplit", "registerTempTable",
    "repartition", "repartitionById", "repartitionByRange", "replace", "rollup", "sameSemantics", "sample",
    "sampleBy", "scalar", "select", "selectExpr", "semanticHash", "show", "sort", "sortWithinPartitions",
    "subtract", "summary", "tail", "take", "to", "toArrow", "toDF", "toJSON", "toLocalIterator", "toPandas",
    "transform", "transpose", "union", "unionAll", "unionByName", "unpersist", "unpivot", "where", "withColumn",
    "withColumnRenamed", "withColumns", "withColumnsRenamed", "withMetadata", "withWatermark", "writeTo", "zip",
    "zipWithIndex",
]
# Properties in PySpark; here they raise when read.
_DATAFRAME_PROPERTIES = ["dtypes", "executionInfo", "isStreaming", "na", "plot", "schema", "stat", "storageLevel",
                         "write", "writeStream"]

for _name in _DATAFRAME_METHODS:
    setattr(DataFrame, _name, _dataframe_method(_name))
for _name in _DATAFRAME_PROPERTIES:
    setattr(DataFrame, _name, property(_dataframe_method(_name), doc=_dataframe_method(_name).__doc__))


class DataFrameReader:
    """``spark.read``: reads text files into a DataFrame of rows with a ``value``
    field (:meth:`text`). The other sources are Spark SQL's and raise
    ``NotImplementedError`` with what to use instead."""

    def __init__(self, session: SparkSession) -> None:
        self._session = session

    def text(self, paths: str | list[str], wholetext: bool = False, lineSep: str | None = None,
             pathGlobFilter: str | bool | None = None, recursiveFileLookup: str | bool | None = None,
             modifiedBefore: str | bool | None = None, modifiedAfter: str | bool | None = None) -> DataFrame:
        """Reads text files: a DataFrame whose rows have one field, ``value``: a line
        of a file, or (``wholetext=True``) a whole file.

        Parameters
        ----------
        paths : str or list of str
            Files, directories or globs.
        wholetext : bool, optional
            One row per file instead of one per line.
        lineSep : str, optional
            Only the default line separators (``\\n``, ``\\r\\n``, ``\\r``) are read.

        Returns
        -------
        DataFrame

        Examples
        --------
        >>> import os, tempfile
        >>> d = tempfile.mkdtemp()
        >>> with open(os.path.join(d, "a.txt"), "w") as f:
        ...     _ = f.write("to be\\nor not\\n")
        >>> spark.read.text(d).rdd.map(lambda r: r[0]).collect()
        ['to be', 'or not']
        >>> spark.read.text([d], wholetext=True).rdd.first().value
        'to be\\nor not\\n'
        """
        for name, value in [("pathGlobFilter", pathGlobFilter), ("recursiveFileLookup", recursiveFileLookup),
                            ("modifiedBefore", modifiedBefore), ("modifiedAfter", modifiedAfter)]:
            if value is not None:
                raise _not_sql(f"DataFrameReader.text({name}=...)",
                               "a glob in the path, or sc.textFile over the files you select")
        if lineSep is not None and lineSep not in ("\n", "\r\n", "\r"):
            raise _not_sql("DataFrameReader.text(lineSep=...) with another separator",
                           "sc.wholeTextFiles(path).flatMap(lambda kv: kv[1].split(sep))")
        given: list[Any] = [paths] if isinstance(paths, str) else \
            list(paths) if isinstance(paths, (list, tuple)) else [paths]
        if not given or not all(isinstance(p, str) for p in given):
            raise TypeError(f"spark.read.text expects a path or a list of paths (str), got {given!r}")
        sc = self._session.sparkContext
        rdd: RDD[Row]
        if wholetext:
            rdd = sc.union([sc.wholeTextFiles(p) for p in given]).map(lambda kv: Row(value=kv[1]))
        else:
            rdd = sc.textFile(",".join(given)).map(lambda line: Row(value=line))
        return DataFrame(rdd, self._session, ["value"])


_READER_INSTEAD = {
    "csv": "sc.textFile(path).map(lambda line: next(csv.reader([line])))",
    "json": "sc.textFile(path).map(json.loads)",
    "load": "spark.read.text(path) or sc.textFile(path)", "format": "spark.read.text(path) or sc.textFile(path)",
    "option": "the arguments of spark.read.text / sc.textFile", "options": "the arguments of spark.read.text",
    "schema": "Row objects built in a map", "parquet": "sc.pickleFile or sc.textFile",
    "orc": "sc.pickleFile or sc.textFile", "table": "sc.textFile or sc.pickleFile",
    "jdbc": "a database client inside rdd.mapPartitions", "xml": "sc.wholeTextFiles(path)",
    "changes": "sc.textFile or sc.pickleFile",
}


def _reader_method(name: str) -> Callable[..., NoReturn]:
    instead = _READER_INSTEAD[name]

    def method(self: Any, *args: Any, **kwargs: Any) -> NoReturn:
        raise _not_sql(f"DataFrameReader.{name}", instead)
    method.__name__ = name
    method.__doc__ = f"Not in ember (Spark SQL): use {instead}."
    return method


for _name in _READER_INSTEAD:
    setattr(DataFrameReader, _name, _reader_method(_name))
