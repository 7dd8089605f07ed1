"""``Library``'s playlists, clusters and explanations: the seeds resolved (ids, text, tracks, audio files),
the space and descriptor table picked, the builders of ``recommend/`` run, their ids turned into tracks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from synesthete.exceptions import ParameterError, UserError
from synesthete.features.registry import EXTRACTORS
from synesthete.index import normalize
from synesthete.library.store import Track
from synesthete.recommend import clusters as clustering
from synesthete.recommend import explain as explaining
from synesthete.recommend import journey as journeys
from synesthete.recommend import playlist
from synesthete.recommend.geometry import Descriptors
from synesthete.recommend.playlist import DEFAULT_DIVERSITY, Picks, Playlist, Rules, Seeds
from synesthete.recommend.space import Space
from synesthete.service import LibraryLike

Seed = int | str | Track | Path


def descriptor_table(lib: LibraryLike) -> Descriptors | None:
    """The collection's named descriptor values, or None when no track has descriptors yet."""
    extractor = EXTRACTORS.get("descriptors")
    if extractor is None:
        return None
    try:
        space = lib.space("descriptors")
    except UserError:
        return None
    return Descriptors.of(space, extractor.names, extractor.groups)


def outside_file(seed: object) -> Path | None:
    """The path, when ``seed`` names an existing file rather than a track id or text."""
    if not isinstance(seed, str | Path) or str(seed).strip().isdigit():
        return None
    path = Path(str(seed)).expanduser()
    return path if path.is_file() else None


def resolve_seeds(lib: LibraryLike, seeds: Seed | Sequence[Seed], space: Space) -> Seeds:
    """Seeds as tracks (ids, text, ``Track``) or audio files; a catalogued file counts as its track."""
    if isinstance(seeds, int | str | Track | Path):
        seeds = [seeds]
    if not seeds:
        raise ParameterError("give at least one seed track")
    tracks: list[Track] = []
    files: list[str] = []
    track_vecs: list[np.ndarray] = []
    file_vecs: list[np.ndarray] = []
    sounds: list[tuple[np.ndarray, float]] = []
    for seed in seeds:
        path = outside_file(seed)
        if path is not None:
            found = lib.catalog.track_at(str(path.resolve()))
            if found is None:
                wanted = set(space.members) | ({"descriptors"} & set(EXTRACTORS))
                analysis = lib.analyse_outside(path, wanted)
                files.append(str(path))
                file_vecs.append(space.transform_vectors(analysis.vectors))
                if "descriptors" in analysis.vectors:
                    sounds.append((analysis.vectors["descriptors"], analysis.duration))
                continue
            seed = found
        track = lib.resolve(seed)
        if track.id not in {t.id for t in tracks}:
            tracks.append(track)
            track_vecs.append(space.vector_of(track.id))
    return Seeds(tracks, files, normalize(np.array(track_vecs + file_vecs, dtype=np.float32)), sounds)


def _playlist(lib: LibraryLike, kind: str, space: Space, picks: Picks) -> Playlist:
    tracks = lib.known.tracks(picks.ids)
    return Playlist(kind, space.name, [tracks[i] for i in picks.ids], picks.scores, picks.info)


def _picked(
    lib: LibraryLike,
    build: Callable[..., Picks],
    seeds: Seed | Sequence[Seed],
    n: int,
    model: str | None,
    options: dict,
    **kw: Any,
) -> Playlist:
    """The playlist ``build`` (radio, dissimilar, extend) makes, given the seeds, rules and table."""
    space = lib.space(model)
    rules = Rules.from_options(options)
    s = resolve_seeds(lib, seeds, space)
    table = descriptor_table(lib)
    picks = build(space, s, n, catalog=lib.catalog, known=lib.known, rules=rules, descriptors=table, **kw)
    return _playlist(lib, build.__name__, space, picks)


def radio(
    lib: LibraryLike,
    seeds: Seed | Sequence[Seed],
    n: int = 20,
    *,
    diversity: float = DEFAULT_DIVERSITY,
    model: str | None = None,
    exclude: Sequence[int] = (),
    **options: Any,
) -> Playlist:
    return _picked(lib, playlist.radio, seeds, n, model, options, diversity=diversity, exclude=exclude)


def dissimilar(
    lib: LibraryLike, seeds: Seed | Sequence[Seed], n: int = 10, *, model: str | None = None, **options: Any
) -> Playlist:
    return _picked(lib, playlist.dissimilar, seeds, n, model, options)


def extend(
    lib: LibraryLike,
    tracks: Seed | Sequence[Seed],
    n: int = 10,
    *,
    diversity: float = DEFAULT_DIVERSITY,
    model: str | None = None,
    **options: Any,
) -> Playlist:
    return _picked(lib, playlist.extend, tracks, n, model, options, diversity=diversity)


def order(
    lib: LibraryLike, tracks: Seed | Sequence[Seed], *, start: Seed | None = None, model: str | None = None
) -> Playlist:
    space = lib.space(model)
    s = resolve_seeds(lib, tracks, space)
    first = lib.resolve(start).id if start is not None and not s.files else None
    return _playlist(lib, "order", space, playlist.order(s, start=first))


def journey(
    lib: LibraryLike, start: Seed, end: Seed, n: int = 12, *, method: str, model: str | None
) -> Playlist:
    space = lib.space(model)
    a, b = lib.resolve(start), lib.resolve(end)
    return _playlist(lib, "journey", space, journeys.journey(space, a.id, b.id, n, method=method))


def drift(lib: LibraryLike, seed: Seed, direction: str, n: int = 10, *, model: str | None) -> Playlist:
    space = lib.space(model)
    table = descriptor_table(lib)
    if table is None:
        raise UserError("drifting needs the 'descriptors' model: scan the collection first")
    track = lib.resolve(seed)
    return _playlist(lib, "drift", space, journeys.drift(space, table, track.id, direction, n))


def clusters(lib: LibraryLike, k: int | None = None, *, model: str | None = None) -> clustering.Clustering:
    space = lib.space(model)
    tracks = lib.catalog.tracks_by_ids(space.ids.tolist())
    return clustering.clusters(space, tracks, k, descriptors=descriptor_table(lib))


def explain(
    lib: LibraryLike, query: Seed, results: Sequence[int | str | Track], *, model: str | None
) -> list[explaining.Explanation]:
    """One explanation per result, for a query track or an outside audio file."""
    space = lib.space(model)
    table = descriptor_table(lib)
    path = outside_file(query)
    catalogued = lib.catalog.track_at(str(path.resolve())) if path is not None else None
    if path is not None and catalogued is None:
        analysis = lib.analyse_outside(path, set(space.members) | ({"descriptors"} if table else set()))
        qdesc = table.space.transform(analysis.vectors["descriptors"]) if table is not None else None
        q = explaining.Query(
            space.transform_vectors(analysis.vectors), qdesc, {"track_id": None, "path": str(path)}
        )
    else:
        track = lib.resolve(query if catalogued is None else catalogued)
        qdesc = table.space.vector_of(track.id) if table is not None else None
        q = explaining.Query(space.vector_of(track.id), qdesc, explaining.brief(track))
    return explaining.explain(space, q, [lib.resolve(r) for r in results], descriptors=table)
