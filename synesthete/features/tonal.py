"""Tonal: pitch-class content, harmony and key.

Frame features: the 12-bin STFT chroma (``Spectra.chroma``) and its 6-d tonal centroid (tonnetz,
Harte et al. 2006). A track keeps

* the mean chroma, and the mean and standard deviation of the tonnetz (harmonic movement);
* key strength from the mean chroma correlated with the 24 rotated Krumhansl-Kessler key profiles:
  best correlation, clarity (best minus runner-up) and mode (best major minus best minor);

The interval profile, harmonic change and chroma entropy (functions below) measured no better than noise
on the development set and are left out of the vector.
"""

from __future__ import annotations

import librosa
import numpy as np

from synesthete.features.base import SR, RunningStats, Spectra

GROUP = "tonal"

PITCHES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
TONNETZ = ["fifth x", "fifth y", "minor x", "minor y", "major x", "major y"]

# Krumhansl & Kessler (1982) probe-tone profiles, tonic first.
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])

FRAME_NAMES: list[str] = [*(f"chroma {p}" for p in PITCHES), *(f"tonnetz {t}" for t in TONNETZ)]
NAMES: list[str] = [
    *(f"{n} mean" for n in FRAME_NAMES),
    *(f"tonnetz {t} std" for t in TONNETZ),
    "key strength",
    "key clarity",
    "key mode",
]
DIM = len(NAMES)


def _key_matrix() -> np.ndarray:
    """The 24 key profiles, each centred and unit-norm, shape (24, 12): 12 major then 12 minor."""
    profiles = [np.roll(p, k) for p in (KK_MAJOR, KK_MINOR) for k in range(12)]
    m = np.array(profiles)
    m -= m.mean(axis=1, keepdims=True)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


_KEYS = _key_matrix()


def tonnetz(chroma: np.ndarray, sr: int = SR) -> np.ndarray:
    """Tonal centroid of chroma frames, shape (6, frames)."""
    return librosa.feature.tonnetz(sr=sr, chroma=chroma).astype(np.float32)


def key_strength(mean_chroma: np.ndarray) -> np.ndarray:
    """(strength, clarity, mode) from correlating ``mean_chroma`` with the 24 key profiles."""
    c = mean_chroma - mean_chroma.mean()
    norm = np.linalg.norm(c)
    if norm < 1e-12:
        return np.zeros(3)
    r = _KEYS @ (c / norm)
    best, second = np.sort(r)[-1], np.sort(r)[-2]
    return np.array([best, best - second, r[:12].max() - r[12:].max()])


def partial(spectra: Spectra) -> RunningStats:
    chroma = spectra.chroma
    return RunningStats.of(np.vstack([chroma, tonnetz(chroma, spectra.sr)]))


def finish(partials: list[RunningStats]) -> np.ndarray:
    frames = RunningStats()
    for p in partials:
        frames = frames.merge(p)
    return np.concatenate([frames.mean, frames.std[12:], key_strength(frames.mean[:12])]).astype(np.float32)
