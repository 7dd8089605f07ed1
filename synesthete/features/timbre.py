"""Timbre: the spectral envelope and its texture.

Frame features (all from the shared STFT): 20 MFCCs, spectral centroid and bandwidth (in log2 Hz, so
octaves weigh evenly), 85 % roll-off (log2 Hz), spectral flatness (dB) and octave-band spectral contrast
(7 bands, dB). A track keeps

* the 10th, 50th and 90th percentiles of each frame feature. Each chunk keeps a 101-point quantile
  sketch, and the sketches of all chunks are merged by weighting each point with its chunk's frame
  count: exact for one chunk, a close approximation across chunks;
* the texture: the standard deviation of each frame feature within ~2-s windows, averaged over all
  windows (how fast the timbre moves); window sums merge exactly across chunks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from synesthete.features.base import N_FFT, N_MFCC, SR, Spectra

GROUP = "timbre"

CONTRAST_FMIN = 200.0
CONTRAST_BANDS = 6  # octaves above CONTRAST_FMIN, plus the band above them
CONTRAST_QUANTILE = 0.02
ROLLOFF = 0.85
_EPS = 1e-10

FRAME_NAMES: list[str] = [
    *(f"mfcc{i}" for i in range(N_MFCC)),
    "centroid",
    "bandwidth",
    "rolloff",
    "flatness",
    *(f"contrast{i}" for i in range(CONTRAST_BANDS + 1)),
]
PERCENTILES = (10, 50, 90)
SKETCH = np.linspace(0.0, 100.0, 101)
TEXTURE_WIN = 86  # frames, ~2 s
TEXTURE_HOP = 43

NAMES: list[str] = [
    *(f"{n} p{q}" for n in FRAME_NAMES for q in PERCENTILES),
    *(f"{n} texture std" for n in FRAME_NAMES),
]
DIM = len(NAMES)

_FREQS = np.linspace(0.0, SR / 2, 1 + N_FFT // 2)
_LOG_FREQS = np.log2(np.maximum(_FREQS, 20.0)).astype(np.float32)
_LOG_FREQS_SQ = _LOG_FREQS**2


def _contrast_bands(freqs: np.ndarray) -> list[tuple[int, int, int]]:
    """(first bin, end bin, bins per side) of each octave band, as in librosa's spectral_contrast."""
    edges = np.concatenate([[0.0], CONTRAST_FMIN * 2.0 ** np.arange(CONTRAST_BANDS + 1)])
    bands = []
    for k in range(CONTRAST_BANDS + 1):
        lo = int(np.searchsorted(freqs, edges[k]))
        hi = len(freqs) if k == CONTRAST_BANDS else int(np.searchsorted(freqs, edges[k + 1]))
        lo = max(lo - 1, 0) if k > 0 else lo
        bands.append((lo, hi, max(round(CONTRAST_QUANTILE * (hi - lo)), 1)))
    return bands


_BANDS = _contrast_bands(_FREQS)


def spectral_contrast(power: np.ndarray) -> np.ndarray:
    """Peak minus valley level (dB) per octave band, shape (CONTRAST_BANDS + 1, frames).

    Each frame's bins are sorted along contiguous memory (``Spectra``'s spectrogram is frame-major).
    """
    by_frame = power.T  # (frames, bins)
    out = np.empty((len(_BANDS), power.shape[1]), dtype=np.float32)
    for k, (lo, hi, q) in enumerate(_BANDS):
        band = np.sort(by_frame[:, lo:hi], axis=1)
        valley = band[:, :q].mean(axis=1)
        peak = band[:, -q:].mean(axis=1)
        out[k] = 10.0 * (np.log10(peak + _EPS) - np.log10(valley + _EPS))
    return out


_ROLLOFF_BLOCK = 32  # bins summed at a time: the 85 % point is found in two short scans


def rolloff_bins(power: np.ndarray) -> np.ndarray:
    """Per frame, the number of bins whose cumulative power stays below ROLLOFF of the total (the
    roll-off bin, as ``(cumsum < ROLLOFF * total).sum()``), shape (frames,).

    A cumulative sum over all 1025 bins was the costliest step of the timbre features; instead the
    blocks of ``_ROLLOFF_BLOCK`` bins are summed, the block holding the 85 % point is found, and only
    that block is scanned. The same bin, up to float rounding of a cumulative sum lying within 1e-7
    of the threshold.
    """
    by_frame = power.T  # (frames, bins)
    n_frames, n_bins = by_frame.shape
    starts = np.arange(0, n_bins, _ROLLOFF_BLOCK)
    cum_blocks = np.cumsum(np.add.reduceat(by_frame, starts, axis=1), axis=1)
    threshold = ROLLOFF * cum_blocks[:, -1:]
    k = np.minimum((cum_blocks < threshold).sum(axis=1), starts.size - 1)  # the block that reaches it
    rows = np.arange(n_frames)
    before = np.where(k > 0, cum_blocks[rows, k - 1], 0.0)
    bins = starts[k, None] + np.arange(_ROLLOFF_BLOCK)
    inside = np.where(bins < n_bins, by_frame[rows[:, None], np.minimum(bins, n_bins - 1)], 0.0)
    below = (np.cumsum(inside, axis=1) + before[:, None] < threshold).sum(axis=1)
    return np.minimum(starts[k] + below, n_bins)


