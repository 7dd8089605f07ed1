"""Measure the handcrafted extractors on a labelled collection: retrieval quality, ablations, speed.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1 \\
        .venv/bin/python bench/feature_lab.py [--data ../shared/data/dev] [--cache /tmp/synlab]

Retrieval: leave-one-out precision@10 and mAP (query excluded) with the engine's search transform --
z-score each dimension over the collection, multiply by the extractor's ``weights``, L2-normalise,
cosine. Speed: CPU seconds (``time.process_time``, one thread, after a warm-up call) to decode a clip
with soundfile + soxr and to run each extractor on it. Decoded clips are cached under ``--cache``
(outside the repository); nothing from the data folder is copied into the project.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
import soxr  # noqa: E402

from synesthete.features.base import SR, extract  # noqa: E402
from synesthete.features.descriptors import GROUP_WEIGHTS, Descriptors  # noqa: E402
from synesthete.features.registry import EXTRACTORS  # noqa: E402


def decode(path: Path) -> np.ndarray:
    data, sr = sf.read(path, dtype="float32", always_2d=True)
    mono = data @ np.full((data.shape[1], 1), 1.0 / data.shape[1], dtype=np.float32)
    return soxr.resample(mono[:, 0], sr, SR)


def retrieval(vectors: np.ndarray, labels: np.ndarray, weights: np.ndarray | None, k: int = 10):
    """Leave-one-out (precision@k, mAP) under the engine's search transform."""
    x = np.asarray(vectors, np.float64)
    sd = x.std(axis=0)
    z = (x - x.mean(axis=0)) / np.where(sd < 1e-9, 1.0, sd)
    if weights is not None:
        z = z * weights
    z /= np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    sim = z @ z.T
    np.fill_diagonal(sim, -np.inf)
    p_at_k, aps = [], []
    for i in range(len(labels)):
        rel = (labels[np.argsort(-sim[i])[:-1]] == labels[i]).astype(float)
        p_at_k.append(rel[:k].mean())
        aps.append((np.cumsum(rel) / np.arange(1, rel.size + 1))[rel > 0].mean())
    return float(np.mean(p_at_k)), float(np.mean(aps))


def main() -> None:
    here = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=here.parent / "shared" / "data" / "dev")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/synlab"))
    ap.add_argument("--speed-clips", type=int, default=40)
    args = ap.parse_args()

    with open(args.data / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    paths = [args.data / r["path"] for r in rows]
    labels = np.array([r["group"] for r in rows])
    args.cache.mkdir(parents=True, exist_ok=True)
    cache = args.cache / "decoded.npz"
    if cache.exists():
        stored = np.load(cache)
        signals = [stored[f"arr_{i}"] for i in range(len(stored.files))]
    else:
        signals = [decode(p) for p in paths]
        np.savez(cache, *signals)

    print(f"{len(rows)} clips, {len(set(labels))} groups")
    vectors = {}
    for name, ex in EXTRACTORS.items():
        vectors[name] = np.array([extract(ex, y) for y in signals])
        p10, m = retrieval(vectors[name], labels, ex.weights)
        print(f"{name:12s} dim {ex.dim:4d}  p@10 {p10:.3f}  mAP {m:.3f}")

    d = Descriptors()
    x, w, groups = vectors["descriptors"], d.weights, d.groups
    print("\ndescriptors ablations (group weights", GROUP_WEIGHTS, ")")
    eq = np.concatenate(
        [np.full((groups == g).sum(), 1 / np.sqrt((groups == g).sum())) for g in GROUP_WEIGHTS]
    )
    print("  all groups, equal weights     p@10 {:.3f}  mAP {:.3f}".format(*retrieval(x, labels, eq)))
    for g in GROUP_WEIGHTS:
        m = groups == g
        print(
            f"  {g:9s} alone ({m.sum():3d} dims)     p@10 %.3f  mAP %.3f" % retrieval(x[:, m], labels, None)
        )
        print(f"  all but {g:9s}            p@10 %.3f  mAP %.3f" % retrieval(x[:, ~m], labels, w[~m]))

    print("\nspeed, CPU-s per clip on one thread")
    sub = paths[: args.speed_clips]
    for ex in EXTRACTORS.values():  # warm-up: numba compiles on first call
        extract(ex, signals[0])
    t = time.process_time()
    ys = [decode(p) for p in sub]
    t_decode = (time.process_time() - t) / len(sub)
    seconds = float(np.mean([y.size / SR for y in ys]))
    print(f"  decode       {t_decode:.4f}  ({seconds:.1f} s clips)")
    for name, ex in EXTRACTORS.items():
        t = time.process_time()
        for y in ys:
            extract(ex, y)
        t_ex = (time.process_time() - t) / len(ys)
        total = t_decode + t_ex
        print(f"  {name:12s} {t_ex:.4f}  decode+{name}: {total:.4f} = {seconds / total:.0f}x realtime")


if __name__ == "__main__":
    main()
