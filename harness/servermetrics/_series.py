"""Which vendor metric names are the same series: the key series the report draws and the scorecard
reads, whatever engine serves them.

- ``running``: ``vllm:num_requests_running``, ``sglang:num_running_reqs``, ``tgi_batch_current_size``
- ``waiting``: ``vllm:num_requests_waiting``, ``sglang:num_queue_reqs``, ``tgi_queue_size``
- ``kv_cache`` (fraction 0–1): ``vllm:gpu_cache_usage_perc``, ``vllm:kv_cache_usage_perc`` (vLLM v1),
  ``sglang:token_usage``; TGI exposes none
- ``gpu_util`` (fraction 0–1): ``DCGM_FI_DEV_GPU_UTIL`` (NVIDIA's DCGM exporter, 0–100, scaled),
  ``nv_gpu_utilization`` (Triton / NIM)
- ``prompt_tokens``: ``vllm:prompt_tokens_total``, ``sglang:prompt_tokens_total``,
  ``tgi_request_input_length_sum``
- ``generation_tokens``: ``vllm:generation_tokens_total``, ``sglang:generation_tokens_total``,
  ``tgi_request_generated_tokens_sum``

A series' value is the sum over the samples of its names in one scrape (several models or GPUs on
one server add up; ``kv_cache`` and ``gpu_util`` take the mean instead).
"""

from __future__ import annotations

__all__ = ["MEAN_SERIES", "SERIES_OF", "series_of"]

# name → (series, scale)
SERIES_OF: dict[str, tuple[str, float]] = {
    "vllm:num_requests_running": ("running", 1.0),
    "sglang:num_running_reqs": ("running", 1.0),
    "tgi_batch_current_size": ("running", 1.0),
    "vllm:num_requests_waiting": ("waiting", 1.0),
    "sglang:num_queue_reqs": ("waiting", 1.0),
    "tgi_queue_size": ("waiting", 1.0),
    "vllm:gpu_cache_usage_perc": ("kv_cache", 1.0),
    "vllm:kv_cache_usage_perc": ("kv_cache", 1.0),
    "sglang:token_usage": ("kv_cache", 1.0),
    "DCGM_FI_DEV_GPU_UTIL": ("gpu_util", 0.01),
    "nv_gpu_utilization": ("gpu_util", 1.0),
    "vllm:prompt_tokens_total": ("prompt_tokens", 1.0),
    "sglang:prompt_tokens_total": ("prompt_tokens", 1.0),
    "tgi_request_input_length_sum": ("prompt_tokens", 1.0),
    "vllm:generation_tokens_total": ("generation_tokens", 1.0),
    "sglang:generation_tokens_total": ("generation_tokens", 1.0),
    "tgi_request_generated_tokens_sum": ("generation_tokens", 1.0),
}

MEAN_SERIES = frozenset({"kv_cache", "gpu_util"})
"""Series averaged (not summed) over their samples in one scrape."""


def series_of(name: str) -> tuple[str, float] | None:
    """(series, scale to apply to the value) for a vendor metric name, or None when it is not a key one."""
    return SERIES_OF.get(name)
