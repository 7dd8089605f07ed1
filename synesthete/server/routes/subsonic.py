"""OpenSubsonic under /rest: enough for a Subsonic client to play tracks and ask for sonically similar ones.

Implements ping, getLicense, getOpenSubsonicExtensions (advertising ``sonicSimilarity``), getSong, stream,
download, getSonicSimilarTracks and, when the library builds journeys, findSonicPath; each as
``/rest/NAME`` and ``/rest/NAME.view``, GET or form POST, answering XML (default), JSON (``f=json``) or
JSONP. Errors follow Subsonic: HTTP 200 with ``status="failed"`` and an error code.

``similarity`` is the cosine score mapped from [-1, 1] to [0, 1] (1 = the same sound), as the extension
asks for a normalised value.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from synesthete import __version__
from synesthete.api import Library, Match
from synesthete.exceptions import SynestheteError, UserError
from synesthete.library.catalog import Track
from synesthete.server.media import audio_file, media_type
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
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


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
        body = json.dumps({"subsonic-response": doc}, ensure_ascii=False)
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
    """A Subsonic ``Child`` for a catalogued track."""
    try:
        size = os.path.getsize(track.path)
    except OSError:
        size = None
    suffix = Path(track.path).suffix.lower().lstrip(".")
    return {
        "id": str(track.id),
        "isDir": False,
        "title": track.title or Path(track.path).stem,
        "album": track.album,
        "artist": track.artist,
        "genre": track.genre,
        "duration": round(track.duration) if track.duration else None,
        "size": size,
        "suffix": suffix,
        "contentType": media_type(track.path).split(";")[0],
        "path": track.path,
        "isVideo": False,
        "type": "music",
        "mediaType": "song",
    }


def sonic_match(match: Match) -> dict:
    return {"entry": child(match.track), "similarity": round((float(match.score) + 1.0) / 2.0, 6)}


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
    ask = request.app.state.batcher.submit(track_id, k=max(count, 1), model=None, dissimilar=False)
    try:
        found = await asyncio.wrap_future(ask)
    except NoSuchTrack:
        raise SubsonicError(70, "Song not found") from None
    return {"sonicMatch": [sonic_match(m) for m in found.matches[:count]]}


def find_sonic_path(lib: Library, params: dict[str, str]) -> dict:
    """The journey from start to end; each song's similarity is to the start song, as the extension asks."""
    start, end = _track(lib, params, "startSongId"), _track(lib, params, "endSongId")
    count = _int(params, "count", 25)
    path = list(lib.journey(start.id, end.id, n=max(count, 2)))
    scores = [e.score for e in lib.explain_all(start, path)] if hasattr(lib, "explain_all") else []
    if len(scores) != len(path):
        return {"sonicMatch": [{"entry": child(t), "similarity": -1} for t in path]}
    return {"sonicMatch": [sonic_match(Match(t, s)) for t, s in zip(path, scores, strict=True)]}


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
                result = await run_in_threadpool(_call, request.app.state.pool, method, params)
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


def _call(pool, method: Method, params: dict[str, str]) -> dict | Response:
    with pool.borrow() as lib:
        return method(lib, params)


for _name, (_method, _summary) in METHODS.items():
    _h = _handler(_name, _method)
    router.add_api_route(f"/{_name}", _h, methods=["GET"], summary=_summary, operation_id=_name)
    router.add_api_route(f"/{_name}", _h, methods=["POST"], include_in_schema=False)
    router.add_api_route(f"/{_name}.view", _h, methods=["GET", "POST"], include_in_schema=False)
