"""Uploaded audio: bounded in size and duration, kept in a temporary file only while it is analysed.

Refusals carry a reason and the HTTP status a client can act on: 413 too large or too long, 415 not an
audio type or not decodable, 422 audio that cannot be analysed (too short, silent...).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import HTTPException, UploadFile
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from synesthete.audio.decode import AUDIO_EXTENSIONS, SR, iter_chunks, probe
from synesthete.exceptions import AudioError, DecodeError

UPLOAD_PREFIX = "synesthete-upload-"
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
MAX_UPLOAD_SECONDS = 15 * 60.0
# What browsers and clients call the formats we decode (MediaRecorder: webm/opus in Chromium, ogg in Firefox).
CONTENT_TYPES = {
    "audio/webm": ".webm",
    "video/webm": ".webm",
    "audio/ogg": ".ogg",
    "application/ogg": ".ogg",
    "audio/opus": ".opus",
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/wave": ".wav",
    "audio/vnd.wave": ".wav",
    "audio/mpeg": ".mp3",
    "audio/mp3": ".mp3",
    "audio/flac": ".flac",
    "audio/x-flac": ".flac",
    "audio/mp4": ".m4a",
    "audio/x-m4a": ".m4a",
    "audio/aac": ".aac",
    "audio/aiff": ".aiff",
    "audio/x-aiff": ".aiff",
}


@dataclass(frozen=True)
class Limits:
    max_bytes: int = MAX_UPLOAD_BYTES
    max_seconds: float = MAX_UPLOAD_SECONDS

    def to_dict(self) -> dict:
        return {"max_upload_bytes": self.max_bytes, "max_upload_seconds": self.max_seconds}


def too_large(limits: Limits) -> HTTPException:
    mib = limits.max_bytes / (1024 * 1024)
    return HTTPException(413, f"the upload is larger than this server accepts ({mib:g} MiB)")


class BodyLimit:
    """ASGI middleware: refuse upload bodies over the limit before they are parsed or spooled to disk.

    Why not only check the parsed file: the multipart parser would already have written the whole body
    to a temporary file. A declared Content-Length over the limit is refused at once; a body without one
    is counted as it arrives and cut off at the limit.
    """

    def __init__(self, app: ASGIApp, *, paths: tuple[str, ...], limits: Limits) -> None:
        self.app, self.paths, self.limits = app, paths, limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        # The multipart envelope adds a little to the file itself.
        limit = self.limits.max_bytes + 64 * 1024
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _send_json(send, 413, too_large(self.limits).detail)
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise too_large(self.limits)
            return message

        await self.app(scope, counted, send)


async def _send_json(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def suffix_for(filename: str | None, content_type: str | None) -> str:
    """The extension the decoder should see, from the file name or else the declared type; 415 if neither."""
    ext = Path(filename or "").suffix.lower()
    if ext in AUDIO_EXTENSIONS:
        return ext
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind in CONTENT_TYPES:
        return CONTENT_TYPES[kind]
    known = ", ".join(sorted(e.lstrip(".") for e in AUDIO_EXTENSIONS))
    raise HTTPException(
        415,
        f"'{filename or 'the upload'}' ({kind or 'no type'}) is not an audio type this server reads ({known})",
    )


@contextmanager
def saved_upload(upload: UploadFile, limits: Limits) -> Iterator[Path]:
    """The upload as a temporary file with the right extension, checked, and deleted afterwards."""
    suffix = suffix_for(upload.filename, upload.content_type)
    fd, name = tempfile.mkstemp(prefix=UPLOAD_PREFIX, suffix=suffix)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            copied = _copy_bounded(upload.file, out, limits.max_bytes)
        if copied == 0:
            raise HTTPException(422, "the upload is empty (0 bytes)")
        check_duration(path, limits)
        yield path
    finally:
        path.unlink(missing_ok=True)


def _copy_bounded(src, dst, max_bytes: int) -> int:
    copied = 0
    while block := src.read(1 << 20):
        copied += len(block)
        if copied > max_bytes:
            raise too_large(Limits(max_bytes=max_bytes))
        dst.write(block)
    return copied


def check_duration(path: Path, limits: Limits) -> None:
    """413 past the duration limit: from the header when it says, else by decoding up to the limit.

    Browser recordings (webm from MediaRecorder) carry no duration in their header.
    """
    try:
        declared = probe(path).duration
        if declared is None:
            seconds = 0.0
            for chunk in iter_chunks(path, chunk_seconds=60.0):
                seconds += chunk.size / SR
                if seconds > limits.max_seconds:
                    break
        else:
            seconds = declared
    except AudioError as e:
        raise audio_error(e) from None
    if seconds > limits.max_seconds:
        raise HTTPException(
            413, f"the audio lasts {seconds:.0f} s; this server analyses at most {limits.max_seconds:.0f} s"
        )


def audio_error(e: AudioError) -> HTTPException:
    """415 for what is not decodable audio, 422 for audio that cannot be analysed; the reason either way."""
    status = 415 if isinstance(e, DecodeError) else 422
    return HTTPException(status, f"the upload cannot be used: {e.reason}")
