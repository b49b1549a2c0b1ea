"""Serializers, as ``pyspark.serializers``: how objects become bytes and back.

ember itself stores records as standard pickles (protocol 5; functions and
lambdas through cloudpickle) in automatically sized batches, which is what
``sc.serializer`` reports: ``AutoBatchedSerializer(CloudPickleSerializer())``.
The classes here are the ones PySpark programs use directly: ``dumps``/``loads``
for one object, and ``dump_stream``/``load_stream`` over a binary file-like
stream, framed as PySpark frames them (a big-endian signed 32-bit length before
each object; the special lengths of :class:`SpecialLengths` mark the end of a
section or a None).

Importing ember makes the classes ``collections.namedtuple`` creates (also
``typing.NamedTuple`` ones) picklable by value, as PySpark does: a record of a
namedtuple class defined in ``__main__`` or a test module, which a worker cannot
import, pickles as its class name, field names and values, and the receiving process
rebuilds it — with the original class where that class exists (on the driver), else
with an equivalent namedtuple class made once per name and fields.

Examples
--------
>>> import io
>>> ser = BatchedSerializer(MarshalSerializer(), 2)
>>> buf = io.BytesIO()
>>> ser.dump_stream(range(5), buf)
>>> _ = buf.seek(0)
>>> list(ser.load_stream(buf))
[0, 1, 2, 3, 4]
"""

from __future__ import annotations

import collections
import io
import itertools
import marshal
import _pickle as pickle  # pickle's C core; pickle.py would import re and enum (start-up time)
import sys
import types
import weakref
from collections import ChainMap

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import IO, Any


__all__ = [
    "PickleSerializer",
    "CPickleSerializer",
    "CloudPickleSerializer",
    "MarshalSerializer",
    "UTF8Deserializer",
]

pickle_protocol = 5  # pickle.HIGHEST_PROTOCOL on the Pythons ember supports

_DYNAMIC_CODE = "<dynamic-code>"  # the file name cloudpickle (3.x) gives code it pickles
_pickler_class = None


def _pickler() -> Any:
    """cloudpickle's Pickler whose code objects keep their real file names, so that a
    failing user function's traceback in a worker names the user's file (line numbers
    travel anyway). Made on first use: importing cloudpickle is costly."""
    global _pickler_class
    if _pickler_class is None:
        import cloudpickle
        base = cloudpickle.Pickler.dispatch_table[types.CodeType]

        def code_reduce(code: Any) -> Any:
            rebuild, args = base(code)
            return rebuild, tuple(code.co_filename if type(a) is str and a == _DYNAMIC_CODE else a for a in args)

        class Pickler(cloudpickle.Pickler):  # type: ignore[misc]  # cloudpickle has no types
            dispatch_table = ChainMap({types.CodeType: code_reduce}, cloudpickle.Pickler.dispatch_table)

        _pickler_class = Pickler
    return _pickler_class


def cloudpickle_dumps(obj: Any, protocol: int = pickle_protocol) -> bytes:
    """``cloudpickle.dumps(obj, protocol)``, code objects keeping their file names."""
    with io.BytesIO() as f:
        _pickler()(f, protocol=protocol).dump(obj)
        return f.getvalue()


# ---- namedtuples picklable by value ------------------------------------------------------

# (module, name, fields) -> the class, for the classes of this process; weak, as
# classes made in a function can go away.
_namedtuple_classes: weakref.WeakValueDictionary[tuple[str, str, tuple[str, ...]], type] = weakref.WeakValueDictionary()
# (name, fields) -> a class made in this process by _restore
_rebuilt_namedtuples: dict[tuple[str, tuple[str, ...]], type] = {}


def _restore(name: Any, fields: Any, value: Any, module: Any = None) -> Any:
    """A namedtuple record from its pickled parts: an instance of the class it was
    made from when that class exists in this process, else of a namedtuple class
    with the same name and fields."""
    cls = _namedtuple_classes.get((module, name, fields))
    if cls is None:
        cls = _rebuilt_namedtuples.get((name, fields))
        if cls is None:
            cls = _rebuilt_namedtuples[(name, fields)] = _hack_namedtuple(collections.namedtuple(name, fields))
    return cls(*value)


