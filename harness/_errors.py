"""The exception tree of bakeoff.

    BakeoffError
    ├── ConfigError      (also ValueError) user input that does not validate; carries one line per problem
    ├── RunError         a run could not start or continue (stack failed to come up, ...)
    ├── ProxyError       the Toxiproxy API refused or did not answer
    └── ReportError      a run folder cannot be read or reported

The CLI maps ``ConfigError`` to exit code 2 and every other ``BakeoffError`` to exit code 1,
printing the message only: user mistakes never produce a traceback.
"""

from __future__ import annotations

__all__ = ["BakeoffError", "ConfigError", "ProxyError", "ReportError", "RunError"]


class BakeoffError(Exception):
    """Base class of every error bakeoff raises on purpose."""


class ConfigError(BakeoffError, ValueError):
    """User-written input is invalid. ``problems`` holds one ``file:line: field: message`` per problem;
    ``warnings`` what was found beside them that does not fail validation on its own."""

    def __init__(self, problems: list[str], warnings: list[str] | tuple[str, ...] = ()) -> None:
        self.problems = list(problems)
        self.warnings = list(warnings)
        super().__init__("\n".join(self.problems))


class RunError(BakeoffError):
    """A run could not start or had to stop."""


class ProxyError(BakeoffError):
    """The Toxiproxy API (embedded or real) refused a request or did not answer in time."""


class ReportError(BakeoffError):
    """A run folder cannot be read or turned into a report."""
