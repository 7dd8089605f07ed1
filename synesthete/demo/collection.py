"""The demo collection on disk: which files, in which formats, with which tags.

Files rotate through the formats piece by piece, are written atomically (a partial file never takes a
finished one's name) and carry title/artist/album/genre/tracknumber tags in each format's own tag system.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
from scipy import signal as sps

from synesthete.demo.styles import STYLE_SPECS, render_piece
from synesthete.demo.synth import SR
from synesthete.exceptions import ParameterError

FORMATS: tuple[str, ...] = ("wav", "flac", "ogg", "mp3", "opus", "aiff", "m4a")
"""File extensions, rotated through piece by piece so every style gets every format."""

# extension -> (sample rate, channels). Opus only encodes at 48 kHz (and friends); M4A is written at
# 44.1 kHz so the decoder's resampling path is exercised; the rest stay small at 22.05 kHz.
_FORMAT_LAYOUT: dict[str, tuple[int, int]] = {
    "wav": (22050, 1),
    "flac": (22050, 2),
    "ogg": (22050, 1),
    "mp3": (22050, 1),
    "opus": (48000, 2),
    "aiff": (22050, 1),
    "m4a": (44100, 1),
}
_SNDFILE_FORMATS = ("wav", "flac", "ogg", "aiff")


def slug(name: str) -> str:
    """File-system name of a style: ``"lo-fi hip hop"`` -> ``"lo-fi-hip-hop"``."""
    return name.replace(" ", "-")


def _resample(x: np.ndarray, sr: int) -> np.ndarray:
    if sr == SR:
        return x
    g = np.gcd(sr, SR)
    y = sps.resample_poly(x, sr // g, SR // g, axis=0)
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def _write_audio(path: Path, x: np.ndarray, ext: str, sr: int) -> None:
    """Lossless formats and Vorbis through libsndfile; MP3, Opus and AAC through PyAV (FFmpeg).

    PyAV's encoders are 2-5x faster here than libsndfile's MP3/Opus (which also lacks AAC), and its
    resampler converts ``SR`` to the stream rate, so ``x`` is at ``SR`` for those formats.
    """
    import soundfile as sf

    if ext == "wav":
        sf.write(path, x, sr, format="WAV", subtype="PCM_16")
    elif ext == "aiff":
        sf.write(path, x, sr, format="AIFF", subtype="PCM_16")
    elif ext == "flac":
        sf.write(path, x, sr, format="FLAC", subtype="PCM_16")
    elif ext == "ogg":
        sf.write(path, x, sr, format="OGG", subtype="VORBIS")
    elif ext == "mp3":
        _write_av(path, x, "mp3", "libmp3lame", sr, 64_000, {"compression_level": "7"})
    elif ext == "opus":
        _write_av(path, x, "ogg", "libopus", sr, 96_000, {"compression_level": "5"})
    elif ext == "m4a":
        _write_av(path, x, "ipod", "aac", sr, 96_000, {"aac_coder": "fast"})
    else:  # pragma: no cover
        raise ParameterError(f"unknown format {ext!r}")


def _write_av(
    path: Path, x: np.ndarray, container_format: str, codec: str, rate: int, bit_rate: int, options: dict
) -> None:
    """Encode ``x`` (at ``SR``) with an FFmpeg codec at stream rate ``rate``."""
    import av

    layout = "stereo" if x.ndim == 2 else "mono"
    planar = np.ascontiguousarray(x.T if x.ndim == 2 else x[None, :], dtype=np.float32)
    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate, layout=layout, options=options)
        stream.bit_rate = bit_rate
        hop = SR // 2
        for i in range(0, planar.shape[1], hop):
            frame = av.AudioFrame.from_ndarray(planar[:, i : i + hop], format="fltp", layout=layout)
            frame.sample_rate = SR
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def _tag(path: Path, ext: str, tags: dict[str, str]) -> None:
    """Write title/artist/album/genre/tracknumber in each format's native tag system."""
    import mutagen

    if ext in ("wav", "aiff"):
        from mutagen.aiff import AIFF
        from mutagen.id3 import TALB, TCON, TIT2, TPE1, TRCK
        from mutagen.wave import WAVE

        f = WAVE(path) if ext == "wav" else AIFF(path)
        if f.tags is None:
            f.add_tags()
        for frame, key in (
            (TIT2, "title"),
            (TPE1, "artist"),
            (TALB, "album"),
            (TCON, "genre"),
            (TRCK, "tracknumber"),
        ):
            f.tags.add(frame(encoding=3, text=[tags[key]]))
        f.save()
        return
    f = mutagen.File(path, easy=True)
    if f is None:  # pragma: no cover
        raise RuntimeError(f"mutagen cannot open {path}")
    if f.tags is None:
        f.add_tags()
    for key, value in tags.items():
        f[key] = [value]
    f.save()


def _write_piece(path: Path, style_index: int, index: int, seed: int, ext: str, total: int) -> None:
    st = STYLE_SPECS[style_index]
    sr, channels = _FORMAT_LAYOUT[ext]
    audio = render_piece(st.name, index, seed=seed, stereo=channels == 2)
    if ext in _SNDFILE_FORMATS:
        audio = _resample(audio, sr)
    tmp = path.with_name(f".{path.stem}.partial.{ext}")
    try:
        _write_audio(tmp, audio, ext, sr)
        _tag(
            tmp,
            ext,
            {
                "title": f"{st.name.title()} {index + 1:02d}",
                "artist": st.artists[index % 2],
                "album": st.albums[index % 2],
                "genre": st.name,
                "tracknumber": f"{index + 1}/{total}",
            },
        )
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def demo_paths(out_dir: Path, *, per_style: int = 15) -> list[Path]:
    """The paths ``generate_demo`` writes, in order, without rendering anything."""
    out: list[Path] = []
    for si, st in enumerate(STYLE_SPECS):
        for i in range(per_style):
            ext = FORMATS[(si + i) % len(FORMATS)]
            out.append(Path(out_dir) / slug(st.name) / f"{slug(st.name)}_{i + 1:02d}.{ext}")
    return out


def generate_demo(out_dir: Path, *, per_style: int = 15, seed: int = 0, progress: bool = False) -> list[Path]:
    """Write ``per_style`` pieces of every style under ``out_dir/<style>/`` and return their paths.

    Existing files of the same name are overwritten (atomically, piece by piece); nothing else in
    ``out_dir`` is touched. ``progress`` prints one line per piece to stderr.
    """
    if per_style < 1:
        raise ParameterError(f"per_style must be >= 1, got {per_style}")
    paths = demo_paths(out_dir, per_style=per_style)
    for k, path in enumerate(paths):
        si, i = divmod(k, per_style)
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_piece(path, si, i, seed, path.suffix[1:], per_style)
        if progress:
            print(f"[{k + 1}/{len(paths)}] {path}", file=sys.stderr, flush=True)
    return paths


DEMO_FOLDER = "demo-audio"


def ensure_demo_audio(folder: Path, *, per_style: int, seed: int = 0) -> Path:
    """Generate the collection once; a marker records what was generated, so a rerun reuses it."""
    marker = folder / ".complete.json"
    want = {"per_style": per_style, "seed": seed}
    if marker.exists() and json.loads(marker.read_text()) == want:
        return folder
    print(f"generating the demo collection in {folder} ...", file=sys.stderr)
    generate_demo(folder, per_style=per_style, seed=seed, progress=True)
    marker.write_text(json.dumps(want))
    return folder
