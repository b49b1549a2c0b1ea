"""Hadoop's file formats that PySpark users exchange, read and written without a JVM.

- SequenceFile (version 6, uncompressed records): the header ``SEQ\\x06``, the key and
  value class names, two compression flags, metadata and a 16-byte sync marker; then
  records ``[int record length][int key length][key][value]`` (big-endian), with
  ``[int -1][sync]`` inserted by the writer every 100 KiB so a reader can start at any
  byte offset. The keys and values are Writables; ``WRITABLES`` lists the ones converted
  to and from Python objects, as PySpark converts them.
- PySpark's pickle files (``saveAsPickleFile``/``pickleFile``): SequenceFiles of
  ``NullWritable`` keys and ``BytesWritable`` values, each value a Java-serialized
  ``byte[][]`` (up to 10 arrays, as Spark's ``saveAsObjectFile`` groups them), each
  array one pickled list of elements.
- Checksum files: Hadoop's local file system writes ``.NAME.crc`` beside each file
  (``crc\\0``, int bytes per checksum (512), then a big-endian CRC-32 of every 512-byte
  chunk). ember writes them for the SequenceFiles it writes, and verifies them when
  present, so a damaged file fails in ember and in PySpark alike.

Reading is in C (``src/seqfile.c``, ``_core.SeqReader``): the records of a split, their
checksums verified; a split [start, end) holds the records that follow the last sync
marker at or after ``start`` and before ``end`` (the records before the first marker
belong to the split starting at 0), as Hadoop's record reader divides them. This module
converts Writables and writes files. Every error names the file and the byte offset.
"""

import os
import struct
import zlib

from ember import _core

__all__ = ["WRITABLES", "SequenceFileError", "check_file", "read_split", "SequenceFileWriter",
           "java_byte_arrays", "java_serialize_byte_arrays", "writable_for", "is_sequence_file", "describe"]

MAGIC = b"SEQ"
VERSION = 6
SYNC_ESCAPE = -1
SYNC_SIZE = 16
SYNC_INTERVAL = 5 * 1024 * (4 + SYNC_SIZE)   # Hadoop's: a marker every 100 KiB
CRC_CHUNK = 512

_INT = struct.Struct(">i")
_LONG = struct.Struct(">q")
_DOUBLE = struct.Struct(">d")
_FLOAT = struct.Struct(">f")
_IO = "org.apache.hadoop.io."


class SequenceFileError(ValueError):
    """A file that is not a SequenceFile ember can read, or is damaged."""


# ---- variable-length integers (Hadoop's WritableUtils.writeVLong) ---------------------

def write_vint(n):
    if -112 <= n <= 127:
        return struct.pack(">b", n)
    length = -112
    if n < 0:
        n = ~n
        length = -120
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return struct.pack(">b", length - len(body)) + body


def read_vint(buf, pos, where):
    """(value, new position) of the vint at buf[pos]; where() names the place on errors."""
    if pos >= len(buf):
        raise SequenceFileError(f"{where(pos)}: truncated (a length is missing)")
    first = struct.unpack_from(">b", buf, pos)[0]
    if first >= -112:
        return first, pos + 1
    neg = first < -120
    size = (-120 - first) if neg else (-112 - first)   # bytes after the first
    if pos + 1 + size > len(buf):
        raise SequenceFileError(f"{where(pos)}: truncated (a {size}-byte length runs past the end)")
    n = int.from_bytes(buf[pos + 1:pos + 1 + size], "big")
    return (~n if neg else n), pos + 1 + size


# ---- Writables -----------------------------------------------------------------------

def _text_decode(b):
    n, pos = read_vint(b, 0, lambda p: "Text")
    if n < 0 or pos + n != len(b):
        raise SequenceFileError(f"Text: length {n} does not match its {len(b) - pos} bytes")
    return b[pos:].decode("utf-8", "replace")


def _bytes_decode(b):
    if len(b) < 4 or _INT.unpack_from(b)[0] != len(b) - 4:
        raise SequenceFileError(f"BytesWritable: length field does not match its {len(b)} bytes")
    return bytearray(b[4:])


