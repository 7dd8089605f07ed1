"""The ``cnn`` student: versioned checkpoints drive recomputation, and ``train`` helps on unseen styles."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

torch = pytest.importorskip("torch")

from synesthete import Library  # noqa: E402
from synesthete.features.registry import EXTRACTORS  # noqa: E402
from synesthete.models import checkpoints  # noqa: E402

HELD_OUT_STYLES = 4  # of the demo's 8: the last four are never trained on


@pytest.fixture(autouse=True)
def _restore_active_checkpoint() -> Iterator[None]:
    """Tests below switch the process's active checkpoint; put the shipped one back for the session."""
    checkpoints.use(None)
    yield
    checkpoints.use(None)


def _tones(folder: Path, n: int = 3) -> Path:
    folder.mkdir()
    t = np.arange(int(4.0 * 22050)) / 22050
    for i in range(n):
        y = 0.3 * np.sin(2 * np.pi * 220 * (i + 1) * t) + 0.05 * np.random.default_rng(i).standard_normal(
            t.size
        )
        sf.write(folder / f"tone{i}.wav", y.astype(np.float32), 22050)
    return folder


def _cnn(lib: Library) -> dict[int, tuple[int, np.ndarray]]:
    rows = lib.catalog.conn.execute("SELECT track_id, version, vector FROM vectors WHERE extractor = 'cnn'")
    return {i: (v, np.frombuffer(b, dtype=np.float32)) for i, v, b in rows}


def test_changed_checkpoint_triggers_recomputation(tmp_path: Path) -> None:
    music = _tones(tmp_path / "music")
    with Library(tmp_path / "lib") as lib:
        lib.scan([music], workers=1)
        shipped = checkpoints.active()
        before = _cnn(lib)
        assert len(before) == 3 and {v for v, _ in before.values()} == {shipped.version}

        net = checkpoints.load(shipped)
        state = checkpoints.state_of(net, objective="test")
        state["state"] = {k: v + 0.01 if k.startswith("head.") else v for k, v in state["state"].items()}
        made = checkpoints.save(lib.folder, state)
        assert made.version != shipped.version and made.path.parent == lib.folder / checkpoints.FOLDER

        report = lib.scan([music], workers=2)  # spawned workers must run the new checkpoint too
        assert report.updated == 3 and report.added == 0
        after = _cnn(lib)
        assert {v for v, _ in after.values()} == {made.version}
        assert all(not np.allclose(before[i][1], after[i][1]) for i in before)
        assert lib.scan([music], workers=1).unchanged == 3  # nothing stale any more

        lib.reset_training(refresh=False)
        assert lib.scan([music], workers=1).updated == 3  # back to the shipped weights, recomputed
        assert {v for v, _ in _cnn(lib).values()} == {shipped.version}


def _degraded_demo(folder: Path, per_style: int) -> dict[str, str]:
    """Demo pieces, each through its own fixed chain of gain, EQ tilt, noise and (often) a low-pass: a
    collection gathered from mixed sources. On the clean demo the shipped student already scores
    precision@10 = 1.000, which no training can improve; here the conditions compete with the styles.
    Returns path -> style."""
    from scipy import signal

    from synesthete.demo import SR, STYLES, render_piece

    folder.mkdir()
    styles = {}
    for si, style in enumerate(STYLES):
        for i in range(per_style):
            rng = np.random.default_rng([7, si, i])
            y = render_piece(style, i, seed=0)[: 20 * SR].astype(np.float64)  # 20 s: enough, and faster
            y = y + rng.uniform(-0.7, 1.0) * signal.sosfilt(
                signal.butter(1, 1000, "highpass", fs=SR, output="sos"), y
            )
            if rng.random() < 0.6:
                y = signal.sosfilt(signal.butter(6, rng.uniform(2000, 7000), fs=SR, output="sos"), y)
            noise = signal.sosfilt(
                signal.butter(1, rng.uniform(300, 3000), fs=SR, output="sos"), rng.standard_normal(y.size)
            )
            y = y + noise * np.std(y) / np.std(noise) * 10 ** (-rng.uniform(5, 25) / 20)
            y = y / np.abs(y).max() * 10 ** (-rng.uniform(1, 12) / 20)
            path = folder / f"{si}-{i}.wav"
            sf.write(path, y.astype(np.float32), SR)
            styles[str(path)] = style
    return styles


def test_train_improves_precision_on_held_out_styles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in EXTRACTORS if n != "cnn"]:  # only what this test measures, to stay fast
        monkeypatch.delitem(EXTRACTORS, name)
    styles = _degraded_demo(tmp_path / "music", per_style=10)
    with Library(tmp_path / "library") as lib:
        lib.scan([tmp_path / "music"], workers=1)
        tracks = {t.id: styles[t.path] for t in lib.tracks()}
        names = sorted(set(tracks.values()))
        seen = set(names[: len(names) - HELD_OUT_STYLES])
        held = {i: s for i, s in tracks.items() if s not in seen}
        before = lib.evaluate(held, model="cnn")["precision_at_k"]

        doc = lib.train(objective="contrastive", epochs=4, tracks=[i for i, s in tracks.items() if s in seen])
        assert doc["tracks"] == len(tracks) - len(held) and doc["refreshed"] == len(tracks)
        assert Path(doc["checkpoint"]).is_file() and doc["version"] == checkpoints.active().version
        after = lib.evaluate(held, model="cnn")["precision_at_k"]
        print(f"held-out precision@10: {before:.3f} -> {after:.3f}")
        assert after > before + 0.02, (before, after)
