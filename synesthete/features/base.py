"""The shape every extractor has, and the spectral views they share.

An extractor turns a track into one fixed-length vector. Tracks are decoded in chunks (a 2-hour file must
fit in bounded memory), so an extractor summarises each chunk into a small *partial* and then combines the
partials of all chunks into the track vector. ``extract(y)`` runs both steps on one in-memory signal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar, Protocol, runtime_checkable

import librosa
import numpy as np
import scipy.fft

SR = 22050
N_FFT = 2048
HOP = 512
N_MELS = 128
N_MFCC = 20
N_BANDS = 6
BAND_DB_RANGE = 80.0


class Spectra:
    """One chunk of mono float32 audio at ``SR`` and the views of it extractors share.

    Each view is computed on first use and cached, so the STFT is taken once however many extractors
    read it.
    """

    def __init__(self, y: np.ndarray, sr: int = SR) -> None:
        self.y = y
        self.sr = sr
        self._shared: dict[str, Any] = {}

    def shared(self, key: str, make: Callable[[], Any]) -> Any:
        """What ``make`` derives from this chunk, made once for every extractor that asks by ``key``
        (a network's outputs, which several extractors read: not a view every chunk needs)."""
        if key not in self._shared:
            self._shared[key] = make()
        return self._shared[key]

    @cached_property
    def magnitude(self) -> np.ndarray:
        """Magnitude spectrogram, shape (1 + N_FFT // 2, frames)."""
        return stft_magnitude(self.y)

    @cached_property
    def stft_power(self) -> np.ndarray:
        """Power spectrogram, shape (1 + N_FFT // 2, frames)."""
        return np.square(self.magnitude)

    @cached_property
    def mel_power(self) -> np.ndarray:
        """Mel power spectrogram, shape (N_MELS, frames)."""
        return mel_of(self.stft_power, self.sr)

    @cached_property
    def log_mel(self) -> np.ndarray:
        """Mel spectrogram in dB (absolute reference, so level differences between tracks survive)."""
        return librosa.power_to_db(self.mel_power, ref=1.0, top_db=None).astype(np.float32)

    @cached_property
    def mfcc(self) -> np.ndarray:
        """MFCCs, shape (N_MFCC, frames)."""
        return librosa.feature.mfcc(S=self.log_mel, n_mfcc=N_MFCC).astype(np.float32)

    @cached_property
    def chroma(self) -> np.ndarray:
        """Chroma from the STFT, shape (12, frames), each frame max-normalised.

        Tuned to A440 (``tuning=0``): librosa's tuning estimate (piptrack) cost ~40 ms per 30 s, more
        than the STFT itself.
        """
        raw = _chroma_basis(self.sr) @ self.stft_power  # librosa.feature.chroma_stft, its filters cached
        return librosa.util.normalize(raw, norm=np.inf, axis=0).astype(np.float32)

    @cached_property
    def tonnetz(self) -> np.ndarray:
        """Tonal centroid of ``chroma`` (Harte et al. 2006), shape (6, frames): no constant-Q transform."""
        return librosa.feature.tonnetz(sr=self.sr, chroma=self.chroma).astype(np.float32)

    @cached_property
    def band_db(self) -> np.ndarray:
        """``log_mel`` floored BAND_DB_RANGE below the chunk's peak, averaged into N_BANDS equal groups
        of mel bands, shape (N_BANDS, frames): the loudness of low to high registers over time."""
        return _BAND_POOL @ np.maximum(self.log_mel, self.log_mel.max() - BAND_DB_RANGE)

    @property
    def n_frames(self) -> int:
        return self.stft_power.shape[1]


_WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)  # periodic Hann


