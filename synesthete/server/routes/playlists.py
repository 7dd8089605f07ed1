"""Playlists under /api/playlists: radio, journey and dissimilar picks, as JSON or as an M3U8 download.

Thin calls of ``Library.radio`` / ``journey`` / ``dissimilar``. Seeds are track ids only: the engine would
also take a file path as a seed, which must never come from a request.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from synesthete.api import Library
from synesthete.library.catalog import shown
from synesthete.recommend.export import extinf
from synesthete.server.routes.api import MAX_ID, json_response

router = APIRouter(prefix="/api/playlists", tags=["playlists"])

Format = Annotated[Literal["json", "m3u8"], Query(description="json, or m3u8 for a playlist file")]
Model = Annotated[str | None, Query(description="a model name from /api/models")]
Seeds = Annotated[
    list[Annotated[int, Query(ge=0, le=MAX_ID)]],
    Query(description="seed track ids (repeat the parameter for several)"),
]
TrackId = Annotated[int, Query(ge=0, le=MAX_ID)]


def _answer(request: Request, playlist, fmt: str, name: str) -> Response:
    if fmt == "json":
        return json_response(playlist.to_dict())
    return Response(
        m3u8(request, playlist),
        media_type="audio/x-mpegurl; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.m3u8"'},
    )


def m3u8(request: Request, playlist) -> str:
    """The playlist as a file to share: each track a URL of this server, never a path on its disk.

    With a token, each URL is a signed link (``Guard.sign``) that plays without it for a while.
    """
    base = str(request.base_url).rstrip("/")
    guard = request.app.state.guard
    lines = ["#EXTM3U", f"#PLAYLIST:synesthete {playlist.kind}"]
    for t in playlist.tracks:
        lines.append(shown(extinf(t)))  # a name that is not UTF-8 as \udcXX, as in the JSON
        lines.append(base + guard.sign(f"/api/tracks/{t.id}/audio", {}))
    return "\n".join(lines) + "\n"


def _lib(request: Request):
    return request.app.state.pool.borrow()


def _needs(lib: Library, method: str) -> None:
    if not callable(getattr(lib, method, None)):
        raise HTTPException(501, f"this build of synesthete has no {method} playlists")


@router.get("/radio", summary="Tracks like the seeds, varied (`synesthete playlist radio`)")
async def radio(
    request: Request,
    seed: Seeds,
    n: Annotated[int, Query(ge=1, le=1000)] = 20,
    diversity: Annotated[float, Query(ge=0, le=1)] = 0.2,
    model: Model = None,
    format: Format = "json",
):

    def make(lib: Library):
        _needs(lib, "radio")
        return lib.radio(list(seed), n=n, diversity=diversity, model=model)

    return _answer(request, await request.app.state.pool.run(make), format, "radio")


@router.get("/journey", summary="A smooth path from one track to another (`synesthete playlist journey`)")
def journey(
    request: Request,
    start: Annotated[TrackId, Query(description="the first track's id")],
    end: Annotated[TrackId, Query(description="the last track's id")],
    n: Annotated[int, Query(ge=2, le=1000)] = 12,
    model: Model = None,
    format: Format = "json",
):
    with _lib(request) as lib:
        _needs(lib, "journey")
        playlist = lib.journey(start, end, n=n, model=model)
    return _answer(request, playlist, format, "journey")


@router.get("/dissimilar", summary="Tracks least like all of the seeds")
def dissimilar(
    request: Request,
    seed: Seeds,
    n: Annotated[int, Query(ge=1, le=1000)] = 10,
    model: Model = None,
    format: Format = "json",
):
    with _lib(request) as lib:
        _needs(lib, "dissimilar")
        playlist = lib.dissimilar(list(seed), n=n, model=model)
    return _answer(request, playlist, format, "dissimilar")


@router.get("/clusters", summary="The collection split into sonic playlists (`synesthete playlist clusters`)")
def clusters(
    request: Request,
    k: Annotated[
        int | None, Query(ge=1, le=1000, description="how many; default: chosen by silhouette")
    ] = None,
    model: Model = None,
) -> dict:
    with _lib(request) as lib:
        _needs(lib, "clusters")
        return lib.clusters(k, model=model).to_dict()
