"""Request URLs: the dialect's path goes after the base URL's path and before its query string."""

from __future__ import annotations

import pytest

from harness.config import Endpoint, PromptItem
from harness.dialects import get_dialect
from harness.dialects._common import join_url

PROMPT = PromptItem.model_validate({"id": "p", "messages": [{"role": "user", "content": "hi"}]})


@pytest.mark.parametrize(
    ("dialect", "base_url", "stream", "url"),
    [
        (
            "openai-chat",
            "https://gw.example/v1?tenant=a",
            True,
            "https://gw.example/v1/chat/completions?tenant=a",
        ),
        ("openai-chat", "https://api.example/v1/", True, "https://api.example/v1/chat/completions"),
        (
            "anthropic-messages",
            "https://gw.example/anthropic?t=1",
            True,
            "https://gw.example/anthropic/v1/messages?t=1",
        ),
        (
            "azure-openai",
            "https://r.example/?route=eu",
            True,
            "https://r.example/openai/deployments/dep/chat/completions?route=eu&api-version=2024-10-21",
        ),
        (
            "gemini",
            "https://g.example/v1beta?x=1",
            True,
            "https://g.example/v1beta/models/dep:streamGenerateContent?x=1&alt=sse",
        ),
        (
            "gemini",
            "https://g.example/v1beta#frag",
            False,
            "https://g.example/v1beta/models/dep:generateContent",
        ),
    ],
)
def test_the_path_is_joined_before_the_query(dialect: str, base_url: str, stream: bool, url: str) -> None:
    ep = Endpoint(
        name="e", dialect=dialect, model="dep", base_url=base_url, api_key_env="K", api_version="2024-10-21"
    )
    req = get_dialect(dialect).build_request(ep, PROMPT, base_url=base_url, api_key="k", stream=stream)
    assert req.url == url


def test_join_url_without_query_or_slash() -> None:
    assert join_url("http://h:8/v1", "/x") == "http://h:8/v1/x"
    assert join_url("http://h", "/x", "a=1") == "http://h/x?a=1"
