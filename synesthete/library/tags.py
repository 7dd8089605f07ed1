"""Tags from any audio format (mutagen), with the file name standing in for a missing title."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import mutagen

FIELDS = ("title", "artist", "album", "genre")
# WAV and AIFF carry ID3 frames that mutagen's easy interface does not map.
ID3_FRAMES = {"title": "TIT2", "artist": "TPE1", "album": "TALB", "genre": "TCON"}


def read_tags(path: str) -> dict[str, str | None]:
    """title, artist, album and genre; a file with no readable tags still gets its name as title."""
    tags: dict[str, str | None] = dict.fromkeys(FIELDS)
    try:
        f = mutagen.File(path, easy=True)
    except Exception:  # mutagen raises many types on odd files; tags are optional, analysis decides
        f = None
    if f is not None and f.tags is not None:
        for field in FIELDS:
            try:
                values = f.tags.get(field)
            except (KeyError, ValueError):
                values = None
            if values:
                text = str(values[0] if isinstance(values, list) else values).strip()
                tags[field] = text or None
    if not all(tags.values()):
        _fill_from_id3(path, tags)
    if not tags["title"]:
        tags["title"] = re.sub(r"[_]+", " ", Path(path).stem).strip() or Path(path).name
    return tags


def content_hash(path: str, block: int = 1 << 20) -> str:
    """A digest of the file's bytes, to recognise a moved or renamed file."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            h.update(chunk)
    return h.hexdigest()


def _fill_from_id3(path: str, tags: dict[str, str | None]) -> None:
    try:
        raw = mutagen.File(path)
    except Exception:
        return
    frames = getattr(raw, "tags", None)
    if frames is None or not hasattr(frames, "getall"):
        return
    for field, frame_id in ID3_FRAMES.items():
        found = frames.getall(frame_id)
        if not tags[field] and found and found[0].text:
            tags[field] = str(found[0].text[0]).strip() or None
