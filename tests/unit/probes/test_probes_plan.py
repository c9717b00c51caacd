"""Probe requests are built by the endpoint's dialect; only bad_key carries a key other than the real one."""

from __future__ import annotations

import json

import pytest

from harness.config import Endpoint
from harness.probes import INVALID_KEY, UNKNOWN_MODEL, ProbeOptions, build_probe_requests

KEY = "sk-real-key-0123456789"


def ep(dialect: str = "openai-chat", **kw) -> Endpoint:
    return Endpoint(name="v", dialect=dialect, model="m", base_url="https://api.vendor.test/v1", **kw)


def _auth(headers: dict[str, str]) -> str:
    return headers.get("authorization") or headers.get("x-api-key") or headers.get("api-key") or ""


@pytest.mark.parametrize("dialect", ["openai-chat", "anthropic-messages", "azure-openai"])
def test_one_request_per_probe_and_only_bad_key_has_the_wrong_key(dialect: str) -> None:
    reqs = build_probe_requests(
        ep(dialect, api_version="2024-10-21"),
        base_url="https://api.vendor.test/v1",
        api_key=KEY,
        options=ProbeOptions(overlong_tokens=100),
    )
    names = [r.name for r in reqs]
    assert names == [
        "answer",
        "bad_key",
        "malformed_json",
        "unknown_model",
        "invalid_params",
        "overlong_context",
    ]
    for r in reqs:
        auth = _auth(r.request.headers)
        if r.name == "bad_key":
            assert INVALID_KEY in auth and KEY not in auth
        else:
            assert KEY in auth


def test_request_bodies_say_what_they_probe() -> None:
    reqs = {
        r.name: r
        for r in build_probe_requests(
            ep(), base_url="https://x/v1", api_key=KEY, options=ProbeOptions(overlong_tokens=50, max_tokens=8)
        )
    }
    answer = json.loads(reqs["answer"].request.body)
    assert answer["max_tokens"] == 8 and answer["stream"] is True and reqs["answer"].stream
    with pytest.raises(json.JSONDecodeError):
        json.loads(reqs["malformed_json"].request.body)
    assert json.loads(reqs["unknown_model"].request.body)["model"] == UNKNOWN_MODEL
    invalid = json.loads(reqs["invalid_params"].request.body)
    assert invalid["max_tokens"] == -1 and invalid["temperature"] == 99
    long = json.loads(reqs["overlong_context"].request.body)
    assert long["messages"][0]["content"].count("a ") == 50 and long["max_tokens"] == 1
    assert not any(r.stream for n, r in reqs.items() if n != "answer")


def test_max_completion_tokens_field_is_the_one_made_invalid() -> None:
    e = ep(max_tokens_field="max_completion_tokens")
    reqs = {r.name: r for r in build_probe_requests(e, base_url="https://x/v1", api_key=KEY)}
    assert json.loads(reqs["invalid_params"].request.body)["max_completion_tokens"] == -1


def test_azure_unknown_model_is_the_deployment_in_the_path() -> None:
    e = ep("azure-openai", api_version="2024-10-21")
    reqs = {r.name: r for r in build_probe_requests(e, base_url="https://r.openai.azure.com", api_key=KEY)}
    assert f"/deployments/{UNKNOWN_MODEL}/" in reqs["unknown_model"].request.url


def test_skip_and_disabled_overlong() -> None:
    reqs = build_probe_requests(
        ep(stream=False),
        base_url="https://x/v1",
        api_key=KEY,
        options=ProbeOptions(overlong_tokens=0, skip=frozenset({"bad_key"})),
    )
    assert [r.name for r in reqs] == ["answer", "malformed_json", "unknown_model", "invalid_params"]
    assert not reqs[0].stream


def test_request_repr_never_shows_the_key() -> None:
    for r in build_probe_requests(
        ep(), base_url="https://x/v1", api_key=KEY, options=ProbeOptions(overlong_tokens=1)
    ):
        assert KEY not in repr(r)
