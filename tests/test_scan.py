"""Scanning: every format analysed, bad files recorded and skipped, incremental, resumable."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from synesthete import Library
from synesthete.audio import SR, decode_span
from synesthete.audio.decode import reads_differently
from synesthete.features.registry import EXTRACTORS
from synesthete.library import scan as scanning
from synesthete.library.catalog import CATALOG_FILE
from synesthete.library.migrations import SCHEMA_VERSION
from synesthete.library.scan import FileResult, scan

from .conftest import DATA, GOOD
from .test_decode import _mp3, _tone_then_noise
from .tracker import ROW_SECONDS, melody, write_mod

BAD = {
    "empty.mp3": "empty file",
    "random.mp3": "not an audio file",
    "text.flac": "not an audio file",
    "truncated.mp3": "truncated",
    "truncated.flac": "truncated",
    "short.wav": "too short",
    "silence.wav": "silent",
    "nan.wav": "non-finite",
}


def tone_files(folder: Path, n: int, seconds: float = 6.0) -> list[Path]:
    """n distinct short pieces (different pitch and noise colour), as FLAC."""
    folder.mkdir(parents=True, exist_ok=True)
    sr = 22050
    t = np.arange(int(seconds * sr)) / sr
    paths = []
    for i in range(n):
        rng = np.random.default_rng(i)
        y = 0.3 * np.sin(2 * np.pi * (110 * 2 ** (i / 7)) * t) + 0.05 * rng.standard_normal(t.size)
        path = folder / f"piece_{i:02d}.flac"
        sf.write(path, y.astype(np.float32), sr)
        paths.append(path)
    return paths


def test_scan_analyses_every_format_and_skips_bad_files(library: Library, music_dir: Path) -> None:
    for name in BAD:
        shutil.copy(DATA / name, music_dir / name)
    (music_dir / "notes.txt").write_text("not audio, not an audio extension: ignored")
    report = library.scan([music_dir], workers=1)
    assert report.added == len(GOOD)
    failed = {Path(f.path).name: f.reason for f in report.failed}
    assert set(failed) == set(BAD)
    for name, words in BAD.items():
        assert words in failed[name], (name, failed[name])
    status = library.status()
    assert status["tracks"] == len(GOOD)
    assert status["models"] == dict.fromkeys(["fused", "fused-learnt", *EXTRACTORS], len(GOOD))
    assert {Path(f["path"]).name for f in status["failed"]} == set(BAD)
    # Tags: the file name stands in for a missing title.
    assert {t.title for t in library.tracks()} == {"clip"}


def test_tracker_modules_are_analysed_and_recognised(library: Library, tmp_path: Path) -> None:
    """A tracker module (.mod, .xm...) is music like any file: scanned, and a noisy recording of part of
    it named. One that is not a module is recorded with the reason; what no one plays as music (a MIDI
    file here) stays unmentioned."""
    folder = tmp_path / "music"
    tone_files(folder, 2)
    write_mod(folder / "tune.mod", melody(1, 192))
    (folder / "broken.xm").write_bytes(b"Extended Module: tune" + bytes(300))
    (folder / "score.mid").write_bytes(b"MThd" + bytes(10))
    report = library.scan([folder], workers=1)
    assert report.added == 3
    assert [(Path(f.path).name, "not a tracker module" in f.reason) for f in report.failed] == [
        ("broken.xm", True)
    ]
    (tune,) = [t for t in library.tracks() if t.path.endswith("tune.mod")]
    assert abs(tune.duration - 192 * ROW_SECONDS) < 0.5
    y = decode_span(tune.path, 8.0, 5.0)
    rng = np.random.default_rng(99)  # not the seed of a tone file's noise, which would then be heard
    query = tmp_path / "heard.wav"
    sf.write(query, y + rng.normal(0, np.sqrt(np.mean(y**2) / 10), y.size).astype(np.float32), SR)
    found = library.identify(query)
    assert found is not None and found.track.id == tune.id
    assert abs(found.offset_s - 8.0) < 0.1


def test_rescan_is_incremental_and_follows_moves_and_deletions(library: Library, tmp_path: Path) -> None:
    folder = tmp_path / "music"
    paths = tone_files(folder, 4)
    first = library.scan([folder], workers=1)
    assert first.added == 4
    ids = {t.path: t.id for t in library.tracks()}

    again = library.scan([folder], workers=1)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 4)

    moved = folder / "sub" / "renamed.flac"
    moved.parent.mkdir()
    paths[0].rename(moved)
    paths[1].unlink()
    os.utime(paths[2], (time.time() + 10, time.time() + 10))  # touched, same content
    third = library.scan([folder], workers=1)
    assert (third.added, third.moved, third.removed, third.unchanged) == (0, 1, 1, 2)
    by_path = {t.path: t.id for t in library.tracks()}
    assert by_path[str(moved)] == ids[str(paths[0])]  # same track, analysis kept
    assert str(paths[1]) not in by_path
    assert paths[1].stem not in {t.title for t in library.tracks()}
    # A deleted file disappears from answers too.
    assert all(m.track.path != str(paths[1]) for m in library.similar(by_path[str(moved)], k=10))


def test_a_changed_file_is_analysed_again(library: Library, tmp_path: Path) -> None:
    folder = tmp_path / "music"
    paths = tone_files(folder, 3)
    library.scan([folder], workers=1)
    before = library.space().vector_of(library.resolve("piece_01").id).copy()
    shutil.copy(paths[2], paths[1])  # new content under the same name
    report = library.scan([folder], workers=1)
    assert report.updated == 1
    after = library.space().vector_of(library.resolve("piece_01").id)
    assert not np.allclose(before, after)


def test_vectors_of_an_old_extractor_version_are_recomputed(library: Library, tmp_path: Path) -> None:
    folder = tmp_path / "music"
    tone_files(folder, 3)
    library.scan([folder], workers=1)
    with sqlite3.connect(library.folder / CATALOG_FILE) as conn:
        conn.execute(
            "UPDATE vectors SET version = version - 1 WHERE extractor = 'descriptors' AND track_id = 1"
        )
    assert library.status()["models"]["descriptors"] == 2
    report = library.scan([folder], workers=1)
    assert (report.updated, report.unchanged) == (1, 2)
    assert library.status()["models"]["descriptors"] == 3


def test_files_an_older_decoder_read_in_part_are_analysed_again(
    library: Library, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before decoder version 2, libsndfile read MP3s joined end to end (``cat a.mp3 b.mp3``) as their first
    part: a library then holds the joined file at 8 s, and a scan that looks at size and time only would
    keep it so. The first scan with the new decoder reads the old tracks' headers once and analyses again
    the files whose header does not state their length, and no other, even when the scan that found them
    was killed before analysing them; later scans read no header."""
    folder = tmp_path / "music"
    tone_files(folder, 2)
    first = _mp3(tmp_path / "a.mp3", _tone_then_noise(8.0, 4.0), comment="first")
    second = _mp3(tmp_path / "b.mp3", _tone_then_noise(15.0, 5.0), comment="second")
    joined = folder / "joined.mp3"
    joined.write_bytes(first.read_bytes() + second.read_bytes())
    library.scan([folder], workers=1)
    with sqlite3.connect(library.folder / CATALOG_FILE) as conn:  # as the older decoder left it
        conn.execute("UPDATE tracks SET analysed_at = analysed_at - 86400")
        conn.execute("UPDATE tracks SET duration = 8.0 WHERE path = ?", (str(joined),))
        conn.execute("DELETE FROM meta WHERE key = 'decoder'")
    headers: list[str] = []
    monkeypatch.setattr(scanning, "reads_differently", lambda p: headers.append(p) or reads_differently(p))
    versions = {n: e.version for n, e in EXTRACTORS.items()}
    scanning.plan(library.catalog, [str(folder)], versions)  # a scan killed once it had planned
    assert len(headers) == 3
    report = library.scan([folder], workers=1)
    assert (report.updated, report.unchanged) == (1, 2)
    assert library.resolve("joined").duration == pytest.approx(23.0, abs=0.3)
    again = library.scan([folder], workers=1)
    assert (again.updated, again.unchanged) == (0, 3) and len(headers) == 3


