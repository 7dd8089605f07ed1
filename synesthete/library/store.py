"""The catalog interface: every operation the rest of synesthete needs from a catalog, and its records.

Why a ``Protocol``: SQL lives in one implementation (``library/catalog.py``, SQLite), so a second one
(PostgreSQL) is this interface implemented again, with nothing else to change. Callers hold a
``CatalogStore``; only ``Library`` picks the implementation.

Writes are atomic per call; ``transaction()`` groups several calls into one (calls inside it join it).
Every write moves ``generation`` on, so readers can cache what they derive and know when to rebuild it;
``save_projection`` is the exception (a map is derived data). Fingerprint methods take the landmark
format's ``version`` and answer for current fingerprints (that version) only, unless said otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

Vectors = Mapping[str, tuple[int, np.ndarray]]  # extractor name -> (its version, the vector)
Fingerprint = tuple[int, bytes]  # (landmark format version, packed landmarks: 8 bytes each)


@dataclass(frozen=True)
class Track:
    """A catalogued, analysed file."""

    id: int
    path: str
    title: str | None = None
    artist: str | None = None
    album: str | None = None
    genre: str | None = None
    duration: float | None = None

    @property
    def label(self) -> str:
        """'Artist - Title', or whatever part of it the tags give."""
        return " - ".join(x for x in (self.artist, self.title) if x) or Path(self.path).stem

    def to_dict(self) -> dict:
        # Spelled out: ``dataclasses.asdict`` deep-copies, and the HTTP API builds ~10^4 of these a second.
        return {
            "track_id": self.id, "path": self.path, "title": self.title, "artist": self.artist,
            "album": self.album, "genre": self.genre, "duration": self.duration,
        }  # fmt: skip


@dataclass(frozen=True)
class FileState:
    """What the catalog remembers of a file, to decide whether a scan must look at it again."""

    id: int
    size: int
    mtime: float
    content_hash: str
    # When the file was last analysed whole: a fact of the catalog, not of the file, so not compared.
    analysed_at: float = field(default=0.0, compare=False)


@dataclass(frozen=True)
class Failure:
    path: str
    reason: str


@dataclass(frozen=True)
class ProjectionKey:
    """Which cached map: a model (with its version, e.g. 'descriptors-v1'), method, dims and seed."""

    model: str
    method: str
    dims: int
    seed: int


def projection_of(
    key: ProjectionKey, stamp: str, row: tuple | None
) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
    """A stored map (row: stamp, ids, coords, axes as JSON) as (ids, coords, axes), if ``stamp`` is still
    the one it was made at; shared by the catalogs so both read a map the same way."""
    if row is None or row[0] != stamp:
        return None
    ids = np.frombuffer(row[1], dtype=np.int64)
    return ids, np.frombuffer(row[2], dtype=np.float32).reshape(len(ids), key.dims), json.loads(row[3])


@dataclass(frozen=True)
class Pending:
    """The fingerprints above an ``fp_id`` (any version): how many, the highest id, their landmarks."""

    count: int
    last: int | None
    landmarks: int


class CatalogStore(Protocol):
    """A library's catalog: tracks, vectors per extractor version, fingerprints, maps, meta, failures."""

    folder: Path  # the library folder: indexes, logs and models live beside the catalog

    def close(self) -> None: ...

    def transaction(self) -> AbstractContextManager[object]:
        """Group the calls made inside into one atomic write; what it yields is the implementation's."""
        ...

    @property
    def generation(self) -> int:
        """Moves on every write."""
        ...

    # ---- tracks ----------------------------------------------------------------------------------
    def tracks(self, search: str | None = None, limit: int | None = None, offset: int = 0) -> list[Track]:
        """Ordered by artist, album, title, path; ``search``: every word in tags or path (ASCII case folded)."""
        ...

    def track(self, track_id: int) -> Track | None: ...

    def track_at(self, path: str) -> Track | None:
        """The track at exactly this path (byte for byte)."""
        ...

    def tracks_by_ids(self, ids: Iterable[int]) -> dict[int, Track]: ...

    def track_facts(self, ids: Iterable[int]) -> dict[int, tuple[str, float]]:
        """track id -> (content hash, duration in seconds): what tells copies of one file apart."""
        ...

    def tag_in_use(self, tag: str, word: str | None = None, *, part: bool = False) -> bool:
        """Whether some track's ``tag`` (artist, album, genre) is ``word`` (lower case), holds it
        (``part``), or, with no word, is set at all."""
        ...

    def count(self) -> int: ...

    def file_states(self) -> dict[str, FileState]: ...

    def save_track(
        self,
        path: str,
        *,
        size: int,
        mtime: float,
        content_hash: str,
        tags: Mapping[str, str | None],
        duration: float,
        vectors: Vectors,
        fingerprint: Fingerprint | None = None,
    ) -> int:
        """Insert or update the track at ``path`` with its vectors and fingerprint, atomically; its id."""
        ...

    def move_track(self, track_id: int, path: str, *, size: int, mtime: float) -> None: ...

    def touch_track(self, track_id: int, *, size: int, mtime: float) -> None: ...

    def remove_paths(self, paths: list[str]) -> int:
        """Forget the tracks (with their vectors and fingerprints) and failures at these paths."""
        ...

    # ---- failures --------------------------------------------------------------------------------
    def record_failure(self, path: str, reason: str) -> None:
        """Why a file could not be analysed; a stale track at that path is forgotten."""
        ...

    def failures(self) -> list[Failure]: ...

    def failure_paths(self) -> list[str]: ...

    # ---- vectors ---------------------------------------------------------------------------------
    def add_vectors(self, track_id: int, vectors: Vectors, fingerprint: Fingerprint | None = None) -> None:
        """Replace some of a track's vectors (and its fingerprint), atomically."""
        ...

    def vectors(self, extractor: str, version: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids int64 (n,), vectors float32 (n, dim)) of every track with such a vector, by id."""
        ...

    def vector_versions(self) -> dict[int, dict[str, int]]:
        """track id -> extractor -> version of its stored vector."""
        ...

    def vector_counts(self) -> dict[tuple[str, int], int]: ...

    def count_with_vectors(self, versions: Mapping[str, int]) -> int:
        """How many tracks have a vector of every one of these extractors at these versions."""
        ...

    # ---- fingerprints ----------------------------------------------------------------------------
    # Each has an ``fp_id`` that is never reused: a replaced fingerprint gets a new one, so the landmark
    # index (fingerprint/index.py) tells its old landmarks from the new ones.
    def save_fingerprint(self, track_id: int, version: int, blob: bytes) -> None:
        """Replace a track's fingerprint; the old one's landmarks count as orphans."""
        ...

    def fingerprint_count(self, version: int) -> int: ...

    def fingerprint_versions(self) -> dict[int, int]:
        """track id -> version of its stored fingerprint (any version)."""
        ...

    def fingerprint_tracks(self, version: int, fp_ids: Iterable[int] | None = None) -> dict[int, int]:
        """fp_id -> track id of the current fingerprints (of ``fp_ids``, when given)."""
        ...

    def fingerprint_blobs(self, version: int, track_ids: Iterable[int] | None = None) -> dict[int, bytes]:
        """track id -> packed landmarks of the current fingerprints (of ``track_ids``, when given)."""
        ...

    def fingerprint_ids_between(self, version: int, first: int, last: int) -> list[int]:
        """The current fp_ids in [first, last]."""
        ...

    def fingerprints_pending(self, after: int) -> Pending:
        """What the fingerprints above fp_id ``after`` hold (the index has not folded them yet)."""
        ...

    def fingerprints_after(self, after: int) -> Iterator[tuple[int, int, bytes]]:
        """(fp_id, version, blob) of every fingerprint above ``after``, by fp_id, read as one snapshot."""
        ...

    def orphan_landmarks(self) -> int:
        """Landmarks of deleted or replaced fingerprints since the last ``reset_orphan_landmarks``."""
        ...

    def reset_orphan_landmarks(self) -> None: ...

    # ---- maps and meta ---------------------------------------------------------------------------
    def load_projection(
        self, key: ProjectionKey, stamp: str
    ) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
        """(ids, coords, axes) cached for ``key`` if made from the vectors ``stamp`` describes."""
        ...

    def save_projection(
        self,
        key: ProjectionKey,
        stamp: str,
        ids: np.ndarray,
        coords: np.ndarray,
        axes: list[str],
        seconds: float,
    ) -> None:
        """Keep (or replace) a map; does not move ``generation`` (derived data)."""
        ...

    def meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...


READ_ROWS = 16_384  # vectors a catalog reads from its cursor at a time (10^3-d: ~70 MB of rows and bytes)


def fill_rows(capacity: int, chunks: Iterable[tuple[np.ndarray, bytes]]) -> tuple[np.ndarray, np.ndarray]:
    """(ids int64 (n,), vectors float32 (n, dim)) from chunks of (ids, their float32 vectors' bytes),
    written into one array of ``capacity`` rows (counted before reading, so a catalog holds no list of every
    row and no stacked copy of it). More rows than counted (a scan adding tracks meanwhile) grow it; the
    rows not filled are given back."""
    ids, vectors, n = np.empty(0, dtype=np.int64), np.empty((0, 0), dtype=np.float32), 0
    for chunk_ids, data in chunks:
        block = np.frombuffer(data, dtype=np.float32).reshape(len(chunk_ids), -1)
        if n + len(block) > len(ids):  # the first chunk, or more rows than counted
            rows = max(capacity, 2 * len(ids), n + len(block))
            ids.resize(rows, refcheck=False)  # in place: nothing else refers to these arrays
            vectors.resize((rows, block.shape[1]), refcheck=False)
        ids[n : n + len(block)], vectors[n : n + len(block)] = chunk_ids, block
        n += len(block)
    if n < len(ids):
        ids.resize(n, refcheck=False)
        vectors.resize((n, vectors.shape[1]) if n else (0, 0), refcheck=False)
    return ids, vectors
