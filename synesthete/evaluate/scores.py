"""Every retrieval score of one model on one labelled collection, from one ranking per query.

Leave-one-out: each track queries all the others. With a filter (``exclude``), tracks sharing the query's
artist or album are taken out of its ranking *and* of what counts as relevant, so a model is not credited
for finding the same artist again (Flexer & Schnitzer 2010: genre accuracy 71 % unfiltered, 27 % filtered).
Queries with nothing left to find are skipped; hubness counts every track's neighbours.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from synesthete.exceptions import UserError
from synesthete.index import normalize
from synesthete.recommend.space import Space


def ranking_scores(
    similarity: np.ndarray, labels: Sequence[str], *, k: int = 10, exclude: np.ndarray | None = None
) -> dict:
    """precision@k, mAP, nDCG@k, hubness, per-group scores and the group confusion of the top k.

    ``similarity`` [shape=(n, n)]: larger is closer; row i ranks the candidates of query i.
    ``exclude`` [shape=(n, n), bool]: True where j must not be a candidate of query i (the diagonal
    always is). Relevance is binary: the candidate shares the query's label.
    """
    sim = np.array(similarity, dtype=np.float64)
    n = sim.shape[0]
    labels = np.asarray(labels)
    blocked = np.eye(n, dtype=bool)
    if exclude is not None:
        blocked |= np.asarray(exclude, dtype=bool)
    sim[blocked] = -np.inf
    order = np.argsort(-sim, axis=1, kind="stable")[:, : n - 1]
    valid = ~np.take_along_axis(blocked, order, axis=1)
    relevant = (labels[order] == labels[:, None]) & valid
    n_candidates = valid.sum(axis=1)
    n_relevant = relevant.sum(axis=1)
    keep = n_relevant > 0
    kk = min(k, n - 1)
    empty = {"precision_at_k": float("nan"), "map": float("nan"), "ndcg_at_k": float("nan")}
    if not keep.any():
        return {
            **empty,
            "k": kk,
            "queries": 0,
            "hubness": _hubness(order, valid, kk, n),
            "per_group": {},
            "confusion": {"groups": [], "matrix": []},
        }
    precision = relevant[:, :kk].sum(axis=1) / np.maximum(np.minimum(kk, n_candidates), 1)
    hits = np.cumsum(relevant, axis=1)
    ranks = np.arange(1, n)
    ap = (relevant * hits / ranks).sum(axis=1) / np.maximum(n_relevant, 1)
    discount = 1.0 / np.log2(np.arange(2, kk + 2))
    dcg = (relevant[:, :kk] * discount).sum(axis=1)
    ideal = np.cumsum(discount)[np.clip(np.minimum(n_relevant, kk) - 1, 0, None)]
    ndcg = dcg / ideal
    groups = sorted(set(labels.tolist()))
    per_group = {}
    for g in groups:
        rows = labels == g
        q = rows & keep
        per_group[g] = {
            "tracks": int(rows.sum()),
            "queries": int(q.sum()),
            "precision_at_k": _mean(precision[q]) if q.any() else float("nan"),
            "map": _mean(ap[q]) if q.any() else float("nan"),
            "ndcg_at_k": _mean(ndcg[q]) if q.any() else float("nan"),
        }
    return {
        "precision_at_k": _mean(precision[keep]),
        "map": _mean(ap[keep]),
        "ndcg_at_k": _mean(ndcg[keep]),
        "k": kk,
        "queries": int(keep.sum()),
        "hubness": _hubness(order, valid, kk, n),
        "per_group": per_group,
        "confusion": _confusion(labels[order[:, :kk]], valid[:, :kk], labels, groups),
    }


def _mean(x: np.ndarray) -> float:
    """The exactly rounded mean: the same figure whatever order the tracks come in (their ids follow the
    order a scan happened to finish them), so two libraries of the same files agree to the last digit."""
    return math.fsum(x.tolist()) / len(x)


def _hubness(order: np.ndarray, valid: np.ndarray, k: int, n: int) -> dict:
    """k-occurrence N_k (how often each track is among the others' k nearest) and its skewness.

    A skewness near 0 means recommendations are spread evenly; large and positive means a few "hubs"
    come back for everything (Radovanović et al. 2010).
    """
    top, ok = order[:, :k], valid[:, :k]
    counts = np.bincount(top[ok], minlength=n).astype(np.float64)
    sd = counts.std()
    skew = float(((counts - counts.mean()) ** 3).mean() / sd**3) if sd > 0 else 0.0
    return {
        "k": k,
        "skewness": skew,
        "max_occurrence": int(counts.max()) if n else 0,
        "antihubs": float((counts == 0).mean()) if n else 0.0,  # share of tracks nobody is recommended
    }


def _confusion(top_labels: np.ndarray, ok: np.ndarray, labels: np.ndarray, groups: list[str]) -> dict:
    """Row g: the share of the top-k neighbours of group g's queries that belong to each group."""
    index = {g: i for i, g in enumerate(groups)}
    matrix = np.zeros((len(groups), len(groups)))
    for q_label, row, row_ok in zip(labels.tolist(), top_labels, ok, strict=True):
        for neighbour in row[row_ok].tolist():
            matrix[index[q_label], index[neighbour]] += 1
    totals = matrix.sum(axis=1, keepdims=True)
    matrix = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    return {"groups": groups, "matrix": np.round(matrix, 6).tolist()}


def same_exclusion(ids: Sequence[int], same: Mapping[int, str] | None) -> np.ndarray | None:
    """``ranking_scores``'s ``exclude`` for a filter: True where two of ``ids`` share a key of ``same``
    (track id -> its artist or album); a track without a key shares it with nobody. None: no filter."""
    if same is None:
        return None
    keys = np.array([same.get(int(i)) or f"\0{i}" for i in ids])
    return keys[:, None] == keys[None, :]


def space_scores(
    space: Space, labels: Mapping[int, str], *, k: int = 10, same: Mapping[int, str] | None = None
) -> dict:
    """Leave-one-out ``ranking_scores`` of ``space`` on its tracks labelled by group (track id -> group),
    cosine ranking, ``same`` filtered (``same_exclusion``); with the model's name."""
    rows = [i for i, track_id in enumerate(space.ids.tolist()) if track_id in labels]
    if len(rows) < 2:
        raise UserError("fewer than two labelled tracks have vectors: nothing to evaluate")
    v = normalize(space.vectors[rows], dtype=np.float64)
    ids = space.ids[rows].tolist()
    groups = [labels[i] for i in ids]
    return {"model": space.name, **ranking_scores(v @ v.T, groups, k=k, exclude=same_exclusion(ids, same))}