def _fixed(st, name):
    def decode(b):
        if len(b) != st.size:
            raise SequenceFileError(f"{name}: {len(b)} bytes, expected {st.size}")
        return st.unpack(b)[0]
    return decode


def _bool_decode(b):
    if len(b) != 1:
        raise SequenceFileError(f"BooleanWritable: {len(b)} bytes, expected 1")
    return b[0] != 0


def _null_decode(b):
    if b:
        raise SequenceFileError(f"NullWritable: {len(b)} bytes, expected none")
    return None


def _vint_decode(b):
    n, pos = read_vint(b, 0, lambda p: "VIntWritable")
    if pos != len(b):
        raise SequenceFileError("VIntWritable: trailing bytes")
    return n


def _text_encode(s):
    b = s.encode("utf-8")
    return write_vint(len(b)) + b


# Class name -> (decode(bytes) -> Python value, encode(value) -> bytes or None).
WRITABLES = {
    _IO + "Text": (_text_decode, _text_encode),
    _IO + "IntWritable": (_fixed(_INT, "IntWritable"), _INT.pack),
    _IO + "LongWritable": (_fixed(_LONG, "LongWritable"), _LONG.pack),
    _IO + "DoubleWritable": (_fixed(_DOUBLE, "DoubleWritable"), lambda x: _DOUBLE.pack(float(x))),
    _IO + "FloatWritable": (_fixed(_FLOAT, "FloatWritable"), None),
    _IO + "BooleanWritable": (_bool_decode, lambda x: b"\x01" if x else b"\x00"),
    _IO + "BytesWritable": (_bytes_decode, lambda x: _INT.pack(len(x)) + bytes(x)),
    _IO + "NullWritable": (_null_decode, lambda x: b""),
    _IO + "VIntWritable": (_vint_decode, None),
    _IO + "VLongWritable": (_vint_decode, None),
}
_WRITABLE_NAMES = ", ".join(n[len(_IO):] for n in WRITABLES)


def writable_for(value):
    """The Writable class PySpark converts a Python value to on save (str: Text, int:
    IntWritable when it fits 32 bits else LongWritable, float: DoubleWritable, bool:
    BooleanWritable, bytes/bytearray: BytesWritable, None: NullWritable).

    Examples
    --------
    >>> writable_for(3), writable_for(2**40), writable_for("a")
    ('org.apache.hadoop.io.IntWritable', 'org.apache.hadoop.io.LongWritable', 'org.apache.hadoop.io.Text')
    """
    if value is None:
        return _IO + "NullWritable"
    if isinstance(value, bool):
        return _IO + "BooleanWritable"
    if isinstance(value, int):
        if -2**31 <= value < 2**31:
            return _IO + "IntWritable"
        if -2**63 <= value < 2**63:
            return _IO + "LongWritable"
        raise ValueError(f"{value} does not fit a LongWritable (64 bits); save it as a str")
    if isinstance(value, float):
        return _IO + "DoubleWritable"
    if isinstance(value, str):
        return _IO + "Text"
    if isinstance(value, (bytes, bytearray)):
        return _IO + "BytesWritable"
    raise TypeError(
        f"saveAsSequenceFile cannot convert {type(value).__name__} to a Writable without the JVM "
        "(ember converts str, int, float, bool, bytes, bytearray and None); convert the values first "
        "or use saveAsPickleFile")


# ---- checksum files ------------------------------------------------------------------

def crc_path(path):
    d, name = os.path.split(path)
    return os.path.join(d, f".{name}.crc")


class _CrcWriter:
    """A binary file writer that also writes Hadoop's .crc file beside it."""

    def __init__(self, path):
        self.f = open(path, "wb")
        self.crc_file = crc_path(path)
        self.pending = bytearray()
        self.crcs = []
        self.pos = 0

    def write(self, b):
        self.f.write(b)
        self.pos += len(b)
        self.pending += b
        if len(self.pending) >= 64 * CRC_CHUNK:
            whole = len(self.pending) // CRC_CHUNK * CRC_CHUNK
            mv = memoryview(self.pending)
            self.crcs.extend(zlib.crc32(mv[i:i + CRC_CHUNK]) for i in range(0, whole, CRC_CHUNK))
            del mv
            del self.pending[:whole]

    def close(self):
        mv = memoryview(self.pending)
        self.crcs.extend(zlib.crc32(mv[i:i + CRC_CHUNK]) for i in range(0, len(mv), CRC_CHUNK))
        del mv
        self.f.close()
        with open(self.crc_file, "wb") as c:
            c.write(b"crc\0" + _INT.pack(CRC_CHUNK) + struct.pack(f">{len(self.crcs)}I", *self.crcs))


