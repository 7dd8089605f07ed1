"""Uploaded audio: bounded in size and duration, kept in a temporary file only while it is analysed.

Refusals carry a reason and the HTTP status a client can act on: 413 too large or too long, 415 not
audio (judged by the first bytes, whatever the name says) or not decodable, 422 audio that cannot be
analysed (too short, silent...) or a request with other than one file, 408 a client too slow to send.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import HTTPException, Request, UploadFile
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from synesthete.audio.decode import SR, iter_chunks, probe
from synesthete.exceptions import AudioError, DecodeError
from synesthete.server.security import send_json

UPLOAD_PREFIX = "synesthete-upload-"
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
MAX_UPLOAD_SECONDS = 15 * 60.0
MAX_FORM_BYTES = 64 * 1024  # any other body: a Subsonic form POST, a few parameters
BODY_TIMEOUT_SECONDS = 30.0  # the longest wait for the next piece of a body
UPLOADS_PER_MINUTE = 60.0  # per client address


@dataclass(frozen=True)
class Limits:
    max_bytes: int = MAX_UPLOAD_BYTES
    max_seconds: float = MAX_UPLOAD_SECONDS
    max_form_bytes: int = MAX_FORM_BYTES
    body_timeout: float = BODY_TIMEOUT_SECONDS
    uploads_per_minute: float = UPLOADS_PER_MINUTE

    def to_dict(self) -> dict:
        return {
            "max_upload_bytes": self.max_bytes,
            "max_upload_seconds": self.max_seconds,
            "uploads_per_minute": self.uploads_per_minute,
        }


def too_large(limits: Limits) -> HTTPException:
    mib = limits.max_bytes / (1024 * 1024)
    return HTTPException(413, f"the upload is larger than this server accepts ({mib:g} MiB)")


class BodyLimit:
    """ASGI middleware: one bound on every request body, enforced while it streams in.

    Uploads (``paths``) may carry ``limits.max_bytes`` (plus the multipart envelope), any other request
    ``limits.max_form_bytes``. A declared Content-Length over the bound is refused (413) before a byte is
    read; a body without one (chunked) is counted as it arrives and cut at the bound; a client that sends
    nothing for ``limits.body_timeout`` seconds gets 408. Why here and not on the parsed file: the
    multipart parser would already have spooled the whole body to disk.
    """

    def __init__(self, app: ASGIApp, *, paths: tuple[str, ...], limits: Limits) -> None:
        self.app, self.paths, self.limits = app, paths, limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = scope["path"] in self.paths
        limit = self.limits.max_bytes + 64 * 1024 if upload else self.limits.max_form_bytes

        def refusal() -> HTTPException:
            return too_large(self.limits) if upload else body_too_large(self.limits)

        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > limit):
                await send_json(send, 413, refusal().detail)
                return
        seen = 0
        timeout = self.limits.body_timeout

        async def counted() -> Message:
            nonlocal seen
            try:
                message = await asyncio.wait_for(receive(), timeout)
            except TimeoutError:
                raise HTTPException(408, f"the request body stalled for {timeout:g} s") from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise refusal()
            return message

        await self.app(scope, counted, send)


def body_too_large(limits: Limits) -> HTTPException:
    return HTTPException(
        413, f"the request body is larger than {limits.max_form_bytes} bytes (not an upload)"
    )


# The first bytes of each container the decoders read: (offset, bytes, the extension to give the decoder).
SIGNATURES = (
    (0, b"fLaC", ".flac"),
    (0, b"OggS", ".ogg"),
    (0, b"ID3", ".mp3"),
    (0, b"\x1a\x45\xdf\xa3", ".webm"),  # Matroska / WebM
    (4, b"ftyp", ".m4a"),  # MP4 / M4A / 3GP
    (0, b"wvpk", ".wv"),
    (0, b"MAC ", ".ape"),
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", ".wma"),  # ASF
    (0, b"\x0b\x77", ".ac3"),
    (0, b"Extended Module: ", ".xm"),  # tracker modules (audio/modules.py)
    (0, b"IMPM", ".it"),  # and OpenMPT's .mptm
    (44, b"SCRM", ".s3m"),
    # ProTracker and its kin: the tag after the title, 31 sample headers and the order table
    *((1080, tag, ".mod") for tag in (b"M.K.", b"M!K!", b"4CHN", b"6CHN", b"8CHN", b"FLT4", b"FLT8")),
)
SNIFF_BYTES = 1084


def sniff(head: bytes) -> str | None:
    """The audio container ``head`` (a file's first bytes) starts like, as an extension; None if none."""
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return ".wav"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return ".aiff"
    for offset, magic, ext in SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return ext
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:  # an MPEG audio frame or ADTS
        return ".aac" if head[1] & 0x06 == 0 else ".mp3"
    return None


async def one_file(request: Request) -> None:
    """A dependency of the upload routes: exactly one file, in the field ``file`` (422 otherwise)."""
    form = await request.form()  # already parsed (and cached) by FastAPI for the route's own parameter
    files = [(k, v) for k, v in form.multi_items() if not isinstance(v, str)]
    if len(files) != 1 or files[0][0] != "file":
        names = ", ".join(k for k, _ in files) or "none"
        raise HTTPException(422, f"send exactly one file, in the field 'file' (got {len(files)}: {names})")


@contextmanager
def saved_upload(upload: UploadFile, limits: Limits) -> Iterator[Path]:
    """The upload as a temporary file named for what its bytes are, checked, and deleted afterwards.

    The client's file name and type are not trusted: an executable named .mp3 is refused as not audio.
    """
    fd, name = tempfile.mkstemp(prefix=UPLOAD_PREFIX)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            copied = _copy_bounded(upload.file, out, limits.max_bytes)
        if copied == 0:
            raise HTTPException(422, "the upload is empty (0 bytes)")
        with path.open("rb") as f:
            suffix = sniff(f.read(SNIFF_BYTES))
        if suffix is None:
            raise HTTPException(
                415,
                f"the upload cannot be used: '{upload.filename or 'the upload'}' is not an audio file"
                " (its first bytes match no audio format this server reads, whatever its name)",
            )
        typed = path.rename(path.with_suffix(suffix))
        path = typed
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
