"""``musicnn`` and ``musicnn-tags``: the MSD-trained musicnn network's embedding and tag probabilities.

One network pass per chunk serves both extractors: ``outputs(spectra)`` keeps the per-patch results on
the chunk's ``Spectra``, as the shared spectrogram views are kept, so analysing with both costs one pass.
Two extractors rather than one wider vector because they answer different questions: ``musicnn`` is a
search space (the 200-d penultimate layer pooled over 3-s patches), ``musicnn-tags`` is 50 named
probabilities (genres, moods, instruments; mean over patches) for explanations and filters, stored and
versioned like any vector (and searchable as a model of its own). torch is imported on first use, so
that commands which analyse nothing start without it.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import ClassVar

import numpy as np
import soxr

from synesthete.features.base import RunningStats, Spectra

THREADS = 1  # torch threads per process: scans run one analysis process per core already
EMBEDDING_DIM = 200
N_TAGS = 50


def outputs(spectra: Spectra) -> tuple[np.ndarray, np.ndarray]:
    """Penultimate layer (n, 200) and tag probabilities (n, 50) of the chunk's 3-s patches, computed
    once per chunk however many extractors ask."""

    def make() -> tuple[np.ndarray, np.ndarray]:
        network = _network()
        y = soxr.resample(spectra.y, spectra.sr, network.SR) if spectra.sr != network.SR else spectra.y
        return network.embed(y.astype(np.float32, copy=False))

    return spectra.shared("musicnn_outputs", make)


@functools.cache
def _network() -> ModuleType:
    """``synesthete.models.musicnn``, imported (with torch) on first use; sets torch's threads."""
    import torch

    from synesthete.models import musicnn

    torch.set_num_threads(THREADS)
    return musicnn


class Musicnn:
    """musicnn's 200-d penultimate layer, pooled over the track's 3-s patches.

    Pooling by maximum scored best on ``../shared/data/dev`` (bench/musicnn_pooling.py; 115 clips of
    30 s, precision@10 / mAP): max 0.589 / 0.561, mean and max 0.589 / 0.557, mean 0.574 / 0.551 (what
    the reference implementation scores), mean and std 0.565 / 0.543. The other poolings stay
    available for measurement.
    """

    name: ClassVar[str] = "musicnn"
    version: ClassVar[int] = 1
    weights = None
    POOLINGS: ClassVar[dict[str, int]] = {"max": 1, "mean": 1, "meanmax": 2, "meanstd": 2}

    def __init__(self, pooling: str = "max") -> None:
        self.pooling = pooling
        self.dim = EMBEDDING_DIM * self.POOLINGS[pooling]

    def partial(self, spectra: Spectra) -> RunningStats:
        return RunningStats.of(outputs(spectra)[0].T)

    def finish(self, partials: list[RunningStats]) -> np.ndarray:
        stats = RunningStats.merged(partials)
        parts = {
            "mean": [stats.mean],
            "max": [stats.high],
            "meanstd": [stats.mean, stats.std],
            "meanmax": [stats.mean, stats.high],
        }[self.pooling]
        return np.concatenate(parts).astype(np.float32)


class MusicnnTags:
    """musicnn's 50 Million Song Dataset tag probabilities, averaged over the track's 3-s patches."""

    name: ClassVar[str] = "musicnn-tags"
    version: ClassVar[int] = 1
    dim: ClassVar[int] = N_TAGS
    weights = None

    @property
    def names(self) -> tuple[str, ...]:
        """The tag of each dimension ("rock", "female vocalists", "chillout", ...)."""
        return _network().tag_names()

    def partial(self, spectra: Spectra) -> RunningStats:
        return RunningStats.of(outputs(spectra)[1].T)

    def finish(self, partials: list[RunningStats]) -> np.ndarray:
        return RunningStats.merged(partials).mean.astype(np.float32)
