"""Playlists as files players read: M3U8 (UTF-8, #EXTINF lines) and XSPF (XML), and back.

Paths are absolute by default; ``relative=True`` writes them relative to the playlist's folder, so a
playlist saved beside the music survives moving the whole folder. XSPF locations are file:// URIs.

Odd file names still open: an M3U8 holds each path as the very bytes of the file's name (a name that is
not valid UTF-8 stays so), and a path with a line break, which M3U cannot hold, is written as a file://
URI (players read both). XSPF is XML, so its locations are percent-encoded bytes, and in its text (title,
creator) undecodable bytes show as ``\\udcXX``, as everywhere else.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

from synesthete.exceptions import ParameterError
from synesthete.library.catalog import Track, shown

XSPF_NS = "http://xspf.org/ns/0/"
FORMATS = {".m3u8": "m3u8", ".m3u": "m3u8", ".xspf": "xspf"}


def _location(track: Track, base: Path | None) -> str:
    path = Path(track.path)
    if base is None:
        return str(path)
    try:
        return os.path.relpath(path, base)
    except ValueError:  # another drive (Windows): no relative path exists
        return str(path)


def _m3u_line(location: str, base: Path | None) -> str:
    """``location`` as one M3U line: the path itself, or a file:// URI when it holds a line break."""
    if location.splitlines() == [location]:
        return location
    return (base / location if base is not None else Path(location)).as_uri()


def to_m3u8(tracks: Iterable[Track], *, base: str | Path | None = None, title: str | None = None) -> str:
    """Extended M3U: '#EXTINF:<seconds>,<artist - title>' before each path (relative to ``base``)."""
    lines = ["#EXTM3U"]
    if title:
        lines.append(f"#PLAYLIST:{' '.join(title.splitlines())}")
    folder = Path(base) if base is not None else None
    for t in tracks:
        lines.append(extinf(t))
        lines.append(_m3u_line(_location(t, folder), folder))
    return "\n".join(lines) + "\n"


def extinf(track: Track) -> str:
    """The '#EXTINF:<seconds>,<artist - title>' line of a track, on one line whatever its name holds."""
    seconds = round(track.duration) if track.duration else -1
    return f"#EXTINF:{seconds},{' '.join(track.label.splitlines())}"


def to_xspf(tracks: Iterable[Track], *, base: str | Path | None = None, title: str | None = None) -> str:
    """XSPF 1: a trackList of location (file URI, or a relative URI), title, creator, album, duration (ms)."""
    ET.register_namespace("", XSPF_NS)
    root = ET.Element(f"{{{XSPF_NS}}}playlist", version="1")
    if title:
        ET.SubElement(root, f"{{{XSPF_NS}}}title").text = shown(title)
    listing = ET.SubElement(root, f"{{{XSPF_NS}}}trackList")
    folder = Path(base) if base is not None else None
    for t in tracks:
        item = ET.SubElement(listing, f"{{{XSPF_NS}}}track")
        loc = _location(t, folder)
        uri = Path(loc).as_uri() if Path(loc).is_absolute() else quote(os.fsencode(Path(loc).as_posix()))
        ET.SubElement(item, f"{{{XSPF_NS}}}location").text = uri
        for tag, value in (("title", t.title), ("creator", t.artist), ("album", t.album)):
            if value:
                ET.SubElement(item, f"{{{XSPF_NS}}}{tag}").text = shown(value)
        if t.duration:
            ET.SubElement(item, f"{{{XSPF_NS}}}duration").text = str(round(t.duration * 1000))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def save(
    tracks: Iterable[Track], out: str | Path, *, relative: bool = False, title: str | None = None
) -> Path:
    """Write ``tracks`` to ``out``, in the format its extension names (.m3u8, .m3u, .xspf)."""
    out = Path(out).expanduser()
    kind = FORMATS.get(out.suffix.lower())
    if kind is None:
        raise ParameterError(f"{out}: unknown playlist format; use one of {', '.join(FORMATS)}")
    base = out.resolve().parent if relative else None
    text = (to_m3u8 if kind == "m3u8" else to_xspf)(list(tracks), base=base, title=title)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(text.encode("utf-8", "surrogateescape"))  # a non-UTF-8 name: its bytes on disk
    return out


def read_paths(path: str | Path) -> list[str]:
    """The absolute file paths a .m3u/.m3u8/.xspf playlist lists, in order."""
    path = Path(path).expanduser()
    kind = FORMATS.get(path.suffix.lower())
    folder = path.resolve().parent
    if kind == "m3u8":
        lines = path.read_bytes().decode("utf-8", "surrogateescape").splitlines()
        entries = [_entry(line.strip()) for line in lines if line.strip() and not line.startswith("#")]
    elif kind == "xspf":
        root = ET.parse(path).getroot()
        entries = []
        for loc in root.iter(f"{{{XSPF_NS}}}location"):
            text = (loc.text or "").strip()
            parsed = urlparse(text)
            entries.append(
                _entry(text) if parsed.scheme == "file" else unquote(text, errors="surrogateescape")
            )
    else:
        raise ParameterError(f"{path}: not a playlist this reads (.m3u, .m3u8, .xspf)")
    return [str((folder / e).resolve()) if not Path(e).is_absolute() else e for e in entries]


def _entry(line: str) -> str:
    """A path from an M3U line or XSPF location: file:// URIs percent-decoded to the name's bytes."""
    parsed = urlparse(line)
    return unquote(parsed.path, errors="surrogateescape") if parsed.scheme == "file" else line
