"""Which models a library runs: read from ``<library>/models/`` once, and again only when those files change
(``Library.space`` asks on every request), never through the environment."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from synesthete import Library
from synesthete.features import classic
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


def test_the_active_checkpoint_is_not_in_the_environment(tmp_path: Path) -> None:
    with Library(tmp_path / "lib") as lib:
        lib.models()
    assert not [k for k in os.environ if "CHECKPOINT" in k]
