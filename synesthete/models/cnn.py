"""The ``cnn`` student: a compact 1-D CNN over the shared log-mel spectrogram, distilled from musicnn.

Why this shape: musicnn's cost is its own front end (resampling to 16 kHz, its STFT and mel) and 561
front-end filters over a 2-D map. The student reads the log-mel that every chunk's ``Spectra`` already
holds (22,050 Hz, hop 512, 128 bands, dB), treats the bands as channels and runs four 1-D convolutions
along time on a map halved in time by the first one, so it costs a few million multiply-adds per
3-s patch. It cuts the chunk into the same 3-s patches as the teacher (2.992 s, 129 frames here) and
predicts, per patch, the teacher's 200-d penultimate layer; the track vector is the maximum over the
patches, as for ``musicnn``. Distillation and contrastive adaptation live in ``models/train.py``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from synesthete.features.base import HOP, N_MELS, SR
from synesthete.models import musicnn

PATCH_SECONDS = musicnn.PATCH * musicnn.HOP / musicnn.SR  # 2.992 s: the teacher's patch
PATCH_FRAMES = 129  # frames of the shared log-mel in one patch (2.992 s * 22050 / 512 = 128.9)
EMBEDDING_DIM = musicnn.EMBEDDING_DIM
N_TAGS = 50


class Student(nn.Module):
    """Log-mel patches (batch, 128, 129) in dB to a 200-d embedding per patch (teacher units).

    ``dilations`` gives the residual blocks (one each). ``classify`` (a genre head, made only by
    supervised training) is kept in the checkpoint but never run at analysis time.
    """

    def __init__(
        self,
        channels: int = 128,
        hidden: int = 256,
        n_mels: int = N_MELS,
        dilations: tuple[int, ...] = (1, 2, 4),
    ) -> None:
        super().__init__()
        dilations = tuple(dilations)
        self.config = {"channels": channels, "hidden": hidden, "n_mels": n_mels, "dilations": dilations}
        # input and target statistics, set from the training data (distillation)
        self.register_buffer("in_mean", torch.zeros(n_mels))
        self.register_buffer("in_std", torch.ones(n_mels))
        self.register_buffer("out_mean", torch.zeros(EMBEDDING_DIM))
        self.register_buffer("out_std", torch.ones(EMBEDDING_DIM))
        self.stem = nn.Conv1d(n_mels, channels, 4, stride=2, padding=1)  # 129 -> 64 frames
        self.bn_stem = nn.BatchNorm1d(channels)
        self.blocks = nn.ModuleList(
            nn.Conv1d(channels, channels, 3, padding=d, dilation=d) for d in dilations
        )
        self.bns = nn.ModuleList(nn.BatchNorm1d(channels) for _ in self.blocks)
        self.dense = nn.Linear(2 * channels * (1 + len(self.blocks)), hidden)
        self.bn_dense = nn.BatchNorm1d(hidden)
        self.head = nn.Linear(hidden, EMBEDDING_DIM)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The hidden layer (batch, hidden) that every head reads."""
        x = (x - self.in_mean[:, None]) / self.in_std[:, None]
        h = self.bn_stem(F.relu(self.stem(x)))
        maps = [h]
        for conv, bn in zip(self.blocks, self.bns, strict=True):
            h = bn(F.relu(conv(h))) + h
            maps.append(h)
        h = torch.cat(maps, dim=1)
        pooled = torch.cat([h.amax(dim=2), h.mean(dim=2)], dim=1)
        return self.bn_dense(F.relu(self.dense(pooled)))

    def standardized(self, x: torch.Tensor) -> torch.Tensor:
        """The embedding in standard units of the teacher's (what distillation regresses)."""
        return self.head(self.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.standardized(x) * self.out_std + self.out_mean


def patch_starts(n_frames: int, n_seconds: float) -> np.ndarray:
    """First frame of each 3-s patch of a chunk, aligned with musicnn's non-overlapping patches."""
    n = max(1, int(n_seconds / PATCH_SECONDS + 1e-6))
    starts = np.round(np.arange(n) * PATCH_SECONDS * SR / HOP).astype(int)
    return np.minimum(starts, max(0, n_frames - PATCH_FRAMES))


def cut_patches(log_mel: np.ndarray, n_seconds: float) -> np.ndarray:
    """Patches (n, bands, 129) of a chunk's log-mel (bands, frames); a chunk shorter than one patch
    is repeated to fill it (as musicnn does)."""
    if log_mel.shape[1] < PATCH_FRAMES:
        log_mel = np.tile(log_mel, (1, -(-PATCH_FRAMES // max(1, log_mel.shape[1]))))
    starts = patch_starts(log_mel.shape[1], n_seconds)
    return np.stack([log_mel[:, s : s + PATCH_FRAMES] for s in starts])


@torch.inference_mode()
def embed(net: Student, patches: np.ndarray, *, batch: int = 32) -> np.ndarray:
    """Embeddings (n, 200) of patches (n, bands, 129)."""
    x = torch.from_numpy(np.ascontiguousarray(patches, dtype=np.float32))
    return torch.cat([net(x[i : i + batch]) for i in range(0, len(x), batch)]).numpy()
