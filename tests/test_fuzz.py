"""Fuzzing the decoder (``bench/fuzz_decode.py``) for 30 s, and every offender it ever found, kept."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from synesthete.audio.decode import iter_chunks
from synesthete.exceptions import AudioError

from .conftest import DATA

BENCH = Path(__file__).resolve().parents[1] / "bench" / "fuzz_decode.py"


def load_fuzzer():
    spec = importlib.util.spec_from_file_location("fuzz_decode", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", sorted(p.name for p in (DATA / "fuzz").iterdir()))
def test_offenders_decode_or_fail_cleanly(name: str) -> None:
    """Each once raised something other than an AudioError (an AttributeError, a UnicodeDecodeError) or
    crashed the process (AAC decoded on past a frame that did not decode)."""
    try:
        chunks = list(iter_chunks(DATA / "fuzz" / name))
    except AudioError as e:
        assert e.path.endswith(name) and len(e.reason) > 10
    else:
        assert sum(c.size for c in chunks) > 0


def test_thirty_seconds_of_fuzzing_find_no_crash_hang_or_uncaught_error(tmp_path: Path) -> None:
    counts = load_fuzzer().fuzz(30.0, tmp_path / "offenders", seed=18, quiet=True)
    offenders = sorted(p.name for p in (tmp_path / "offenders").glob("*"))
    assert counts["tried"] >= 50
    assert counts["analysed"] > 0 and counts["clean error"] > 0  # the mutants reach both sides
    assert counts["uncaught"] == counts["crash"] == counts["hang"] == counts["memory"] == 0, offenders