def stft_magnitude(y: np.ndarray, block: int = 64) -> np.ndarray:
    """|STFT| of ``y``, frames centred on multiples of ``HOP`` (zero-padded): librosa.stft's defaults.

    Our own, not librosa's: the same figures (to 1e-7 of the peak) without importing scipy.signal and
    librosa's spectral module on first use, ~2 s, which a one-shot ``synesthete identify`` felt. Frames
    are transformed a block at a time (64 frames, 0.5 MB, stay in cache: 30 % faster than 256), so a
    2-minute chunk needs little memory beside its result. The result, shape (1 + N_FFT // 2, frames),
    is the transpose of a frame-major array (Fortran order): writing it bin-major cost a copy, and the
    per-frame reductions over bins (timbre, contrast) run along contiguous memory.
    """
    y = np.asarray(y, dtype=np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(y, N_FFT // 2), N_FFT)[::HOP]
    out = np.empty((frames.shape[0], 1 + N_FFT // 2), dtype=np.float32)
    for start in range(0, frames.shape[0], block):
        spectrum = scipy.fft.rfft(
            frames[start : start + block] * _WINDOW, axis=1, overwrite_x=True, workers=1
        )
        np.abs(spectrum, out=out[start : start + block])
    return out.T


_BAND_POOL = np.zeros((N_BANDS, N_MELS), np.float32)
for _b, _idx in enumerate(np.array_split(np.arange(N_MELS), N_BANDS)):
    _BAND_POOL[_b, _idx] = 1.0 / len(_idx)

_MEL_CACHE: dict[int, np.ndarray] = {}


def _mel_basis(sr: int) -> np.ndarray:
    if sr not in _MEL_CACHE:
        _MEL_CACHE[sr] = librosa.filters.mel(sr=sr, n_fft=N_FFT, n_mels=N_MELS).astype(np.float32)
    return _MEL_CACHE[sr]


_MEL_BLOCKS: dict[int, list[tuple[int, int, int, int, np.ndarray]]] = {}
MEL_BLOCK = 4  # mel bands per product


def mel_of(power: np.ndarray, sr: int = SR) -> np.ndarray:
    """``_mel_basis(sr) @ power`` computed on each group of MEL_BLOCK bands' own bins only.

    The triangular filters cover 1.5 % of the basis, so the dense product mostly multiplied zeros:
    this one is ~10x cheaper for the same values (to float rounding, ~1e-7 of the peak).
    """
    if sr not in _MEL_BLOCKS:
        basis = _mel_basis(sr)
        blocks = []
        for start in range(0, len(basis), MEL_BLOCK):
            rows = basis[start : start + MEL_BLOCK]
            bins = np.flatnonzero(rows.any(axis=0))
            lo, hi = (int(bins[0]), int(bins[-1]) + 1) if bins.size else (0, 0)
            blocks.append((start, start + len(rows), lo, hi, np.ascontiguousarray(rows[:, lo:hi].T)))
        _MEL_BLOCKS[sr] = blocks
    by_frame = power.T
    out = np.zeros((N_MELS, power.shape[1]), dtype=np.float32)
    for start, end, lo, hi, weights in _MEL_BLOCKS[sr]:
        out[start:end] = (by_frame[:, lo:hi] @ weights).T
    return out


_CHROMA_CACHE: dict[int, np.ndarray] = {}


def _chroma_basis(sr: int) -> np.ndarray:
    """librosa's chroma filter bank at A440, made once per rate (rebuilding it cost 2 ms per chunk)."""
    if sr not in _CHROMA_CACHE:
        _CHROMA_CACHE[sr] = librosa.filters.chroma(sr=sr, n_fft=N_FFT, tuning=0.0).astype(np.float32)
    return _CHROMA_CACHE[sr]


@dataclass
class RunningStats:
    """Mean, standard deviation, minimum and maximum of frame vectors, mergeable across chunks."""

    count: int = 0
    total: np.ndarray | None = None
    total_sq: np.ndarray | None = None
    low: np.ndarray | None = None
    high: np.ndarray | None = None

    @classmethod
    def of(cls, frames: np.ndarray) -> RunningStats:
        """Statistics of ``frames``, shape (dims, n_frames)."""
        f = np.asarray(frames, dtype=np.float64)
        return cls(f.shape[1], f.sum(axis=1), (f * f).sum(axis=1), f.min(axis=1), f.max(axis=1))

    @classmethod
    def merged(cls, partials: list[RunningStats]) -> RunningStats:
        """The statistics of all of ``partials`` (the chunks of one track) together."""
        stats = cls()
        for p in partials:
            stats = stats.merge(p)
        return stats

    def merge(self, other: RunningStats) -> RunningStats:
        if self.count == 0:
            return other
        if other.count == 0:
            return self
        return RunningStats(
            self.count + other.count,
            self.total + other.total,
            self.total_sq + other.total_sq,
            np.minimum(self.low, other.low),
            np.maximum(self.high, other.high),
        )

    @property
    def mean(self) -> np.ndarray:
        return self.total / self.count

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(np.maximum(self.total_sq / self.count - self.mean**2, 0.0))


@runtime_checkable
class Extractor(Protocol):
    """An analysis plugin: ``name``, ``version`` and ``dim`` identify and size its vectors.

    ``weights`` (shape (dim,), or None for all ones) scales each dimension after the vectors are
    standardised over the collection, so a group of many dimensions does not drown a group of few.
    """

    name: ClassVar[str]
    version: ClassVar[int]
    dim: ClassVar[int]

    @property
    def weights(self) -> np.ndarray | None: ...

    def partial(self, spectra: Spectra) -> Any:
        """A small summary of one chunk."""
        ...

    def finish(self, partials: list[Any]) -> np.ndarray:
        """The track vector, float32 of shape (dim,), from the partials of all its chunks."""
        ...


def extract(extractor: Extractor, y: np.ndarray, sr: int = SR) -> np.ndarray:
    """Run ``extractor`` on one in-memory signal."""
    return extractor.finish([extractor.partial(Spectra(y, sr))])


@dataclass
class Analysis:
    """What ``analyze`` returns for one track: a vector per extractor, plus anything else worth keeping."""

    duration: float
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    # (hashes uint32, frames uint32) when ``analyze(..., fingerprint=True)``: see fingerprint/landmarks.py
    landmarks: tuple[np.ndarray, np.ndarray] | None = None
