"""synesthete: a music engine that sees sound."""

from synesthete.api import Library, Match
from synesthete.exceptions import (
    AnalysisError,
    AudioError,
    DecodeError,
    ParameterError,
    SynestheteError,
    TooShortError,
    UserError,
)
from synesthete.library.catalog import Track
from synesthete.library.scan import ScanReport

__version__ = "0.1.0"
__all__ = [
    "AnalysisError",
    "AudioError",
    "DecodeError",
    "Library",
    "Match",
    "ParameterError",
    "ScanReport",
    "SynestheteError",
    "TooShortError",
    "Track",
    "UserError",
]
