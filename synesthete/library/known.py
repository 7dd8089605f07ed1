"""Tracks already read, kept while the catalog's generation stays: what ``similar`` reads again and again.

A server answers thousands of ``similar`` requests a second, each naming ~20 candidate tracks whose rows,
content hashes, durations and sampled fingerprints (near-duplicate removal) it needs; reading them from the
catalog every time cost more than the search. Any write to the catalog (a scan adding, changing or
removing a track) moves its generation on, and the next read finds everything here forgotten, so nothing
is ever answered from a stale row. Bounded: past ``MAX_TRACKS`` rows or ``MAX_MARK_BYTES`` of
fingerprints, it starts again empty.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from synesthete.fingerprint.duplicates import sampled_fingerprints
from synesthete.library.store import CatalogStore, Track

MAX_TRACKS = 200_000
MAX_MARK_BYTES = 64 * 2**20
Marks = tuple[np.ndarray, np.ndarray]


class KnownTracks:
    """Rows, facts (content hash, duration) and sampled fingerprints of tracks read at one generation.

    One per ``Library`` (a ``Library`` serves one thread at a time); ``None`` marks an id read and not
    found, so a missing track is not asked about again either.
    """

    def __init__(self, catalog: CatalogStore) -> None:
        self.catalog = catalog
        self._generation: int | None = None
        self._tracks: dict[int, Track | None] = {}
        self._facts: dict[int, tuple[str, float] | None] = {}
        self._marks: dict[int, Marks | None] = {}
        self._mark_bytes = 0

    def _current(self) -> None:
        """Forget everything when the catalog has changed since it was read (or it grew too large)."""
        generation = self.catalog.generation
        full = len(self._tracks) + len(self._facts) > MAX_TRACKS or self._mark_bytes > MAX_MARK_BYTES
        if generation != self._generation or full:
            self._tracks, self._facts, self._marks, self._mark_bytes = {}, {}, {}, 0
            self._generation = generation

    def tracks(self, ids: Iterable[int]) -> dict[int, Track]:
        """The catalogued tracks among ``ids``, by id (``CatalogStore.tracks_by_ids``)."""
        self._current()
        ids = [int(i) for i in ids]
        missing = [i for i in dict.fromkeys(ids) if i not in self._tracks]
        if missing:
            found = self.catalog.tracks_by_ids(missing)
            self._tracks.update((i, found.get(i)) for i in missing)
        return {i: t for i in ids if (t := self._tracks[i]) is not None}

    def facts(self, ids: Iterable[int]) -> tuple[dict[int, tuple[str, float]], dict[int, Marks]]:
        """(content hash, duration) and the sampled fingerprint (``sampled_fingerprints``) of those of
        ``ids`` that have them, as ``dedup.Recordings`` holds them."""
        self._current()
        ids = list(dict.fromkeys(int(i) for i in ids))
        missing = [i for i in ids if i not in self._facts]
        if missing:
            facts = self.catalog.track_facts(missing)
            marks = sampled_fingerprints(self.catalog, missing)
            self._facts.update((i, facts.get(i)) for i in missing)
            self._marks.update((i, marks.get(i)) for i in missing)
            self._mark_bytes += sum(h.nbytes + t.nbytes for h, t in marks.values())
        facts = {i: f for i in ids if (f := self._facts[i]) is not None}
        return facts, {i: m for i in ids if (m := self._marks[i]) is not None}
