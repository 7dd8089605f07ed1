"""Teacher (``musicnn``) against student (``cnn``): analysis speed on one core and precision@10.

    .venv/bin/python bench/student.py [--labels ../shared/data/dev/labels.csv] [--checkpoint FILE]
                                      [--groups G1,G2,...] [--fusions descriptors+cnn,...]

Speed is CPU-seconds per 30-s clip of each extractor on top of the shared spectral views (the harness of
``bench/analysis_speed.py``: decoding and the shared STFT/mel are counted apart, as every extractor shares
them), torch and BLAS on one thread. Quality is precision@10 (and mAP), the query excluded, over the
labelled clips, with each model's vectors standardised over the clips and compared by cosine (what
``Library.evaluate`` does). ``--groups`` keeps only those groups (a held-out split); ``--checkpoint``
runs another student checkpoint than the shipped one. ``--fusions`` also scores fusions of extractors
(``+``-joined names: each standardised and weighted, cosine, equal-weight mean of the similarities, as
``fused`` does); its cost is its members' sum. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from synesthete.audio import decode
from synesthete.evaluate.scores import ranking_scores
from synesthete.exceptions import AudioError
from synesthete.features.base import Spectra
from synesthete.features.cnn import Cnn
from synesthete.features.musicnn import Musicnn
from synesthete.features.registry import get

DEFAULT_LABELS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dev" / "labels.csv"
SHARED = ("stft_power", "mel_power", "log_mel")


def labelled(labels: Path, groups: set[str] | None = None) -> list[tuple[Path, str]]:
    with open(labels, newline="") as f:
        rows = [(labels.parent / r["path"], r["group"]) for r in csv.DictReader(f)]
    return [(p, g) for p, g in rows if groups is None or g in groups]


def vectors_and_cost(
    paths: list[Path], extractors: dict
) -> tuple[dict[str, np.ndarray], dict[str, float], float, list[int]]:
    """Each extractor's track vectors, its CPU-seconds over all files, the seconds of audio, and which
    files those are (a file the scan would refuse, silent or corrupt, is skipped and named)."""
    vectors = {name: [] for name in extractors}
    cost = dict.fromkeys(extractors, 0.0)
    seconds = 0.0
    kept = []
    for i, path in enumerate(paths):
        try:
            y = decode(path)
        except AudioError as e:
            print(f"skipped {e}", file=sys.stderr)
            continue
        kept.append(i)
        seconds += len(y) / 22050
        shared = Spectra(y)
        for view in SHARED:
            getattr(shared, view)
        for name, e in extractors.items():
            fresh = Spectra(y)
            fresh.__dict__.update({k: shared.__dict__[k] for k in SHARED})
            start = time.process_time()
            vectors[name].append(e.finish([e.partial(fresh)]))
            cost[name] += time.process_time() - start
    return {k: np.stack(v) for k, v in vectors.items()}, cost, seconds, kept


def similarity(raw: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Cosine of vectors standardised over the clips and weighted by the extractor's ``weights`` (as
    ``Library.evaluate`` compares them: ``recommend/space.py``)."""
    v = (raw - raw.mean(0)) / np.maximum(raw.std(0), 1e-6)
    if weights is not None:
        v = v * weights
    v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    return v @ v.T


def precision(raw: np.ndarray, groups: list[str], k: int = 10, weights: np.ndarray | None = None) -> dict:
    """Leave-one-out scores by ``similarity``."""
    return ranking_scores(similarity(raw, weights), groups, k=k)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, default=DEFAULT_LABELS)
    parser.add_argument("--checkpoint", type=Path, default=None, help="student weights (default: shipped)")
    parser.add_argument("--groups", default=None, help="comma-separated groups to keep (a held-out split)")
    parser.add_argument(
        "--fusions", default="", help="comma-separated, e.g. descriptors+cnn,descriptors+musicnn"
    )
    parser.add_argument("-k", type=int, default=10)
    args = parser.parse_args()
    threadpool_limits(1)
    import torch

    torch.set_num_threads(1)
    if args.checkpoint:
        from synesthete.models import checkpoints

        checkpoints.use(args.checkpoint.resolve())
    rows = labelled(args.labels, set(args.groups.split(",")) if args.groups else None)
    paths, groups = [p for p, _ in rows], [g for _, g in rows]
    fusions = [f.split("+") for f in args.fusions.split(",") if f]
    extractors = {"musicnn": Musicnn(), "cnn": Cnn()}
    extractors |= {m: get(m) for f in fusions for m in f if m not in extractors}
    vectors_and_cost(paths[:1], extractors)  # warm-up: weights load, first-call costs
    vectors, cost, seconds, kept = vectors_and_cost(paths, extractors)
    paths, groups = [paths[i] for i in kept], [groups[i] for i in kept]
    result = {"labels": str(args.labels), "clips": len(paths), "groups": sorted(set(groups)), "models": {}}
    for name in extractors:
        scores = precision(vectors[name], groups, k=args.k, weights=extractors[name].weights)
        result["models"][name] = {
            "cpu_s_per_30s_clip": round(cost[name] / seconds * 30, 4),
            "precision_at_k": round(scores["precision_at_k"], 4),
            "map": round(scores["map"], 4),
        }
    for members in fusions:
        sim = np.mean([similarity(vectors[m], extractors[m].weights) for m in members], axis=0)
        scores = ranking_scores(sim, groups, k=args.k)
        result["models"]["+".join(members)] = {
            "cpu_s_per_30s_clip": round(sum(cost[m] for m in members) / seconds * 30, 4),
            "precision_at_k": round(scores["precision_at_k"], 4),
            "map": round(scores["map"], 4),
        }
    t, s = result["models"]["musicnn"], result["models"]["cnn"]
    result["speedup"] = round(t["cpu_s_per_30s_clip"] / s["cpu_s_per_30s_clip"], 2)
    result["quality_ratio"] = round(s["precision_at_k"] / t["precision_at_k"], 4)
    print(f"{len(paths)} clips, {len(set(groups))} groups; one thread, on top of the shared spectra")
    print(f"{'model':<28} {'CPU-s/30 s':>11} {'P@' + str(args.k):>7} {'mAP':>7}")
    for name, r in result["models"].items():
        print(f"{name:<28} {r['cpu_s_per_30s_clip']:11.4f} {r['precision_at_k']:7.3f} {r['map']:7.3f}")
    print(
        f"student: {result['speedup']}x faster, {100 * result['quality_ratio']:.1f} % of the teacher's P@{args.k}"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
