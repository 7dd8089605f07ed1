"""Approximate cosine search for large, wide spaces: inverted lists of 8-bit codes, re-ranked exactly.

Why: at 10^6 tracks of the 956-d fused space, ``HNSWIndex`` (``IndexHNSWFlat``) holds a float32 copy of
every vector (3.8 GB) beside the space's own, and its build runs ~30 graph searches a vector at full
width: about an hour on 2 free cores, and it did not finish in a session on this shared machine (a graph
on a 128-d PCA projection neither: 11 % of a core at load 20). faiss's ``IndexHNSWSQ`` shrinks the copy
4x but built 11x slower still here (its code-to-code distances are not vectorised). An inverted file
(faiss ``IndexIVFScalarQuantizer``) costs one k-means and one assignment: matrix products, ~100 CPU-s at
10^6 x 956. Each vector is kept as 8-bit codes (1 byte a value: 0.96 GB at 10^6 x 956) in the list of
its nearest centroid; a query scans the ``probe`` nearest lists, and its best ``rerank`` candidates are
scored exactly, by cosine on the full vectors. Those are not copied: the index reads rows of the array it
was given (the space's vectors), which a loaded index memory-maps from a float16 file; its lists of
codes are memory-mapped too, so a fresh process reads nothing up front and only what queries touch is
paged in.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path
from typing import Self

import faiss
import numpy as np
from threadpoolctl import ThreadpoolController

from synesthete.exceptions import ParameterError
from synesthete.index.base import check_add, check_query, normalize, sorted_has
from synesthete.index.hnsw import MAX_THREADS, PARALLEL_ADD_ABOVE, omp_threads

# A list of 1,000 codes of 956-d took ~1 ms of CPU to scan here (faiss 1.15, AVX-512): at 10^6 tracks in
# 1,000 lists, 16 probed lists cost 24 ms a query (measured, CPU time), 8 cost 12 ms, at recall@10 1.000
# on the synthetic clusters either way. So 2*sqrt(n) lists (500 codes each at 10^6), 8 probed: ~4,000
# codes a query.
DEFAULT_PROBE = 8
DEFAULT_RERANK = 64  # candidates scored on the full vectors (the codes' order is nearly exact already)
TRAIN_PER_LIST = 40  # k-means sample: 40 rows a list (faiss warns under 39)
_CHUNK = 65_536
_NONE = np.empty(0, dtype=np.int64)
_BLAS = ThreadpoolController()  # one query's products on one BLAS thread (see index/exact.py)
VECTORS_SUFFIX = ".vectors.npy"  # beside the faiss file: the full vectors, float16, row i for ids[i]
IDS_SUFFIX = ".ids.npy"


def default_lists(n: int) -> int:
    """About 2*sqrt(n) lists (2,000 at 10^6), of 100 rows at least: below that, 8 probed lists hold too
    few rows to find 10 neighbours in (recall 0.8 on 1,000 random 16-d vectors in 25 lists)."""
    return max(1, min(round(2 * n**0.5), n // 100))


class QuantizedIndex:
    """A dict of track id to vector: 8-bit codes in inverted lists propose, full vectors decide.

    Give ``add`` the whole collection at once: the lists and the quantiser are fitted on the first add.
    The index keeps a reference to ``vectors``, not a copy, so the caller must not change them afterwards.
    """

    def __init__(
        self,
        dim: int,
        *,
        lists: int | None = None,
        probe: int = DEFAULT_PROBE,
        rerank: int = DEFAULT_RERANK,
        threads: int | None = None,
    ) -> None:
        if dim <= 0 or (lists is not None and lists < 1) or probe < 1 or rerank < 1:
            raise ParameterError(f"bad quantized index parameters: dim={dim} lists={lists} probe={probe}")
        self._dim, self._lists = int(dim), lists
        self._ivf: faiss.IndexIVFScalarQuantizer | None = None
        self._ids = np.empty(0, dtype=np.int64)
        self._vectors: np.ndarray = np.empty((0, self._dim), dtype=np.float32)
        self._sorted_ids = self._ids
        self.probe, self.rerank = int(probe), int(rerank)
        self.threads = threads or min(os.cpu_count() or 1, MAX_THREADS)

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def vectors(self) -> np.ndarray:
        """The full vectors, row i for ``ids[i]`` (not normalised; memory-mapped once loaded)."""
        return self._vectors

    @property
    def ids(self) -> np.ndarray:
        return self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, id: object) -> bool:
        return sorted_has(self._sorted_ids, id)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add ``vectors`` (n, d) under new ``ids`` (n,). Give the whole collection at once: the lists are
        fitted on the first add, and a later one copies the vectors kept so far."""
        ids, vectors = check_add(ids, vectors, self._dim)
        present = np.isin(ids, self._sorted_ids)
        if present.any():
            raise ParameterError(
                f"ids already in the index (rebuild it instead): {ids[present][:5].tolist()}"
            )
        if len(ids) == 0:
            return
        with omp_threads(self.threads if len(ids) >= PARALLEL_ADD_ABOVE else 1):
            if self._ivf is None:
                self._ivf = self._trained(vectors)
            for start in range(0, len(vectors), _CHUNK):  # row numbers are the lists' labels
                self._ivf.add(normalize(vectors[start : start + _CHUNK]))
        if len(self._ids):
            ids, vectors = np.concatenate([self._ids, ids]), np.concatenate([self._vectors, vectors])
        self._ids, self._vectors = ids, vectors
        self._sorted_ids = np.sort(ids)

    def _trained(self, vectors: np.ndarray) -> faiss.IndexIVFScalarQuantizer:
        """Lists (k-means centroids) and 8-bit ranges fitted on a sample of the unit vectors."""
        lists = self._lists or default_lists(len(vectors))
        size = min(len(vectors), max(TRAIN_PER_LIST * lists, 10_000))
        sample = np.sort(np.random.default_rng(0).choice(len(vectors), size, replace=False))
        ivf = faiss.IndexIVFScalarQuantizer(
            faiss.IndexFlatIP(self._dim), self._dim, lists, faiss.ScalarQuantizer.QT_8bit,
            faiss.METRIC_INNER_PRODUCT,
        )  # fmt: skip
        ivf.cp.seed = 1234  # the same collection gives the same lists
        ivf.train(normalize(vectors[sample]))
        return ivf

    def query(
        self,
        vector: np.ndarray,
        k: int = 10,
        *,
        exclude: Collection[int] = (),
        farthest: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` most similar ids and their exact cosine scores, best first (the candidates are
        approximate). ``farthest=True`` searches towards the negated query (the least similar), ascending."""
        q, single = check_query(vector, k, self._dim)
        q = normalize(q)
        if farthest:
            np.negative(q, out=q)
        skip = np.unique(np.fromiter((int(i) for i in exclude), dtype=np.int64)) if exclude else _NONE
        if len(skip) and len(self):  # only ids in the index cost depth (binary search: np.isin would sort
            at = np.minimum(np.searchsorted(self._sorted_ids, skip), len(self) - 1)  # all 10^6 ids: 4 ms)
            skip = skip[self._sorted_ids[at] == skip]
        k = max(0, min(k, len(self) - len(skip)))
        # One thread each for numpy and faiss: a query is small, and on a busy machine extra threads wait
        # for cores (faiss's own matrix products took 70 ms for one row at load 20).
        with _BLAS.limit(limits=1, user_api="blas"), omp_threads(1):
            found = [self._one(row, k, skip) for row in q]
        ids = np.array([f[0] for f in found], dtype=np.int64).reshape(len(q), k)
        scores = np.array([f[1] for f in found], dtype=np.float32).reshape(len(q), k)
        if farthest:
            np.negative(scores, out=scores)
        scores = np.clip(scores, -1.0, 1.0)
        return (ids[0], scores[0]) if single else (ids, scores)

    def _one(self, q: np.ndarray, k: int, skip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One unit query: the codes' best ``rerank + excluded`` rows, scored on the full vectors."""
        if k == 0 or self._ivf is None:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        want = min(len(self), max(self.rerank, k) + len(skip))
        params = faiss.SearchParametersIVF(nprobe=min(self.probe, self._ivf.nlist))
        _, rows = self._ivf.search(q[None, :], want, params=params)
        rows = np.sort(rows[0][rows[0] >= 0])  # sorted: the rows are read in file order
        rows = rows[~np.isin(self._ids[rows], skip)]
        if len(rows) < k:  # the probed lists held too few allowed rows (tiny or mostly excluded): every row
            rows = np.flatnonzero(~np.isin(self._ids, skip))
        scores = self._scores(rows, q)
        best = np.argsort(-scores, kind="stable")[:k]
        return self._ids[rows[best]], scores[best]

    def _scores(self, rows: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Exact cosine of ``q`` (unit) with the full vectors of ``rows``, a chunk of rows at a time."""
        out = np.empty(len(rows), dtype=np.float32)
        for start in range(0, len(rows), _CHUNK):
            part = np.asarray(self._vectors[rows[start : start + _CHUNK]], dtype=np.float32)
            dots, norms = part @ q, np.sqrt(np.einsum("ij,ij->i", part, part))
            out[start : start + _CHUNK] = np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)
        return out

    def save(self, path: str | Path) -> None:
        """The lists and codes to ``path`` (faiss), the ids and the full vectors (float16) beside it."""
        if self._ivf is None:
            raise ParameterError("an empty quantized index has nothing to save")
        faiss.write_index(self._ivf, str(path))
        np.save(f"{path}{IDS_SUFFIX}", self._ids)
        with open(f"{path}{VECTORS_SUFFIX}", "wb") as f:
            np.lib.format.write_array_header_1_0(
                f, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float16)), "fortran_order": False,
                    "shape": self._vectors.shape}
            )  # fmt: skip
            for start in range(0, len(self._vectors), _CHUNK):  # float16 a chunk at a time: no full copy
                f.write(np.ascontiguousarray(self._vectors[start : start + _CHUNK], dtype=np.float16).data)

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """The saved index, memory-mapped, not read: its lists of codes (faiss's ``IO_FLAG_MMAP``) and its
        full vectors are paged in as queries touch them, so a fresh process answers at once."""
        try:
            ivf = faiss.read_index(str(path), faiss.IO_FLAG_MMAP)
            ids = np.load(f"{path}{IDS_SUFFIX}", allow_pickle=False)
            vectors = np.load(f"{path}{VECTORS_SUFFIX}", mmap_mode="r", allow_pickle=False)
        except (RuntimeError, OSError, ValueError) as e:
            raise ParameterError(f"{path}: not a quantized index ({str(e).splitlines()[0]})") from e
        if not isinstance(ivf, faiss.IndexIVFScalarQuantizer) or vectors.shape != (len(ids), ivf.d):
            raise ParameterError(f"{path}: not a synesthete quantized index")
        self = cls(ivf.d)
        self._ivf, self._lists = ivf, ivf.nlist
        self._ids, self._vectors, self._sorted_ids = ids, vectors, np.sort(ids)
        return self
