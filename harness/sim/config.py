"""Configuration of the simulated vendors: one behaviour model per endpoint (units in every name).

FIRST VERSION written by the foundation work; the simulator work owns and extends this file.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from harness._model import Name, UserModel

__all__ = ["PRESETS", "SimBehaviour", "SimConfig", "SimEndpoint"]

SimDialect = Literal["openai-chat", "anthropic-messages", "azure-openai"]


class SimBehaviour(UserModel):
    """How one simulated endpoint behaves. Seeded: same seed + same prompt => same answer and timing draws."""

    ttft_ms: float = Field(300.0, ge=0, description="median time to first token, ms")
    ttft_jitter_ms: float = Field(30.0, ge=0, description="standard deviation of TTFT, ms")
    tokens_per_s: float = Field(60.0, gt=0, description="decode speed per stream, tokens/s")
    token_jitter_frac: float = Field(0.1, ge=0, le=1, description="relative jitter of each token gap")
    tokens_per_chunk: int = Field(1, ge=1, description="tokens per SSE chunk")
    output_tokens_default: int = Field(64, ge=1, description="answer length when max_tokens allows it")
    capacity: int = Field(64, ge=1, description="concurrent generations; more wait in a queue")
    queue_limit: int = Field(256, ge=0, description="waiting requests beyond capacity before refusing")
    overload_status: Literal[503, 529] = Field(503, description="status when the queue is full")
    rpm_limit: int | None = Field(None, ge=1, description="requests per minute before 429")
    tpm_limit: int | None = Field(None, ge=1, description="tokens per minute before 429")


class SimEndpoint(UserModel):
    name: Name
    dialect: SimDialect
    model: str
    api_key: str | None = Field(None, description="key the endpoint accepts; None accepts any non-empty key")
    behaviour: SimBehaviour = SimBehaviour()


class SimConfig(UserModel):
    seed: int = 0
    endpoints: list[SimEndpoint]


PRESETS: dict[str, SimBehaviour] = {
    "fast": SimBehaviour(ttft_ms=120, tokens_per_s=120, tokens_per_chunk=2),
    "steady": SimBehaviour(ttft_ms=250, tokens_per_s=70),
    "slow": SimBehaviour(ttft_ms=600, ttft_jitter_ms=120, tokens_per_s=35),
}
