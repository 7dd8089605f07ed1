"""A model's search space: the collection's vectors standardised, weighted and indexed for cosine search.

Raw vectors are stored as the extractors made them; how they are compared is decided here, over the whole
collection, so the catalog never needs rewriting when the collection grows. A space is either one
extractor's, or a fusion of several: each member's standardised vector scaled to unit length times the
square root of its weight, so that the cosine of the concatenation is the weighted mean of the members'
cosines. A member may be projected first (``projected``: ``fused``'s learnt metric, models/metric.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from synesthete.exceptions import ParameterError, UserError
from synesthete.index import ExactIndex, HNSWIndex, QuantizedIndex, VectorIndex, build_index, normalize
from synesthete.index.base import row_norms
from synesthete.index.quantized import IDS_SUFFIX, VECTORS_SUFFIX

MIN_SCALE = 1e-6
CHUNK = 65_536  # rows transformed at a time


def _column_stats(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each column, in float64, reading ``CHUNK`` rows at a time."""
    n = max(len(raw), 1)
    total = np.zeros(raw.shape[1])
    for start in range(0, len(raw), CHUNK):
        total += raw[start : start + CHUNK].sum(axis=0, dtype=np.float64)
    mean = total / n
    squares = np.zeros(raw.shape[1])
    for start in range(0, len(raw), CHUNK):
        part = raw[start : start + CHUNK].astype(np.float64)  # then in place: one float64 chunk
        part -= mean
        squares += np.square(part, out=part).sum(axis=0)
    return mean, np.sqrt(squares / n)


