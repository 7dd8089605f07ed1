"""The glue between ``Library`` and the engine: resolving seeds, picking spaces, turning ids into tracks.

``recommend/``, ``mapview/`` and ``evaluate/`` are pure functions over spaces, descriptor tables, arrays
and small protocols; the modules here gather what they need from a library and hand it over, so that
``api.py`` stays one readable page of the Python API. They take the ``Library`` as ``LibraryLike``, a
``Protocol``, so that nothing here imports ``api.py`` (which imports them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from synesthete.features.base import Analysis
from synesthete.library.known import KnownTracks
from synesthete.library.store import CatalogStore, Track
from synesthete.recommend.space import Space


class LibraryLike(Protocol):
    """The parts of ``synesthete.api.Library`` the glue uses."""

    folder: Path
    catalog: CatalogStore
    known: KnownTracks

    def space(self, model: str | None = None) -> Space: ...

    def resolve(self, query: int | str | Track) -> Track: ...

    def models(self) -> list[str]: ...

    def tracks(
        self, search: str | None = None, *, limit: int | None = None, offset: int = 0
    ) -> list[Track]: ...

    def analyse_outside(self, path: str | Path, models: Iterable[str]) -> Analysis: ...

    def scan(
        self, paths: Sequence[str | Path], *, workers: int | None = None, progress: bool = False
    ) -> Any: ...

    def train(self, *, objective: str, epochs: int, tracks: Sequence[int] | None, labels: Mapping[int, str] | None,
              progress: bool) -> dict: ...  # fmt: skip

    def evaluate(self, labels: Mapping[int, str], *, k: int, model: str | None,
                 same: Mapping[int, str] | None) -> dict: ...  # fmt: skip

    def clusters(self, k: int | None = None, *, model: str | None = None) -> Any: ...
