"""The fault timeline: applies and removes faults at offsets on the run clock, and always cleans up.

TCP faults go through the Toxiproxy API, on the proxies of the network paths the fault's target stands for
(one proxy per contender and endpoint, see harness.config._paths): ``outage`` is ``enabled: false``; every
other TCP kind is a toxic named after the timeline entry. HTTP/SSE faults are switched on and off in the
harness's own client path (``HttpFaultLayer``), for the same paths (or the endpoint itself, for a fault
on the vendor). Every change is reported as a ``FaultEvent`` carrying the requested and the actually
applied time and the paths touched, so the analysis uses what really happened.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from harness.config import FaultSpec, ResolvedFault, split_path_key
from harness.record import FaultEvent

__all__ = ["TCP_KINDS", "FaultLayerLike", "FaultTimeline", "ProxyApi", "TimelineAction"]

TCP_KINDS = frozenset(
    {"outage", "latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data"}
)


class ProxyApi(Protocol):
    """The part of the Toxiproxy client the timeline needs."""

    def update_proxy(self, name: str, **fields: Any) -> dict[str, Any]: ...
    def add_toxic(
        self,
        proxy: str,
        type: str,
        attributes: dict[str, Any] | None = None,
        stream: str = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> dict[str, Any]: ...
    def remove_toxic(self, proxy: str, name: str) -> None: ...
    def toxics(self, proxy: str) -> list[dict[str, Any]]: ...


class FaultLayerLike(Protocol):
    def activate(self, fault_id: str, keys: Iterable[str], spec: FaultSpec) -> None: ...
    def deactivate(self, fault_id: str) -> None: ...


@dataclass(frozen=True)
class TimelineAction:
    t: float
    action: Literal["apply", "remove"]
    fault: ResolvedFault


class FaultTimeline:
    """Drive a resolved fault list against the proxies and the HTTP fault layer.

    A fault that starts at or after ``run_end`` is not applied (there is no load left to meet it); one
    that would last beyond it stays until ``cleanup()``.

    ``proxy_names`` maps path key (``alpha@alpha-fast``, or an endpoint name for a run with one path per
    endpoint) → Toxiproxy proxy name; paths without a proxy can take only HTTP faults. ``emit`` receives
    every ``FaultEvent``. Call ``run(stop)`` in a greenlet or
    thread; call ``cleanup()`` in a ``finally`` — it is idempotent and removes everything still applied.
    """

    def __init__(
        self,
        faults: list[ResolvedFault],
        *,
        run_id: str,
        proxy: ProxyApi | None,
        proxy_names: Mapping[str, str],
        http_layer: FaultLayerLike | None,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        emit: Callable[[FaultEvent], None],
        run_end: float,
    ) -> None:
        self.run_id = run_id
        self.proxy = proxy
        self.proxy_names = dict(proxy_names)
        self.http_layer = http_layer
        self.clock = clock
        self.sleep = sleep
        self.emit = emit
        self._lock = threading.Lock()
        self._active: dict[str, ResolvedFault] = {}
        self.actions: list[TimelineAction] = []
        for f in faults:
            if f.entry.at >= run_end:  # never applied: the load has ended by then (e.g. --duration)
                continue
            self.actions.append(TimelineAction(f.entry.at, "apply", f))
            if f.entry.duration is not None and f.entry.at + f.entry.duration < run_end:
                self.actions.append(TimelineAction(f.entry.at + f.entry.duration, "remove", f))
        self.actions.sort(key=lambda a: (a.t, a.action == "apply"))  # removals first at equal times

    def active(self) -> list[str]:
        with self._lock:
            return sorted(self._active)

    def run(self, stopped: Callable[[], bool]) -> None:
        """Apply every action at its time until the list ends or ``stopped()`` turns true."""
        for act in self.actions:
            while not stopped():
                wait = act.t - self.clock()
                if wait <= 0:
                    break
                self.sleep(min(wait, 0.05))
            if stopped():
                return
            if act.action == "apply":
                self._apply(act.fault, act.t)
            else:
                self._remove(act.fault, act.t)

    def _apply(self, f: ResolvedFault, t_requested: float) -> None:
        detail: str | None = None
        ok = True
        touched: list[str] = []
        if f.spec.kind in TCP_KINDS:
            for key in f.path_keys:
                try:
                    self._apply_tcp(f, key)
                    touched.append(key)
                except Exception as exc:  # a failed apply is an event, not a crash of the run
                    ok = False
                    detail = f"{key}: {exc}"
        else:
            try:
                if self.http_layer is None:
                    raise RuntimeError("no HTTP fault layer in this process")
                self.http_layer.activate(f.fault_id, f.http_keys, f.spec)
                touched.extend(f.path_keys)
            except Exception as exc:
                ok = False
                detail = str(exc)
        with self._lock:
            self._active[f.fault_id] = f
        self._event(f, "apply", t_requested, touched, ok, detail)

    def _apply_tcp(self, f: ResolvedFault, key: str) -> None:
        api, name = self._proxy_for(key)
        if f.spec.kind == "outage":
            api.update_proxy(name, enabled=False)
        else:
            api.add_toxic(
                name,
                type=f.spec.kind,
                attributes=dict(f.spec.attributes),
                stream=f.spec.stream,
                toxicity=f.spec.toxicity,
                name=f.fault_id,
            )

    def _proxy_for(self, key: str) -> tuple[ProxyApi, str]:
        if self.proxy is None or key not in self.proxy_names:
            raise RuntimeError(f"path {key} is not behind a proxy; TCP faults need one")
        return self.proxy, self.proxy_names[key]

    def _remove(self, f: ResolvedFault, t_requested: float) -> None:
        with self._lock:
            if self._active.pop(f.fault_id, None) is None:
                return
        ok = True
        detail: str | None = None
        touched: list[str] = []
        if f.spec.kind in TCP_KINDS:
            for key in f.path_keys:
                try:
                    api, name = self._proxy_for(key)
                    if f.spec.kind == "outage":
                        api.update_proxy(name, enabled=True)
                    else:
                        api.remove_toxic(name, f.fault_id)
                    touched.append(key)
                except Exception as exc:
                    ok = False
                    detail = f"{key}: {exc}"
        elif self.http_layer is not None:
            self.http_layer.deactivate(f.fault_id)
            touched.extend(f.path_keys)
        self._event(f, "remove", t_requested, touched, ok, detail)

    def _event(
        self,
        f: ResolvedFault,
        action: Literal["apply", "remove"],
        t_requested: float,
        touched: list[str],
        ok: bool,
        detail: str | None,
    ) -> None:
        self.emit(
            FaultEvent(
                run_id=self.run_id,
                fault_id=f.fault_id,
                action=action,
                fault=f.name,
                kind=f.spec.kind,
                target=f.entry.target,
                endpoints=list(dict.fromkeys(split_path_key(k)[1] for k in touched)),
                t_requested=round(t_requested, 6),
                t_applied=round(self.clock(), 6),
                outcome="ok" if ok else "error",
                detail=detail,
                spec=f.spec.model_dump(exclude_defaults=True),
                description=f.description,
                paths=touched,
            )
        )

    def cleanup(self) -> list[str]:
        """Remove every fault still applied, re-enable every proxy and drop leftover toxics.

        Returns one line per problem met (cleanup goes on past errors)."""
        problems: list[str] = []
        with self._lock:
            remaining = list(self._active.values())
        for f in remaining:
            self._remove(f, self.clock())
        if self.proxy is not None:
            for key, name in self.proxy_names.items():
                try:
                    self.proxy.update_proxy(name, enabled=True)
                    for toxic in self.proxy.toxics(name):
                        self.proxy.remove_toxic(name, str(toxic["name"]))
                except Exception as exc:
                    problems.append(f"cleanup of proxy {name} ({key}): {exc}")
        return problems
