"""A model's search space: the collection's vectors standardised, weighted and indexed for cosine search.

Raw vectors are stored as the extractor made them; how they are compared is decided here, over the whole
collection, so the catalog never needs rewriting when the collection grows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synesthete.exceptions import UserError
from synesthete.index import ExactIndex, HNSWIndex, VectorIndex, build_index

MIN_SCALE = 1e-6


@dataclass
class Space:
    """The searchable vectors of one model (extractor name and version) at one catalog generation."""

    model: str
    version: int
    ids: np.ndarray
    vectors: np.ndarray  # transformed: standardised and weighted (the index normalises them)
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    index: VectorIndex
    _exact: ExactIndex | None = None

    @classmethod
    def build(
        cls, model: str, version: int, ids: np.ndarray, raw: np.ndarray, weights: np.ndarray | None
    ) -> Space:
        if len(ids) == 0:
            raise UserError(
                f"no track has a '{model}' vector yet: scan a folder first (synesthete scan PATH)"
            )
        raw = raw.astype(np.float64)
        mean = raw.mean(axis=0)
        scale = np.maximum(raw.std(axis=0), MIN_SCALE)
        w = np.ones(raw.shape[1]) if weights is None else np.asarray(weights, dtype=np.float64)
        vectors = (((raw - mean) / scale) * w).astype(np.float32)
        return cls(model, version, ids, vectors, mean, scale, w, build_index(ids, vectors))

    @property
    def name(self) -> str:
        """The model as results report it, e.g. 'descriptors-v1'."""
        return f"{self.model}-v{self.version}"

    def transform(self, raw: np.ndarray) -> np.ndarray:
        """Bring a vector made outside the collection (an uploaded file) into this space."""
        return (((np.asarray(raw, dtype=np.float64) - self.mean) / self.scale) * self.weights).astype(
            np.float32
        )

    def vector_of(self, track_id: int) -> np.ndarray:
        rows = np.flatnonzero(self.ids == track_id)
        if len(rows) == 0:
            raise UserError(f"track {track_id} has no '{self.model}' vector: run `synesthete scan` again")
        return self.vectors[rows[0]]

    def __contains__(self, track_id: int) -> bool:
        return track_id in self.index

    def search(
        self, query: np.ndarray, k: int, *, exclude: tuple[int, ...] = (), dissimilar: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """(ids, cosine scores): most similar first, or least similar first when ``dissimilar``."""
        if not dissimilar:
            return self.index.query(query, k, exclude=exclude)
        return self.exact.query(query, k, exclude=exclude, farthest=True)

    def save(self, folder: Path, generation: int) -> None:
        """Keep the built space on disk, so a large collection is not re-indexed by every process."""
        folder.mkdir(parents=True, exist_ok=True)
        stem = folder / self.name
        if isinstance(self.index, HNSWIndex):
            self.index.save(f"{stem}.faiss.tmp")
            os.replace(f"{stem}.faiss.tmp", f"{stem}.faiss")
        with open(f"{stem}.npz.tmp", "wb") as fh:
            np.savez(
                fh,
                ids=self.ids,
                vectors=self.vectors,
                mean=self.mean,
                scale=self.scale,
                weights=self.weights,
                generation=generation,
                approximate=not isinstance(self.index, ExactIndex),
            )
        os.replace(f"{stem}.npz.tmp", f"{stem}.npz")

    @classmethod
    def load(cls, folder: Path, model: str, version: int, generation: int) -> Space | None:
        """The space saved at ``generation``, or None when there is none or it is out of date."""
        stem = folder / f"{model}-v{version}"
        try:
            with np.load(f"{stem}.npz") as z:
                if int(z["generation"]) != generation:
                    return None
                ids, vectors = z["ids"], z["vectors"]
                mean, scale, weights, approximate = (
                    z["mean"],
                    z["scale"],
                    z["weights"],
                    bool(z["approximate"]),
                )
            if approximate:
                index: VectorIndex = HNSWIndex.load(f"{stem}.faiss")
            else:
                index = ExactIndex(vectors.shape[1])
                index.add(ids, vectors)
        except (OSError, KeyError, ValueError):
            return None
        return cls(model, version, ids, vectors, mean, scale, weights, index)

    @property
    def exact(self) -> ExactIndex:
        """Exact search over the same vectors; the only way to answer 'least similar'."""
        if isinstance(self.index, ExactIndex):
            return self.index
        if self._exact is None:
            self._exact = ExactIndex(self.vectors.shape[1])
            self._exact.add(self.ids, self.vectors)
        return self._exact
