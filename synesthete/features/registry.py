"""The extractors synesthete knows, by name. Adding one is one module plus one line here."""

from __future__ import annotations

from synesthete.exceptions import ParameterError
from synesthete.features.base import Extractor
from synesthete.features.descriptors import Descriptors
from synesthete.features.seed498 import Seed498

EXTRACTORS: dict[str, Extractor] = {
    Descriptors.name: Descriptors(),
    Seed498.name: Seed498(),
}
DEFAULT_MODEL = "descriptors"


def get(name: str) -> Extractor:
    """The registered extractor called ``name``; ParameterError naming the known ones otherwise."""
    try:
        return EXTRACTORS[name]
    except KeyError:
        known = ", ".join(sorted(EXTRACTORS))
        raise ParameterError(f"unknown extractor {name!r}; known: {known}") from None
