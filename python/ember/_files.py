"""File sources and pickle files: what the driver plans, and what workers read.

The driver only lists files and cuts them into partitions (names, sizes, byte
ranges); the partitions' descriptors are parallelized and every worker opens and reads
its own files. No file content passes through the driver.

Partitioning follows what Spark's input formats do for local files:

- ``wholeTextFiles``: whole files packed into partitions in listing order, a partition
  closing once it holds at least ``ceil(total bytes / minPartitions)`` bytes; leftovers
  and empty files share the last partition (``pack_files``). The partition counts are
  Spark's; which files share a partition may differ, as Hadoop walks its blocks in hash
  order.
- ``binaryFiles``: the same packing, with Spark's split size
  ``min(128 MiB, max(4 MiB, sum(size + 4 MiB) / max(defaultParallelism, minPartitions)))``.
- ``binaryRecords``: each file cut into pieces of a whole number of records near the
  32 MiB block size (the last piece may be 10% larger).
- ``pickleFile`` and ``sequenceFile``: each file cut into byte ranges as ``textFile`` cuts
  text, in pieces of at least 100 KiB (Hadoop 3's sync interval, its minimum split size
  for SequenceFiles); a range holds the records after the sync markers in it.

Pickle files are PySpark's: a directory of ``part-NNNNN`` SequenceFiles (one per
partition, each with Hadoop's ``.part-NNNNN.crc`` checksum file) and an empty
``_SUCCESS``; the layout is described in ``ember._hadoop``. Files in ember's earlier own
format (magic ``EMBERPK1``: records of a little-endian u32 length, a u32 CRC-32 and a
pickled list) are still read. A file of another format, a damaged or truncated file is
reported as a ValueError naming the file and the byte offset.
"""

import math
import os
import pickle
import shutil
import struct
import uuid
import zlib

from ember import _core, _hadoop

__all__ = ["text_codec", "write_text_part", "write_sequence_part", "local_path", "uri", "list_files", "pack_files",
           "whole_file_groups", "binary_file_groups",
           "record_splits", "pickle_splits", "read_whole_files", "read_records", "write_pickle_part",
           "read_pickle_split", "check_pickle_header", "save_partitions", "PICKLE_MAGIC"]

PICKLE_MAGIC = b"EMBERPK1"
_RECORD = struct.Struct("<II")
_BLOCK = 32 << 20           # Hadoop's block size for local files
_SLOP = 1.1                 # the last piece of a file may be this much larger
_PICKLE_MIN_SPLIT = 102400  # Hadoop 3's SequenceFile sync interval: no smaller pieces
_FILES_MAX_SPLIT = 128 << 20  # spark.files.maxPartitionBytes
_FILES_OPEN_COST = 4 << 20    # spark.files.openCostInBytes


# Hadoop's codec classes as saveAsTextFile(compressionCodecClass=) names them: the
# file extension ember writes (and textFile reads back) for each.
_HADOOP_CODECS = {
    "org.apache.hadoop.io.compress.GzipCodec": ".gz",
    "org.apache.hadoop.io.compress.BZip2Codec": ".bz2",
    "org.apache.hadoop.io.compress.ZStandardCodec": ".zst",
    "org.apache.hadoop.io.compress.DefaultCodec": ".deflate",
    "org.apache.hadoop.io.compress.DeflateCodec": ".deflate",
}
_HADOOP_UNSUPPORTED = ("org.apache.hadoop.io.compress.Lz4Codec", "org.apache.hadoop.io.compress.SnappyCodec",
                       "org.apache.hadoop.io.compress.PassthroughCodec")


def text_codec(codec_class):
    """(codec id, extension) for a Hadoop codec class name; None gives (0, "").

    Examples
    --------
    >>> text_codec("org.apache.hadoop.io.compress.GzipCodec")[1]
    '.gz'
    >>> text_codec(None)
    (0, '')
    """
    if codec_class is None:
        return 0, ""
    if not isinstance(codec_class, str):
        raise TypeError(f"compressionCodecClass must be a class name string, got {type(codec_class).__name__}")
    supported = ", ".join(_HADOOP_CODECS)
    if codec_class in _HADOOP_UNSUPPORTED:
        raise NotImplementedError(
            f"compressionCodecClass {codec_class} is not supported by ember (no {codec_class.rsplit('.', 1)[1]} "
            f"library); use one of {supported}")
    ext = _HADOOP_CODECS.get(codec_class)
    if ext is None:
        raise ValueError(f"unknown compressionCodecClass {codec_class!r}; use one of {supported}")
    codec, name, available = _core.codec_info()[ext]
    if not available:
        raise NotImplementedError(
            f"compressionCodecClass {codec_class} needs {name}, which this build of ember lacks; install its "
            "library (Debian: libbz2-dev, libzstd-dev) and rebuild ember")
    return codec, ext


