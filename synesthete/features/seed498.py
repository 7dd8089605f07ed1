"""``seed498``: the baseline recipe (MFCC, mel, chroma, tonnetz; mean, min and max over time).

498 = (20 MFCC + 128 mel bands in dB + 12 chroma + 6 tonnetz) x (mean, min, max). The mel spectrogram
is taken in dB (``Spectra.log_mel``, absolute reference), the tonnetz from the STFT chroma (``Spectra.tonnetz``,
no constant-Q transform); mean, min and max combine exactly across chunks.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from synesthete.features.base import RunningStats, Spectra

# The frame features in vector order, and their group for explanations: MFCC and mel describe timbre,
# chroma and tonnetz harmony. The vector is their means, then minima, then maxima.
PARTS = (("mfcc", 20, "timbre"), ("mel dB", 128, "timbre"), ("chroma", 12, "tonal"), ("tonnetz", 6, "tonal"))
STATS = ("mean", "min", "max")


class Seed498:
    """Mean, min and max of MFCC (20), mel dB (128), chroma (12) and tonnetz (6)."""

    name: ClassVar[str] = "seed498"
    version: ClassVar[int] = 1
    dim: ClassVar[int] = 498
    weights = None
    names: ClassVar = np.array(
        [f"{part} {i} {stat}" for stat in STATS for part, n, _ in PARTS for i in range(n)]
    )
    groups: ClassVar = np.array([group for _ in STATS for _, n, group in PARTS for _ in range(n)])

    def partial(self, spectra: Spectra) -> RunningStats:
        frames = np.concatenate([spectra.mfcc, spectra.log_mel, spectra.chroma, spectra.tonnetz])
        return RunningStats.of(frames)

    def finish(self, partials: list[RunningStats]) -> np.ndarray:
        stats = RunningStats.merged(partials)
        return np.concatenate([stats.mean, stats.low, stats.high]).astype(np.float32)
