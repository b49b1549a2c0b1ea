"""Persistence and identity: persist/unpersist and storage levels, reliable and local
checkpoints, ids, names, repr, toDebugString, lineage introspection."""
import os
import re

import pytest

from ember import PythonException, StorageLevel


def _counting_map(tmp_path, name):
    """A map function that leaves one file per call, to count evaluations."""
    d = tmp_path / name
    d.mkdir()

    def f(x):
        import uuid
        (d / uuid.uuid4().hex).write_text("")
        return x * 10

    return f, (lambda: len(os.listdir(d)))


def test_persist_levels_and_changes(sc):
    rdd = sc.parallelize([1, 2, 3])
    assert rdd.getStorageLevel() == StorageLevel.NONE and not rdd.is_cached
    assert rdd.persist(StorageLevel.MEMORY_AND_DISK) is rdd
    assert rdd.is_cached and rdd.getStorageLevel() == StorageLevel.MEMORY_AND_DISK
    rdd.persist(StorageLevel.MEMORY_AND_DISK)  # the same level again is fine
    with pytest.raises(ValueError, match="Cannot change storage level of an RDD after it was already assigned a level"):
        rdd.persist(StorageLevel.DISK_ONLY)
    with pytest.raises(ValueError, match="unpersist"):
        rdd.cache()
    assert rdd.unpersist() is rdd
    assert not rdd.is_cached and rdd.getStorageLevel() == StorageLevel.NONE
    assert rdd.cache().getStorageLevel() == StorageLevel.MEMORY_ONLY
    with pytest.raises(TypeError, match="StorageLevel"):
        sc.parallelize([1]).persist("MEMORY_ONLY")


def test_cache_computes_once(sc, tmp_path):
    f, calls = _counting_map(tmp_path, "cache")
    rdd = sc.parallelize(range(6), 3).map(f).cache()
    assert rdd.collect() == [0, 10, 20, 30, 40, 50]
    assert rdd.map(lambda x: x + 1).sum() == 156  # does not fuse into the cached RDD
    assert calls() == 6
    rdd.unpersist()
    rdd.count()
    assert calls() == 12


def test_storage_level_strings():
    assert str(StorageLevel.MEMORY_AND_DISK_DESER) == "Disk Memory Deserialized 1x Replicated"
    assert str(StorageLevel.DISK_ONLY_3) == "Disk Serialized 3x Replicated"
    assert repr(StorageLevel.OFF_HEAP) == "StorageLevel(True, True, True, False, 1)"
    assert StorageLevel(False, True, False, False) == StorageLevel.MEMORY_ONLY
    assert StorageLevel.MEMORY_ONLY != StorageLevel.MEMORY_ONLY_2
    assert len({StorageLevel.MEMORY_ONLY, StorageLevel(False, True, False, False, 1)}) == 1


def test_checkpoint_needs_a_directory(sc):
    saved = sc._checkpoint_dir
    sc._checkpoint_dir = None
    try:
        assert sc.getCheckpointDir() is None
        with pytest.raises(RuntimeError, match="Checkpoint directory has not been set"):
            sc.parallelize([1]).checkpoint()
    finally:
        sc._checkpoint_dir = saved


def test_reliable_checkpoint_writes_files_at_next_job_and_reads_them(sc, tmp_path):
    sc.setCheckpointDir(str(tmp_path / "ck"))
    ckdir = sc.getCheckpointDir()
    assert ckdir.startswith(f"file:{tmp_path}/ck/") and os.path.isdir(ckdir[5:])
    f, calls = _counting_map(tmp_path, "ckpt")
    rdd = sc.parallelize(range(6), 3).map(f)
    rdd.checkpoint()
    assert rdd.is_checkpointed and not rdd.isCheckpointed() and rdd.getCheckpointFile() is None
    assert os.listdir(ckdir[5:]) == []
    assert rdd.take(1) == [0]  # the next job: afterwards the whole RDD is written
    assert rdd.isCheckpointed()
    path = rdd.getCheckpointFile()
    assert path == f"{ckdir}/rdd-{rdd.id()}"
    assert sorted(os.listdir(path[5:])) == [".part-00000.crc", ".part-00001.crc", ".part-00002.crc",
                                            "part-00000", "part-00001", "part-00002"]
    before = calls()
    assert rdd.collect() == [0, 10, 20, 30, 40, 50]
    assert rdd.map(lambda x: x + 1).collect() == [1, 11, 21, 31, 41, 51]
    assert rdd.getNumPartitions() == 3 and rdd.glom().collect() == [[0, 10], [20, 30], [40, 50]]
    assert calls() == before  # read from the files, not recomputed
    lines = rdd.toDebugString().decode().splitlines()
    assert lines[0].startswith(f"(3) PythonRDD[{rdd.id()}] at map at ")
    assert re.match(r" \|  ReliableCheckpointRDD\[\d+\] at take at ", lines[1])
    assert len(lines) == 2  # the lineage is cut


def test_checkpoint_of_an_ancestor_is_written_after_a_job_on_a_descendant(sc, tmp_path):
    sc.setCheckpointDir(str(tmp_path))
    base = sc.parallelize(range(10), 2).map(lambda x: (x % 3, x))
    base.checkpoint()
    reduced = base.reduceByKey(lambda a, b: a + b)
    assert sorted(reduced.collect()) == [(0, 18), (1, 12), (2, 15)]
    assert base.isCheckpointed()
    assert sorted(base.collect()) == sorted((x % 3, x) for x in range(10))


