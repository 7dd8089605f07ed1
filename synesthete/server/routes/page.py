"""The web page: static files with no build step, and plotly.js from the installed ``plotly`` package."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

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


@router.get("/")
def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/vendor/plotly.min.js")
def plotly() -> FileResponse:
    path = plotly_js()
    if path is None:
        raise HTTPException(404, "plotly is not installed: `pip install plotly` to draw the map")
    return FileResponse(path, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})
