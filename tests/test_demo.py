"""The demo collection is ground truth for retrieval tests, so its shape, tags and determinism are pinned."""

from __future__ import annotations

from pathlib import Path

import av
import mutagen
import numpy as np
import pytest
import soundfile as sf

from synesthete.demo import FORMATS, STYLES, generate_demo, render_piece, slug

PER_STYLE = 2
LOSSLESS = (".wav", ".flac", ".aiff")


def _decode(path: Path) -> tuple[np.ndarray, int]:
    """Samples as (n, channels) float32 and the rate: soundfile if it can, PyAV (m4a) otherwise."""
    try:
        x, sr = sf.read(path, dtype="float32", always_2d=True)
        return x, sr
    except sf.LibsndfileError:
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            frames = [f.to_ndarray() for f in container.decode(stream)]
            sr = stream.rate
        x = np.concatenate(frames, axis=1) if frames[0].ndim == 2 else np.concatenate(frames)
        return np.atleast_2d(x).T.astype(np.float32), sr


def _tags(path: Path) -> dict[str, str]:
    """title/artist/album/genre: easy tags, or the ID3 chunk's frames for WAV and AIFF."""
    f = mutagen.File(path, easy=True)
    assert f is not None and f.tags is not None, path
    if path.suffix in (".wav", ".aiff"):
        frames = {"title": "TIT2", "artist": "TPE1", "album": "TALB", "genre": "TCON"}
        return {k: str(f.tags[v].text[0]) for k, v in frames.items()}
    return {k: f[k][0] for k in ("title", "artist", "album", "genre")}


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    out = tmp_path_factory.mktemp("demo")
    return out, generate_demo(out, per_style=PER_STYLE, seed=0)


def test_count_names_and_formats(demo_dir: tuple[Path, list[Path]]) -> None:
    out, paths = demo_dir
    assert len(STYLES) >= 8
    assert len(paths) == len(STYLES) * PER_STYLE
    assert all(p.is_file() for p in paths)
    assert sorted(out.rglob("*.*")) == sorted(paths)  # no leftover partial files
    for p in paths:
        assert p.parent.name in {slug(s) for s in STYLES}
        assert p.stem.startswith(p.parent.name + "_")
    # 8 styles x 2 pieces rotate through all 7 formats
    assert {p.suffix[1:] for p in paths} == set(FORMATS)


def test_every_file_decodes_to_20_to_40_seconds(demo_dir: tuple[Path, list[Path]]) -> None:
    for p in demo_dir[1]:
        x, sr = _decode(p)
        assert sr in (22050, 44100, 48000), p
        assert 20.0 <= len(x) / sr <= 40.5, p  # lossy encoders may pad a few ms
        assert np.all(np.isfinite(x)), p
        peak = np.abs(x).max()
        # normalised to -1..-4 dBFS; lossy decoders may overshoot that a little (AAC: ~+1 dB)
        assert 0.5 < peak <= (0.95 if p.suffix in LOSSLESS else 1.05), p


def test_tags_read_back_with_genre_equal_to_style(demo_dir: tuple[Path, list[Path]]) -> None:
    by_slug = {slug(s): s for s in STYLES}
    for p in demo_dir[1]:
        tags = _tags(p)
        style = by_slug[p.parent.name]
        assert tags["genre"] == style, p
        assert tags["title"].lower().startswith(style), p
        assert tags["artist"] and tags["album"], p


def test_same_seed_same_audio(demo_dir: tuple[Path, list[Path]], tmp_path: Path) -> None:
    """A second run gives the same names and, for lossless files, the same samples.

    Pieces do not depend on ``per_style``, so one piece per style is enough to compare.
    """
    out, paths = demo_dir
    again = generate_demo(tmp_path, per_style=1, seed=0)
    first = [p for p in paths if p.stem.endswith("_01")]
    assert [p.relative_to(tmp_path) for p in again] == [p.relative_to(out) for p in first]
    lossless = [p for p in again if p.suffix in LOSSLESS]
    assert len(lossless) >= 2
    for p in lossless:
        np.testing.assert_array_equal(_decode(p)[0], _decode(out / p.relative_to(tmp_path))[0])


@pytest.mark.parametrize("style", ["chiptune", "rock"])  # the two quickest to render
def test_different_seeds_differ(style: str) -> None:
    a = render_piece(style, 0, seed=0)
    b = render_piece(style, 0, seed=1)
    assert a.shape != b.shape or not np.allclose(a, b)
    np.testing.assert_array_equal(a, render_piece(style, 0, seed=0))


def test_rejects_empty_request(tmp_path: Path) -> None:
    from synesthete.exceptions import ParameterError

    with pytest.raises(ParameterError):
        generate_demo(tmp_path, per_style=0)
