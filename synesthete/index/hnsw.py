"""Approximate cosine search on an HNSW graph (faiss ``IndexHNSWFlat`` on inner product).

Exact search reads every vector for every query, about 50 ms at 10^6 x 256; a graph walk reads a few
thousand, well under a millisecond, at the cost of missing a true neighbour now and then. faiss was
chosen over usearch by measurement (bench/index_speed.py): 2-3x faster to build, faster to query, and
higher recall at the same parameters; usearch's f16 storage uses less memory, which faiss can match with
``IndexHNSWSQ`` if memory ever becomes the limit.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

import faiss
import numpy as np

from synesthete.exceptions import ParameterError
from synesthete.index.base import check_add, check_query, normalize, sorted_has

# Tuned on clustered 256-d vectors at 10^5 and 10^6 for recall@10 >= 0.95 (see bench/index_speed.py).
DEFAULT_M = 16
DEFAULT_EF_CONSTRUCTION = 128
DEFAULT_EF_SEARCH = 64
MAX_THREADS = 8  # faiss/OpenMP would take every core of a shared server; more than 8 rarely helps
_ADD_CHUNK = 65_536  # normalise and add in chunks, so a copy of the whole matrix is never held
PARALLEL_ADD_ABOVE = 20_000
_NONE = np.empty(0, dtype=np.int64)


@contextmanager
def omp_threads(n: int) -> Iterator[None]:
    """Run faiss with at most ``n`` OpenMP threads, then restore the process setting."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(max(1, n))
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


