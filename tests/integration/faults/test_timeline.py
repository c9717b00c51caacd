"""The fault timeline against the embedded Toxiproxy and the HTTP fault layer, on the run clock."""

from __future__ import annotations

import threading
import time

from harness.client import HttpFaultLayer
from harness.config import FaultEntry, FaultSpec, ResolvedFault
from harness.faults import FaultTimeline, ToxiproxyClient, serve_proxy_in_thread
from harness.record import FaultEvent


def fault(fid: str, at: float, duration: float | None, target: str, **spec: object) -> ResolvedFault:
    s = FaultSpec.model_validate(spec)
    return ResolvedFault(
        fid,
        str(spec["kind"]),
        FaultEntry(at=at, duration=duration, target=target, fault=s),
        s,
        "test fault",
        (target,),
    )


def make(
    faults: list[ResolvedFault],
    api: ToxiproxyClient | None,
    names: dict[str, str],
    layer: HttpFaultLayer | None,
    run_end: float = 10.0,
) -> tuple[FaultTimeline, list[FaultEvent], float]:
    events: list[FaultEvent] = []
    t0 = time.perf_counter()
    tl = FaultTimeline(
        faults,
        run_id="r",
        proxy=api,
        proxy_names=names,
        http_layer=layer,
        clock=lambda: time.perf_counter() - t0,
        sleep=time.sleep,
        emit=events.append,
        run_end=run_end,
    )
    return tl, events, t0


def test_toxic_and_outage_applied_and_removed_on_time() -> None:
    with serve_proxy_in_thread() as srv, ToxiproxyClient(srv.url) as api:
        api.create_proxy("p-a", upstream="127.0.0.1:9")
        api.create_proxy("p-b", upstream="127.0.0.1:9")
        tl, events, _ = make(
            [
                fault("f1-lat", 0.1, 0.3, "a", kind="latency", attributes={"latency": 50}),
                fault("f2-out", 0.2, 0.3, "b", kind="outage"),
            ],
            api,
            {"a": "p-a", "b": "p-b"},
            None,
        )
        seen: dict[str, object] = {}

        def watch() -> None:
            time.sleep(0.3)  # both faults active
            seen["toxics"] = [t["name"] for t in api.toxics("p-a")]
            seen["enabled"] = api.get_proxy("p-b")["enabled"]

        w = threading.Thread(target=watch)
        w.start()
        tl.run(lambda: False)
        w.join()
        assert seen == {"toxics": ["f1-lat"], "enabled": False}
        assert api.toxics("p-a") == [] and api.get_proxy("p-b")["enabled"] is True
        assert [(e.fault_id, e.action) for e in events] == [
            ("f1-lat", "apply"),
            ("f2-out", "apply"),
            ("f1-lat", "remove"),
            ("f2-out", "remove"),
        ]
        for e in events:
            assert e.outcome == "ok" and 0 <= e.t_applied - e.t_requested < 0.1
        assert [e.t_requested for e in events] == [0.1, 0.2, 0.4, 0.5]


def test_http_faults_switch_the_layer_and_stop_leaves_nothing_applied() -> None:
    layer = HttpFaultLayer(1)
    with serve_proxy_in_thread() as srv, ToxiproxyClient(srv.url) as api:
        api.create_proxy("p-a", upstream="127.0.0.1:9")
        tl, events, _ = make(
            [
                fault("f1-429", 0.0, 5.0, "a", kind="http_status", status=429),
                fault("f2-slow", 0.0, None, "a", kind="latency", attributes={"latency": 10}),
            ],
            api,
            {"a": "p-a"},
            layer,
        )
        stop = threading.Event()
        t = threading.Thread(target=tl.run, args=(stop.is_set,))
        t.start()
        time.sleep(0.2)
        assert layer.active() == ["f1-429"] and tl.active() == ["f1-429", "f2-slow"]
        stop.set()  # Ctrl-C before the 429 storm's end
        t.join(timeout=5)
        assert tl.cleanup() == []
        assert layer.active() == [] and tl.active() == []
        assert api.toxics("p-a") == []
        assert sorted((e.fault_id, e.action) for e in events) == [
            ("f1-429", "apply"),
            ("f1-429", "remove"),
            ("f2-slow", "apply"),
            ("f2-slow", "remove"),
        ]
        assert tl.cleanup() == []  # idempotent


