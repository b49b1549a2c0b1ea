"""ember.sql: SparkSession as the entry point of RDD programs, spark.read.text, Row;
Spark SQL's other methods raise NotImplementedError saying what to use instead."""
import pickle
import textwrap
from collections import namedtuple
from typing import Tuple

import pytest
from conftest import run_python

from ember import RDD, Accumulator, Broadcast, SparkConf
from ember.sql import DataFrame, Row, SparkSession


@pytest.fixture
def spark(sc):
    return SparkSession.builder.getOrCreate()


def test_builder_returns_the_one_session_of_the_running_context(sc, spark):
    assert spark.sparkContext is sc and spark._sc is sc
    again = SparkSession.builder.appName("other").master("local[1]").config("spark.k", "v").getOrCreate()
    assert again is spark
    # Options given once the session exists change its conf, not the running context.
    assert spark.conf.get("spark.k") == "v" and sc.getConf().get("spark.k") is None
    assert SparkSession.getActiveSession() is spark and SparkSession.active() is spark
    spark.conf.unset("spark.k")


def test_builder_options_reach_a_new_context():
    code = textwrap.dedent("""
        from ember import SparkConf
        from ember.sql import SparkSession
        conf = SparkConf().set("spark.from.conf", "1")
        with (SparkSession.builder.master("local[1]").appName("built").config("spark.a", 2)
              .config(conf=conf).config(map={"spark.b": True}).getOrCreate()) as spark:
            sc = spark.sparkContext
            print(sc.master, sc.appName, sc.getConf().get("spark.a"), sc.getConf().get("spark.from.conf"),
                  spark.conf.get("spark.b"), spark.version == sc.version)
            print(sc.parallelize(range(4)).sum())
        print(sc._core.stopped, SparkSession.getActiveSession())
        again = SparkSession.builder.master("local[1]").getOrCreate()
        print(again.sparkContext is not sc, again.sparkContext.parallelize([1]).count())
        again.stop()
    """)
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["local[1] built 2 1 true True", "6", "True None", "True 1"]


def test_runtime_conf(sc):
    spark = SparkSession(sc)
    assert spark.conf.get("spark.master") == spark.sparkContext.master
    assert spark.conf.get("spark.no.such.key", None) is None
    with pytest.raises(KeyError, match="spark.no.such.key"):
        spark.conf.get("spark.no.such.key")
    spark.conf.set("spark.sql.shuffle.partitions", 4)
    assert spark.conf.get("spark.sql.shuffle.partitions") == "4"
    assert spark.conf.getAll["spark.sql.shuffle.partitions"] == "4"
    assert spark.conf.isModifiable("spark.sql.shuffle.partitions") and not spark.conf.isModifiable("spark.master")
    spark.conf.unset("spark.sql.shuffle.partitions")


def test_read_text_rows_have_a_value_field(spark, tmp_path):
    (tmp_path / "a.txt").write_text("the cat\nthe dog\n")
    (tmp_path / "b.txt").write_text("a cat\n")
    df = spark.read.text(str(tmp_path))
    assert isinstance(df, DataFrame) and df.columns == ["value"]
    rows = df.rdd.collect()
    assert all(isinstance(r, Row) for r in rows)
    assert sorted(r.value for r in rows) == ["a cat", "the cat", "the dog"]
    assert sorted(r[0] for r in rows) == sorted(r["value"] for r in rows)
    counts = (spark.read.text([str(tmp_path / "a.txt"), str(tmp_path / "b.txt")]).rdd.map(lambda r: r[0])
              .flatMap(str.split).map(lambda w: (w, 1)).reduceByKey(lambda a, b: a + b))
    assert sorted(counts.collect()) == [("a", 1), ("cat", 2), ("dog", 1), ("the", 2)]
    whole = spark.read.text(str(tmp_path / "a.txt"), wholetext=True).rdd.collect()
    assert whole == [Row(value="the cat\nthe dog\n")]


def test_read_text_bad_arguments(spark, tmp_path):
    with pytest.raises(TypeError, match="path"):
        spark.read.text(3)
    with pytest.raises(NotImplementedError, match="lineSep"):
        spark.read.text(str(tmp_path), lineSep=";")
    with pytest.raises(NotImplementedError, match="instead"):
        spark.read.text(str(tmp_path), recursiveFileLookup=True)


