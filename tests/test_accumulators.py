"""Accumulators: updates count once per successful task, never from a failed
attempt; custom params; driver-only value; recomputation as in PySpark."""
import threading

import pytest

from ember import AccumulatorParam, PythonException


class VectorParam(AccumulatorParam):
    """Element-wise sum of lists, updating the left list in place."""

    def zero(self, value):
        return [0.0] * len(value)

    def addInPlace(self, v1, v2):
        for i in range(len(v1)):
            v1[i] += v2[i]
        return v1


def test_injected_failure_and_retry_counts_each_record_once(sc, tmp_path):
    flag = tmp_path / "failed-once"
    acc = sc.accumulator(0)
    seen = sc.accumulator(0)

    def f(x):
        acc.add(1)
        seen.add(x)
        if x == 7 and not flag.exists():
            flag.touch()
            raise RuntimeError("injected failure after counting records 5..7")
        return x

    assert sc.parallelize(range(10), 2).map(f).collect() == list(range(10))
    assert flag.exists()  # the attempt did fail, and was retried
    assert acc.value == 10
    assert seen.value == sum(range(10))


def test_successful_tasks_count_when_the_job_later_fails(sc):
    acc = sc.accumulator(0)

    def count(x):
        acc.add(1)
        return (x, x)

    def fail(kv):
        raise ValueError("the result stage always fails")

    # The map stage's 10 records succeed; the job fails in the result stage.
    with pytest.raises(PythonException, match="the result stage always fails"):
        sc.parallelize(range(10), 3).map(count).partitionBy(2).map(fail).collect()
    assert acc.value == 10


def test_custom_param_adds_vectors(sc):
    va = sc.accumulator([1.0, 2.0, 3.0], VectorParam())

    def g(x):
        va.add([x] * 3)

    sc.parallelize([1, 2, 3, 4], 4).map(g).count()
    assert va.value == [11.0, 12.0, 13.0]
    # Many tasks per worker: each starts from a fresh zero (the zero is not mutated).
    vb = sc.accumulator([0.0, 0.0], VectorParam())
    sc.parallelize(range(100), 50).map(lambda x: vb.add([1.0, float(x)])).count()
    assert vb.value == [100.0, float(sum(range(100)))]


def test_plus_equals_and_defaults(sc):
    a, f, c = sc.accumulator(1), sc.accumulator(0.5), sc.accumulator(1j)

    def add(x):
        nonlocal a, f, c
        a += x
        f += x / 2
        c += x * 1j

    sc.parallelize([1, 2, 3]).map(add).count()
    assert (a.value, f.value, c.value) == (7, 3.5, 7j)
    assert repr(a) == f"Accumulator<id={a.aid}, value=7>" and str(a) == "7"
    with pytest.raises(TypeError, match="No default accumulator param for type <class 'list'>"):
        sc.accumulator([1, 2])


def test_value_is_driver_only(sc):
    acc = sc.accumulator(0)

    def read(x):
        return acc.value

    def write(x):
        acc.value = 3

    for f in (read, write):
        with pytest.raises(PythonException, match=r"\[VALUE_NOT_ACCESSIBLE\] Value `Accumulator.value` "
                                                  r"cannot be accessed inside tasks"):
            sc.parallelize([1], 1).map(f).collect()


def test_recomputed_transformations_count_again_cached_ones_do_not(sc):
    plain = sc.accumulator(0)
    rdd = sc.parallelize(range(5), 2).map(lambda x: plain.add(1) or x)
    rdd.count()
    rdd.count()
    assert plain.value == 10  # as in PySpark: the map runs for each job
    kept = sc.accumulator(0)
    cached = sc.parallelize(range(5), 2).map(lambda x: kept.add(1) or x).cache()
    cached.count()
    cached.count()
    assert kept.value == 5


def test_shuffle_map_output_reused_by_a_later_job_is_not_counted_again(sc):
    acc = sc.accumulator(0)
    pairs = sc.parallelize(range(6), 3).map(lambda x: acc.add(1) or (x % 2, x))
    summed = pairs.reduceByKey(lambda a, b: a + b)
    assert sorted(summed.collect()) == [(0, 6), (1, 9)]
    assert sorted(summed.collect()) == [(0, 6), (1, 9)]
    assert acc.value == 6


def test_one_accumulator_in_several_functions_of_one_job(sc):
    acc = sc.accumulator(0)
    left = sc.parallelize(range(3), 1).map(lambda x: acc.add(1) or x)
    right = sc.parallelize(range(4), 2).map(lambda x: acc.add(10) or x).filter(lambda x: acc.add(100) or True)
    assert left.union(right).count() == 7
    assert acc.value == 3 + 4 * 110


def test_concurrent_jobs_update_one_accumulator(sc):
    acc = sc.accumulator(0)
    errors = []

    def run():
        try:
            sc.parallelize(range(100), 4).map(lambda x: acc.add(x)).count()
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert acc.value == 4 * sum(range(100))
