"""Library-level speed: rescan of an unchanged collection, and `similar` latency at 10^4 .. 10^6 tracks.

    .venv/bin/python bench/library_speed.py [--rescan-files 1000] [--sizes 10000 1000000]

Rescan: 1,000 short generated files are scanned once, then the unchanged folder is scanned again and
timed. Latency: a catalog is filled with synthetic clustered ``descriptors`` vectors (the real dimension),
then ``Library.similar`` is timed: the first call (builds or loads the index), a fresh process's first call
(loads the saved index, where one is kept), and 200 warm queries. Prints a table and one JSON line.
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

from synesthete import Library
from synesthete.features.registry import EXTRACTORS, FUSION


def rescan(n_files: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "music"
        folder.mkdir()
        sr = 22050
        t = np.arange(int(1.5 * sr)) / sr
        for i in range(n_files):
            sub = folder / f"album{i // 100:02d}"
            sub.mkdir(exist_ok=True)
            y = 0.3 * np.sin(2 * np.pi * (100 + i) * t) + 0.01 * np.random.default_rng(i).standard_normal(
                t.size
            )
            sf.write(sub / f"track{i:04d}.wav", y.astype(np.float32), sr, subtype="PCM_16")
        with Library(Path(tmp) / "lib") as lib:
            start = time.perf_counter()
            first = lib.scan([folder])
            first_s = time.perf_counter() - start
            start = time.perf_counter()
            again = lib.scan([folder])
            again_s = time.perf_counter() - start
    assert first.added == n_files and again.unchanged == n_files, (first, again)
    return {"files": n_files, "first_scan_s": first_s, "rescan_s": again_s}


def synthetic_vectors(which: np.ndarray, rng: np.random.Generator) -> dict[str, tuple[int, np.ndarray]]:
    """Vectors of every extractor the default model reads, for tracks drawn from clusters ``which``.

    Each cluster is one latent point; each extractor sees it through its own fixed random projection, so
    the members agree on who is near whom, as real extractors roughly do.
    """
    latent = rng.standard_normal((int(which.max()) + 1, 32)).astype(np.float32)
    points = latent[which] + 0.5 * rng.standard_normal((len(which), 32)).astype(np.float32)
    out = {}
    for name in FUSION:
        extractor = EXTRACTORS[name]
        projection = rng.standard_normal((32, extractor.dim)).astype(np.float32)
        noise = 0.3 * rng.standard_normal((len(which), extractor.dim)).astype(np.float32)
        out[name] = (extractor.version, points @ projection + noise)
    return out


def fill(folder: Path, n: int, rng: np.random.Generator) -> None:
    """n synthetic tracks with clustered vectors of the default model, written straight to the catalog."""
    with Library(folder) as lib:
        conn = lib.catalog.conn
        conn.execute("BEGIN")
        for start in range(0, n, 50_000):
            m = min(50_000, n - start)
            ids = range(start + 1, start + m + 1)
            conn.executemany(
                "INSERT INTO tracks (id, path, content_hash, size, mtime, title, duration, added_at, analysed_at)"
                " VALUES (?, ?, '', 0, 0, ?, 180, 0, 0)",
                [(i, f"/synthetic/{i}.flac", f"track {i}") for i in ids],
            )
            for name, (version, vecs) in synthetic_vectors(rng.integers(0, max(n // 500, 8), m), rng).items():
                conn.executemany(
                    "INSERT INTO vectors VALUES (?, ?, ?, ?)",
                    [(i, name, version, v.tobytes()) for i, v in zip(ids, vecs, strict=True)],
                )
        conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
        conn.execute("COMMIT")


FRESH = """
import sys, time
from synesthete import Library
start = time.perf_counter()
with Library(sys.argv[1]) as lib:
    lib.similar(1, k=10)
print(time.perf_counter() - start)
"""


def latency(n: int) -> dict:
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "lib"
        fill(folder, n, rng)
        with Library(folder) as lib:
            start = time.perf_counter()
            lib.similar(1, k=10)
            first = time.perf_counter() - start
            fresh = float(
                subprocess.run(
                    [sys.executable, "-c", FRESH, str(folder)], capture_output=True, text=True, check=True
                ).stdout
            )
            times = []
            for track_id in rng.integers(1, n + 1, 200):
                start = time.perf_counter()
                lib.similar(int(track_id), k=10)
                times.append(time.perf_counter() - start)
            kind = type(lib.space().index).__name__
    ms = np.array(times) * 1000
    return {
        "tracks": n,
        "index": kind,
        "first_query_s": first,
        "fresh_process_s": fresh,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rescan-files", type=int, default=1000)
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    args = parser.parse_args()
    doc = {"rescan": rescan(args.rescan_files) if args.rescan_files else None, "similar": []}
    if doc["rescan"]:
        r = doc["rescan"]
        print(
            f"scan of {r['files']} new files: {r['first_scan_s']:.1f} s; rescan unchanged: {r['rescan_s']:.2f} s"
        )
    print(f"{'tracks':>9} {'index':>12} {'first':>8} {'fresh':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for n in args.sizes:
        r = latency(n)
        doc["similar"].append(r)
        print(
            f"{n:>9} {r['index']:>12} {r['first_query_s']:7.2f}s {r['fresh_process_s']:7.2f}s"
            f" {r['p50_ms']:8.2f} {r['p99_ms']:8.2f}"
        )
    print(json.dumps(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
