"""Nearest-neighbour search by cosine similarity: exact (numpy) and approximate (HNSW, faiss).

Both kinds have the ``VectorIndex`` interface; ``build_index`` picks one by collection size.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from synesthete.exceptions import ParameterError
from synesthete.index.base import VectorIndex, normalize
from synesthete.index.exact import ExactIndex

if TYPE_CHECKING:
    from synesthete.index.hnsw import HNSWIndex
    from synesthete.index.quantized import QuantizedIndex

__all__ = [
    "ExactIndex", "HNSWIndex", "QuantizedIndex", "VectorIndex", "build_index", "exact_limit", "load_index",
    "normalize",
]  # fmt: skip


def __getattr__(name: str) -> Any:
    """Import faiss only when an HNSW index is wanted: it costs ~0.2 s and loads a second OpenMP BLAS
    whose threads compete with numpy's, slowing the exact search that most libraries need."""
    if name == "HNSWIndex":
        from synesthete.index.hnsw import HNSWIndex

        return HNSWIndex
    if name == "QuantizedIndex":
        from synesthete.index.quantized import QuantizedIndex

        return QuantizedIndex
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Exact search reads every value of the index once a query: its cost is tracks x dimensions. Measured
# on 2 cores (bench/index_speed.py, bench/scale.py --search): ~0.4 ns a value, so 10.5 ms at 25,000 x
# 956 (the fused space) and 22 ms at 50,000 x 956, 34 ms at 2*10^5 x 256, while an HNSW build costs
# ~0.1-0.2 ms a vector. Up to the budget exact wins (no build, no recall loss) and stays well inside the
# 20 ms target; beyond it, HNSW.
EXACT_VALUES = 25_000_000
# Past this many values, and wider than ``QUANTIZE_WIDER``, the index is inverted lists of 8-bit codes
# re-ranked on the full vectors (``QuantizedIndex``): a graph keeps a float32 copy of every vector (4
# bytes a value, 3.8 GB at 10^6 x 956) and builds on full-width distances (an hour or more). 10^8
# values: 10^5 fused tracks stay on ``HNSWIndex`` (measured: 0.85 GB, recall 1.0), 10^6 x 200 too (1.8 GB).
QUANTIZE_VALUES = 100_000_000
QUANTIZE_WIDER = 256


def exact_limit(dim: int) -> int:
    """The most vectors of ``dim`` dimensions that ``build_index`` searches exactly."""
    return EXACT_VALUES // max(1, dim)


def build_index(ids: np.ndarray, vectors: np.ndarray, *, approximate_above: int | None = None) -> VectorIndex:
    """An index holding ``vectors`` under ``ids``: exact up to ``approximate_above`` vectors (by default
    ``exact_limit`` of their width), HNSW beyond, quantized past ``QUANTIZE_VALUES`` values (that index
    keeps a reference to ``vectors``, not a copy)."""
    vectors = np.asarray(vectors)
    if vectors.ndim != 2:
        raise ParameterError(f"vectors must be 2-d (n, d), got shape {vectors.shape}")
    limit = exact_limit(vectors.shape[1]) if approximate_above is None else approximate_above
    if len(vectors) > limit and vectors.size > QUANTIZE_VALUES and vectors.shape[1] > QUANTIZE_WIDER:
        from synesthete.index.quantized import QuantizedIndex

        index: VectorIndex = QuantizedIndex(vectors.shape[1])
    elif len(vectors) > limit:
        from synesthete.index.hnsw import HNSWIndex

        index = HNSWIndex(vectors.shape[1])
    else:
        index = ExactIndex(vectors.shape[1])
    index.add(ids, vectors)
    return index


def load_index(path: str | Path) -> VectorIndex:
    """Load an index saved by any kind (an exact index is a zip file, an HNSW index a faiss file, a
    quantized one a faiss file with its ids and vectors beside it)."""
    with open(path, "rb") as f:
        is_zip = f.read(4) == b"PK\x03\x04"
    if is_zip:
        return ExactIndex.load(path)
    from synesthete.index.hnsw import HNSWIndex
    from synesthete.index.quantized import VECTORS_SUFFIX, QuantizedIndex

    if Path(f"{path}{VECTORS_SUFFIX}").exists():
        return QuantizedIndex.load(path)

    return HNSWIndex.load(path)
