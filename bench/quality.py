"""Retrieval quality per model on a labelled folder: precision@k and mAP, the query excluded.

    .venv/bin/python bench/quality.py [--labels ../shared/data/dev/labels.csv] [-k 10] [--library DIR]

The labels file has a ``path`` column (relative to the file) and a ``group`` column. The folder is scanned
into a library (a temporary one unless ``--library`` names one to reuse), then every model is evaluated
through ``Library.evaluate``, the same search space the engine answers from. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from pathlib import Path

from synesthete import Library

DEFAULT_LABELS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dev" / "labels.csv"


def read_labels(path: Path) -> dict[str, str]:
    """Absolute file path -> group."""
    with open(path, newline="") as fh:
        return {str((path.parent / row["path"]).resolve()): row["group"] for row in csv.DictReader(fh)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, default=DEFAULT_LABELS)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--library", type=Path, default=None, help="reuse this library folder (kept)")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    labels = read_labels(args.labels)
    with tempfile.TemporaryDirectory() as tmp, Library(args.library or Path(tmp) / "library") as lib:
        report = lib.scan(sorted({str(Path(p).parent) for p in labels}), workers=args.workers, progress=True)
        if report.failed:
            print(f"{len(report.failed)} files failed: {report.failed[:3]}", file=sys.stderr)
        by_id = {t.id: labels[t.path] for t in lib.tracks() if t.path in labels}
        rows = [lib.evaluate(by_id, k=args.k, model=m) for m in lib.models()]
    groups = len(set(by_id.values()))
    chance = sum((n := list(by_id.values()).count(g)) * (n - 1) for g in set(by_id.values())) / (
        len(by_id) * (len(by_id) - 1)
    )
    print(f"{args.labels}: {len(by_id)} tracks, {groups} groups, chance precision ~{chance:.3f}")
    print(f"{'model':<20} {'P@' + str(args.k):>7} {'mAP':>7}")
    for r in rows:
        print(f"{r['model']:<20} {r['precision_at_k']:7.3f} {r['map']:7.3f}")
    doc = {"labels": str(args.labels), "tracks": len(by_id), "groups": groups, "k": args.k, "chance": chance}
    doc["models"] = {r["model"]: {"precision_at_k": r["precision_at_k"], "map": r["map"]} for r in rows}
    print(json.dumps(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
