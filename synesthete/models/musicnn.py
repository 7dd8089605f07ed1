"""musicnn (Pons & Serra 2019, trained on the Million Song Dataset) in PyTorch, with its weights read
from the ``musicnn`` package's TensorFlow checkpoint by ``tf_bundle`` (no TensorFlow anywhere).

The network is a line-by-line port of ``musicnn/models.py`` (``build_musicnn``, 64 mid-end filters, 200
back-end units); ``tests/test_musicnn.py`` checks it against outputs of the original run under
TensorFlow. The front end follows ``musicnn/extractor.py`` with the librosa defaults of its time (0.7:
periodic Hann window, centred frames with *reflect* padding, where librosa 0.10+ pads with zeros;
Slaney mel scale and area norm; power 2), except that the log is taken in float32: the package casts the
mel power to float16 first, so 10000·mel overflows to inf on loud bins (embeddings made that way are at
chance level).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import librosa
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from synesthete.exceptions import SynestheteError
from synesthete.models.tf_bundle import read_checkpoint

SR = 16000
N_FFT = 512
HOP = 256
N_MELS = 96
PATCH = 187  # frames in 3 s, the input length the network was trained on
EMBEDDING_DIM = 200
PACKAGE = "musicnn==0.1.0"
BN_EPS = 1e-3  # tf.compat.v1.layers.batch_normalization's default
MAX_LOG_MEL = 10.0  # log10(10000·mel + 1) stays below ~7.5 for full-scale audio


class ModelUnavailableError(SynestheteError):
    """The files a pretrained model needs are not installed."""


def package_dir() -> Path:
    """The installed ``musicnn`` package (only its files are read; its TensorFlow code is never run)."""
    spec = importlib.util.find_spec("musicnn")
    folder = Path(spec.origin).parent if spec and spec.origin else None
    if folder is None or not (folder / "MSD_musicnn" / ".index").is_file():
        raise ModelUnavailableError(
            f"the musicnn extractor needs the weights shipped in the PyPI package {PACKAGE}; install them "
            f"with `pip install --no-deps {PACKAGE}` (`make install` does)"
        )
    return folder


@functools.cache
def tag_names() -> tuple[str, ...]:
    """The 50 Million Song Dataset tags, in the order of the network's outputs (from the package)."""
    spec = importlib.util.spec_from_file_location(
        "_musicnn_configuration", package_dir() / "configuration.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # plain constants, no TensorFlow import
    return tuple(module.MSD_LABELS)


class LogMel(nn.Module):
    """Mono 16-kHz audio (n,) to log10(10000·mel + 1), shape (frames, 96), in float32."""

    def __init__(self) -> None:
        super().__init__()
        mel = librosa.filters.mel(sr=SR, n_fft=N_FFT, n_mels=N_MELS, htk=False, norm="slaney")
        self.register_buffer("mel", torch.from_numpy(mel.astype(np.float32)))
        self.register_buffer("window", torch.hann_window(N_FFT, periodic=True))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(
            y, N_FFT, HOP, window=self.window, center=True, pad_mode="reflect", return_complex=True
        )
        power = spec.real**2 + spec.imag**2
        return torch.log10(10000.0 * (self.mel @ power) + 1.0).T


def patches(logmel: torch.Tensor) -> torch.Tensor:
    """Consecutive non-overlapping 3-s patches (n, 187, 96), as musicnn's extractor cuts them; the tail
    shorter than a patch is dropped, and a signal shorter than one patch is repeated to fill it."""
    if len(logmel) < PATCH:
        logmel = logmel.repeat(-(-PATCH // len(logmel)), 1)
    n = len(logmel) // PATCH
    return logmel[: n * PATCH].reshape(n, PATCH, N_MELS)


def _pad_time(x: torch.Tensor, before: int, after: int) -> torch.Tensor:
    """Zero-pad the time axis (dim 2) of an NCHW or NCL tensor."""
    pad = [0, 0] * (x.dim() - 3) + [before, after]
    return F.pad(x, pad)


def _bn(channels: int) -> nn.BatchNorm1d:
    return nn.BatchNorm1d(channels, eps=BN_EPS)


def _bn_affine(bn: nn.BatchNorm1d) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift) of a batch norm in eval mode, a per-channel affine map."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias - bn.running_mean * scale


class FrontBranch(nn.Module):
    """One branch of the front end: convolution, ReLU, batch norm, max over frequency.

    (batch, 1, time, mel) -> (batch, filters, time); time keeps its length (TensorFlow's "same"
    padding). In eval mode ReLU and batch norm run after the max, on a map ``mel`` times smaller: ReLU
    is monotonic and batch norm affine per channel, so max(bn(relu(h))) is bn(relu(max h)) where the
    scale is positive and bn(relu(min h)) where it is negative (some are).
    """

    def __init__(self, filters: int, kernel: tuple[int, int], pad: tuple[int, int]) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, filters, kernel)
        self.bn = _bn(filters)
        self.pad = pad
        self.live: torch.Tensor | None = None  # after ``prune``: the filters computed, scale >= 0 first
        self.n_positive = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, filters, time); once pruned, only the live filters, in the order of ``live``."""
        if self.training:
            h = F.relu(self.conv(_pad_time(x, *self.pad)))
            b, c, t, f = h.shape
            return self.bn(h.reshape(b, c, t * f)).reshape(b, c, t, f).amax(dim=3)
        h, filters, freq = self._response(x)
        scale, shift = _bn_affine(self.bn)
        if self.live is None:
            low, high = torch.aminmax(h, dim=freq)
            picked = torch.where(scale[:, None] >= 0, high, low)
        else:  # separate max and min reductions are 3x faster than aminmax
            scale, shift, p = scale[self.live], shift[self.live], self.n_positive
            high = h.narrow(filters, 0, p).amax(dim=freq)
            low = h.narrow(filters, p, h.shape[filters] - p).amin(dim=freq)
            picked = torch.cat([high, low], dim=1)
        return picked.relu() * scale[:, None] + shift[:, None]

    def _response(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        """The convolution's output, its filter axis and its frequency axis."""
        x = _pad_time(x, *self.pad)
        if self.conv.kernel_size[1] > 1:
            return self.conv(x), 1, 3
        # one band wide: a 1-D convolution along the time of every band is ~1.5x faster than conv2d
        b, _, t, f = x.shape
        bands = x[:, 0].transpose(1, 2).reshape(b * f, 1, t)
        h = F.conv1d(bands, self.conv.weight[:, :, :, 0], self.conv.bias)
        return h.reshape(b, f, h.shape[1], h.shape[2]), 2, 1

    @torch.no_grad()
    def prune(self, input_bound: float, tolerance: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Keep computing only the filters whose output can move by more than ``tolerance`` for inputs
        bounded by ``input_bound``; return their indices and the constant output of every filter.

        The bound is exact: |bn(relu(b + w.x)) - bn(relu(b))| <= |scale| sum|w| max|x|, and a max over
        frequency moves no more than its inputs. For inference only (batch norm is frozen).
        """
        scale, shift = _bn_affine(self.bn)
        keep = scale.abs() * self.conv.weight.abs().sum(dim=(1, 2, 3)) * input_bound > tolerance
        positive = torch.nonzero(keep & (scale >= 0)).flatten()
        live = torch.cat([positive, torch.nonzero(keep & (scale < 0)).flatten()])
        constant = self.conv.bias.relu() * scale + shift  # a filter's output when its weights are ~0
        conv = nn.Conv2d(1, len(live), self.conv.kernel_size).eval()
        conv.weight.copy_(self.conv.weight[live])
        conv.bias.copy_(self.conv.bias[live])
        self.conv, self.live, self.n_positive = conv, live, len(positive)
        return live, constant


class Musicnn(nn.Module):
    """The musicnn network: patches (batch, 187, 96) to (penultimate 200-d, 50 tag logits).

    ``prune()`` (which ``load`` applies) makes inference ~4x faster for the same outputs: most of the
    front-end filters died in training (weights ~1e-30: 164 of the 204 first timbral filters, 497 of
    the 561 in all), so their outputs are constants; they are no longer computed, and their share of
    the first mid-end convolution is computed once per patch length.
    """

    def __init__(self, mid_filters: int = 64, back_units: int = 200, n_tags: int = 50) -> None:
        super().__init__()
        timbral, temporal = int(1.6 * 128), int(1.6 * 32)
        self.bn_input = _bn(1)
        # front end: timbral filters span 7 frames x 40 % / 70 % of the mel bands, temporal ones
        # 128/64/32 frames x 1 band (the extra frame of an even kernel's padding goes after)
        self.front = nn.ModuleList(
            [
                *(FrontBranch(timbral, (7, int(f * N_MELS)), (3, 3)) for f in (0.4, 0.7)),
                *(FrontBranch(temporal, (k, 1), ((k - 1) // 2, k // 2)) for k in (128, 64, 32)),
            ]
        )
        front = 2 * timbral + 3 * temporal
        # mid end: three 7-frame convolutions over all channels, the last two residual
        self.mid = nn.ModuleList(
            nn.Conv1d(c, mid_filters, 7, padding=3) for c in (front, mid_filters, mid_filters)
        )
        self.bn_mid = nn.ModuleList(_bn(mid_filters) for _ in range(3))
        # back end: max and mean over time of every front and mid-end channel, then two dense layers
        pooled = 2 * (front + 3 * mid_filters)
        self.bn_pool = _bn(pooled)
        self.dense = nn.Linear(pooled, back_units)
        self.bn_dense = _bn(back_units)
        self.out = nn.Linear(back_units, n_tags)
        self.live: torch.Tensor | None = None  # after ``prune``: front-end channels still computed
        self.constant: torch.Tensor | None = None  # after ``prune``: every front-end channel's constant
        self._mid_constant: dict[int, torch.Tensor] = {}

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, t, f = x.shape
        x = self.bn_input(x.reshape(b, 1, t * f)).reshape(b, 1, t, f)
        if self.live is None:
            h = torch.cat([branch(x) for branch in self.front], dim=1)  # (b, 561, t)
            y = self.mid[0](h)
        else:
            live = torch.cat([branch(x) for branch in self.front], dim=1)
            h = self.constant[None, :, None].expand(b, -1, t).clone()
            h[:, self.live] = live
            y = F.conv1d(live, self.mid[0].weight[:, self.live], padding=3) + self._mid_of_constants(t)
        features = [h]
        h = self.bn_mid[0](F.relu(y))
        features.append(h)
        for conv, bn in zip(self.mid[1:], self.bn_mid[1:], strict=True):
            h = bn(F.relu(conv(h))) + h
            features.append(h)
        h = torch.cat(features, dim=1)  # (b, 753, t)
        pooled = torch.stack([h.amax(dim=2), h.mean(dim=2)], dim=2).reshape(b, -1)  # max, mean interleaved
        penultimate = self.bn_dense(F.relu(self.dense(self.bn_pool(pooled))))
        return penultimate, self.out(penultimate)

    def _mid_of_constants(self, t: int) -> torch.Tensor:
        """The first mid-end convolution of the constant channels alone, plus its bias: (1, 64, t).

        Constant in time except near the edges, where the zero padding comes in."""
        if t not in self._mid_constant:
            dead = torch.ones(len(self.constant), dtype=torch.bool)
            dead[self.live] = False
            inputs = self.constant[dead][None, :, None].expand(1, -1, t)
            mid = self.mid[0]
            self._mid_constant[t] = F.conv1d(inputs, mid.weight[:, dead], mid.bias, padding=3)
        return self._mid_constant[t]

    @torch.no_grad()
    def prune(self, max_input: float = MAX_LOG_MEL, tolerance: float = 1e-6) -> Musicnn:
        """Stop computing the front-end filters that cannot move by more than ``tolerance`` for inputs
        in [0, max_input] (see ``FrontBranch.prune``). For inference only."""
        scale, shift = _bn_affine(self.bn_input)
        bound = float(torch.maximum(shift.abs(), (scale * max_input + shift).abs()).max())
        live, constant, offset = [], [], 0
        for branch in self.front:
            indices, values = branch.prune(bound, tolerance)
            live.append(indices + offset)
            constant.append(values)
            offset += len(values)
        self.live, self.constant, self._mid_constant = torch.cat(live), torch.cat(constant), {}
        self._mid_of_constants(PATCH)  # now, not first under inference_mode (its tensors stay there)
        return self.eval()


def _load_bn(bn: nn.BatchNorm1d, v: dict[str, np.ndarray], name: str) -> None:
    bn.weight.copy_(torch.from_numpy(v[f"{name}/gamma"]))
    bn.bias.copy_(torch.from_numpy(v[f"{name}/beta"]))
    bn.running_mean.copy_(torch.from_numpy(v[f"{name}/moving_mean"]))
    bn.running_var.copy_(torch.from_numpy(v[f"{name}/moving_variance"]))


def _load_conv(conv: nn.Conv1d | nn.Conv2d, v: dict[str, np.ndarray], name: str) -> None:
    kernel = torch.from_numpy(v[f"{name}/kernel"])  # TF: (height, width, in, out)
    if isinstance(conv, nn.Conv1d):  # a 2-D TF kernel spanning all channels: (7, channels, 1, out)
        kernel = kernel[:, :, 0, :].permute(2, 1, 0)
    else:
        kernel = kernel.permute(3, 2, 0, 1)
    conv.weight.copy_(kernel)
    conv.bias.copy_(torch.from_numpy(v[f"{name}/bias"]))


@torch.no_grad()
def from_checkpoint(variables: dict[str, np.ndarray]) -> Musicnn:
    """A ``Musicnn`` holding the variables of the TF checkpoint, in eval mode.

    TF names layers by creation order (``conv2d``, ``conv2d_1``...; ``batch_normalization``,
    ``batch_normalization_1``...), which is the order of ``build_musicnn`` below.
    """
    net = Musicnn()
    convs = [*(branch.conv for branch in net.front), *net.mid]
    for i, conv in enumerate(convs):
        _load_conv(conv, variables, "conv2d" if i == 0 else f"conv2d_{i}")
    bns = [net.bn_input, *(branch.bn for branch in net.front), *net.bn_mid, net.bn_pool, net.bn_dense]
    for i, bn in enumerate(bns):
        _load_bn(bn, variables, "batch_normalization" if i == 0 else f"batch_normalization_{i}")
    for layer, name in ((net.dense, "dense"), (net.out, "dense_1")):
        layer.weight.copy_(torch.from_numpy(variables[f"{name}/kernel"]).T)
        layer.bias.copy_(torch.from_numpy(variables[f"{name}/bias"]))
    return net.eval()


@functools.cache
def load() -> Musicnn:
    """The MSD-trained musicnn, loaded once per process."""
    variables = read_checkpoint(f"{package_dir() / 'MSD_musicnn'}/")  # the files are ".index" and ".data-..."
    net = from_checkpoint({k: v for k, v in variables.items() if not k.endswith(("/Adam", "/Adam_1"))})
    return net.prune()


@functools.cache
def _front_end() -> LogMel:
    return LogMel()


def embed(y: np.ndarray, *, batch: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Penultimate layer (n, 200) and tag probabilities (n, 50) of the 3-s patches of ``y``.

    ``y`` is mono float32 audio at 16 kHz; audio shorter than a patch is repeated to fill one. Patches go
    through the network ``batch`` at a time, which bounds memory (~40 MB) however long ``y`` is; on one
    thread, 16 was ~10 % faster than 4 and 20 % faster than 2.
    """
    y = np.asarray(y, dtype=np.float32)
    if len(y) < PATCH * HOP:
        y = np.resize(y, PATCH * HOP) if len(y) else np.zeros(PATCH * HOP, np.float32)
    net = load()
    with torch.inference_mode():
        x = patches(_front_end()(torch.from_numpy(y)))
        out = [net(x[i : i + batch]) for i in range(0, len(x), batch)]
        penultimate = torch.cat([p for p, _ in out])
        tags = torch.sigmoid(torch.cat([t for _, t in out]))
    return penultimate.numpy(), tags.numpy()
