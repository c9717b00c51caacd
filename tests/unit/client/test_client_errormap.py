"""The error map, without sockets: a failed socket step → the transport's httpx exception → the record's
error class, for both transports (the gevent one raises through STEP_ERRORS, httpcore's through
HTTPCORE_ERRORS), the same event giving the same class."""

from __future__ import annotations

import errno
import socket
import ssl

import httpcore
import httpx
import pytest

from harness.client import ERROR_RULES, TIMEOUT_CLASSES, classify_error, error_class_of
from harness.client._errormap import (
    HTTPCORE_ERRORS,
    STEP_ERRORS,
    Phase,
    Step,
    errno_chain,
    from_httpcore,
    transport_error,
)
from harness.record import ERROR_CLASSES


def _raised(exc: BaseException, cause: BaseException) -> BaseException:
    """``exc`` as ``raise exc from cause`` leaves it."""
    exc.__cause__ = cause
    return exc


def _gevent(step: Step, raw: BaseException, subject: str = "h:1") -> httpx.HTTPError:
    """What the gevent transport raises for ``raw`` in ``step``."""
    return _raised(transport_error(step, raw, subject), raw)  # type: ignore[return-value]


def _httpcore(step: Step, raw: BaseException) -> httpx.HTTPError:
    """What httpx over httpcore raises: httpcore's sync backend maps the socket error, then httpx maps it."""
    timeout = isinstance(raw, TimeoutError)
    core = {
        "connect": httpcore.ConnectTimeout if timeout else httpcore.ConnectError,
        "tls": httpcore.ConnectTimeout if timeout else httpcore.ConnectError,
        "read": httpcore.ReadTimeout if timeout else httpcore.ReadError,
    }[step]
    inner = _raised(core(str(raw)), raw)
    return _raised(from_httpcore(inner), inner)  # type: ignore[arg-type,return-value]


# (step, raw socket failure, attempt phase) → error class, and a word of the detail
CASES: list[tuple[Step, BaseException, Phase, str, str]] = [
    (
        "connect",
        ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
        "connect",
        "connect_refused",
        "refused",
    ),
    ("connect", TimeoutError("timed out"), "connect", "connect_timeout", "no connection within 2 s"),
    (
        "connect",
        socket.gaierror(-2, "Name or service not known"),
        "connect",
        "connect_refused",
        "connect failed",
    ),
    (
        "connect",
        ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
        "connect",
        "conn_reset",
        "reset",
    ),
    (
        "tls",
        ssl.SSLCertVerificationError(1, "certificate verify failed"),
        "connect",
        "connect_refused",
        "TLS handshake",
    ),
    ("tls", TimeoutError("handshake timed out"), "connect", "connect_timeout", "TLS handshake"),
    (
        "tls",
        ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
        "connect",
        "conn_reset",
        "TLS handshake",
    ),
    ("read", TimeoutError("timed out"), "connect", "read_timeout", "no first token within 5 s"),
    ("read", TimeoutError("timed out"), "stream", "read_timeout", "no first token within 5 s"),
    (
        "read",
        ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
        "connect",
        "conn_reset",
        "reset",
    ),
    (
        "read",
        ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
        "stream",
        "conn_reset",
        "reset",
    ),
    ("read", OSError(errno.EBADF, "Bad file descriptor"), "connect", "conn_closed_early", "Bad file"),
    ("read", OSError(errno.EBADF, "Bad file descriptor"), "body", "conn_closed_early", "Bad file"),
    ("read", OSError(errno.EBADF, "Bad file descriptor"), "stream", "stream_truncated", "mid-stream"),
]


@pytest.mark.parametrize(("step", "raw", "phase", "error_class", "word"), CASES)
def test_both_transports_give_the_same_class_for_the_same_event(
    step: Step, raw: BaseException, phase: Phase, error_class: str, word: str
) -> None:
    budget_reason = "no first token within 5 s"
    for exc in (_gevent(step, raw, budget_reason if step == "read" else "h:1"), _httpcore(step, raw)):
        got, detail = classify_error(exc, phase, connect_s=2.0, reason=budget_reason)
        assert got == error_class, (type(exc), detail)
        if exc.__cause__ is raw:  # the gevent transport's own messages
            assert word.lower() in detail.lower(), detail


@pytest.mark.parametrize(
    ("raw", "raises", "error_class"),
    [
        (TimeoutError("timed out"), httpx.WriteTimeout, "read_timeout"),
        (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), httpx.ReadError, "conn_reset"),
        (BrokenPipeError(errno.EPIPE, "Broken pipe"), httpx.ReadError, "conn_closed_early"),
        (OSError(errno.EHOSTUNREACH, "No route to host"), httpx.WriteError, "conn_closed_early"),
    ],
)
def test_a_failed_send_is_reported_like_httpcore_reports_it(
    raw: BaseException, raises: type[httpx.HTTPError], error_class: str
) -> None:
    # httpcore ignores a failed send and reads the response, so a peer that resets or closes shows as a read
    exc = _gevent("write", raw)
    assert type(exc) is raises
    assert classify_error(exc, "connect")[0] == error_class


