"""Transport failures → the record's error class, through tables declared once (DESIGN.md: one error map).

A failed attempt goes through two steps, each a table here, so that both transports (httpcore's in
``harness.client``, geventhttpclient's in ``harness.load``) report the same event with the same class:

1. **What a transport raises** — httpx's exception, as httpx over httpcore would. :data:`STEP_ERRORS`
   maps a failed socket step (connect, TLS, write, read, parse) and its exception (and errno) to the
   httpx class and message: the load path's gevent transport raises through it (:func:`transport_error`).
   :data:`HTTPCORE_ERRORS` maps httpcore's exceptions to httpx's, as ``httpx.HTTPTransport`` does: the
   client's own transport raises through it (:func:`from_httpcore`).
2. **What the record says** — :data:`ERROR_RULES`: the httpx exception, an errno anywhere in its cause
   chain and the attempt's phase → the ``ErrorClass`` and the detail text (:func:`classify_error`, used by
   ``run_attempt``; the probes ask :func:`error_class_of`). First matching rule wins.

Sans-I/O: nothing here opens a socket. ``tests/unit/client/test_client_errormap.py`` composes both steps
for every row, without sockets; the integration tests check the same classes on real loopback failures.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Literal

import httpcore
import httpx

from harness.record import ErrorClass

__all__ = [
    "ERROR_RULES",
    "HTTPCORE_ERRORS",
    "STEP_ERRORS",
    "TIMEOUT_CLASSES",
    "ErrorRule",
    "Phase",
    "ResponseTooLarge",
    "Step",
    "StepRule",
    "classify_error",
    "errno_chain",
    "error_class_of",
    "from_httpcore",
    "transport_error",
]


class ResponseTooLarge(httpx.RemoteProtocolError):
    """A transport refused a response head over the attempt's bounds (``limits.head_bytes``,
    ``limits.headers``): the message says which. Recorded as ``response_too_large``."""


Step = Literal["connect", "tls", "write", "read", "parse"]
"""A transport's socket step: dial, TLS handshake, send the request, read, parse the response."""

Phase = Literal["connect", "body", "stream"]
"""Where the attempt was when it failed: before the response head, reading a body, reading a stream."""


@dataclass(frozen=True, slots=True)
class StepRule:
    """A failed ``step`` with an ``exc`` (and ``errno``, when given) raises ``raises(message)``.

    ``message`` may name ``{subject}`` (what the step was about: an address, a host, a timeout's reason)
    and ``{error}`` (the OS's words for the failure: ``strerror``, else the exception's text).
    """

    step: Step
    exc: type[BaseException]
    raises: type[httpx.TransportError]
    message: str
    errno: int | None = None


STEP_ERRORS: tuple[StepRule, ...] = (
    StepRule("connect", TimeoutError, httpx.ConnectTimeout, "connect to {subject} timed out"),
    StepRule("connect", OSError, httpx.ConnectError, "{error} ({subject})"),
    StepRule("tls", TimeoutError, httpx.ConnectTimeout, "TLS handshake with {subject} timed out"),
    # ssl.SSLError is an OSError: a failed certificate check lands here too
    StepRule("tls", OSError, httpx.ConnectError, "TLS handshake with {subject} failed: {error}"),
    StepRule("write", TimeoutError, httpx.WriteTimeout, "request upload timed out"),
    # httpcore ignores a failed send and reads the response, which then fails as a read: so do we
    StepRule("write", OSError, httpx.ReadError, "{error} while sending the request", errno=errno.ECONNRESET),
    StepRule("write", OSError, httpx.ReadError, "{error} while sending the request", errno=errno.EPIPE),
    StepRule("write", OSError, httpx.WriteError, "{error}"),
    StepRule("read", TimeoutError, httpx.ReadTimeout, "{subject}"),
    StepRule("read", OSError, httpx.ReadError, "{error}"),
    StepRule("parse", Exception, httpx.RemoteProtocolError, "malformed {subject}: {error}"),
)
"""Socket step failures → httpx exceptions, as httpcore's sync backend and h11 raise them."""


def transport_error(step: Step, exc: BaseException, subject: str = "") -> httpx.TransportError:
    """The httpx exception for ``exc`` in ``step`` (raise it ``from exc``: the errno stays in the chain).

        except OSError as exc:
            raise transport_error("connect", exc, f"{host}:{port}") from exc

    An exception no rule covers is a transport bug: re-raise it as it is (``TypeError`` here says so).
    """
    code = getattr(exc, "errno", None)
    for rule in STEP_ERRORS:
        if rule.step == step and isinstance(exc, rule.exc) and (rule.errno is None or rule.errno == code):
            error = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            return rule.raises(rule.message.format(subject=subject, error=error))
    raise TypeError(f"no transport error for {type(exc).__name__} in step {step!r}") from exc


HTTPCORE_ERRORS: dict[type[Exception], type[httpx.TransportError]] = {
    httpcore.TimeoutException: httpx.TimeoutException,
    httpcore.ConnectTimeout: httpx.ConnectTimeout,
    httpcore.ReadTimeout: httpx.ReadTimeout,
    httpcore.WriteTimeout: httpx.WriteTimeout,
    httpcore.PoolTimeout: httpx.PoolTimeout,
    httpcore.NetworkError: httpx.NetworkError,
    httpcore.ConnectError: httpx.ConnectError,
    httpcore.ReadError: httpx.ReadError,
    httpcore.WriteError: httpx.WriteError,
    httpcore.ProxyError: httpx.ProxyError,
    httpcore.UnsupportedProtocol: httpx.UnsupportedProtocol,
    httpcore.ProtocolError: httpx.ProtocolError,
    httpcore.LocalProtocolError: httpx.LocalProtocolError,
    httpcore.RemoteProtocolError: httpx.RemoteProtocolError,
}
"""httpcore's exceptions → httpx's (the same names), as ``httpx.HTTPTransport`` maps them."""


