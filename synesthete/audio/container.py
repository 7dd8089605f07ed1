"""Is the file whole? Containers say how long they are; a file shorter than that was cut off.

One rule for every format (README, "Bad input"): a file that ends before its container or header says it
does, or whose audio breaks off mid-stream, is refused as truncated, never catalogued as a shorter track.
Decoders differ (libsndfile trims a cut WAV's length to what is there; a cut Ogg ends at its last whole
page), so the sizes the containers declare are read here, from a few bytes at each end of the file:
RIFF/RF64 and AIFF sizes, MP4 top-level boxes, the Ogg end-of-stream page, the ID3v2 tag size and the
MP3 Xing/Info byte count. Formats that declare only a length in time (FLAC) are judged by decoding, except
where the "declared" length is only a decoder's estimate (``states_length``).
"""

from __future__ import annotations

import os
import struct

TAIL_BYTES = 1 << 16
MAX_BOXES = 1000  # top-level MP4 boxes or WAV chunks read; real files have a handful
UNKNOWN_SIZES = {0, 0xFFFFFFFF}  # written by streaming encoders that could not seek back


def truncation(path: str) -> str | None:
    """The reason ``path`` looks cut off, or None when it looks whole (or its format declares no size)."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(64)
        if head[:4] == b"OggS":
            fh.seek(max(0, size - TAIL_BYTES))
            return _ogg(fh.read())
        if head[:3] == b"ID3":
            return _id3(fh, head, size)
        if head[:4] in (b"RIFF", b"FORM") and len(head) >= 12:
            return _declared(
                head[:4].decode(), struct.unpack("<I" if head[0] == 82 else ">I", head[4:8])[0] + 8, size
            )
        if head[4:8] == b"ftyp":
            return _mp4(fh, size)
        return _xing(head, 0, size)


def _describe(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 2**10:.1f} KB" if n >= 2**10 else f"{n} bytes"


def _declared(what: str, declared: int, size: int) -> str | None:
    if declared - 8 in UNKNOWN_SIZES or declared <= size + 1:  # some writers count a pad byte they omit
        return None
    return f"truncated: its {what} header declares {_describe(declared)}, the file has {_describe(size)}"


def _ogg(tail: bytes) -> str | None:
    last = tail.rfind(b"OggS")
    if last < 0 or last + 5 >= len(tail):
        return "truncated: the Ogg stream has no last page"
    if not tail[last + 5] & 0x04:  # header_type flag 4: end of stream
        return "truncated: the Ogg stream stops before its end-of-stream page"
    segments = tail[last + 27 : last + 27 + tail[last + 26]] if last + 27 <= len(tail) else b""
    if last + 27 + len(segments) + sum(segments) > len(tail) or len(segments) < tail[last + 26]:
        return "truncated: the Ogg stream's last page is cut off"
    return None


def states_length(path: str) -> bool:
    """Whether the file's header states how long all of its audio is, rather than a decoder estimating it.

    Every format read here states it, except a raw MPEG stream (MP3, or AAC in ADTS frames) without a
    Xing/Info or VBRI header in its first frame whose frame and byte counts reach the end of the file.
    Without one, decoders estimate the length from the file's size and first frame's bit rate: too long
    by the tags (a 6-KB comment is 0.8 s at 64 kbit/s, cover art seconds), anything for a variable rate,
    and an estimate that shrinks with the file cannot reveal a cut. With one that stops short (MP3s joined
    end to end keep the first one's), it describes the start only, and so do the headers of a chained Ogg
    file (several streams one after another: a radio recording, Oggs joined end to end), whose last page
    belongs to another stream than its first. A WAV whose data chunk says 0 bytes with samples after it
    was never finalised (a recorder that stopped before rewriting its header; FFmpeg's "unknown size"),
    and a FLAC whose STREAMINFO counts 0 samples (the format's "unknown", from encoders writing to a pipe)
    states nothing either (libsndfile took that 0 for billions of hours: "too long").
    libsndfile reads no further than the first header or the estimate says, so ``decode`` gives such
    files to FFmpeg, which reads to the end.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head, start = fh.read(64), 0
        if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
            return not _wav_unfinalised(fh, size)
        if head[:4] == b"fLaC" and len(head) >= 26:  # STREAMINFO: 36 bits of sample count at byte 21
            return int.from_bytes(head[21:26], "big") & 0xFFFFFFFFF != 0
        if head[:4] == b"OggS":
            fh.seek(max(0, size - TAIL_BYTES))
            last = fh.read()
            at = last.rfind(b"OggS")
            return at < 0 or last[at + 14 : at + 18] == head[14:18]  # bitstream serial numbers
        if head[:3] == b"ID3" and len(head) >= 10:
            start = _id3_size(head)
            fh.seek(start)
            head = fh.read(64)
    if not _mp3_frame(head):
        return True
    xing = _xing_header(head)
    if xing is not None and xing[1] & 0x1:  # a frame count...
        stream = _xing_bytes(head, *xing)
    elif head[36:40] == b"VBRI" and len(head) >= 54:  # "VBRI", version, delay, quality, bytes, frames
        stream = struct.unpack(">I", head[46:50])[0]
    else:
        return False
    # ...and a byte count that reaches the end, less a tail tag (ID3v1 is 128 bytes, APE a little more)
    return stream is not None and start + stream >= COVERED * size - ID3V1_BYTES


COVERED = 0.99
ID3V1_BYTES = 128


def _wav_unfinalised(fh, size: int) -> bool:
    """Whether a WAV's data chunk declares 0 bytes and samples follow it (among its first ``MAX_BOXES``
    chunks; without a data chunk there, libsndfile judges)."""
    at = 12
    for _ in range(MAX_BOXES):
        fh.seek(at)
        header = fh.read(8)
        if len(header) < 8:
            return False
        (chunk,) = struct.unpack("<I", header[4:])
        if header[:4] == b"data":
            return chunk == 0 and at + 8 < size
        at += 8 + chunk + (chunk & 1)  # chunks are padded to an even size
    return False


def _id3_size(head: bytes) -> int:
    """Bytes of the ID3v2 tag that ``head`` (its first 10 bytes at least) starts, header included."""
    s = head[6:10]
    tag = 10 + ((s[0] & 0x7F) << 21 | (s[1] & 0x7F) << 14 | (s[2] & 0x7F) << 7 | (s[3] & 0x7F))
    return tag + 10 if head[5] & 0x10 else tag  # flag 0x10: a footer follows


def _id3(fh, head: bytes, size: int) -> str | None:
    if len(head) < 10:
        return "truncated: the file stops inside its ID3 tag header"
    tag = _id3_size(head)
    if tag > size:
        return f"truncated: its ID3 tag declares {_describe(tag)}, the file has {_describe(size)}"
    fh.seek(tag)
    return _xing(fh.read(64), tag, size)


def _mp3_frame(head: bytes) -> bool:
    """Whether ``head`` starts with an MPEG audio frame's sync word."""
    return len(head) >= 4 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0


def _xing_header(frame: bytes) -> tuple[int, int] | None:
    """(position, flags) of the Xing/Info header in an MP3's first frame, if it has one."""
    if not _mp3_frame(frame):
        return None
    at = max(frame.find(b"Xing"), frame.find(b"Info"))
    if at < 0 or at + 16 > len(frame):
        return None
    return at, struct.unpack(">I", frame[at + 4 : at + 8])[0]


def _xing_bytes(frame: bytes, at: int, flags: int) -> int | None:
    """The stream size in bytes that the Xing/Info header at ``at`` states, if it states one."""
    if not flags & 0x2:
        return None
    field = at + 8 + (4 if flags & 0x1 else 0)  # after the frame count, when there is one
    return struct.unpack(">I", frame[field : field + 4])[0] if field + 4 <= len(frame) else None


def _xing(frame: bytes, offset: int, size: int) -> str | None:
    """An MP3 whose first frame carries a Xing/Info header states its stream size in bytes."""
    xing = _xing_header(frame)
    stream = None if xing is None else _xing_bytes(frame, *xing)
    if stream is None:
        return None
    declared = offset + stream
    if declared <= size:
        return None
    return f"truncated: its MP3 header declares {_describe(declared)}, the file has {_describe(size)}"


def _mp4(fh, size: int) -> str | None:
    """MP4/M4A: the top-level boxes (ftyp, moov, mdat...) must fit in the file."""
    at = 0
    for _ in range(MAX_BOXES):
        if at + 8 > size:
            break
        fh.seek(at)
        header = fh.read(16)
        (box,) = struct.unpack(">I", header[:4])
        if box == 1 and len(header) == 16:
            (box,) = struct.unpack(">Q", header[8:16])
        elif box == 0:  # to the end of the file
            return None
        if box < 8:
            return None  # not a box structure we understand: let the decoder judge
        at += box
    if at > size:
        return f"truncated: its MP4 boxes declare {_describe(at)}, the file has {_describe(size)}"
    return None
