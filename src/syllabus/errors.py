"""The exception hierarchy: every error says what is wrong, where, and how to fix it.

The CLI prints ``str(error)`` as one line and exits with code 2; ``--debug`` shows the
traceback. Library code raises these instead of bare ``ValueError`` so that callers can
catch one base class.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "SyllabusError",
    "ConfigError",
    "UnknownNameError",
    "DataError",
    "BackendError",
    "CapabilityError",
    "MissingDependencyError",
    "did_you_mean",
]


class SyllabusError(Exception):
    """Base class of every error syllabus raises on purpose."""


class ConfigError(SyllabusError):
    """A bad option, config file or model spec."""


class UnknownNameError(ConfigError):
    """A registry lookup failed; the message lists the closest known names."""

    def __init__(self, kind: str, name: str, known: Iterable[str]):
        self.kind, self.name, self.known = kind, name, sorted(known)
        super().__init__(f"Unknown {kind} {name!r}.{did_you_mean(name, self.known)}")


class DataError(SyllabusError):
    """Malformed input data; the message names the file and line."""


class BackendError(SyllabusError):
    """A model backend failed. ``retryable`` tells the caller whether a retry may succeed."""

    def __init__(self, message: str, *, retryable: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class CapabilityError(BackendError):
    """The backend does not declare the capability a caller asked for."""


class MissingDependencyError(SyllabusError):
    """An optional dependency is not installed; the message gives the pip command."""

    def __init__(self, what: str, extra: str | None = None, package: str | None = None):
        fix = f"pip install 'syllabus[{extra}]'" if extra else f"pip install {package or what}"
        super().__init__(f"{what} is not installed: {fix}")


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """Return ``" Did you mean X?"`` (or the list of known names) for an error message.

    >>> did_you_mean("gsm8K", ["gsm8k", "ifeval"])
    ' Did you mean gsm8k?'
    """
    known = sorted(known)
    lowered = {k.lower(): k for k in known}
    if name.lower() in lowered:
        return f" Did you mean {lowered[name.lower()]}?"
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    if not close and len(name) >= 3:  # a shortened name: "smollm2" for "smollm2-135m-instruct"
        close = [k for k in known if name.lower() in k.lower()][:3]
    if close:
        return f" Did you mean {' or '.join(close)}?"
    if not known:
        return ""
    shown = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
    return f" Known: {shown}."
