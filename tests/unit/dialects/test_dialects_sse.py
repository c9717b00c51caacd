from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from harness.dialects import SSEDecoder, SSEEvent, parse_retry_after


def test_multiline_data_and_fields() -> None:
    d = SSEDecoder()
    out = d.feed(b"id: 1\nretry: 5\nevent: x\ndata: a\ndata:b\n\n")
    assert out == [SSEEvent("x", "a\nb")]


def test_cr_only_line_ends_and_split_crlf() -> None:
    d = SSEDecoder()
    assert d.feed(b"data: 1\r") == []
    assert d.feed(b"\n\r\n") == [SSEEvent(None, "1")]
    assert d.feed(b"data: 2\r\rdata: 3\r\r") == [SSEEvent(None, "2")]  # the last CR may start a CRLF
    assert d.close() == [SSEEvent(None, "3")]


def test_blank_line_without_data_dispatches_nothing() -> None:
    d = SSEDecoder()
    assert d.feed(b"event: ping\n\n\n") == []
    assert d.feed(b"data: x\n\n") == [SSEEvent(None, "x")]  # the event name was reset


@given(
    st.lists(
        st.text(
            alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=["Cs"]), max_size=20
        ),
        max_size=8,
    ),
    st.integers(1, 17),
)
def test_any_split_gives_the_same_events(payloads: list[str], step: int) -> None:
    body = b"".join(b"data: " + p.encode() + b"\n\n" for p in payloads)
    d = SSEDecoder()
    out: list[SSEEvent] = []
    for i in range(0, len(body), step):
        out += d.feed(body[i : i + step])
    out += d.close()
    assert [e.data for e in out] == payloads


def test_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412480.0) == 10.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None