def _keep_rows(vectors: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The rows of ``vectors`` where ``keep``, moved up in place ``CHUNK`` rows at a time (each row moves
    to a row at or before its own, which no later chunk still reads): no second array of them."""
    kept = np.flatnonzero(keep)
    for first in range(0, len(kept), CHUNK):
        rows = kept[first : first + CHUNK]
        vectors[first : first + len(rows)] = vectors[rows]
    return vectors[: len(kept)]


class RowNorms:
    """Each row's length over ``columns`` (``row_norms``), measured the first time the row is asked for
    (``norms[rows]``) and kept. Why: measuring every row up front reads the whole mapped vectors file (1.9
    GB at 10^6 fused tracks, from disk when its pages are not cached) for a fresh `serve`'s first answer,
    whose resident memory then held 1.9 GB of its pages (63 MB without); an answer needs the ~20 rows of
    its results."""

    def __init__(self, vectors: np.ndarray, columns: np.ndarray) -> None:
        self._vectors, self._columns = vectors, np.flatnonzero(columns)
        self._known = np.full(len(vectors), np.nan, dtype=np.float32)

    def __getitem__(self, rows: np.ndarray) -> np.ndarray:
        out = self._known[rows]
        missing = np.isnan(out)
        if missing.any():
            new = np.unique(np.asarray(rows)[missing])
            self._known[new] = row_norms(np.array(self._vectors[new][:, self._columns], dtype=np.float32))
            out = self._known[rows]
        return out


@dataclass
class Space:
    """The searchable vectors of one model (extractor, or fusion of extractors) at one catalog generation."""

    model: str
    version: int
    ids: np.ndarray
    vectors: np.ndarray  # transformed: standardised and weighted (the index normalises them); memory-mapped
    # float16 when loaded with a quantized index (10^6 fused tracks: 1.9 GB on disk, paged in row by row)
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    built_index: VectorIndex | None  # None until first searched (see ``index``)
    members: tuple[str, ...] = ()  # the extractors whose raw vectors, concatenated, this space reads
    blocks: tuple[tuple[int, int, float], ...] = ()  # fused: each member's columns and weight
    names: np.ndarray | None = None  # per dimension, for explanations and map axes
    groups: np.ndarray | None = None  # per dimension: timbre, tonal... or, unnamed, the model's own name
    # standardised columns -> this space's columns (a member's learnt metric); fused: one per block
    projection: np.ndarray | None = None
    projections: tuple[np.ndarray | None, ...] = ()
    _exact: ExactIndex | None = None
    _group_norms: dict[str, tuple[np.ndarray, np.ndarray | RowNorms] | None] = field(
        default_factory=dict, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        self.members = self.members or (self.model,)
        dim = self.vectors.shape[1]
        if self.names is None:
            self.names = np.array([f"{self.model} {i}" for i in range(dim)])
        if self.groups is None:
            self.groups = np.full(dim, self.model)  # a learned embedding is one group: "musicnn", "cnn"

    @classmethod
    def build(
        cls,
        model: str,
        version: int,
        ids: np.ndarray,
        raw: np.ndarray,
        weights: np.ndarray | None,
        *,
        names: Sequence[str] | None = None,
        groups: Sequence[str] | None = None,
        inplace: bool = False,
    ) -> Space:
        """One extractor's space from its raw vectors of the whole collection.

        ``inplace=True`` standardises ``raw`` (float32) in its own memory, overwriting it: a caller that
        read it only to build the space needs no second copy (10^6 x 498: 2 GB).
        """
        if len(ids) == 0:
            raise UserError(
                f"no track has a '{model}' vector yet: scan a folder first (synesthete scan PATH)"
            )
        mean, scale = _column_stats(raw)
        scale = np.maximum(scale, MIN_SCALE)
        w = np.ones(raw.shape[1]) if weights is None else np.asarray(weights, dtype=np.float64)
        vectors = raw if inplace else np.empty(raw.shape, dtype=np.float32)
        for start in range(0, len(raw), CHUNK):  # float64 a chunk at a time: 10^6 x 498 fits in memory
            part = raw[start : start + CHUNK].astype(np.float64)  # then in place: one float64 chunk
            part -= mean
            part /= scale
            part *= w
            vectors[start : start + CHUNK] = part
        return cls(
            model, version, ids, vectors, mean, scale, w, None,
            names=None if names is None else np.asarray(names),
            groups=None if groups is None else np.asarray(groups),
        )  # fmt: skip

    @classmethod
    def fuse(
        cls,
        model: str,
        version: int,
        spaces: Iterable[Space],
        weights: Sequence[float],
        dims: Sequence[int],
    ) -> Space:
        """The weighted fusion of member spaces (of ``dims`` columns each), over the tracks every member has.

        ``spaces`` may be built one at a time (a generator): each is written into the fused array and let go
        before the next is asked for, so the build holds the fused array and one member, not every member's
        standardised copy beside it (10^6 tracks: 3.8 GB less).
        """
        vectors = np.empty((0, sum(dims)), dtype=np.float32)
        ids, have = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
        blocks: list[tuple[int, int, float]] = []
        parts: dict[str, list[np.ndarray]] = {a: [] for a in ("mean", "scale", "weights", "names", "groups")}
        members: list[str] = []
        projections: list[np.ndarray | None] = []
        start, members_left = 0, iter(spaces)
        for w, dim in zip(weights, dims, strict=True):
            # next(), not a zip over ``spaces``: zip's reused result tuple would hold the last member
            # while the next one is built.
            s = next(members_left, None)
            if s is None:
                raise ParameterError(f"'{model}' has {len(dims)} members, fewer spaces were given")
            if s.vectors.shape[1] != dim:
                raise ParameterError(f"'{s.model}' has {s.vectors.shape[1]} dimensions, not {dim}")
            if not blocks:  # rows: the first member's tracks (those another member lacks go at the end)
                ids, have = s.ids, np.ones(len(s.ids), dtype=bool)
                vectors = np.empty((len(ids), sum(dims)), dtype=np.float32)
            rows, stop = s.rows(ids), start + dim
            have &= rows >= 0
            for first in range(0, len(ids), CHUNK):  # float64 a chunk at a time, straight into the result
                block = normalize(s.vectors[rows[first : first + CHUNK]].astype(np.float64), inplace=True)
                block *= np.sqrt(w)
                vectors[first : first + CHUNK, start:stop] = block
            blocks.append((start, stop, float(w)))
            members.append(s.model)
            projections.append(s.projection)
            for attr, got in parts.items():
                got.append(getattr(s, attr))
            start = stop
            del s, rows, block  # the member's vectors go before the next member is read
        if not have.any():
            raise UserError(f"no track has every vector of '{model}' yet: run `synesthete scan` again")
        if not have.all():
            vectors, ids = _keep_rows(vectors, have), ids[have]

        def joined(attr: str) -> np.ndarray:
            return np.concatenate(parts[attr])

        return cls(
            model, version, ids, vectors, joined("mean"), joined("scale"), joined("weights"),
            None, members=tuple(members), blocks=tuple(blocks),
            names=joined("names"), groups=joined("groups"), projections=tuple(projections),
        )  # fmt: skip

    def projected(self, projection: np.ndarray, group: str) -> Space:
        """This member's space seen through ``projection`` (its columns x new ones), to be fused: the new
        columns form one ``group``; ``mean``, ``scale`` and ``weights`` stay those of the raw vectors,
        which is what an outside file's vector needs (``transform``)."""
        p = np.asarray(projection, dtype=np.float32)
        vectors = np.empty((len(self.ids), p.shape[1]), dtype=np.float32)
        for first in range(0, len(self.ids), CHUNK):
            vectors[first : first + CHUNK] = self.vectors[first : first + CHUNK] @ p
        return Space(
            self.model, self.version, self.ids, vectors, self.mean, self.scale, self.weights, None,
            names=np.array([f"{group} {self.model} {i}" for i in range(p.shape[1])]),
            groups=np.full(p.shape[1], group), projection=p,
        )  # fmt: skip

    @property
    def name(self) -> str:
        """The model as results report it, e.g. 'descriptors-v1'."""
        return f"{self.model}-v{self.version}"

    def transform(self, raw: np.ndarray) -> np.ndarray:
        """Bring a raw vector made outside the collection (an uploaded file) into this space.

        For a fused space ``raw`` is the members' raw vectors concatenated in ``members`` order.
        """
        z = ((np.asarray(raw, dtype=np.float64) - self.mean) / self.scale) * self.weights
        if self.projection is not None:
            z = z @ self.projection
        if not self.blocks:
            return z.astype(np.float32)
        out = np.empty((*z.shape[:-1], self.vectors.shape[1]), dtype=np.float64)
        read = 0  # a projected block reads the member's standardised columns, more than it writes
        for (start, stop, w), p in zip(
            self.blocks, self.projections or (None,) * len(self.blocks), strict=True
        ):
            part = z[..., read : read + (stop - start if p is None else p.shape[0])]
            read += part.shape[-1]
            out[..., start:stop] = normalize(part if p is None else part @ p, dtype=np.float64) * np.sqrt(w)
        return out.astype(np.float32)

    def transform_vectors(self, vectors: Mapping[str, np.ndarray]) -> np.ndarray:
        """``transform`` from an analysis's vectors by extractor name."""
        return self.transform(np.concatenate([np.asarray(vectors[m]).ravel() for m in self.members]))

    def rows(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """Row of each id (-1 where the id has no vector). Ids are sorted: the catalog reads them in order."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if len(self.ids) == 0 or len(ids) == 0:
            return np.full(len(ids), -1, dtype=np.int64)
        pos = np.searchsorted(self.ids, ids).clip(0, len(self.ids) - 1)
        return np.where(self.ids[pos] == ids, pos, -1)

    def row(self, track_id: int) -> int:
        """The row of one track; a track without a vector is an error that says what to do."""
        row = int(self.rows([track_id])[0])
        if row < 0:
            raise UserError(f"track {track_id} has no '{self.model}' vector: run `synesthete scan` again")
        return row

    def vector_of(self, track_id: int) -> np.ndarray:
        return self.vectors[self.row(track_id)]

    def __contains__(self, track_id: int) -> bool:
        return bool(self.rows([track_id])[0] >= 0)

    @property
    def index(self) -> VectorIndex:
        """The search index, built on first use: a fused space's members are read, never searched, and
        an HNSW graph of 10^6 tracks takes minutes."""
        if self.built_index is None:
            self.built_index = build_index(self.ids, self.vectors)
        return self.built_index

    def search(
        self, query: np.ndarray, k: int, *, exclude: tuple[int, ...] = (), dissimilar: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """(ids, cosine scores): most similar first, or least similar first when ``dissimilar``.

        'Least similar' is exact, but on a space with a quantized index (10^6 wide tracks and more), whose
        exact copy would double the memory of the process: there it searches towards the negated query.
        """
        if not dissimilar:
            return self.index.query(query, k, exclude=exclude)
        if isinstance(self.index, QuantizedIndex):
            return self.index.query(query, k, exclude=exclude, farthest=True)
        return self.exact.query(query, k, exclude=exclude, farthest=True)

    def search_ends(
        self, query: np.ndarray, nearest: int, farthest: int
    ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """``search(query, nearest)`` and ``search(query, farthest, dissimilar=True)`` of (m, d) queries:
        from one pass over the vectors when the index is exact, as at 10^4 tracks."""
        if isinstance(self.index, ExactIndex):
            return self.index.query_ends(query, nearest, farthest)
        return self.search(query, nearest), self.search(query, farthest, dissimilar=True)

    def save(self, folder: Path, generation: int) -> None:
        """Keep the built space on disk, so a large collection is not re-indexed by every process."""
        folder.mkdir(parents=True, exist_ok=True)
        stem = folder / self.name
        quantized = isinstance(self.index, QuantizedIndex)
        if isinstance(self.index, HNSWIndex | QuantizedIndex):  # renamed whole: a process may be reading
            self.index.save(f"{stem}.faiss.tmp")  # (or memory-mapping) the old files
            for suffix in ("", IDS_SUFFIX, VECTORS_SUFFIX) if quantized else ("",):
                os.replace(f"{stem}.faiss.tmp{suffix}", f"{stem}.faiss{suffix}")
        with open(f"{stem}.npz.tmp", "wb") as fh:
            np.savez(
                fh, ids=self.ids, mean=self.mean, scale=self.scale, weights=self.weights,
                vectors=np.empty((0, self.vectors.shape[1]), np.float32) if quantized else self.vectors,
                members=np.array(self.members), blocks=np.array(self.blocks, dtype=np.float64).reshape(-1, 3),
                names=self.names, groups=self.groups, generation=generation,
                projected=np.array([p is not None for p in self.projections], dtype=bool),
                **{f"projection{i}": p for i, p in enumerate(self.projections) if p is not None},
                approximate=not isinstance(self.index, ExactIndex), quantized=quantized,
            )  # fmt: skip  # a quantized index's vectors: its float16 file, memory-mapped
        os.replace(f"{stem}.npz.tmp", f"{stem}.npz")
        if quantized:  # from now on read as every other process reads it: same answers, float32 copy freed
            self.built_index = QuantizedIndex.load(f"{stem}.faiss")
            self.vectors = self.built_index.vectors

    @classmethod
    def load(cls, folder: Path, model: str, version: int, generation: int) -> Space | None:
        """The space saved at ``generation``, or None when there is none or it is out of date."""
        stem = folder / f"{model}-v{version}"
        index: VectorIndex | None = None
        try:
            with np.load(f"{stem}.npz", allow_pickle=False) as z:
                if int(z["generation"]) != generation:
                    return None
                fields = {k: z[k] for k in ("ids", "vectors", "mean", "scale", "weights", "names", "groups")}
                members = tuple(str(m) for m in z["members"])
                blocks = tuple((int(a), int(b), float(w)) for a, b, w in z["blocks"])
                projected = z["projected"] if "projected" in z else np.zeros(0, bool)
                projections = tuple(z[f"projection{i}"] if on else None for i, on in enumerate(projected))
                approximate = bool(z["approximate"])
                quantized = bool(z["quantized"]) if "quantized" in z else False
            if quantized:
                index = QuantizedIndex.load(f"{stem}.faiss")
                fields["vectors"] = index.vectors
            elif approximate:
                index = HNSWIndex.load(f"{stem}.faiss")  # exact: built when searched
        except (OSError, KeyError, ValueError, ParameterError):
            return None
        return cls(
            model, version, fields["ids"], fields["vectors"], fields["mean"], fields["scale"], fields["weights"],
            index, members=members, blocks=blocks, names=fields["names"], groups=fields["groups"],
            projections=projections,
        )  # fmt: skip

    def group_norms(self, group: str) -> tuple[np.ndarray, np.ndarray | RowNorms] | None:
        """The columns of ``group`` (e.g. "tonal", a mask) and each row's length over them (``row_norms``);
        None when no column is in it. Measured once per space, n floats: near-duplicate removal scales
        the rows of every result list by them, and measuring them afresh each time cost more than the
        comparison (keeping the scaled columns would cost megabytes). A space read from a mapped file (a
        quantized index's) measures each row the first time it is asked for (``RowNorms``)."""
        if group not in self._group_norms:
            columns = self.groups == group
            self._group_norms[group] = None
            if columns.any() and isinstance(self.vectors, np.memmap):
                self._group_norms[group] = (columns, RowNorms(self.vectors, columns))
            elif columns.any():
                parts = [
                    row_norms(np.array(self.vectors[start : start + CHUNK][:, columns], dtype=np.float32))
                    for start in range(0, len(self.vectors), CHUNK)
                ]
                self._group_norms[group] = (
                    columns,
                    np.concatenate(parts) if parts else np.zeros(0, np.float32),
                )
        return self._group_norms[group]

    @property
    def quantized(self) -> bool:
        """Whether the space is searched by a quantized index (10^6 wide tracks): no exact copy is kept."""
        return isinstance(self.built_index, QuantizedIndex)

    @property
    def exact(self) -> ExactIndex:
        """Exact search over the same vectors; the only way to answer 'least similar'."""
        if isinstance(self.built_index, ExactIndex):
            return self.built_index
        if self._exact is None:
            self._exact = ExactIndex(self.vectors.shape[1])
            self._exact.add(self.ids, self.vectors)
        return self._exact
