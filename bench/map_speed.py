"""The sonic map at 10^4 tracks: `synesthete map` end to end, cold and cached, and the page's size.

    .venv/bin/python bench/map_speed.py [--tracks 10000] [--methods umap pca] [--dims 3]

A library is filled with synthetic clustered vectors of every extractor the default model reads (their
real dimensions; ``synthetic_vectors`` of bench/library_speed.py) and tags (40 genres, 800 artists), then ``synesthete map --method M --dims D --out map.html`` runs in a fresh
process: wall and CPU seconds, the projection's own seconds, and the page's size; then once more, when
the projection comes from the catalog's cache. Add ``tsne`` to ``--methods`` for t-SNE (minutes).
Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from synesthete import Library

sys.path.insert(0, str(Path(__file__).parent))
from library_speed import synthetic_vectors


def fill(folder: Path, n: int, seed: int = 0) -> None:
    """n tracks with clustered vectors of every model the default reads, and plausible tags, straight into the catalog."""
    rng = np.random.default_rng(seed)
    which = rng.integers(0, 40, n)
    with Library(folder) as lib:
        conn = lib.catalog.conn
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO tracks (id, path, content_hash, size, mtime, title, artist, album, genre, duration,"
            " added_at, analysed_at) VALUES (?, ?, '', 0, 0, ?, ?, ?, ?, 180, 0, 0)",
            [
                (
                    i + 1,
                    f"/music/Artist {i % 800}/Album {i % 1500}/{i:05d} song.flac",
                    f"Song number {i}",
                    f"Artist {i % 800}",
                    f"Album {i % 1500}",
                    f"genre {which[i]}",
                )
                for i in range(n)
            ],
        )
        for name, (version, vectors) in synthetic_vectors(which, rng).items():
            conn.executemany(
                "INSERT INTO vectors VALUES (?, ?, ?, ?)",
                [(i + 1, name, version, v.tobytes()) for i, v in enumerate(vectors)],
            )
        conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
        conn.execute("COMMIT")


def run_map(folder: Path, method: str, dims: int, out: Path) -> dict:
    """One `synesthete map` in a fresh process: wall and CPU seconds, and what the map document says."""
    cli = [sys.executable, "-m", "synesthete.cli", "--library", str(folder), "map"]
    argv = [
        *cli,
        "--method",
        method,
        "--dims",
        str(dims),
        "--out",
        str(out),
        "--json",
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    doc = json.loads(done.stdout)
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2),
        "projection_s": doc["seconds"],
        "cached": doc["cached"],
        "points": len(doc["points"]),
        "bytes": out.stat().st_size,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=10_000)
    parser.add_argument("--methods", nargs="+", default=["umap", "pca"], choices=["umap", "tsne", "pca"])
    parser.add_argument("--dims", type=int, default=3, choices=(2, 3))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "library"
        fill(folder, args.tracks)
        for method in args.methods:
            out = Path(tmp) / f"map-{method}.html"
            first = run_map(folder, method, args.dims, out)
            again = run_map(folder, method, args.dims, out)
            rows.append(
                {"method": method, "dims": args.dims, "tracks": args.tracks, "first": first, "cached": again}
            )
    print(
        f"{'method':<6} {'dims':>4} {'tracks':>7} {'wall s':>7} {'CPU s':>6} {'proj s':>7} {'cached wall s':>14} {'page MB':>8}"
    )
    for r in rows:
        f, c = r["first"], r["cached"]
        print(
            f"{r['method']:<6} {r['dims']:>4} {r['tracks']:>7} {f['wall_s']:7.1f} {f['cpu_s']:6.1f}"
            f" {f['projection_s']:7.1f} {c['wall_s']:14.1f} {f['bytes'] / 1e6:8.2f}"
        )
    print(json.dumps({"benchmark": "map_speed", "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
