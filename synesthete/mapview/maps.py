"""A model's space projected to 2 or 3 dimensions, as a JSON-friendly document.

The document is what the CLI writes (html, png, csv) and what the web page draws::

    {"model": "descriptors-v1", "method": "umap", "dims": 2, "seed": 42, "cached": false, "seconds": 1.9,
     "axes": ["UMAP 1", "UMAP 2"],
     "points": [{"track_id": 12, "x": 1.25, "y": -0.5, "title": "...", "artist": "...", "album": "...",
                 "genre": "...", "path": "..."}]}

``z`` is there too for 3 dimensions. For PCA the axes name the dimensions that load most on them.
"""

from __future__ import annotations

import time

import numpy as np

from synesthete.library.store import CatalogStore, ProjectionKey
from synesthete.mapview.project import DEFAULT_SEED, check, project, stamp
from synesthete.recommend.space import Space

AXIS_NAMES = ("x", "y", "z")


def build_map(
    space: Space, catalog: CatalogStore, method: str = "umap", dims: int = 2, *, seed: int = DEFAULT_SEED
) -> dict:
    """Project (or fetch from ``catalog``'s cache the projection of) ``space``; see the module docstring."""
    check(method, dims)
    key = ProjectionKey(space.name, method, int(dims), int(seed))
    current = stamp(space.ids, space.vectors)
    cached = catalog.load_projection(key, current)
    if cached is not None:
        ids, coords, axes = cached
        seconds = 0.0
    else:
        start = time.perf_counter()
        names = space.names
        result = project(space.vectors, method=method, dims=dims, seed=seed, names=names)
        seconds = time.perf_counter() - start
        ids, coords, axes = space.ids, result.coords, result.axes
        catalog.save_projection(key, current, ids, coords, axes, seconds)
    tracks = catalog.tracks_by_ids([int(i) for i in ids])
    points = []
    for track_id, xyz in zip(ids.tolist(), np.round(coords.astype(np.float64), 4).tolist(), strict=True):
        track = tracks.get(track_id)
        if track is None:
            continue
        point = {"track_id": track_id, **dict(zip(AXIS_NAMES, xyz, strict=False))}
        point.update(
            title=track.title, artist=track.artist, album=track.album, genre=track.genre, path=track.path
        )
        points.append(point)
    return {
        "model": space.name,
        "method": method,
        "dims": int(dims),
        "seed": int(seed),
        "cached": cached is not None,
        "seconds": round(seconds, 3),
        "axes": list(axes),
        "points": points,
    }
