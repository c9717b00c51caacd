from __future__ import annotations

from harness.client import Target, route_request
from harness.config import Endpoint, Price


def test_direct_requests_are_untouched() -> None:
    assert route_request("https://api.x.com/v1/chat", None) == ("https://api.x.com/v1/chat", {}, {})


def test_each_proxy_and_vendor_host_gets_its_own_pool_key() -> None:
    a, ha, ea = route_request("https://api.x.com/v1/c?q=1", ("127.0.0.1", 9000))
    b, _, _ = route_request("https://api.x.com/v1/other", ("127.0.0.1", 9000))
    c, hc, ec = route_request("https://api.y.com:8443/v1/c", ("127.0.0.1", 9000))
    d, _, _ = route_request("https://api.x.com/v1/c", ("127.0.0.1", 9001))
    origin = lambda u: u.split("/")[2]  # noqa: E731
    assert origin(a) == origin(b)
    assert len({origin(a), origin(c), origin(d)}) == 3
    assert (
        a.endswith(":9000/v1/c?q=1") and ha == {"host": "api.x.com"} and ea == {"sni_hostname": "api.x.com"}
    )
    assert hc == {"host": "api.y.com:8443"} and ec == {"sni_hostname": "api.y.com"}
    assert route_request("http://h.test/v1", ("127.0.0.1", 1))[2] == {}  # no SNI without TLS


def test_target_repr_hides_the_key() -> None:
    ep = Endpoint(name="e", dialect="openai-chat", model="m", base_url="https://x")
    t = Target(endpoint=ep, base_url="https://x", connect_to=None, api_key="sk-secret-value", price=Price())
    assert "sk-secret-value" not in repr(t)
