"""Clusters: the collection split into k sonic playlists, each named by what sets it apart.

k-means (scikit-learn) on the unit vectors of the search space, so clusters follow the same cosine
similarity as every other answer. Without a k, the number with the best silhouette between 2 and
``MAX_K`` is taken (on a sample, for large collections). A space searched by a quantized index (10^6 wide
tracks) is clustered on a sample of its rows and every row then given its nearest centre, reading the
memory-mapped vectors a block at a time. A cluster is named by its most distinctive
descriptors (the cluster's mean z-score: "fast, bright, percussive") and its commonest genre tags (its
commonest folders when its tracks carry no genre), and its tracks are ordered to flow, most typical
first when the cluster is too large to order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synesthete.evaluate.labels import folder_of
from synesthete.exceptions import ParameterError, UserError
from synesthete.library.store import Track
from synesthete.recommend.geometry import READ_ROWS, Descriptors, MappedUnits, Units, unit_rows
from synesthete.recommend.ordering import smooth_order
from synesthete.recommend.space import Space

MAX_K = 16
SAMPLE = 2000  # tracks used to choose k by silhouette
FIT_SAMPLE = 50_000  # tracks k-means is fitted on when the space is read row by row (a quantized index)
ORDER_UP_TO = 400  # larger clusters are listed most typical first instead of in a flowing order
DISTINCT = 0.5  # mean z-score from which a descriptor names a cluster
GENRE_SHARE = 0.4  # share of a cluster's tagged tracks from which a genre names it
# descriptor -> (word above the collection's mean, word below it)
WORDS: dict[str, tuple[str, str]] = {
    "tempo": ("fast", "slow"),
    "centroid p50": ("bright", "dark"),
    "onset strength mean": ("percussive", "smooth"),
    "energy level": ("loud", "quiet"),
    "flatness p50": ("noisy", "clean"),
    "key mode": ("major", "minor"),
    "pulse clarity": ("steady beat", "loose pulse"),
    "dynamic range": ("dynamic", "compressed"),
    "onset rate": ("busy", "sparse"),
}


@dataclass(frozen=True)
class Cluster:
    """One sonic playlist: its name, its tracks in play order, and what sets it apart."""

    name: str
    tracks: list[Track]
    traits: list[str]
    genres: list[str]
    descriptors: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "size": len(self.tracks),
            "traits": self.traits,
            "genres": self.genres,
            "descriptors": self.descriptors,
            "tracks": [t.to_dict() for t in self.tracks],
        }


@dataclass(frozen=True)
class Clustering:
    model: str
    k: int
    silhouette: float | None
    clusters: list[Cluster]

    def __iter__(self):
        return iter(self.clusters)

    def __len__(self) -> int:
        return len(self.clusters)

    def to_dict(self) -> dict:
        sil = None if self.silhouette is None else round(self.silhouette, 4)
        return {"model": self.model, "k": self.k, "silhouette": sil,
                "clusters": [c.to_dict() for c in self.clusters]}  # fmt: skip


def choose_k(u: Units, *, max_k: int = MAX_K, seed: int = 0) -> tuple[int, float]:
    """The k in 2..max_k with the best silhouette (cosine) on a sample, and that silhouette."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(seed)
    sample = u if len(u) <= SAMPLE else u[rng.choice(len(u), SAMPLE, replace=False)]
    best = (2, -1.0)
    for k in range(2, min(max_k, len(sample) - 1) + 1):
        labels = KMeans(k, n_init=1, random_state=seed).fit_predict(sample)
        score = float(silhouette_score(sample, labels, metric="cosine"))
        if score > best[1]:
            best = (k, score)
    return best


