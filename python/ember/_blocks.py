"""The block store's memory budget and storage figures, as the Python side sees them.

The engine (``src/blocks.c``) keeps every cached partition of the driver process
under one byte budget, read from Spark's keys:

``spark.executor.memory`` (default ``1g``)
    The memory of the process that runs the executor. In local mode that process is
    the driver (ember runs the engine inside it), so this key sizes the driver's
    engine; when only ``spark.driver.memory`` is set, that one is used, as it is what
    sizes the executor of a local Spark application.
``spark.memory.fraction`` (default ``0.6``)
    The part of (memory - 300 MiB reserved) that cached blocks and the engine's own
    working memory (results in flight, parallelized data) share: the *unified
    region*. ``spark.testing.reservedMemory`` changes the reserved 300 MiB, as in
    Spark (tests use it for budgets of a few MiB).
``spark.memory.storageFraction`` (default ``0.5``)
    The part of the unified region that cached blocks keep whatever the rest of the
    engine uses; past it, and past what the rest leaves free, least-recently-used
    blocks leave memory.

The engine counts the bytes it allocates itself (``_core.mem_used()``): cached
partitions, buffers, results on their way to Python. Python objects of the driver
program and the Python worker processes are not in that count; workers have their
own limit, ``spark.python.worker.memory``.
"""

from __future__ import annotations

import weakref

from ember import _core
from ember.shuffle import parse_memory

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ember.conf import SparkConf
    from ember.context import SparkContext
    from ember.rdd import RDD
    from ember.storagelevel import StorageLevel

RESERVED_MEMORY = 300 << 20

__all__ = ["memory_budget", "level_flags", "storage_status", "register", "unregister"]


def _fraction(conf: SparkConf, key: str, default: float) -> float:
    text = conf.get(key)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{key}={text!r} must be a fraction between 0 and 1 (Spark's default is {default})")
    return value


def memory_budget(conf: SparkConf) -> tuple[int, int]:
    """(unified region bytes, storage bytes) from the conf, as described above.

    >>> from ember import SparkConf
    >>> limit, reserve = memory_budget(SparkConf(loadDefaults=False))
    >>> limit == int(((1 << 30) - (300 << 20)) * 0.6), reserve == limit // 2
    (True, True)
    >>> memory_budget(SparkConf(loadDefaults=False).set("spark.executor.memory", "8m")
    ...               .set("spark.testing.reservedMemory", "0"))
    (5033164, 2516582)
    """
    key = "spark.executor.memory"
    text = conf.get(key)
    if text is None and conf.get("spark.driver.memory") is not None:
        key, text = "spark.driver.memory", conf.get("spark.driver.memory")
    try:
        total = parse_memory(text if text is not None else "1g")
    except ValueError:
        total = -1
    if total <= 0:
        raise ValueError(f"{key}={text!r} is not a memory size: use e.g. 512m or 2g")
    reserved_text = conf.get("spark.testing.reservedMemory")
    try:
        reserved = RESERVED_MEMORY if reserved_text is None else int(reserved_text)
    except ValueError:
        reserved = -1
    if reserved < 0:
        raise ValueError(f"spark.testing.reservedMemory={reserved_text!r} must be a number of bytes")
    if total < reserved * 3 // 2:
        raise ValueError(
            f"{key}={text} ({total} bytes) must be at least {reserved * 3 // 2} bytes (1.5 times the "
            f"{reserved} bytes reserved for the process itself); raise {key}")
    fraction = _fraction(conf, "spark.memory.fraction", 0.6)
    storage = _fraction(conf, "spark.memory.storageFraction", 0.5)
    limit = int((total - reserved) * fraction)
    return limit, int(limit * storage)


def level_flags(level: StorageLevel) -> int:
    """The engine's flags (STORAGE_MEMORY | STORAGE_DISK) for a StorageLevel. OFF_HEAP
    is memory (the engine's heap is not the JVM's: there is no off-heap region apart
    from it); replication is one copy, on this machine."""
    flags = 0
    if level.useMemory or level.useOffHeap:
        flags |= _core.STORAGE_MEMORY
    if level.useDisk:
        flags |= _core.STORAGE_DISK
    return flags


# Each context's persisted RDDs by id, held weakly (as Spark's persistent RDDs): an
# RDD that is garbage collected drops its blocks with its node.
_persisted: weakref.WeakKeyDictionary[SparkContext, weakref.WeakValueDictionary[int, RDD[Any]]] = (
    weakref.WeakKeyDictionary())


def register(sc: SparkContext, rdd: RDD[Any]) -> None:
    """Remembers a persisted RDD for storage_status."""
    _persisted.setdefault(sc, weakref.WeakValueDictionary())[rdd.id()] = rdd


def unregister(sc: SparkContext, rdd: RDD[Any]) -> None:
    """Forgets an RDD that was unpersisted."""
    persisted = _persisted.get(sc)
    if persisted is not None:
        persisted.pop(rdd.id(), None)


def storage_status(sc: SparkContext) -> list[dict[str, Any]]:
    """One dict per persisted RDD the block store holds: id, name, storage_level (as
    PySpark prints it), num_partitions, num_cached_partitions, memory_used, disk_used
    (bytes), and blocks: where each cached partition is (partition, executor: 0 the
    driver, else the rank of the executor keeping it in cluster mode, memory_used,
    disk_used)."""
    persisted = _persisted.get(sc)
    out = []
    for node_id, _flags, nparts, cached, mem, disk in sorted(sc._core.storage_status()):
        rdd = persisted.get(node_id) if persisted is not None else None
        if rdd is None:
            continue  # its RDD object is gone: so are its blocks, in a moment
        out.append({"id": node_id, "name": rdd.name() or type(rdd).__name__,
                    "storage_level": str(rdd.getStorageLevel()), "num_partitions": nparts,
                    "num_cached_partitions": cached, "memory_used": mem, "disk_used": disk,
                    "blocks": [{"partition": p, "executor": e, "memory_used": m, "disk_used": d}
                               for p, e, m, d in sc._core.storage_blocks(node_id)]})
    return out
