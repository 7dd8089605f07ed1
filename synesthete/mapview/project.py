"""Projections of a model's space to 2 or 3 dimensions: UMAP, t-SNE and PCA, deterministic for a seed.

The engine compares tracks by cosine in the standardised, weighted space (``recommend/space.py``), so the
maps are drawn from the same vectors, scaled to unit length: Euclidean distance between them then orders
pairs exactly as cosine does. UMAP and t-SNE first go through PCA to at most 50 dimensions, the usual step
that makes their neighbour search fast without changing the neighbourhoods much. PCA axes are named by the
dimensions that load most on them, so a reader can tell what "left" and "up" mean.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from synesthete.exceptions import ParameterError
from synesthete.index import normalize

METHODS: tuple[str, ...] = ("umap", "tsne", "pca")
DEFAULT_SEED = 42
PRE_PCA_DIMS = 50
EXACT_KNN_UP_TO = 50_000  # brute-force neighbours for UMAP up to here (seconds), NN-descent above
# Bump when a method's parameters change, so cached projections made with the old ones are recomputed.
PARAMS_VERSION = 1


@dataclass(frozen=True)
class Projection:
    """Coordinates (n, dims) float32 and one label per axis."""

    coords: np.ndarray
    axes: list[str]


def check(method: str, dims: int) -> None:
    if method not in METHODS:
        raise ParameterError(f"unknown projection method {method!r}; known: {', '.join(METHODS)}")
    if dims not in (2, 3):
        raise ParameterError(f"a map has 2 or 3 dimensions, not {dims!r}")


def stamp(ids: np.ndarray, vectors: np.ndarray) -> str:
    """A fingerprint of exactly what is projected: a cached map is reused only while it matches."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"v{PARAMS_VERSION}".encode())
    h.update(np.ascontiguousarray(ids, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
    return h.hexdigest()


def project(
    vectors: np.ndarray,
    *,
    method: str = "umap",
    dims: int = 2,
    seed: int = DEFAULT_SEED,
    names: np.ndarray | list[str] | None = None,
) -> Projection:
    """Place each row of ``vectors`` [shape=(n, d)] in ``dims`` dimensions; same input and seed, same map.

    ``names`` label the d input dimensions, for the PCA axes (else 'dim i').
    """
    check(method, dims)
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ParameterError(f"need a non-empty (n, d) array of vectors, got shape {x.shape}")
    x = normalize(x, dtype=np.float64)
    n = len(x)
    if method == "pca" or n <= dims + 2:  # too few points for a neighbour graph: PCA is the honest map
        coords, axes = _pca(x, dims, names)
        return Projection(coords.astype(np.float32), axes)
    reduced = _pca(x, min(PRE_PCA_DIMS, *x.shape), None)[0] if x.shape[1] > PRE_PCA_DIMS else x
    if method == "umap":
        coords = _umap(reduced, dims, seed)
        return Projection(coords.astype(np.float32), [f"UMAP {i + 1}" for i in range(dims)])
    coords = _tsne(reduced, dims, seed)
    return Projection(coords.astype(np.float32), [f"t-SNE {i + 1}" for i in range(dims)])


def _pca(x: np.ndarray, dims: int, names) -> tuple[np.ndarray, list[str]]:
    """Principal components by SVD; each axis's sign fixed so its largest loading is positive."""
    centred = x - x.mean(axis=0)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    k = min(dims, len(s))
    signs = np.sign(vt[np.arange(k), np.argmax(np.abs(vt[:k]), axis=1)])
    signs[signs == 0] = 1
    coords = u[:, :k] * s[:k] * signs
    if k < dims:  # fewer points or dimensions than axes asked for: the rest are flat
        coords = np.hstack([coords, np.zeros((len(x), dims - k))])
    total = float((s**2).sum()) or 1.0
    labels = names if names is not None else [f"dim {i}" for i in range(x.shape[1])]
    axes = []
    for i in range(dims):
        if i >= k:
            axes.append(f"PC{i + 1} (0%)")
            continue
        load = vt[i] * signs[i]
        top = np.argsort(-np.abs(load), kind="stable")[:3]
        parts = ", ".join(f"{'+' if load[j] > 0 else '-'}{labels[j]}" for j in top)
        axes.append(f"PC{i + 1} ({s[i] ** 2 / total:.0%}): {parts}")
    return coords, axes


def _umap(x: np.ndarray, dims: int, seed: int) -> np.ndarray:
    """UMAP on an exact neighbour graph: pynndescent's compilation alone costs minutes on a cold start."""
    import warnings

    import umap

    n_neighbors = max(2, min(15, len(x) - 1))
    knn = exact_neighbours(x, n_neighbors) if len(x) <= EXACT_KNN_UP_TO else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 'n_jobs overridden by random_state': determinism is the point
        reducer = umap.UMAP(
            n_components=dims,
            n_neighbors=n_neighbors,
            min_dist=0.1,
            metric="euclidean",
            random_state=seed,
            n_epochs=500 if len(x) < 5_000 else 200,  # UMAP's own choice is 200 only above 10^4
            init="spectral" if len(x) > dims + n_neighbors else "random",
            precomputed_knn=knn or (None, None, None),
        )
        return reducer.fit_transform(x)


def exact_neighbours(x: np.ndarray, k: int, *, block: int = 2048) -> tuple[np.ndarray, np.ndarray, None]:
    """(indices, distances) of each row's k nearest rows, itself first, by brute force in blocks."""
    x = np.asarray(x, dtype=np.float32)
    sq = (x.astype(np.float64) ** 2).sum(axis=1)
    idx = np.empty((len(x), k), dtype=np.int64)
    dist = np.empty((len(x), k), dtype=np.float32)
    for start in range(0, len(x), block):
        rows = slice(start, start + block)
        d2 = sq[rows, None] - 2.0 * (x[rows] @ x.T).astype(np.float64) + sq[None, :]
        d2[np.arange(len(d2)), np.arange(start, start + len(d2))] = -1.0  # itself first, at distance 0
        part = np.argpartition(d2, k - 1, axis=1)[:, :k]
        dd = np.take_along_axis(d2, part, axis=1)
        order = np.lexsort((part, dd), axis=1)  # ties broken by index: the same graph on every run
        idx[rows] = np.take_along_axis(part, order, axis=1)
        dist[rows] = np.sqrt(np.maximum(np.take_along_axis(dd, order, axis=1), 0.0))
    return idx, dist, None


def _tsne(x: np.ndarray, dims: int, seed: int) -> np.ndarray:
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    perplexity = float(max(1.0, min(30.0, (len(x) - 1) / 3)))
    tsne = TSNE(n_components=dims, perplexity=perplexity, init="pca", random_state=seed, method="barnes_hut")
    # Below a few thousand points OpenMP threads cost more than they give: on a busy 2-core machine,
    # 150 points took 27 s with them and 2 s without.
    with threadpool_limits(1 if len(x) < 5_000 else None):
        return tsne.fit_transform(x)
