"""Files exchanged with PySpark and Hadoop: pickle files, SequenceFiles and compressed
text, read and written both ways.

The fixtures in tests/data/pyspark43 were written once by PySpark 4.3.0
(tests/data/pyspark43/make_fixtures.py); ember must read them, and write byte for byte
the same files from the same data (but for the random sync marker). The live
exchange with a running PySpark is in test_formats_pyspark.py.
"""
import bz2
import gzip
import os
import random
import re
import struct
import zlib

import pytest

from ember import PythonException, _core, _files

FX = os.path.join(os.path.dirname(__file__), "data", "pyspark43")
PICKLED = [{"a": 1}, (2, 3), None, "text", 4.5, [1, 2, 3], b"bytes", 10**20]
LINES = ["alpha", "beta gamma", "", "delta épsilon"]
SEQUENCES = {
    "seq_str_int": [("a", 1), ("b", 2), ("c", -3)],
    "seq_int_str": [(1, "x"), (2, "y")],
    "seq_long": [(2**40, 2**62)],
    "seq_float_bool": [(1.5, True), (2.5, False)],
    "seq_bytes": [(bytearray(b"k\x00"), bytearray(b"\xffv"))],
    "seq_none": [(None, "v1"), (None, "v2")],
    "seq_str_float": [("pi", 3.14), ("e", 2.718)],
    "seq_big": [("key%d" % i, i) for i in range(3000)],
}


def fx(name):
    return os.path.join(FX, name)


def parts(d):
    return sorted(p for p in os.listdir(d) if p.startswith("part-"))


def without_sync(path):
    """The file's bytes with its sync marker (random per file) blanked out."""
    data = open(path, "rb").read()
    first = next(iter(_core.SeqReader(str(path), 0, -1)))[0]  # the offset of the first record
    sync = data[first - 16:first]  # the header ends with the sync marker
    return data.replace(sync, b"S" * 16)


# ---- PySpark's files read by ember -------------------------------------------------------

@pytest.mark.parametrize("name, want", [
    ("pickle_b10", PICKLED), ("pickle_b3", list(range(100))), ("pickle_auto", list(range(50))),
    ("pickle_big", list(range(5000)))])
def test_reads_pyspark_pickle_files(sc, name, want):
    assert sc.pickleFile(fx(name)).collect() == want


def test_pyspark_pickle_file_splits_at_sync_markers(sc):
    # 166 KB, one sync marker at ~100 KB: PySpark 4.3 cuts it in two pieces of at least
    # 100 KiB and gives these partition sizes
    rdd = sc.pickleFile(fx("pickle_big"), 6)
    assert [len(p) for p in rdd.glom().collect()] == [3080, 1920]
    assert rdd.collect() == list(range(5000))


@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_reads_pyspark_sequence_files(sc, name):
    got = sc.sequenceFile(fx(name)).collect()
    assert got == SEQUENCES[name]
    assert [tuple(map(type, kv)) for kv in got] == [tuple(map(type, kv)) for kv in SEQUENCES[name]]


def test_sequence_file_class_names_and_splits(sc):
    rdd = sc.sequenceFile(fx("seq_big"), "org.apache.hadoop.io.Text", "org.apache.hadoop.io.IntWritable",
                          minSplits=5)
    assert rdd.getNumPartitions() == 1  # 59 KB: less than Hadoop's minimum split, as in PySpark 4.3
    assert rdd.collect() == SEQUENCES["seq_big"]


@pytest.mark.parametrize("codec", ["GzipCodec", "BZip2Codec", "DefaultCodec"])
def test_reads_pyspark_compressed_text(sc, codec):
    assert sc.textFile(fx("text_" + codec)).collect() == LINES


def test_hadoop_lz4_text_is_refused_by_name(sc):
    with pytest.raises(PythonException, match=r"part-0000[01]\.lz4: ember has no Hadoop lz4 codec; decompress"):
        sc.textFile(fx("text_Lz4Codec")).collect()


