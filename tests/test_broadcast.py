"""Broadcast variables: stored once, loaded at most once per worker process, shipped
in closures as a handle; unpersist reloads, destroy forbids further use."""
import os
import pickle

import cloudpickle
import pytest

from ember import PythonException, TaskContext


def _record_load(log, payload):
    """Runs when a worker unpickles the broadcast value: one line per load."""
    with open(log, "a") as f:
        f.write(f"{os.getpid()}\n")
    return payload


class CountedLoad:
    """A value whose unpickling appends the loading process's pid to a log file."""

    def __init__(self, log, payload):
        self.log, self.payload = log, payload

    def __reduce__(self):
        return _record_load, (self.log, self.payload)


def _loads(log):
    return log.read_text().split() if log.exists() else []


def test_broadcast_read_by_1000_tasks_is_loaded_once_per_worker(sc, tmp_path):
    log = tmp_path / "loads"
    b = sc.broadcast(CountedLoad(str(log), list(range(10))))
    got = sc.parallelize(range(1000), 1000).map(lambda x: b.value[x % 10]).collect()
    assert got == [x % 10 for x in range(1000)]
    pids = _loads(log)
    assert 1 <= len(pids) <= 2  # local[2]: two worker processes at most
    assert len(set(pids)) == len(pids), f"a worker loaded the broadcast twice: {pids}"
    # Later jobs reuse each worker's copy.
    assert sc.parallelize(range(100), 10).map(lambda x: b.value[0]).sum() == 0
    assert _loads(log) == pids


def test_unpersist_drops_worker_copies_and_the_next_use_reloads(sc, tmp_path):
    log = tmp_path / "loads"
    b = sc.broadcast(CountedLoad(str(log), 7))
    assert sc.parallelize(range(4), 4).map(lambda x: b.value).collect() == [7] * 4
    first = len(_loads(log))
    b.unpersist()
    assert sc.parallelize(range(4), 4).map(lambda x: b.value + 1).collect() == [8] * 4
    assert len(_loads(log)) > first


def test_broadcast_in_a_closure_ships_as_a_handle(sc):
    big = sc.broadcast(b"x" * (16 << 20))
    f = lambda x: len(big.value) + x  # noqa: E731
    assert len(cloudpickle.dumps(f)) < 2000
    assert sc.parallelize(range(8), 8).map(f).collect() == [(16 << 20) + x for x in range(8)]
    big.destroy()


def test_large_broadcast_is_stored_once_and_read_by_many_tasks(sc):
    size = 64 << 20
    b = sc.broadcast(bytes(size))
    stored = [n for n in os.listdir(sc._core.tmpdir) if n.startswith("broadcast-")]
    sizes = [os.path.getsize(os.path.join(sc._core.tmpdir, n)) for n in stored]
    assert sum(1 for s in sizes if s >= size) == 1
    got = sc.parallelize(range(200), 200).map(lambda x: len(b.value)).collect()
    assert got == [size] * 200
    b.destroy()


def test_value_on_the_driver_and_in_tasks(sc):
    b = sc.broadcast({"a": 1, "b": 2})
    assert b.value == {"a": 1, "b": 2}
    assert sorted(sc.parallelize(["a", "b", "c"]).map(lambda k: b.value.get(k, 0)).collect()) == [0, 1, 2]


def test_destroy_makes_every_later_use_fail_clearly(sc):
    b = sc.broadcast([1, 2, 3])
    early = sc.parallelize([0], 1).map(lambda x: sum(b.value))
    early._node  # the closure is pickled now, while the broadcast is alive
    b.destroy()
    with pytest.raises(RuntimeError, match=r"Broadcast\(\d+\) after it was destroyed"):
        b.value
    with pytest.raises(RuntimeError, match="after it was destroyed"):
        sc.parallelize([0]).map(lambda x: b.value).collect()
    with pytest.raises(PythonException, match="BROADCAST_VARIABLE_NOT_LOADED.*destroyed"):
        early.collect()
    with pytest.raises(RuntimeError, match="after it was destroyed"):
        b.destroy()
    with pytest.raises(RuntimeError, match="after it was destroyed"):
        b.unpersist()
    assert not os.path.exists(b._path)
    assert sc.parallelize([1, 2]).sum() == 3


def test_worker_side_copies_refuse_driver_operations(sc):
    b = sc.broadcast(1)

    def try_op(name):
        try:
            if name == "pickle":
                pickle.dumps(b)
            else:
                getattr(b, name)()
        except RuntimeError as e:
            return str(e)
        return "no error"

    got = sc.parallelize(["unpersist", "destroy", "pickle"], 3).map(try_op).collect()
    assert got == ["[INVALID_BROADCAST_OPERATION] Broadcast can only be unpersisted in driver.",
                   "[INVALID_BROADCAST_OPERATION] Broadcast can only be destroyed in driver.",
                   "[INVALID_BROADCAST_OPERATION] Broadcast can only be serialized in driver."]


def test_values_plain_pickle_cannot_handle_are_shipped_by_value(sc):
    b = sc.broadcast(lambda x: x * 10)
    assert sc.parallelize([1, 2]).map(lambda x: b.value(x)).collect() == [10, 20]


def test_unpicklable_value_raises_pickling_error(sc):
    import threading
    with pytest.raises(pickle.PicklingError, match="Could not serialize broadcast"):
        sc.broadcast(threading.Lock())
    assert not [n for n in os.listdir(sc._core.tmpdir) if n.endswith(".part")]


def test_broadcast_used_by_several_rdds_of_one_job(sc):
    b = sc.broadcast(100)
    left = sc.parallelize([1, 2], 2).map(lambda x: x + b.value)
    right = sc.parallelize([3], 1).map(lambda x: x * b.value)
    assert left.union(right).collect() == [101, 102, 300]
    assert sc.parallelize([0]).map(lambda _: TaskContext.get() is not None and b.value).collect() == [100]


def test_broadcast_from_a_stream_without_context():
    import io
    import pickle

    from ember import Broadcast
    b = Broadcast(sock_file=io.BytesIO(pickle.dumps({"k": [1, 2]})))
    assert b.value == {"k": [1, 2]}


def _broadcast_files(sc):
    return sorted(f for f in os.listdir(sc._core.tmpdir) if f.startswith("broadcast-"))


def test_broadcasts_no_longer_referenced_are_freed_files_included(sc):
    """20 broadcasts of 10 MB, used, unpersisted and dropped, leave no file behind
    (as Spark's ContextCleaner frees them)."""
    import gc
    before = _broadcast_files(sc)
    for _ in range(20):
        b = sc.broadcast(bytes(10 << 20))
        assert sc.parallelize([0], 1).map(lambda _: len(b.value)).collect() == [10 << 20]  # noqa: F821
        b.unpersist()
        del b
    gc.collect()
    assert _broadcast_files(sc) == before
    assert len(sc._broadcast_alive) <= len(before)


def test_a_broadcast_pickled_into_a_command_lives_as_long_as_its_rdd(sc):
    """The function no longer reaches the broadcast, but its pickled command does:
    the RDD keeps the broadcast alive until the RDD goes."""
    import gc
    box = [sc.broadcast([1, 2, 3])]
    path = box[0]._path
    rdd = sc.parallelize([0], 1).map(lambda _: sum(box[0].value))
    rdd._node                       # the command is pickled now, with the broadcast's handle
    box.clear()
    gc.collect()
    assert os.path.exists(path)
    assert rdd.collect() == [6]
    del rdd
    gc.collect()
    assert not os.path.exists(path)