def test_file_deleted_during_the_scan(library: Library, tmp_path: Path) -> None:
    folder = tmp_path / "music"
    paths = tone_files(folder, 3)
    versions = {n: e.version for n, e in EXTRACTORS.items()}

    def delete_the_last(result: FileResult) -> None:
        if paths[-1].exists():
            paths[-1].unlink()

    report = scan(library.catalog, [str(folder)], extractors=versions, workers=1, on_result=delete_the_last)
    assert report.added == 2
    assert [(Path(f.path).name, f.reason) for f in report.failed] == [
        ("piece_02.flac", "file not found (moved or deleted?)")
    ]
    assert library.status()["tracks"] == 2


def test_symlink_loops_are_reported_and_skipped(library: Library, tmp_path: Path) -> None:
    folder = tmp_path / "music"
    tone_files(folder, 2)
    (folder / "loop").symlink_to(folder, target_is_directory=True)
    (folder / "self.mp3").symlink_to(folder / "self.mp3")
    report = library.scan([folder], workers=1)
    assert report.added == 2
    reasons = {Path(f.path).name: f.reason for f in report.failed}
    assert "symbolic link loop" in reasons["loop"]
    assert "symbolic links" in reasons["self.mp3"].lower()


def test_unreadable_file(tmp_path: Path) -> None:
    """A file without read permission is recorded with that reason, and the rest is analysed."""
    folder = tmp_path / "music"
    tone_files(folder, 2)
    locked = folder / "piece_01.flac"
    locked.chmod(0)
    cmd = [
        sys.executable,
        "-m",
        "synesthete.cli",
        "--library",
        str(tmp_path / "lib"),
        "scan",
        str(folder),
        "--json",
    ]
    if os.geteuid() == 0:  # root reads everything: drop the capabilities that let it
        caps = "-dac_override,-dac_read_search"
        cmd = ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    report = json.loads(out.stdout)
    assert report["added"] == 1
    assert report["failed"] == [{"path": str(locked), "reason": "cannot read: permission denied"}]