def _mean_log(power: np.ndarray, block: int = 256) -> np.ndarray:
    """Per frame, the mean over bins of log(power + eps), a block of frames at a time: the logs of a
    whole chunk at once (5 MB per 30 s, fresh memory) cost 3x more than the logs themselves."""
    by_frame = power.T
    out = np.empty(by_frame.shape[0], dtype=np.float32)
    for start in range(0, by_frame.shape[0], block):
        out[start : start + block] = np.log(by_frame[start : start + block] + np.float32(_EPS)).mean(axis=1)
    return out


def frame_features(spectra: Spectra) -> np.ndarray:
    """Frame-level timbre features, shape (len(FRAME_NAMES), frames)."""
    power = spectra.stft_power
    mag = spectra.magnitude
    total = mag.sum(axis=0) + _EPS
    centroid = (_LOG_FREQS @ mag) / total  # in log2 Hz: octaves are perceptually even
    spread = (_LOG_FREQS_SQ @ mag) / total - centroid**2
    bandwidth = np.sqrt(np.maximum(spread, 0.0))
    rolloff = _LOG_FREQS[rolloff_bins(power).clip(0, len(_FREQS) - 1)]
    log_geo = _mean_log(power)
    flatness = (10.0 / np.log(10.0)) * (log_geo - np.log(power.mean(axis=0) + _EPS))
    return np.vstack([spectra.mfcc, centroid, bandwidth, rolloff, flatness, spectral_contrast(power)]).astype(
        np.float32
    )


def texture_std_sum(frames: np.ndarray) -> tuple[np.ndarray, int]:
    """Sum over ~2-s windows of the within-window standard deviation, and the window count."""
    n = frames.shape[1]
    if n < TEXTURE_WIN:
        return frames.std(axis=1), 1
    starts = np.arange(0, n - TEXTURE_WIN + 1, TEXTURE_HOP)
    c1 = np.concatenate([np.zeros((frames.shape[0], 1)), np.cumsum(frames, axis=1, dtype=np.float64)], axis=1)
    c2 = np.concatenate(
        [np.zeros((frames.shape[0], 1)), np.cumsum(np.square(frames, dtype=np.float64), axis=1)], axis=1
    )
    s1 = c1[:, starts + TEXTURE_WIN] - c1[:, starts]
    s2 = c2[:, starts + TEXTURE_WIN] - c2[:, starts]
    var = np.maximum(s2 / TEXTURE_WIN - (s1 / TEXTURE_WIN) ** 2, 0.0)
    return np.sqrt(var).sum(axis=1), starts.size


def _sketch_points(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Between which two of ``n`` sorted frames each sketch point falls, and how far: the positions and
    weights of numpy's "linear" percentile, in float64 as numpy computes them."""
    position = (n - 1) * (SKETCH / 100.0)
    below = np.floor(position).astype(np.intp)
    return below, np.minimum(below + 1, n - 1), position - below


def sketch(frames: np.ndarray) -> np.ndarray:
    """``np.percentile(frames, SKETCH, axis=1).T`` bit for bit, shape (features, 101), in a third of the
    time: one sort of each row (vectorised in numpy) instead of a partition at 200-odd points, which
    cost 2 ms per 30 s, as much as the roll-off and flatness together. The interpolation is numpy's
    own ``_lerp``: from the lower point, or back from the upper one past the midpoint."""
    ordered = np.sort(frames, axis=1)
    below, above, weight = _sketch_points(frames.shape[1])
    low, high = ordered[:, below], ordered[:, above]
    step = high - low
    out = low + step * weight
    np.subtract(high, step * (1 - weight), out=out, where=weight >= 0.5, casting="unsafe")
    return out


def partial(spectra: Spectra) -> dict[str, Any]:
    frames = frame_features(spectra)
    tex, n_tex = texture_std_sum(frames)
    return {
        "sketch": sketch(frames),  # (features, 101)
        "frames": frames.shape[1],
        "texture": tex,
        "n_texture": n_tex,
    }


def merged_percentiles(sketches: list[np.ndarray], counts: list[int]) -> np.ndarray:
    """Percentiles PERCENTILES of the union of chunks from their quantile sketches, (features, 3)."""
    if len(sketches) == 1:
        return np.stack([np.interp(PERCENTILES, SKETCH, row) for row in sketches[0]])
    points = np.concatenate(sketches, axis=1)
    weights = np.concatenate([np.full(SKETCH.size, c / SKETCH.size) for c in counts])
    out = np.empty((points.shape[0], len(PERCENTILES)))
    for i, row in enumerate(points):
        order = np.argsort(row)
        cum = np.cumsum(weights[order])
        position = (cum - 0.5 * weights[order]) / cum[-1] * 100.0
        out[i] = np.interp(PERCENTILES, position, row[order])
    return out


def finish(partials: list[dict[str, Any]]) -> np.ndarray:
    pct = merged_percentiles([p["sketch"] for p in partials], [p["frames"] for p in partials])
    tex = sum(p["texture"] for p in partials) / max(sum(p["n_texture"] for p in partials), 1)
    return np.concatenate([pct.ravel(), tex]).astype(np.float32)
