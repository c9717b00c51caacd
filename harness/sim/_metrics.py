"""What a simulated endpoint serves at ``/metrics``: vLLM's metric names (``vllm:*``, label
``model_name`` = the model served), driven by the behaviour model.

- ``vllm:num_requests_running``: requests holding a capacity slot (``capacity`` is the batch size);
- ``vllm:num_requests_waiting``: requests queued for a slot (at most ``queue_limit``);
- ``vllm:gpu_cache_usage_perc``: the KV cache in use, 0–1, modelled as running / capacity (every
  running request holds an equal share of the cache);
- ``vllm:prompt_tokens_total`` / ``vllm:generation_tokens_total``: tokens of admitted requests
  (prompt counted at admission, generated tokens as their chunks are written);
- ``vllm:time_to_first_token_seconds`` / ``vllm:e2e_request_latency_seconds``: histograms measured
  from the arrival of the request (queueing included) to the first chunk / the end, over the requests
  that were admitted; ``vllm:request_success_total{finished_reason}`` counts the finished ones;
- ``vllm:prefix_cache_queries_total`` / ``vllm:prefix_cache_hits_total``: prompt tokens looked up in
  the prompt cache (every admitted prompt, when ``prompt_cache`` is on) and those read from it (vLLM
  v1's prefix-cache counters, in tokens).

With ``--workers N`` each process serves its own share; a scrape reaches one of them.
"""

from __future__ import annotations

from harness.servermetrics import Family, Histogram
from harness.sim._limits import CapacityGate

__all__ = ["SIM_E2E_BUCKETS", "SIM_TTFT_BUCKETS", "EndpointMetrics"]

SIM_TTFT_BUCKETS = (
    0.001,
    0.005,
    0.01,
    0.02,
    0.04,
    0.06,
    0.08,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
)
"""Upper bounds of the TTFT histogram (seconds), as vLLM's."""
SIM_E2E_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0)
"""Upper bounds of the end-to-end latency histogram (seconds)."""


class EndpointMetrics:
    """The counters and histograms of one endpoint; gauges are read from its capacity gate."""

    def __init__(self, model: str, gate: CapacityGate) -> None:
        self.model = model
        self.gate = gate
        self.prompt_tokens = 0
        self.generation_tokens = 0
        self.prefix_cache_queries = 0
        self.prefix_cache_hits = 0
        self.finished: dict[str, int] = {}
        self.ttft = Histogram(SIM_TTFT_BUCKETS)
        self.e2e = Histogram(SIM_E2E_BUCKETS)

    def families(self) -> list[Family]:
        lab = {"model_name": self.model}
        gate = self.gate
        cache = min(1.0, gate.active / gate.capacity) if gate.capacity else 0.0
        return [
            Family(
                "vllm:num_requests_running",
                "gauge",
                "Number of requests currently running on GPU.",
                [(lab, float(gate.active))],
            ),
            Family(
                "vllm:num_requests_waiting",
                "gauge",
                "Number of requests waiting to be processed.",
                [(lab, float(gate.queued))],
            ),
            Family(
                "vllm:gpu_cache_usage_perc",
                "gauge",
                "GPU KV-cache usage. 1 means 100 percent usage.",
                [(lab, cache)],
            ),
            Family(
                "vllm:prompt_tokens_total",
                "counter",
                "Number of prefill tokens processed.",
                [(lab, float(self.prompt_tokens))],
            ),
            Family(
                "vllm:generation_tokens_total",
                "counter",
                "Number of generation tokens processed.",
                [(lab, float(self.generation_tokens))],
            ),
            Family(
                "vllm:prefix_cache_queries_total",
                "counter",
                "Prefix cache queries, in terms of number of queried tokens.",
                [(lab, float(self.prefix_cache_queries))],
            ),
            Family(
                "vllm:prefix_cache_hits_total",
                "counter",
                "Prefix cache hits, in terms of number of cached tokens.",
                [(lab, float(self.prefix_cache_hits))],
            ),
            Family(
                "vllm:request_success_total",
                "counter",
                "Count of successfully processed requests.",
                [({**lab, "finished_reason": r}, float(n)) for r, n in sorted(self.finished.items())],
            ),
            Family(
                "vllm:time_to_first_token_seconds",
                "histogram",
                "Histogram of time to first token in seconds.",
                [(lab, self.ttft)],
            ),
            Family(
                "vllm:e2e_request_latency_seconds",
                "histogram",
                "Histogram of end to end request latency in seconds.",
                [(lab, self.e2e)],
            ),
        ]
