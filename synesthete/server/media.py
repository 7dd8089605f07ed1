"""Serving catalogued audio files: the right content type, HTTP Range, and nothing outside the catalog."""

from __future__ import annotations

import os
import stat
import time
from functools import lru_cache
from pathlib import Path

from fastapi import HTTPException
from fastapi.responses import FileResponse

from synesthete.library.catalog import Track

# What browsers expect for each format (mimetypes lacks several, and guesses others differently per system).
MEDIA_TYPES = {
    ".mp3": "audio/mpeg",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg; codecs=opus",
    ".wav": "audio/wav",
    ".aif": "audio/aiff",
    ".aiff": "audio/aiff",
    ".aifc": "audio/aiff",
    ".m4a": "audio/mp4",
    ".mp4": "audio/mp4",
    ".aac": "audio/aac",
    ".alac": "audio/mp4",
    ".webm": "audio/webm",
    ".mka": "audio/x-matroska",
    ".wma": "audio/x-ms-wma",
    ".wv": "audio/x-wavpack",
    ".ape": "audio/x-ape",
    ".ac3": "audio/ac3",
    ".3gp": "audio/3gpp",
}


def media_type(path: str) -> str:
    return MEDIA_TYPES.get(Path(path).suffix.lower(), "application/octet-stream")


def audio_file(track: Track) -> FileResponse:
    """The track's own file, streamed with Range support; the path comes from the catalog, never a request."""
    if not os.path.isfile(track.path):
        raise HTTPException(
            404, f"the file of track {track.id} is gone (moved or deleted?): run `synesthete scan` again"
        )
    return FileResponse(track.path, media_type=media_type(track.path), content_disposition_type="inline")


COVER_NAMES = ("cover", "folder", "front", "album")
MAX_COVER_BYTES = 16 * 1024 * 1024
SETTLED_NS = 2_000_000_000  # a file or folder unchanged this long has times that tell its changes apart
IMAGE_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}


def cover_art(path: str) -> tuple[bytes, str] | None:
    """The artwork of a catalogued file: its embedded picture, else cover.jpg (folder.jpg...) beside it.

    ``path`` must come from the catalog: only catalogued tracks' artwork is ever served.
    """
    embedded = _embedded_picture(path)
    if embedded:
        return embedded
    found = _cover_file(path)
    return (found.read_bytes(), IMAGE_TYPES[found.suffix.lower()]) if found else None


def has_cover(path: str, state: tuple[int, int, int, int] | None = None) -> bool:
    """Whether the file has artwork, beside it or embedded: what a list of songs (Subsonic's ``coverArt``)
    asks of every entry. Tags are read once per state of the file (``file_state``, if the caller has it),
    so an answer costs a stat or two."""
    if _cover_file(path) is not None:
        return True
    state = state or file_state(path)
    return state is not None and _remembered(_has_embedded, path, state)


def file_state(path: str | Path) -> tuple[int, int, int, int] | None:
    """What changes whenever a file or folder does: inode, size, modification and change times (ns)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns  # the size is read from here too


def _remembered(cached, key, state: tuple[int, int, int, int]):
    """``cached(key, state)``, but computed afresh while the state is under 2 s old: a change within the
    same tick of the file system's clock keeps the times, so only a settled state is remembered (as git
    treats "racily clean" files)."""
    if time.time_ns() - max(state[2], state[3]) < SETTLED_NS:
        return cached.__wrapped__(key, state)
    return cached(key, state)


@lru_cache(maxsize=1 << 16)
def _has_embedded(path: str, state: tuple[int, int, int, int]) -> bool:
    """Keyed by the file's ``state``: a retagged file is a new key, read again (old keys age out)."""
    return _embedded_picture(path) is not None


def _cover_file(path: str) -> Path | None:
    """cover.jpg, folder.png... (any case) beside ``path``, if there is one of a sane size."""
    folder = Path(path).parent
    state = file_state(folder)
    if state is None:
        return None
    # The names are remembered per state of the folder; each file is checked now (rewritten in place,
    # a cover changes its size, not its folder).
    for found in _remembered(_cover_names, folder, state):
        try:
            st = found.stat()
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_size <= MAX_COVER_BYTES:
            return found
    return None


@lru_cache(maxsize=1 << 14)
def _cover_names(folder: Path, state: tuple[int, int, int, int]) -> tuple[Path, ...]:
    """The folder's artwork file names in order of preference, listed once per ``state`` of the folder
    (a file added, removed or renamed in it changes its modification time)."""
    try:
        names = {p.name.lower(): p for p in folder.iterdir()}
    except OSError:
        return ()
    wanted = (names.get(stem + ext) for stem in COVER_NAMES for ext in IMAGE_TYPES)
    return tuple(p for p in wanted if p is not None)


def _embedded_picture(path: str) -> tuple[bytes, str] | None:
    """The front cover (or first picture) in the file's tags: ID3 APIC, FLAC/Vorbis pictures, MP4 covr."""
    import base64

    import mutagen
    from mutagen.flac import Picture

    try:
        tags = mutagen.File(path)
    except Exception:  # unreadable tags are no artwork, never an error
        return None
    if tags is None:
        return None
    pictures = list(getattr(tags, "pictures", []) or [])  # FLAC
    found = tags.tags if tags.tags is not None else {}
    for key in list(found.keys()) if hasattr(found, "keys") else []:
        if str(key).startswith("APIC"):
            pictures.append(found[key])
    for blob in (found.get("metadata_block_picture") or []) if hasattr(found, "get") else []:
        try:
            pictures.append(Picture(base64.b64decode(blob)))
        except Exception:
            continue
    if pictures:
        best = next((p for p in pictures if getattr(p, "type", 3) == 3), pictures[0])
        return bytes(best.data), best.mime or "image/jpeg"
    covers = found.get("covr") if hasattr(found, "get") else None
    if covers:
        cover = covers[0]
        kind = "image/png" if getattr(cover, "imageformat", 13) == 14 else "image/jpeg"
        return bytes(cover), kind
    return None
