"""Labels for tracks (track id -> a name) from their tags or folders (``Library.track_labels`` adds
clusters and CSV files: ``service/evaluation.py``).

Most personal collections are partly untagged but organised by folder (artist/album/, or genre/), so
the folder a file sits in is the label of last resort: maps are coloured by it, ``evaluate`` and
``train --objective supervised`` can learn from it, and artist caps and filters fall back to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from synesthete.library.store import Track

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


def tag_labels(tracks: Iterable[Track], source: str) -> dict[int, str]:
    """Track id -> its folder (``source`` "folder") or its tag (genre, artist, album); tracks without
    the tag are left out."""
    if source == "folder":
        return {t.id: folder_of(t) for t in tracks}
    return {t.id: value.strip() for t in tracks if (value := getattr(t, source)) and value.strip()}
