"""Serving catalogued audio files: the right content type, HTTP Range, and nothing outside the catalog."""

from __future__ import annotations

import os
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
