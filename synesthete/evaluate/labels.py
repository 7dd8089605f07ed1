"""Labels for tracks (track id -> a name): from tags, from the folders, from clusters, or from a CSV.

Most personal collections are partly untagged but organised by folder (artist/album/, or genre/), so
the folder a file sits in is the label of last resort: maps are coloured by it, ``evaluate`` and
``train --objective supervised`` can learn from it, and artist caps and filters fall back to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from synesthete.exceptions import ParameterError, UserError
from synesthete.library.catalog import Track

if TYPE_CHECKING:
    from synesthete.api import Library

SOURCES = ("genre", "folder", "cluster", "artist", "album")


def folder_of(track: Track) -> str:
    """The name of the folder the track's file sits in."""
    return Path(track.path).parent.name or "/"


def folder_key(track: Track) -> str:
    """The track's folder as a key for caps and filters: its whole path, so that two folders of the
    same name stay apart, prefixed so that it never equals an artist's or album's key."""
    return f"folder:{Path(track.path).parent}"


def artist_or_folder(track: Track) -> str:
    """Who a track is by, for caps and filters: its artist tag, else its folder."""
    artist = (track.artist or "").strip().lower()
    return f"artist:{artist}" if artist else folder_key(track)


def album_or_folder(track: Track) -> str:
    """Which record a track is on, for caps and filters: its artist and album tags, else its folder."""
    album = (track.album or "").strip().lower()
    if album:
        return f"album:{(track.artist or '').strip().lower()}\0{album}"
    return folder_key(track)


def track_labels(lib: Library, source: str | Path, *, model: str | None = None) -> dict[int, str]:
    """Every labelled track's label from ``source``: a tag (genre, artist, album), the folder, the
    sonic cluster of ``model`` (its name), or a CSV file with ``path`` and ``group`` columns (paths
    relative to the CSV). Tracks without the tag are left out."""
    source = str(source)
    if source not in SOURCES:
        if Path(source).expanduser().is_file():
            return labels_from_csv(lib, source)
        raise ParameterError(f"labels come from one of {', '.join(SOURCES)} or a CSV file, not {source!r}")
    if source == "cluster":
        return {t.id: c.name for c in lib.clusters(model=model) for t in c.tracks}
    tracks = lib.tracks()
    if source == "folder":
        return {t.id: folder_of(t) for t in tracks}
    return {t.id: value.strip() for t in tracks if (value := getattr(t, source)) and value.strip()}


def labels_from_csv(lib: Library, path: str | Path) -> dict[int, str]:
    """Track id -> group for the rows of a labels CSV whose files are in the library."""
    from synesthete.evaluate.harness import read_labels

    rows = read_labels(path)
    by_path = {t.path: t.id for t in lib.tracks()}
    labels = {by_path[r.path]: r.group for r in rows if r.path in by_path}
    if not labels:
        raise UserError(f"{path}: none of its {len(rows)} files is in the library (scan them first)")
    return labels
