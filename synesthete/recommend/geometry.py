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
        v = self.space.vectors[np.asarray(rows)][..., columns].astype(np.float64)
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
