"""The harness's own error types: every bad input surfaces as one of these, naming file, field and expectation."""

from __future__ import annotations

from pathlib import Path


class HarnessError(Exception):
    """Base error of the harness.

    Args:
        message: what went wrong and what was expected.
        file: the file involved, if any.
        field: the dotted field path inside that file, if any (e.g. ``findings[2].location.lines``).
    """

    def __init__(self, message: str, *, file: str | Path | None = None, field: str | None = None):
        self.message = message
        self.file = str(file) if file is not None else None
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.field:
                where += f": {self.field}"
            where += ": "
        elif self.field:
            where = f"{self.field}: "
        return f"{where}{self.message}"


class CaseError(HarnessError):
    """A case folder or case.yaml is malformed (raised by :mod:`harness.cases`)."""


class PromptError(HarnessError):
    """A prompt version cannot be loaded (raised by :mod:`harness.prompts`)."""


class ConfigError(HarnessError):
    """``[tool.harness]`` or a CLI/pytest option holds an invalid value."""


class ModelError(HarnessError):
    """A model call failed.

    Attributes:
        retryable: True for transient faults (429, 529, 5xx, timeouts, connection resets).
        status: HTTP status when there was one.
        retry_after: seconds the server asked us to wait, if it said.
        kind: short machine-readable cause (``rate_limit``, ``overloaded``, ``server``, ``timeout``,
            ``connection``, ``auth``, ``bad_request``, ``not_found``, ``context_length``, ``cache_miss``...).
    """

    def __init__(self, message: str, *, kind: str, retryable: bool = False, status: int | None = None,
                 retry_after: float | None = None):
        self.kind = kind
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after
        self.retries = 0   # set by harness.retry.call_with_retries on the error it finally raises
        super().__init__(message)


class RecordError(HarnessError):
    """A run directory is missing or unreadable (raised by :mod:`harness.records`)."""
