"""Decode any audio file to mono float32 at 22,050 Hz, in chunks of bounded size.

libsndfile (``soundfile``) reads wav, flac, ogg/vorbis, opus, mp3 and aiff fast; tracker modules are
rendered by libopenmpt (``modules.py``); PyAV (FFmpeg) reads the rest (m4a/aac, webm from browsers,
wma...) and every file whose header does not state the length of all of
its audio (``container.states_length``: MP3s without a Xing header or joined end to end, chained Oggs,
WAVs never finalised, FLACs written to a pipe), of which libsndfile would read part or nothing. Channels
are averaged with a matrix product, and soxr resamples as a stream, so a 2-hour file never sits in
memory whole: callers get chunks of at most ``chunk_seconds`` (plus a short tail folded into the last
chunk). That bound holds for any header: blocks are read in at most ``BLOCK_SAMPLES`` samples over all
channels and fed to the resampler in pieces whose output is one block, so a file claiming 1 Hz or
65,535 channels cannot make a giant chunk; absurd rates and channel counts are refused. A file cut short
is refused as truncated, whatever its format (``container.py``).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import soundfile as sf
import soxr

from synesthete.audio import modules
from synesthete.audio.container import states_length, truncation
from synesthete.audio.validate import LevelMeter, check_chunk, check_declared_duration, check_format
from synesthete.exceptions import DecodeError

SR = 22050
NOT_AUDIO = "not an audio file, or a corrupt or unsupported one"
CHUNK_SECONDS = 120.0  # bounds memory: a chunk and its spectra take ~150 MB
MIN_TAIL_SECONDS = 30.0
BLOCK_FRAMES = 1 << 16
BLOCK_SAMPLES = 1 << 18  # per read, over all channels: 1 MB of float32
# Decoded this much shorter than the header says (and more than the slack of codecs' priming and
# padding), a file is truncated.
SHORT_TOLERANCE = 0.005
SHORT_SLACK_SECONDS = 0.25  # AAC priming alone is 2112 samples, 0.1 s at 22,050 Hz
MAX_BAD_FRAMES = 0.01  # share of an MP3's frames FFmpeg may fail to decode before it is corrupt
WARM_UP_SECONDS = 0.5  # decoded before a span, and dropped (``_pyav_span``)
MPEG_DECODERS = {"mp3", "mp3float", "mp2", "mp2float", "mp1", "mp1float"}  # the ones decoded on past it
# Extensions libsndfile cannot read; PyAV handles them directly.
FFMPEG_FIRST = {
    ".m4a", ".mp4", ".aac", ".alac", ".wma", ".webm", ".mka", ".ac3", ".ape", ".wv", ".3gp", ".tta", ".mp2",
}  # fmt: skip
AUDIO_EXTENSIONS = frozenset(
    {".mp3", ".flac", ".ogg", ".oga", ".opus", ".wav", ".aif", ".aiff", ".aifc", ".w64", ".caf", ".au"}
    | FFMPEG_FIRST
    | modules.MODULE_EXTENSIONS
)
# Bumped when this module comes to read some files otherwise, so that a scan analyses again just those it
# catalogued with an older one (``reads_differently`` names them; ``library/scan.py``). 2: files whose
# header does not state the length of all their audio left libsndfile, which read part of them, for FFmpeg.
DECODER = 2


def reads_differently(path: str) -> bool:
    """Whether this decoder may read ``path`` otherwise than an older one (``DECODER``) did. A file that
    cannot be read is left to the scan, which opens it anyway when its size or time changed."""
    try:
        suffix = Path(path).suffix.lower()
        return suffix not in FFMPEG_FIRST | modules.MODULE_EXTENSIONS and not states_length(path)
    except OSError:
        return False


@dataclass(frozen=True)
class AudioInfo:
    """What the container says, before decoding."""

    duration: float | None
    samplerate: int
    channels: int
    backend: str


def _check_readable(path: str) -> None:
    """Turn the common filesystem failures into reasons a person can act on."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DecodeError(path, "file not found (moved or deleted?)") from None
    except OSError as e:
        raise DecodeError(path, f"cannot read: {e.strerror or e}") from None
    if not os.path.isfile(path):
        raise DecodeError(path, "not a regular file")
    if st.st_size == 0:
        raise DecodeError(path, "empty file (0 bytes)")
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except PermissionError:
        raise DecodeError(path, "cannot read: permission denied") from None
    except OSError as e:
        reason = "is a directory" if e.errno == errno.EISDIR else (e.strerror or str(e))
        raise DecodeError(path, f"cannot read: {reason}") from None


