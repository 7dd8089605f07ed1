"""The classic designs of "a network that sees sound", sized to train on a CPU in minutes.

All four read 3-s patches (128 bands x 129 frames, dB) of the log-mel every extractor already shares, as
the ``cnn`` student does (``models/cnn.py``: ``cut_patches``), and a track's vector is the mean of its
patch embeddings. Each network standardises its input with per-band statistics of its training data.

- ``autoencoder``: two encoder branches, 1-D convolutions along time (bands as channels) and along
  frequency (frames as channels), merged into a 256-d latent; a decoder rebuilds the patch from it.
- ``genre``: a 2-D CNN classifying the patch into the collection's groups; its 64-d penultimate layer is
  the embedding.
- ``transfer``: the shipped, pretrained ``cnn`` student frozen, with a new small head giving 32-d.
- ``resnet``: a ResNet-50-shaped network (bottleneck blocks [3, 4, 6, 3]) at one eighth of ResNet-50's
  width (stages of 8, 16, 32, 64 channels, 256-d pooled output) on a 3-channel "image": the log-mel, its
  time derivative, and its harmonic part (median along time, as in harmonic/percussive separation).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from synesthete.features.base import N_MELS
from synesthete.models.cnn import PATCH_FRAMES, Student

NAMES = ("autoencoder", "genre", "transfer", "resnet")
DIMS = {"autoencoder": 256, "genre": 64, "transfer": 32, "resnet": 256}


class _Standardised(nn.Module):
    """Per-band input statistics (set from the training data) shared by the four networks."""

    def __init__(self, n_mels: int) -> None:
        super().__init__()
        self.register_buffer("in_mean", torch.zeros(n_mels))
        self.register_buffer("in_std", torch.ones(n_mels))

    def fit_input(self, patches: torch.Tensor) -> None:
        self.in_mean.copy_(patches.mean(dim=(0, 2)))
        self.in_std.copy_(patches.std(dim=(0, 2)).clamp_min(1e-3))

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.in_mean[:, None]) / self.in_std[:, None]


def _conv1d_branch(channels: int, width: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv1d(channels, width, 5, stride=2, padding=2),
        nn.BatchNorm1d(width),
        nn.ReLU(),
        nn.Conv1d(width, width, 5, stride=2, padding=2),
        nn.BatchNorm1d(width),
        nn.ReLU(),
    )


class Autoencoder(_Standardised):
    """Patch (b, 128, 129) -> 256-d latent (``embed``) -> rebuilt standardised patch (``forward``)."""

    def __init__(self, width: int = 64, latent: int = 256, n_mels: int = N_MELS) -> None:
        super().__init__(n_mels)
        self.config = {"width": width, "latent": latent, "n_mels": n_mels}
        self.time = _conv1d_branch(n_mels, width)  # slides along time: bands are channels
        self.freq = _conv1d_branch(PATCH_FRAMES, width)  # slides along frequency: frames are channels
        self.merge = nn.Linear(4 * width, latent)
        self.decode = nn.Sequential(
            nn.Linear(latent, width * 17),
            nn.Unflatten(1, (width, 17)),
            nn.ReLU(),
            nn.ConvTranspose1d(width, width, 4, stride=2, padding=1),  # 34 frames
            nn.ReLU(),
            nn.ConvTranspose1d(width, width, 4, stride=2, padding=1),  # 68
            nn.ReLU(),
            nn.ConvTranspose1d(width, n_mels, 4, stride=2, padding=1),  # 136, cut to 129
        )

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        x = self.standardise(x)
        t, f = self.time(x), self.freq(x.transpose(1, 2))
        return self.merge(torch.cat([t.mean(2), t.amax(2), f.mean(2), f.amax(2)], dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.embed(x))[:, :, :PATCH_FRAMES]


class GenreCnn(_Standardised):
    """Four conv-BN-ReLU-pool blocks over the patch as an image, a 64-d penultimate layer, classes."""

    def __init__(self, classes: int = 2, dim: int = 64, n_mels: int = N_MELS) -> None:
        super().__init__(n_mels)
        self.config = {"classes": classes, "dim": dim, "n_mels": n_mels}
        layers: list[nn.Module] = []
        c_in = 1
        for c in (16, 32, 64, 64):
            layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2)]
            c_in = c
        self.convs = nn.Sequential(*layers)
        self.penultimate = nn.Linear(2 * c_in, dim)
        self.classify = nn.Sequential(nn.ReLU(), nn.Dropout(0.3), nn.Linear(dim, classes))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        h = self.convs(self.standardise(x)[:, None])
        return self.penultimate(torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.embed(x))


class Transfer(nn.Module):
    """The pretrained student (its own input statistics, frozen, always in eval mode) and a new head:
    hidden layer -> 128 -> 32. ``classify`` is used only when training on labels."""

    def __init__(self, base: dict[str, Any], dim: int = 32, classes: int = 0) -> None:
        super().__init__()
        self.config = {"base": dict(base), "dim": dim, "classes": classes}
        self.base = Student(**base).requires_grad_(False)
        hidden = self.base.dense.out_features
        self.head = nn.Sequential(nn.Linear(hidden, 128), nn.ReLU(), nn.Linear(128, dim))
        self.classify = nn.Linear(dim, classes) if classes else None

    def train(self, mode: bool = True) -> Transfer:
        super().train(mode)
        self.base.eval()  # frozen: its batch statistics stay the pretrained ones
        return self

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            h = self.base.features(x)
        return self.head(h)


class Bottleneck(nn.Module):
    """ResNet's bottleneck: 1x1 down to ``width``, 3x3 (strided), 1x1 up to 4 x ``width``, plus shortcut."""

    def __init__(self, c_in: int, width: int, stride: int) -> None:
        super().__init__()
        out = 4 * width
        self.body = nn.Sequential(
            nn.Conv2d(c_in, width, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, out, 1, bias=False),
            nn.BatchNorm2d(out),
        )
        self.shortcut = (
            nn.Identity()
            if stride == 1 and c_in == out
            else nn.Sequential(nn.Conv2d(c_in, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


class SpectroResNet(_Standardised):
    """ResNet-50's layout ([3, 4, 6, 3] bottlenecks, 7x7 stem, max-pool) at ``width`` (ResNet-50: 64)
    on the 3-channel spectrogram image; the embedding is the pooled last stage (32 x ``width``)."""

    def __init__(self, width: int = 8, blocks: tuple[int, ...] = (3, 4, 6, 3), n_mels: int = N_MELS) -> None:
        super().__init__(n_mels)
        self.config = {"width": width, "blocks": list(blocks), "n_mels": n_mels}
        self.stem = nn.Sequential(
            nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        stages: list[nn.Module] = []
        c_in = width
        for i, n in enumerate(blocks):
            w = width * 2**i
            for j in range(n):
                stages.append(Bottleneck(c_in, w, 2 if j == 0 and i > 0 else 1))
                c_in = 4 * w
        self.stages = nn.Sequential(*stages)
        self.dim = c_in
        self.project = nn.Sequential(nn.Linear(c_in, c_in), nn.ReLU(), nn.Linear(c_in, 128))  # training only

    @staticmethod
    def image(x: torch.Tensor) -> torch.Tensor:
        """(b, bands, frames) standardised log-mel -> (b, 3, bands, frames): itself, its time
        derivative, and its harmonic part (median over 9 frames)."""
        padded = F.pad(x, (1, 1), mode="replicate")
        delta = (padded[:, :, 2:] - padded[:, :, :-2]) / 2
        harmonic = F.pad(x, (4, 4), mode="replicate").unfold(2, 9, 1).median(dim=-1).values
        return torch.stack([x, delta, harmonic], dim=1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stages(self.stem(self.image(self.standardise(x))))
        return h.mean(dim=(2, 3))


def build(kind: str, config: dict[str, Any]) -> nn.Module:
    """The network of ``kind`` (one of ``NAMES``) with ``config`` (as kept in its checkpoint)."""
    cls = {"autoencoder": Autoencoder, "genre": GenreCnn, "transfer": Transfer, "resnet": SpectroResNet}
    return cls[kind](**config)


@torch.inference_mode()
def embed(net: nn.Module, patches: np.ndarray, *, batch: int = 32) -> np.ndarray:
    """Embeddings (n, dim) of patches (n, bands, 129), the network in eval mode."""
    x = torch.from_numpy(np.ascontiguousarray(patches, dtype=np.float32))
    return torch.cat([net.embed(x[i : i + batch]) for i in range(0, len(x), batch)]).numpy()