def write_text_part(name, iterator, codec):
    """Writes elements as UTF-8 lines (bytes as they are) into name, compressed with
    codec (0: plain); the file appears under its name only once complete."""
    attempt = f"{name}.attempt-{os.getpid()}"

    def chunks():
        # bytes as they are, else str(x) in UTF-8, a newline after each (in C)
        it = iter(iterator)
        return iter(lambda: _core.text_chunk(it, 256 << 10), b"")

    try:
        if codec:
            _core.write_compressed(attempt, codec, chunks())
        else:
            with open(attempt, "wb") as f:
                for c in chunks():
                    f.write(c)
        os.replace(attempt, name)
    except BaseException:
        try:
            os.unlink(attempt)
        except OSError:
            pass
        raise


def local_path(path):
    """A local path from a path or a ``file:`` URI; other schemes are refused.

    Examples
    --------
    >>> local_path("file:///tmp/a"), local_path("file:/tmp/a"), local_path("/tmp/a")
    ('/tmp/a', '/tmp/a', '/tmp/a')
    """
    path = os.fspath(path)
    if path.startswith("file://"):
        return path[len("file://"):]
    if path.startswith("file:"):
        return path[len("file:"):]
    head = path.split("/", 1)[0]
    if head.endswith(":") and len(head) > 2:
        raise ValueError(
            f"{path!r}: ember reads and writes local files only (no {head[:-1]} filesystem); "
            "copy the data to a local path or a shared mount")
    return path


def uri(path):
    """The ``file:`` URI Spark uses as the key of a whole file.

    Examples
    --------
    >>> uri("/tmp/x.txt")
    'file:/tmp/x.txt'
    """
    return "file:" + os.path.abspath(path)


def list_files(paths):
    """The files under paths (comma-separated files, directories or globs), as
    ``textFile`` lists them: directories not descended, ``_`` and ``.`` names skipped."""
    if not isinstance(paths, str):
        raise TypeError(f"expected a path string, got {type(paths).__name__}")
    local = ",".join(local_path(p) for p in paths.split(","))
    return _core.input_files(local)


def pack_files(sized, max_split):
    """Packs (path, size) pairs into groups as Hadoop's CombineFileInputFormat does on
    one host: non-empty files in order, a group closed once it holds at least max_split
    bytes (0: no limit); the files left over and the empty files (which have no block
    location, so Hadoop pools them with the leftovers) form the last group.

    Examples
    --------
    >>> pack_files([("a", 5), ("b", 5), ("c", 1)], 6)
    [['a', 'b'], ['c']]
    >>> pack_files([("a", 5), ("e", 0), ("b", 5)], 10)
    [['a', 'b'], ['e']]
    >>> pack_files([("a", 5), ("b", 5)], 0)
    [['a', 'b']]
    """
    groups, cur, cur_size = [], [], 0
    for path, size in sized:
        if size == 0:
            continue
        cur.append(path)
        cur_size += size
        if max_split and cur_size >= max_split:
            groups.append(cur)
            cur, cur_size = [], 0
    cur.extend(path for path, size in sized if size == 0)
    if cur:
        groups.append(cur)
    return groups


def _sized(files):
    return [(f, os.path.getsize(f)) for f in files]


def whole_file_groups(files, min_partitions):
    """Partitions of wholeTextFiles: ``ceil(total / minPartitions)`` bytes each."""
    sized = _sized(files)
    total = sum(s for _, s in sized)
    return pack_files(sized, math.ceil(total / max(min_partitions, 1)))


def binary_file_groups(files, min_partitions, default_parallelism):
    """Partitions of binaryFiles, with Spark's split size for small files."""
    sized = _sized(files)
    cost = sum(s + _FILES_OPEN_COST for _, s in sized)
    per_core = cost // max(default_parallelism, min_partitions)
    return pack_files(sized, min(_FILES_MAX_SPLIT, max(_FILES_OPEN_COST, per_core)))


def _cut(size, piece):
    """Byte ranges [start, end) of one file cut into pieces, the last one up to 10% larger."""
    ranges, start, left = [], 0, size
    while left / piece > _SLOP:
        ranges.append((start, start + piece))
        start += piece
        left -= piece
    ranges.append((start, size))
    return ranges


