"""``cnn``: the compact student network's 200-d embedding, max-pooled over the track's 3-s patches.

It reads the chunk's shared log-mel spectrogram (no resampling, no front end of its own) and runs the
library's current checkpoint (``models/checkpoints.py``: the shipped distilled weights until
``synesthete train`` writes one). Its ``version`` is the checkpoint's, so vectors made with other weights
are stale and ``scan`` recomputes them. torch is imported on first use.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from synesthete.features.base import RunningStats, Spectra

EMBEDDING_DIM = 200


class Cnn:
    """The student's embedding of each 3-s patch, maximum over the patches (as ``musicnn``)."""

    name: ClassVar[str] = "cnn"
    dim: ClassVar[int] = EMBEDDING_DIM
    weights = None

    @property
    def version(self) -> int:
        from synesthete.models import checkpoints

        return checkpoints.active().version

    def partial(self, spectra: Spectra) -> RunningStats:
        from synesthete.features.musicnn import _network
        from synesthete.models import checkpoints, cnn

        _network()  # torch's threads, set once per process as for musicnn
        net = checkpoints.load(checkpoints.active())
        patches = cnn.cut_patches(spectra.log_mel, len(spectra.y) / spectra.sr)
        return RunningStats.of(cnn.embed(net, patches).T)

    def finish(self, partials: list[RunningStats]) -> np.ndarray:
        stats = RunningStats()
        for p in partials:
            stats = stats.merge(p)
        return stats.high.astype(np.float32)
