"""``cnn``: the compact student network's 200-d embedding, max-pooled over the track's 3-s patches.

It cuts the chunk's shared log-mel spectrogram into 3-s patches (no resampling, no front end of its own;
``patch_stats``, which the classic networks use too) and runs the active checkpoint
(``models/checkpoints.active``: the library's current one, else the shipped distilled weights). Its
``version`` is derived from the checkpoint's hash, so vectors made with other weights are stale and
``scan`` recomputes them. torch is imported on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from synesthete.features.base import RunningStats, Spectra

EMBEDDING_DIM = 200


def patch_stats(spectra: Spectra, net: Any, embed: Callable[[Any, np.ndarray], np.ndarray]) -> RunningStats:
    """Statistics over the chunk's 3-s log-mel patches of ``embed(net, patches)`` (shape (n, dim))."""
    from synesthete.features.musicnn import _network
    from synesthete.models import cnn

    _network()  # torch's threads, set once per process as for musicnn
    patches = cnn.cut_patches(spectra.log_mel, len(spectra.y) / spectra.sr)
    return RunningStats.of(embed(net, patches).T)


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
        from synesthete.models import checkpoints, cnn

        return patch_stats(spectra, checkpoints.load(checkpoints.active()), cnn.embed)

    def finish(self, partials: list[RunningStats]) -> np.ndarray:
        return RunningStats.merged(partials).high.astype(np.float32)
