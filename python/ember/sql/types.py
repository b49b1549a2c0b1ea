"""Row: a record with named fields, as ``pyspark.sql.types.Row``.

A Row is a tuple whose fields also have names: ``Row(name="Alice", age=11)`` keeps the
fields in the order given; ``row.name``, ``row["name"]`` and ``row[0]`` read them.
``Row("name", "age")`` makes a row *class* that builds rows from positional values.
Rows pickle by field names and values, so they travel into tasks and back.
"""

from __future__ import annotations

from ember._typing import overload

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

__all__ = ["Row"]


def _create_row(fields: Iterable[str], values: Iterable[Any]) -> Row:
    row = Row(*values)
    row.__fields__ = list(fields)
    return row


class Row(tuple["Any", ...]):  # at run time: a tuple subclass (typing is not imported)
    """A row with named fields: a tuple whose fields can also be read by name
    (``row.key``, ``row["key"]``); ``key in row`` looks among the field names.

    Examples
    --------
    >>> row = Row(name="Alice", age=11)
    >>> row
    Row(name='Alice', age=11)
    >>> row["name"], row.age, row[0]
    ('Alice', 11, 'Alice')
    >>> "name" in row, "wrong_key" in row
    (True, False)

    A Row can also make a row class, which builds rows from values:

    >>> Person = Row("name", "age")
    >>> Person
    <Row('name', 'age')>
    >>> Person("Alice", 11)
    Row(name='Alice', age=11)
    >>> sc.parallelize([Person("Bob", 5)]).map(lambda r: r.age + 1).collect()
    [6]
    """

    __fields__: list[str]

    @overload
    def __new__(cls, *args: str) -> Row: ...

    @overload
    def __new__(cls, **kwargs: Any) -> Row: ...

    def __new__(cls, *args: Any, **kwargs: Any) -> Row:
        if args and kwargs:
            raise ValueError("[CANNOT_SET_TOGETHER] args and kwargs should not be set together: "
                             "give a Row either field values by name or field names, not both.")
        if kwargs:
            row = tuple.__new__(cls, list(kwargs.values()))
            row.__fields__ = list(kwargs)
            return row
        return tuple.__new__(cls, args)

    def asDict(self, recursive: bool = False) -> dict[str, Any]:
        """The row as a dict of field name -> value.

        Parameters
        ----------
        recursive : bool, optional
            Turn nested Rows (also inside lists and dicts) into dicts too.

        Returns
        -------
        dict

        Examples
        --------
        >>> Row(key=1, value=Row(name="a", age=2)).asDict(True)
        {'key': 1, 'value': {'name': 'a', 'age': 2}}
        """
        if not hasattr(self, "__fields__"):
            raise TypeError("[CANNOT_CONVERT_TYPE] Cannot convert Row into dict: this Row has no field "
                            "names; build it with Row(name=value, ...) or from a row class.")
        if recursive:
            def conv(obj: Any) -> Any:
                if isinstance(obj, Row):
                    return obj.asDict(True)
                if isinstance(obj, list):
                    return [conv(o) for o in obj]
                if isinstance(obj, dict):
                    return {k: conv(v) for k, v in obj.items()}
                return obj
            return dict(zip(self.__fields__, (conv(o) for o in self)))
        return dict(zip(self.__fields__, self))

    def __contains__(self, item: Any) -> bool:
        if hasattr(self, "__fields__"):
            return item in self.__fields__
        return super().__contains__(item)

    def __call__(self, *args: Any) -> Row:
        """A new row with this row class's field names and the given values."""
        if len(args) > len(self):
            raise ValueError(f"[TOO_MANY_VALUES] Expected {len(self)} values for `fields`, got {len(args)}.")
        return _create_row(self, args)

    def __getitem__(self, item: Any) -> Any:
        if isinstance(item, (int, slice)):
            return super().__getitem__(item)
        try:
            idx = self.__fields__.index(item)
        except (AttributeError, ValueError):
            raise ValueError(item) from None
        return super().__getitem__(idx)

    def __getattr__(self, item: str) -> Any:
        if item.startswith("__"):
            raise AttributeError(f"[ATTRIBUTE_NOT_SUPPORTED] Attribute `{item}` is not supported.")
        try:
            idx = self.__fields__.index(item)
            return self[idx]
        except (IndexError, ValueError):
            raise AttributeError(f"[ATTRIBUTE_NOT_SUPPORTED] Attribute `{item}` is not supported: the "
                                 f"row's fields are {self.__fields__}.") from None

    def __setattr__(self, key: Any, value: Any) -> None:
        if key != "__fields__":
            raise RuntimeError("[READ_ONLY] Row is read-only: make a new Row instead.")
        self.__dict__[key] = value

    def __reduce__(self) -> str | tuple[Any, ...]:
        if hasattr(self, "__fields__"):
            return (_create_row, (self.__fields__, tuple(self)))
        return tuple.__reduce__(self)

    def __repr__(self) -> str:
        if hasattr(self, "__fields__"):
            return "Row(%s)" % ", ".join("%s=%r" % (k, v) for k, v in zip(self.__fields__, tuple(self)))
        return "<Row(%s)>" % ", ".join(repr(field) for field in self)
