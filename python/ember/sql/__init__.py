"""The part of ``pyspark.sql`` that RDD programs use: :class:`SparkSession` (the
entry point, ``spark.sparkContext``, ``spark.read.text``) and :class:`Row`.

ember has no Spark SQL engine: DataFrame operations, ``spark.sql``,
``createDataFrame`` and the like raise ``NotImplementedError`` saying what to use
from the RDD API instead.
"""
from ember.sql.dataframe import DataFrame, DataFrameReader
from ember.sql.session import RuntimeConfig, SparkSession
from ember.sql.types import Row

__all__ = ["SparkSession", "Row", "DataFrame", "DataFrameReader", "RuntimeConfig"]