class HNSWIndex:
    """A dict of track id to vector, queried by walking a navigable small-world graph.

    ``m`` (links per node) and ``ef_construction`` fix the graph's quality when it is built;
    ``ef_search`` (candidates kept while walking) trades query speed for recall and can be changed at
    any time. A graph cannot forget a node, so adding an id that is already present is an error:
    rebuild the index from the catalog instead.
    """

    def __init__(
        self,
        dim: int,
        *,
        m: int = DEFAULT_M,
        ef_construction: int = DEFAULT_EF_CONSTRUCTION,
        ef_search: int = DEFAULT_EF_SEARCH,
        threads: int | None = None,
    ) -> None:
        if dim <= 0 or m < 2 or ef_construction < 1 or ef_search < 1:
            raise ParameterError(f"bad HNSW parameters: dim={dim} m={m} ef_construction={ef_construction}")
        hnsw = faiss.IndexHNSWFlat(int(dim), int(m), faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = int(ef_construction)
        hnsw.hnsw.efSearch = int(ef_search)
        self._wrap(faiss.IndexIDMap(hnsw), np.empty(0, dtype=np.int64))
        self.threads = threads or min(os.cpu_count() or 1, MAX_THREADS)

    def _wrap(self, index: faiss.IndexIDMap, ids: np.ndarray) -> None:
        self._index = index
        self._hnsw = faiss.downcast_index(index.index)
        self._sorted_ids = np.sort(ids)

    @property
    def dim(self) -> int:
        return self._index.d

    @property
    def ef_search(self) -> int:
        return self._hnsw.hnsw.efSearch

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        self._hnsw.hnsw.efSearch = int(value)

    def __len__(self) -> int:
        return self._index.ntotal

    def __contains__(self, id: object) -> bool:
        return sorted_has(self._sorted_ids, id)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add ``vectors`` (n, d) under new ``ids`` (n,); they are normalised to unit length."""
        ids, vectors = check_add(ids, vectors, self.dim)
        present = np.isin(ids, self._sorted_ids)
        if present.any():
            raise ParameterError(
                f"ids already in the HNSW index (rebuild it instead): {ids[present][:5].tolist()}"
            )
        # Small adds run on one thread: OpenMP start-up and spin-waiting cost more than they save, and
        # on a busy machine a 1,000-vector add took 1.7 s on 2 threads against 0.09 s on one.
        with omp_threads(self.threads if len(ids) >= PARALLEL_ADD_ABOVE else 1):
            for start in range(0, len(ids), _ADD_CHUNK):
                stop = start + _ADD_CHUNK
                self._index.add_with_ids(normalize(vectors[start:stop]), ids[start:stop])
        self._sorted_ids = np.sort(np.concatenate([self._sorted_ids, ids]))

    def query(
        self,
        vector: np.ndarray,
        k: int = 10,
        *,
        exclude: Collection[int] = (),
        farthest: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` most similar ids and their cosine scores, best first (approximately).

        ``farthest=True`` searches for the nearest to the negated query, which are the least similar to
        the query (cosine(x, -q) = -cosine(x, q)), and returns them in ascending score order.
        """
        q, single = check_query(vector, k, self.dim)
        q = normalize(q)
        if farthest:
            np.negative(q, out=q)
        skip = np.unique(np.fromiter((int(i) for i in exclude), dtype=np.int64)) if exclude else _NONE
        if len(skip) and len(self._sorted_ids):  # only ids in the index cost depth (binary search: O(log n))
            at = np.minimum(np.searchsorted(self._sorted_ids, skip), len(self._sorted_ids) - 1)
            skip = skip[self._sorted_ids[at] == skip]
        k = max(0, min(k, len(self) - len(skip)))
        scores, ids = self._search(q, k, skip)
        if farthest:
            np.negative(scores, out=scores)
        scores = np.clip(scores, -1.0, 1.0)
        return (ids[0], scores[0]) if single else (ids, scores)

    def _search(self, q: np.ndarray, k: int, skip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Search, widening the beam until every row has ``k`` results (excluded ids cost depth)."""
        if k == 0:
            return np.empty((len(q), 0), np.float32), np.empty((len(q), 0), np.int64)
        sel = faiss.IDSelectorNot(faiss.IDSelectorBatch(skip)) if len(skip) else None
        ef = max(self.ef_search, k)
        if len(q) == 1 and k + len(skip) <= self.ef_search:  # the common case, with no overhead:
            # One query on one thread: left to OpenMP's default, faiss waits for threads that a busy
            # machine does not schedule (measured at load 16 on 2 cores: p50 70 ms against 0.6 ms).
            with omp_threads(1):
                scores, ids = self._index.search(q, k + len(skip))
            keep = np.flatnonzero((ids[0] >= 0) & ~np.isin(ids[0], skip))[:k]  # a few excluded, dropped after
            if len(keep) == k:
                return scores[:, keep], ids[:, keep]
        with omp_threads(self.threads if len(q) > 1 else 1):
            while True:
                params = faiss.SearchParametersHNSW(efSearch=ef, sel=sel)
                scores, ids = self._index.search(q, k, params=params)
                if (ids >= 0).all() or ef >= len(self):
                    break
                ef = min(2 * ef, len(self))
        if (ids < 0).any():  # the graph walk could not reach k allowed nodes: fall back to brute force
            scores, ids = self._brute_force(q, k, skip)
        return scores, ids

    def _brute_force(self, q: np.ndarray, k: int, skip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        flat = faiss.IndexIDMap(faiss.IndexFlatIP(self.dim))
        labels = faiss.vector_to_array(self._index.id_map)
        flat.add_with_ids(self._hnsw.storage.reconstruct_n(0, len(self)), labels)
        sel = faiss.IDSelectorNot(faiss.IDSelectorBatch(skip)) if len(skip) else None
        return flat.search(q, k, params=faiss.SearchParameters(sel=sel))

    def save(self, path: str | Path) -> None:
        """Write the graph, vectors, ids and ``ef_search`` to one faiss file."""
        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: str | Path) -> Self:
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as e:
            raise ParameterError(f"{path}: not a faiss index ({str(e).splitlines()[0]})") from e
        if not isinstance(index, faiss.IndexIDMap) or not isinstance(
            faiss.downcast_index(index.index), faiss.IndexHNSWFlat
        ):
            raise ParameterError(f"{path}: not a synesthete HNSW index")
        self = cls.__new__(cls)
        self._wrap(index, faiss.vector_to_array(index.id_map))
        self.threads = min(os.cpu_count() or 1, MAX_THREADS)
        return self
