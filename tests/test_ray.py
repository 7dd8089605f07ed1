"""The Ray backend is the same engine: a scan as Ray tasks on a local Ray head (2 workers) gives the
local scan's tracks, vectors and answers, and the same reason for a corrupt file. Ray is the optional
``scale`` extra: without it the message says what to install, and the embedded default never imports it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from synesthete import Library
from synesthete.exceptions import UserError
from synesthete.features.registry import EXTRACTORS
from synesthete.fingerprint.landmarks import VERSION
from synesthete.library.scan import FINGERPRINT, FileResult, ScanReport, scan

DATA = Path(__file__).parent / "data"
RAY_STARTS = "could not start or reach"


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight generated pieces in different styles, a committed clip, and two files that cannot be analysed
    (a truncated FLAC, a clip too short)."""
    from synesthete.demo import ensure_demo_audio

    folder = ensure_demo_audio(tmp_path_factory.mktemp("ray") / "audio", per_style=1)
    for name in ("clip.mp3", "short.wav", "truncated.flac"):
        shutil.copy(DATA / name, folder / name)
    return folder


def _scan(folder: Path, audio: Path, **how) -> Library:
    lib = Library(folder)
    try:
        lib.scan([audio], **how)
    except UserError as e:
        lib.close()
        if str(e).startswith(RAY_STARTS):
            pytest.skip(f"Ray cannot start here: {e}")
        raise
    return lib


def test_ray_scan_gives_the_local_scan_s_tracks_vectors_and_answers(tmp_path: Path, audio: Path) -> None:
    pytest.importorskip("ray", reason="Ray is not installed: pip install -e '.[scale]'")
    with (
        _scan(tmp_path / "local", audio, workers=1) as local,
        _scan(tmp_path / "ray", audio, workers=2, backend="ray") as ray,
    ):
        by_path = {t.path: t for t in local.tracks()}
        assert len(by_path) == 9
        assert sorted(by_path) == sorted(t.path for t in ray.tracks())
        assert local.status()["models"] == ray.status()["models"]
        assert local.status()["fingerprints"] == ray.status()["fingerprints"] == 9
        assert [(f["path"], f["reason"]) for f in local.status()["failed"]] == [
            (f["path"], f["reason"]) for f in ray.status()["failed"]
        ]
        assert sorted(Path(f["path"]).name for f in local.status()["failed"]) == [
            "short.wav",
            "truncated.flac",
        ]
        ray_by_path = {t.path: t for t in ray.tracks()}
        for name, extractor in EXTRACTORS.items():
            mine, theirs = (_vectors_by_path(lib, name, extractor.version) for lib in (local, ray))
            assert sorted(mine) == sorted(by_path), name
            for path, vector in mine.items():
                np.testing.assert_allclose(
                    theirs[path], vector, rtol=1e-5, atol=1e-6, err_msg=f"{name} {path}"
                )
        for model in local.models():
            for path in sorted(by_path):
                mine = [m.track.path for m in local.similar(by_path[path].id, k=10, model=model)]
                theirs = [m.track.path for m in ray.similar(ray_by_path[path].id, k=10, model=model)]
                assert len(mine) == 8
                assert mine == theirs, (model, path)


def _vectors_by_path(lib: Library, name: str, version: int) -> dict[str, np.ndarray]:
    ids, vectors = lib.catalog.vectors(name, version)
    paths = {t.id: t.path for t in lib.tracks()}
    return {paths[int(i)]: v for i, v in zip(ids, vectors, strict=True)}


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_without_ray_the_error_says_what_to_install(tmp_path: Path) -> None:
    code = f"""
import sys
sys.modules["ray"] = None  # as if the scale extra were not installed
from synesthete import Library
from synesthete.exceptions import UserError
from synesthete.features.registry import EXTRACTORS
from synesthete.fingerprint.landmarks import VERSION
from synesthete.library.scan import FINGERPRINT
from synesthete.library.scan import ScanReport, scan
with Library({str(tmp_path / "lib")!r}) as lib:
    try:
        lib.scan([{str(DATA / "short.wav")!r}], backend="ray")
    except UserError as e:
        print(e)
    print(lib.status()["tracks"])
"""
    out = _run(code)
    assert out.returncode == 0, out.stderr
    assert "pip install -e '.[scale]'" in out.stdout
    assert out.stdout.splitlines()[-1] == "0"


