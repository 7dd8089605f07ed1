"""Retrieval quality per model on a labelled folder: precision@k, mAP and nDCG@k, the query excluded.

    .venv/bin/python bench/quality.py [--labels ../shared/data/dev/labels.csv] [-k 10] [--library DIR]
                                      [--filter-by artist|album]

The labels file has a ``path`` column (relative to the file) and a ``group`` column. The labelled files are
scanned into a library (a temporary one unless ``--library`` names one to reuse), then every model is
evaluated through ``Library.evaluate_labels``: the same code as ``synesthete evaluate``, over the same
search space the engine answers from. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from synesthete import Library

DEFAULT_LABELS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dev" / "labels.csv"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, default=DEFAULT_LABELS)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--library", type=Path, default=None, help="reuse this library folder (kept)")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--filter-by", choices=("artist", "album"), default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Library(args.library or Path(tmp) / "library") as lib:
        doc = lib.evaluate_labels(
            args.labels, k=args.k, filter_by=args.filter_by, workers=args.workers, progress=True
        )
    if doc["failed"] or doc["not_found"]:
        print(f"{len(doc['failed'])} files failed, {len(doc['not_found'])} not found", file=sys.stderr)
    print(
        f"{args.labels}: {doc['tracks']} tracks, {doc['groups']} groups, chance precision ~{doc['chance']:.3f}"
    )
    print(f"{'model':<20} {'P@' + str(args.k):>7} {'mAP':>7} {'nDCG@' + str(args.k):>8}")
    for model, r in doc["models"].items():
        print(f"{model:<20} {r['precision_at_k']:7.3f} {r['map']:7.3f} {r['ndcg_at_k']:8.3f}")
    out = {key: doc[key] for key in ("labels", "tracks", "groups", "k", "chance", "filter_by")}
    out["models"] = {
        model: {key: r[key] for key in ("precision_at_k", "map", "ndcg_at_k")}
        | {"hubness": r["hubness"]["skewness"]}
        for model, r in doc["models"].items()
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