def _hack_namedtuple(cls: Any) -> Any:
    """Gives a namedtuple class a __reduce__ that pickles its instances by value."""
    name, fields, module = cls.__name__, tuple(cls._fields), cls.__module__

    def __reduce__(self: Any) -> Any:
        return (_restore, (name, fields, tuple(self), module))

    cls.__reduce__ = __reduce__
    cls._is_namedtuple_ = True
    _namedtuple_classes[(module, name, fields)] = cls
    return cls


def _hijack_namedtuple() -> Any:
    """Makes collections.namedtuple (also where it was imported by name before ember)
    return classes that pickle by value, and fixes the ones already in __main__."""
    if hasattr(collections.namedtuple, "_ember_hijacked"):
        return
    original = types.FunctionType(collections.namedtuple.__code__, collections.namedtuple.__globals__,
                                  collections.namedtuple.__name__, collections.namedtuple.__defaults__,
                                  collections.namedtuple.__closure__)
    original_kwdefaults = collections.namedtuple.__kwdefaults__

    def namedtuple(*args: Any, **kwargs: Any) -> Any:
        # The names below are globals of the copy of this function installed in namedtuple's module.
        for k, v in _ember_original_kwdefaults.items():  # type: ignore[name-defined]  # noqa: F821
            kwargs[k] = kwargs.get(k, v)
        if kwargs.get("module") is None:  # the caller's module, as namedtuple itself finds it
            kwargs["module"] = _sys._getframe(1).f_globals.get("__name__", "__main__")  # type: ignore[name-defined]  # noqa: F821, E501
        return _ember_hack_namedtuple(_ember_original_namedtuple(*args, **kwargs))  # type: ignore[name-defined]  # noqa: F821, E501

    # The replacement code runs with collections' globals: give them the three names.
    collections.namedtuple.__globals__["_ember_original_namedtuple"] = original
    collections.namedtuple.__globals__["_ember_original_kwdefaults"] = original_kwdefaults
    collections.namedtuple.__globals__["_ember_hack_namedtuple"] = _hack_namedtuple
    collections.namedtuple.__code__ = namedtuple.__code__
    collections.namedtuple._ember_hijacked = True  # type: ignore[attr-defined]
    main = sys.modules.get("__main__")
    for obj in list(vars(main).values()) if main is not None else []:
        if isinstance(obj, type) and obj.__base__ is tuple and hasattr(obj, "_fields") \
                and "__reduce__" not in obj.__dict__:
            _hack_namedtuple(obj)


_hijack_namedtuple()


class SpecialLengths:
    """Negative frame lengths with a meaning of their own."""

    END_OF_DATA_SECTION = -1
    PYTHON_EXCEPTION_THROWN = -2
    TIMING_DATA = -3
    END_OF_STREAM = -4
    NULL = -5
    START_ARROW_STREAM = -6


def read_int(stream: IO[bytes]) -> int:
    """Reads a big-endian signed 32-bit int; EOFError at the end of the stream."""
    data = stream.read(4)
    if len(data) < 4:
        raise EOFError("the stream ended inside (or before) a 4-byte length")
    return int.from_bytes(data, "big", signed=True)


def write_int(value: int, stream: IO[bytes]) -> None:
    """Writes a big-endian signed 32-bit int."""
    stream.write(value.to_bytes(4, "big", signed=True))


def read_long(stream: IO[bytes]) -> int:
    """Reads a big-endian signed 64-bit int; EOFError at the end of the stream."""
    data = stream.read(8)
    if len(data) < 8:
        raise EOFError("the stream ended inside (or before) an 8-byte integer")
    return int.from_bytes(data, "big", signed=True)


def pack_long(value: int) -> bytes:
    """A big-endian signed 64-bit int as bytes."""
    return value.to_bytes(8, "big", signed=True)


def write_long(value: int, stream: IO[bytes]) -> None:
    """Writes a big-endian signed 64-bit int."""
    stream.write(pack_long(value))


def read_bool(stream: IO[bytes]) -> bool:
    """Reads one byte as a bool; EOFError at the end of the stream."""
    data = stream.read(1)
    if not data:
        raise EOFError("the stream ended before a bool")
    return data[0] != 0


def write_with_length(obj: bytes, stream: IO[bytes]) -> None:
    """Writes bytes preceded by their length."""
    write_int(len(obj), stream)
    stream.write(obj)


