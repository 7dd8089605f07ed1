"""One exception tree, so callers can catch everything synesthete raises with one clause.

Every error that concerns a file carries its path and a reason a person can act on; the CLI prints
``str(error)`` and exits 1.
"""

from __future__ import annotations

from pathlib import Path


class SynestheteError(Exception):
    """Root of every error raised on purpose by synesthete."""


class ParameterError(SynestheteError, ValueError):
    """A caller passed a malformed argument (wrong shape, type or range)."""


class UserError(SynestheteError):
    """Something the user asked for cannot be done (unknown track, empty library...)."""


class AudioError(SynestheteError):
    """A file could not be turned into a usable signal. ``reason`` is short and human."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class DecodeError(AudioError):
    """The file is not audio, is truncated or corrupt, or cannot be read."""


class TooShortError(AudioError):
    """The audio is shorter than analysis needs."""


class AnalysisError(AudioError):
    """Decoding worked but an extractor failed on the signal."""
