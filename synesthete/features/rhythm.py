"""Rhythm: tempo, pulse and the modulation of loudness over time.

Everything starts from the log-mel spectrogram shared with the other groups:

* onset strength: spectral flux (half-wave rectified frame-to-frame increase of mel dB, averaged
  over bands) -- level-invariant;
* a mean tempogram: the autocorrelation of the onset strength in ~9-s windows, averaged over the whole
  track (sums merge exactly across chunks). From it: the tempo (peak weighted by a log-normal prior
  around 120 BPM, as in librosa), the pulse clarity (its height), and the autocorrelation sampled on a
  log-tempo grid from 40 to 320 BPM (a tempo-shaped rhythm signature);
* onset rate (peaks of the onset strength per second) and the mean and spread of the onset strength;
* a fluctuation pattern (Pampalk 2001, reduced): the modulation spectrum of the loudness in 6 mel
  bands over ~6-s windows, in 10 log-spaced modulation-frequency bands from 0.25 to 16 Hz.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from synesthete.features.base import HOP, N_BANDS, SR, RunningStats, Spectra

GROUP = "rhythm"

FRAME_RATE = SR / HOP
TEMPO_WIN = 384  # frames, ~8.9 s
TEMPO_HOP = 32
BPM_MIN, BPM_MAX, BPM_PER_OCTAVE = 40.0, 320.0, 6
TEMPO_PRIOR_BPM, TEMPO_PRIOR_OCTAVES = 120.0, 1.0
FP_WIN = 256  # frames, ~5.9 s
FP_HOP = 128
FP_EDGES_HZ = np.geomspace(0.25, 16.0, 11)
ONSET_PEAK_HALFWIDTH = 3  # frames: a peak is the maximum of +-70 ms
DB_RANGE = 80.0

_BPM_GRID = BPM_MIN * 2.0 ** (
    np.arange(int(np.log2(BPM_MAX / BPM_MIN) * BPM_PER_OCTAVE) + 1) / BPM_PER_OCTAVE
)

NAMES: list[str] = [
    "tempo",
    "pulse clarity",
    "onset rate",
    "onset strength mean",
    "onset strength std",
    *(f"tempogram {b:.0f} bpm" for b in _BPM_GRID),
    *(
        f"fluctuation band{b} {lo:.2g}-{hi:.2g} Hz"
        for b in range(N_BANDS)
        for lo, hi in itertools.pairwise(FP_EDGES_HZ)
    ),
]
DIM = len(NAMES)


def _fp_matrix() -> np.ndarray:
    """Averages FFT bins of a FP_WIN window into the modulation bands, shape (bands, FP_WIN // 2 + 1)."""
    freqs = np.fft.rfftfreq(FP_WIN, 1.0 / FRAME_RATE)
    m = np.zeros((len(FP_EDGES_HZ) - 1, freqs.size))
    for i, (lo, hi) in enumerate(itertools.pairwise(FP_EDGES_HZ)):
        sel = (freqs >= lo) & (freqs < hi)
        if not sel.any():  # a band narrower than one bin takes its nearest bin
            sel = np.abs(freqs - np.sqrt(lo * hi)) == np.abs(freqs - np.sqrt(lo * hi)).min()
        m[i, sel] = 1.0 / sel.sum()
    return m


_FP = _fp_matrix()


def _windows(x: np.ndarray, win: int, hop: int) -> np.ndarray:
    """Frames of the last axis of ``x`` (zero-padded to at least one window), shape (..., n, win)."""
    n = x.shape[-1]
    if n < win:
        x = np.concatenate([x, np.zeros((*x.shape[:-1], win - n), x.dtype)], axis=-1)
        n = win
    count = 1 + (n - win) // hop
    idx = np.arange(win)[None, :] + hop * np.arange(count)[:, None]
    return x[..., idx]


def onset_strength(log_mel: np.ndarray) -> np.ndarray:
    """Spectral flux of mel dB (floored DB_RANGE below the chunk's peak), shape (frames,)."""
    s = np.maximum(log_mel, log_mel.max() - DB_RANGE)
    if s.shape[1] < 2:
        return np.zeros(1, np.float32)
    flux = np.maximum(np.diff(s, axis=1), 0.0).mean(axis=0)
    return np.concatenate([[0.0], flux]).astype(np.float32)


def _onset_peaks(onset: np.ndarray) -> int:
    w = ONSET_PEAK_HALFWIDTH
    if onset.size <= 2 * w:
        return 0
    padded = np.pad(onset, w, mode="constant", constant_values=-np.inf)
    local_max = np.lib.stride_tricks.sliding_window_view(padded, 2 * w + 1).max(axis=1)
    threshold = onset.mean() + 0.5 * onset.std()
    return int(np.count_nonzero((onset >= local_max) & (onset > threshold)))


def autocorrelation_sum(onset: np.ndarray) -> tuple[np.ndarray, int]:
    """Sum over ~9-s windows of the normalised autocorrelation of ``onset``, and the window count."""
    frames = _windows(onset.astype(np.float64), TEMPO_WIN, TEMPO_HOP)
    frames = (frames - frames.mean(axis=1, keepdims=True)) * np.hanning(TEMPO_WIN)
    spec = np.fft.rfft(frames, n=2 * TEMPO_WIN, axis=1)
    acf = np.fft.irfft(spec.real**2 + spec.imag**2, axis=1)[:, :TEMPO_WIN]
    keep = acf[:, 0] > 1e-12
    if not keep.any():
        return np.zeros(TEMPO_WIN), 0
    return (acf[keep] / acf[keep, :1]).sum(axis=0), int(keep.sum())


def fluctuation_sum(bands: np.ndarray) -> tuple[np.ndarray, int]:
    """Sum over ~6-s windows of the modulation spectrum of band loudness (``Spectra.band_db``), and
    the window count; shape (N_BANDS, n_mod)."""
    frames = _windows(bands.astype(np.float64), FP_WIN, FP_HOP)  # (bands, n, win)
    frames = (frames - frames.mean(axis=2, keepdims=True)) * np.hanning(FP_WIN)
    mag = np.abs(np.fft.rfft(frames, axis=2)) / FP_WIN
    return (mag @ _FP.T).sum(axis=1), frames.shape[1]


def tempo_features(acf: np.ndarray) -> np.ndarray:
    """(tempo in BPM, pulse clarity, log-tempo autocorrelation profile) from a mean autocorrelation."""
    lags = np.arange(acf.size)
    valid = (lags >= 60.0 * FRAME_RATE / BPM_MAX) & (lags <= 60.0 * FRAME_RATE / BPM_MIN)
    bpm = 60.0 * FRAME_RATE / np.maximum(lags, 1)
    prior = np.exp(-0.5 * (np.log2(bpm / TEMPO_PRIOR_BPM) / TEMPO_PRIOR_OCTAVES) ** 2)
    score = np.where(valid, np.maximum(acf, 0.0) * prior, -np.inf)
    best = int(np.argmax(score))
    tempo = bpm[best] if np.isfinite(score[best]) and acf[best] > 0 else TEMPO_PRIOR_BPM
    clarity = max(float(acf[valid].max()), 0.0)
    profile = np.interp(60.0 * FRAME_RATE / _BPM_GRID, lags, acf)
    return np.concatenate([[tempo, clarity], profile])


def partial(spectra: Spectra) -> dict[str, Any]:
    log_mel = spectra.log_mel
    onset = onset_strength(log_mel)
    acf, n_acf = autocorrelation_sum(onset)
    fp, n_fp = fluctuation_sum(spectra.band_db)
    return {
        "acf": acf,
        "n_acf": n_acf,
        "fp": fp,
        "n_fp": n_fp,
        "onset": RunningStats.of(onset[None, :]),
        "peaks": _onset_peaks(onset),
        "seconds": spectra.y.size / spectra.sr,
    }


def finish(partials: list[dict[str, Any]]) -> np.ndarray:
    acf = sum(p["acf"] for p in partials)
    n_acf = sum(p["n_acf"] for p in partials)
    fp = sum(p["fp"] for p in partials)
    n_fp = sum(p["n_fp"] for p in partials)
    onset = RunningStats.merged([p["onset"] for p in partials])
    seconds = sum(p["seconds"] for p in partials)
    mean_acf = acf / n_acf if n_acf else np.zeros(TEMPO_WIN)
    tempo = tempo_features(mean_acf)
    fp_mean = np.log1p(fp / max(n_fp, 1)).ravel()
    return np.concatenate(
        [
            tempo[:2],
            [sum(p["peaks"] for p in partials) / max(seconds, 1e-3)],
            onset.mean,
            onset.std,
            tempo[2:],
            fp_mean,
        ]
    ).astype(np.float32)
