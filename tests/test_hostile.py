"""One scan of the hostile-file corpus (``tests/hostile.py``) beside good music: no crash, no hang,
every file analysed or recorded with its reason, memory bounded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from synesthete.audio.decode import iter_chunks
from synesthete.library.guard import MEMORY_CAP

from .hostile import ANY, OK, Rewriter, make_corpus

PEAK_MB = 1200  # the largest process of the scan: ~510 MB measured, the models most of it (a 34-Hz WAV
# once took 2.3 GB)
# Runs a command and prints, last on stderr, the peak memory (KB) of the largest process below it.
PEAK = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]);"
    " print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)"
)


def unprivileged(cmd: list[str]) -> list[str]:
    """Root reads everything: drop the capabilities that let it, so permissions are tested for real."""
    if os.geteuid() != 0:
        return cmd
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", *cmd]


def test_one_scan_of_the_hostile_corpus(tmp_path: Path) -> None:
    folder = tmp_path / "music"
    expect = make_corpus(folder)
    assert len(expect) >= 40
    cmd = [sys.executable, "-m", "synesthete.cli", "--library", str(tmp_path / "lib"), "scan", str(folder)]
    env = {**os.environ, "SYNESTHETE_FILE_SECONDS": "60"}
    with Rewriter(folder / "rewritten.wav"):
        proc = subprocess.run(
            [sys.executable, "-c", PEAK, *unprivileged([*cmd, "--json", "--workers", "2"])],
            capture_output=True,
            env=env,
            timeout=600,
        )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    assert b"Traceback" not in proc.stderr, proc.stderr.decode(errors="replace")[-3000:]
    assert b"resync" not in proc.stderr  # libmpg123's chatter on garbled.mp3 went to the library's log
    assert "resync" in (tmp_path / "lib" / "logs" / "decoders.log").read_text(errors="replace")
    peak_mb = int(proc.stderr.splitlines()[-1]) / 1024
    assert 100 < peak_mb < PEAK_MB
    status = json.loads(
        subprocess.run(
            [sys.executable, "-m", "synesthete.cli", "--library", str(tmp_path / "lib"), "status", "--json"],
            capture_output=True,
            check=True,
        ).stdout
    )
    reasons = {Path(f["path"]).name: f["reason"] for f in status["failed"]}
    analysed = {
        Path(t["path"]).name
        for t in json.loads(
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "synesthete.cli",
                    "--library",
                    str(tmp_path / "lib"),
                    "tracks",
                    "--json",
                ],
                capture_output=True,
                check=True,
            ).stdout
        )["tracks"]
    }
    listing = subprocess.run(
        [sys.executable, "-m", "synesthete.cli", "--library", str(tmp_path / "lib"), "tracks"],
        capture_output=True,
        check=True,
    ).stdout
    assert (
        b"caf\\udce9-latin1.flac" in listing
    )  # a name that is not UTF-8 prints, escaped, instead of crashing
    wrong = {}
    for name, expectation in expect.items():
        if expectation == OK:
            if name not in analysed:
                wrong[name] = reasons.get(name, "neither analysed nor recorded")
        elif name not in reasons and not (expectation == ANY and name in analysed):
            wrong[name] = "neither analysed nor recorded" if name not in analysed else "analysed"
        elif expectation != ANY and expectation not in reasons[name]:
            wrong[name] = reasons[name]
    assert not wrong, wrong
    assert all(len(r) > 10 and "internal error" not in r for r in reasons.values()), reasons


def test_a_low_rate_file_is_decoded_in_bounded_chunks(tmp_path: Path) -> None:
    """2 kHz upsamples 11-fold: every chunk stays within the bound instead of one per incoming block."""
    import numpy as np
    import soundfile as sf

    path = tmp_path / "low.wav"
    t = np.arange(2000 * 200) / 2000
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 2000)
    sizes = [c.size for c in iter_chunks(path, chunk_seconds=30.0)]
    assert sum(sizes) > 199 * 22050
    assert max(sizes) <= (30.0 + 30.0) * 22050 + 4096
    assert len(sizes) >= 6


def test_a_file_over_the_time_or_memory_cap_is_given_up_with_that_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np
    import soundfile as sf

    from synesthete.library.scan import Job, analyse_job

    def job(seconds: int) -> Job:
        path = tmp_path / f"noise{seconds}.flac"
        noise = np.random.default_rng(0).standard_normal(22050 * seconds).astype(np.float32) * 0.1
        sf.write(path, noise, 22050)
        return Job(str(path), 0, 0.0, None, ("descriptors",), False)

    short, long = job(3), job(600)  # 10 minutes: ~0.35 s of analysis here, 7x the cap (60 s took 0.04 s)
    monkeypatch.setenv("SYNESTHETE_FILE_SECONDS", "0.05")
    assert analyse_job(long).error == "gave up after 0.05 s: decoding or analysis did not finish"
    monkeypatch.delenv("SYNESTHETE_FILE_SECONDS")
    assert analyse_job(long).error is None  # the cap is lifted after each file
    # Memory, in a fresh process: this one's heap may already hold room for anything, freed by other tests.
    script = (
        "import sys; from synesthete.library import guard; from synesthete.library.scan import Job, analyse_job;"
        " job = lambda p: Job(p, 0, 0.0, None, ('descriptors',), False);"
        " assert analyse_job(job(sys.argv[1])).error is None;"  # every library loaded before the cap
        " guard.MEMORY_CAP = 1 << 20; print(analyse_job(job(sys.argv[2])).error)"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, short.path, long.path], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"needs more than {MEMORY_CAP / 2**30:g} GB of memory to analyse"
