"""Lines straddling split boundaries are read exactly once (property test)."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

line_text = st.text(alphabet=st.sampled_from("ab é\t漢"), max_size=30)
terminator = st.sampled_from(["\n", "\r\n", "\r"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.tuples(line_text, terminator), max_size=60),
       last_terminated=st.booleans(), parts=st.integers(1, 40))
def test_lines_read_exactly_once(sc, tmp_path_factory, lines, last_terminated, parts):
    path = tmp_path_factory.mktemp("split") / "f.txt"
    body = "".join(t + term for t, term in lines)
    if lines and not last_terminated:
        body = body[: -len(lines[-1][1])]
    path.write_bytes(body.encode("utf-8"))
    expected = body.splitlines() if body else []
    # str.splitlines also breaks on characters we do not write (\x0b, \x1c ...): none here.
    got = sc.textFile(str(path), parts).collect()
    assert got == expected


def test_use_unicode_false_gives_bytes(sc, tmp_path):
    path = tmp_path / "b.txt"
    path.write_bytes("é\nx\xff".encode("latin-1"))
    assert sc.textFile(str(path), use_unicode=False).collect() == [b"\xe9", b"x\xff"]
    assert sc.textFile(str(path)).collect() == ["\ufffd", "x\ufffd"]
