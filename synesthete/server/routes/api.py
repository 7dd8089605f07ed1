"""The JSON API under /api: each route borrows a ``Library`` and makes one call of it.

The CLI, this API and the page map one to one (`synesthete similar` ↔ ``Library.similar`` ↔
``GET /api/tracks/{id}/similar``); results are the documents the CLI prints with ``--json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, Depends, File, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from synesthete import __version__
from synesthete.api import Library, similar_document
from synesthete.exceptions import AudioError, UserError
from synesthete.library.catalog import Track
from synesthete.server.media import audio_file, cover_art
from synesthete.server.pool import NoSuchTrack
from synesthete.server.uploads import UPLOAD_PREFIX, audio_error, one_file, saved_upload


def json_bytes(doc: Any) -> bytes:
    """``doc`` as UTF-8 JSON. A file name that is not valid UTF-8 goes as ``\\udcXX`` escapes, as
    ``--json`` prints it (``json.loads`` gives the very name back), never as a 500."""
    body = json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return body.encode("utf-8", "backslashreplace")


class JSON(JSONResponse):
    """The answer of a route that returns a dict, under the same rule as ``json_bytes``."""

    def render(self, content: Any) -> bytes:
        return json_bytes(content)


router = APIRouter(prefix="/api", tags=["api"], default_response_class=JSON)

K = Annotated[int, Query(ge=1, le=1000, description="how many results")]
Model = Annotated[str | None, Query(description="a model name from /api/models; default: the library's")]
Dissimilar = Annotated[bool, Query(description="the least similar tracks instead")]
MAX_ID = 2**63 - 1  # SQLite's INTEGER: a larger id or offset names nothing the catalog can hold
Offset = Annotated[int, Query(ge=0, le=MAX_ID)]


def pool(request: Request):
    return request.app.state.pool


def track_or_404(lib: Library, track_id: int) -> Track:
    if not 0 <= track_id <= MAX_ID:
        raise HTTPException(404, f"no track with id {track_id}")
    try:
        return lib.track(track_id)
    except UserError as e:
        raise HTTPException(404, str(e)) from None


def json_response(doc: dict) -> Response:
    """``doc`` as JSON, encoded once: returning the dict would make FastAPI walk it first
    (``jsonable_encoder``), which cost more than the search itself."""
    return Response(json_bytes(doc), media_type="application/json")


def query_of(track: Track) -> dict:
    """The query part of a result document, as `similar --json` prints it."""
    return {k: v for k, v in track.to_dict().items() if k in ("track_id", "path", "title", "artist")}


def features(lib: Library) -> dict[str, bool]:
    """Which optional parts of the engine this build has, so the page shows only what works."""
    return {
        name: callable(getattr(lib, name, None))
        for name in ("radio", "journey", "clusters", "map", "identify", "explain")
    }


# First of the routes: a request is matched against them one by one (twice, in FastAPI), and this is the
# route asked most (a shop page, a player on every track change).
@router.get("/tracks/{track_id}/similar", summary="Tracks that sound like this one (`similar --json`)")
async def similar(
    request: Request,
    track_id: int,
    k: K = 10,
    model: Model = None,
    dissimilar: Dissimilar = False,
    explain: Annotated[
        bool, Query(description="add each result's explanation: feature-group shares and words")
    ] = False,
) -> Response:
    if explain:
        return json_response(await run_in_threadpool(_explained, request, track_id, k, model, dissimilar))
    if not 0 <= track_id <= MAX_ID:
        raise HTTPException(404, f"no track with id {track_id}")
    batcher = request.app.state.batcher
    try:  # no thread of its own: the request waits on the event loop for its batch's answer
        found = await batcher.ask(track_id, k=k, model=model, dissimilar=dissimilar)
    except NoSuchTrack as e:
        raise HTTPException(404, str(e)) from None
    return json_response(similar_document(query_of(found.query), found.model, found.matches))


@router.get("/info", summary="Version, models, optional features and upload limits")
def info(request: Request) -> dict:
    with pool(request).borrow() as lib:
        return {
            "version": __version__,
            "models": lib.models(),
            "default_model": lib.models()[0],
            "features": features(lib),
            "limits": request.app.state.limits.to_dict(),
        }


@router.get("/link", summary="A link to an /api address that works without the token for a while")
def link(
    request: Request,
    to: Annotated[str, Query(description="an /api address with its query, e.g. a playlist's M3U8")],
) -> dict:
    """For files that are shared (an M3U8 download): the link carries a signature and an expiry, never
    the token. With no token on the server the address comes back unchanged."""
    url = urlsplit(to)
    if url.scheme or url.netloc or not url.path.startswith("/api/") or url.path == "/api/link":
        raise HTTPException(422, f"only this server's /api addresses can be linked, not {to!r}")
    params: dict[str, list[str]] = {}
    for key, value in parse_qsl(url.query, keep_blank_values=True):
        params.setdefault(key, []).append(value)
    return {"url": request.app.state.guard.sign(url.path, params)}


@router.get("/status", summary="Tracks, vectors per model, failed files (`synesthete status --json`)")
def status(request: Request) -> dict:
    with pool(request).borrow() as lib:
        return lib.status()


@router.get("/models", summary="The names `model=` accepts; the first is the default")
def models(request: Request) -> dict:
    with pool(request).borrow() as lib:
        return {"models": lib.models()}


@router.get("/tracks", summary="Catalogued tracks, optionally matching words (`synesthete tracks --json`)")
async def tracks(
    request: Request,
    search: Annotated[
        str | None, Query(description="words matched against artist, title, album, path")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Offset = 0,
) -> Response:
    found = await pool(request).run(lambda lib: lib.tracks(search or None, limit=limit, offset=offset))
    return json_response({"tracks": [t.to_dict() for t in found]})


@router.get("/tracks/{track_id}", summary="One track")
def track(request: Request, track_id: int) -> dict:
    with pool(request).borrow() as lib:
        return track_or_404(lib, track_id).to_dict()


def _explained(request: Request, track_id: int, k: int, model: str | None, dissimilar: bool) -> dict:
    with pool(request).borrow() as lib:
        query = track_or_404(lib, track_id)
        space = lib.space(model)
        matches = lib.similar(query, k=k, model=model, dissimilar=dissimilar)
        why = lib.explain_all(query, [m.track for m in matches], model=model) if matches else []
    return similar_document(query_of(query), space.name, matches, why)


@router.get("/explain", summary="Why two tracks are close: feature groups and words (`playlist explain`)")
def explain_pair(request: Request, a: int, b: int, model: Model = None) -> dict:
    with pool(request).borrow() as lib:
        return lib.explain(track_or_404(lib, a), track_or_404(lib, b), model=model).to_dict()


@router.post(
    "/similar",
    summary="Tracks that sound like an uploaded file or a browser recording (multipart field `file`)",
    responses={413: {"description": "too large or too long"}, 415: {"description": "not audio"}},
    dependencies=[Depends(one_file)],
)
def similar_to_upload(
    request: Request,
    file: Annotated[UploadFile, File(description="audio: mp3, flac, ogg, opus, wav, m4a, webm...")],
    k: K = 10,
    model: Model = None,
    dissimilar: Dissimilar = False,
) -> dict:
    with saved_upload(file, request.app.state.limits) as path, pool(request).borrow() as lib:
        space = lib.space(model)
        try:
            matches = lib.similar_to_file(path, k=k, model=model, dissimilar=dissimilar)
        except AudioError as e:
            raise audio_error(e) from None
        query = {**lib.describe_file(path), "path": file.filename or "upload"}
        if (query["title"] or "").startswith(
            UPLOAD_PREFIX
        ):  # untagged: the client's name, not our temp file's
            query["title"] = Path(file.filename or "upload").stem
    return similar_document(query, space.name, matches)


@router.get(
    "/tracks/{track_id}/audio",
    summary="The track's audio file (HTTP Range supported)",
    response_class=FileResponse,
    responses={200: {"content": {"audio/*": {}}}, 206: {"description": "a byte range"}},
)
def audio(request: Request, track_id: int) -> FileResponse:
    with pool(request).borrow() as lib:
        found = track_or_404(lib, track_id)
    return audio_file(found)


@router.get(
    "/tracks/{track_id}/cover",
    summary="The track's artwork: embedded in the file, else cover.jpg (folder.jpg...) beside it",
    response_class=Response,
    responses={200: {"content": {"image/*": {}}}, 404: {"description": "no artwork"}},
)
def cover(request: Request, track_id: int) -> Response:
    with pool(request).borrow() as lib:
        found = track_or_404(lib, track_id)
    art = cover_art(found.path)
    if art is None:
        raise HTTPException(
            404, f"track {track_id} has no artwork (none in its tags, no cover.jpg beside it)"
        )
    return Response(art[0], media_type=art[1], headers={"Cache-Control": "max-age=3600"})


@router.post(
    "/identify",
    summary="Which catalogued track an uploaded recording is of (`synesthete identify --file`)",
    responses={413: {"description": "too large or too long"}, 415: {"description": "not audio"}},
    dependencies=[Depends(one_file)],
)
def identify(
    request: Request,
    file: Annotated[UploadFile, File(description="a recording of a catalogued track")],
) -> dict:
    with saved_upload(file, request.app.state.limits) as path, pool(request).borrow() as lib:
        if not callable(getattr(lib, "identify", None)):
            raise HTTPException(501, "this build of synesthete cannot identify recordings yet")
        try:
            found = lib.identify(path)
        except AudioError as e:
            raise audio_error(e) from None
    return {"query": {"path": file.filename or "upload"}, "match": found.to_dict() if found else None}


@router.get(
    "/map", summary="The collection projected to 2D or 3D (`synesthete map`), optionally with clusters"
)
def sonic_map(
    request: Request,
    method: Annotated[Literal["umap", "tsne", "pca"], Query()] = "umap",
    dims: Annotated[int, Query(ge=2, le=3)] = 2,
    model: Model = None,
    clusters: Annotated[bool, Query(description="name each point's cluster (`playlist clusters`)")] = False,
    k: Annotated[
        int | None, Query(ge=1, le=1000, description="how many clusters; default: by silhouette")
    ] = None,
) -> dict:
    with pool(request).borrow() as lib:
        if not callable(getattr(lib, "map", None)):
            raise HTTPException(501, "this build of synesthete draws no maps yet")
        doc = lib.map(method, dims, model)
        if clusters:
            found = lib.clusters(k, model=model)
            names = {t.id: f"{i + 1}: {c.name}" for i, c in enumerate(found) for t in c.tracks}
            for point in doc["points"]:
                point["cluster"] = names.get(point["track_id"])
    return doc
