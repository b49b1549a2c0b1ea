"""ResultIterable: the values of one key after ``groupByKey``, ``groupBy`` or ``cogroup``."""

from __future__ import annotations

from collections.abc import Iterable

from ember._typing import T_co

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["ResultIterable"]


class ResultIterable(Iterable[T_co]):
    """The values of one key: iterable (more than once), with ``len()``; ``data``
    holds them as a list.

    Examples
    --------
    >>> groups = dict(sc.parallelize([("a", 1), ("a", 2)]).groupByKey().collect())
    >>> len(groups["a"]), sorted(groups["a"])
    (2, [1, 2])
    """

    def __init__(self, data: list[T_co]) -> None:
        self.data = data
        self.index = 0
        self.maxindex = len(data)

    def __iter__(self) -> Iterator[T_co]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"ResultIterable({self.data!r})"