def test_compressed_sequence_file_is_refused_at_once(sc):
    with pytest.raises(NotImplementedError, match=r"block-compressed SequenceFile \(org.apache.hadoop.io."
                                                  r"compress.GzipCodec\); ember reads uncompressed"):
        sc.sequenceFile(fx("seq_gzip"))


# ---- ember's files are PySpark's, byte for byte -------------------------------------------

def test_writes_pickle_files_as_pyspark(sc, tmp_path):
    for name, data, n, batch in [("pickle_b10", PICKLED, 2, 10), ("pickle_b3", range(100), 3, 3),
                                 ("pickle_big", range(5000), 1, 1)]:
        out = tmp_path / name
        sc.parallelize(data, n).saveAsPickleFile(str(out), batch)
        assert parts(out) == parts(fx(name))
        for p in parts(out):
            assert without_sync(out / p) == without_sync(os.path.join(fx(name), p)), (name, p)
            assert (out / f".{p}.crc").exists()


@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_writes_sequence_files_as_pyspark(sc, tmp_path, name):
    out = tmp_path / name
    sc.parallelize(SEQUENCES[name], 1).saveAsSequenceFile(str(out))
    assert without_sync(out / "part-00000") == without_sync(os.path.join(fx(name), "part-00000"))
    assert sc.sequenceFile(str(out)).collect() == SEQUENCES[name]


def test_checksum_files_are_hadoops(sc, tmp_path):
    out = tmp_path / "crc"
    sc.parallelize(range(3000), 1).saveAsPickleFile(str(out), 1)
    data = (out / "part-00000").read_bytes()
    crc = (out / ".part-00000.crc").read_bytes()
    chunks = [data[i:i + 512] for i in range(0, len(data), 512)]
    assert crc == b"crc\0" + struct.pack(">i", 512) + b"".join(struct.pack(">I", zlib.crc32(c)) for c in chunks)


@pytest.mark.parametrize("codec, ext, decompress", [
    ("GzipCodec", ".gz", gzip.decompress), ("BZip2Codec", ".bz2", bz2.decompress),
    ("DefaultCodec", ".deflate", zlib.decompress), ("DeflateCodec", ".deflate", zlib.decompress)])
def test_writes_compressed_text_as_pyspark(sc, tmp_path, codec, ext, decompress):
    out = tmp_path / codec
    sc.parallelize(LINES, 2).saveAsTextFile(str(out), "org.apache.hadoop.io.compress." + codec)
    assert parts(out) == [f"part-00000{ext}", f"part-00001{ext}"]
    for p in parts(out):
        theirs = os.path.join(fx("text_" + ("DefaultCodec" if ext == ".deflate" else codec)), p)
        assert decompress((out / p).read_bytes()) == decompress(open(theirs, "rb").read())
    assert sc.textFile(str(out)).collect() == LINES


def test_writes_zstd_text(sc, tmp_path):
    out = tmp_path / "zst"
    sc.parallelize(LINES * 1000, 2).saveAsTextFile(str(out), "org.apache.hadoop.io.compress.ZStandardCodec")
    assert parts(out) == ["part-00000.zst", "part-00001.zst"]
    assert (out / "part-00000.zst").read_bytes()[:4] == b"\x28\xb5\x2f\xfd"
    assert sc.textFile(str(out)).collect() == LINES * 1000


@pytest.mark.parametrize("codec", ["Lz4Codec", "SnappyCodec"])
def test_unsupported_codecs_are_named(sc, tmp_path, codec):
    name = "org.apache.hadoop.io.compress." + codec
    with pytest.raises(NotImplementedError, match=f"compressionCodecClass {name} is not supported"):
        sc.parallelize(LINES).saveAsTextFile(str(tmp_path / "x"), name)
    assert not (tmp_path / "x").exists()


def test_unknown_codec_class(sc, tmp_path):
    with pytest.raises(ValueError, match="unknown compressionCodecClass 'gzip'; use one of org.apache"):
        sc.parallelize(LINES).saveAsTextFile(str(tmp_path / "x"), "gzip")