# ---- reading -------------------------------------------------------------------------

def is_sequence_file(head):
    return head[:3] == MAGIC


def describe(head):
    """What a file starting with head looks like ("gzip data", "plain text" ...)."""
    if head[:8] == b"EMBERPK1":
        return "a pickle file in ember's earlier format"
    return _core.describe_bytes(bytes(head[:64])) if head else "an empty file"


def _decoder(cls, path, which):
    try:
        return WRITABLES[cls][0]
    except KeyError:
        raise NotImplementedError(
            f"{path} holds {which}s of class {cls}, which ember cannot convert without the JVM (it converts "
            f"{_WRITABLE_NAMES}); read the file with PySpark") from None


def _open(path, start, end):
    try:
        return _core.SeqReader(path, start, end)
    except OSError as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise SequenceFileError(str(e)) from None


def check_file(path, raw=False):
    """Reads the header of path (raising what reading it would) and, unless raw, checks
    that its Writables convert; returns (key class, value class)."""
    r = _open(path, 0, 0)
    if r.compression:
        raise NotImplementedError(
            f"{path} is a {r.compression}-compressed SequenceFile ({r.codec}); ember reads uncompressed "
            "SequenceFiles only: rewrite it without compressionCodecClass, or read it with PySpark")
    if not raw:
        _decoder(r.key_class, path, "key")
        _decoder(r.value_class, path, "value")
    return r.key_class, r.value_class


def read_split(path, start, end, raw=False, positions=False):
    """Yields the (key, value) records of the split [start, end) of a SequenceFile (end
    -1: to the end), converted to Python values (raw: the key's and value's bytes as
    they are); positions: (byte offset of the record, (key, value)) instead."""
    r = _open(path, start, end)
    if raw:
        for off, k, v in r:
            yield (off, (k, v)) if positions else (k, v)
        return
    key_of = _decoder(r.key_class, path, "key")
    value_of = _decoder(r.value_class, path, "value")
    for off, k, v in r:
        try:
            kv = key_of(k), value_of(v)
        except SequenceFileError as e:
            raise SequenceFileError(f"corrupt SequenceFile {path}: the record at byte {off}: {e}") from None
        yield (off, kv) if positions else kv


# ---- writing -------------------------------------------------------------------------

class SequenceFileWriter:
    """Writes an uncompressed SequenceFile (and its .crc file) at path."""

    def __init__(self, path, key_class, value_class):
        self.out = _CrcWriter(path)
        self.sync = os.urandom(SYNC_SIZE)
        key, value = key_class.encode(), value_class.encode()
        self.out.write(MAGIC + bytes([VERSION]) + write_vint(len(key)) + key + write_vint(len(value)) + value
                       + b"\0\0" + _INT.pack(0) + self.sync)
        self.last_sync = 0    # as Hadoop: the first marker once the file reaches 100 KiB
        self.escape = _INT.pack(SYNC_ESCAPE) + self.sync

    def append(self, key, value):
        """Appends one record of serialized key and value bytes."""
        out = self.out
        if out.pos >= self.last_sync + SYNC_INTERVAL:
            out.write(self.escape)
            self.last_sync = out.pos
        out.write(_INT.pack(len(key) + len(value)) + _INT.pack(len(key)) + key + value)

    def close(self):
        self.out.close()


# ---- Java serialization of byte[][] (Spark's saveAsObjectFile values) --------------------

_ARRAY_OF_ARRAYS = bytes.fromhex("7572000" "35b5b42" "4bfd19156767db37" "020000" "7870")
_ARRAY_DESC = bytes.fromhex("7572000" "25b42" "acf317f8060854e0" "020000" "7870")
_FIRST_ARRAY_HANDLE = 0x7E0002   # handles: [[B desc, the outer array, then [B desc