def from_httpcore(exc: Exception) -> Exception:
    """httpx's exception for an httpcore one (its most specific class); ``exc`` itself if not httpcore's."""
    for cls in type(exc).__mro__:
        mapped = HTTPCORE_ERRORS.get(cls)
        if mapped is not None:
            return mapped(str(exc))
    return exc


@dataclass(frozen=True, slots=True)
class ErrorRule:
    """An httpx exception of type ``exc`` → ``error_class``, with ``detail`` written to the record.

    Optional conditions: ``errno`` somewhere in the exception's cause chain, ``says`` in its text (lower
    case), the attempt's ``phase``. ``detail`` may name ``{text}`` (exception type and message),
    ``{connect_s}`` (the endpoint's connect timeout) and ``{reason}`` (why the read budget ran out).
    """

    exc: type[httpx.HTTPError]
    error_class: ErrorClass
    detail: str = "{text}"
    errno: int | None = None
    says: str | None = None
    phase: Phase | None = None


ERROR_RULES: tuple[ErrorRule, ...] = (
    ErrorRule(ResponseTooLarge, "response_too_large", "{text}"),
    # h11 (under httpcore) buffers at most 100 KiB of an unfinished response head
    ErrorRule(
        httpx.RemoteProtocolError,
        "response_too_large",
        "response head over h11's 100 KiB buffer ({text})",
        says="receive buffer too long",
    ),
    ErrorRule(httpx.ConnectTimeout, "connect_timeout", "no connection within {connect_s:g} s ({text})"),
    ErrorRule(httpx.PoolTimeout, "connect_timeout", "no free connection in the client pool ({text})"),
    ErrorRule(httpx.ReadTimeout, "read_timeout", "{reason}"),  # ttft, idle gap, total or deadline
    ErrorRule(httpx.WriteTimeout, "read_timeout", "request upload timed out ({text})"),
    ErrorRule(httpx.TimeoutException, "read_timeout"),  # httpcore's base class, should it ever be raised
    ErrorRule(httpx.HTTPError, "conn_reset", errno=errno.ECONNRESET),  # in any step, any phase
    ErrorRule(httpx.ConnectError, "connect_refused", errno=errno.ECONNREFUSED),
    ErrorRule(httpx.ConnectError, "connect_refused", says="refused"),
    ErrorRule(httpx.ConnectError, "connect_refused", "connect failed: {text}"),  # DNS, TLS handshake
    ErrorRule(httpx.UnsupportedProtocol, "client_error"),  # a URL we built: our bug
    ErrorRule(httpx.ProxyError, "client_error"),  # no HTTP proxies are configured: our bug
    ErrorRule(
        httpx.TransportError,
        "stream_truncated",
        "connection closed mid-stream without a terminal event ({text})",
        phase="stream",
    ),
    ErrorRule(httpx.TransportError, "conn_closed_early"),  # closed, or answered with something not HTTP
    ErrorRule(httpx.DecodingError, "malformed_response"),
    ErrorRule(httpx.HTTPError, "client_error"),  # anything else httpx raises is a harness bug
)
"""httpx exceptions (errno, text, phase) → error classes; first match wins. DESIGN.md lists the classes."""

TIMEOUT_CLASSES: frozenset[ErrorClass] = frozenset({"connect_timeout", "read_timeout"})


def errno_chain(exc: BaseException) -> set[int]:
    """Every ``errno`` of an ``OSError`` in ``exc``'s cause (or context) chain."""
    out: set[int] = set()
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, OSError) and cur.errno is not None:
            out.add(cur.errno)
        cur = cur.__cause__ or cur.__context__
    return out


def _rule_for(exc: httpx.HTTPError, phase: Phase) -> ErrorRule:
    errs = errno_chain(exc)
    text = str(exc).lower()
    for rule in ERROR_RULES:
        if (
            isinstance(exc, rule.exc)
            and (rule.errno is None or rule.errno in errs)
            and (rule.says is None or rule.says in text)
            and (rule.phase is None or rule.phase == phase)
        ):
            return rule
    return ERROR_RULES[-1]  # pragma: no cover - the last rule matches every httpx.HTTPError


def error_class_of(exc: httpx.HTTPError, phase: Phase = "connect") -> ErrorClass:
    """The error class ``exc`` in ``phase`` gets (without the detail text)."""
    return _rule_for(exc, phase).error_class


def classify_error(
    exc: httpx.HTTPError, phase: Phase, *, connect_s: float = 0.0, reason: str = ""
) -> tuple[ErrorClass, str]:
    """Error class and detail for ``exc`` raised while the attempt was in ``phase``.

        classify_error(httpx.ConnectTimeout("timed out"), "connect", connect_s=2.0)
        # ("connect_timeout", "no connection within 2 s (ConnectTimeout: timed out)")

    ``connect_s`` is the endpoint's connect timeout; ``reason`` why the read budget ran out (a
    ``ReadTimeout`` says that reason, or its own text without one).
    """
    rule = _rule_for(exc, phase)
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return rule.error_class, rule.detail.format(text=text, connect_s=connect_s, reason=reason or text)
