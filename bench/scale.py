"""Analysis throughput of the local backend against Ray with 1 and 2 workers, on the same files in one run.

    .venv/bin/python bench/scale.py [--folder ../shared/data/dev/audio] [--limit 24]

Each row scans the same files into a fresh temporary library (the folder is only read). ``wall`` is the
whole scan (for Ray: starting the local head too); ``steady`` is files a second from the first result to
the last, which leaves out starting processes and loading the models (once per process, as the scan
says). Prints a table and one JSON line. The figures depend on the machine's load: print ``uptime``
beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from synesthete import Library
from synesthete.audio.decode import AUDIO_EXTENSIONS
from synesthete.features.registry import EXTRACTORS
from synesthete.fingerprint.landmarks import VERSION
from synesthete.fingerprint.store import FINGERPRINT
from synesthete.library import scan as scanning

DEFAULT_FOLDER = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dev" / "audio"
RUNS = (("local", 1), ("local", 2), ("ray", 1), ("ray", 2))


def files(folder: Path, limit: int) -> list[str]:
    """The first ``limit`` audio files below ``folder``, in a stable order."""
    found = sorted(str(p) for p in folder.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
    return found[:limit]


def measure(paths: list[str], backend: str, workers: int) -> dict:
    """One scan of ``paths`` (what ``Library.scan`` runs, with a hook on each result, so the warm-up can
    be told apart); a fresh library has no trained models, so these are all its extractors."""
    arrived: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, Library(Path(tmp) / "library") as lib:
        versions = {name: e.version for name, e in EXTRACTORS.items()} | {FINGERPRINT: VERSION}
        start = time.monotonic()
        report = scanning.scan(
            lib.catalog,
            paths,
            extractors=versions,
            workers=workers,
            progress=False,
            on_result=lambda _: arrived.append(time.monotonic()),
            backend=backend,
        )
        wall = time.monotonic() - start
    steady = (len(arrived) - 1) / (arrived[-1] - arrived[0]) if len(arrived) > 1 else float("nan")
    return {
        "backend": backend,
        "workers": workers,
        "files": len(paths),
        "failed": len(report.failed),
        "wall_s": round(wall, 1),
        "files_per_s": round(len(paths) / wall, 3),
        "steady_files_per_s": round(steady, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--folder", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--limit", type=int, default=24)
    args = parser.parse_args()
    paths = files(args.folder, args.limit)
    if not paths:
        raise SystemExit(f"{args.folder}: no audio files")
    load = os.getloadavg()
    print(f"{len(paths)} files from {args.folder}; load average {load[0]:.1f} on {os.cpu_count()} cores")
    rows = []
    print(f"{'backend':<8}{'workers':>8}{'wall s':>9}{'files/s':>9}{'steady/s':>10}{'failed':>8}")
    for backend, workers in RUNS:
        row = measure(paths, backend, workers)
        rows.append(row)
        print(
            f"{backend:<8}{workers:>8}{row['wall_s']:>9.1f}{row['files_per_s']:>9.3f}"
            f"{row['steady_files_per_s']:>10.3f}{row['failed']:>8}",
            flush=True,
        )
    by = {(r["backend"], r["workers"]): r["steady_files_per_s"] for r in rows}
    summary = {
        "ray2_over_local2": round(by["ray", 2] / by["local", 2], 3),
        "ray_1_to_2_workers": round(by["ray", 2] / by["ray", 1], 3),
        "load_average_after": round(os.getloadavg()[0], 1),
    }
    print(f"Ray 2 workers / local 2 workers (steady): {summary['ray2_over_local2']:.2f}")
    print(f"Ray 1 -> 2 workers (steady): {summary['ray_1_to_2_workers']:.2f}x")
    print(json.dumps({"rows": rows, **summary, "load_average_before": round(load[0], 1)}))


if __name__ == "__main__":
    main()
