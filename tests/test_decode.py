"""Decoding every format to mono 22,050 Hz, in bounded chunks, and refusing what is not usable audio."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from synesthete.audio import SR, decode, decode_span, iter_chunks, probe
from synesthete.audio.container import states_length
from synesthete.audio.validate import MAX_PEAK, check_chunk
from synesthete.exceptions import AudioError, DecodeError, TooShortError

from .conftest import DATA, GOOD
from .tracker import CYCLE, ROW_SECONDS, melody, pitch, write_mod


@pytest.mark.parametrize("name", GOOD)
def test_every_format_decodes_to_mono_22050(name: str) -> None:
    y = decode(DATA / name)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) / SR - 3.0) < 0.1  # codec padding is trimmed to within 100 ms
    assert np.isfinite(y).all() and 0.05 < np.abs(y).max() <= 1.05


def test_formats_agree_on_the_signal() -> None:
    """Lossless formats give the same samples; lossy ones the same spectrum envelope."""
    ref = decode(DATA / "clip.flac")
    np.testing.assert_allclose(
        decode(DATA / "clip.wav")[: len(ref)], decode(DATA / "clip.aiff")[: len(ref)], atol=1e-4
    )
    ref_spec = np.abs(np.fft.rfft(ref[: SR * 2]))
    for name in ("clip.ogg", "clip.mp3", "clip.m4a", "clip.opus"):
        spec = np.abs(np.fft.rfft(decode(DATA / name)[: SR * 2]))
        bands = lambda s: np.log1p(np.add.reduceat(s, np.arange(0, 8000, 500)))  # noqa: E731
        assert np.corrcoef(bands(ref_spec), bands(spec))[0, 1] > 0.95, name


def test_chunks_are_bounded_and_lose_nothing(tmp_path) -> None:
    """A long file arrives in chunks of at most chunk + tail seconds that add up to the whole."""
    rng = np.random.default_rng(0)
    y = (0.1 * rng.standard_normal(44100 * 95)).astype(np.float32)
    path = tmp_path / "long.flac"
    sf.write(path, y, 44100)
    chunks = list(iter_chunks(path, chunk_seconds=20.0))
    lengths = [len(c) / SR for c in chunks]
    assert all(n <= 20.0 + 30.0 + 0.01 for n in lengths)
    assert len(chunks) >= 3
    assert abs(sum(lengths) - 95.0) < 0.01
    np.testing.assert_allclose(np.concatenate(chunks), decode(path), atol=1e-6)


def _encoded(path: Path, y: np.ndarray, codec: str, rate: int = 44100) -> Path:
    """Mono ``y`` at ``rate`` encoded by FFmpeg's ``codec`` into ``path`` (its extension names the container)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        if codec == "tta":
            stream.format = "s16"  # else its first format, 8 bits
        frame = av.AudioFrame.from_ndarray(
            (y * 32767).astype(np.int16)[None, :] if codec == "tta" else y[None, :],
            format="s16" if codec == "tta" else "fltp",
            layout="mono",
        )
        frame.sample_rate = rate
        for packet in (*stream.encode(frame), *stream.encode(None)):
            out.mux(packet)
    return path