def java_serialize_byte_arrays(arrays):
    """The Java serialization of a byte[][] holding arrays (as ObjectOutputStream writes)."""
    parts = [b"\xac\xed\x00\x05", _ARRAY_OF_ARRAYS, _INT.pack(len(arrays))]
    for i, a in enumerate(arrays):
        parts.append(_ARRAY_DESC if i == 0 else b"\x75\x71" + _INT.pack(_FIRST_ARRAY_HANDLE))
        parts.append(_INT.pack(len(a)))
        parts.append(a)
    return b"".join(parts)


def java_byte_arrays(data, where):
    """The byte arrays of a Java-serialized byte[][] (what Spark's saveAsObjectFile
    stores in each value); where(offset) names a place for errors."""
    mv = memoryview(data)
    n = len(data)

    def need(pos, k, what):
        if pos + k > n:
            raise SequenceFileError(f"{where(pos)}: truncated Java serialization ({what})")

    def class_desc(pos, name, handles):
        need(pos, 1, "class description")
        tag = data[pos]
        if tag == 0x71:  # a reference to a class description seen before
            need(pos, 5, "reference")
            h = _INT.unpack_from(data, pos + 1)[0]
            if handles.get(h) != name:
                raise SequenceFileError(f"{where(pos)}: Java serialization refers to handle {h:#x}, not a {name}")
            return pos + 5
        if tag != 0x72:
            raise SequenceFileError(f"{where(pos)}: Java serialization has tag {tag:#04x} where a class "
                                    f"description of {name} belongs; is this a pickle file saved by PySpark?")
        need(pos, 3, "class name")
        ln = struct.unpack_from(">H", data, pos + 1)[0]
        need(pos + 3, ln + 8 + 1 + 2 + 2, "class description")
        got = bytes(mv[pos + 3:pos + 3 + ln]).decode("utf-8", "replace")
        if got != name:
            raise SequenceFileError(f"{where(pos)}: the Java serialized value is a {got}, not a {name} "
                                    "(not a pickle file written by saveAsPickleFile)")
        p = pos + 3 + ln + 8
        nfields = struct.unpack_from(">H", data, p + 1)[0]
        if nfields != 0 or data[p + 3] != 0x78 or data[p + 4] != 0x70:
            raise SequenceFileError(f"{where(p)}: unexpected Java class description of {name}")
        handles[len(handles) + 0x7E0000] = name
        return p + 5

    need(0, 5, "header")
    if data[:4] != b"\xac\xed\x00\x05":
        raise SequenceFileError(f"{where(0)}: the value is not Java serialized data (it starts with "
                                f"{bytes(mv[:4]).hex()}, not aced0005)")
    handles = {}
    if data[4] != 0x75:
        raise SequenceFileError(f"{where(4)}: the Java serialized value is not an array")
    pos = class_desc(5, "[[B", handles)
    handles[len(handles) + 0x7E0000] = "object"
    need(pos, 4, "array size")
    count = _INT.unpack_from(data, pos)[0]
    pos += 4
    if count < 0 or count > n:
        raise SequenceFileError(f"{where(pos - 4)}: Java array size {count}")
    out = []
    for _ in range(count):
        need(pos, 1, "array element")
        if data[pos] != 0x75:
            raise SequenceFileError(f"{where(pos)}: an element of the Java byte[][] is not a byte[] "
                                    f"(tag {data[pos]:#04x})")
        pos = class_desc(pos + 1, "[B", handles)
        handles[len(handles) + 0x7E0000] = "object"
        need(pos, 4, "byte[] length")
        ln = _INT.unpack_from(data, pos)[0]
        pos += 4
        if ln < 0:
            raise SequenceFileError(f"{where(pos - 4)}: negative byte[] length {ln}")
        need(pos, ln, f"byte[] of {ln} bytes")
        out.append(mv[pos:pos + ln])
        pos += ln
    if pos != n:
        raise SequenceFileError(f"{where(pos)}: {n - pos} bytes after the Java serialized byte[][]")
    return out
