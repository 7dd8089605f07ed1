"""Tonal: pitch-class content, harmony and key.

Frame features: the 12-bin STFT chroma (``Spectra.chroma``) and its 6-d tonal centroid
(``Spectra.tonnetz``, shared with ``seed498``). A track keeps

* the mean chroma, and the mean and standard deviation of the tonnetz (harmonic movement);
* key strength from the mean chroma correlated with the 24 rotated Krumhansl-Kessler key profiles
  (``KEY_PROFILES``, which also name a track's key, ``key_name``): best correlation, clarity (best minus
  runner-up) and mode (best major minus best minor).

All are means and standard deviations of frames, so they merge exactly across chunks.
"""

from __future__ import annotations

import numpy as np

from synesthete.features.base import RunningStats, Spectra

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


KEY_PROFILES = _key_matrix()


def _correlations(mean_chroma: np.ndarray) -> np.ndarray | None:
    """Correlation of ``mean_chroma`` (C first) with each of the 24 keys; None for a flat chroma."""
    c = np.asarray(mean_chroma, dtype=np.float64) - np.mean(mean_chroma)
    norm = np.linalg.norm(c)
    return None if norm < 1e-12 else KEY_PROFILES @ (c / norm)


def key_name(mean_chroma: np.ndarray) -> str | None:
    """'A minor' from 12 mean chroma values (C first), or None for a flat chroma."""
    r = _correlations(mean_chroma)
    if r is None:
        return None
    k = int(np.argmax(r))
    return f"{PITCHES[k % 12]} {'major' if k < 12 else 'minor'}"


def key_strength(mean_chroma: np.ndarray) -> np.ndarray:
    """(strength, clarity, mode) from correlating ``mean_chroma`` with the 24 key profiles."""
    r = _correlations(mean_chroma)
    if r is None:
        return np.zeros(3)
    best, second = np.sort(r)[-1], np.sort(r)[-2]
    return np.array([best, best - second, r[:12].max() - r[12:].max()])


def partial(spectra: Spectra) -> RunningStats:
    return RunningStats.of(np.vstack([spectra.chroma, spectra.tonnetz]))


def finish(partials: list[RunningStats]) -> np.ndarray:
    frames = RunningStats.merged(partials)
    return np.concatenate([frames.mean, frames.std[12:], key_strength(frames.mean[:12])]).astype(np.float32)