def test_the_embedded_default_never_imports_ray(tmp_path: Path) -> None:
    code = f"""
import sys
import synesthete
from synesthete import Library
with Library({str(tmp_path / "lib")!r}) as lib:
    report = lib.scan([{str(DATA / "clip.wav")!r}], workers=1)
print(report.added, "ray" in sys.modules)
"""
    out = _run(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "False"]


def test_an_address_without_the_ray_backend_is_refused(library: Library, data_dir: Path) -> None:
    with pytest.raises(UserError, match="needs --backend ray"):
        library.scan([data_dir / "clip.wav"], address="head:6379")
    assert library.status()["tracks"] == 0


def _ray_scan(lib: Library, audio: Path, on_result: Callable[[FileResult], None]) -> ScanReport:
    """What ``Library.scan(backend="ray", workers=2)`` runs, with a hook on each result (a fresh library
    has no trained models, so these are all its extractors); skipped where Ray cannot start."""
    versions = {name: e.version for name, e in EXTRACTORS.items()} | {FINGERPRINT: VERSION}
    try:
        return scan(
            lib.catalog, [str(audio)], extractors=versions, workers=2, backend="ray", on_result=on_result
        )
    except UserError as e:
        if str(e).startswith(RAY_STARTS):
            pytest.skip(f"Ray cannot start here: {e}")
        raise


def test_a_stopped_ray_scan_keeps_its_tracks_shuts_ray_down_and_resumes(tmp_path: Path, audio: Path) -> None:
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install -e '.[scale]'")
    results: list[FileResult] = []

    def stop_after_two_tracks(result: FileResult) -> None:
        results.append(result)
        if sum(r.error is None for r in results) == 2:
            raise KeyboardInterrupt  # what Ctrl-C or SIGTERM raises in the scanning process

    with Library(tmp_path / "lib") as lib:
        with pytest.raises(KeyboardInterrupt):
            _ray_scan(lib, audio, stop_after_two_tracks)
        assert not ray.is_initialized()
        assert {t.path for t in lib.tracks()} == {r.path for r in results if r.error is None}
        report = lib.scan([audio], workers=1)  # the rest, and no track twice
        assert (report.added, report.unchanged, len(lib.tracks())) == (7, 2, 9)


def _ray_workers_of(pid: int) -> list[int]:
    """The Ray workers below ``pid`` running an analysis now (a local Ray head's raylet starts them;
    Ray's own agents, also named ``ray::...``, are left alone)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            todo.append(child)
            try:
                if (Path("/proc") / str(child) / "cmdline").read_bytes().startswith(b"ray::_analyse"):
                    found.append(child)
            except OSError:
                pass
    return found


def test_tasks_whose_worker_dies_are_retried(tmp_path: Path, audio: Path) -> None:
    pytest.importorskip("ray", reason="Ray is not installed: pip install -e '.[scale]'")
    killed: list[int] = []

    def kill_the_workers_once(result: FileResult) -> None:
        if not killed:
            killed.extend(_ray_workers_of(os.getpid()))
            for pid in killed:
                os.kill(pid, signal.SIGKILL)

    with Library(tmp_path / "lib") as lib:
        report = _ray_scan(lib, audio, kill_the_workers_once)
        assert killed  # the workers analysing the files were there, and were killed
        assert report.added == 9
        assert sorted(Path(f.path).name for f in report.failed) == ["short.wav", "truncated.flac"]
