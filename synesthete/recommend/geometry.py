"""What every playlist builder needs from a ``Space``: its unit vectors, descriptor values, one BLAS thread.

A space keeps its vectors standardised and weighted; cosine on their unit rows is the similarity that
``similar`` answers with, so every playlist measures closeness the same way. Descriptor values (tempo in
BPM, centroid, chroma...) are recovered from the ``descriptors`` space by undoing its transform, so no
second copy of the raw vectors is kept.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

import numpy as np

from synesthete.exceptions import UserError
from synesthete.index import QuantizedIndex, normalize
from synesthete.recommend.space import Space

P = ParamSpec("P")
R = TypeVar("R")


@functools.cache
def _controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()  # made on first use, after numpy and scipy have loaded their BLAS


def one_blas_thread() -> AbstractContextManager:
    """BLAS limited to one thread. Playlist maths is many small products, for which waking a second
    thread costs more than it saves: on 2 busy cores, radio at 10^4 tracks went from 30 to 9 ms of CPU
    and journeys from 116 to 20 ms; a 200 x 27 Gram matrix alone took 20 ms with two threads."""
    return _controller().limit(limits=1, user_api="blas")


def single_threaded(fn: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with one_blas_thread():
            return fn(*args, **kwargs)

    return wrapper


def unit_vectors(space: Space) -> np.ndarray:
    """All unit rows of ``space``, in the order of ``space.ids`` (the exact index keeps them already)."""
    return space.exact.vectors


NEIGHBOURS = 256  # candidates the index proposes for a step of a drift or of the greedy baseline
READ_ROWS = 8_192  # rows read from the mapped file at a time when every row of a set must be scored
_NONE = np.empty(0, dtype=np.int64)


class MappedUnits:
    """The unit rows of a space searched by a quantized index (10^6 wide tracks), read when asked for.

    Why: an exact copy of every unit row is 3.8 GB at 10^6 x 956, twice the space's own memory-mapped
    float16 file, and journeys, drifts and clusters need only the rows of their candidates. ``u[rows]``
    and ``len(u)`` behave as on the array ``unit_vectors`` returns; products with every row are replaced
    by the index's candidates (``nearest``, ``neighbours``, ``most_similar``).
    """

    def __init__(self, space: Space) -> None:
        self.space = space

    def __len__(self) -> int:
        return len(self.space.ids)

    def __getitem__(self, rows: int | np.integer | Sequence[int] | np.ndarray) -> np.ndarray:
        """Unit rows as ``normalize`` makes them, float32: one row (d,) for an integer, else (m, d)."""
        if isinstance(rows, int | np.integer):
            return normalize(np.asarray(self.space.vectors[int(rows)][None, :], dtype=np.float32))[0]
        return normalize(np.asarray(self.space.vectors[np.asarray(rows, dtype=np.int64)], dtype=np.float32))

    def nearest(self, points: np.ndarray, k: int, allowed: np.ndarray) -> np.ndarray:
        """The allowed rows (a mask of every row) among the ``k`` nearest of each unit point, merged."""
        skip = tuple(self.space.ids[~allowed].tolist())
        ids, _ = self.space.search(points, min(k, int(allowed.sum())), exclude=skip)
        rows = self.space.rows(np.unique(ids))
        return rows[rows >= 0]

    def neighbours(self, row: int, k: int, skip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` rows most similar to ``row``, ``skip`` rows left out, and their cosines; best first."""
        ids, scores = self.space.search(self[row], k, exclude=tuple(self.space.ids[skip].tolist()))
        return self.space.rows(ids), scores

    def most_similar(self, row: int, mask: np.ndarray) -> int:
        """The row in ``mask`` (not empty) most similar to ``row``: among the index's candidates when one
        is in it, else by reading the rows of ``mask`` (a few thousand at a time)."""
        rows, _ = self.neighbours(row, NEIGHBOURS, _NONE)
        hits = rows[mask[rows]]
        if len(hits):
            return int(hits[0])
        inside, q = np.flatnonzero(mask), self[row]
        sims = np.concatenate([self[inside[s : s + READ_ROWS]] @ q for s in range(0, len(inside), READ_ROWS)])
        return int(inside[np.argmax(sims)])


Units = np.ndarray | MappedUnits


def unit_rows(space: Space) -> Units:
    """The unit rows of ``space`` for playlist maths: the exact index's matrix, or, when the space is
    searched by a quantized index, the rows read from its mapped vectors as they are needed."""
    if isinstance(space.index, QuantizedIndex):
        return MappedUnits(space)
    return unit_vectors(space)


@dataclass(frozen=True)
class Descriptors:
    """Named descriptor values of the collection, read back from the ``descriptors`` space.

    ``raw`` gives the values as the extractor made them (BPM, log2 Hz, dB); ``z`` the standardised values
    (collection mean 0, deviation 1), which say whether a track is, say, bright for this collection.
    """

    space: Space
    names: np.ndarray
    groups: np.ndarray

    @classmethod
    def of(cls, space: Space, names: Sequence[str], groups: Sequence[str]) -> Descriptors:
        return cls(space, np.asarray(names), np.asarray(groups))

    def column(self, name: str) -> int:
        hits = np.flatnonzero(self.names == name)
        if len(hits) == 0:
            raise UserError(f"no descriptor called '{name}'")
        return int(hits[0])

    def z(self, rows: np.ndarray, columns: Sequence[int] | slice = slice(None)) -> np.ndarray:
        rows = np.asarray(rows)
        if isinstance(columns, slice) or rows.ndim != 1:
            v = self.space.vectors[rows][..., columns].astype(np.float64)
        else:  # only these columns of these rows: a drift reads one value of each of 10^6 rows
            v = self.space.vectors[np.ix_(rows, np.asarray(columns))].astype(np.float64)
        return v / self.space.weights[columns]

    def raw(self, rows: np.ndarray, columns: Sequence[int] | slice = slice(None)) -> np.ndarray:
        return self.z(rows, columns) * self.space.scale[columns] + self.space.mean[columns]

    def raw_of_vector(self, transformed: np.ndarray) -> np.ndarray:
        """Raw values of a vector already brought into the space (an outside file)."""
        return np.asarray(transformed, np.float64) / self.space.weights * self.space.scale + self.space.mean

    def values(self, ids: Sequence[int], name: str) -> np.ndarray:
        """Raw values of descriptor ``name`` for ``ids`` (NaN where a track has no descriptors)."""
        rows = self.space.rows(ids)
        out = np.full(len(rows), np.nan)
        ok = rows >= 0
        if ok.any():
            col = self.column(name)
            out[ok] = self.raw(rows[ok], [col])[:, 0]
        return out
