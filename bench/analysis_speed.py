"""Analysis speed on one core: seconds of audio analysed per CPU-second ("x realtime"), beside bliss.

    .venv/bin/python bench/analysis_speed.py [--folder ../shared/data/dev/audio] [--limit 40] [--no-scan]

Reports, on generated audio and on the real clips of the folder: decoding alone, the shared spectral
views, each extractor on top of them, the default model (decode once, the shared views and the fused
model's members: ``analyze`` with those extractors), a whole ``analyze`` (every extractor a scan runs),
the configuration that would follow if the ``cnn`` student replaced musicnn in the default
(``STUDENT``: descriptors + cnn, without and with fingerprints), a one-worker scan into a temporary
library, and bliss (``bliss-audio``, the Python bindings of bliss-rs, its own decoding included) on the
same files in the same run; then the ratio to bliss of each (above 1: faster than bliss). CPU time
counts every thread of the process, so a library that runs threads is not flattered; BLAS and OpenMP are
held to one thread. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from threadpoolctl import threadpool_limits

from synesthete import Library
from synesthete.analysis import analyze
from synesthete.audio import decode
from synesthete.features.base import Spectra
from synesthete.features.registry import EXTRACTORS, FUSION

DEFAULT_FOLDER = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dev" / "audio"
SHARED = ("stft_power", "mel_power", "log_mel")
# The default once the student replaces musicnn in it (issue 11): its figure is here before that day.
STUDENT = ("descriptors", "cnn")


def generated(folder: Path, n: int = 10, seconds: float = 30.0) -> list[Path]:
    """Chords over noise-burst drums, 44.1 kHz stereo Ogg Vorbis: a stand-in for real files."""
    sr = 44100
    t = np.arange(int(seconds * sr)) / sr
    paths = []
    for i in range(n):
        rng = np.random.default_rng(i)
        tone = sum(np.sin(2 * np.pi * f * t) for f in 220 * 2 ** (rng.integers(0, 12, 3) / 12))
        drums = rng.standard_normal(t.size) * (np.sin(2 * np.pi * (2 + i / 5) * t) > 0.9)
        y = 0.2 * tone + 0.3 * drums
        path = folder / f"gen_{i}.ogg"
        sf.write(path, np.stack([y, y * 0.9], axis=1).astype(np.float32), sr)
        paths.append(path)
    return paths


def cpu(fn, *args):
    start = time.process_time()
    out = fn(*args)
    return out, time.process_time() - start


def bliss():
    """bliss-audio's ``Song`` (analyses a file when made), or None when it is not installed."""
    try:
        from bliss_audio import Song
    except ImportError:
        return None
    return Song


def measure(paths: list[Path]) -> dict[str, float]:
    """x realtime for each stage over ``paths``."""
    default = [EXTRACTORS[name] for name in FUSION]
    song = bliss()
    analyze(paths[0])  # warm-up: numba compiles, weights load on the first call
    if song:
        song(str(paths[0]))
    seconds = 0.0
    student = [EXTRACTORS[name] for name in STUDENT]
    stages = ["decode", "spectra", *EXTRACTORS, "default", "student", "student+fp", "analyze"]
    stages += ["bliss"] if song else []
    cost = dict.fromkeys(stages, 0.0)
    for path in paths:
        y, c = cpu(decode, path)
        cost["decode"] += c
        seconds += len(y) / 22050
        spectra = Spectra(y)
        _, c = cpu(lambda s=spectra: [getattr(s, v) for v in SHARED])
        cost["spectra"] += c
        for name, e in EXTRACTORS.items():
            fresh = Spectra(y)
            fresh.__dict__.update({k: spectra.__dict__[k] for k in SHARED})
            _, c = cpu(lambda e=e, s=fresh: e.finish([e.partial(s)]))
            cost[name] += c
        cost["default"] += cpu(analyze, path, default)[1]
        cost["student"] += cpu(analyze, path, student)[1]
        cost["student+fp"] += cpu(lambda p=path: analyze(p, student, fingerprint=True))[1]
        cost["analyze"] += cpu(analyze, path)[1]
        if song:
            cost["bliss"] += cpu(song, str(path))[1]
    out = {"audio_seconds": seconds, **{k: seconds / v for k, v in cost.items()}}
    out["cpu_s_per_30s_clip"] = cost["analyze"] / seconds * 30
    out["default_cpu_s_per_30s_clip"] = cost["default"] / seconds * 30
    if song:
        for name in ("default", "student", "student+fp", "analyze"):
            out[f"{name}_over_bliss"] = cost["bliss"] / cost[name]
    return out


def measure_scan(paths: list[Path]) -> float:
    folder = paths[0].parent
    with tempfile.TemporaryDirectory() as tmp, Library(Path(tmp) / "lib") as lib:
        start = time.process_time()
        lib.scan([folder], workers=1)
        took = time.process_time() - start
        seconds = sum(t.duration for t in lib.tracks())
    return seconds / took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--limit", type=int, default=40, help="files of the folder to time")
    parser.add_argument("--no-scan", action="store_true", help="skip the whole scan into a library")
    args = parser.parse_args()
    threadpool_limits(1)
    if bliss() is None:
        print("bliss-audio is not installed (pip install -e '.[dev]'): no bliss figures", file=sys.stderr)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        gen = generated(Path(tmp))
        results["generated"] = measure(gen)
        if not args.no_scan:
            results["generated"]["scan"] = measure_scan(gen)
    real = sorted(args.folder.rglob("*.ogg"))[: args.limit] if args.folder.exists() else []
    if real:
        results["real"] = measure(real)
    print("x realtime on one core (seconds of audio per CPU-second; extractors on top of shared spectra)")
    print(f"default = decode + shared spectra + {' + '.join(FUSION)}; analyze = every extractor")
    print(f"student = decode + shared spectra + {' + '.join(STUDENT)}; student+fp = with fingerprints too")
    for which, r in results.items():
        print(f"\n{which}: {r['audio_seconds']:.0f} s of audio")
        for k, v in r.items():
            if k == "audio_seconds" or k.endswith("clip") or k.endswith("_over_bliss"):
                continue
            print(f"  {k:<14} {v:8.0f}x")
        print(f"  default:        {r['default_cpu_s_per_30s_clip']:.3f} CPU-s per 30-s clip")
        print(f"  whole analysis: {r['cpu_s_per_30s_clip']:.3f} CPU-s per 30-s clip")
        for name in ("default", "student", "student+fp", "analyze"):
            if f"{name}_over_bliss" in r:
                print(f"  {name + ' / bliss throughput:':<32} {r[f'{name}_over_bliss']:.2f}x")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
