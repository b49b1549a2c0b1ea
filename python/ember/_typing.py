"""The type variables and protocols of ember's annotations, and their stand-ins at run time.

Type checkers see the real ``typing`` names (``TYPE_CHECKING`` is true for them). At run
time ember does not import ``typing`` (it costs milliseconds of start-up): ``Generic``
is a small base whose subscript is a ``types.GenericAlias`` (so ``RDD[int]`` works in
annotations evaluated at run time), ``overload`` returns the function, and the type
variables are placeholders never looked at. Modules annotate with
``from __future__ import annotations``, so their annotations are not evaluated either.
"""

from types import GenericAlias

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Hashable
    from typing import Any, Generic as Generic, Protocol, TypeVar, overload as overload

    class SupportsOrdering(Protocol):
        """Values that sort: what sortBy, max, top and takeOrdered compare."""

        def __lt__(self, other: Any, /) -> bool: ...

    T = TypeVar("T")
    T_co = TypeVar("T_co", covariant=True)
    U = TypeVar("U")
    K = TypeVar("K", bound=Hashable)
    V = TypeVar("V")
    V1 = TypeVar("V1")
    V2 = TypeVar("V2")
    V3 = TypeVar("V3")
    S = TypeVar("S", bound=SupportsOrdering)
    # What sum, mean, stats ... add up: Python numbers (numpy's too, which are
    # registered as such).
    NumberOrArray = TypeVar("NumberOrArray", float, int, complex)
else:
    class Generic:
        """Run-time stand-in of typing.Generic: ``C[X]`` is a types.GenericAlias."""

        __slots__ = ()
        __class_getitem__ = classmethod(GenericAlias)

    def overload(func):
        """Run-time stand-in of typing.overload: the last definition wins."""
        return func

    T = T_co = U = K = V = V1 = V2 = V3 = S = NumberOrArray = None
