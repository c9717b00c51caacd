"""The stack a run needs: simulated vendors and an embedded Toxiproxy as child processes, and one
proxy per network path: every contender reaches every endpoint of its chain through a proxy of its own
(``bakeoff-alpha@alpha-fast``), so a fault on one contender's path never touches another contender that
uses the same endpoint (harness.config._paths). An endpoint no contender uses gets one proxy for probes.

Children (``python -m harness.sim`` / ``python -m harness.faults``, see :mod:`harness._children`) log to
``sim.log`` / ``proxy.log`` in the run folder.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from harness._children import ChildProcess, StartCancelled
from harness._errors import RunError
from harness.client import upstream_address
from harness.config import ResolvedScenario, network_paths, split_path_key
from harness.load._plan import SIM_API_KEY

__all__ = ["Stack", "upstream_of"]


def upstream_of(base_url: str) -> tuple[str, int]:
    """host and port a base URL connects to (default ports by scheme): the upstream of its proxies."""
    return upstream_address(base_url)


class Stack:
    """Bring up simulated vendors and the proxy layer for a resolved scenario; tear everything down.

    After ``start()``: ``base_urls[endpoint]`` is the vendor base URL (SDK style), ``connect_to[path]``
    the proxy listen address the client dials instead (``path``: ``<contender>@<endpoint>``),
    ``proxy_names[path]`` the Toxiproxy proxy name, ``toxiproxy_url`` the API in use.
    """

    def __init__(
        self,
        resolved: ResolvedScenario,
        run_dir: Path,
        *,
        toxiproxy_url: str | None = None,
        ground_truth: bool = False,
        host: str = "127.0.0.1",
        sim_processes: int = 1,
    ) -> None:
        self.resolved = resolved
        self.sim_processes = sim_processes
        self.run_dir = run_dir
        self.external_toxiproxy = toxiproxy_url
        self.ground_truth = ground_truth
        self.host = host
        self.sim: ChildProcess | None = None
        self.proxy_proc: ChildProcess | None = None
        self.toxiproxy_url: str | None = toxiproxy_url
        self.proxy_api: Any = None
        self.base_urls: dict[str, str] = {}
        self.connect_to: dict[str, tuple[str, int]] = {}
        self.proxy_names: dict[str, str] = {}
        self._cancelled: Callable[[], bool] = lambda: False

    def start(self, cancelled: Callable[[], bool] = lambda: False) -> None:
        """Start the children and create the proxies. ``StartCancelled`` as soon as ``cancelled()`` is
        true (a stop signal): everything started so far is stopped."""
        self._cancelled = cancelled
        try:
            self._start_sims()
            self._start_proxies()
        except BaseException:
            self.stop()
            raise

    def _start_sims(self) -> None:
        sc = self.resolved.scenario
        sim_eps = [ep for ep in sc.endpoints if ep.sim is not None]
        for ep in sc.endpoints:
            if ep.base_url is not None:
                self.base_urls[ep.name] = ep.base_url
        if not sim_eps:
            return
        config = {
            "seed": sc.seed,
            "endpoints": [
                {
                    "name": ep.name,
                    "dialect": ep.dialect,
                    "model": ep.model,
                    "api_key": SIM_API_KEY,  # the simulated vendor checks the key like a real one
                    "behaviour": self.resolved.sim_behaviours[ep.name].model_dump(mode="json"),
                }
                for ep in sim_eps
            ],
        }
        path = self.run_dir / "sim.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        argv = ["harness.sim", "--config", str(path), "--host", self.host, "--port", "0"]
        if self.ground_truth:
            argv += ["--ground-truth", str(self.run_dir / "sim-ground-truth.jsonl")]
        if self.sim_processes > 1:  # one port shared with SO_REUSEPORT; capacities are split between them
            argv += ["--workers", str(self.sim_processes)]
        self.sim = ChildProcess("simulated vendors", argv, self.run_dir / "sim.log")
        for line in self.sim.start(expect_lines=len(sim_eps), cancelled=self._cancelled):
            parts = line.split()
            if len(parts) != 3:
                raise RunError(f"simulated vendors printed an unexpected line: {line!r}")
            name, _dialect, url = parts
            self.base_urls[name] = url
        missing = [ep.name for ep in sim_eps if ep.name not in self.base_urls]
        if missing:
            raise RunError(f"simulated vendors did not announce: {', '.join(missing)}")

    def _start_proxies(self) -> None:
        from harness.faults import ToxiproxyClient

        if self.external_toxiproxy is None:
            self.proxy_proc = ChildProcess(
                "embedded toxiproxy",
                ["harness.faults", "--host", self.host, "--port", "0"],
                self.run_dir / "proxy.log",
            )
            line = self.proxy_proc.start(expect_lines=1, cancelled=self._cancelled)[0]
            self.toxiproxy_url = line.split()[-1]
        assert self.toxiproxy_url is not None
        self.proxy_api = ToxiproxyClient(self.toxiproxy_url, timeout=10.0)
        self.proxy_api.version()
        api_host = urlsplit(self.toxiproxy_url).hostname or "127.0.0.1"
        # Proxies listen where the harness can reach them: on loopback when the API is local (embedded, or a
        # Toxiproxy on this machine), on every interface of a remote Toxiproxy (e.g. a compose network).
        local = self.external_toxiproxy is None or api_host in ("127.0.0.1", "localhost", "::1")
        listen_host = (self.host if self.external_toxiproxy is None else "127.0.0.1") if local else "0.0.0.0"
        sc = self.resolved.scenario
        for key in network_paths(sc.endpoints, sc.contenders):
            if self._cancelled():
                raise StartCancelled("stopped while creating proxies")
            name = f"bakeoff-{key}"
            host, port = upstream_of(self.base_urls[split_path_key(key)[1]])
            with contextlib.suppress(Exception):  # a crashed earlier run may have left it; absent is normal
                self.proxy_api.delete_proxy(name)
            created = self.proxy_api.create_proxy(name, upstream=f"{host}:{port}", listen=f"{listen_host}:0")
            _lhost, _, lport = str(created["listen"]).rpartition(":")
            self.connect_to[key] = (listen_host if local else api_host, int(lport))
            self.proxy_names[key] = name

    def metrics_urls(self) -> dict[str, str]:
        """Where each endpoint's server metrics are scraped: its ``metrics_url``, or a simulated vendor's
        own ``/<endpoint>/metrics`` (reached directly, not through the proxies: faults never hide them)."""
        out: dict[str, str] = {}
        for ep in self.resolved.scenario.endpoints:
            if ep.metrics_url is not None:
                out[ep.name] = ep.metrics_url
            elif ep.sim is not None and ep.name in self.base_urls:
                parts = urlsplit(self.base_urls[ep.name])
                out[ep.name] = f"{parts.scheme}://{parts.netloc}/{ep.name}/metrics"
        return out

    def endpoint_connect_to(self) -> dict[str, tuple[str, int]]:
        """One proxy address per endpoint (the first path to it), for what is not a contender's traffic:
        the conformance probes before the load, which no fault touches."""
        out: dict[str, tuple[str, int]] = {}
        for key, addr in self.connect_to.items():
            out.setdefault(split_path_key(key)[1], addr)
        return out

    def stop(self) -> list[str]:
        """Delete our proxies, stop the children. Returns problems met (never raises)."""
        problems: list[str] = []
        if self.proxy_api is not None:
            for name in self.proxy_names.values():
                try:
                    self.proxy_api.delete_proxy(name)
                except Exception as exc:
                    problems.append(f"could not delete proxy {name}: {exc}")
            with contextlib.suppress(Exception):
                self.proxy_api.close()
            self.proxy_api = None
        for child in (self.proxy_proc, self.sim):
            if child is not None:
                try:
                    child.stop()
                except Exception as exc:
                    problems.append(f"could not stop {child.name}: {exc}")
        return problems
