"""``create_app``: the FastAPI application over one library folder."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from synesthete import __version__
from synesthete.api import Library
from synesthete.exceptions import AudioError, ParameterError, SynestheteError
from synesthete.server.pool import LibraryPool, SimilarBatcher
from synesthete.server.routes import api, page, playlists, subsonic
from synesthete.server.routes.api import JSON
from synesthete.server.security import Gate, Guard, SharedBuckets
from synesthete.server.uploads import BodyLimit, Limits, audio_error

UPLOAD_PATHS = ("/api/similar", "/api/identify")


def create_app(
    library: str | Path | Library | LibraryPool,
    *,
    token: str | None = None,
    limits: Limits | None = None,
    pool_size: int = 2,
    shared_buckets: SharedBuckets | None = None,
) -> FastAPI:
    """The HTTP API and the page over ``library`` (a folder, an open ``Library`` or a ``LibraryPool``).

    ``token``: when given, every API route needs it (see ``security``); without one, only requests
    addressed to the loopback are answered. ``shared_buckets``: the upload limiter's counts, when several
    processes serve (``serve --workers``).
    """
    if isinstance(library, LibraryPool):
        pool, owned = library, False
    elif isinstance(library, Library):
        pool, owned = LibraryPool.of(library), False
    else:
        pool, owned = LibraryPool(library, size=pool_size), True
    guard = Guard(token)
    batcher = SimilarBatcher(pool)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        batcher.close()
        if owned:
            pool.close()

    # FastAPIOffline is FastAPI(...) with /docs (Swagger UI) and /redoc whose JS and CSS are served from
    # the installed ``fastapi-offline`` package under /static-offline-docs, not from a CDN: they work offline.
    app = FastAPIOffline(
        title="synesthete",
        version=__version__,
        description="A music engine that sees sound: similar tracks for a catalogued track, an uploaded "
        "file or a microphone recording; OpenSubsonic `sonicSimilarity` under /rest.",
        lifespan=lifespan,
        # No OpenTelemetry here: otherwise FastAPI asks OpenTelemetry's global providers on every request
        # whether anyone listens (1 % of a `similar` answer's CPU, bench/http_load.py).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.pool = pool
    app.state.batcher = batcher
    app.state.guard = guard
    app.state.limits = limits or Limits()
    with pool.borrow() as lib:
        app.state.features = api.features(lib)

    app.include_router(api.router)  # the token is checked by ``Gate``, before any body is read
    app.include_router(playlists.router)
    app.include_router(subsonic.router)
    app.include_router(page.router)
    app.mount("/static", StaticFiles(directory=page.STATIC), name="static")

    app.add_middleware(page.CompressedAssets)
    app.add_middleware(BodyLimit, paths=UPLOAD_PATHS, limits=app.state.limits)
    per_minute = app.state.limits.uploads_per_minute
    app.add_middleware(Gate, guard=guard, limited=UPLOAD_PATHS, per_minute=per_minute, shared=shared_buckets)

    @app.exception_handler(AudioError)
    async def on_audio_error(request: Request, e: AudioError) -> JSON:
        http = audio_error(e)
        return JSON({"detail": http.detail}, status_code=http.status_code)

    @app.exception_handler(ParameterError)
    async def on_parameter_error(request: Request, e: ParameterError) -> JSON:
        return JSON({"detail": str(e)}, status_code=422)

    @app.exception_handler(SynestheteError)
    async def on_error(request: Request, e: SynestheteError) -> JSON:
        return JSON({"detail": str(e)}, status_code=400)

    @app.exception_handler(Exception)
    async def on_bug(request: Request, e: Exception) -> JSON:
        """A bug: logged with its traceback on the server, never sent to the client."""
        logging.getLogger("synesthete.server").error(
            "%s %s failed", request.method, request.url.path, exc_info=e
        )
        return JSON({"detail": "internal error (the server's log has the details)"}, status_code=500)

    return app
