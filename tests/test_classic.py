"""The classic models (autoencoder, genre CNN, transfer, ResNet-shaped): each trains on generated styles in
seconds, gives vectors of its stated size, and places a held-back piece of a style among its own style."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

torch = pytest.importorskip("torch")

from synesthete import Library  # noqa: E402
from synesthete.exceptions import UserError  # noqa: E402
from synesthete.features import classic  # noqa: E402
from synesthete.features.registry import EXTRACTORS  # noqa: E402

STYLES = 4  # of the demo's, the first four
PIECES = 4  # per style; the last is held back from training
SECONDS = 7


@pytest.fixture(scope="module")
def styled(tmp_path_factory: pytest.TempPathFactory):
    """A library of demo pieces (only ``cnn`` scanned, to stay fast): (folder, track id -> style, the
    held-back ids)."""
    from synesthete.demo import SR, render_piece
    from synesthete.demo import STYLES as NAMES

    root = tmp_path_factory.mktemp("classic")
    music = root / "music"
    music.mkdir()
    for style in NAMES[:STYLES]:
        for i in range(PIECES):
            y = render_piece(style, i, seed=3)[: SECONDS * SR]
            sf.write(music / f"{style}-{i}.wav", y.astype(np.float32), SR)
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in EXTRACTORS if n != "cnn"]:
            mp.delitem(EXTRACTORS, name)
        with Library(root / "library") as lib:
            lib.scan([music], workers=1)
            styles = {t.id: Path(t.path).stem.rsplit("-", 1)[0] for t in lib.tracks()}
            held = {t.id for t in lib.tracks() if t.path.endswith(f"-{PIECES - 1}.wav")}
        yield root / "library", styles, held


def _same_style_first(lib: Library, model: str, styles: dict[int, str], held: set[int]) -> float:
    """Share of held-back pieces whose nearest track is of their own style."""
    hits = [styles[lib.similar(i, k=1, model=model)[0].track.id] == styles[i] for i in held]
    return float(np.mean(hits))


@pytest.mark.parametrize("kind", classic.NAMES)
def test_each_classic_model_trains_and_ranks_its_style(styled, kind: str) -> None:
    folder, styles, held = styled
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in EXTRACTORS if n != "cnn"]:
            mp.delitem(EXTRACTORS, name)
        with Library(folder) as lib:
            train = [i for i in styles if i not in held]
            labels = {i: styles[i] for i in train} if kind in ("genre", "transfer") else None
            doc = lib.train(objective=kind, epochs=1, tracks=train, labels=labels)
            assert doc["model"] == kind and doc["tracks"] == len(train)
            assert doc["refreshed"] == len(styles)  # held-back pieces get vectors too
            assert Path(doc["checkpoint"]).is_file() and np.isfinite(doc["loss"])
            assert kind in lib.models()
            space = lib.space(kind)
            assert space.vectors.shape == (len(styles), classic.DIMS[kind])
            share = _same_style_first(lib, kind, styles, held)
            print(f"{kind}: {doc['objective']}; held-back pieces nearest their own style: {share:.2f}")
            assert share >= 0.75, share  # chance: 3 of the 15 others are of the query's style


def test_trained_models_are_mapped_and_exported(styled, tmp_path: Path) -> None:
    folder, styles, _ = styled
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in EXTRACTORS if n != "cnn"]:
            mp.delitem(EXTRACTORS, name)
        with Library(folder) as lib:
            if "resnet" not in lib.models():  # run alone: train it here
                lib.train(objective="resnet", epochs=1)
            assert len(lib.map("pca", 2, model="resnet")["points"]) == len(styles)
            lib.export("npz", tmp_path / "out.npz")
            with np.load(tmp_path / "out.npz", allow_pickle=False) as z:
                assert z["vectors_resnet"].shape == (len(styles), classic.DIMS["resnet"])
                assert np.isfinite(z["vectors_resnet"]).all()


def test_genre_without_labels_says_what_to_do(styled) -> None:
    folder, styles, _ = styled
    with Library(folder) as lib:
        untagged = {i: "" for i in styles}
        with pytest.raises(UserError, match="--labels-from folder"):
            lib.train(objective="genre", epochs=1, labels=untagged)


def test_cli_genre_without_labels_is_one_clear_line(styled, capsys: pytest.CaptureFixture) -> None:
    from synesthete.cli import main

    folder, _, _ = styled
    assert main(["--library", str(folder), "train", "--objective", "genre", "--epochs", "1"]) == 1
    err = capsys.readouterr().err
    assert "synesthete: error: the genre model learns groups" in err and "--labels-from folder" in err
    assert main(["--library", str(folder), "train", "--objective", "resnet", "--labels-from", "folder"]) == 1
    assert (
        "--labels and --labels-from are for --objective supervised, genre, transfer"
        in capsys.readouterr().err
    )


def test_untrained_model_is_not_offered(tmp_path: Path) -> None:
    with Library(tmp_path / "lib") as lib:
        assert not set(classic.NAMES) & set(lib.models())
        with pytest.raises(Exception, match="unknown model 'resnet'"):
            lib.space("resnet")


def test_retraining_makes_a_new_version(styled) -> None:
    folder, styles, _ = styled
    with Library(folder) as lib:
        first = lib.train(objective="autoencoder", epochs=1, refresh=False, tracks=list(styles)[:6])
        second = lib.train(objective="autoencoder", epochs=1, refresh=False, tracks=list(styles)[6:12])
        assert first["version"] != second["version"]
        current = json.loads((folder / "models" / classic.CURRENT).read_text())
        assert current["autoencoder"] == Path(second["checkpoint"]).name


def test_cross_validation_answers_each_query_with_a_model_blind_to_its_group(styled) -> None:
    from synesthete.evaluate.crossval import group_folds
    from synesthete.service.evaluation import cross_validated

    folder, styles, _ = styled
    folds = group_folds(styles, 2)
    assert sorted(g for f in folds for g in f) == sorted(set(styles.values()))
    with Library(folder) as lib:
        doc = cross_validated(lib, "genre", styles, folds=2, epochs=1, k=3)
        assert doc["queries"] == len(styles) and doc["folds"] == [sorted(f) for f in folds]
        last = torch.load(classic.checkpoint_of("genre").path, weights_only=True)["meta"]
        assert not set(last["classes"]) & folds[-1]  # the last fold's model never saw its groups
        assert 0.0 <= doc["precision_at_k"] <= 1.0