def test_large_compressed_text_round_trip(sc, tmp_path):
    lines = [f"line {i} " + "x" * (i % 300) for i in range(30000)]
    for codec in ["GzipCodec", "BZip2Codec", "ZStandardCodec", "DefaultCodec"]:
        out = tmp_path / codec
        sc.parallelize(lines, 3).saveAsTextFile(str(out), "org.apache.hadoop.io.compress." + codec)
        back = sc.textFile(str(out), 8)
        if codec == "BZip2Codec":  # splittable, as in Hadoop: each file is cut in three
            assert back.getNumPartitions() == 9
        else:
            assert back.getNumPartitions() == 3  # one split per compressed file
        assert back.collect() == lines


# ---- saveAsSequenceFile's conversions ------------------------------------------------------

def test_long_text_and_bytes(sc, tmp_path):
    # Text lengths past 127 and 255 bytes take multi-byte vints
    data = [("k" * n, "é" * n) for n in (0, 1, 127, 128, 255, 256, 70000)]
    out = tmp_path / "long"
    sc.parallelize(data, 2).saveAsSequenceFile(str(out))
    assert sc.sequenceFile(str(out)).collect() == data
    blobs = [(bytearray(b"x" * n), n) for n in (0, 300, 100000)]
    sc.parallelize(blobs, 1).saveAsSequenceFile(str(tmp_path / "blobs"))
    assert sc.sequenceFile(str(tmp_path / "blobs")).collect() == blobs


def test_sequence_file_conversions(sc, tmp_path):
    out = tmp_path / "widen"
    # the first pair decides (LongWritable); later small ints widen into it
    sc.parallelize([(2**40, 1.0), (1, 2.0)], 1).saveAsSequenceFile(str(out))
    assert sc.sequenceFile(str(out)).collect() == [(2**40, 1.0), (1, 2.0)]
    with pytest.raises(PythonException, match=r"the key of \('b', 2\) converts to Text"):
        sc.parallelize([(1, 1), ("b", 2)], 1).saveAsSequenceFile(str(tmp_path / "mixed"))
    with pytest.raises(PythonException, match=r"the value of \(2, 2\) converts to IntWritable, but the first "
                                              r"pair made the file's values BooleanWritable"):
        sc.parallelize([(1, True), (2, 2)], 1).saveAsSequenceFile(str(tmp_path / "bool"))
    with pytest.raises(TypeError, match="cannot convert dict to a Writable"):
        sc.parallelize([({}, 1)]).saveAsSequenceFile(str(tmp_path / "dict"))
    with pytest.raises(ValueError, match="does not fit a LongWritable"):
        sc.parallelize([(2**64, 1)]).saveAsSequenceFile(str(tmp_path / "huge"))
    with pytest.raises(TypeError, match=r"needs \(key, value\) pairs; the first element is 1"):
        sc.parallelize([1]).saveAsSequenceFile(str(tmp_path / "single"))
    with pytest.raises(ValueError, match="the RDD is empty"):
        sc.parallelize([]).saveAsSequenceFile(str(tmp_path / "empty"))
    with pytest.raises(NotImplementedError, match="uncompressed SequenceFiles only"):
        sc.parallelize([(1, 1)]).saveAsSequenceFile(str(tmp_path / "gz"), "org.apache.hadoop.io.compress.GzipCodec")
    for p in ["mixed", "bool", "dict", "huge", "single", "empty", "gz"]:
        assert not (tmp_path / p).exists()


def test_sequence_file_refuses_converters_and_other_files(sc, tmp_path):
    with pytest.raises(NotImplementedError, match="converters are Java classes"):
        sc.sequenceFile(fx("seq_str_int"), keyConverter="org.example.Conv")
    text = tmp_path / "t.txt"
    text.write_text("hello\n")
    with pytest.raises(ValueError, match=f"{text} is not a Hadoop SequenceFile \\(it looks like plain text\\)"):
        sc.sequenceFile(str(text))
    # a pickle file is a SequenceFile too: its raw records, as PySpark gives them
    (k, v), = sc.sequenceFile(fx("pickle_b10") + "/part-00000").collect()
    assert k is None and isinstance(v, bytearray) and v[:4] == b"\xac\xed\x00\x05"


