"""Writes the small committed fixtures in this folder (run once; the files are committed).

    .venv/bin/python tests/data/make_fixtures.py

One short musical clip in every format the decoder must read, and the bad files a real collection holds.
"""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import soundfile as sf

HERE = Path(__file__).parent
SR = 22050


def clip(seconds: float = 3.0, sr: int = SR) -> np.ndarray:
    """A stereo chord with plucked notes and a noise hi-hat: enough texture for every extractor."""
    rng = np.random.default_rng(7)
    t = np.arange(int(seconds * sr)) / sr
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.18, 329.63)) / 3
    plucks = np.zeros_like(t)
    for start, f in zip(np.arange(0, seconds, 0.25), rng.choice([440, 494, 554, 659], 64), strict=False):
        i = int(start * sr)
        tt = t[: len(t) - i]
        plucks[i:] += np.sin(2 * np.pi * f * tt) * np.exp(-tt * 12)
    hats = rng.standard_normal(t.size) * (np.sin(2 * np.pi * 4 * t) > 0.95) * 0.3
    left = 0.4 * chord + 0.3 * plucks + hats
    right = 0.4 * chord + 0.2 * plucks + hats
    y = np.stack([left, right], axis=1)
    return (0.8 * y / np.abs(y).max()).astype(np.float32)


def write_m4a(path: Path, y: np.ndarray, sr: int) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=sr, layout="stereo")
        frame_size = 1024
        for start in range(0, len(y), frame_size):
            block = np.ascontiguousarray(y[start : start + frame_size].T)
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
            frame.sample_rate = sr
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def main() -> None:
    y = clip()
    mono = y[:, :1]
    sf.write(HERE / "clip.wav", mono, SR, subtype="PCM_16")
    sf.write(HERE / "clip.flac", y, SR)
    sf.write(HERE / "clip.ogg", y, SR, format="OGG", subtype="VORBIS")
    sf.write(HERE / "clip.mp3", y, SR, format="MP3")
    sf.write(HERE / "clip.aiff", mono, SR, format="AIFF")
    y48 = clip(sr=48000)
    sf.write(HERE / "clip.opus", y48, 48000, format="OGG", subtype="OPUS")
    write_m4a(HERE / "clip.m4a", clip(sr=44100), 44100)
    # Bad input a real collection holds.
    (HERE / "empty.mp3").write_bytes(b"")
    (HERE / "random.mp3").write_bytes(np.random.default_rng(1).bytes(4096))
    (HERE / "text.flac").write_text("This is a text file with an audio file's name.\n" * 20)
    sf.write(HERE / "short.wav", y[: int(0.2 * SR)], SR, subtype="PCM_16")
    sf.write(HERE / "silence.wav", np.zeros((2 * SR, 1), np.float32), SR, subtype="PCM_16")
    bad = y[: 2 * SR, 0].copy()
    bad[1000:1100] = np.nan
    sf.write(HERE / "nan.wav", bad, SR, subtype="FLOAT")
    long = np.tile(y, (3, 1))  # 9 s, so a cut at 40% is clearly truncated
    for fmt in ("mp3", "flac"):
        full = HERE / f"_full.{fmt}"
        sf.write(full, long, SR, format=fmt.upper())
        data = full.read_bytes()
        (HERE / f"truncated.{fmt}").write_bytes(data[: len(data) * 4 // 10])
        os.remove(full)


if __name__ == "__main__":
    main()
