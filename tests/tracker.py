"""Tracker modules written from scratch for the tests: a 4-channel ProTracker MOD ("M.K.").

The format is small and fixed: a title, 31 sample headers, the order of patterns, the patterns (64 rows of
4 channels of 4-byte cells) and signed 8-bit sample data. A sample played at Amiga period P is read at
PAL_CLOCK / (2 P) samples a second, so a one-cycle waveform of ``CYCLE`` samples sounds at that rate over
``CYCLE``: period 428 (the note ProTracker calls C-2) gives 259.0 Hz.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

PAL_CLOCK = 7_093_789.2
CYCLE = 32
ROW_SECONDS = 6 * 2.5 / 125  # the default speed (6 ticks a row) and tempo (125: a tick is 2.5 / 125 s)
# ProTracker's periods of three octaves, C-1 .. B-3.
PERIODS = (
    856, 808, 762, 720, 678, 640, 604, 570, 538, 508, 480, 453,
    428, 404, 381, 360, 339, 320, 302, 285, 269, 254, 240, 226,
    214, 202, 190, 180, 170, 160, 151, 143, 135, 127, 120, 113,
)  # fmt: skip


def pitch(period: int) -> float:
    """The frequency a one-cycle sample sounds at, played at ``period``."""
    return PAL_CLOCK / (2 * period) / CYCLE


def _cycle(harmonics: tuple[float, ...]) -> bytes:
    t = np.arange(CYCLE) / CYCLE
    wave = sum(a * np.sin(2 * np.pi * (k + 1) * t) for k, a in enumerate(harmonics))
    wave = np.round(100 * wave / np.abs(wave).max()).astype(np.int8)
    return wave.tobytes()


def write_mod(path: Path, rows: list[list[int | None]], *, title: str = "synesthete test") -> Path:
    """A module playing ``rows`` (each row: a period or None per channel, up to 4 channels) with a bright
    looped waveform in channel 1 and 3 and a round one in channels 2 and 4. Rows fill 64-row patterns,
    played in order."""
    samples = [_cycle((1.0, 0.5, 0.33, 0.25, 0.2)), _cycle((1.0, 0.1))]
    headers = b""
    for i in range(31):
        if i < len(samples):  # length, finetune, volume, loop start, loop length (lengths in words)
            words = CYCLE // 2
            headers += f"wave{i + 1}".encode().ljust(22, b"\0") + struct.pack(
                ">HbBHH", words, 0, 48, 0, words
            )
        else:
            headers += bytes(22) + struct.pack(">HbBHH", 0, 0, 0, 0, 1)
    patterns = []
    for start in range(0, len(rows), 64):
        cells = b""
        for row in (rows[start : start + 64] + [[]] * 64)[:64]:
            for channel in range(4):
                period = row[channel] if channel < len(row) else None
                if period is None:
                    cells += bytes(4)
                else:
                    sample = 1 + channel % 2
                    cells += bytes([(sample & 0xF0) | (period >> 8), period & 0xFF, (sample & 0x0F) << 4, 0])
        patterns.append(cells)
    order = bytes(range(len(patterns))).ljust(128, b"\0")
    body = title.encode()[:20].ljust(20, b"\0") + headers + bytes([len(patterns), 127]) + order + b"M.K."
    path.write_bytes(body + b"".join(patterns) + b"".join(samples))
    return path


def melody(seed: int, n_rows: int) -> list[list[int | None]]:
    """A tune with a bass line: a new note in channel 1 every row or two, and a bass note every 4 rows."""
    rng = np.random.default_rng(seed)
    rows: list[list[int | None]] = []
    for r in range(n_rows):
        lead = int(rng.choice(PERIODS[12:])) if rng.random() < 0.7 else None
        bass = int(rng.choice(PERIODS[:12])) if r % 4 == 0 else None
        rows.append([lead, bass])
    return rows
