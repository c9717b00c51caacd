"""Hermetic environment for every test: no proxies, no real vendor keys, no BAKEOFF__ settings."""

from __future__ import annotations

import os

import pytest

_SCRUB_PREFIXES = ("BAKEOFF", "OPENAI_", "ANTHROPIC_", "AZURE_OPENAI", "GEMINI_", "AWS_")
_SCRUB = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
)


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(_SCRUB_PREFIXES) or name in _SCRUB:
            monkeypatch.delenv(name, raising=False)
