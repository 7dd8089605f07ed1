"""Checks that turn unusable signals into typed errors naming the file and the reason.

The header is judged before anything is decoded (``check_format``, ``check_declared_duration``), each
decoded chunk as it comes (``check_chunk``: finite, in range), and the length and level of the whole
signal only after its last chunk (``LevelMeter``), since chunks are analysed as they stream: a caller
drops whatever it computed from a file that fails at the end.
"""

from __future__ import annotations

import numpy as np

from synesthete.exceptions import AudioError, DecodeError, TooShortError

MIN_SECONDS = 1.0
MAX_SECONDS = 4 * 3600.0
SILENCE_DBFS = -70.0
MIN_RATE = 2000  # below this there is no music left to analyse (content up to 1 kHz)
MAX_RATE = 768_000
MAX_CHANNELS = 64
MAX_PEAK = 100.0  # +40 dBFS: float files can go a little over full scale, never this far


def check_format(path: str, rate: int, channels: int) -> None:
    """Refuse headers no real recording has, before they size any buffer."""
    if not MIN_RATE <= rate <= MAX_RATE:
        raise DecodeError(
            path, f"absurd sample rate: {rate} Hz (between {MIN_RATE} and {MAX_RATE} Hz is supported)"
        )
    if channels > MAX_CHANNELS:
        raise DecodeError(path, f"absurd channel count: {channels} (at most {MAX_CHANNELS} are supported)")


def check_declared_duration(path: str, seconds: float | None) -> None:
    """Refuse absurd lengths from the header before decoding hours of audio."""
    if seconds is not None and seconds > MAX_SECONDS:
        raise AudioError(path, f"too long: {seconds / 3600:.1f} h (the limit is {MAX_SECONDS / 3600:.0f} h)")


def check_chunk(path: str, chunk: np.ndarray) -> None:
    """Every decoded chunk must be finite: NaN or infinity would poison every statistic.

    Two reductions and no temporary arrays (0.37 -> 0.20 ms per 30 s out of cache): a NaN makes both
    the maximum and the minimum NaN, +inf the maximum, -inf the minimum, so the extremes are finite
    exactly when every sample is, and the larger of their magnitudes is the peak.
    """
    high, low = float(chunk.max(initial=0.0)), float(chunk.min(initial=0.0))
    if not (np.isfinite(high) and np.isfinite(low)):
        raise AudioError(path, "the audio contains non-finite samples (NaN or infinity)")
    peak = max(high, -low)
    if peak > MAX_PEAK:
        raise AudioError(
            path,
            f"samples out of range: the peak is {peak:.3g} (full scale is 1; more than {MAX_PEAK:g} is garbage)",
        )


class LevelMeter:
    """Accumulates length and energy over chunks, to judge the whole signal at the end."""

    def __init__(self) -> None:
        self.samples = 0
        self.energy = 0.0

    def add(self, chunk: np.ndarray) -> None:
        self.samples += chunk.size
        self.energy += float(np.dot(chunk, chunk))

    def check(self, path: str, sr: int) -> None:
        seconds = self.samples / sr
        if self.samples == 0:
            raise TooShortError(path, "no audio samples (empty stream)")
        if seconds < MIN_SECONDS:
            raise TooShortError(path, f"too short: {seconds:.2f} s (at least {MIN_SECONDS:g} s is needed)")
        rms = np.sqrt(self.energy / self.samples)
        if rms <= 10 ** (SILENCE_DBFS / 20):
            level = "digital silence" if rms == 0 else f"{20 * np.log10(rms):.0f} dBFS"
            raise AudioError(path, f"silent: the level is {level} (below {SILENCE_DBFS:g} dBFS)")
