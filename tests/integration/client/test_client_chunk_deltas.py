"""Issue 13, observation 5: every read that carried deltas is one chunk, and the record says how many
deltas it carried (``chunk_deltas``), so merged reads are visible: a stream read delta by delta, a
stream whose deltas come in one write, and a non-streamed answer (one read, every delta)."""

from __future__ import annotations

import json
import time

from client_loopback import PROMPT, Conn, clock, make_endpoint, make_target, openai_chunk, openai_stream

from harness.client import run_attempt


def attempt(client, target):
    return run_attempt(
        client,
        target,
        PROMPT,
        clock=clock,
        run_id="r",
        request_id="c-1",
        attempt=1,
        contender="c",
        t_intended=0,
    )


def test_each_read_records_how_many_deltas_it_carried(serve, client) -> None:
    words = ["Hello", " there", " my", " friend"]
    frames = openai_stream(words)

    def h(c: Conn) -> None:
        c.read_request()
        c.start_chunked()
        c.chunk(frames[0] + frames[1])  # role, then one delta: one read, one delta
        time.sleep(0.05)
        c.chunk(frames[2] + frames[3] + frames[4])  # three deltas written together: one merged read
        time.sleep(0.05)
        c.chunk(b"".join(frames[5:]))
        c.end_chunked()

    rec = attempt(client, make_target(serve(h).url, make_endpoint()))
    assert rec.outcome == "ok", rec.error_detail
    assert rec.chunk_deltas == [1, 3] and len(rec.chunk_times) == 2
    assert rec.t_last_token - rec.t_first_token >= 0.04  # two reads at distinct times: a TPOT exists


def test_a_non_streamed_answer_is_one_read_carrying_every_delta(serve, client) -> None:
    body = {
        "id": "x",
        "object": "chat.completion",
        "created": 1,
        "model": "m-1",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6},
    }

    def h(c: Conn) -> None:
        c.read_request()
        c.respond(200, json.dumps(body).encode())

    rec = attempt(client, make_target(serve(h).url, make_endpoint(stream=False)))
    assert rec.outcome == "ok"
    assert rec.chunk_deltas == [1] and len(rec.chunk_times) == 1
    assert rec.t_first_token == rec.t_last_token  # no TPOT can be computed from it (the analysis: NaN)


def test_an_injected_cut_still_counts_the_deltas_of_its_last_read(serve, client) -> None:
    from harness.client import HttpFaultLayer
    from harness.config import FaultSpec

    frames = [openai_chunk("")] + [openai_chunk(w) for w in ("a", "b", "c", "d")]

    def h(c: Conn) -> None:
        c.read_request()
        c.start_chunked()
        c.chunk(b"".join(frames))
        time.sleep(0.2)
        c.end_chunked()

    layer = HttpFaultLayer(1)
    layer.activate("cut", ["ep"], FaultSpec(kind="stream_cut", after_tokens=2))
    rec = run_attempt(
        client,
        make_target(serve(h).url, make_endpoint()),
        PROMPT,
        clock=clock,
        run_id="r",
        request_id="c-1",
        attempt=1,
        contender="c",
        t_intended=0,
        faults=layer,
    )
    assert rec.error_class == "stream_truncated"
    assert rec.chunk_deltas == [2] and len(rec.chunk_times) == 1
