"""Send the probe requests and the TLS handshake of every endpoint, then evaluate them.

Sync httpx on the run's shared client (works in plain threads and under gevent), one endpoint after
another, one request per probe, each bounded by its own time limit. Requests go where the load goes:
through the endpoint's proxy address when the Target has ``connect_to``, with Host and SNI kept.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import urlsplit

import httpx

from harness._text import redact, redact_bytes, safe_text
from harness.client import TIMEOUT_CLASSES, Target, error_class_of, read_deadline, route_request
from harness.config import Endpoint, Price
from harness.dialects import Done, Malformed, StreamError, get_dialect
from harness.probes._evaluate import Exchange, TlsInfo, evaluate
from harness.probes._plan import ProbeOptions, ProbeRequest, build_probe_requests
from harness.probes._result import PROBES, ProbeResult

__all__ = ["build_targets", "check_tls", "run_probes"]

ANSWER_BODY_MAX = 1 << 20
ERROR_BODY_MAX = 64 * 1024


def _default_tls_context() -> ssl.SSLContext:
    import certifi  # httpx's own CA bundle, so the probe trusts what the load client trusts

    return ssl.create_default_context(cafile=certifi.where())


def _exchange(
    client: httpx.Client,
    target: Target,
    preq: ProbeRequest,
    clock: Callable[[], float],
) -> Exchange:
    """Send one probe request; never raises for network failures (they become ``error``)."""
    req = preq.request
    url, extra_headers, extensions = route_request(req.url, target.connect_to)
    limit = preq.timeout_s
    connect = min(limit, target.endpoint.timeouts.connect)
    timeout = httpx.Timeout(connect=connect, read=limit, write=limit, pool=limit)
    secrets = [target.api_key]
    status: int | None = None
    headers: dict[str, str] = {}
    chunks: list[bytes] = []
    error: str | None = None
    t0 = clock()
    deadline = time.monotonic() + limit
    lim = target.endpoint.limits
    try:
        # one deadline for the whole probe: the read timeout alone restarts on every byte, so endless
        # 1xx heads or one header byte a second would hold the probe phase for ever
        with (
            read_deadline(
                limit, f"probe time limit {limit:g} s", head_bytes=lim.head_bytes, headers=lim.headers
            ),
            client.stream(
                req.method,
                url,
                headers={**req.headers, **extra_headers},
                content=req.body,
                timeout=timeout,
                extensions=extensions,
            ) as resp,
        ):
            status = resp.status_code
            headers = {k.lower(): v for k, v in resp.headers.items()}
            ok = 200 <= status < 300
            cap = ANSWER_BODY_MAX if ok else ERROR_BODY_MAX
            parser = (
                get_dialect(target.endpoint.dialect).stream_parser(lim.event_bytes)
                if ok and preq.stream and "json" not in headers.get("content-type", "")
                else None
            )
            size = 0
            for data in resp.iter_raw():
                chunks.append(data)
                size += len(data)
                if parser is not None and any(
                    isinstance(ev, Done | StreamError | Malformed) for ev in parser.feed(data)
                ):
                    break  # the terminal event (or a failure) ends what the probe needs
                if size >= cap:
                    break
                if time.monotonic() > deadline:
                    error = f"probe time limit {limit:g} s reached while reading the body"
                    break
    except httpx.HTTPError as exc:  # a timeout is what the record would call one (harness.client.ERROR_RULES)
        if error_class_of(exc) in TIMEOUT_CLASSES:
            error = f"timed out after {limit:g} s ({type(exc).__name__})"
        else:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    latency = clock() - t0
    if status is None and error is None:
        error = "no answer"
    # Redacted here, before anything parses, classifies or shortens what the vendor sent: a key cut in the
    # middle by a 200-character detail would no longer be recognised (a key across two reads is found
    # in the joined body).
    body = b"".join(chunks)
    clean = redact_bytes(body, secrets)
    if clean is not body:
        chunks = [clean]
    headers = {k: redact(v, secrets) for k, v in headers.items()}
    return Exchange(
        name=preq.name,
        status=status,
        headers=headers,
        chunks=tuple(chunks),
        latency_s=latency,
        error=safe_text(error, secrets) if error else None,
        streamed=preq.stream,
    )


def check_tls(
    base_url: str,
    connect_to: tuple[str, int] | None,
    *,
    context: ssl.SSLContext | None = None,
    timeout_s: float = 10.0,
) -> TlsInfo:
    """One TLS handshake with the vendor host of ``base_url`` (dialling ``connect_to`` if given, SNI and
    certificate check on the vendor host). On a failed certificate check, a second, unverified handshake
    learns the TLS version for the report."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    addr = connect_to or (host, parts.port or 443)
    ctx = context or _default_tls_context()
    t0 = time.monotonic()
    try:
        with (
            socket.create_connection(addr, timeout=timeout_s) as raw,
            ctx.wrap_socket(raw, server_hostname=host) as tls,
        ):
            version = tls.version()
            cert = tls.getpeercert() or {}
        latency = time.monotonic() - t0
    except ssl.SSLCertVerificationError as exc:
        reason = exc.verify_message or exc.reason or str(exc)
        return TlsInfo(
            version=_unverified_version(addr, host, timeout_s),
            cert_valid=False,
            error=f"certificate not valid for {host}: {reason}",
            latency_s=time.monotonic() - t0,
        )
    except ssl.SSLError as exc:
        return TlsInfo(error=f"TLS handshake failed: {exc.reason or exc}", latency_s=time.monotonic() - t0)
    except OSError as exc:
        return TlsInfo(error=f"cannot connect: {exc.strerror or exc}", latency_s=time.monotonic() - t0)
    issuer = None
    for rdn in cert.get("issuer", ()):
        for pair in rdn:
            if pair[0] in ("organizationName", "commonName") and issuer is None:
                issuer = str(pair[1])
    not_after = cert.get("notAfter")
    days_left = None
    if isinstance(not_after, str):
        with contextlib.suppress(ValueError):
            days_left = (ssl.cert_time_to_seconds(not_after) - time.time()) / 86400
    return TlsInfo(
        version=version,
        cert_valid=True,
        not_after=str(not_after) if not_after else None,
        issuer=issuer,
        latency_s=latency,
        days_left=days_left,
    )


