"""Handcrafted audio descriptors: one module per musical dimension, and the registry of extractors."""

from synesthete.features.base import Analysis, Extractor, RunningStats, Spectra, extract
from synesthete.features.descriptors import Descriptors
from synesthete.features.registry import DEFAULT_MODEL, EXTRACTORS, get
from synesthete.features.seed498 import Seed498

__all__ = [
    "DEFAULT_MODEL",
    "EXTRACTORS",
    "Analysis",
    "Descriptors",
    "Extractor",
    "RunningStats",
    "Seed498",
    "Spectra",
    "extract",
    "get",
]