class Serializer:
    """The base class: a serializer writes an iterator of objects to a stream
    (``dump_stream``) and reads them back (``load_stream``). Serializers are equal
    when they are of the same class with the same settings."""

    def dump_stream(self, iterator: Iterable[Any], stream: IO[bytes]) -> None:
        """Writes every object of iterator to the binary stream."""
        raise NotImplementedError(f"{type(self).__name__} does not write streams")

    def load_stream(self, stream: IO[bytes]) -> Iterator[Any]:
        """An iterator over the objects of the binary stream."""
        raise NotImplementedError(f"{type(self).__name__} does not read streams")

    def dumps(self, obj: Any) -> bytes:
        """One object as bytes."""
        raise NotImplementedError(f"{type(self).__name__} does not serialize single objects")

    def _load_stream_without_unbatching(self, stream: Any) -> Any:
        """The stream's batches, each an iterable (one object each here)."""
        return ([obj] for obj in self.load_stream(stream))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, self.__class__) and other.__dict__ == self.__dict__

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __hash__(self) -> int:
        return hash(str(self))


class FramedSerializer(Serializer):
    """Writes each object as its length then its bytes; subclasses say how one
    object becomes bytes (``dumps``) and back (``loads``)."""

    def dump_stream(self, iterator: Iterable[Any], stream: IO[bytes]) -> None:
        for obj in iterator:
            self._write_with_length(obj, stream)

    def load_stream(self, stream: IO[bytes]) -> Iterator[Any]:
        while True:
            try:
                yield self._read_with_length(stream)
            except EOFError:
                return

    def _write_with_length(self, obj: Any, stream: Any) -> None:
        data = self.dumps(obj)
        if data is None:
            raise ValueError(f"{type(self).__name__}.dumps returned None; it must return bytes")
        if len(data) > (1 << 31) - 1:
            raise ValueError(f"cannot serialize an object of {len(data)} bytes: frames are limited to 2 GiB")
        write_with_length(data, stream)

    def _read_with_length(self, stream: Any) -> Any:
        length = read_int(stream)
        if length == SpecialLengths.END_OF_DATA_SECTION:
            raise EOFError("end of the data section")
        if length == SpecialLengths.NULL:
            return None
        if length < 0:
            raise ValueError(f"unexpected frame length {length} in the stream")
        data = stream.read(length)
        if len(data) < length:
            raise EOFError(f"the stream ended inside a frame of {length} bytes")
        return self.loads(data)

    def dumps(self, obj: Any) -> bytes:
        raise NotImplementedError(f"{type(self).__name__} does not say how to serialize an object")

    def loads(self, obj: bytes) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not say how to deserialize an object")


class BatchedSerializer(Serializer):
    """Groups objects into lists of batchSize (-1: one list of everything) and
    writes each list with the wrapped serializer; reading flattens them again.

    Examples
    --------
    >>> import io
    >>> buf = io.BytesIO()
    >>> BatchedSerializer(PickleSerializer(), 3).dump_stream(iter(range(7)), buf)
    >>> _ = buf.seek(0)
    >>> list(PickleSerializer().load_stream(buf))
    [[0, 1, 2], [3, 4, 5], [6]]
    >>> BatchedSerializer(PickleSerializer(), 3)
    BatchedSerializer(PickleSerializer(), 3)
    """

    UNLIMITED_BATCH_SIZE = -1
    UNKNOWN_BATCH_SIZE = 0

    def __init__(self, serializer: Serializer, batchSize: int = UNLIMITED_BATCH_SIZE) -> None:
        self.serializer = serializer
        self.batchSize = batchSize

    def _batched(self, iterator: Any) -> Any:
        if self.batchSize == self.UNLIMITED_BATCH_SIZE:
            yield list(iterator)
            return
        if self.batchSize <= 0:
            raise ValueError(f"batchSize must be positive or -1 (unlimited), got {self.batchSize}")
        iterator = iter(iterator)
        while True:
            batch = list(itertools.islice(iterator, self.batchSize))
            if not batch:
                return
            yield batch

    def dump_stream(self, iterator: Iterable[Any], stream: IO[bytes]) -> None:
        self.serializer.dump_stream(self._batched(iterator), stream)

    def load_stream(self, stream: IO[bytes]) -> Iterator[Any]:
        return itertools.chain.from_iterable(self._load_stream_without_unbatching(stream))

    def _load_stream_without_unbatching(self, stream: Any) -> Any:
        return self.serializer.load_stream(stream)

    def __repr__(self) -> str:
        return f"BatchedSerializer({self.serializer}, {self.batchSize})"


