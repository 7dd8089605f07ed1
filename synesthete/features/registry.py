"""The extractors synesthete knows, by name. Adding one is one module plus one line here."""

from __future__ import annotations

from synesthete.exceptions import ParameterError
from synesthete.features.base import Extractor
from synesthete.features.classic import CLASSIC
from synesthete.features.cnn import Cnn
from synesthete.features.descriptors import Descriptors
from synesthete.features.musicnn import Musicnn, MusicnnTags
from synesthete.features.seed498 import Seed498

EXTRACTORS: dict[str, Extractor] = {
    Descriptors.name: Descriptors(),
    Seed498.name: Seed498(),
    Musicnn.name: Musicnn(),
    MusicnnTags.name: MusicnnTags(),
    Cnn.name: Cnn(),
}

# The default model fuses extractors: each standardised over the collection, cosine, weighted mean.
# Equal weights, measured on ../shared/data/dev (bench/quality.py): precision@10 0.661 for these three,
# against 0.605 (descriptors), 0.589 (musicnn), 0.557 (seed498) alone; descriptors + musicnn alone 0.650.
# Hub reduction (mutual proximity, local scaling) gave no gain on the fusion (0.662, 0.653), so none is applied.
FUSED_MODEL = "fused"
FUSED_VERSION = 1
FUSION: dict[str, float] = {"descriptors": 1.0, "musicnn": 1.0, "seed498": 1.0}
# The same members, each also through a metric learnt on the corpus (models/metric.py): 0.692 on dev and
# 0.388 on held-out corpus packages against fused's 0.661 and 0.329, but journeys across styles of the demo
# lean to one side in it (it pulls sources apart), so it is a model to pick, not yet the default.
LEARNT_MODEL = "fused-learnt"
LEARNT_VERSION = 1
FUSED_VERSIONS = {FUSED_MODEL: FUSED_VERSION, LEARNT_MODEL: LEARNT_VERSION}
DEFAULT_MODEL = FUSED_MODEL
MODELS = (DEFAULT_MODEL, LEARNT_MODEL, *sorted(EXTRACTORS))


def get(name: str) -> Extractor:
    """The registered extractor called ``name`` (or a classic model a library may train, which scans
    run only where it is trained: ``features/classic.py``); ParameterError naming the known ones otherwise."""
    try:
        return EXTRACTORS[name] if name in EXTRACTORS else CLASSIC[name]
    except KeyError:
        known = ", ".join(sorted({*EXTRACTORS, *CLASSIC}))
        raise ParameterError(f"unknown extractor {name!r}; known: {known}") from None
