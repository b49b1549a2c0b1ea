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
- ``pickleFile``: each file cut into byte ranges as ``textFile`` cuts text (pieces of at
  least 2000 bytes); a record belongs to the range where it starts.

Pickle file format (ember's own; ``saveAsPickleFile`` writes it, ``pickleFile`` and
checkpoints read it). A directory of ``part-NNNNN`` files (one per partition) and an
empty ``_SUCCESS``. Each part file is the 8-byte magic ``EMBERPK1`` followed by records;
a record is a little-endian u32 payload length, a u32 CRC-32 of the payload, and the
payload: one pickled list of up to ``batchSize`` elements (pickle protocol 5). A file
with another magic, a record that runs past the end of the file or a checksum mismatch
is reported as a ValueError naming the file and the byte offset.
"""

import math
import os
import pickle
import shutil
import struct
import uuid
import zlib

from ember import _core

__all__ = ["local_path", "uri", "list_files", "pack_files", "whole_file_groups", "binary_file_groups",
           "record_splits", "pickle_splits", "read_whole_files", "read_records", "write_pickle_part",
           "read_pickle_split", "check_pickle_header", "save_partitions", "PICKLE_MAGIC"]

PICKLE_MAGIC = b"EMBERPK1"
_RECORD = struct.Struct("<II")
_BLOCK = 32 << 20           # Hadoop's block size for local files
_SLOP = 1.1                 # the last piece of a file may be this much larger
_PICKLE_MIN_SPLIT = 2000    # Hadoop's SequenceFile sync interval: no smaller pieces
_FILES_MAX_SPLIT = 128 << 20  # spark.files.maxPartitionBytes
_FILES_OPEN_COST = 4 << 20    # spark.files.openCostInBytes


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


def write_pickle_part(path, iterator, batch_size):
    """Writes one part file of elements; batch_size 0 sizes batches automatically.
    The file appears under its name only once complete."""
    attempt = f"{path}.attempt-{os.getpid()}"
    dumps, crc32, pack = pickle.dumps, zlib.crc32, _RECORD.pack
    try:
        with open(attempt, "wb") as f:
            f.write(PICKLE_MAGIC)
            auto = batch_size == 0
            size = 1 if auto else batch_size
            batch = []
            for x in iterator:
                batch.append(x)
                if len(batch) >= size:
                    data = dumps(batch, protocol=5)
                    f.write(pack(len(data), crc32(data)))
                    f.write(data)
                    batch = []
                    if auto:  # aim at records of 64 KiB .. 640 KiB
                        if len(data) < (64 << 10):
                            size *= 2
                        elif len(data) > (640 << 10) and size > 1:
                            size //= 2
            if batch:
                data = dumps(batch, protocol=5)
                f.write(pack(len(data), crc32(data)))
                f.write(data)
        os.replace(attempt, path)
    except BaseException:
        try:
            os.unlink(attempt)
        except OSError:
            pass
        raise


def check_pickle_header(path):
    """Raises ValueError unless path starts with the pickle file magic."""
    with open(path, "rb") as f:
        head = f.read(len(PICKLE_MAGIC))
    if head != PICKLE_MAGIC:
        raise ValueError(
            f"{path} is not a pickle file written by ember's saveAsPickleFile (it starts with "
            f"{head[:8]!r}, not {PICKLE_MAGIC!r}); read text with textFile and PySpark's "
            "SequenceFiles with PySpark")


def read_pickle_split(path, start, end):
    """Yields the elements of the records of path that start in [start, end) (end -1:
    the whole file), checking lengths and checksums."""
    check_pickle_header(path)
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
