"""OpenSubsonic under /rest: enough for a Subsonic client to play tracks and ask for sonically similar ones.

Implements ping, getLicense, getOpenSubsonicExtensions (advertising ``sonicSimilarity``), getSong, stream,
download, getCoverArt, getSonicSimilarTracks and, when the library builds journeys, findSonicPath; and
the browsing clients use to reach songs: getMusicFolders (one), getIndexes and getMusicDirectory (one
directory per artist, or per folder for untagged tracks), search3, getRandomSongs, getSimilarSongs(2).
Each as ``/rest/NAME`` and ``/rest/NAME.view``, GET or form POST, answering XML (default), JSON
(``f=json``) or JSONP. Errors follow Subsonic: HTTP 200 with ``status="failed"`` and an error code; an
unknown method answers that error (code 0) with HTTP 404.
Fields without a value are left out, as Subsonic servers do, never sent as null.

``similarity`` (the extension: 1 the same sound, 0 the most different) is the cosine score ``s`` mapped
linearly so that the collection's most different track from the query scores 0: ``(s - w) / (1 - w)``,
``w`` the cosine of that track, clipped to [0, 1].
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from synesthete import __version__
from synesthete.api import Library, Match
from synesthete.exceptions import SynestheteError, UserError
from synesthete.library.catalog import Track, shown
from synesthete.server.media import audio_file, cover_art, file_state, has_cover, media_type
from synesthete.server.pool import NoSuchTrack
from synesthete.server.routes.api import MAX_ID

API_VERSION = "1.16.1"
XMLNS = "http://subsonic.org/restapi"

router = APIRouter(prefix="/rest", tags=["opensubsonic"])


class SubsonicError(Exception):
    """An answer with status="failed" (codes: 0 generic, 10 missing parameter, 40 bad credentials, 70 not found)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


# ---- documents ----------------------------------------------------------------------------------
def envelope(payload: dict, *, ok: bool = True) -> dict:
    return {
        "status": "ok" if ok else "failed",
        "version": API_VERSION,
        "type": "synesthete",
        "serverVersion": __version__,
        "openSubsonic": True,
        **payload,
    }


