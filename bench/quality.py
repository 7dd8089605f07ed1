"""Retrieval quality per model on a labelled folder: precision@k, mAP and nDCG@k, the query excluded.

    .venv/bin/python bench/quality.py [--labels ../shared/data/dev/labels.csv] [-k 10] [--library DIR]
                                      [--filter-by artist|album] [--classic EPOCHS]

The labels file has a ``path`` column (relative to the file) and a ``group`` column. The labelled files are
scanned into a library (a temporary one unless ``--library`` names one to reuse), then every model is
evaluated through ``Library.evaluate_labels``: the same code as ``synesthete evaluate``, over the same
search space the engine answers from. Prints a table and one JSON line.

``--classic EPOCHS`` adds the four classic models (autoencoder, genre, transfer, resnet), trained here for
EPOCHS epochs and scored by cross-validation over three folds of groups (``evaluate/crossval.py``): each query answered
by a model trained without its group's audio and labels; the table marks those figures "held-out". The
``CPU-s/30s`` column is one core's time to analyse a 30-s clip with that model alone (median of 3, its
spectrogram included; the fused model is the sum of its members).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
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
    parser.add_argument("--classic", type=int, default=0, metavar="EPOCHS", help="add the classic models")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Library(args.library or Path(tmp) / "library") as lib:
        doc = lib.evaluate_labels(
            args.labels,
            k=args.k,
            filter_by=args.filter_by,
            workers=args.workers,
            progress=True,
            classic_epochs=args.classic,
        )
        clip = next(iter(lib.catalog.tracks_by_ids([int(next(iter(doc["track_groups"])))]).values())).path
        # keys are "name-v<version>" (the held-out classic models: "name")
        cpu = {model: cpu_seconds(lib, model.rsplit("-v", 1)[0], clip) for model in doc["models"]}
    if doc["failed"] or doc["not_found"]:
        print(f"{len(doc['failed'])} files failed, {len(doc['not_found'])} not found", file=sys.stderr)
    print(
        f"{args.labels}: {doc['tracks']} tracks, {doc['groups']} groups, chance precision ~{doc['chance']:.3f}"
    )
    print(
        f"{'model':<20} {'P@' + str(args.k):>7} {'mAP':>7} {'nDCG@' + str(args.k):>8} {'hubness':>8} {'CPU-s/30s':>9}"
    )
    for model, r in doc["models"].items():
        print(
            f"{model:<20} {r['precision_at_k']:7.3f} {r['map']:7.3f} {r['ndcg_at_k']:8.3f} "
            f"{r['hubness']['skewness']:8.2f} {cpu[model]:9.3f}"
            + ("  held-out" if model in doc["held_out"] else "")
        )
    out = {key: doc[key] for key in ("labels", "tracks", "groups", "k", "chance", "filter_by")}
    out["models"] = {
        model: {key: r[key] for key in ("precision_at_k", "map", "ndcg_at_k")}
        | {
            "hubness": r["hubness"]["skewness"],
            "cpu_s_per_30s": cpu[model],
            "held_out": model in doc["held_out"],
        }
        for model, r in doc["models"].items()
    }
    print(json.dumps(out))
    return 0


def cpu_seconds(lib: Library, model: str, path: str) -> float:
    """One core's seconds to analyse the first 30 s of ``path`` with ``model`` (median of 3, warm)."""
    import torch

    from synesthete.audio import SR, iter_chunks
    from synesthete.features.base import extract
    from synesthete.features.registry import FUSED_VERSIONS, FUSION, get

    torch.set_num_threads(1)
    y = next(iter_chunks(path, sr=SR, chunk_seconds=30.0))[: 30 * SR]
    members = list(FUSION) if model in FUSED_VERSIONS else [model]
    total = 0.0
    for name in members:
        extractor = get(name)
        extract(extractor, y)  # warm: weights loaded, numba compiled
        times = []
        for _ in range(3):
            start = time.process_time()
            extract(extractor, y)
            times.append(time.process_time() - start)
        total += sorted(times)[1]
    return round(total, 4)


if __name__ == "__main__":
    sys.exit(main())