# ---- damaged files -------------------------------------------------------------------------

def copy_part(tmp_path, name, crc=True):
    d = tmp_path / name
    d.mkdir()
    src = fx(name)
    (d / "part-00000").write_bytes(open(os.path.join(src, "part-00000"), "rb").read())
    if crc:
        (d / ".part-00000.crc").write_bytes(open(os.path.join(src, ".part-00000.crc"), "rb").read())
    return d / "part-00000"


@pytest.mark.parametrize("name, read", [
    ("pickle_big", lambda sc, p: sc.pickleFile(p).collect()),
    ("seq_big", lambda sc, p: sc.sequenceFile(p).collect())])
def test_truncated_files(sc, tmp_path, name, read):
    part = copy_part(tmp_path, name, crc=False)
    data = part.read_bytes()
    part.write_bytes(data[:-7])
    kind = "pickle file" if name.startswith("pickle") else "SequenceFile"
    with pytest.raises(PythonException, match=f"truncated SequenceFile {part}: the record at byte [0-9]+ needs"):
        read(sc, str(part))
    # with its checksum file, the size no longer matches
    (part.parent / ".part-00000.crc").write_bytes(open(os.path.join(fx(name), ".part-00000.crc"), "rb").read())
    part.write_bytes(data[:-600])
    with pytest.raises((PythonException, ValueError), match=f"{part} does not match its checksum file .*at byte"):
        read(sc, str(part))
    assert kind


@pytest.mark.parametrize("name, read", [
    ("pickle_big", lambda sc, p: sc.pickleFile(p).collect()),
    ("seq_big", lambda sc, p: sc.sequenceFile(p).collect())])
def test_flipped_byte_fails_the_checksum(sc, tmp_path, name, read):
    part = copy_part(tmp_path, name)
    data = bytearray(part.read_bytes())
    data[5000] ^= 0x10
    part.write_bytes(bytes(data))
    # found by the driver's look at the header (the first 64 KiB are verified)
    with pytest.raises(ValueError, match=f"checksum error in {part} at byte 4608"):
        read(sc, str(part))
    if len(data) > 100000:
        data[5000] ^= 0x10
        data[100000] ^= 0x10
        part.write_bytes(bytes(data))
        with pytest.raises(PythonException, match=f"checksum error in {part} at byte 99840"):
            read(sc, str(part))


def test_damaged_pickle_records_without_checksums(sc, tmp_path):
    part = copy_part(tmp_path, "pickle_b3", crc=False)
    data = bytearray(part.read_bytes())
    first = data.index(b"\xac\xed\x00\x05")
    # the Java serialization header
    bad = bytearray(data)
    bad[first] = 0
    part.write_bytes(bytes(bad))
    with pytest.raises(PythonException, match=f"corrupt pickle file {part}: the record at byte [0-9]+ .*not Java "
                                              "serialized"):
        sc.pickleFile(str(part)).collect()
    # a record length past the end
    bad = bytearray(data)
    bad[first - 12:first - 8] = struct.pack(">i", 1 << 20)
    part.write_bytes(bytes(bad))
    with pytest.raises(PythonException, match=f"truncated SequenceFile {part}: the record at byte [0-9]+ needs "
                                              "1048576 bytes"):
        sc.pickleFile(str(part)).collect()
    # a pickled batch that does not unpickle
    bad = bytearray(data)
    pk = data.index(b"\x80\x05", first)
    bad[pk + 2:pk + 6] = b"\xff\xff\xff\xff"
    part.write_bytes(bytes(bad))
    with pytest.raises(PythonException, match=f"corrupt pickle file {part}: the record at byte .*does not unpickle"):
        sc.pickleFile(str(part)).collect()


