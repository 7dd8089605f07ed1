"""The handcrafted descriptors on generated signals whose answers are known: tempo, key, level, brightness,
and the merge of a track's chunks against the whole signal."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

from synesthete.features import Descriptors, RunningStats, Spectra, extract, loudness, rhythm, timbre, tonal
from synesthete.features.base import SR

from .test_pinned_descriptors import signal as music


def click_track(bpm: float, seconds: float = 20.0) -> np.ndarray:
    """5-ms decaying 1 kHz clicks every beat."""
    y = np.zeros(int(seconds * SR))
    t = np.arange(int(0.03 * SR)) / SR
    click = np.sin(2 * np.pi * 1000 * t) * np.exp(-t / 0.005)
    for start in np.arange(0.1, seconds - 0.05, 60.0 / bpm):
        i = round(start * SR)
        y[i : i + click.size] += click
    return (0.5 * y).astype(np.float32)


def chords(progression: list[tuple[int, ...]], seconds: float = 1.5, repeats: int = 3) -> np.ndarray:
    """Each chord (MIDI notes, three harmonics each) held ``seconds``, the progression ``repeats`` times."""
    t = np.arange(int(seconds * SR)) / SR
    ramp = np.minimum(1.0, t / 0.01) * np.minimum(1.0, (t[-1] - t) / 0.01)
    out = []
    for _ in range(repeats):
        for chord in progression:
            f = [440.0 * 2 ** ((m - 69) / 12) for m in chord]
            out.append(ramp * sum(np.sin(2 * np.pi * fk * h * t) / h**2 for fk in f for h in (1, 2, 3)))
    y = np.concatenate(out)
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


def sine(freq: float, peak_dbfs: float, seconds: float = 10.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (10 ** (peak_dbfs / 20) * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def whole(module: ModuleType, y: np.ndarray) -> np.ndarray:
    return module.finish([module.partial(Spectra(y))])


def chunked(module: ModuleType, y: np.ndarray, n: int) -> np.ndarray:
    return module.finish([module.partial(Spectra(c)) for c in np.array_split(y, n)])


def value(module: ModuleType, v: np.ndarray, name: str) -> float:
    return float(v[module.NAMES.index(name)])


# ---- tempo -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bpm", [90, 128])
def test_tempo_of_a_click_track(bpm: int) -> None:
    y = click_track(bpm)
    for v in (whole(rhythm, y), chunked(rhythm, y, 2)):
        assert value(rhythm, v, "tempo") == pytest.approx(bpm, rel=0.03)
        assert value(rhythm, v, "pulse clarity") > 0.5
        assert value(rhythm, v, "onset rate") == pytest.approx(bpm / 60, rel=0.1)


# ---- key ---------------------------------------------------------------------------------------------
C_MAJOR = [(60, 64, 67), (65, 69, 72), (67, 71, 74), (60, 64, 67)]  # I IV V I
A_MINOR = [(57, 60, 64), (62, 65, 69), (64, 68, 71), (57, 60, 64)]  # i iv V i


@pytest.mark.parametrize("shift", [0, 5])
@pytest.mark.parametrize(("progression", "tonic", "mode"), [(C_MAJOR, 0, "major"), (A_MINOR, 9, "minor")])
def test_key_of_a_chord_progression(progression, tonic: int, mode: str, shift: int) -> None:
    y = chords([tuple(m + shift for m in chord) for chord in progression])
    v = whole(tonal, y)
    assert tonal.key_name(v[:12]) == f"{tonal.PITCHES[(tonic + shift) % 12]} {mode}"
    assert value(tonal, v, "key strength") > 0.7
    assert (value(tonal, v, "key mode") > 0) == (mode == "major")


def test_a_flat_chroma_has_no_key() -> None:
    assert tonal.key_name(np.full(12, 0.5)) is None
    assert np.array_equal(tonal.key_strength(np.full(12, 0.5)), np.zeros(3))


# ---- loudness and timbre -----------------------------------------------------------------------------
@pytest.mark.parametrize("peak_dbfs", [-6.0, -20.0, -40.0])
def test_level_of_a_sine(peak_dbfs: float) -> None:
    """A 1 kHz sine (A-weighting 0 dB there) reads its RMS level: peak - 3.01 dB, crest factor 3.01 dB."""
    v = whole(loudness, sine(1000, peak_dbfs))
    rms_db = peak_dbfs - 10 * np.log10(2)
    assert value(loudness, v, "level mean") == pytest.approx(rms_db, abs=0.1)
    assert value(loudness, v, "energy level") == pytest.approx(rms_db, abs=0.1)
    assert value(loudness, v, "level p50") == pytest.approx(rms_db, abs=loudness.BIN_DB)
    assert value(loudness, v, "crest factor") == pytest.approx(10 * np.log10(2), abs=0.02)
    assert value(loudness, v, "dynamic range") == 0 and value(loudness, v, "loudness range") == 0


def test_a_quieter_passage_widens_the_dynamics() -> None:
    y = np.concatenate([sine(1000, -6, 5.0), sine(1000, -26, 5.0)])
    v = whole(loudness, y)
    assert value(loudness, v, "dynamic range") == pytest.approx(20, abs=1)
    assert value(loudness, v, "loudness range") == pytest.approx(20, abs=1)


@pytest.mark.parametrize("freq", [250.0, 1000.0, 4000.0])
def test_brightness_of_a_sine(freq: float) -> None:
    """Centroid and roll-off are in log2 Hz: a sine's sit on its frequency."""
    v = whole(timbre, sine(freq, -20))
    assert value(timbre, v, "centroid p50") == pytest.approx(np.log2(freq), abs=0.05)
    assert value(timbre, v, "rolloff p50") == pytest.approx(np.log2(freq), abs=0.05)


