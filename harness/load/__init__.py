"""Load generation. This package's ``__init__`` never imports Locust: the Locust runner lives in
``harness.load._runner`` and is imported only by the process that runs load (gevent patches at import)."""

from __future__ import annotations

from harness.load._schedule import ScheduledRequest, build_schedule, prompt_order, rate_at, schedule_digest

__all__ = ["ScheduledRequest", "build_schedule", "prompt_order", "rate_at", "schedule_digest"]
