"""Crash safety: a scan stopped or killed at any moment keeps what it finished, leaves no process behind and
resumes; one scan per library; a scan beside `serve`; a full disk."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from contextlib import closing
from pathlib import Path

import pytest

from synesthete import Library
from synesthete.exceptions import UserError
from synesthete.features.registry import FUSED_VERSIONS
from synesthete.library.catalog import CATALOG_FILE
from synesthete.library.guard import scan_lock

from .test_scan import tone_files
from .test_server import start_server

RESUME = "run the same command again to resume"


def scan_cmd(library: Path, folder: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "synesthete.cli", "--library", str(library), "scan", str(folder), *extra]


def committed(library: Path) -> int:
    try:
        with closing(sqlite3.connect(f"file:{library / CATALOG_FILE}?mode=ro", uri=True, timeout=1)) as conn:
            return conn.execute("SELECT count(*) FROM tracks").fetchone()[0]
    except sqlite3.Error:
        return 0


def alive_in_session(session: int) -> list[str]:
    """Processes of a session that are still running (zombies have ended; only their entry remains)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # state, ppid, pgrp, session, ...
        if int(fields[3]) == session and fields[0] != "Z":
            found.append(f"{entry.name} {stat[: stat.rindex(')') + 1]}")
    return found


def no_process_left(session: int, within: float = 10.0) -> list[str]:
    deadline = time.monotonic() + within
    while (left := alive_in_session(session)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def wait_for(library: Path, tracks: int, proc: subprocess.Popen, within: float = 240.0) -> int:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and proc.poll() is None:
        if (n := committed(library)) >= tracks:
            return n
        time.sleep(0.05)
    return committed(library)


# Enough files that three stops, each a few commits in, cannot reach the end even on a fast idle machine
# (with 16, an idle 2-core machine committed all of them before the third stop).
FILES = 40


@pytest.fixture(scope="module")
def music(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("crash") / "music"
    tone_files(folder, FILES, seconds=6.0)
    return folder


def start_scan(library: Path, music: Path, *extra: str, **kwargs) -> subprocess.Popen:
    """A scan in a session of its own, so the test can find every process it started, with SIGINT as a
    terminal's foreground job has it (default, not blocked), whatever this process inherited."""
    return subprocess.Popen(
        scan_cmd(library, music, *extra), start_new_session=True, preexec_fn=_interruptible, **kwargs
    )


def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def resumes_exactly_once(library: Path, music: Path, kept: int, rng: random.Random) -> None:
    """The next scan adds exactly what was missing; every track once, with all its vectors and one
    fingerprint; identify (the landmark index folded from the catalog) finds tracks from both scans."""
    with Library(library) as lib:
        report = lib.scan([music], workers=1)
        assert report.unchanged == kept and report.added == FILES - kept and not report.failed
        c = lib.catalog.conn
        assert c.execute("SELECT count(*), count(DISTINCT path) FROM tracks").fetchone() == (FILES, FILES)
        per_track = c.execute("SELECT count(*) FROM vectors GROUP BY track_id").fetchall()
        assert len(per_track) == FILES and {n for (n,) in per_track} == {
            len(set(lib.status()["models"]) - set(FUSED_VERSIONS))
        }
        assert c.execute("SELECT count(*), count(DISTINCT track_id) FROM fingerprints").fetchone() == (
            FILES,
            FILES,
        )
        for path in rng.sample(sorted(music.iterdir()), 3):
            found = lib.identify(path)
            assert found is not None and found.track.path == str(path)


def test_stopped_and_killed_at_random_moments_then_resumed(music: Path, tmp_path: Path) -> None:
    """SIGTERM, then SIGKILL twice, each to the main process only (as `kill PID` does) at a random moment:
    no worker nor resource tracker outlives it, SIGTERM says how to resume, and the last scan has every
    track exactly once."""
    library = tmp_path / "lib"
    rng = random.Random(18)
    for sig in (signal.SIGTERM, signal.SIGKILL, signal.SIGKILL):
        before = committed(library)
        proc = start_scan(library, music, "--workers", "2", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_for(library, before + rng.randint(1, 2), proc)
        time.sleep(rng.uniform(0, 0.2))  # anywhere between two commits, or inside one
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        err = err.decode()
        assert not no_process_left(proc.pid), sig
        assert committed(library) < FILES, "the scan finished before it could be stopped"
        if sig == signal.SIGTERM:
            assert proc.returncode == 130
            assert err.count(RESUME) == 1 and "Traceback" not in err, err
    resumes_exactly_once(library, music, committed(library), rng)


def test_ctrl_c_while_the_workers_start(music: Path, tmp_path: Path) -> None:
    """Ctrl-C reaches the whole foreground group, workers too: one line, no KeyboardInterrupt traceback."""
    proc = start_scan(
        tmp_path / "lib", music, "--workers", "2", stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    err = b""
    while f"analysing {FILES} files".encode() not in err and proc.poll() is None:
        err += proc.stderr.read1(4096)
    # the main process may still be starting the workers (SIGINT held meanwhile: when it was ignored
    # instead, a Ctrl-C landing then was lost and the scan ran to the end, rc 0, once in CI)
    time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)
    err = (err + proc.communicate(timeout=60)[1]).decode()
    signals = [line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("Sig")]
    assert proc.returncode == 130 and err.count(RESUME) == 1, (proc.returncode, err, signals)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert "loads the models and compiles the feature code (once per process" in err  # the warm-up, said
    assert not no_process_left(proc.pid)


def test_a_scan_beside_serve_and_a_second_scan_refused(music: Path, tmp_path: Path) -> None:
    """The server keeps answering while a scan writes and sees the new tracks; a second scan of the same
    library refuses at once, naming the first, and corrupts nothing."""
    library = tmp_path / "lib"
    with Library(library) as lib, scan_lock(library), pytest.raises(UserError, match="another scan"):
        lib.scan([music], workers=1)
    server, base = start_server(library)
    try:
        scan = start_scan(
            library, music, "--workers", "1", "--json", stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        wait_for(library, 1, scan)
        assert scan.poll() is None, "the scan ended before the test could look at it"
        os.kill(scan.pid, signal.SIGSTOP)  # paused mid-way: it holds its lock and has written some tracks
        try:
            second = subprocess.run(
                scan_cmd(library, music, "--workers", "1"), capture_output=True, timeout=120
            )
            assert second.returncode == 1
            assert (
                f"another scan of the library {library} is running (process {scan.pid})"
                in second.stderr.decode()
            )
            for _ in range(5):  # the server answers, and sees what the scan has written so far
                with urllib.request.urlopen(base + "/api/status", timeout=10) as r:
                    assert r.status == 200 and json.load(r)["tracks"] >= 1
        finally:
            os.kill(scan.pid, signal.SIGCONT)
        out, err = scan.communicate(timeout=300)
        assert scan.returncode == 0, err.decode()
        assert json.loads(out)["added"] == FILES
        with urllib.request.urlopen(base + "/api/status", timeout=10) as r:
            assert json.load(r)["tracks"] == FILES
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_a_full_disk_stops_the_scan_with_a_clear_error(music: Path, tmp_path: Path) -> None:
    """On a small file system made for the test; the catalog stays intact and the scan resumes elsewhere."""
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {made.stderr.decode().strip()}")
    try:
        library = mount / "lib"
        Library(library).close()
        free = os.statvfs(mount).f_bavail * os.statvfs(mount).f_frsize
        (mount / "filler").write_bytes(b"\0" * (free - 96 * 1024))  # room for a few tracks
        proc = subprocess.run(scan_cmd(library, music, "--workers", "1"), capture_output=True, timeout=300)
        err = proc.stderr.decode()
        assert proc.returncode == 1, err
        assert "the disk is full" in err and "Traceback" not in err, err
        kept = committed(library)
        assert 0 < kept < FILES
        with closing(sqlite3.connect(library / CATALOG_FILE)) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=False)
