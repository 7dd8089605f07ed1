"""The musicnn port: checkpoint reader, equivalence with the original under TensorFlow, front end, extractors.

``data/musicnn_reference.npz`` holds log-mel patches and the outputs of musicnn 0.1.0 run under
TensorFlow (``data/make_musicnn_reference.py`` wrote it). Skipped when torch or the musicnn package is
not installed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
musicnn = pytest.importorskip("synesthete.models.musicnn")

from synesthete.models.tf_bundle import CheckpointError, read_checkpoint  # noqa: E402

REFERENCE = Path(__file__).parent / "data" / "musicnn_reference.npz"


@pytest.fixture(scope="module")
def package() -> Path:
    try:
        return musicnn.package_dir()
    except musicnn.ModelUnavailableError as e:
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(REFERENCE) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def variables(package: Path) -> dict[str, np.ndarray]:
    return read_checkpoint(f"{package / 'MSD_musicnn'}/")


def test_checkpoint_reader_reads_every_variable(variables: dict[str, np.ndarray]) -> None:
    assert variables["conv2d/kernel"].shape == (7, 38, 1, 204)
    assert variables["dense/kernel"].shape == (1506, 200)
    assert variables["batch_normalization_9/moving_mean"].shape == (1506,)
    assert variables["conv2d/kernel"].dtype == np.float32
    assert len([k for k in variables if "Adam" not in k]) == 66  # 11 conv/dense x 2 + 11 batch norms x 4


def test_checkpoint_reader_rejects_what_is_not_a_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "x.index").write_bytes(b"not an sstable" * 10)
    (tmp_path / "x.data-00000-of-00001").write_bytes(b"")
    with pytest.raises(CheckpointError, match="not a TensorFlow checkpoint"):
        read_checkpoint(tmp_path / "x")
    with pytest.raises(CheckpointError, match="cannot read"):
        read_checkpoint(tmp_path / "missing")


@pytest.mark.parametrize("pruned", [False, True], ids=["as-trained", "pruned"])
def test_network_matches_tensorflow(
    variables: dict[str, np.ndarray], reference: dict[str, np.ndarray], pruned: bool
) -> None:
    net = musicnn.from_checkpoint({k: v for k, v in variables.items() if "Adam" not in k})
    if pruned:
        net.prune()
    with torch.inference_mode():
        penultimate, logits = net(torch.from_numpy(reference["x"].astype(np.float32)))
    scale = np.abs(reference["penultimate"]).max()
    np.testing.assert_allclose(penultimate.numpy(), reference["penultimate"], rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(torch.sigmoid(logits).numpy(), reference["tags"], rtol=0, atol=1e-5)


def test_loaded_network_is_pruned_and_matches(package: Path, reference: dict[str, np.ndarray]) -> None:
    net = musicnn.load()
    assert net.live is not None and len(net.live) < 100  # 64 of the 561 front-end filters are alive
    with torch.inference_mode():
        penultimate, _ = net(torch.from_numpy(reference["x"].astype(np.float32)))
    np.testing.assert_allclose(penultimate.numpy(), reference["penultimate"], rtol=0, atol=1e-4)


def test_front_end_is_librosa_melspectrogram_in_float32() -> None:
    librosa = pytest.importorskip("librosa")
    rng = np.random.default_rng(0)
    y = (rng.standard_normal(16000 * 2) * 0.3).astype(np.float32)
    y[8000:9000] = np.sign(y[8000:9000])  # full-scale bins: float16 would overflow here
    mel = librosa.feature.melspectrogram(
        y=y, sr=16000, n_fft=512, hop_length=256, n_mels=96, pad_mode="reflect"
    ).T
    expected = np.log10(10000 * mel + 1)
    got = musicnn.LogMel()(torch.from_numpy(y)).numpy()
    assert np.isfinite(got).all() and got.max() > np.log10(65504)  # above what float16 can reach
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_patches_cut_like_musicnn_and_fill_short_input() -> None:
    logmel = torch.arange(400 * 96, dtype=torch.float32).reshape(400, 96)
    p = musicnn.patches(logmel)
    assert p.shape == (2, 187, 96) and torch.equal(p[1], logmel[187:374])
    assert musicnn.patches(logmel[:50]).shape == (1, 187, 96)


def test_embed_shapes_and_short_audio(package: Path) -> None:
    rng = np.random.default_rng(1)
    penultimate, tags = musicnn.embed((rng.standard_normal(16000 * 7) * 0.1).astype(np.float32))
    assert penultimate.shape == (2, 200) and tags.shape == (2, 50)
    assert ((tags > 0) & (tags < 1)).all()
    penultimate, tags = musicnn.embed(np.zeros(1000, np.float32))  # shorter than a patch
    assert penultimate.shape == (1, 200) and np.isfinite(penultimate).all()


def test_extractors_share_one_network_pass(package: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from synesthete.features.base import Spectra
    from synesthete.features.registry import EXTRACTORS

    calls = []
    original = musicnn.embed
    monkeypatch.setattr(musicnn, "embed", lambda y: calls.append(len(y)) or original(y))
    rng = np.random.default_rng(2)
    spectra = Spectra((rng.standard_normal(22050 * 4) * 0.1).astype(np.float32))
    embedding, tags = EXTRACTORS["musicnn"], EXTRACTORS["musicnn-tags"]
    v = embedding.finish([embedding.partial(spectra)])
    t = tags.finish([tags.partial(spectra)])
    assert len(calls) == 1 and calls[0] == 16000 * 4  # resampled to 16 kHz once
    assert v.shape == (embedding.dim,) and v.dtype == np.float32 and np.isfinite(v).all()
    assert t.shape == (50,) and ((t > 0) & (t < 1)).all()
    assert len(tags.names) == 50 and tags.names[0] == "rock"


def test_track_vector_combines_chunks(package: Path) -> None:
    from synesthete.features.base import Spectra
    from synesthete.features.registry import EXTRACTORS

    rng = np.random.default_rng(3)
    y = (rng.standard_normal(22050 * 6) * 0.1).astype(np.float32)
    e = EXTRACTORS["musicnn"]
    whole = e.finish([e.partial(Spectra(y))])
    halves = e.finish([e.partial(Spectra(y[: 22050 * 3])), e.partial(Spectra(y[22050 * 3 :]))])
    assert whole.shape == halves.shape == (e.dim,)
    assert np.corrcoef(whole, halves)[0, 1] > 0.9


def test_missing_package_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(musicnn.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(musicnn.ModelUnavailableError, match=r"musicnn==0\.1\.0"):
        musicnn.package_dir()


def test_our_stft_is_librosas() -> None:
    """Every extractor reads ``Spectra.magnitude``: it must be librosa.stft's, for any length."""
    import warnings

    import librosa

    from synesthete.features.base import HOP, N_FFT, stft_magnitude

    rng = np.random.default_rng(3)
    for n in (1000, 2048, 22050 * 3 + 7, 22050 * 20):
        y = rng.standard_normal(n).astype(np.float32)
        with warnings.catch_warnings():  # librosa warns that 1000 samples are shorter than a frame
            warnings.simplefilter("ignore", UserWarning)
            theirs = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP))
        ours = stft_magnitude(y, block=100)
        assert ours.shape == theirs.shape
        assert np.abs(ours - theirs).max() <= 1e-6 * theirs.max() + 1e-6