def test_a_failed_apply_is_an_event_not_a_crash_and_cleanup_reports_problems() -> None:
    with serve_proxy_in_thread() as srv, ToxiproxyClient(srv.url) as api:
        tl, events, _ = make(
            [fault("f1-out", 0.0, 0.1, "a", kind="outage")], api, {"a": "no-such-proxy"}, None
        )
        tl.run(lambda: False)
        assert events[0].action == "apply" and events[0].outcome == "error"
        assert "proxy not found" in (events[0].detail or "")
        problems = tl.cleanup()
        assert len(problems) == 1 and "no-such-proxy" in problems[0]


def path_fault(
    fid: str, target: str, scope: str, endpoints: tuple, paths: tuple, **spec: object
) -> ResolvedFault:
    s = FaultSpec.model_validate(spec)
    entry = FaultEntry(at=0.0, duration=0.2, target=target, fault=s)
    return ResolvedFault(fid, str(spec["kind"]), entry, s, "test fault", endpoints, paths, scope)


def test_faults_act_on_network_paths_never_on_another_contenders() -> None:
    """Issue 13, observation 1: one proxy per (contender, endpoint). gamma's primary g is alpha's fallback;
    a fault on gamma's path leaves alpha's path to g alone, a fault on the vendor g hits both paths."""
    names = {"alpha@a": "p-alpha-a", "alpha@g": "p-alpha-g", "gamma@g": "p-gamma-g"}
    layer = HttpFaultLayer(1)
    with serve_proxy_in_thread() as srv, ToxiproxyClient(srv.url) as api:
        for name in names.values():
            api.create_proxy(name, upstream="127.0.0.1:9")
        tl, events, _ = make(
            [
                path_fault(
                    "f1",
                    "each-contender",
                    "each-contender",
                    ("a", "g"),
                    ("alpha@a", "gamma@g"),
                    kind="outage",
                ),
                path_fault(
                    "f2",
                    "g",
                    "endpoint",
                    ("g",),
                    ("alpha@g", "gamma@g"),
                    kind="latency",
                    attributes={"latency": 5},
                ),
                path_fault(
                    "f3",
                    "alpha",
                    "contender",
                    ("a", "g"),
                    ("alpha@a", "alpha@g"),
                    kind="http_status",
                    status=503,
                ),
            ],
            api,
            names,
            layer,
        )
        seen: dict[str, object] = {}

        def watch() -> None:
            time.sleep(0.1)  # all three applied
            seen["enabled"] = {k: api.get_proxy(n)["enabled"] for k, n in names.items()}
            seen["toxics"] = {k: [t["name"] for t in api.toxics(n)] for k, n in names.items()}
            seen["alpha_on_g"] = layer.decide("g", seq=1, attempt=1, now=0, contender="alpha") is not None
            seen["gamma_on_g"] = layer.decide("g", seq=1, attempt=1, now=0, contender="gamma") is not None

        w = threading.Thread(target=watch)
        w.start()
        tl.run(lambda: False)
        w.join()
    # each contender's own path to its primary went dark; alpha's path to its fallback g stayed up
    assert seen["enabled"] == {"alpha@a": False, "alpha@g": True, "gamma@g": False}
    assert seen["toxics"] == {"alpha@a": [], "alpha@g": ["f2"], "gamma@g": ["f2"]}
    # an HTTP fault on a contender covers its whole chain (both paths), nobody else's
    assert seen["alpha_on_g"] is True and seen["gamma_on_g"] is False
    applied = {e.fault_id: e for e in events if e.action == "apply"}
    assert applied["f1"].paths == ["alpha@a", "gamma@g"] and applied["f1"].endpoints == ["a", "g"]
    assert applied["f2"].paths == ["alpha@g", "gamma@g"] and applied["f2"].endpoints == ["g"]
    assert applied["f3"].paths == ["alpha@a", "alpha@g"]
