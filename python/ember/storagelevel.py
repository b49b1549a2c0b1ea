"""StorageLevel: how a persisted RDD is kept."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import ClassVar


class StorageLevel:
    """Flags for how an RDD's partitions are stored, as ``pyspark.StorageLevel``.

    Examples
    --------
    >>> str(StorageLevel.MEMORY_ONLY)
    'Memory Serialized 1x Replicated'
    >>> StorageLevel.MEMORY_ONLY
    StorageLevel(False, True, False, False, 1)
    """

    NONE: ClassVar[StorageLevel]
    DISK_ONLY: ClassVar[StorageLevel]
    DISK_ONLY_2: ClassVar[StorageLevel]
    DISK_ONLY_3: ClassVar[StorageLevel]
    MEMORY_ONLY: ClassVar[StorageLevel]
    MEMORY_ONLY_2: ClassVar[StorageLevel]
    MEMORY_AND_DISK: ClassVar[StorageLevel]
    MEMORY_AND_DISK_2: ClassVar[StorageLevel]
    MEMORY_AND_DISK_DESER: ClassVar[StorageLevel]
    OFF_HEAP: ClassVar[StorageLevel]

    def __init__(self, useDisk: bool, useMemory: bool, useOffHeap: bool, deserialized: bool,
                 replication: int = 1) -> None:
        self.useDisk = useDisk
        self.useMemory = useMemory
        self.useOffHeap = useOffHeap
        self.deserialized = deserialized
        self.replication = replication

    def __repr__(self) -> str:
        return (f"StorageLevel({self.useDisk}, {self.useMemory}, {self.useOffHeap}, "
                f"{self.deserialized}, {self.replication})")

    def __str__(self) -> str:
        parts: list[str] = []
        if self.useDisk:
            parts.append("Disk ")
        if self.useMemory:
            parts.append("Memory ")
        if self.useOffHeap:
            parts.append("OffHeap ")
        parts.append("Deserialized " if self.deserialized else "Serialized ")
        parts.append(f"{self.replication}x Replicated")
        return "".join(parts)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StorageLevel) and (
            self.useDisk, self.useMemory, self.useOffHeap, self.deserialized, self.replication) == (
            other.useDisk, other.useMemory, other.useOffHeap, other.deserialized, other.replication)

    def __hash__(self) -> int:
        return hash((self.useDisk, self.useMemory, self.useOffHeap, self.deserialized, self.replication))


StorageLevel.NONE = StorageLevel(False, False, False, False)
StorageLevel.DISK_ONLY = StorageLevel(True, False, False, False)
StorageLevel.DISK_ONLY_2 = StorageLevel(True, False, False, False, 2)
StorageLevel.DISK_ONLY_3 = StorageLevel(True, False, False, False, 3)
StorageLevel.MEMORY_ONLY = StorageLevel(False, True, False, False)
StorageLevel.MEMORY_ONLY_2 = StorageLevel(False, True, False, False, 2)
StorageLevel.MEMORY_AND_DISK = StorageLevel(True, True, False, False)
StorageLevel.MEMORY_AND_DISK_2 = StorageLevel(True, True, False, False, 2)
StorageLevel.MEMORY_AND_DISK_DESER = StorageLevel(True, True, False, True)
StorageLevel.OFF_HEAP = StorageLevel(True, True, True, False, 1)