@pytest.mark.parametrize("call, names, instead", [
    (lambda s, df: s.sql("select 1"), "SparkSession.sql", "RDD API"),
    (lambda s, df: s.createDataFrame([(1, 2)]), "SparkSession.createDataFrame", "parallelize"),
    (lambda s, df: s.range(3), "SparkSession.range", "sparkContext.range"),
    (lambda s, df: s.table("t"), "SparkSession.table", "textFile"),
    (lambda s, df: s.catalog, "SparkSession.catalog", "instead"),
    (lambda s, df: s.udf, "SparkSession.udf", "rdd.map"),
    (lambda s, df: s.read.csv("x"), "DataFrameReader.csv", "sc.textFile"),
    (lambda s, df: s.read.format("parquet"), "DataFrameReader.format", "spark.read.text"),
    (lambda s, df: df.count(), "DataFrame.count", "df.rdd.count()"),
    (lambda s, df: df.select("value"), "DataFrame.select", "df.rdd.map"),
    (lambda s, df: df.show(), "DataFrame.show", "df.rdd.take(20)"),
    (lambda s, df: df.filter("value > 1"), "DataFrame.filter", "df.rdd.filter"),
    (lambda s, df: df.groupBy("value"), "DataFrame.groupBy", "df.rdd.groupBy"),
    (lambda s, df: df.write, "DataFrame.write", "saveAsTextFile"),
    (lambda s, df: df.schema, "DataFrame.schema", "df.rdd"),
    (lambda s, df: df.toPandas(), "DataFrame.toPandas", "df.rdd.collect()"),
    (lambda s, df: s.sparkContext.parallelize([1]).toDF(), "toDF", "instead"),
])
def test_spark_sql_raises_naming_what_to_use(spark, tmp_path, call, names, instead):
    (tmp_path / "a.txt").write_text("x\n")
    df = spark.read.text(str(tmp_path))
    with pytest.raises(NotImplementedError) as err:
        call(spark, df)
    assert names in str(err.value) and instead in str(err.value)


def test_row_as_pyspark():
    row = Row(name="Alice", age=11)
    assert row == ("Alice", 11) and row.name == "Alice" and row["age"] == 11 and row[1] == 11
    assert row.asDict() == {"name": "Alice", "age": 11}
    assert repr(row) == "Row(name='Alice', age=11)"
    assert "name" in row and "Alice" not in row
    Person = Row("name", "age")
    assert repr(Person) == "<Row('name', 'age')>"
    assert Person("Bob", 3).asDict() == {"name": "Bob", "age": 3}
    back = pickle.loads(pickle.dumps(Row(a=1, b=Row(c=[Row(d=2)]))))
    assert back.b.c[0].d == 2 and back.asDict(recursive=True) == {"a": 1, "b": {"c": [{"d": 2}]}}
    with pytest.raises(AttributeError, match="missing"):
        row.missing
    with pytest.raises(ValueError):
        row["missing"]
    with pytest.raises(RuntimeError, match="read-only"):
        row.age = 12
    with pytest.raises(ValueError, match="CANNOT_SET_TOGETHER"):
        Row("a", b=1)
    with pytest.raises(TypeError, match="CANNOT_CONVERT_TYPE"):
        Row(1, 2).asDict()
    with pytest.raises(ValueError, match="TOO_MANY_VALUES"):
        Person(1, 2, 3)


def test_rows_in_rdd_programs(sc):
    people = sc.parallelize([Row(name="a", age=30), Row(name="b", age=20), Row(name="c", age=30)], 2)
    by_age = people.map(lambda r: (r.age, r.name)).groupByKey().mapValues(sorted)
    assert sorted(by_age.collect()) == [(20, ["b"]), (30, ["a", "c"])]
    made = sc.parallelize(range(3), 2).map(lambda i: Row(i=i, sq=i * i)).filter(lambda r: r.sq > 0).collect()
    assert made == [Row(i=1, sq=1), Row(i=2, sq=4)] and made[1].asDict() == {"i": 2, "sq": 4}
    assert people.sortBy(lambda r: (r.age, r.name)).first().name == "b"


Pair = namedtuple("Pair", "key value")


def test_namedtuples_of_a_test_module_travel_into_tasks(sc):
    got = sc.parallelize([Pair("a", 1), Pair("b", 2), Pair("a", 3)], 2).map(lambda p: Pair(p.key, p.value * 10))
    out = got.collect()
    assert out == [("a", 10), ("b", 20), ("a", 30)]
    assert all(type(p) is Pair for p in out)  # the driver gets its own class back
    assert sorted(got.reduceByKey(lambda a, b: a + b).collect()) == [("a", 40), ("b", 20)]


def test_namedtuples_of_main_travel_into_tasks():
    code = textwrap.dedent("""
        from collections import namedtuple
        from typing import NamedTuple
        Point = namedtuple("Point", "x y")          # made before ember is imported
        from ember import SparkContext
        class Typed(NamedTuple):
            a: int
            b: str = "-"
        sc = SparkContext("local[2]", "namedtuples")
        pts = sc.parallelize([Point(1, 2), Point(3, 4)], 2).map(lambda p: Point(p.y, p.x)).collect()
        print(pts, type(pts[0]) is Point)
        print(sc.parallelize(range(3), 2).map(lambda i: Typed(i)).filter(lambda t: t.a > 0).collect())
        sc.stop()
    """)
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["[Point(x=2, y=1), Point(x=4, y=3)] True",
                                       "[Typed(a=1, b='-'), Typed(a=2, b='-')]"]


def test_generic_annotations():
    counts: RDD[Tuple[str, int]]  # noqa: F842 (the annotation is what is tested)
    assert RDD[Tuple[str, int]].__origin__ is RDD
    assert Broadcast[int].__origin__ is Broadcast and Accumulator[float].__origin__ is Accumulator


def test_typed_program_runs(sc):
    def top(rdd: "RDD[str]") -> RDD[Tuple[str, int]]:
        return rdd.map(lambda w: (w, 1)).reduceByKey(lambda a, b: a + b)
    words: RDD[str] = sc.parallelize(["a", "b", "a"])
    assert sorted(top(words).collect()) == [("a", 2), ("b", 1)]
    assert isinstance(SparkConf(), SparkConf)
