"""The faster steps of the spectra and timbre features compute what their plain definitions say, on generated
spectra."""

from __future__ import annotations

import numpy as np
import pytest

from synesthete.features import timbre
from synesthete.features.base import Spectra, _mel_basis, mel_of, stft_magnitude


def signal(kind: str) -> np.ndarray:
    """4 s of noise, a tone, a chirp or silence."""
    rng = np.random.default_rng(11)
    t = np.arange(22050 * 4) / 22050
    y = {
        "noise": 0.1 * rng.standard_normal(t.size),
        "tone": 0.3 * np.sin(2 * np.pi * 440 * t),
        "chirp": 0.3 * np.sin(2 * np.pi * (100 + 1200 * t) * t),
        "silence": np.zeros(t.size),
    }[kind]
    return y.astype(np.float32)


def spectrogram(kind: str) -> np.ndarray:
    """A power spectrogram (bins, frames) laid out as ``Spectra`` lays it out (frame-major)."""
    return Spectra(signal(kind)).stft_power


@pytest.mark.parametrize("kind", ["noise", "tone", "chirp", "silence"])
def test_rolloff_is_the_first_bin_reaching_85_percent(kind: str) -> None:
    power = spectrogram(kind)
    cum = np.cumsum(power.astype(np.float64), axis=0)
    want = (cum < timbre.ROLLOFF * cum[-1]).sum(axis=0)
    got = timbre.rolloff_bins(power)
    # a cumulative sum within float32 rounding of the threshold may land one bin either side
    assert np.abs(got - want).max() <= 1
    assert (got != want).mean() < 0.01


def test_rolloff_of_exponential_spectra() -> None:
    power = np.random.default_rng(5).exponential(size=(1025, 3000)).astype(np.float32)
    cum = np.cumsum(power.astype(np.float64), axis=0)
    want = (cum < timbre.ROLLOFF * cum[-1]).sum(axis=0)
    got = timbre.rolloff_bins(power)
    assert np.abs(got - want).max() <= 1 and (got != want).mean() < 0.01


@pytest.mark.parametrize("kind", ["noise", "tone", "chirp", "silence"])
def test_contrast_is_peak_minus_valley_of_each_band(kind: str) -> None:
    power = spectrogram(kind).astype(np.float64)
    want = []
    for lo, hi, q in timbre._BANDS:
        band = np.sort(power[lo:hi], axis=0)
        want.append(10 * (np.log10(band[-q:].mean(axis=0) + 1e-10) - np.log10(band[:q].mean(axis=0) + 1e-10)))
    np.testing.assert_allclose(timbre.spectral_contrast(spectrogram(kind)), np.array(want), atol=1e-3)


def test_stft_layout_is_frame_major_and_values_unchanged() -> None:
    y = np.random.default_rng(2).standard_normal(22050 * 3).astype(np.float32)
    mag = stft_magnitude(y)
    assert mag.flags["F_CONTIGUOUS"]
    np.testing.assert_array_equal(mag, stft_magnitude(y, block=1000))


def test_mel_of_is_the_dense_product() -> None:
    power = spectrogram("noise")
    dense = _mel_basis(22050) @ np.ascontiguousarray(power)
    np.testing.assert_allclose(mel_of(power), dense, rtol=1e-5, atol=1e-6 * dense.max())


@pytest.mark.parametrize("kind", ["noise", "tone", "chirp", "silence"])
def test_sketch_is_numpys_percentile_bit_for_bit(kind: str) -> None:
    frames = timbre.frame_features(Spectra(signal(kind)))
    np.testing.assert_array_equal(timbre.sketch(frames), np.percentile(frames, timbre.SKETCH, axis=1).T)


@pytest.mark.parametrize("n", [1, 2, 3, 100, 1291])
def test_sketch_of_any_frame_count_and_of_ties(n: int) -> None:
    rng = np.random.default_rng(n)
    frames = rng.standard_normal((31, n)).astype(np.float32)
    frames[3] = np.round(frames[3])  # many equal values
    np.testing.assert_array_equal(timbre.sketch(frames), np.percentile(frames, timbre.SKETCH, axis=1).T)