# ---- the merge of chunks -----------------------------------------------------------------------------
# How far a track's vector from 3 chunks may be from the whole signal's (relative norm). Frames at a
# chunk's edges see zero padding and timbre's percentiles come from sketches, so the merge is close,
# not exact; measured 0.008 (timbre), 0.0006 (tonal), 0.0008 (rhythm), 0.012 (loudness).
MERGE_TOLERANCE = {timbre: 0.02, tonal: 0.002, rhythm: 0.005, loudness: 0.025}


@pytest.mark.parametrize("module", [timbre, tonal, rhythm, loudness], ids=lambda m: m.GROUP)
def test_chunks_merge_to_the_whole_signal(module: ModuleType) -> None:
    y = music(30.0)
    full, merged = whole(module, y), chunked(module, y, 3)
    assert merged.shape == full.shape == (module.DIM,)
    assert np.linalg.norm(merged - full) / np.linalg.norm(full) < MERGE_TOLERANCE[module]


def test_descriptors_merge_and_keep_their_groups_in_order() -> None:
    y = music(30.0)
    ex = Descriptors()
    full = extract(ex, y)
    merged = ex.finish([ex.partial(Spectra(c)) for c in np.array_split(y, 3)])
    assert np.linalg.norm(merged - full) / np.linalg.norm(full) < max(MERGE_TOLERANCE.values())
    start = 0
    for module in (timbre, tonal, rhythm, loudness):
        assert np.array_equal(full[start : start + module.DIM], whole(module, y))
        start += module.DIM
    assert start == ex.dim


def test_running_stats_merge_exactly() -> None:
    frames = np.random.default_rng(0).normal(size=(5, 1000)) * np.arange(1, 6)[:, None]
    merged = RunningStats.merged([RunningStats.of(part) for part in np.array_split(frames, 4, axis=1)])
    assert merged.count == 1000
    assert np.allclose(merged.mean, frames.mean(axis=1), atol=1e-12)
    assert np.allclose(merged.std, frames.std(axis=1), atol=1e-9)
    assert np.array_equal(merged.low, frames.min(axis=1)) and np.array_equal(merged.high, frames.max(axis=1))


def test_merged_percentiles_approximate_those_of_the_union() -> None:
    rng = np.random.default_rng(1)
    parts = [rng.normal(loc, 1.0, size=(3, n)) for loc, n in ((0.0, 800), (2.0, 300), (-1.0, 1500))]
    sketches = [np.percentile(p, timbre.SKETCH, axis=1).T for p in parts]
    got = timbre.merged_percentiles(sketches, [p.shape[1] for p in parts])
    want = np.percentile(np.concatenate(parts, axis=1), timbre.PERCENTILES, axis=1).T
    assert np.allclose(got, want, atol=0.1)  # the union's spread is 1.4: within 7 % of it (measured 0.07)
    one = timbre.merged_percentiles(sketches[:1], [800])  # one chunk: exact
    assert np.allclose(one, np.percentile(parts[0], timbre.PERCENTILES, axis=1).T, atol=1e-12)