def test_wave64_caf_au_tta_and_mp2_decode(tmp_path: Path) -> None:
    """Containers libsndfile reads (Wave64 for files over 4 GB, Apple's CAF, Sun's AU) and codecs FFmpeg
    does (True Audio, lossless; MPEG layer II, broadcast archives): the same samples, or for the lossy one
    the same spectrum."""
    t = np.arange(4 * 44100) / 44100
    y = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 1250 * t)).astype(np.float32)
    sf.write(tmp_path / "ref.flac", y, 44100, subtype="PCM_24")
    ref = decode(tmp_path / "ref.flac")
    for fmt in ("w64", "caf", "au"):
        path = tmp_path / f"clip.{fmt}"
        sf.write(path, y, 44100, subtype="FLOAT" if fmt != "au" else "PCM_24")
        np.testing.assert_allclose(decode(path), ref, atol=1e-4, err_msg=fmt)
    np.testing.assert_allclose(decode(_encoded(tmp_path / "clip.tta", y, "tta")), ref, atol=1e-4)
    layer2 = decode(_encoded(tmp_path / "clip.mp2", y, "mp2"))
    assert abs(len(layer2) - len(ref)) < 0.1 * SR
    spectrum = lambda x: np.abs(np.fft.rfft(x[SR // 2 : SR * 3]))  # noqa: E731
    assert np.corrcoef(spectrum(layer2), spectrum(ref))[0, 1] > 0.99


@pytest.mark.parametrize("name", GOOD)
def test_a_span_decodes_as_that_part_of_the_whole(name: str) -> None:
    """``decode_span`` seeks in either decoder: inside its edges (a decoder started cold after a seek, a
    resampler's ends), the samples of ``decode``. AAC's noise substitution draws its noise from a state
    a seek resets, so there the waveform agrees at 0.99, the sound the same. Cut at the file's end."""
    whole = decode(DATA / name)
    inside = slice(SR // 10, -SR // 10)
    for start in (0.6, 1.2, 1.7):
        span = decode_span(DATA / name, start, 1.0)
        part = whole[int(start * SR) : int(start * SR) + SR]
        assert span.size == SR
        if name == "clip.m4a":
            assert np.corrcoef(span[inside], part[inside])[0, 1] > 0.99
        else:
            np.testing.assert_allclose(span[inside], part[inside], atol=1e-4)
    assert abs(decode_span(DATA / name, 2.5, 5.0).size - (whole.size - int(2.5 * SR))) <= 1


def test_tracker_modules_render_at_their_pitch_length_and_place(tmp_path: Path) -> None:
    """A module is played, not read: one note held for a pattern sounds at the pitch its period and
    sample give, for the pattern's 64 rows; a span is that part of the whole song."""
    held = write_mod(tmp_path / "held.mod", [[428]] + [[None]] * 63)
    y = decode(held)
    assert abs(y.size / SR - 64 * ROW_SECONDS) < 0.25
    part = y[SR // 10 : SR]
    spectrum = np.abs(np.fft.rfft(part * np.hanning(part.size)))
    peak = np.fft.rfftfreq(part.size, 1 / SR)[spectrum.argmax()]
    assert abs(peak - pitch(428)) < 2.0, (peak, pitch(428), CYCLE)
    tune = write_mod(tmp_path / "tune.xm.mod", melody(3, 128))
    whole = decode(tune)
    span = decode_span(tune, 6.0, 2.0)
    inside = slice(SR // 10, -SR // 10)  # the resamplers' ends differ
    assert span.size == 2 * SR
    np.testing.assert_allclose(span[inside], whole[6 * SR : 8 * SR][inside], atol=1e-4)


def test_a_file_named_like_a_module_that_is_none_is_refused_naming_it(tmp_path: Path) -> None:
    fake = tmp_path / "tune.xm"
    fake.write_bytes(b"Extended Module: tune" + bytes(300))
    with pytest.raises(DecodeError) as caught:
        decode(fake)
    assert caught.value.path == str(fake)
    assert "not a tracker module, or a corrupt one" in caught.value.reason


def test_probe_reads_the_header() -> None:
    info = probe(DATA / "clip.flac")
    assert info.samplerate == 22050 and info.channels == 2 and abs(info.duration - 3.0) < 0.01


def _mp3(
    path: Path, y: np.ndarray, *, rate: int = 44100, xing: bool = True, vbr: bool = False, comment: str = ""
) -> Path:
    """``y`` (mono at ``rate``) as an MP3 written by FFmpeg's libmp3lame: constant 64 kbit/s or variable
    rate, with or without the Xing header that states the length, and an ID3 comment."""
    with av.open(str(path), "w", format="mp3", options={"write_xing": "1" if xing else "0"}) as out:
        if comment:
            out.metadata["comment"] = comment
        stream = out.add_stream("libmp3lame", rate=rate, layout="mono")
        if vbr:
            stream.codec_context.flags |= av.codec.context.Flags.qscale
            stream.codec_context.global_quality = 2 * 118  # LAME's -V 2, in FFmpeg's lambda units
        else:
            stream.bit_rate = 64000
        frame = av.AudioFrame.from_ndarray(y[None, :], format="flt", layout="mono")
        frame.sample_rate = rate
        for packet in (*stream.encode(frame), *stream.encode(None)):
            out.mux(packet)
    return path


def _tone_then_noise(seconds: float, tone: float) -> np.ndarray:
    t = np.arange(int(44100 * tone)) / 44100
    noise = np.random.default_rng(0).standard_normal(int(44100 * (seconds - tone)))
    return np.concatenate([0.3 * np.sin(2 * np.pi * 440 * t), 0.2 * noise]).astype(np.float32)


def test_mp3s_whose_header_does_not_state_their_length_decode_whole(tmp_path: Path) -> None:
    """Without a Xing header, decoders estimate an MP3's length from its size and first frame. After a
    6-KB ID3 comment (cover art is larger) the estimate is 0.8 s too long, and the whole file was
    refused as truncated; at a variable rate that starts low (a quiet intro) it is 12 s short, and
    libsndfile stopped there: a 15-s file was catalogued as 3 s. Both now decode whole."""
    y = _tone_then_noise(15.0, 6.0)
    tagged = _mp3(tmp_path / "tagged.mp3", y, xing=False, comment="x" * 6000)
    variable = _mp3(tmp_path / "variable.mp3", y, xing=False, vbr=True)
    assert sf.info(tagged).duration > 15.5 and sf.info(variable).duration < 5  # the estimates
    assert not states_length(str(tagged)) and states_length(str(DATA / "clip.mp3"))
    for path in (tagged, variable):
        assert abs(len(decode(path)) / SR - 15.0) < 0.1, path.name


def test_mp3s_joined_end_to_end_decode_whole(tmp_path: Path) -> None:
    """``cat a.mp3 b.mp3 c.mp3``: the Xing header of the first states the first's length, the others' ID3
    tags sit mid-stream, and the last is at half the rate. libsndfile stopped after the first (8 s of 28
    were catalogued); FFmpeg skips the frames the tags spoil, as players do, and reads on, each part at
    its own rate."""
    first = _mp3(tmp_path / "a.mp3", _tone_then_noise(8.0, 4.0), comment="first")
    second = _mp3(tmp_path / "b.mp3", _tone_then_noise(15.0, 5.0), comment="second")
    third = _mp3(tmp_path / "c.mp3", _tone_then_noise(5.0, 2.5)[::2].copy(), rate=22050, comment="third")
    joined = tmp_path / "joined.mp3"
    joined.write_bytes(first.read_bytes() + second.read_bytes() + third.read_bytes())
    assert sf.info(joined).duration < 8.5
    assert abs(len(decode(joined)) / SR - 28.0) < 0.3


def test_chained_ogg_files_decode_whole_or_are_refused(tmp_path: Path) -> None:
    """Ogg streams one after another (a radio recording, ``cat a.ogg b.ogg``): libsndfile read the first
    and stopped, so 10 s were catalogued as 6. Parts encoded alike now decode whole; parts at another
    rate, which FFmpeg cannot decode across, are refused with that reason rather than catalogued short."""
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(44100 * 6) / 44100)).astype(np.float32)
    parts = {}
    for name, y, rate in (("a", tone, 44100), ("b", tone[: 44100 * 4], 44100), ("c", tone[::2], 22050)):
        sf.write(tmp_path / f"{name}.ogg", y, rate, format="OGG", subtype="VORBIS")
        parts[name] = (tmp_path / f"{name}.ogg").read_bytes()
    alike, unlike = tmp_path / "alike.ogg", tmp_path / "unlike.ogg"
    alike.write_bytes(parts["a"] + parts["b"])
    unlike.write_bytes(parts["a"] + parts["c"])
    assert sf.info(alike).duration == 6.0
    assert abs(len(decode(alike)) / SR - 10.0) < 0.05
    with pytest.raises(DecodeError, match=r"changes its encoding after 6\.0 s"):
        decode(unlike)


@pytest.mark.parametrize("fmt", ["wav", "flac"])
def test_a_file_whose_header_left_its_length_unknown_decodes_whole(tmp_path: Path, fmt: str) -> None:
    """A WAV recorder that stops before rewriting its header leaves RIFF and data sizes of 0 before the
    samples, and a FLAC encoder writing to a pipe a sample count of 0 (the format's "unknown").
    libsndfile read no sample of the WAV and refused the FLAC as billions of hours long; FFmpeg reads
    both to the end."""
    path = tmp_path / f"unknown.{fmt}"
    sf.write(path, np.sin(2 * np.pi * 440 * np.arange(44100 * 5) / 44100) * 0.3, 44100, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    if fmt == "wav":
        at = data.find(b"data")
        data[4:8] = data[at + 4 : at + 8] = bytes(4)
    else:
        data[21] &= 0xF0  # STREAMINFO's 36-bit sample count: the low nibble of byte 21 and 4 bytes
        data[22:26] = bytes(4)
    path.write_bytes(bytes(data))
    assert sf.info(path).duration == 0 or sf.info(path).duration > 1e9  # what libsndfile made of it
    assert abs(len(decode(path)) / SR - 5.0) < 0.01


@pytest.mark.parametrize(
    ("name", "error", "words"),
    [
        ("empty.mp3", DecodeError, "empty file"),
        ("random.mp3", DecodeError, "not an audio file"),
        ("text.flac", DecodeError, "not an audio file"),
        ("truncated.mp3", DecodeError, "truncated"),
        ("truncated.flac", DecodeError, "truncated"),
        ("short.wav", TooShortError, "too short: 0.20 s"),
        ("silence.wav", AudioError, "silent"),
        ("nan.wav", AudioError, "non-finite"),
    ],
)
def test_bad_files_raise_typed_errors_naming_file_and_reason(name: str, error: type, words: str) -> None:
    with pytest.raises(error) as info:
        decode(DATA / name)
    assert info.value.path == str(DATA / name)
    assert words in str(info.value)
    assert str(DATA / name) in str(info.value)


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (np.nan, "non-finite"),
        (np.inf, "non-finite"),
        (-np.inf, "non-finite"),
        (1.5 * MAX_PEAK, "the peak is 150"),
        (-1.5 * MAX_PEAK, "the peak is 150"),
    ],
)
def test_a_chunk_with_one_bad_sample_anywhere_is_refused(bad: float, words: str) -> None:
    for at in (0, 1234, -1):
        chunk = np.full(5000, -0.5, dtype=np.float32)
        chunk[at] = bad
        with pytest.raises(AudioError, match=words):
            check_chunk("x.wav", chunk)


def test_a_chunk_in_range_passes_whatever_its_sign() -> None:
    for chunk in (
        np.full(10, -MAX_PEAK, np.float32),
        np.full(10, MAX_PEAK, np.float32),
        np.zeros(0, np.float32),
    ):
        check_chunk("x.wav", chunk)


def test_missing_file(tmp_path) -> None:
    with pytest.raises(DecodeError, match="file not found"):
        decode(tmp_path / "nothing.mp3")
