"""Hearing a weak verdict out: does the catalogued audio, where the verdict places the recording, sound
like it?

A verdict of a few moments of agreement (4 to 6), or not clearly ahead of its runner-up, is refused,
because chance among many tracks gives as much. Sparse, sustained or reverberant music often gives no more for the right track: its few stored
peaks do not survive the noise. But the recording's *dense* peaks (every local maximum, not the few per
second the hashes keep) still lie on the track's own spectral peaks at that time and frequency, while
for a chance candidate they fall there no more often than anywhere else. So the candidate's passage is
decoded from its file and the recording's peaks are laid on the passage's: at the verdict's alignment,
and shifted in time and in frequency, which gives the chance level for that very pair of sounds (a busy
passage catches many peaks by chance, a held chord matches at any time but not at any frequency). The
verdict is heard when its alignment stands far above both chance levels (``TIME_Z``, ``FREQ_Z``).
"""

from __future__ import annotations

import numpy as np

from synesthete.features.base import SR, Spectra
from synesthete.fingerprint.landmarks import FRAME_SECONDS, maxima

PAD_SECONDS = 2.0  # passage decoded either side of the recording's place: room for the time shifts
PEAK_BINS, PEAK_FRAMES = 7, 5  # every peak of 75 Hz x 120 ms, so dense that chance agreement is measurable
TIME_SHIFTS = np.array([s for s in range(-80, 81, 8) if abs(s) >= 16])  # frames: 0.37-1.9 s off
FREQ_SHIFTS = np.array([s for s in range(-29, 30, 2) if abs(s) >= 5])  # bins: 54-312 Hz off
# How far the alignment's agreement must stand above each chance level, in its standard deviations.
# Chosen on development packages of game music (docs/benchmarks.md: 1,832 uncatalogued excerpts at 10 dB
# and in a room, among 240 other tracks): the lowest pair that no uncatalogued excerpt reached, but in
# piano exercises that share passages with the track named; it hears 23 of the 56 weak verdicts that
# named the right track (15 of those ``matcher.HEARD_LEAD`` ahead). At 6 and 2.5, 5 uncatalogued
# excerpts were heard.
TIME_Z, FREQ_Z = 3.5, 7.0
MIN_PEAKS, MIN_SHIFTS = 20, 6  # fewer: too little to tell


def agreement(power: np.ndarray, passage: np.ndarray, lead_seconds: float) -> tuple[float, float]:
    """How far the recording's peaks agree with the passage's at ``lead_seconds`` into it, above the
    agreement at other times and at other frequencies: (time z, frequency z), each in standard
    deviations of those chance levels (0 where there is too little to tell). ``power``: the recording's
    power spectrogram (``Spectra.stft_power``, at the track's speed), which the matcher has already;
    the passage mono at ``SR``.
    """
    q = maxima(power, bins=PEAK_BINS, frames=PEAK_FRAMES)
    c = maxima(Spectra(passage, SR).stft_power, bins=PEAK_BINS, frames=PEAK_FRAMES)
    if q.t.size < MIN_PEAKS or c.t.size == 0:
        return 0.0, 0.0
    margin = int(FREQ_SHIFTS.max()) + 2  # rows either side, so that shifted peaks stay inside
    frames = int(c.t.max()) + 2
    near = np.zeros((int(max(q.f.max(), c.f.max())) + 1 + 2 * margin, frames), dtype=bool)
    for df in (-1, 0, 1):  # the passage's peaks, each widened by a bin and a frame either way
        for dt in (-1, 0, 1):
            near[c.f + df + margin, np.clip(c.t + dt, 0, frames - 1)] = True
    lead = round(lead_seconds / FRAME_SECONDS)
    length = power.shape[1]

    def share(dt: int, df: int = 0) -> float:
        return float(np.mean(near[q.f + df + margin, q.t + lead + dt]))

    if lead < 1 or lead + 1 + length > frames:
        return 0.0, 0.0
    aligned = max(share(dt) for dt in (-1, 0, 1))
    times = [share(dt) for dt in TIME_SHIFTS if lead + dt >= 0 and lead + dt + length <= frames]
    freqs = [share(0, df) for df in FREQ_SHIFTS]
    if len(times) < MIN_SHIFTS:
        return 0.0, 0.0
    time_z, freq_z = ((aligned - np.mean(x)) / (np.std(x) + 1e-3) for x in (times, freqs))
    return float(time_z), float(freq_z)


def hears(power: np.ndarray, passage: np.ndarray, lead_seconds: float) -> bool:
    """Whether the passage sounds like the recording (``agreement`` above ``TIME_Z`` and ``FREQ_Z``)."""
    time_z, freq_z = agreement(power, passage, lead_seconds)
    return time_z >= TIME_Z and freq_z >= FREQ_Z
