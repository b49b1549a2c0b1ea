"""ember.serializers (PySpark's serializer classes) and the context's serializer."""
import io
import pickle
import struct

import pytest

from conftest import run_python
from ember import SparkContext
from ember.serializers import (AutoBatchedSerializer, BatchedSerializer, CartesianDeserializer,
                               CloudPickleSerializer, CompressedSerializer, CPickleSerializer,
                               FlattenedValuesSerializer, MarshalSerializer, NoOpSerializer,
                               PairDeserializer, PickleSerializer, SpecialLengths, UTF8Deserializer,
                               read_bool, read_int, read_long, write_int, write_long)

VALUES = [0, -1, 2**40, 1.5, "text", b"bytes", None, (1, "a"), [1, [2]], {"k": {1, 2}}]


def _roundtrip_stream(ser, items):
    buf = io.BytesIO()
    ser.dump_stream(iter(items), buf)
    buf.seek(0)
    return list(ser.load_stream(buf)), buf.getvalue()


@pytest.mark.parametrize("ser", [PickleSerializer(), CloudPickleSerializer(), MarshalSerializer(),
                                 CompressedSerializer(PickleSerializer())])
def test_framed_serializers_round_trip(ser):
    for v in VALUES:
        assert ser.loads(ser.dumps(v)) == v
    items, data = _roundtrip_stream(ser, VALUES)
    assert items == VALUES
    # Framing: a big-endian length before each object's bytes.
    first = ser.dumps(VALUES[0])
    assert data[:4] == struct.pack("!i", len(first)) and data[4:4 + len(first)] == first


def test_pickles_are_standard_protocol_5():
    data = CPickleSerializer().dumps([1, 2])
    assert data[:2] == b"\x80\x05"
    assert pickle.loads(data) == [1, 2]
    assert CPickleSerializer is CloudPickleSerializer


def test_cloudpickle_serializes_functions_and_names_failures():
    ser = CloudPickleSerializer()
    k = 3
    assert ser.loads(ser.dumps(lambda x: x * k))(2) == 6
    with pytest.raises(pickle.PicklingError, match="Could not serialize object: TypeError"):
        ser.dumps(iter_gen() for iter_gen in [])  # a generator cannot be pickled


@pytest.mark.parametrize("size", [1, 3, 7, -1])
def test_batched_serializer(size):
    ser = BatchedSerializer(PickleSerializer(), size)
    items, data = _roundtrip_stream(ser, range(10))
    assert items == list(range(10))
    batches = list(PickleSerializer().load_stream(io.BytesIO(data)))
    expected = [list(range(10))] if size == -1 else [list(range(i, min(i + size, 10))) for i in range(0, 10, size)]
    assert batches == expected


def test_batched_serializer_rejects_a_bad_size():
    with pytest.raises(ValueError, match="batchSize must be positive"):
        BatchedSerializer(PickleSerializer(), 0).dump_stream([1], io.BytesIO())


def test_auto_batched_sizes_adapt():
    small = AutoBatchedSerializer(PickleSerializer())
    items, data = _roundtrip_stream(small, range(100))
    assert items == list(range(100))
    sizes = [len(b) for b in PickleSerializer().load_stream(io.BytesIO(data))]
    assert sizes == [1, 2, 4, 8, 16, 32, 37]
    # Objects far over the best size halve the batch after it grows.
    big = AutoBatchedSerializer(PickleSerializer(), bestSize=10)
    items, data = _roundtrip_stream(big, ["x" * 200] * 6)
    assert [len(b) for b in PickleSerializer().load_stream(io.BytesIO(data))] == [1, 1, 1, 1, 1, 1]


def test_flattened_values_serializer():
    ser = FlattenedValuesSerializer(PickleSerializer(), 2)
    buf = io.BytesIO()
    ser.dump_stream([("a", [1, 2, 3]), ("b", [4])], buf)
    buf.seek(0)
    assert list(ser.load_stream(buf)) == [("a", [1, 2]), ("a", [3]), ("b", [4])]