def test_checkpoint_keeps_partitioner(sc, tmp_path):
    sc.setCheckpointDir(str(tmp_path))
    parted = sc.parallelize([(i, i) for i in range(20)], 3).partitionBy(4)
    parted.checkpoint()
    parted.count()
    assert parted.isCheckpointed() and parted.partitioner is not None
    assert parted.lookup(5) == [5]


def test_local_checkpoint(sc, tmp_path):
    f, calls = _counting_map(tmp_path, "local")
    rdd = sc.parallelize(range(4), 2).map(f)
    rdd.localCheckpoint()
    assert rdd.isLocallyCheckpointed() and not rdd.isCheckpointed()
    assert rdd.getStorageLevel() == StorageLevel(True, True, False, True, 1)
    assert rdd.map(lambda x: x + 1).collect() == [1, 11, 21, 31]  # not fused into rdd
    assert rdd.isCheckpointed() and rdd.getCheckpointFile() is None
    n = calls()
    assert rdd.sum() == 60 and calls() == n
    cached = sc.parallelize([1]).persist(StorageLevel.MEMORY_ONLY)
    cached.localCheckpoint()
    assert cached.getStorageLevel() == StorageLevel(True, True, False, False, 1)


def test_ids_are_unique_and_stable(sc):
    a = sc.parallelize(range(10))
    b = a.map(str).filter(bool)
    assert a.id() == a.id()
    assert b.id() == a.id() + 1 and b.id() == b.id()
    ids = {sc.parallelize([1]).id() for _ in range(5)}
    assert len(ids) == 5


def test_names_context_and_repr(sc):
    rdd = sc.parallelize([1, 2], 2)
    assert rdd.context is sc and rdd.ctx is sc
    assert rdd.name() is None
    assert rdd.setName("numbers") is rdd and rdd.name() == "numbers"
    # The REPL-friendly repr (id, name, partitions, call site, lineage); Spark's
    # shape is what toDebugString gives.
    assert re.fullmatch(rf"RDD\[{rdd.id()}\] 'numbers' \(2 partitions\) from parallelize at test_persist\.py:\d+; "
                        r"lineage: parallelize", repr(rdd))
    mapped = rdd.map(str)
    assert re.fullmatch(rf"PipelinedRDD\[{mapped.id()}\] \(2 partitions\) from map at test_persist\.py:\d+; "
                        r"lineage: parallelize -> map", repr(mapped))
    assert "(0 partitions)" in repr(sc.emptyRDD())


def test_to_debug_string_stages(sc):
    pairs = sc.parallelize(range(10), 2).map(lambda x: (x % 3, x))
    reduced = pairs.reduceByKey(lambda a, b: a + b, 3).map(lambda kv: kv)
    text = reduced.toDebugString()
    assert isinstance(text, bytes)
    lines = text.decode().splitlines()
    shapes = [re.sub(r"\[\d+\] at .*? \[", "[] [", line) for line in lines]
    assert shapes == [
        "(3) PythonRDD[] []",
        " |  ShuffledRDD[] []",
        " +-(2) PythonRDD[] []",
        "    |  ParallelCollectionRDD[] []",
    ]
    u = sc.union([sc.parallelize([1], 1), sc.parallelize([2], 1)]).coalesce(1)
    lines = u.toDebugString().decode().splitlines()
    assert lines[0].startswith("(1) CoalescedRDD[") and lines[1].startswith(" |  UnionRDD[")
    assert [line[:26] for line in lines[2:]] == [" |  ParallelCollectionRDD["] * 2
    reduced.cache()
    assert all(line.endswith("[Memory Serialized 1x Replicated]") for line in
               reduced.toDebugString().decode().splitlines())


def test_to_debug_string_two_shuffles(sc):
    a = sc.parallelize([(1, 1)], 2).partitionBy(2)
    b = sc.parallelize([(1, 2)], 3).partitionBy(3)  # another partitioner: a plain union
    joined = a.union(b).groupByKey(12)
    lines = [re.sub(r"\[\d+\] at .*? \[", "[] [", line) for line in joined.toDebugString().decode().splitlines()]
    assert lines == [
        "(12) PythonRDD[] []",
        " |   ShuffledRDD[] []",
        " +-(5) UnionRDD[] []",
        "    |  ShuffledRDD[] []",
        "    +-(2) ParallelCollectionRDD[] []",
        "    |  ShuffledRDD[] []",
        "    +-(3) ParallelCollectionRDD[] []",
    ]


def test_node_introspection(sc):
    rdd = sc.parallelize([0, 1, 2, 3], 2).map(lambda x: (x, 1)).reduceByKey(lambda a, b: a + b)
    node = rdd._node
    assert node.kind == "pipeline"
    (shuffle,) = node.parents
    assert shuffle.kind == "shuffle" and shuffle.num_partitions == 2
    (pipe,) = shuffle.parents
    assert pipe.kind == "pipeline" and pipe.parents[0].kind == "parallelize"
    assert pipe.parents[0].parents == ()
    z = sc.parallelize([1]).zip(sc.parallelize([2]))
    assert z._node.kind == "zip" and len(z._node.parents) == 2
    assert sc.range(3)._node.kind == "range"


def test_checkpoint_write_failure_fails_the_action(sc, tmp_path):
    sc.setCheckpointDir(str(tmp_path))
    rdd = sc.parallelize([1, 0], 2).map(lambda x: 1 // x)
    rdd.checkpoint()
    with pytest.raises(PythonException, match="ZeroDivisionError"):
        rdd.take(1)  # partition 0 succeeds; writing the checkpoint computes partition 1
    assert not rdd.isCheckpointed()
