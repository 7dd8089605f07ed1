"""Shared fixtures: the committed clips, and one demo library generated and scanned per test session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest_plugins = ["tests.pg"]  # postgres_server, postgres_url: a real PostgreSQL with pgvector

DATA = Path(__file__).parent / "data"
GOOD = ["clip.wav", "clip.flac", "clip.ogg", "clip.mp3", "clip.aiff", "clip.opus", "clip.m4a"]


@pytest.fixture
def data_dir() -> Path:
    return DATA


@pytest.fixture
def music_dir(tmp_path: Path) -> Path:
    """A folder holding every good clip, one per format."""
    folder = tmp_path / "music"
    folder.mkdir()
    for name in GOOD:
        shutil.copy(DATA / name, folder / name)
    return folder


@pytest.fixture
def library(tmp_path: Path):
    from synesthete import Library

    with Library(tmp_path / "library") as lib:
        yield lib


@pytest.fixture(scope="session")
def demo_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo collection (8 styles x 15 pieces), generated and scanned once for the whole session."""
    from synesthete.demo import DEMO_FOLDER, ensure_demo_audio

    folder = tmp_path_factory.mktemp("demo") / "library"
    audio = ensure_demo_audio(folder / DEMO_FOLDER, per_style=15)
    from synesthete import Library

    with Library(folder) as lib:
        report = lib.scan([audio], workers=2)
        assert not report.failed, report.failed
    return folder