class AutoBatchedSerializer(BatchedSerializer):
    """Batches adaptively: the first batch holds one object; a batch whose bytes
    stay under bestSize doubles the next one, one over ten times bestSize halves it.
    This is how ember batches records.

    Examples
    --------
    >>> import io
    >>> buf = io.BytesIO()
    >>> AutoBatchedSerializer(PickleSerializer()).dump_stream(range(10), buf)
    >>> _ = buf.seek(0)
    >>> [len(b) for b in PickleSerializer().load_stream(buf)]
    [1, 2, 4, 3]
    >>> _ = buf.seek(0)
    >>> list(AutoBatchedSerializer(PickleSerializer()).load_stream(buf)) == list(range(10))
    True
    """

    def __init__(self, serializer: Serializer, bestSize: int = 1 << 16) -> None:
        super().__init__(serializer, self.UNKNOWN_BATCH_SIZE)
        self.bestSize = bestSize

    def dump_stream(self, iterator: Iterable[Any], stream: IO[bytes]) -> None:
        iterator = iter(iterator)
        size, best = 1, self.bestSize
        while True:
            batch = list(itertools.islice(iterator, size))
            if not batch:
                return
            data = self.serializer.dumps(batch)
            write_with_length(data, stream)
            if len(data) < best:
                size *= 2
            elif len(data) > best * 10 and size > 1:
                size //= 2

    def __repr__(self) -> str:
        return f"AutoBatchedSerializer({self.serializer})"


class FlattenedValuesSerializer(BatchedSerializer):
    """Writes (key, values) pairs, splitting long value lists into pieces of at
    most batchSize values (each piece with its key)."""

    def __init__(self, serializer: Serializer, batchSize: int = 10) -> None:
        super().__init__(serializer, batchSize)

    def _batched(self, iterator: Any) -> Any:
        n = self.batchSize
        for key, values in iterator:
            for i in range(0, len(values), n):
                yield key, values[i:i + n]

    def load_stream(self, stream: IO[bytes]) -> Iterator[Any]:
        return self.serializer.load_stream(stream)

    def __repr__(self) -> str:
        return f"FlattenedValuesSerializer({self.serializer}, {self.batchSize})"


class CartesianDeserializer(Serializer):
    """Reads a stream of alternating batches of two serializers and yields every
    pair of each key batch with its value batch (how PySpark reads cartesian())."""

    def __init__(self, key_ser: Serializer, val_ser: Serializer) -> None:
        self.key_ser = key_ser
        self.val_ser = val_ser

    def _load_stream_without_unbatching(self, stream: Any) -> Any:
        keys = self.key_ser._load_stream_without_unbatching(stream)
        values = self.val_ser._load_stream_without_unbatching(stream)
        for kb, vb in zip(keys, values):
            yield itertools.product(kb, vb)

    def load_stream(self, stream: IO[bytes]) -> Iterator[Any]:
        return itertools.chain.from_iterable(self._load_stream_without_unbatching(stream))

    def __repr__(self) -> str:
        return f"CartesianDeserializer({self.key_ser}, {self.val_ser})"


class PairDeserializer(Serializer):
    """Reads a stream of alternating batches of two serializers and zips each key
    batch with its value batch (how PySpark reads zip()); batches of different
    lengths raise ValueError."""

    def __init__(self, key_ser: Serializer, val_ser: Serializer) -> None:
        self.key_ser = key_ser
        self.val_ser = val_ser

    def _load_stream_without_unbatching(self, stream: Any) -> Any:
        keys = self.key_ser._load_stream_without_unbatching(stream)
        values = self.val_ser._load_stream_without_unbatching(stream)
        for kb, vb in zip(keys, values):
            kb = kb if hasattr(kb, "__len__") else list(kb)
            vb = vb if hasattr(vb, "__len__") else list(vb)
            if len(kb) != len(vb):
                raise ValueError("Can not deserialize PairRDD with different number of items in batches: "
                                 f"({len(kb)}, {len(vb)})")
            yield zip(kb, vb)

    def load_stream(self, stream: IO[bytes]) -> Iterator[Any]:
        return itertools.chain.from_iterable(self._load_stream_without_unbatching(stream))

    def __repr__(self) -> str:
        return f"PairDeserializer({self.key_ser}, {self.val_ser})"


