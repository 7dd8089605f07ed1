"""A corpus of hostile and odd files, generated (no audio is committed): ``make_corpus(folder)``.

Every kind the issue tracker has seen break a music scanner, and the odd-but-fine files a real
collection holds. ``make_corpus`` returns, per file name, what a scan must do with it: ``OK`` (analysed)
or a few words its failure reason must contain (``ANY`` when any clear reason will do).

    .venv/bin/python -m tests.hostile /tmp/hostile     # write the corpus to a folder, to try by hand
"""

from __future__ import annotations

import os
import struct
import sys
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import soundfile as sf

from tests.data.make_fixtures import clip, write_m4a

OK = "analysed"
ANY = ""  # any reason, as long as the file is recorded with one
SR = 22050
FORMATS = {  # extension -> soundfile (format, subtype), or None for PyAV (m4a)
    "wav": ("WAV", "PCM_16"),
    "flac": ("FLAC", "PCM_16"),
    "ogg": ("OGG", "VORBIS"),
    "opus": ("OGG", "OPUS"),
    "mp3": ("MP3", None),
    "aiff": ("AIFF", "PCM_16"),
    "m4a": None,
}


def write(
    path: Path, y: np.ndarray, sr: int = SR, subtype: str | None = None, fmt: str | None = None
) -> Path:
    sf.write(os.fsencode(path), y, sr, subtype=subtype, format=fmt or path.suffix[1:].upper())
    return path


def encode(path: Path, y: np.ndarray, sr: int = SR) -> Path:
    """``y`` in the format of ``path``'s extension."""
    spec = FORMATS[path.suffix[1:]]
    if spec is None:
        write_m4a(path, y if y.ndim == 2 else np.stack([y, y], axis=1), sr)
    else:
        sr = 48000 if path.suffix == ".opus" else sr
        y = _resample(y, sr) if sr != SR else y
        sf.write(path, y, sr, format=spec[0], subtype=spec[1])
    return path


def _resample(y: np.ndarray, sr: int) -> np.ndarray:
    t = np.arange(int(len(y) * sr / SR)) * SR / sr
    return np.interp(t, np.arange(len(y)), y if y.ndim == 1 else y[:, 0]).astype(np.float32)