def test_a_killed_scan_resumes_without_losing_or_repeating_work(tmp_path: Path) -> None:
    folder = tmp_path / "music"
    tone_files(folder, 40, seconds=20.0)
    lib_dir = tmp_path / "library"
    cmd = [
        sys.executable,
        "-m",
        "synesthete.cli",
        "--library",
        str(lib_dir),
        "scan",
        str(folder),
        "--json",
        "--workers",
        "1",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done_before = 0
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
        try:
            with sqlite3.connect(f"file:{lib_dir / CATALOG_FILE}?mode=ro", uri=True, timeout=1) as conn:
                done_before = conn.execute("SELECT count(*) FROM tracks").fetchone()[0]
        except sqlite3.Error:
            continue
        if done_before >= 5:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    assert 5 <= done_before < 40, "the scan finished before it could be killed"
    with Library(lib_dir) as lib:
        committed = {t.path: t.id for t in lib.tracks()}
        stamps = dict(lib.catalog.conn.execute("SELECT id, analysed_at FROM tracks").fetchall())
        report = lib.scan([folder], workers=1)
        assert report.added == 40 - len(committed)
        assert report.unchanged == len(committed)
        after = dict(lib.catalog.conn.execute("SELECT id, analysed_at FROM tracks").fetchall())
        assert all(after[i] == stamps[i] for i in committed.values())  # nothing analysed twice
        assert lib.status()["tracks"] == 40 and not lib.status()["failed"]


def test_catalog_schema_is_versioned(library: Library, tmp_path: Path) -> None:
    from synesthete.exceptions import UserError

    version = library.catalog.conn.execute("PRAGMA user_version").fetchone()[0]
    assert version == SCHEMA_VERSION
    assert library.catalog.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    library.catalog.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    library.close()
    with pytest.raises(UserError, match="newer than this synesthete"):
        Library(library.folder)
