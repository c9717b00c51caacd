"""bakeoff: a proof-of-value bake-off harness for AI inference vendors.

The import package is ``harness``; the distribution and the command are ``bakeoff``.
"""

from __future__ import annotations

from harness._errors import BakeoffError, ConfigError, ReportError, RunError

__version__ = "0.1.0"

__all__ = ["BakeoffError", "ConfigError", "ReportError", "RunError", "__version__"]