def test_pair_and_cartesian_deserializers():
    buf = io.BytesIO()
    inner = PickleSerializer()
    for batch in [[1, 2], ["a", "b"], [3], ["c"]]:
        inner._write_with_length(batch, buf)
    batched = BatchedSerializer(inner, 2)
    buf.seek(0)
    assert list(PairDeserializer(batched, batched).load_stream(buf)) == [(1, "a"), (2, "b"), (3, "c")]
    buf.seek(0)
    assert list(CartesianDeserializer(batched, batched).load_stream(buf)) == \
        [(1, "a"), (1, "b"), (2, "a"), (2, "b"), (3, "c")]
    bad = io.BytesIO()
    for batch in [[1, 2], ["a"]]:
        inner._write_with_length(batch, bad)
    bad.seek(0)
    with pytest.raises(ValueError, match=r"different number of items in batches: \(2, 1\)"):
        list(PairDeserializer(batched, batched).load_stream(bad))


def test_utf8_and_noop():
    buf = io.BytesIO()
    for s in [b"a", "é".encode(), b""]:
        write_int(len(s), buf)
        buf.write(s)
    write_int(SpecialLengths.NULL, buf)
    write_int(SpecialLengths.END_OF_DATA_SECTION, buf)
    write_int(1, buf)
    buf.write(b"z")
    buf.seek(0)
    assert list(UTF8Deserializer().load_stream(buf)) == ["a", "é", "", None]
    assert list(UTF8Deserializer(use_unicode=False).load_stream(buf)) == [b"z"]
    items, _ = _roundtrip_stream(NoOpSerializer(), [b"x", b"yz"])
    assert items == [b"x", b"yz"]


def test_framed_none_and_truncation():
    buf = io.BytesIO()
    write_int(SpecialLengths.NULL, buf)
    write_int(10, buf)
    buf.write(b"short")
    buf.seek(0)
    assert list(PickleSerializer().load_stream(buf)) == [None]  # a cut frame ends the stream


def test_int_helpers():
    buf = io.BytesIO()
    write_int(-7, buf)
    write_long(2**40, buf)
    buf.write(b"\x01")
    buf.seek(0)
    assert (read_int(buf), read_long(buf), read_bool(buf)) == (-7, 2**40, True)
    with pytest.raises(EOFError):
        read_int(buf)


def test_equality_repr_hash():
    assert PickleSerializer() == PickleSerializer()
    assert PickleSerializer() != MarshalSerializer()
    assert BatchedSerializer(PickleSerializer(), 2) != BatchedSerializer(PickleSerializer(), 3)
    assert repr(AutoBatchedSerializer(MarshalSerializer())) == "AutoBatchedSerializer(MarshalSerializer())"
    assert repr(CompressedSerializer(PickleSerializer())) == "CompressedSerializer(PickleSerializer())"
    assert hash(PickleSerializer()) == hash(PickleSerializer())
    with pytest.raises(TypeError, match="FramedSerializer"):
        CompressedSerializer(BatchedSerializer(PickleSerializer()))


def test_context_reports_its_serializer(sc):
    assert sc.serializer == AutoBatchedSerializer(CPickleSerializer())


def test_context_refuses_other_serializers():
    with pytest.raises(NotImplementedError, match=r"MarshalSerializer\(\).*CPickleSerializer\(\).*instead"):
        SparkContext("local[1]", "marshal", serializer=MarshalSerializer())


def test_context_takes_pickle_serializers_and_batch_size():
    proc = run_python(
        "from ember import SparkContext\n"
        "from ember.serializers import PickleSerializer\n"
        "with SparkContext('local[1]', 't', serializer=PickleSerializer(), batchSize=5) as sc:\n"
        "    print(sc.serializer)\n"
        "    print(sc.parallelize(range(12), 2).glom().map(len).collect())\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["BatchedSerializer(PickleSerializer(), 5)", "[6, 6]"]
