"""Vendor server metrics: the Prometheus text format (render, bounded parse), which vendor names are
the same series (vLLM, SGLang, TGI, DCGM), and the scraper a run uses to record them into
``server_metrics.parquet``."""

from __future__ import annotations

from harness.servermetrics._scrape import SERVER_METRICS_FILE, Scraper, ScrapeTarget
from harness.servermetrics._series import MEAN_SERIES, SERIES_OF, series_of
from harness.servermetrics._text import (
    Family,
    Histogram,
    ParsedText,
    Sample,
    escape_label_value,
    format_labels,
    parse_text,
    render_text,
)

__all__ = [
    "MEAN_SERIES",
    "SERIES_OF",
    "SERVER_METRICS_FILE",
    "Family",
    "Histogram",
    "ParsedText",
    "Sample",
    "ScrapeTarget",
    "Scraper",
    "escape_label_value",
    "format_labels",
    "parse_text",
    "render_text",
    "series_of",
]