def clusters(
    space: Space,
    tracks: Mapping[int, Track],
    k: int | None = None,
    *,
    descriptors: Descriptors | None = None,
    seed: int = 0,
) -> Clustering:
    """The collection (``space``'s tracks; ``tracks`` by id, for their tags) in ``k`` clusters (chosen by
    silhouette when None), largest first; named by ``descriptors`` when given."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # small k-means runs: a second thread waits more than it works
        return _clusters(space, tracks, k, descriptors=descriptors, seed=seed)


def _clusters(
    space: Space, tracks: Mapping[int, Track], k: int | None, *, descriptors: Descriptors | None, seed: int
) -> Clustering:

    u = unit_rows(space)
    if len(u) < 3:
        raise UserError("clustering needs at least 3 analysed tracks")
    silhouette = None
    if k is None:
        k, silhouette = choose_k(u, seed=seed)
    if not isinstance(k, int) or not 1 <= k <= len(u):
        raise ParameterError(f"k must be between 1 and the number of tracks ({len(u)}), got {k!r}")
    labels, fit = _kmeans(u, k, seed)
    out = []
    for c in np.argsort(-np.bincount(labels, minlength=k)):
        rows = np.flatnonzero(labels == c)
        typical = rows[np.argsort(-fit[rows])]
        ordered = typical[smooth_order(u[typical], start=0)] if len(rows) <= ORDER_UP_TO else typical
        members = [tracks[i] for i in space.ids[ordered].tolist() if i in tracks]
        traits, described = _traits(descriptors, space.ids[rows]) if descriptors is not None else ([], [])
        genres = _genres(members)
        name = ", ".join(traits) or "mixed"
        if genres:
            name += " · " + " / ".join(genres)
        out.append(Cluster(name, members, traits, genres, described))
    return Clustering(space.name, int(k), silhouette, out)


def _kmeans(u: Units, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's cluster, and its cosine with the cluster's centre (larger: more typical).

    Rows read from a mapped file (``MappedUnits``) are clustered on a sample of FIT_SAMPLE, then every row
    is given its nearest centre a block at a time: no copy of the whole space is made.
    """
    from sklearn.cluster import KMeans

    km = KMeans(k, n_init=4, random_state=seed)
    if not isinstance(u, MappedUnits):
        labels = km.fit(u).labels_
        return labels, _fit(u, km.cluster_centers_, labels)
    sample = np.sort(np.random.default_rng(seed).choice(len(u), min(len(u), FIT_SAMPLE), replace=False))
    km.fit(u[sample])
    labels, fit = np.empty(len(u), dtype=np.int32), np.empty(len(u), dtype=np.float64)
    for start in range(0, len(u), READ_ROWS):
        block = u[np.arange(start, min(start + READ_ROWS, len(u)))]
        part = slice(start, start + len(block))
        labels[part] = km.predict(block)
        fit[part] = _fit(block, km.cluster_centers_, labels[part])
    return labels, fit


def _fit(u: np.ndarray, centres: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each row's cosine-like fit to its cluster's centre (the centre is not unit length)."""
    out = np.empty(len(u), dtype=np.float64)
    for c in np.unique(labels):
        mine = labels == c
        out[mine] = u[mine] @ centres[c]
    return out


def _traits(table: Descriptors, ids: np.ndarray) -> tuple[list[str], list[dict[str, Any]]]:
    """Up to three words for the cluster's most distinctive named descriptors, and its five most
    distinctive descriptors of all (mean z-score)."""
    rows = table.space.rows(ids)
    rows = rows[rows >= 0]
    if len(rows) == 0:
        return [], []
    z = table.z(rows).mean(axis=0)
    top = np.argsort(-np.abs(z))[:5]
    described = [{"name": str(table.names[i]), "z": round(float(z[i]), 3)} for i in top]
    named = [(abs(z[table.column(d)]), w[0] if z[table.column(d)] > 0 else w[1])
             for d, w in WORDS.items() if d in set(table.names.tolist())]  # fmt: skip
    words = [w for s, w in sorted(named, reverse=True) if s >= DISTINCT][:3]
    return words, described


def _genres(members: list[Track]) -> list[str]:
    """The cluster's commonest genre tags, or, when none of its tracks has one, its commonest folders
    (untagged collections are mostly organised by folder, so the folder is the next best name)."""
    tags = Counter(t.genre.strip().lower() for t in members if t.genre and t.genre.strip())
    if not tags:
        tags = Counter(folder_of(t) for t in members)
    tagged = sum(tags.values())
    return [g for g, n in tags.most_common(2) if tagged and n / tagged >= GENRE_SHARE]
