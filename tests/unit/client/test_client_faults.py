"""HttpFaultLayer decisions: seeded, reproducible, proportional; rate limits over a sliding window."""

from __future__ import annotations

import pytest

from harness.client import HttpFaultLayer
from harness.config import FaultSpec


def decisions(layer: HttpFaultLayer, endpoint: str = "a", n: int = 2000) -> list[bool]:
    return [layer.decide(endpoint, seq=i, attempt=1, now=0.0) is not None for i in range(n)]


def test_probability_is_seeded_and_reproducible() -> None:
    spec = FaultSpec(kind="http_status", status=503, probability=0.3)
    a, b, c = HttpFaultLayer(7), HttpFaultLayer(7), HttpFaultLayer(8)
    for layer in (a, b, c):
        layer.activate("f1", ["a", "b"], spec)
    da = decisions(a)
    assert da == decisions(b)  # same seed: same requests hit
    assert da == decisions(a, "b")  # same schedule position: same decision on every endpoint/contender
    assert da != decisions(c)
    assert 0.26 < sum(da) / len(da) < 0.34


def test_attempts_draw_independently() -> None:
    layer = HttpFaultLayer(1)
    layer.activate("f", ["a"], FaultSpec(kind="http_status", status=500, probability=0.5))
    first = [layer.decide("a", seq=i, attempt=1, now=0) is not None for i in range(400)]
    second = [layer.decide("a", seq=i, attempt=2, now=0) is not None for i in range(400)]
    assert first != second


def test_only_listed_endpoints_and_deactivation() -> None:
    layer = HttpFaultLayer(1)
    layer.activate("f", ["a"], FaultSpec(kind="http_status", status=429, retry_after=2))
    inj = layer.decide("a", seq=1, attempt=1, now=0)
    assert inj is not None and (inj.status, inj.retry_after_s, inj.fault_id) == (429, 2.0, "f")
    assert layer.decide("b", seq=1, attempt=1, now=0) is None
    assert layer.active() == ["f"]
    layer.deactivate("f")
    assert layer.active() == [] and layer.decide("a", seq=1, attempt=1, now=0) is None


def test_a_path_key_hits_one_contender_an_endpoint_every_contender() -> None:
    """Issue 13, observation 1: a fault on gamma's path to g never touches alpha's attempts on g."""
    layer = HttpFaultLayer(1)
    layer.activate("path", ["gamma@g"], FaultSpec(kind="http_status", status=503))
    assert layer.decide("g", seq=1, attempt=1, now=0, contender="gamma") is not None
    assert layer.decide("g", seq=1, attempt=1, now=0, contender="alpha") is None
    layer.deactivate("path")
    layer.activate("vendor", ["g"], FaultSpec(kind="http_status", status=503))  # the vendor itself
    assert layer.decide("g", seq=1, attempt=1, now=0, contender="gamma") is not None
    assert layer.decide("g", seq=1, attempt=1, now=0, contender="alpha") is not None


def test_rate_limit_windows_per_endpoint_or_per_path() -> None:
    spec = FaultSpec(kind="rate_limit", rpm=2)
    vendor = HttpFaultLayer(1)
    vendor.activate("rl", ["g"], spec)  # the vendor's own limit counts every contender's requests
    got = [vendor.decide("g", seq=i, attempt=1, now=0.0, contender=c) for i, c in enumerate("aab")]
    assert [x is None for x in got] == [True, True, False]
    paths = HttpFaultLayer(1)
    paths.activate("rl", ["a@g", "b@g"], spec)  # each contender's own path: a window each
    got = [paths.decide("g", seq=i, attempt=1, now=0.0, contender=c) for i, c in enumerate("aab")]
    assert [x is None for x in got] == [True, True, True]


def test_stream_kinds_carry_their_parameters() -> None:
    layer = HttpFaultLayer(1)
    layer.activate("s", ["a"], FaultSpec(kind="stall", stall_for=2.5))
    inj = layer.decide("a", seq=1, attempt=1, now=0)
    assert inj is not None and (inj.kind, inj.after_chunks, inj.stall_for) == ("stall", 1, 2.5)
    layer.deactivate("s")
    layer.activate("c", ["a"], FaultSpec(kind="stream_cut", after_chunks=5))
    inj = layer.decide("a", seq=1, attempt=1, now=0)
    assert inj is not None and (inj.kind, inj.after_chunks) == ("stream_cut", 5)


def test_rpm_limit_sliding_window() -> None:
    layer = HttpFaultLayer(1)
    layer.activate("rl", ["a"], FaultSpec(kind="rate_limit", rpm=3))
    assert [layer.decide("a", seq=i, attempt=1, now=float(i)) for i in range(3)] == [None, None, None]
    inj = layer.decide("a", seq=3, attempt=1, now=10.0)
    assert inj is not None and inj.status == 429 and inj.kind == "rate_limit"
    assert inj.retry_after_s == pytest.approx(50.0)  # the first admitted request (t=0) leaves at t=60
    assert layer.decide("b", seq=3, attempt=1, now=10.0) is None  # other endpoints unaffected
    assert layer.decide("a", seq=4, attempt=1, now=60.0) is None  # t=0 expired


def test_tpm_limit() -> None:
    layer = HttpFaultLayer(1)
    layer.activate("tl", ["a"], FaultSpec(kind="rate_limit", tpm=1000))
    assert layer.decide("a", seq=0, attempt=1, now=0.0, tokens=600) is None
    assert layer.decide("a", seq=1, attempt=1, now=5.0, tokens=300) is None
    inj = layer.decide("a", seq=2, attempt=1, now=6.0, tokens=300)
    assert inj is not None and inj.retry_after_s == pytest.approx(54.0)
    assert layer.decide("a", seq=3, attempt=1, now=60.5, tokens=300) is None


def test_refuses_tcp_kinds_and_incomplete_specs() -> None:
    layer = HttpFaultLayer(1)
    with pytest.raises(ValueError, match="cannot apply"):
        layer.activate("x", ["a"], FaultSpec(kind="latency"))
    with pytest.raises(ValueError, match="status"):
        layer.activate("x", ["a"], FaultSpec(kind="http_status"))
    with pytest.raises(ValueError, match="rpm"):
        layer.activate("x", ["a"], FaultSpec(kind="rate_limit"))


def test_public_api_is_pinned() -> None:
    import harness.client as c
    import harness.dialects as d

    assert set(c.__all__) >= {
        "HttpFaultLayer",
        "Router",
        "Target",
        "evaluate_check",
        "make_http_client",
        "price_attempt",
        "run_attempt",
    }
    assert {"get_dialect", "Delta", "Usage", "Done", "StreamError", "Malformed"} <= set(d.__all__)
