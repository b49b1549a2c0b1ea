"""ember.native: the typed record format from Python (every type round-trips, the
exact bytes of the C encoder, clear errors for what does not fit)."""
import math
import struct
from collections import namedtuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ember import _core, native

scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-2**200, max_value=2**200)
           | st.floats(allow_nan=False) | st.text() | st.binary())
hashable = st.recursive(scalars, lambda inner: st.tuples(inner) | st.tuples(inner, inner), max_leaves=6)
records = st.recursive(
    scalars,
    lambda inner: (st.lists(inner, max_size=5) | st.lists(inner, max_size=5).map(tuple)
                   | st.dictionaries(hashable, inner, max_size=4)),
    max_leaves=25)


def same(a, b):
    """Equal, and of the same types all the way down (True is not 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


@settings(max_examples=300, deadline=None)
@given(records)
def test_every_type_round_trips(obj):
    data = native.dumps(obj)
    assert same(native.loads(data), obj)
    # one encoding per value: encoding the decoded object gives the same bytes
    assert native.dumps(native.loads(data)) == data


@settings(max_examples=100, deadline=None)
@given(st.lists(records, max_size=20))
def test_batches_round_trip(objs):
    assert all(same(a, b) for a, b in zip(_core.records_loads(_core.records_dumps(objs)), objs))
    assert len(_core.records_loads(_core.records_dumps(objs))) == len(objs)


def test_nan_and_signed_zero():
    assert math.isnan(native.loads(native.dumps(float("nan"))))
    assert math.copysign(1.0, native.loads(native.dumps(-0.0))) == -1.0


def test_exact_bytes_match_the_documented_format():
    # tuple(2) ['ab', -2], then small ints as zigzag varints, float little-endian
    assert native.dumps(("ab", -2)) == b"\x08\x02\x06\x02ab\x03\x03"
    assert native.dumps(150) == b"\x03\xac\x02"
    assert native.dumps(1.5) == b"\x05" + struct.pack("<d", 1.5)
    assert native.dumps(True) == b"\x02" and native.dumps(None) == b"\x00"
    assert native.dumps({"k": [b"x"]}) == b"\x0a\x01\x06\x01k\x09\x01\x07\x01x"


@pytest.mark.parametrize("n", [2**63 - 1, -2**63, 2**63, -2**63 - 1, 2**64, -2**64, 10**100, -10**100])
def test_integers_at_and_past_64_bits(n):
    data = native.dumps(n)
    assert native.loads(data) == n
    assert data[0] == (0x03 if -2**63 <= n < 2**63 else 0x04)


def test_unsupported_type_names_type_and_place():
    with pytest.raises(TypeError, match=r"cannot encode set at \[1\]\['k'\] as an ember record"):
        native.dumps((1, {"k": {1, 2}}))
    with pytest.raises(TypeError, match=r"cannot encode object at \[0\] as an ember record \(in the input of "
                                        r"mapNative tok\)"):
        native.dumps([object()], where="the input of mapNative tok")


def test_subclasses_are_refused_with_advice():
    Pair = namedtuple("Pair", "a b")
    with pytest.raises(TypeError, match=r"cannot encode Pair as an ember record: subclasses of built-in types"):
        native.dumps(Pair(1, 2))


def test_lone_surrogate_is_refused():
    with pytest.raises(ValueError, match=r"cannot encode str at \[0\].*lone surrogate"):
        native.dumps(["\udc80"])


def test_too_deep_is_refused():
    obj = None
    for _ in range(250):
        obj = [obj]
    with pytest.raises(ValueError, match="nested too deep"):
        native.dumps(obj)


@pytest.mark.parametrize("data, what", [
    (b"", "truncated"), (b"\x0b", "unknown tag"), (b"\x06\x02\xc3\x28", "not UTF-8"),
    (b"\x09\x03\x00", "count past the end"), (b"\x00\x00", "1 bytes after the record"),
])
def test_corrupt_records_are_refused(data, what):
    with pytest.raises(ValueError, match=what):
        native.loads(data)


def test_batch_header_is_checked():
    with pytest.raises(ValueError, match="version 2"):
        _core.records_loads(b"EMR\x02")
    with pytest.raises(ValueError, match="no EMR header"):
        _core.records_loads(b"\x00")
