"""The one interface every nearest-neighbour index has, and the input checks they share.

Mental model: a dict of track id to vector that you can query by nearness. Scores are cosine
similarities in [-1, 1]; the index normalises what it is given, so callers pass raw vectors.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Protocol, Self, runtime_checkable

import numpy as np

from synesthete.exceptions import ParameterError


@runtime_checkable
class VectorIndex(Protocol):
    """Cosine nearest-neighbour search over int64 track ids.

    ``query`` returns ``(ids, scores)``, best first: 1-d arrays for one query vector of shape (d,),
    2-d arrays of shape (m, k') for m vectors of shape (m, d). ``exclude`` ids never appear; the search
    goes deeper instead, so there are always ``min(k, len(index) - excluded)`` results.
    """

    @property
    def dim(self) -> int: ...

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add (or replace) ``vectors`` float32 (n, d) under ``ids`` int64 (n,)."""
        ...

    def query(
        self, vector: np.ndarray, k: int = 10, *, exclude: Collection[int] = ()
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def save(self, path: str | Path) -> None: ...

    @classmethod
    def load(cls, path: str | Path) -> Self: ...

    def __len__(self) -> int: ...

    def __contains__(self, id: object) -> bool: ...


def normalize(vectors: np.ndarray, *, inplace: bool = False, dtype: type = np.float32) -> np.ndarray:
    """Unit-length rows (along the last axis) of ``dtype``; zero rows stay zero (cosine 0 with everything,
    never NaN). The one unit-normalisation of the code base: indexes, playlists, fusion, maps, scores.

    ``inplace=True`` overwrites ``vectors`` (which must be a writeable float array) to save a copy.
    """
    v = vectors if inplace else np.array(vectors, dtype=dtype, copy=True)
    for start in range(0, len(v), 65_536):  # chunks: the squared-norm temporary stays small
        chunk = v[start : start + 65_536]
        norms = row_norms(chunk)[..., None]
        np.divide(chunk, norms, out=chunk, where=norms > 0)
    return v


def row_norms(vectors: np.ndarray) -> np.ndarray:
    """The length of each row (along the last axis), as ``normalize`` measures it."""
    return np.sqrt(np.einsum("...i,...i->...", vectors, vectors))


def check_add(ids: np.ndarray, vectors: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``add`` arguments: returns int64 ids (n,) and finite float32 vectors (n, dim)."""
    ids = np.asarray(ids)
    vectors = np.asarray(vectors)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ParameterError(f"ids must be a 1-d integer array, got shape {ids.shape} dtype {ids.dtype}")
    if vectors.ndim != 2 or vectors.shape != (len(ids), dim):
        raise ParameterError(f"vectors must have shape ({len(ids)}, {dim}), got {vectors.shape}")
    if not np.isfinite(vectors).all():
        raise ParameterError("vectors contain NaN or infinity")
    if len(np.unique(ids)) != len(ids):
        raise ParameterError("ids contain duplicates")
    return ids.astype(np.int64, copy=False), vectors.astype(np.float32, copy=False)


def check_query(vector: np.ndarray, k: int, dim: int) -> tuple[np.ndarray, bool]:
    """Validate ``query`` arguments: returns finite float32 queries (m, dim) and whether input was 1-d."""
    q = np.asarray(vector, dtype=np.float32)
    single = q.ndim == 1
    q = q[None, :] if single else q
    if q.ndim != 2 or q.shape[1] != dim:
        raise ParameterError(f"query must have shape ({dim},) or (m, {dim}), got {np.shape(vector)}")
    if not np.isfinite(q).all():
        raise ParameterError("query contains NaN or infinity")
    if k < 0:
        raise ParameterError(f"k must be >= 0, got {k}")
    return q, single


def sorted_has(sorted_ids: np.ndarray, id: object) -> bool:
    """Whether ``id`` is in ``sorted_ids`` (ascending int64): a binary search, not a scan of every id;
    anything that is not an integer id is simply absent."""
    try:
        key = np.int64(id)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return False
    pos = np.searchsorted(sorted_ids, key)
    return bool(pos < len(sorted_ids) and sorted_ids[pos] == key)
