"""Upgrades: a catalog written by the first released schema opens, migrates forward, and its next scan
recomputes only what is stale (an extractor whose version changed, the fingerprints it never had)."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from synesthete import Library
from synesthete.analysis import analyze
from synesthete.library.catalog import CATALOG_FILE
from synesthete.library.migrations import SCHEMA_VERSION, migrate
from synesthete.library.tags import content_hash, read_tags

from .test_scan import tone_files


def first_release_catalog(library: Path, files: list[Path], stale: set[Path]) -> None:
    """Schema 1 only (tracks, vectors, failures, meta), filled as that release filled it; the
    ``descriptors`` vectors of ``stale`` files carry an older version."""
    library.mkdir(parents=True)
    conn = sqlite3.connect(library / CATALOG_FILE, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    migrate(conn, to=1)
    for path in files:
        analysis = analyze(path)
        st, tags = os.stat(path), read_tags(str(path))
        track_id = conn.execute(
            "INSERT INTO tracks (path, content_hash, size, mtime, title, artist, album, genre, duration,"
            " added_at, analysed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                str(path),
                content_hash(str(path)),
                st.st_size,
                st.st_mtime,
                tags["title"],
                None,
                None,
                None,
                analysis.duration,
                time.time(),
                time.time(),
            ),
        ).lastrowid
        for name, vector in analysis.vectors.items():
            version = analysis.versions[name] - (name == "descriptors" and path in stale)
            conn.execute(
                "INSERT INTO vectors VALUES (?,?,?,?)",
                (track_id, name, version, vector.astype(np.float32).tobytes()),
            )
    conn.close()


def test_a_first_release_catalog_migrates_and_recomputes_only_what_is_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = tone_files(tmp_path / "music", 4)
    stale = set(files[:2])
    library = tmp_path / "lib"
    first_release_catalog(library, files, stale)
    with sqlite3.connect(library / CATALOG_FILE) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        before = dict(conn.execute("SELECT id, analysed_at FROM tracks"))

    import synesthete.analysis

    analyses: list[tuple[str, tuple[str, ...], bool]] = []  # every decode a scan makes: what it computed
    real = synesthete.analysis.analyze

    def counted(path, extractors=None, *, fingerprint=False):
        analyses.append((Path(path).name, tuple(sorted(e.name for e in extractors)), fingerprint))
        return real(path, extractors, fingerprint=fingerprint)

    monkeypatch.setattr(synesthete.analysis, "analyze", counted)

    with Library(library) as lib:
        c = lib.catalog.conn
        assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"tracks", "vectors", "failures", "fingerprints", "projections"} <= tables
        assert "landmarks" not in tables  # made by migration 2, dropped by migration 4
        assert lib.status()["tracks"] == 4 and lib.status()["models"]["descriptors"] == 2
        report = lib.scan([tmp_path / "music"], workers=1)
        assert (report.added, report.updated, report.unchanged, report.failed) == (0, 4, 0, [])
        # Each file decoded once: the two stale descriptors vectors and the fingerprints, nothing else.
        assert sorted(analyses) == sorted(
            (f.name, ("descriptors",) if f in stale else (), True) for f in files
        ), analyses
        assert lib.status()["models"]["descriptors"] == 4
        assert lib.status()["fingerprints"] == 4  # what schema 1 never had, made from the same decode
        assert dict(c.execute("SELECT id, analysed_at FROM tracks")) == before  # tags and hash kept
        assert lib.identify(files[3]).track.path == str(files[3])
        report = lib.scan([tmp_path / "music"], workers=1)
        assert report.unchanged == 4 and len(analyses) == 4
