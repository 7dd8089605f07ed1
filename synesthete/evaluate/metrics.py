"""Leave-one-out retrieval metrics: each item queries all the others, and shares a label or not."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def retrieval_scores(similarity: np.ndarray, labels: Sequence[str], *, k: int = 10) -> dict[str, float]:
    """precision@k and mean average precision, the query itself excluded.

    ``similarity`` is (n, n), larger meaning closer. Queries whose label no other item shares are
    skipped (they have nothing to find).
    """
    sim = np.array(similarity, dtype=np.float64)
    n = sim.shape[0]
    labels = np.asarray(labels)
    np.fill_diagonal(sim, -np.inf)
    order = np.argsort(-sim, axis=1, kind="stable")[:, : n - 1]
    relevant = labels[order] == labels[:, None]
    n_relevant = relevant.sum(axis=1)
    keep = n_relevant > 0
    if not keep.any():
        return {"precision_at_k": float("nan"), "map": float("nan"), "k": k, "queries": 0}
    kk = min(k, n - 1)
    precision = relevant[:, :kk].sum(axis=1) / kk
    hits = np.cumsum(relevant, axis=1)
    ranks = np.arange(1, n)
    ap = (relevant * hits / ranks).sum(axis=1) / np.maximum(n_relevant, 1)
    return {
        "precision_at_k": float(precision[keep].mean()),
        "map": float(ap[keep].mean()),
        "k": kk,
        "queries": int(keep.sum()),
    }
