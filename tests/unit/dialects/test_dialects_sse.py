from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.config import Limits
from harness.dialects import (
    MAX_EVENT_BYTES,
    SSEDecoder,
    SSEEvent,
    SSETooLarge,
    StreamError,
    get_dialect,
    parse_retry_after,
)


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


@given(
    st.lists(
        st.sampled_from([b"data: a", b"data:b", b"event: e", b": c", b"", b"data: \xc3\xa9"]), max_size=12
    ),
    st.sampled_from([b"\n", b"\r\n", b"\r"]),
    st.lists(st.integers(1, 9), min_size=1, max_size=6),
)
def test_any_line_ending_and_any_split_match_one_feed(
    lines: list[bytes], end: bytes, steps: list[int]
) -> None:
    """The decoder keeps an unfinished line as pieces and joins it once: the pieces never change a result."""
    body = b"".join(line + end for line in lines) + end
    whole = SSEDecoder()
    expected = whole.feed(body) + whole.close()
    d = SSEDecoder()
    out: list[SSEEvent] = []
    i = k = 0
    while i < len(body):
        step = steps[k % len(steps)]
        out += d.feed(body[i : i + step])
        i, k = i + step, k + 1
    assert out + d.close() == expected


def test_a_line_arriving_in_many_pieces_is_one_line() -> None:
    d = SSEDecoder()
    for piece in (b"da", b"ta: ", b"x" * 1000, b"y" * 1000):
        assert d.feed(piece) == []
    assert d.feed(b"\n\n") == [SSEEvent(None, "x" * 1000 + "y" * 1000)]


def test_one_line_past_the_bound_raises_without_a_newline_ever() -> None:
    d = SSEDecoder(max_event_bytes=4096)
    d.feed(b"data: " + b"x" * 4000)
    with pytest.raises(SSETooLarge, match="one SSE line over 4096 bytes"):
        d.feed(b"x" * 200)


def test_one_event_of_many_small_lines_past_the_bound_raises() -> None:
    d = SSEDecoder(max_event_bytes=4096)
    with pytest.raises(SSETooLarge, match="one SSE event's data over 4096 bytes"):
        d.feed(b"data: " + b"x" * 1000 + b"\n" + (b"data: " + b"x" * 1000 + b"\r\n") * 4)


def test_the_default_bound_is_the_scenarios_default() -> None:
    assert Limits().event_bytes == MAX_EVENT_BYTES


@pytest.mark.parametrize("dialect", ["openai-chat", "anthropic-messages", "gemini", "azure-openai"])
def test_every_dialect_ends_a_stream_past_the_bound_as_too_large(dialect: str) -> None:
    p = get_dialect(dialect).stream_parser(2048)
    assert p.feed(b"data: " + b"x" * 1000) == []
    events = p.feed(b"x" * 2000)
    assert len(events) == 1 and isinstance(events[0], StreamError)
    assert events[0].error_class == "response_too_large"
    assert p.feed(b"data: {}\n\n") == []  # the stream is over


def test_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412480.0) == 10.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None