def test_step_messages() -> None:
    refused = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
    assert str(transport_error("connect", refused, "127.0.0.1:9")) == "Connection refused (127.0.0.1:9)"
    assert (
        str(transport_error("connect", TimeoutError(), "127.0.0.1:9")) == "connect to 127.0.0.1:9 timed out"
    )
    bad = ssl.SSLCertVerificationError(1, "certificate verify failed")
    assert str(transport_error("tls", bad, "vendor.test")) == (
        "TLS handshake with vendor.test failed: certificate verify failed"
    )
    reset = ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
    assert str(transport_error("write", reset)) == "Connection reset by peer while sending the request"
    assert str(transport_error("read", TimeoutError(), "idle gap between chunks over 1 s")) == (
        "idle gap between chunks over 1 s"
    )
    parse = transport_error("parse", ValueError("HPE_INVALID_CONSTANT"), "response head")
    assert (
        type(parse) is httpx.RemoteProtocolError
        and str(parse) == "malformed response head: HPE_INVALID_CONSTANT"
    )


def test_a_step_without_a_rule_is_a_transport_bug() -> None:
    with pytest.raises(TypeError, match="no transport error"):
        transport_error("read", ValueError("not an OSError"))


def test_malformed_http_is_closed_early_before_the_stream_and_truncation_in_it() -> None:
    exc = _gevent("parse", ValueError("bad chunk size"), "response body")
    assert error_class_of(exc, "connect") == "conn_closed_early"
    assert error_class_of(exc, "body") == "conn_closed_early"
    assert error_class_of(exc, "stream") == "stream_truncated"


@pytest.mark.parametrize(
    ("exc", "error_class", "detail"),
    [
        (httpx.PoolTimeout("no free connection"), "connect_timeout", "no free connection in the client pool"),
        (httpx.TimeoutException("timed out"), "read_timeout", "TimeoutException: timed out"),
        (httpx.ReadTimeout("timed out"), "read_timeout", "ReadTimeout: timed out"),  # no budget reason
        (
            httpx.ConnectError("[Errno 111] Connection refused"),
            "connect_refused",
            "ConnectError: [Errno 111]",
        ),
        (httpx.RemoteProtocolError("Server disconnected"), "conn_closed_early", "Server disconnected"),
        (httpx.UnsupportedProtocol("ftp"), "client_error", "UnsupportedProtocol"),
        (httpx.ProxyError("proxy"), "client_error", "ProxyError"),
        (httpx.DecodingError("bad gzip"), "malformed_response", "bad gzip"),
        (httpx.TooManyRedirects("loop"), "client_error", "TooManyRedirects"),
        (httpx.StreamConsumed(), "client_error", "StreamConsumed"),
    ],
)
def test_httpx_exceptions_without_a_socket_error(exc: httpx.HTTPError, error_class: str, detail: str) -> None:
    got, text = classify_error(exc, "connect", connect_s=2.0)
    assert got == error_class and detail in text, text


def test_a_reset_wins_over_the_exception_type() -> None:
    exc = _raised(httpx.UnsupportedProtocol("x"), ConnectionResetError(errno.ECONNRESET, "reset"))
    assert error_class_of(exc) == "conn_reset"  # type: ignore[arg-type]


def test_httpcore_exceptions_map_to_the_same_names_most_specific_first() -> None:
    assert set(HTTPCORE_ERRORS) == {
        getattr(httpcore, name)
        for name in dir(httpcore)
        if isinstance(getattr(httpcore, name), type)
        and issubclass(getattr(httpcore, name), Exception)
        and getattr(httpcore, name).__module__.startswith("httpcore")
        and name != "ConnectionNotAvailable"  # httpcore's internal retry signal, never raised to httpx
    }
    for core, mapped in HTTPCORE_ERRORS.items():
        assert core.__name__ == mapped.__name__
        assert type(from_httpcore(core("x"))) is mapped
    other = ValueError("not httpcore's")
    assert from_httpcore(other) is other


def test_errno_chain_follows_causes_and_contexts_once() -> None:
    inner = ConnectionResetError(errno.ECONNRESET, "reset")
    mid = httpcore.ReadError("reset")
    mid.__context__ = inner  # httpcore's pool re-raises `from None`: the errno is only in the context
    outer = _raised(httpx.ReadError("reset"), mid)
    assert errno_chain(outer) == {errno.ECONNRESET}
    loop = OSError(errno.EPIPE, "pipe")
    loop.__cause__ = loop
    assert errno_chain(loop) == {errno.EPIPE}


def test_the_tables_name_only_known_error_classes_and_timeouts_are_timeout_classes() -> None:
    assert {rule.error_class for rule in ERROR_RULES} <= set(ERROR_CLASSES)
    assert TIMEOUT_CLASSES.issubset(ERROR_CLASSES)
    assert ERROR_RULES[-1].exc is httpx.HTTPError  # the catch-all comes last
    for cls in (
        httpx.ConnectTimeout,
        httpx.ReadTimeout,
        httpx.WriteTimeout,
        httpx.PoolTimeout,
        httpx.TimeoutException,
    ):
        assert error_class_of(cls("t")) in TIMEOUT_CLASSES
    assert {rule.step for rule in STEP_ERRORS} == {"connect", "tls", "write", "read", "parse"}