def test_files_of_another_format(sc, tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("hello\n")
    with pytest.raises(ValueError, match=f"{text} is not a pickle file written by saveAsPickleFile \\(not a "
                                         "Hadoop SequenceFile: it looks like plain text\\)"):
        sc.pickleFile(str(text))
    gz = tmp_path / "t.gz"
    gz.write_bytes(gzip.compress(b"x"))
    with pytest.raises(ValueError, match="it looks like gzip data"):
        sc.pickleFile(str(gz))
    with pytest.raises(ValueError, match="is a SequenceFile of org.apache.hadoop.io.Text keys and "
                                         "org.apache.hadoop.io.IntWritable values, not a pickle file"):
        sc.pickleFile(fx("seq_str_int"))
    hdr = tmp_path / "v5"
    hdr.write_bytes(b"SEQ\x05rest")
    with pytest.raises(ValueError, match=f"{hdr}: SequenceFile version 5 at byte 3; ember reads version 6"):
        sc.sequenceFile(str(hdr))
    cut = tmp_path / "cut"
    cut.write_bytes(open(fx("seq_str_int") + "/part-00000", "rb").read()[:40])
    with pytest.raises(ValueError, match=f"corrupt SequenceFile {cut} at byte [0-9]+: truncated"):
        sc.sequenceFile(str(cut))


def test_reads_ember_pickle_files_of_the_earlier_format(sc, tmp_path):
    part = tmp_path / "part-00000"
    recs = b""
    for batch in ([1, 2], ["a"]):
        payload = __import__("pickle").dumps(batch)
        recs += struct.pack("<II", len(payload), zlib.crc32(payload)) + payload
    part.write_bytes(_files.PICKLE_MAGIC + recs)
    assert sc.pickleFile(str(tmp_path)).collect() == [1, 2, "a"]


# ---- compressed text: magic bytes, damage --------------------------------------------------

@pytest.mark.parametrize("name, content, looks", [
    ("fake.gz", b"plain words\n", "plain text"),
    ("fake.gz", bz2.compress(b"x\n"), "bzip2 data"),
    ("fake.bz2", gzip.compress(b"x\n"), "gzip data"),
    ("fake.deflate", b"PK\x03\x04zip", "a zip archive"),
    ("fake.zst", zlib.compress(b"x\n"), "deflate \\(zlib\\) data"),
    ("fake.xz", b"\x00\x01\x02\x03", "binary data starting 00 01 02 03")])
def test_misnamed_compressed_input_says_what_it_is(sc, tmp_path, name, content, looks):
    p = tmp_path / name
    p.write_bytes(content)
    ext = name.split(".", 1)[1]
    with pytest.raises(PythonException, match=f"input file {p} is named .{ext} but is not .* data: it looks like "
                                              f"{looks}"):
        sc.textFile(str(p)).collect()


@pytest.mark.parametrize("ext, compress", [(".gz", gzip.compress), (".bz2", bz2.compress),
                                           (".deflate", zlib.compress)])
def test_truncated_compressed_input_names_the_offset(sc, tmp_path, ext, compress):
    data = compress("".join(f"line {i}\n" for i in range(5000)).encode())
    p = tmp_path / f"cut{ext}"
    p.write_bytes(data[:len(data) // 2])
    # (a .bz2 file of two splits is read block by block: it ends inside a block)
    with pytest.raises(PythonException, match=re.escape(str(p)) + r" at compressed byte [0-9]+"
                                              r"( \(the block starting there\))?: the file ends "
                                              r"inside a (stream|block) \(truncated\)"):
        sc.textFile(str(p)).collect()


def _multi_block_bzip2(path):
    """A .bz2 file of several blocks (level 1: 100 kB each), lines of every length,
    lone "\r" and "\r\n" among the "\n"; returns its lines."""
    rnd = random.Random(5)
    parts = []
    for i in range(12000):
        parts.append("".join(rnd.choices("abcdefghij ", k=rnd.choice([0, 3, 40, 200]))) + f" {i}")
        parts.append(rnd.choice(["\n", "\n", "\n", "\r\n", "\r"]))
    text = "".join(parts)
    path.write_bytes(bz2.compress(text.encode(), 1))
    return text.splitlines()


@pytest.mark.parametrize("min_partitions", [2, 5, 16, 40])
def test_bzip2_input_is_split_at_its_blocks(sc, tmp_path, min_partitions):
    p = tmp_path / "multi.bz2"
    lines = _multi_block_bzip2(p)
    whole = sc.textFile(str(p), 1)
    assert whole.getNumPartitions() == 1
    split = sc.textFile(str(p), min_partitions)
    assert split.getNumPartitions() >= min_partitions
    parts = split.glom().collect()
    assert sum(1 for part in parts if part) >= min(min_partitions, 3)  # several splits hold lines
    assert [ln for part in parts for ln in part] == whole.collect() == lines


def test_a_damaged_bzip2_block_fails_its_split_naming_it(sc, tmp_path):
    p = tmp_path / "damaged.bz2"
    _multi_block_bzip2(p)
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0x40
    p.write_bytes(bytes(data))
    with pytest.raises(PythonException, match=re.escape(str(p)) + r" at compressed byte [0-9]+ \(the block "
                                              r"starting there\): (its CRC does not match its data|invalid data)"):
        sc.textFile(str(p), 8).collect()


@pytest.mark.parametrize("name, data, lines", [
    ("bom.txt", b"\xef\xbb\xbfa\n\xef\xbb\xbfb\n", ["a", "\ufeffb"]),  # only the file's first
    ("bom_only.txt", b"\xef\xbb\xbf", []),
    ("bom_line.txt", b"\xef\xbb\xbf\r\nx", ["", "x"]),
    ("bom.gz", gzip.compress(b"\xef\xbb\xbfz\n"), ["z"])])
def test_a_utf8_byte_order_mark_starting_a_file_is_dropped(sc, tmp_path, name, data, lines):
    # as Hadoop's LineRecordReader drops it (test_formats_pyspark compares with PySpark)
    (tmp_path / name).write_bytes(data)
    assert sc.textFile(str(tmp_path / name), 3).collect() == lines


def test_concatenated_gzip_members(sc, tmp_path):
    p = tmp_path / "two.gz"
    p.write_bytes(gzip.compress(b"a\nb") + gzip.compress(b"c\n"))
    assert sc.textFile(str(p)).collect() == ["a", "bc"]


# ---- the Python decoders of file bytes, fuzzed ------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ember import _hadoop  # noqa: E402

_SERIALIZED = _hadoop.java_serialize_byte_arrays([b"abc", b"", b"\x80\x05]\x94."])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=12))
def test_java_byte_arrays_round_trip(arrays):
    got = _hadoop.java_byte_arrays(_hadoop.java_serialize_byte_arrays(arrays), lambda p: f"byte {p}")
    assert [bytes(a) for a in got] == arrays


@settings(max_examples=600, deadline=None)
@given(st.integers(0, len(_SERIALIZED)), st.integers(0, 255), st.integers(0, len(_SERIALIZED)))
def test_java_byte_arrays_damaged(at, value, cut):
    """Any byte changed, and any truncation, decodes to arrays inside the input or fails
    with a SequenceFileError naming the offset, never anything else."""
    data = bytearray(_SERIALIZED)
    if at < len(data):
        data[at] = value
    data = bytes(data[:cut])
    try:
        arrays = _hadoop.java_byte_arrays(data, lambda p: f"at byte {p}")
    except _hadoop.SequenceFileError as e:
        assert "at byte" in str(e)
    else:
        assert sum(len(a) for a in arrays) <= len(data)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(sorted(_hadoop.WRITABLES)), st.binary(max_size=12))
def test_writable_decoders_take_any_bytes(cls, data):
    try:
        _hadoop.WRITABLES[cls][0](data)
    except _hadoop.SequenceFileError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.integers(-2**63, 2**63 - 1))
def test_vint_round_trip(n):
    b = _hadoop.write_vint(n)
    assert _hadoop.read_vint(b, 0, str) == (n, len(b))
