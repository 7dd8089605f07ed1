"""Tracker modules (.mod, .xm, .it, .s3m...): scores with their own samples, rendered to audio to be heard.

Much free game music is written this way. PyAV's FFmpeg has no module player, but the FFmpeg program that
the ``imageio-ffmpeg`` wheel carries is built with libopenmpt, the player OpenMPT and most others share,
so a module is rendered by that program, once through (libopenmpt stops where the song would loop), as
raw float samples on a pipe: a stream like any decoder's, in blocks of bounded size.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator

import numpy as np

from synesthete.exceptions import DecodeError

# What libopenmpt reads and players name so (its own list is longer: rarer formats keep to these names).
MODULE_EXTENSIONS = frozenset(
    {".mod", ".xm", ".it", ".s3m", ".mptm", ".669", ".med", ".mtm", ".stm", ".okt", ".far", ".ult",
     ".ptm", ".dbm", ".amf", ".mdl", ".psm", ".umx", ".mo3"}
)  # fmt: skip
RATE = 44100
CHANNELS = 2


def _program(path: str) -> str:
    import imageio_ffmpeg  # only when a module is met

    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as e:  # a platform the wheel has no program for, and none installed
        raise DecodeError(path, f"a tracker module, and no FFmpeg program here renders one ({e})") from None


def _command(path: str, start: float | None = None, seconds: float | None = None) -> list[str]:
    """Render ``path`` whole, or ``seconds`` from ``start``: the song is played from its beginning and
    the part cut from the output, because a note struck earlier may still sound there (libopenmpt's own
    seek starts at a row, with silence before it)."""
    span = [] if start is None else ["-ss", f"{start:.6f}", "-t", f"{seconds:.6f}"]
    return [
        _program(path), "-nostdin", "-hide_banner", "-loglevel", "error",
        "-f", "libopenmpt", "-sample_rate", str(RATE), "-i", path,
        *span, "-f", "f32le", "-ac", str(CHANNELS), "-",
    ]  # fmt: skip


def _failure(path: str, log: bytes, rendered: float) -> DecodeError:
    lines = [line for line in log.decode("utf-8", "replace").splitlines() if line.strip()]
    detail = lines[-1].strip() if lines else "the renderer stopped"
    if rendered == 0:
        return DecodeError(path, f"not a tracker module, or a corrupt one ({detail})")
    return DecodeError(path, f"corrupt: the module breaks off after {rendered:.1f} s ({detail})")


def blocks(path: str, block_samples: int) -> Iterator[np.ndarray]:
    """The rendered module as (frames, 2) float32 blocks of about ``block_samples`` samples. The renderer
    starts with the first block and is stopped when the caller stops early."""
    frame_bytes = 4 * CHANNELS
    size = max(1, block_samples // CHANNELS) * frame_bytes
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(_command(path), stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
        assert proc.stdout is not None
        rendered, rest = 0, b""
        try:
            while data := proc.stdout.read(size):
                data, rest = rest + data, b""
                whole = len(data) - len(data) % frame_bytes
                data, rest = data[:whole], data[whole:]
                rendered += whole // frame_bytes
                yield np.frombuffer(data, np.float32).reshape(-1, CHANNELS)
        finally:
            proc.stdout.close()
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        if proc.returncode != 0 or rendered == 0:
            log.seek(0)
            raise _failure(path, log.read(), rendered / RATE)


def span(path: str, start: float, seconds: float) -> np.ndarray:
    """``seconds`` of the rendered module from ``start``, as (frames, 2) float32."""
    done = subprocess.run(_command(path, start, seconds), capture_output=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise _failure(path, done.stderr, 0.0)
    data = done.stdout[: len(done.stdout) - len(done.stdout) % (4 * CHANNELS)]
    return np.frombuffer(data, np.float32).reshape(-1, CHANNELS)
