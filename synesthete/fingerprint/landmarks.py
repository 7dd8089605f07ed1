"""Landmark fingerprints (Wang, ISMIR 2003): pairs of spectral peaks hashed with their time distance.

A peak is a local maximum of the log spectrogram that stands out of its neighbourhood; the strongest few
per second survive noise, level changes and lossy codecs. Each peak (the anchor) is paired with the next
few peaks of a target zone just after it, and the pair ``(f1, f2 - f1, t2 - t1)`` packs into a 22-bit
hash that is stored with ``t1``. A recording matches a track when many of its hashes occur in the track
at one common time offset.

We read the spectrogram the extractors already computed (``Spectra.stft_power``: 2048-point STFT at
22,050 Hz, hop 512 = 23 ms, 10.8-Hz bins), keeping 86 Hz .. 5.5 kHz, so fingerprinting adds peak
picking and hashing only. Speed changes are handled at query time (see ``matcher``), not in the hash.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter1d

from synesthete.features.base import HOP, SR, Spectra

VERSION = 3  # 2: peaks picked on a time-smoothed spectrogram, ranked by level too; 3: 16 peaks/s x 8 stored
F_LO, F_HI = 8, 512  # spectrogram rows kept: 86 Hz .. 5.5 kHz
PEAK_BINS, PEAK_FRAMES = 31, 15  # neighbourhood a peak must dominate (334 Hz x 350 ms)
SMOOTH_FRAMES = 3  # log power averaged over 3 frames (70 ms) before picking: see ``peaks``
LEVEL_WEIGHT = 1.0  # peaks ranked by prominence + this x log level (natural log units): see ``peaks``
DT_MAX, DF_MAX = 63, 63  # target zone: 1..63 frames (1.5 s) after the anchor, within +-63 bins
DT_MASK = 0x3F  # the time step's bits in a hash (``pair``)
FRAME_SECONDS = HOP / SR
EDGE_FRAMES = 4  # half the 2048-sample window, in hops


@dataclass(frozen=True)
class Density:
    """How many peaks per second to keep and how many partners each anchor gets."""

    peaks_per_second: float
    fan_out: int


# Measured on the dev clips (5-s excerpts, 10 dB): 7 peaks/s x 4 stored 86% identified at 1.5 MB/h,
# 10 x 5 94% at 2.8 MB/h, 12 x 6 97% at 3.9 MB/h. In a room, among other music, 12 x 6 left too few
# landmarks on the true track (docs/benchmarks.md): 16 x 8 stores 1.7 times as many (5.6 against 3.3 MB/h
# on 15 h of game music). The query side costs no storage: denser still.
REFERENCE = Density(peaks_per_second=16.0, fan_out=8)  # stored
QUERY = Density(peaks_per_second=30.0, fan_out=12)  # a recording is short: be generous


@dataclass(frozen=True)
class Maxima:
    """The prominent local maxima of one spectrogram, scored, before the strongest few per second are kept.

    Finding them is nearly all of ``peaks``'s work, and a query keeps two densities of the same ones (its
    own and the speed screening's): found once, each density is a sort.
    """

    t: np.ndarray  # frames
    f: np.ndarray  # bins, counted from F_LO
    score: np.ndarray

    def strongest(self, density: Density) -> tuple[np.ndarray, np.ndarray]:
        """(frames, bins) of the ``density.peaks_per_second`` best scores of each second, in time order.

        Second by second, so quiet passages keep their share.
        """
        block = max(1, round(1.0 / FRAME_SECONDS))
        per_block = max(1, round(density.peaks_per_second))
        blocks = self.t // block
        order = np.lexsort((-self.score, blocks))
        f, t, blocks = self.f[order], self.t[order], blocks[order]
        rank = np.arange(blocks.size) - np.searchsorted(blocks, blocks, side="left")
        f, t = f[rank < per_block], t[rank < per_block]
        order = np.lexsort((f, t))
        return t[order], f[order] + F_LO


def maxima(power: np.ndarray, *, bins: int = PEAK_BINS, frames: int = PEAK_FRAMES) -> Maxima:
    """The local maxima of a power spectrogram (bins, frames) that stand out of their background: each
    the greatest of its neighbourhood of ``bins`` x ``frames`` (odd; a query's second look narrows it).

    The log power is first averaged over ``SMOOTH_FRAMES``: a sustained note is nearly flat in time, so
    where its maximum falls is decided by noise and reverberation frame by frame; smoothed, it falls
    where the note really swells (measured on sparse, sustained and reverberant music: more of a
    recording's peaks land on the track's, at no cost in hashes or storage).
    """
    band = power[F_LO:F_HI]
    floor = 1e-8 * float(band.mean()) + 1e-30  # relative, so the peaks do not depend on the level
    s = uniform_filter1d(np.log(band + floor, dtype=np.float32), SMOOTH_FRAMES, axis=1, mode="nearest")
    n_frames = s.shape[1]
    if n_frames < 3:
        return Maxima(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))
    local_max = _running_max(_running_max(s, bins, axis=0), frames, axis=1)
    f, t = np.nonzero(s == local_max)
    # The first and last frames see the signal's cut (zero padding): an artificial onset, not music.
    inside = (t >= EDGE_FRAMES) & (t < n_frames - EDGE_FRAMES)
    f, t = f[inside], t[inside]
    # Prominence over a coarse background: a noise floor raises both, a level change shifts both.
    prominence = s[f, t] - _background(s)[f // BG_BINS, t // BG_FRAMES]
    keep = prominence > 0.5
    f, t = f[keep], t[keep]
    # Scored by prominence and by level alike: a faint partial standing out of a faint neighbourhood is
    # the first to drown in noise or in a room's reverberation, so on sparse music, where there are few
    # loud peaks, ranking by prominence alone keeps many that no recording will show.
    score = prominence[keep] + LEVEL_WEIGHT * s[f, t]  # within a second, a gain shifts every peak alike
    return Maxima(t, f, score)


def peaks(power: np.ndarray, density: Density = REFERENCE) -> tuple[np.ndarray, np.ndarray]:
    """(frames, bins) of the most prominent local maxima of a power spectrogram (bins, frames): the
    strongest ``density.peaks_per_second`` of each second (``maxima``, ``Maxima.strongest``)."""
    return maxima(power).strongest(density)


def refine(power: np.ndarray, t: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Peaks (frames, bins) to a fraction of a frame and of a bin: the top of a parabola through the log
    power and its two neighbours, in time and in frequency, within half a step either way."""
    s = np.log(power + 1e-8 * float(power[F_LO:F_HI].mean()) + 1e-30)
    last_bin, last_frame = s.shape[0] - 1, s.shape[1] - 1
    here = s[f, t]

    def vertex(before: np.ndarray, after: np.ndarray) -> np.ndarray:
        curve = before - 2 * here + after
        shift = np.divide(0.5 * (before - after), curve, out=np.zeros_like(here), where=curve < 0)
        return np.clip(shift, -0.5, 0.5)

    dt = vertex(s[f, np.maximum(t - 1, 0)], s[f, np.minimum(t + 1, last_frame)])
    df = vertex(s[np.maximum(f - 1, 0), t], s[np.minimum(f + 1, last_bin), t])
    return t + dt, f + df


BG_BINS, BG_FRAMES = 24, 16  # background cells (260 Hz x 370 ms), averaged over 3 x 3 cells


def _background(s: np.ndarray) -> np.ndarray:
    """Mean log level around each cell of a coarse grid over ``s``."""
    nb, nt = -(-s.shape[0] // BG_BINS), -(-s.shape[1] // BG_FRAMES)
    padded = np.pad(s, ((0, nb * BG_BINS - s.shape[0]), (0, nt * BG_FRAMES - s.shape[1])), mode="edge")
    cells = padded.reshape(nb, BG_BINS, nt, BG_FRAMES).mean(axis=(1, 3))
    return uniform_filter1d(uniform_filter1d(cells, 3, axis=0, mode="nearest"), 3, axis=1, mode="nearest")


def _running_max(x: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Maximum over a centred window of odd ``size`` along ``axis``, in log2(size) passes of slices."""
    m = np.moveaxis(x, axis, 0)
    half = size // 2
    fill = np.full((half, *m.shape[1:]), -np.inf, dtype=m.dtype)
    m = np.concatenate([fill, m, fill])
    width = 1
    while 2 * width <= size:
        m = np.maximum(m[:-width], m[width:])
        width *= 2
    n = x.shape[axis]
    return np.moveaxis(np.maximum(m[:n], m[size - width : size - width + n]), 0, axis)


def pair(t: np.ndarray, f: np.ndarray, fan_out: int) -> tuple[np.ndarray, np.ndarray]:
    """(hashes uint32, anchor frames int64): each peak with the next ``fan_out`` peaks of its target zone."""
    n = t.size
    if n < 2:
        return np.zeros(0, np.uint32), np.zeros(0, np.int64)
    steps = min(3 * fan_out, n - 1)  # candidates in time order; the zone check filters them
    idx = np.arange(n)[:, None] + np.arange(1, steps + 1)[None, :]
    inside = idx < n
    idx = np.minimum(idx, n - 1)
    dt = t[idx] - t[:, None]
    df = f[idx] - f[:, None]
    valid = inside & (dt >= 1) & (dt <= DT_MAX) & (np.abs(df) <= DF_MAX)
    valid &= np.cumsum(valid, axis=1) <= fan_out
    h = (f[:, None] << 13) | ((df + DF_MAX) << 6) | dt
    return h[valid].astype(np.uint32), np.broadcast_to(t[:, None], idx.shape)[valid]


def landmarks(
    power: np.ndarray, *, density: Density = REFERENCE, frame_offset: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(hashes uint32, frames uint32) of one chunk's power spectrogram, frames counted from the track start."""
    t, f = peaks(power, density)
    h, at = pair(t, f, density.fan_out)
    return h, (at + frame_offset).astype(np.uint32)


def of_signal(y: np.ndarray, *, density: Density = REFERENCE) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks of a mono float32 signal at ``SR``."""
    return landmarks(Spectra(y, SR).stft_power, density=density)


def pack(hashes: np.ndarray, frames: np.ndarray) -> bytes:
    """The stored form: uint32 (hash, frame) pairs sorted by frame."""
    order = np.lexsort((hashes, frames))
    return np.stack([hashes[order], frames[order]], axis=1).astype("<u4").tobytes()


def unpack(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    a = np.frombuffer(blob, dtype="<u4").reshape(-1, 2)
    return a[:, 0].astype(np.uint32), a[:, 1].astype(np.uint32)
