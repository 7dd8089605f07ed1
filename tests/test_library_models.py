"""Which models a library runs: read from ``<library>/models/`` once, and again only when those files change
(``Library.space`` asks on every request), never through the environment."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from synesthete import Library
from synesthete.features import classic
from synesthete.features.registry import EXTRACTORS
from synesthete.models import checkpoints


def test_the_model_files_are_read_again_only_when_they_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[Path] = []
    real = classic.trained
    monkeypatch.setattr(classic, "trained", lambda library: reads.append(Path(library)) or real(library))
    with Library(tmp_path / "lib") as lib:
        assert len(reads) == 1  # opening the library
        for _ in range(3):
            assert "autoencoder" not in lib.models()
        assert len(reads) == 1
        models = lib.folder / checkpoints.FOLDER
        models.mkdir()
        (models / "autoencoder-0.pt").write_bytes(b"not read here")
        (models / classic.CURRENT).write_text(json.dumps({"autoencoder": "autoencoder-0.pt"}))
        assert lib.models()[-1] == "autoencoder"  # another process trained it: seen at once
        assert len(reads) == 2
        lib.models()
        assert len(reads) == 2
        (models / checkpoints.CURRENT).write_text(json.dumps({"cnn": "cnn-gone.pt"}))  # no such file
        lib.models()
        assert len(reads) == 3 and checkpoints.active().shipped


def _tones(folder: Path, first: int, n: int) -> None:
    folder.mkdir(exist_ok=True)
    t = np.arange(4 * 22050) / 22050
    for i in range(first, first + n):
        noise = 0.05 * np.random.default_rng(i).standard_normal(t.size)
        sf.write(folder / f"tone{i}.wav", (0.3 * np.sin(2 * np.pi * 110 * (i + 1) * t) + noise), 22050)


def test_the_models_travel_in_the_jobs_not_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a training run and a scan in spawned workers, which run the library's classic model, no
    model variable is in this process's environment (which those workers would have inherited)."""
    before = {k: v for k, v in os.environ.items() if k.startswith("SYNESTHETE_")}
    for name in [n for n in EXTRACTORS if n != "cnn"]:  # to stay fast
        monkeypatch.delitem(EXTRACTORS, name)
    music = tmp_path / "music"
    _tones(music, 0, 3)
    try:
        with Library(tmp_path / "lib") as lib:
            lib.scan([music], workers=1)
            doc = lib.train(objective="autoencoder", epochs=1)
            assert doc["refreshed"] == 3
            _tones(music, 3, 2)
            report = lib.scan([music], workers=2)  # two jobs: a pool of spawned processes
            assert report.added == 2 and not report.failed, report.failed
            assert lib.space("autoencoder").vectors.shape == (5, classic.DIMS["autoencoder"])
    finally:
        classic.use(None)
        checkpoints.use(None)
    after = {k: v for k, v in os.environ.items() if k.startswith("SYNESTHETE_")}
    assert after == before
    assert not [k for k in os.environ if "CHECKPOINT" in k or "MODELS" in k]
