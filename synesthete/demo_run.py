"""`synesthete demo`: generate the synthetic demo collection, analyse it, and show what it finds."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from synesthete.api import Library

DEMO_FOLDER = "demo-audio"


def ensure_demo_audio(folder: Path, *, per_style: int, seed: int = 0) -> Path:
    """Generate the collection once; a marker records what was generated, so a rerun reuses it."""
    from synesthete.demo import generate_demo

    marker = folder / ".complete.json"
    want = {"per_style": per_style, "seed": seed}
    if marker.exists() and json.loads(marker.read_text()) == want:
        return folder
    print(f"generating the demo collection in {folder} ...", file=sys.stderr)
    generate_demo(folder, per_style=per_style, seed=seed, progress=True)
    marker.write_text(json.dumps(want))
    return folder


def run_demo(lib: Library, *, workers: int | None = None, per_style: int = 15) -> int:
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
    lib_arg = f"--library {lib.folder}"
    print(f"""
Try next:
  synesthete {lib_arg} similar "{examples[0].title}"
  synesthete {lib_arg} similar "{examples[0].title}" --dissimilar
  synesthete {lib_arg} similar --file tests/data/clip.ogg --json
  synesthete {lib_arg} status""")
    return 0
