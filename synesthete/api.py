"""The Python API. The CLI, the HTTP API and the web page are thin layers over ``Library``."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synesthete.analysis import analyze
from synesthete.evaluate.metrics import retrieval_scores
from synesthete.exceptions import ParameterError, UserError
from synesthete.features.registry import DEFAULT_MODEL, EXTRACTORS
from synesthete.library.catalog import Catalog, Track
from synesthete.library.scan import ScanReport, scan
from synesthete.library.tags import read_tags
from synesthete.recommend.space import Space

INDEX_FOLDER = "index"
PERSIST_SPACE_ABOVE = 20_000  # below this, reading the vectors from SQLite is faster than any cache


@dataclass(frozen=True)
class Match:
    """A track and how similar it is to the query (cosine, in [-1, 1])."""

    track: Track
    score: float

    def to_dict(self, rank: int) -> dict:
        return {"rank": rank, **self.track.to_dict(), "score": round(float(self.score), 6)}


class Library:
    """A music library in one folder: its catalog, its analyses, and the questions it answers."""

    def __init__(self, folder: str | Path | None = None) -> None:
        from synesthete.config import default_library

        self.folder = Path(folder).expanduser() if folder is not None else default_library()
        self.catalog = Catalog(self.folder)
        self._spaces: dict[str, tuple[int, Space]] = {}

    def close(self) -> None:
        self.catalog.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- building ------------------------------------------------------------------------------
    def scan(
        self, paths: Sequence[str | Path], *, workers: int | None = None, progress: bool = False
    ) -> ScanReport:
        """Add new files, refresh changed ones, follow moved ones, forget deleted ones."""
        if isinstance(paths, str | Path):
            paths = [paths]
        versions = {name: e.version for name, e in EXTRACTORS.items()}
        return scan(
            self.catalog, [str(p) for p in paths], extractors=versions, workers=workers, progress=progress
        )

    # ---- browsing ------------------------------------------------------------------------------
    def tracks(self, search: str | None = None, *, limit: int | None = None, offset: int = 0) -> list[Track]:
        return self.catalog.tracks(search, limit=limit, offset=offset)

    def track(self, track_id: int) -> Track:
        track = self.catalog.track(int(track_id))
        if track is None:
            raise UserError(f"no track with id {track_id}")
        return track

    def resolve(self, query: int | str | Track) -> Track:
        """A track from its id, or from text matched against 'artist - title' and the path."""
        if isinstance(query, Track):
            return query
        if isinstance(query, int) or re.fullmatch(r"\d+", str(query).strip()):
            return self.track(int(query))
        text = str(query).strip()
        if not text:
            raise UserError("an empty track query matches nothing")
        found = self.catalog.tracks(text, limit=50)
        if not found:
            raise UserError(f"no track matches '{text}' (try `synesthete tracks --search ...`)")
        if len(found) == 1:
            return found[0]
        exact = [
            t for t in found if text.lower() in (t.label.lower(), (t.title or "").lower(), t.path.lower())
        ]
        if len(exact) == 1:
            return exact[0]
        listing = "; ".join(f"{t.id}: {t.label}" for t in found[:5])
        more = f" and {len(found) - 5} more" if len(found) > 5 else ""
        raise UserError(f"'{text}' matches {len(found)} tracks ({listing}{more}): give an id or more words")

    def models(self) -> list[str]:
        """The names ``model=`` accepts; the first is the default."""
        return [DEFAULT_MODEL, *sorted(n for n in EXTRACTORS if n != DEFAULT_MODEL)]

    def status(self) -> dict:
        counts = self.catalog.vector_counts()
        return {
            "library": str(self.folder),
            "tracks": self.catalog.count(),
            "models": {name: counts.get((name, e.version), 0) for name, e in EXTRACTORS.items()},
            "default_model": DEFAULT_MODEL,
            "failed": [{"path": f.path, "reason": f.reason} for f in self.catalog.failures()],
        }

    # ---- asking --------------------------------------------------------------------------------
    def space(self, model: str | None = None) -> Space:
        """The search space of ``model``, rebuilt only when the catalog has changed.

        Large collections keep the built space in ``<library>/index/``, so each process loads it
        instead of reading every vector and re-indexing.
        """
        name = model or DEFAULT_MODEL
        if name not in EXTRACTORS:
            raise ParameterError(f"unknown model '{name}'; known: {', '.join(self.models())}")
        generation = self.catalog.generation
        cached = self._spaces.get(name)
        if cached is None or cached[0] != generation:
            version = EXTRACTORS[name].version
            space = Space.load(self.folder / INDEX_FOLDER, name, version, generation)
            if space is None:
                ids, raw = self.catalog.vectors(name, version)
                space = Space.build(name, version, ids, raw, EXTRACTORS[name].weights)
                if len(ids) >= PERSIST_SPACE_ABOVE:
                    space.save(self.folder / INDEX_FOLDER, generation)
            self._spaces[name] = (generation, space)
        return self._spaces[name][1]

    def similar(
        self, track: int | str | Track, *, k: int = 10, model: str | None = None, dissimilar: bool = False
    ) -> list[Match]:
        """The k tracks that sound most (or least) like ``track``; never the track itself."""
        query = self.resolve(track)
        space = self.space(model)
        ids, scores = space.search(
            space.vector_of(query.id), _check_k(k), exclude=(query.id,), dissimilar=dissimilar
        )
        return self._matches(ids, scores)

    def similar_to_file(
        self, path: str | Path, *, k: int = 10, model: str | None = None, dissimilar: bool = False
    ) -> list[Match]:
        """The k catalogued tracks that sound most like an outside file, analysed on the fly, never added."""
        space = self.space(model)
        analysis = analyze(path, [EXTRACTORS[space.model]])
        query = space.transform(analysis.vectors[space.model])
        ids, scores = space.search(query, _check_k(k), dissimilar=dissimilar)
        return self._matches(ids, scores)

    def evaluate(self, labels: Mapping[int, str], *, k: int = 10, model: str | None = None) -> dict:
        """Leave-one-out precision@k and mAP of ``model`` on tracks labelled by group (track id -> group)."""
        space = self.space(model)
        rows = [i for i, track_id in enumerate(space.ids.tolist()) if track_id in labels]
        if len(rows) < 2:
            raise UserError("fewer than two labelled tracks have vectors: nothing to evaluate")
        v = space.vectors[rows].astype(np.float64)
        v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        groups = [labels[int(space.ids[i])] for i in rows]
        return {"model": space.name, **retrieval_scores(v @ v.T, groups, k=_check_k(k))}

    def describe_file(self, path: str | Path) -> dict:
        """The query part of a result document for an outside file."""
        tags = read_tags(str(path))
        return {"track_id": None, "path": str(path), "title": tags["title"], "artist": tags["artist"]}

    def _matches(self, ids, scores) -> list[Match]:
        tracks = self.catalog.tracks_by_ids([int(i) for i in ids])
        return [Match(tracks[int(i)], float(s)) for i, s in zip(ids, scores, strict=True) if int(i) in tracks]


def _check_k(k: int) -> int:
    if not isinstance(k, int) or k < 1:
        raise ParameterError(f"k must be a positive whole number, got {k!r}")
    return k