def _unverified_version(addr: tuple[str, int], host: str, timeout_s: float) -> str | None:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection(addr, timeout=timeout_s) as raw,
            ctx.wrap_socket(raw, server_hostname=host) as tls,
        ):
            return tls.version()
    except OSError:
        return None


def run_probes(
    targets: Mapping[str, Target],
    client: httpx.Client,
    *,
    clock: Callable[[], float] | None = None,
    run_id: str = "",
    options: ProbeOptions | None = None,
    tls_context: ssl.SSLContext | None = None,
    on_result: Callable[[ProbeResult], None] | None = None,
) -> list[ProbeResult]:
    """Probe every endpoint once: conformance and security checks, one request per probe.

    Never raises for vendor or network behaviour; a harness failure on one endpoint marks its probes
    not applicable with the (redacted) reason. ``on_result`` sees each result as soon as it is known.

        client = make_http_client()
        results = run_probes({"a": target_a}, client, run_id=run_id)
        write_probes(run_dir, results)
    """
    clock = clock or time.monotonic
    opts = options or ProbeOptions()
    out: list[ProbeResult] = []
    for name, target in targets.items():
        ep = target.endpoint
        t_s = clock()
        try:
            exchanges = [
                _exchange(client, target, preq, clock)
                for preq in build_probe_requests(
                    ep, base_url=target.base_url, api_key=target.api_key, options=opts
                )
            ]
            tls = None
            if urlsplit(target.base_url).scheme == "https" and "tls" not in opts.skip:
                tls = check_tls(
                    target.base_url, target.connect_to, context=tls_context, timeout_s=opts.timeout_s
                )
            results = evaluate(
                name,
                dialect=ep.dialect,
                stream=ep.stream,
                base_url=target.base_url,
                exchanges=exchanges,
                tls=tls,
                options=opts,
                secrets=[target.api_key],
                run_id=run_id,
                t_s=round(t_s, 6),
            )
        except Exception as exc:  # a harness bug must not stop the run; say so in every probe
            why = safe_text(f"probe could not run: {type(exc).__name__}: {exc}", [target.api_key])
            results = [
                ProbeResult(
                    endpoint=name,
                    probe=spec.name,
                    passed=None,
                    expected=spec.expected,
                    observed=why,
                    layer=spec.layer,
                    run_id=run_id,
                    dialect=ep.dialect,
                    t_s=round(t_s, 6),
                )
                for spec in PROBES.values()
            ]
        for r in results:
            if on_result is not None:
                on_result(r)
        out.extend(results)
    return out


def build_targets(
    endpoints: Iterable[Endpoint],
    *,
    base_urls: Mapping[str, str],
    connect_to: Mapping[str, tuple[str, int]],
    api_keys: Mapping[str, str],
    prices: Mapping[str, Price],
    sim_api_key: str | None = None,
) -> dict[str, Target]:
    """Targets for the probes of a run, as the load builds them: the vendor's base URL, dialled through
    the endpoint's proxy address when it has one, with its key (``sim_api_key`` for simulated vendors).

        targets = build_targets(sc.endpoints, base_urls=stack.base_urls, connect_to=stack.connect_to,
                                api_keys=resolved.api_keys, prices=resolved.prices, sim_api_key=SIM_API_KEY)
    """
    return {
        ep.name: Target(
            endpoint=ep,
            base_url=base_urls.get(ep.name) or ep.base_url or "",
            connect_to=connect_to.get(ep.name),
            api_key=sim_api_key if ep.sim is not None else api_keys.get(ep.name),
            price=prices.get(ep.name) or ep.price,
        )
        for ep in endpoints
    }