def record_splits(files, record_length):
    """(path, start, end) pieces of fixed-length record files, each a whole number of
    records near the block size.

    Examples
    --------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "r.bin")
    >>> _ = open(p, "wb").write(bytes(10))
    >>> [(s, e) for _, s, e in record_splits([p], 2)]
    [(0, 10)]
    """
    piece = max(record_length, (_BLOCK // record_length) * record_length)
    return [(f, s, e) for f, size in _sized(files) for s, e in _cut(size, piece)]


def pickle_splits(files, min_partitions):
    """(path, start, end) byte ranges of pickle files, as Hadoop cuts sequence files."""
    sized = _sized(files)
    total = sum(s for _, s in sized)
    goal = total // max(min_partitions, 1)
    piece = max(_PICKLE_MIN_SPLIT, min(goal, _BLOCK))
    return [(f, s, e) for f, size in sized for s, e in _cut(size, piece)]


# ---- run by workers -----------------------------------------------------------------

def read_whole_files(paths, mode):
    """Yields (uri, content) for each path. mode "text": both str (content decoded as
    UTF-8, invalid bytes replaced); "text-bytes": both bytes (wholeTextFiles with
    use_unicode=False); "binary": str key, bytes content."""
    for p in paths:
        with open(p, "rb") as f:
            data = f.read()
        key = uri(p)
        if mode == "text":
            yield key, data.decode("utf-8", "replace")
        elif mode == "text-bytes":
            yield key.encode("utf-8"), data
        else:
            yield key, data


def read_records(path, start, end, record_length):
    """Yields the fixed-length records of path in [start, end)."""
    with open(path, "rb") as f:
        f.seek(start)
        pos = start
        while pos < end:
            rec = f.read(min(record_length, end - pos))
            if len(rec) < record_length:
                raise ValueError(
                    f"{path}: {os.path.getsize(path)} bytes is not a whole number of records of "
                    f"{record_length} bytes (a partial record of {len(rec)} bytes is left at byte {pos}); "
                    "check the recordLength given to binaryRecords")
            yield rec
            pos += record_length


def _pickled_batches(iterator, batch_size):
    """Pickled lists of batch_size elements (0: sizes chosen automatically, aiming at
    64 KiB .. 640 KiB a batch)."""
    dumps = pickle.dumps
    auto = batch_size == 0
    size = 1 if auto else batch_size
    batch = []
    for x in iterator:
        batch.append(x)
        if len(batch) >= size:
            data = dumps(batch, protocol=5)
            yield data
            batch = []
            if auto:
                if len(data) < (64 << 10):
                    size *= 2
                elif len(data) > (640 << 10) and size > 1:
                    size //= 2
    if batch:
        yield dumps(batch, protocol=5)


_OBJECTS_PER_RECORD = 10   # Spark's saveAsObjectFile groups this many arrays a record


def _write_sequence_file(path, key_class, value_class, records):
    """Writes the (key bytes, value bytes) records as a SequenceFile at path; the file
    and its .crc appear under their names only once complete."""
    attempt = f"{path}.attempt-{os.getpid()}"
    try:
        w = _hadoop.SequenceFileWriter(attempt, key_class, value_class)
        for k, v in records:
            w.append(k, v)
        w.close()
        os.replace(_hadoop.crc_path(attempt), _hadoop.crc_path(path))
        os.replace(attempt, path)
    except BaseException:
        for p in (attempt, _hadoop.crc_path(attempt)):
            try:
                os.unlink(p)
            except OSError:
                pass
        raise


def write_pickle_part(path, iterator, batch_size):
    """Writes one part file of elements as PySpark's saveAsPickleFile does; batch_size
    0 sizes batches automatically."""
    serialize, pack = _hadoop.java_serialize_byte_arrays, struct.Struct(">i").pack

    def records():
        group = []
        for data in _pickled_batches(iterator, batch_size):
            group.append(data)
            if len(group) == _OBJECTS_PER_RECORD:
                v = serialize(group)
                yield b"", pack(len(v)) + v
                group = []
        if group:
            v = serialize(group)
            yield b"", pack(len(v)) + v

    _write_sequence_file(path, "org.apache.hadoop.io.NullWritable", "org.apache.hadoop.io.BytesWritable", records())


def write_sequence_part(path, iterator, key_class, value_class):
    """Writes (key, value) pairs as one SequenceFile of the given Writable classes."""
    W = _hadoop.WRITABLES
    encode_key, encode_value = W[key_class][1], W[value_class][1]
    long_class = "org.apache.hadoop.io.LongWritable"

    def check(x, cls, which, kv):
        got = _hadoop.writable_for(x)
        if got != cls and not (cls == long_class and got.endswith("IntWritable")):
            raise TypeError(
                f"saveAsSequenceFile: the {which} of {kv!r} converts to {got.rsplit('.', 1)[1]}, but the first "
                f"pair made the file's {which}s {cls.rsplit('.', 1)[1]}; every pair must convert alike")

    def records():
        for kv in iterator:
            if not isinstance(kv, tuple) or len(kv) != 2:
                raise TypeError(f"saveAsSequenceFile needs (key, value) pairs, got {kv!r}")
            k, v = kv
            check(k, key_class, "key", kv)
            check(v, value_class, "value", kv)
            yield encode_key(k), encode_value(v)

    _write_sequence_file(path, key_class, value_class, records())


def check_pickle_header(path):
    """Raises ValueError unless path is a pickle file (PySpark's SequenceFile of
    NullWritable/BytesWritable, or ember's earlier format)."""
    with open(path, "rb") as f:
        head = f.read(256)
    if head[:len(PICKLE_MAGIC)] == PICKLE_MAGIC:
        return
    if _hadoop.is_sequence_file(head):
        key, value = _hadoop.check_file(path, raw=True)
        if (key, value) != ("org.apache.hadoop.io.NullWritable", "org.apache.hadoop.io.BytesWritable"):
            raise ValueError(
                f"{path} is a SequenceFile of {key} keys and {value} values, not a pickle file (whose "
                "records are NullWritable, BytesWritable); read it with sc.sequenceFile")
        return
    raise ValueError(
        f"{path} is not a pickle file written by saveAsPickleFile (not a Hadoop SequenceFile: it looks like "
        f"{_hadoop.describe(head)}); read text with sc.textFile")


def read_pickle_split(path, start, end):
    """Yields the elements of the records of path that start in [start, end) (end -1:
    the whole file)."""
    check_pickle_header(path)
    with open(path, "rb") as f:
        old = f.read(len(PICKLE_MAGIC)) == PICKLE_MAGIC
    if old:
        yield from _read_old_pickle_split(path, start, end)
        return
    loads, arrays = pickle.loads, _hadoop.java_byte_arrays
    for pos, (_, value) in _hadoop.read_split(path, start, end, raw=True, positions=True):
        def where(off, pos=pos):
            return f"corrupt pickle file {path}: the record at byte {pos} (value byte {off})"
        if len(value) < 4 or struct.unpack_from(">i", value)[0] != len(value) - 4:
            raise ValueError(f"{where(0)}: the BytesWritable length does not match")
        for data in arrays(memoryview(value)[4:], where):
            try:
                batch = loads(data)
            except Exception as e:
                raise ValueError(f"{where(0)}: a pickled batch does not unpickle ({type(e).__name__}: {e})") from e
            yield from batch


def _read_old_pickle_split(path, start, end):
    """The elements of a file in ember's earlier pickle format (see the top)."""
    loads, crc32 = pickle.loads, zlib.crc32
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if end < 0:
            end = size
        pos = len(PICKLE_MAGIC)
        while pos < size and pos < end:
            f.seek(pos)
            head = f.read(_RECORD.size)
            if len(head) < _RECORD.size:
                raise ValueError(f"corrupt pickle file {path}: truncated record header at byte {pos} "
                                 f"(the file ends at byte {size})")
            n, crc = _RECORD.unpack(head)
            if pos + _RECORD.size + n > size:
                raise ValueError(f"corrupt pickle file {path}: the record at byte {pos} needs {n} bytes "
                                 f"but the file ends at byte {size}")
            if pos >= start:
                data = f.read(n)
                if crc32(data) != crc:
                    raise ValueError(f"corrupt pickle file {path}: checksum mismatch in the record at byte {pos}")
                try:
                    batch = loads(data)
                except Exception as e:
                    raise ValueError(f"corrupt pickle file {path}: the record at byte {pos} does not "
                                     f"unpickle ({type(e).__name__}: {e})") from e
                yield from batch
            pos += _RECORD.size + n


def save_partitions(rdd, path, write_part, success=True):
    """Runs a job writing each partition with write_part(file, iterator) into a new
    directory, committed by renaming only when every task succeeded."""
    path = os.path.abspath(local_path(path))
    if os.path.exists(path):
        raise FileExistsError(f"Output directory {path} already exists; remove it or write to another path")
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(path)}.ember-{uuid.uuid4().hex}")
    os.mkdir(tmp)

    def write(split, it):
        write_part(os.path.join(tmp, f"part-{split:05d}"), it)
        return []

    try:
        rdd._run(write)
        if success:
            open(os.path.join(tmp, "_SUCCESS"), "wb").close()
        os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path