def _xml_value(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else shown(str(value))


def _xml_fill(element: ET.Element, payload: dict) -> None:
    """Scalars become attributes; dicts child elements; lists one child element per item."""
    for key, value in payload.items():
        if value is None:
            continue
        if isinstance(value, dict):
            _xml_fill(ET.SubElement(element, key), value)
        elif isinstance(value, list):
            for item in value:
                child = ET.SubElement(element, key)
                if isinstance(item, dict):
                    _xml_fill(child, item)
                else:
                    child.text = _xml_value(item)
        else:
            element.set(key, _xml_value(value))


def render(params: dict[str, str], doc: dict) -> Response:
    fmt = params.get("f", "xml")
    if fmt in ("json", "jsonp"):
        body = shown(json.dumps({"subsonic-response": doc}, ensure_ascii=False))
        callback = params.get("callback", "")
        if fmt == "jsonp" and re.fullmatch(r"[A-Za-z_$][\w$.]*", callback):
            return Response(f"{callback}({body});", media_type="application/javascript")
        return Response(body, media_type="application/json")
    root = ET.Element("subsonic-response", xmlns=XMLNS)
    _xml_fill(root, doc)
    return Response(
        b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8"),
        media_type="application/xml",
    )


def child(track: Track) -> dict:
    """A Subsonic ``Child`` for a catalogued track; fields without a value are left out."""
    state = file_state(track.path)  # one stat for the size and the artwork's cache key
    folder = directory_of(track)
    doc = {
        "id": str(track.id),
        "parent": directory_id(folder),
        "isDir": False,
        "title": track.title or Path(track.path).stem,
        "album": track.album,
        "artist": track.artist,
        "genre": track.genre,
        "coverArt": str(track.id) if has_cover(track.path, state) else None,
        "duration": round(track.duration) if track.duration else None,
        "size": state[1] if state else None,
        "suffix": Path(track.path).suffix.lower().lstrip("."),
        "contentType": media_type(track.path).split(";")[0],
        "path": f"{folder}/{Path(track.path).name}",  # never the server's own path
        "isVideo": False,
        "type": "music",
        "mediaType": "song",
    }
    return {k: v for k, v in doc.items() if v is not None}


# ---- browsing: one music folder, one directory per artist (per folder for untagged tracks) ------
def directory_of(track: Track) -> str:
    return track.artist or Path(track.path).parent.name or "(no folder)"


def directory_id(name: str) -> str:
    return "dir-" + hashlib.sha1(name.encode("utf-8", "surrogateescape")).hexdigest()[:12]


def _directories(lib: Library) -> dict[str, tuple[str, list[Track]]]:
    """Directory id -> (name, its tracks), over the whole catalog."""
    found: dict[str, tuple[str, list[Track]]] = {}
    for t in lib.tracks():
        name = directory_of(t)
        found.setdefault(directory_id(name), (name, []))[1].append(t)
    return found


def get_music_folders(lib: Library, params: dict[str, str]) -> dict:
    return {"musicFolders": {"musicFolder": [{"id": 1, "name": "Music"}]}}


def get_indexes(lib: Library, params: dict[str, str]) -> dict:
    letters: dict[str, list[dict]] = {}
    for key, (name, _) in sorted(_directories(lib).items(), key=lambda kv: kv[1][0].lower()):
        letter = name[:1].upper() if name[:1].isalpha() else "#"
        letters.setdefault(letter, []).append({"id": key, "name": name})
    index = [{"name": k, "artist": v} for k, v in sorted(letters.items())]
    return {"indexes": {"lastModified": int(time.time() * 1000), "ignoredArticles": "", "index": index}}


def get_music_directory(lib: Library, params: dict[str, str]) -> dict:
    key = params.get("id")
    if key is None:
        raise SubsonicError(10, "Required parameter is missing: id")
    found = _directories(lib).get(key)
    if found is None:
        raise SubsonicError(70, "Directory not found")
    name, tracks = found
    return {"directory": {"id": key, "parent": "1", "name": name, "child": [child(t) for t in tracks]}}


def _count(params: dict[str, str], name: str, default: int, most: int = 500) -> int:
    return min(_int(params, name, default), most)


def search3(lib: Library, params: dict[str, str]) -> dict:
    """Songs whose artist, title, album or path match ``query`` (all songs for an empty one), and artists."""
    text = params.get("query", "").strip().strip('"').strip()
    songs = lib.tracks(
        text or None, limit=_count(params, "songCount", 20), offset=_int(params, "songOffset", 0)
    )
    artists = [
        {"id": key, "name": name}
        for key, (name, _) in sorted(_directories(lib).items(), key=lambda kv: kv[1][0].lower())
        if text.lower() in name.lower()
    ]
    start = _int(params, "artistOffset", 0)
    artists = artists[start : start + _count(params, "artistCount", 20)]
    return {"searchResult3": {"artist": artists, "song": [child(t) for t in songs]}}


def get_random_songs(lib: Library, params: dict[str, str]) -> dict:
    genre = (params.get("genre") or "").lower()
    pool = [t for t in lib.tracks() if not genre or (t.genre or "").lower() == genre]
    picked = random.sample(pool, min(_count(params, "size", 10), len(pool)))
    return {"randomSongs": {"song": [child(t) for t in picked]}}


def _similar_songs(lib: Library, params: dict[str, str]) -> list[dict]:
    """Songs like song ``id``, or like a directory's songs (a radio from them)."""
    count = _count(params, "count", 50)
    key = params.get("id", "")
    if key.startswith("dir-"):
        found = _directories(lib).get(key)
        if found is None:
            raise SubsonicError(70, "Directory not found")
        seeds = [t.id for t in found[1][:20]]
        tracks = list(lib.radio(seeds, n=count)) if count else []
        return [child(t) for t in tracks]
    query = _track(lib, params)
    return [child(m.track) for m in lib.similar(query, k=count)] if count else []


def get_similar_songs(lib: Library, params: dict[str, str]) -> dict:
    return {"similarSongs": {"song": _similar_songs(lib, params)}}


def get_similar_songs2(lib: Library, params: dict[str, str]) -> dict:
    return {"similarSongs2": {"song": _similar_songs(lib, params)}}


def get_cover_art(lib: Library, params: dict[str, str]) -> Response:
    """A catalogued song's artwork (its id is its ``coverArt``), or a directory's first one."""
    key = params.get("id", "")
    if key.startswith("dir-"):
        found = _directories(lib).get(key)
        tracks = found[1] if found else []
    else:
        tracks = [_track(lib, params)]
    for t in tracks:
        art = cover_art(t.path)
        if art is not None:
            return Response(art[0], media_type=art[1], headers={"Cache-Control": "max-age=86400"})
    raise SubsonicError(70, "Cover art not found")


def similarity(score: float, floor: float) -> float:
    """A cosine ``score`` in [0, 1], 0 at ``floor`` (the query's most different track), 1 at 1."""
    if floor >= 1.0:
        return 1.0
    return round(min(1.0, max(0.0, (float(score) - floor) / (1.0 - floor))), 6)


def sonic_match(match: Match, floor: float) -> dict:
    return {"entry": child(match.track), "similarity": similarity(match.score, floor)}


def _floor(lib: Library, query: Track) -> float:
    """The cosine of the collection's track most different from ``query``."""
    far = lib.similar(query, k=1, dissimilar=True)
    return float(far[0].score) if far else -1.0


# ---- methods -----------------------------------------------------------------------------------
def _int(params: dict[str, str], name: str, default: int | None = None) -> int:
    raw = params.get(name)
    if raw is None:
        if default is None:
            raise SubsonicError(10, f"Required parameter is missing: {name}")
        return default
    is_id = name.lower().endswith("id")
    if not re.fullmatch(r"\d{1,19}", raw.strip()) or int(raw) > MAX_ID:
        if is_id:  # no catalogued id is anything but a number SQLite holds
            raise SubsonicError(70, f"{name} {raw[:40]!r} names no song here")
        raise SubsonicError(0, f"{name} must be a whole number from 0 to {MAX_ID}, got {raw[:40]!r}")
    return int(raw)


def _track(lib: Library, params: dict[str, str], name: str = "id") -> Track:
    try:
        return lib.track(_int(params, name))
    except UserError:
        raise SubsonicError(70, "Song not found") from None


def ping(lib: Library, params: dict[str, str]) -> dict:
    return {}


def get_license(lib: Library, params: dict[str, str]) -> dict:
    return {"license": {"valid": True}}


def get_open_subsonic_extensions(lib: Library, params: dict[str, str]) -> dict:
    return {
        "openSubsonicExtensions": [
            {"name": "sonicSimilarity", "versions": [1]},
            {"name": "formPost", "versions": [1]},
        ]
    }


def get_song(lib: Library, params: dict[str, str]) -> dict:
    return {"song": child(_track(lib, params))}


def stream(lib: Library, params: dict[str, str]) -> Response:
    return audio_file(_track(lib, params))


async def get_sonic_similar_tracks(request: Request, params: dict[str, str]) -> dict:
    """``Library.similar``, searched with the server's other similar requests (``pool.SimilarBatcher``)."""
    track_id, count = _int(params, "id"), _int(params, "count", 10)
    # With the least similar track (where similarity is 0), from the same pass over the vectors.
    ask = request.app.state.batcher.ask(
        track_id, k=max(count, 1), model=None, dissimilar=False, with_least=True
    )
    try:
        found = await ask
    except NoSuchTrack:
        raise SubsonicError(70, "Song not found") from None
    floor = float(found.least.score) if found.least is not None else -1.0
    # Building entries reads each file's size and tags (artwork): off the event loop.
    entries = await request.app.state.pool.run(
        lambda _: [sonic_match(m, floor) for m in found.matches[:count]]
    )
    return {"sonicMatch": entries}


def find_sonic_path(lib: Library, params: dict[str, str]) -> dict:
    """The best journey the library allows from start to end, of at most ``count`` songs.

    More songs than the library holds give the longest path there is; ``count=1`` (or the same start
    and end) only the start song. Each song's similarity is to the start song.
    """
    start, end = _track(lib, params, "startSongId"), _track(lib, params, "endSongId")
    count = _int(params, "count", 25)
    if count < 1:
        raise SubsonicError(0, f"count must be at least 1, got {count}")
    n = min(count, len(lib.space(None).ids))
    path = [start] if n < 2 or start.id == end.id else list(lib.journey(start.id, end.id, n=n))
    scores = [e.score for e in lib.explain_all(start, path)]
    floor = _floor(lib, start)
    return {"sonicMatch": [sonic_match(Match(t, s), floor) for t, s in zip(path, scores, strict=True)]}


# A method runs in a thread with a borrowed ``Library``, or, when async, on the event loop with the request.
Method = (
    Callable[[Library, dict[str, str]], dict | Response]
    | Callable[[Request, dict[str, str]], Awaitable[dict]]
)
METHODS: dict[str, tuple[Method, str]] = {
    "ping": (ping, "Checks that the server answers (and that the credentials work)"),
    "getLicense": (get_license, "Always valid"),
    "getOpenSubsonicExtensions": (
        get_open_subsonic_extensions,
        "The OpenSubsonic extensions served (no auth)",
    ),
    "getSong": (get_song, "One song by id"),
    "stream": (stream, "The song's audio file as stored (no transcoding; HTTP Range supported)"),
    "download": (stream, "The song's audio file as stored"),
    "getCoverArt": (get_cover_art, "A song's artwork: embedded, or cover.jpg beside it"),
    "getMusicFolders": (get_music_folders, "The one music folder"),
    "getIndexes": (get_indexes, "Directories by initial: one per artist (per folder for untagged songs)"),
    "getMusicDirectory": (get_music_directory, "A directory's songs"),
    "search3": (search3, "Songs and artists matching `query` (everything for an empty query)"),
    "getRandomSongs": (get_random_songs, "`size` random songs, optionally of a `genre`"),
    "getSimilarSongs": (get_similar_songs, "Songs that sound like song `id` (or a directory's songs)"),
    "getSimilarSongs2": (get_similar_songs2, "Songs that sound like song `id` (or a directory's songs)"),
    "getSonicSimilarTracks": (get_sonic_similar_tracks, "Songs that sound like song `id` (sonicSimilarity)"),
    "findSonicPath": (find_sonic_path, "A path of songs from `startSongId` to `endSongId` (sonicSimilarity)"),
}
NO_AUTH = {"getOpenSubsonicExtensions"}


async def _params(request: Request) -> dict[str, str]:
    """Query and form parameters (the form body is bounded by ``BodyLimit``: 413 or 408 past it)."""
    params = dict(request.query_params)
    if request.method == "POST" and "form" in request.headers.get("content-type", ""):
        try:
            form = await request.form()
        except HTTPException as e:
            raise SubsonicError(0, e.detail) from None
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return params


def _handler(name: str, method: Method):
    async def handle(request: Request) -> Response:
        params = dict(request.query_params)
        try:
            params = await _params(request)
            if name not in NO_AUTH:
                refused = request.app.state.guard.check_subsonic(params)
                if refused:
                    raise SubsonicError(*refused)
            if name == "findSonicPath" and not request.app.state.features.get("journey"):
                raise SubsonicError(0, "findSonicPath needs journeys, which this build of synesthete lacks")
            if inspect.iscoroutinefunction(method):
                result = await method(request, params)
            else:
                result = await request.app.state.pool.run(lambda lib: method(lib, params))
        except SubsonicError as e:
            return render(params, envelope({"error": {"code": e.code, "message": e.message}}, ok=False))
        except SynestheteError as e:
            return render(params, envelope({"error": {"code": 0, "message": str(e)}}, ok=False))
        except Exception:  # a bug: the log has it, the client a Subsonic error without a traceback
            logging.getLogger("synesthete.server").exception("/rest/%s failed", name)
            error = {"code": 0, "message": "internal error (the server's log has the details)"}
            return render(params, envelope({"error": error}, ok=False))
        return result if isinstance(result, Response) else render(params, envelope(result))

    handle.__name__ = name
    return handle


HANDLERS = {name: _handler(name, method) for name, (method, _) in METHODS.items()}
for _name, (_method, _summary) in METHODS.items():
    router.add_api_route(f"/{_name}", HANDLERS[_name], methods=["GET"], summary=_summary, operation_id=_name)


async def unknown_method(request: Request, name: str) -> Response:
    """A method this server does not have: HTTP 404, as Navidrome answers, with a Subsonic error (code 0)
    in the format asked for, so a client reading either learns the method is missing. Nothing is read
    but the query string, and nothing is said but the name asked for."""
    name = name.removesuffix(".view")[:60]
    error = {"code": 0, "message": f"unknown method {name!r}: this server does not implement it"}
    response = render(dict(request.query_params), envelope({"error": error}, ok=False))
    response.status_code = 404
    return response


async def other_forms(request: Request, name: str) -> Response:
    """What the GET routes above do not take: a method's form POST, its ``NAME.view`` spelling (GET or
    POST), and unknown methods. One route, not three a method: a request is matched against the routes
    one by one, twice (``bench/http_load.py``: routing was 9 % of a sonic match's CPU with 49 of them)."""
    handler = HANDLERS.get(name.removesuffix(".view"))
    return await (handler(request) if handler is not None else unknown_method(request, name))


# Last: every path the methods' GET routes did not take.
router.add_api_route("/{name:path}", other_forms, methods=["GET", "POST"], include_in_schema=False)
