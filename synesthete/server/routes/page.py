"""The web page: static files with no build step, and plotly.js from the installed ``plotly`` package."""

from __future__ import annotations

import functools
import re
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, Response
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

STATIC = Path(str(resources.files("synesthete.web") / "static"))

router = APIRouter(include_in_schema=False)


def plotly_js() -> Path | None:
    """plotly.min.js as the ``plotly`` wheel ships it (so the map works offline, with no CDN)."""
    try:
        import plotly
    except ImportError:
        return None
    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return path if path.is_file() else None


# The page runs only its own files: no inline script or style, nothing from elsewhere, no framing.
# No 'unsafe-eval' either: the map draws 2D as SVG, as plotly's WebGL "scattergl" would need it.
PAGE_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": PAGE_POLICY,
    "Permissions-Policy": "microphone=(self), camera=(), geolocation=()",
}


@router.get("/")
def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)


@router.get("/vendor/plotly.min.js")
def plotly() -> FileResponse:
    path = plotly_js()
    if path is None:
        raise HTTPException(404, "plotly is not installed: `pip install plotly` to draw the map")
    return FileResponse(path, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})


# plotly.js writes its stylesheet into a <style> element, which the page's policy forbids; it skips that
# when the page already has an element of this id with the class "no-inline-styles" (index.html's <link>).
PLOTLY_RULES = re.compile(r"""("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'):("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')""")


@functools.cache
def plotly_css() -> str | None:
    """plotly.js's global style rules as a stylesheet, read from the rules object in its own bundle."""
    path = plotly_js()
    if path is None:
        return None
    code = path.read_text(encoding="utf-8")
    start = code.find('{"X,X div"')
    end = code.find("};", start)
    if start < 0 or end < 0:
        return None
    rules = []
    for key, value in PLOTLY_RULES.findall(code[start + 1 : end]):
        selector = key[1:-1].replace("X", ".js-plotly-plot .plotly").replace("Y", ".plotly-notifier")
        rules.append(f"{selector.replace(',', ', ')} {{{value[1:-1]}}}")
    return "\n".join(reversed(rules)) + "\n"  # plotly inserts each rule first, so the last one leads


@router.get("/vendor/plotly.css")
def plotly_style() -> Response:
    css = plotly_css()
    if css is None:
        raise HTTPException(404, "plotly is not installed: `pip install plotly` to draw the map")
    return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=86400"})


class CompressedAssets:
    """ASGI middleware: the page's files, plotly.js (4.8 MB, 1.4 MB gzipped) and the docs' files gzipped.

    Only these: API answers stay as they are (they are small, and compressing them costs the CPU that
    answers requests).
    """

    PREFIXES = ("/static/", "/vendor/", "/static-offline-docs/")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=1024, compresslevel=6)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.PREFIXES):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)
