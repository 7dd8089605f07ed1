"""`synesthete demo`."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from synesthete.api import Library
from synesthete.audio import SR, decode


def cmd_demo(lib: Library, args: argparse.Namespace) -> int:
    return run_demo(lib, workers=args.workers, per_style=args.per_style)


def run_demo(lib: Library, *, workers: int | None = None, per_style: int = 15) -> int:
    from synesthete.demo import DEMO_FOLDER, ensure_demo_audio  # scipy.signal: ~1 s, only for the demo

    audio = ensure_demo_audio(lib.folder / DEMO_FOLDER, per_style=per_style)
    start = time.perf_counter()
    report = lib.scan([audio], workers=workers, progress=True)
    took = time.perf_counter() - start
    tracks = lib.tracks()
    styles = sorted({t.genre for t in tracks if t.genre})
    print(
        f"\nAnalysed {report.added + report.updated} new tracks in {took:.1f} s; the library holds {len(tracks)}"
        f" tracks in {len(styles)} styles ({lib.folder})."
    )
    labels = {t.id: t.genre for t in tracks if t.genre}
    print("\nHow often the 10 nearest tracks share the query's style (precision@10), per model:")
    for model in lib.models():
        scores = lib.evaluate(labels, k=10, model=model)
        print(f"  {model:<12} precision@10 {scores['precision_at_k']:.3f}   mAP {scores['map']:.3f}")
    print("\nWhat sounds like what:")
    examples = [
        next(t for t in tracks if t.genre == style) for style in styles[:: max(1, len(styles) // 3)][:3]
    ]
    for track in examples:
        print(f"\n  {track.label}  [{track.genre}]")
        for rank, m in enumerate(lib.similar(track.id, k=5), 1):
            print(f"    {rank}. {m.score:+.3f}  {m.track.label}  [{m.track.genre}]")
    recording = _recording(lib, examples[-1])
    cmd = f"synesthete --library {lib.folder}"
    title = examples[0].title
    print(f"""
Try next:
  {cmd} similar "{title}" --explain
  {cmd} similar --file tests/data/clip.ogg --json
  {cmd} identify --file {recording}
  {cmd} playlist radio "{title}" -n 20 --out radio.m3u8
  {cmd} playlist journey "{examples[0].title}" "{examples[-1].title}" -n 12
  {cmd} map --out map.html

The web page (search, upload, record from the microphone, playlists, map):
  {cmd} serve        then open http://127.0.0.1:8000/""")
    return 0


def _recording(lib: Library, track) -> Path:
    """Play 5 s of ``track`` 2% fast through noise (10 dB) at 16 kHz, as a phone would, and recognise it."""
    y = decode(track.path)
    start = min(20 * SR, max(0, y.size - 5 * SR))
    part = y[start : start + 5 * SR]
    noise = np.random.default_rng(0).standard_normal(part.size).astype(np.float32)
    heard = soxr.resample(part + noise * np.sqrt(np.mean(part**2) / 10), SR * 1.02, 16000)
    path = lib.folder / "demo-recording.wav"
    sf.write(path, heard, 16000)
    found = lib.identify(path)
    print(f"\nA phone recording of 5 s from {start / SR:.0f} s of '{track.label}', 2% fast, noise at 10 dB:")
    if found is None:
        print("  not recognised")
    else:
        print(
            f"  this is {found.track.label}, from {found.offset_s:.1f} s, at speed {found.speed:.3f}"
            f" (confidence {found.confidence:.2f})"
        )
    return path


def register(command) -> None:
    p = command("demo", cmd_demo, "generate the demo collection, scan it and show what sounds like what")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--per-style", type=int, default=15, help="pieces per synthetic style (default 15)")