class NoOpSerializer(FramedSerializer):
    """Bytes stay bytes: frames of raw bytes.

    Examples
    --------
    >>> NoOpSerializer().loads(NoOpSerializer().dumps(b"raw"))
    b'raw'
    """

    def dumps(self, obj: Any) -> bytes:
        data: bytes = obj  # bytes already
        return data

    def loads(self, obj: bytes) -> Any:
        return obj


class PickleSerializer(FramedSerializer):
    """Python's pickle, highest protocol. Functions and lambdas need
    :class:`CloudPickleSerializer`.

    Examples
    --------
    >>> PickleSerializer().loads(PickleSerializer().dumps({"a": [1, 2]}))
    {'a': [1, 2]}
    """

    def dumps(self, obj: Any) -> bytes:
        return pickle.dumps(obj, pickle_protocol)

    def loads(self, obj: bytes, encoding: str = "bytes") -> Any:
        return pickle.loads(obj, encoding=encoding)


class CloudPickleSerializer(FramedSerializer):
    """cloudpickle, highest protocol: also lambdas, closures and classes defined in
    ``__main__``; the bytes are standard pickles. ``CPickleSerializer`` is this class.

    Examples
    --------
    >>> ser = CPickleSerializer()
    >>> ser.loads(ser.dumps(lambda x: x + 1))(41)
    42
    >>> import threading
    >>> ser.dumps(threading.Lock())
    Traceback (most recent call last):
        ...
    _pickle.PicklingError: Could not serialize object: TypeError: cannot pickle '_thread.lock' object
    """

    def dumps(self, obj: Any) -> bytes:
        try:
            return cloudpickle_dumps(obj, pickle_protocol)
        except pickle.PickleError:
            raise
        except Exception as e:
            text = str(e)
            if "'i' format requires" in text:
                raise pickle.PicklingError(f"Object too large to serialize: {text}") from e
            raise pickle.PicklingError(f"Could not serialize object: {type(e).__name__}: {text}") from e

    def loads(self, obj: bytes, encoding: str = "bytes") -> Any:
        return pickle.loads(obj, encoding=encoding)


CPickleSerializer = CloudPickleSerializer


class MarshalSerializer(FramedSerializer):
    """Python's marshal: faster than pickle, for built-in types only (numbers,
    strings, bytes, tuples, lists, dicts, sets, None).

    Examples
    --------
    >>> MarshalSerializer().loads(MarshalSerializer().dumps([1, "a", (2.5, None)]))
    [1, 'a', (2.5, None)]
    """

    def dumps(self, obj: Any) -> bytes:
        return marshal.dumps(obj)

    def loads(self, obj: bytes) -> Any:
        return marshal.loads(obj)


class AutoSerializer(FramedSerializer):
    """marshal while it can, then pickle: each record's bytes start with ``M``
    (marshal) or ``P`` (pickle); once a record needed pickle, the rest use it.

    Examples
    --------
    >>> ser = AutoSerializer()
    >>> ser.dumps([1, 2])[:1], ser.loads(ser.dumps([1, 2]))
    (b'M', [1, 2])
    >>> ser.dumps(range(3))[:1], ser.loads(ser.dumps({1, 2}))
    (b'P', {1, 2})
    """

    def __init__(self) -> None:
        FramedSerializer.__init__(self)
        self._type: bytes | None = None

    def dumps(self, obj: Any) -> bytes:
        if self._type is not None:
            return b"P" + pickle.dumps(obj, -1)
        try:
            return b"M" + marshal.dumps(obj)
        except Exception:
            self._type = b"P"
            return b"P" + pickle.dumps(obj, -1)

    def loads(self, obj: bytes) -> Any:
        kind = obj[:1]
        if kind == b"M":
            return marshal.loads(obj[1:])
        if kind == b"P":
            return pickle.loads(obj[1:])
        raise ValueError(f"invalid serialization type: {kind!r} (AutoSerializer records start with b'M' or b'P')")