def _downmix(block: np.ndarray) -> np.ndarray:
    """(frames, channels) -> (frames,), averaging channels with one matrix product."""
    if block.ndim == 1:
        return block.astype(np.float32, copy=False)
    ch = block.shape[1]
    return (block @ np.full(ch, 1.0 / ch, dtype=np.float32)).astype(np.float32, copy=False)


def _soundfile_blocks(path: str) -> tuple[AudioInfo, Iterator[np.ndarray]]:
    f = sf.SoundFile(os.fsencode(path))  # bytes: a name that is not valid UTF-8 opens too
    duration = f.frames / f.samplerate if f.frames > 0 else None
    info = AudioInfo(duration, f.samplerate, f.channels, "soundfile")
    try:
        check_format(path, info.samplerate, info.channels)
    except DecodeError:
        f.close()
        raise
    frames = max(1, BLOCK_SAMPLES // max(1, f.channels))

    def blocks() -> Iterator[np.ndarray]:
        with f:
            read = 0
            while True:
                try:
                    block = f.read(frames, dtype="float32", always_2d=True)
                except (sf.LibsndfileError, RuntimeError) as e:
                    raise DecodeError(path, _broken_off(read / f.samplerate, duration, str(e))) from None
                if len(block) == 0:
                    break
                read += len(block)
                yield _downmix(block)
            _check_length(path, read / f.samplerate, duration)

    return info, blocks()


def _broken_off(seconds: float, declared: float | None, detail: str) -> str:
    if seconds == 0:
        return f"truncated or corrupt: no audio decodes ({detail})"
    of = f" of the {declared:.1f} s declared" if declared else ""
    return f"truncated or corrupt: the audio breaks off after {seconds:.1f} s{of} ({detail})"


def _check_length(path: str, seconds: float, declared: float | None) -> None:
    """The one truncation rule by length: decoding ended clearly before the header said it would."""
    if declared and declared - seconds > max(SHORT_SLACK_SECONDS, SHORT_TOLERANCE * declared):
        raise DecodeError(
            path,
            f"truncated or corrupt: the header declares {declared:.1f} s but only {seconds:.1f} s decode",
        )


def _pyav_blocks(path: str, stated: bool = True) -> tuple[AudioInfo, Iterator[np.ndarray]]:
    """FFmpeg's blocks; ``stated``: whether the header states the whole length (``states_length``), else
    FFmpeg's duration is an estimate that no decoded length is held against."""
    try:
        container = av.open(path, metadata_errors="replace")  # tags in any encoding
    except av.error.FFmpegError as e:
        raise DecodeError(path, f"{NOT_AUDIO} ({_av_reason(e)})") from None
    if not container.streams.audio:
        container.close()
        raise DecodeError(path, "no audio stream in the file")
    stream = container.streams.audio[0]
    try:
        rate = stream.rate or stream.codec_context.sample_rate
    except AttributeError:  # PyAV on a stream FFmpeg could not set up, e.g. a WAV with 0 bits per sample
        rate = 0
    if not rate:
        container.close()
        raise DecodeError(path, "no decodable audio stream: the header's format fields are invalid")
    duration = None
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / av.time_base
    info = AudioInfo(duration, rate, stream.codec_context.channels or 0, "pyav")
    try:
        check_format(path, rate, info.channels)
    except DecodeError:
        container.close()
        raise
    # Normalise every sample format to planar float at the first frame's rate; we downmix ourselves. A
    # resampler is set up by the first frame it sees, so a stream that changes its rate or channels
    # midway (MP3s joined end to end) gets a new one at each change.
    resamplers: dict[tuple[int, str], av.AudioResampler] = {}

    def resampled(frame: av.AudioFrame) -> list[av.AudioFrame]:
        key = (frame.sample_rate, frame.layout.name)
        if key not in resamplers:
            resamplers[key] = av.AudioResampler(format="fltp", rate=rate)
        return resamplers[key].resample(frame)

    mpeg = stream.codec_context.name in MPEG_DECODERS
    declared = duration if stated else None

    def blocks() -> Iterator[np.ndarray]:
        read, packets, bad, failure = 0.0, 0, 0, None
        try:
            for packet in container.demux(stream):
                packets += packet.size > 0  # the empty last packet flushes the decoder
                try:
                    frames = packet.decode()
                except av.error.InvalidDataError as e:
                    if not mpeg:  # FFmpeg's other decoders may crash on what follows (AAC did)
                        raise
                    bad, failure = bad + 1, e  # skipped, as players skip it: see below
                    continue
                failure = None if packet.size > 0 else failure
                for frame in frames:
                    for out in resampled(frame):
                        planes = out.to_ndarray()  # (channels, samples)
                        read += planes.shape[1] / rate
                        yield _downmix(planes.T)
            # Audio that resumes after a frame that does not decode had a glitch (MP3s joined end to end:
            # the second one's tag); audio that ends on one, or has many, breaks off or is corrupt.
            if failure is not None:
                raise failure
            if bad > MAX_BAD_FRAMES * packets:
                raise DecodeError(path, f"corrupt: {bad} of {packets} audio frames do not decode")
        except av.error.PatchWelcomeError:
            raise DecodeError(
                path,
                f"unsupported: the stream changes its encoding after {read:.1f} s (parts encoded "
                "differently, chained one after another), which FFmpeg cannot decode across",
            ) from None
        except av.error.FFmpegError as e:
            raise DecodeError(path, _broken_off(read, declared, _av_reason(e))) from None
        finally:
            container.close()
        _check_length(path, read, declared)

    return info, blocks()


def _av_reason(e: Exception) -> str:
    return getattr(e, "strerror", None) or str(e)


def _module_blocks(path: str) -> tuple[AudioInfo, Iterator[np.ndarray]]:
    """A tracker module rendered (``modules.py``); its length is known once it has played, so the limit
    on length is held against what has played so far."""

    def blocks() -> Iterator[np.ndarray]:
        played = 0
        for block in modules.blocks(path, BLOCK_SAMPLES):
            played += len(block)
            check_declared_duration(path, played / modules.RATE)
            yield _downmix(block)

    return AudioInfo(None, modules.RATE, modules.CHANNELS, "openmpt"), blocks()


def _open(path: str) -> tuple[AudioInfo, Iterator[np.ndarray]]:
    _check_readable(path)
    if Path(path).suffix.lower() in modules.MODULE_EXTENSIONS:
        return _module_blocks(path)
    cut = truncation(path)
    if cut:
        raise DecodeError(path, cut)
    stated = states_length(path)
    if Path(path).suffix.lower() in FFMPEG_FIRST or not stated:
        return _pyav_blocks(path, stated)  # libsndfile would stop where the first header or an estimate says
    try:
        return _soundfile_blocks(path)
    except (sf.LibsndfileError, RuntimeError, TypeError):
        try:
            return _pyav_blocks(path)
        except DecodeError as e:  # neither decoder could open it: say so, with FFmpeg's detail
            if e.reason.startswith(NOT_AUDIO):
                raise
            raise DecodeError(path, f"{NOT_AUDIO} ({e.reason})") from None


def probe(path: str | Path) -> AudioInfo:
    """The container's view of the file (duration may be None when the header does not say)."""
    info, blocks = _open(str(path))
    blocks.close()
    return info


def iter_chunks(
    path: str | Path, *, sr: int = SR, chunk_seconds: float = CHUNK_SECONDS
) -> Iterator[np.ndarray]:
    """Yield the file as validated mono float32 chunks at ``sr``.

    Raises ``DecodeError`` for unreadable or corrupt files and ``AudioError`` subclasses for signals
    that are too short, silent, non-finite or absurdly long.
    """
    path = str(path)
    info, blocks = _open(path)
    check_declared_duration(path, info.duration)
    resampler = (
        None if info.samplerate == sr else soxr.ResampleStream(info.samplerate, sr, 1, dtype="float32")
    )
    chunk_len = int(chunk_seconds * sr)
    hold = chunk_len + int(MIN_TAIL_SECONDS * sr)
    meter = LevelMeter()
    pending: list[np.ndarray] = []
    buffered = 0

    def emit(chunk: np.ndarray) -> np.ndarray:
        check_chunk(path, chunk)
        meter.add(chunk)
        return chunk

    for block in _resampled(blocks, resampler, info.samplerate, sr):
        pending.append(block)
        buffered += block.size
        while buffered >= hold:
            joined = np.concatenate(pending)
            yield emit(joined[:chunk_len])
            pending, buffered = [joined[chunk_len:]], joined.size - chunk_len
    if buffered:
        yield emit(np.concatenate(pending))
    meter.check(path, sr)


def _resampled(
    blocks: Iterator[np.ndarray], resampler: soxr.ResampleStream | None, rate: int, sr: int
) -> Iterator[np.ndarray]:
    """Resampled blocks of at most about ``BLOCK_FRAMES`` samples, however much a low rate upsamples."""
    if resampler is None:
        yield from blocks
        return
    piece = max(1, BLOCK_FRAMES * rate // sr)
    for block in blocks:
        for start in range(0, block.size, piece):
            out = resampler.resample_chunk(block[start : start + piece])
            if out.size:
                yield out
    tail = resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
    if tail.size:
        yield tail


def decode_span(path: str | Path, start: float, seconds: float, *, sr: int = SR) -> np.ndarray:
    """``seconds`` of a file from ``start`` (in seconds), mono float32 at ``sr``: a catalogued track's
    passage, to hear a recording against (``fingerprint/hearing.py``), without decoding what comes
    before it. Both decoders seek; an MP3's first ~50 ms then come from a decoder started cold."""
    path = str(path)
    info, blocks = _open(path)
    blocks.close()
    rate = info.samplerate
    if info.backend == "openmpt":
        y = _downmix(modules.span(path, start, seconds))
    elif info.backend == "soundfile":
        with sf.SoundFile(os.fsencode(path)) as f:
            f.seek(min(int(start * rate), f.frames))
            y = _downmix(f.read(int(seconds * rate), dtype="float32", always_2d=True))
    else:
        y = _pyav_span(path, start, seconds, rate)
    return y if rate == sr else soxr.resample(y, rate, sr).astype(np.float32)


def _pyav_span(path: str, start: float, seconds: float, rate: int) -> np.ndarray:
    """FFmpeg's samples from ``start``: it seeks to a packet at or before ``WARM_UP_SECONDS`` earlier
    (a decoder started cold gets its first frames wrong: AAC's and MP3's overlap their neighbours), and
    the first decoded frame's time stamp says how many samples to drop (or, past it, to pad)."""
    try:
        with av.open(path, metadata_errors="replace") as container:
            stream = container.streams.audio[0]
            container.seek(int(max(0.0, start - WARM_UP_SECONDS) / stream.time_base), stream=stream)
            resampler = av.AudioResampler(format="fltp", rate=rate)  # we downmix: FFmpeg's mono is louder
            parts: list[np.ndarray] = []
            first, have = None, 0
            for frame in container.decode(stream):
                if first is None:
                    first = 0.0 if frame.pts is None else float(frame.pts * stream.time_base)
                for out in resampler.resample(frame):
                    parts.append(_downmix(out.to_ndarray().T))
                    have += parts[-1].size
                if first + have / rate >= start + seconds:
                    break
    except av.error.FFmpegError as e:
        raise DecodeError(path, _av_reason(e)) from None
    y = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    skip = round(((start - first) if first is not None else 0.0) * rate)
    y = np.concatenate([np.zeros(-skip, np.float32), y]) if skip < 0 else y[skip:]
    return y[: int(seconds * rate)].astype(np.float32, copy=False)


def decode(path: str | Path, *, sr: int = SR) -> np.ndarray:
    """The whole file as one mono float32 array at ``sr`` (for short clips; scans use ``iter_chunks``)."""
    return np.concatenate(list(iter_chunks(path, sr=sr)))
