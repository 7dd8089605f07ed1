"""Loudness and dynamics.

Frame loudness is the A-weighted power of each STFT frame, in dB relative to digital full scale (a full-
scale sine reads about -3 dB). A histogram of frame levels (0.5 dB bins) merges exactly across chunks,
so percentiles of a 2-hour file are as exact as those of one chunk. A track keeps

* level: mean, standard deviation and the 10th / 50th / 95th percentiles of frame dB, and the energy
  mean (the level of the whole track);
* dynamics: dynamic range (95th minus 10th percentile), loudness range over 3-s windows (as EBU R128
  LRA, 95th minus 10th percentile of short-term level), low-energy ratio (frames quieter than the
  track's energy mean), mean absolute frame-to-frame change, and crest factor (sample peak over RMS);
* band balance and band dynamics: the mel spectrogram pooled into 6 bands (``Spectra.band_db``: dB,
  floored 80 dB below the chunk's peak, shared with rhythm's fluctuation pattern); each band's mean level relative to the mean of all bands, and its standard deviation
  over time (which registers breathe and which stay level).
"""

from __future__ import annotations

from typing import Any

import librosa
import numpy as np

from synesthete.features.base import HOP, N_BANDS, N_FFT, SR, RunningStats, Spectra

GROUP = "loudness"

FLOOR_DB = -100.0
BIN_DB = 0.5
N_BINS = int(-FLOOR_DB / BIN_DB) + 40  # up to +20 dB
SHORT_TERM_FRAMES = round(3.0 * SR / HOP)
_EPS = 1e-12

NAMES: list[str] = [
    "level mean",
    "level std",
    "level p10",
    "level p50",
    "level p95",
    "energy level",
    "dynamic range",
    "loudness range",
    "low energy ratio",
    "level change",
    "crest factor",
    *(f"band{b} balance" for b in range(N_BANDS)),
    *(f"band{b} dynamics" for b in range(N_BANDS)),
]
DIM = len(NAMES)

# |X|^2 summed over one-sided bins ~ N_FFT * sum(window^2) / 2 * mean square; Hann: sum(w^2) = 3N/8.
_POWER_TO_MS = 2.0 / (N_FFT * 0.375 * N_FFT)


def _a_weights(sr: int) -> np.ndarray:
    freqs = np.linspace(0.0, sr / 2, 1 + N_FFT // 2)
    w = 10.0 ** (librosa.A_weighting(np.maximum(freqs, 1.0)) / 10.0)
    w[0] = 0.0
    return (w * _POWER_TO_MS).astype(np.float32)


_A_CACHE: dict[int, np.ndarray] = {}


def frame_level(spectra: Spectra) -> np.ndarray:
    """A-weighted mean-square level of each frame in dB, shape (frames,), floored at FLOOR_DB."""
    if spectra.sr not in _A_CACHE:
        _A_CACHE[spectra.sr] = _a_weights(spectra.sr)
    ms = _A_CACHE[spectra.sr] @ spectra.stft_power
    return np.maximum(10.0 * np.log10(ms + _EPS), FLOOR_DB)


def _histogram(db: np.ndarray) -> np.ndarray:
    idx = np.clip(((db - FLOOR_DB) / BIN_DB).astype(np.int64), 0, N_BINS - 1)
    return np.bincount(idx, minlength=N_BINS)


def _percentile(hist: np.ndarray, q: float) -> float:
    cum = np.cumsum(hist)
    if cum[-1] == 0:
        return FLOOR_DB
    i = int(np.searchsorted(cum, q * cum[-1]))
    return FLOOR_DB + (i + 0.5) * BIN_DB


def partial(spectra: Spectra) -> dict[str, Any]:
    db = frame_level(spectra)
    short = np.convolve(10.0 ** (db / 10.0), np.ones(SHORT_TERM_FRAMES) / SHORT_TERM_FRAMES, mode="valid")
    if short.size == 0:
        short = np.array([np.mean(10.0 ** (db / 10.0))])
    short_db = np.maximum(10.0 * np.log10(short + _EPS), FLOOR_DB)
    y = spectra.y
    return {
        "db": RunningStats.of(db[None, :]),
        "bands": RunningStats.of(spectra.band_db),
        "hist": _histogram(db),
        "short_hist": _histogram(short_db[:: max(SHORT_TERM_FRAMES // 4, 1)]),
        "energy": float(np.sum(10.0 ** (db / 10.0))),
        "change": float(np.abs(np.diff(db)).sum()),
        "square": float(np.dot(y, y)),
        "samples": int(y.size),
        "peak": float(np.max(np.abs(y))) if y.size else 0.0,
    }


def finish(partials: list[dict[str, Any]]) -> np.ndarray:
    db, bands = RunningStats(), RunningStats()
    hist = np.zeros(N_BINS, np.int64)
    short_hist = np.zeros(N_BINS, np.int64)
    energy = change = square = 0.0
    samples = 0
    peak = 0.0
    for p in partials:
        db = db.merge(p["db"])
        bands = bands.merge(p["bands"])
        hist += p["hist"]
        short_hist += p["short_hist"]
        energy += p["energy"]
        change += p["change"]
        square += p["square"]
        samples += p["samples"]
        peak = max(peak, p["peak"])
    n = max(db.count, 1)
    energy_db = max(10.0 * np.log10(energy / n + _EPS), FLOOR_DB)
    p10, p50, p95 = (_percentile(hist, q) for q in (0.10, 0.50, 0.95))
    low_bin = int(np.clip((energy_db - FLOOR_DB) / BIN_DB, 0, N_BINS))
    low_ratio = hist[:low_bin].sum() / n
    rms = np.sqrt(square / max(samples, 1))
    crest = 20.0 * np.log10((peak + _EPS) / (rms + _EPS)) if rms > 1e-7 else 0.0
    scalars = np.array(
        [
            db.mean[0],
            db.std[0],
            p10,
            p50,
            p95,
            energy_db,
            p95 - p10,
            _percentile(short_hist, 0.95) - _percentile(short_hist, 0.10),
            low_ratio,
            change / max(n - 1, 1),
            crest,
        ]
    )
    balance = bands.mean - bands.mean.mean()
    return np.concatenate([scalars, balance, bands.std]).astype(np.float32)