class CompressedSerializer(FramedSerializer):
    """Another framed serializer's bytes, zlib-compressed (level 1).

    Examples
    --------
    >>> ser = CompressedSerializer(PickleSerializer())
    >>> ser.loads(ser.dumps("x" * 1000)) == "x" * 1000, len(ser.dumps("x" * 1000)) < 100
    (True, True)
    """

    def __init__(self, serializer: FramedSerializer) -> None:
        if not isinstance(serializer, FramedSerializer):
            raise TypeError(f"CompressedSerializer wraps a FramedSerializer, got {type(serializer).__name__}")
        self.serializer = serializer

    def dumps(self, obj: Any) -> bytes:
        import zlib
        return zlib.compress(self.serializer.dumps(obj), 1)

    def loads(self, obj: bytes) -> Any:
        import zlib
        return self.serializer.loads(zlib.decompress(obj))

    def __repr__(self) -> str:
        return f"CompressedSerializer({self.serializer})"


class UTF8Deserializer(Serializer):
    """Reads frames of UTF-8 text (str, or bytes when use_unicode is False); a
    NULL length gives None.

    Examples
    --------
    >>> import io
    >>> buf = io.BytesIO()
    >>> for text in [b"caf\\xc3\\xa9", b"x"]:
    ...     write_with_length(text, buf)
    >>> write_int(SpecialLengths.NULL, buf)
    >>> _ = buf.seek(0)
    >>> list(UTF8Deserializer().load_stream(buf))
    ['café', 'x', None]
    """

    def __init__(self, use_unicode: bool = True) -> None:
        self.use_unicode = use_unicode

    def loads(self, stream: IO[bytes]) -> Any:
        """Reads the next string of the stream; EOFError at the end of a section."""
        length = read_int(stream)
        if length == SpecialLengths.END_OF_DATA_SECTION:
            raise EOFError("end of the data section")
        if length == SpecialLengths.NULL:
            return None
        data = stream.read(length)
        if len(data) < length:
            raise EOFError(f"the stream ended inside a string of {length} bytes")
        return data.decode("utf-8") if self.use_unicode else data

    def load_stream(self, stream: IO[bytes]) -> Iterator[Any]:
        while True:
            try:
                yield self.loads(stream)
            except EOFError:
                return

    def __repr__(self) -> str:
        return f"UTF8Deserializer({self.use_unicode})"


class ChunkedStream:
    """A writable file object that sends what is written to another stream in
    frames of ``buffer_size`` bytes, each after its length (a 4-byte big-endian
    int); ``close()`` sends the last, shorter frame, then the length -1, and closes
    the wrapped stream. The reader knows whether more data comes without the total
    length being known in advance.

    Examples
    --------
    >>> import io
    >>> out = io.BytesIO()
    >>> out.close = lambda: None  # keep the bytes readable
    >>> s = ChunkedStream(out, 4)
    >>> s.write(b"abcdefghij")
    >>> s.close()
    >>> out.getvalue()
    b'\\x00\\x00\\x00\\x04abcd\\x00\\x00\\x00\\x04efgh\\x00\\x00\\x00\\x02ij\\xff\\xff\\xff\\xff'
    """

    def __init__(self, wrapped: Any, buffer_size: Any) -> None:
        self.buffer_size = buffer_size
        self.buffer = bytearray(buffer_size)
        self.current_pos = 0
        self.wrapped = wrapped

    def write(self, bytes: Any) -> None:
        view = memoryview(bytes)
        while len(view):
            space = self.buffer_size - self.current_pos
            if len(view) < space:
                self.buffer[self.current_pos:self.current_pos + len(view)] = view
                self.current_pos += len(view)
                return
            self.buffer[self.current_pos:] = view[:space]
            write_int(self.buffer_size, self.wrapped)
            self.wrapped.write(self.buffer)
            view = view[space:]
            self.current_pos = 0

    def close(self) -> None:
        if self.current_pos > 0:
            write_int(self.current_pos, self.wrapped)
            self.wrapped.write(self.buffer[:self.current_pos])
        write_int(-1, self.wrapped)
        self.wrapped.close()

    @property
    def closed(self) -> Any:
        """Whether the wrapped stream is closed."""
        return self.wrapped.closed