def wav_header(*, rate: int, channels: int, bits: int, data_bytes: int, fmt_tag: int = 1) -> bytes:
    """A RIFF/WAVE header whose fields say whatever the caller wants them to say."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, (rate * block) & 0xFFFFFFFF, block & 0xFFFF, bits)
    return (
        b"RIFF"
        + struct.pack("<I", 4 + 8 + len(fmt) + 8 + data_bytes)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", data_bytes)
    )


def id3(size: int, declared: int | None = None) -> bytes:
    """An ID3v2.3 tag of ``size`` bytes of padding (or claiming ``declared``)."""
    n = declared if declared is not None else size
    syncsafe = bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])
    return b"ID3\x03\x00\x00" + syncsafe + b"\x00" * size


def video_only_mp4(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(20):
            img = np.full((48, 64, 3), i * 10, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def make_corpus(folder: Path) -> dict[str, str]:
    """Write every hostile kind into ``folder``; return {file name: OK or words of its reason}."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(18)
    music = clip(seconds=4.0)  # stereo float32 at SR
    mono = music[:, 0].copy()
    expect: dict[str, str] = {}

    def add(name: str, expectation: str, make: Callable[[Path], object]) -> None:
        make(folder / name)
        expect[name] = expectation

    def raw(data: bytes) -> Callable[[Path], object]:
        return lambda p: p.write_bytes(data)

    # Empty, random and text under every audio extension.
    add("zero.mp3", "empty file", raw(b""))
    for ext in FORMATS:
        add(f"random.{ext}", "not an audio file", raw(rng.bytes(20_000)))
    add("text.flac", "not an audio file", raw(b"a text file with an audio file's name\n" * 50))
    # Truncations: one rule for every format.
    for ext in FORMATS:
        whole = encode(folder / f"_whole.{ext}", music).read_bytes()
        os.remove(folder / f"_whole.{ext}")
        for share in (1, 50, 99):
            add(f"cut{share:02d}.{ext}", "truncated", raw(whole[: len(whole) * share // 100]))
    # Headers claiming absurd things.
    pcm = (mono * 20000).astype("<i2").tobytes()
    add("rate1hz.wav", "sample rate", raw(wav_header(rate=1, channels=1, bits=16, data_bytes=60) + pcm[:60]))
    low = (0.3 * np.sin(np.arange(34 * 1800) * 0.5) * 20000).astype("<i2").tobytes()
    add(
        "rate34hz.wav",
        "sample rate",
        raw(wav_header(rate=34, channels=1, bits=16, data_bytes=len(low)) + low),
    )
    add(
        "rate4ghz.wav",
        ANY,
        raw(wav_header(rate=4_000_000_000, channels=1, bits=16, data_bytes=len(pcm)) + pcm),
    )
    add(
        "channels65535.wav", ANY, raw(wav_header(rate=SR, channels=65535, bits=16, data_bytes=len(pcm)) + pcm)
    )
    add(
        "length4gb.wav",
        "truncated",
        raw(wav_header(rate=SR, channels=1, bits=16, data_bytes=2**32 - 100) + pcm),
    )
    add(
        "bits0.wav",
        "no decodable audio stream",
        raw(wav_header(rate=SR, channels=1, bits=0, data_bytes=len(pcm)) + pcm),
    )
    # Samples no signal has.
    nan = mono.copy()
    nan[5000:5100] = np.nan
    add("nan.wav", "non-finite", lambda p: write(p, nan, subtype="FLOAT"))
    inf = mono.copy()
    inf[7000] = np.inf
    add("inf.wav", "non-finite", lambda p: write(p, inf, subtype="FLOAT"))
    add("huge.wav", "out of range", lambda p: write(p, mono * 1e30, subtype="FLOAT"))
    add("hot.wav", OK, lambda p: write(p, mono * 4, subtype="FLOAT"))  # over full scale, still music
    add("short.wav", "too short", lambda p: write(p, mono[: SR // 2]))
    add("silence.wav", "silent", lambda p: write(p, np.zeros(3 * SR, np.float32)))
    # Odd but fine.
    add("dc.wav", OK, lambda p: write(p, np.full(mono.size, 0.5, np.float32) + 0.01 * mono))
    add("clipped.wav", OK, lambda p: write(p, np.clip(mono * 8, -1, 1)))
    add("rate8k.wav", OK, lambda p: write(p, _resample(mono, 8000), 8000))
    add("rate384k.wav", OK, lambda p: write(p, _resample(mono, 384000), 384000, subtype="PCM_24"))
    add("channels8.wav", OK, lambda p: write(p, np.tile(mono[:, None], (1, 8)) / 2))
    add("bits8.wav", OK, lambda p: write(p, mono, subtype="PCM_U8"))
    add("bits24.wav", OK, lambda p: write(p, mono, subtype="PCM_24"))
    add("bits32.wav", OK, lambda p: write(p, mono, subtype="PCM_32"))
    mp3 = encode(folder / "_tagless.mp3", music).read_bytes()
    os.remove(folder / "_tagless.mp3")
    garbled = bytearray(mp3)
    for i in range(2000, len(garbled) - 500, 1500):  # libmpg123 complains on stderr, then resyncs
        garbled[i : i + 40] = rng.bytes(40)
    add("garbled.mp3", "corrupt", raw(bytes(garbled)))
    add("id3-10mb.mp3", OK, raw(id3(10 * 2**20) + mp3))
    add("id3-claims-256mb.mp3", "truncated", raw(id3(64, declared=256 * 2**20 - 11) + mp3))
    add("video-only.mp4", "no audio stream", video_only_mp4)
    # Names.
    add(os.fsdecode(b"caf\xe9-latin1.flac"), OK, lambda p: write(p, music))
    add("new\nline.flac", OK, lambda p: write(p, music))
    add('it\'s "quoted".flac', OK, lambda p: write(p, music))
    add("-leading-dash.flac", OK, lambda p: write(p, music))
    # Not files.
    add("fifo.wav", "named pipe", lambda p: os.mkfifo(p))
    add("folder.mp3", "folder named like an audio file", lambda p: p.mkdir())
    add("dangling.mp3", "dangling symbolic link", lambda p: p.symlink_to(folder / "nowhere.mp3"))
    add("loop", "symbolic link loop", lambda p: p.symlink_to(folder, target_is_directory=True))
    add("self.flac", "symbolic links", lambda p: p.symlink_to(p))
    add("unreadable.flac", "permission denied", lambda p: (write(p, music), p.chmod(0)))
    # Rewritten while the scan runs (see ``Rewriter``): any outcome, as long as it is recorded.
    add("rewritten.wav", ANY, lambda p: write(p, mono))
    return expect


class Rewriter:
    """Rewrites a file over and over (truncate, then write) until stopped: a file changing under a scan."""

    def __init__(self, path: Path) -> None:
        import threading

        self.path, self.stop = path, threading.Event()
        self.data = path.read_bytes()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            with open(self.path, "wb") as fh:
                fh.write(self.data[: len(self.data) // 3])
                fh.flush()
                fh.write(self.data[len(self.data) // 3 :])
            self.stop.wait(0.01)

    def __enter__(self) -> Rewriter:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


if __name__ == "__main__":
    for name, expectation in sorted(make_corpus(Path(sys.argv[1])).items()):
        print(f"{name!r}: {expectation or '(any reason)'}")
