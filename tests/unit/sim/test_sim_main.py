"""Which ``bakeoff sim --host`` values count as loopback (no warning): ``harness._http.is_loopback``."""

from __future__ import annotations

import pytest

from harness._http import is_loopback


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "127.255.255.254", "::1", "[::1]", "localhost"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.0.2.1", "10.0.0.1", "example.com", "128.0.0.1"])
def test_hosts_beyond_loopback(host: str) -> None:
    assert not is_loopback(host)
