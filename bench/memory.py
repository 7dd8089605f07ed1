"""Peak memory of analysing one long file: the decoder streams, so a 2-hour mix must stay near 500 MB.

    .venv/bin/python bench/memory.py [--hours 2]

Writes a long FLAC (44.1 kHz stereo, generated block by block), then analyses it with every extractor
in a fresh process and reports that process's peak resident memory. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

CHILD = """
import resource, sys, time
from synesthete.analysis import analyze
start = time.process_time()
a = analyze(sys.argv[1])
print(a.duration, time.process_time() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""
BASELINE = """
import resource
import synesthete.analysis, synesthete.features.registry
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def write_long(path: Path, hours: float, sr: int = 44100) -> None:
    rng = np.random.default_rng(0)
    block = sr * 60
    with sf.SoundFile(path, "w", samplerate=sr, channels=2, format="FLAC") as f:
        for minute in range(int(hours * 60)):
            t = (np.arange(block) + minute * block) / sr
            y = 0.2 * np.sin(2 * np.pi * (110 + minute % 24 * 10) * t) + 0.05 * rng.standard_normal(block)
            f.write(np.stack([y, y], axis=1).astype(np.float32))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=2.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.flac"
        start = time.perf_counter()
        write_long(path, args.hours)
        print(f"wrote {args.hours:g} h of audio in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        base = float(
            subprocess.run(
                [sys.executable, "-c", BASELINE], capture_output=True, text=True, check=True
            ).stdout
        )
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True
        )
        duration, cpu, peak = (float(x) for x in out.stdout.split())
    doc = {"hours": duration / 3600, "cpu_s": cpu, "peak_rss_mb": peak, "baseline_rss_mb": base}
    print(
        f"{duration / 3600:.2f} h analysed in {cpu:.0f} CPU-s; peak RSS {peak:.0f} MB (imports alone: {base:.0f} MB)"
    )
    print(json.dumps(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
