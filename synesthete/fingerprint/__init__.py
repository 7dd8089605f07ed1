"""Recognising a recording: landmark fingerprints (``landmarks``), their storage (``store``), matching."""

from synesthete.fingerprint.landmarks import VERSION

__all__ = ["VERSION"]
