"""Pinned vectors: the handcrafted extractors' output for one generated signal, against committed numbers.

Stored vectors are only comparable if they were made by the same code, which is what an extractor's
``version`` promises: a change of output without a version bump would mix incompatible vectors in a
library. This test fails on such a change. After a deliberate change, bump the extractor's version and
regenerate the numbers (the test then checks the new version against them):

    .venv/bin/python -m tests.test_pinned_descriptors --regenerate

Only the deterministic pure-numpy extractors are pinned (``descriptors``, ``seed498``); the networks'
outputs are pinned elsewhere (``tests/test_musicnn.py``) or depend on a trained checkpoint.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from synesthete.features import extract, get
from synesthete.features.base import SR

PINNED = Path(__file__).parent / "data" / "pinned_descriptors.json"
EXTRACTORS = ("descriptors", "seed498")
RTOL = ATOL = 1e-4  # float32 FFTs differ by ~1e-6 across machines; any real change moves values far more
CHANGED = "descriptor output changed: bump the extractor's version and regenerate"
REGENERATE = "python -m tests.test_pinned_descriptors --regenerate"


def signal(seconds: float = 12.0) -> np.ndarray:
    """A fixed piece of music: C major chords (I-IV-V-I, 2 s each, harmonics), a 100 BPM click track
    and a little seeded noise, at about -6 dBFS peak. Everything the four descriptor groups read."""
    t = np.arange(int(seconds * SR)) / SR
    y = np.zeros_like(t)
    chords = ((60, 64, 67), (65, 69, 72), (67, 71, 74), (60, 64, 67))
    for i, chord in enumerate(chords * int(np.ceil(seconds / 8))):
        on = (t >= 2.0 * i) & (t < 2.0 * (i + 1))
        for midi in chord:
            f = 440.0 * 2 ** ((midi - 69) / 12)
            y[on] += sum(np.sin(2 * np.pi * h * f * t[on]) / h**1.5 for h in (1, 2, 3, 4))
    y *= 0.1
    click = np.exp(-np.arange(int(0.02 * SR)) / (0.003 * SR)) * np.sin(2 * np.pi * 2000 * t[: int(0.02 * SR)])
    for start in np.arange(0.0, seconds - 0.05, 60.0 / 100):
        i = round(start * SR)
        y[i : i + click.size] += 0.5 * click
    y += 0.01 * np.random.default_rng(498).standard_normal(t.size)
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def compute() -> dict:
    y = signal()
    return {
        name: {"version": get(name).version, "vector": [float(v) for v in extract(get(name), y)]}
        for name in EXTRACTORS
    }


@pytest.fixture(scope="module")
def pinned() -> dict:
    return json.loads(PINNED.read_text())


@pytest.fixture(scope="module")
def computed() -> dict:
    return compute()


@pytest.mark.parametrize("name", EXTRACTORS)
def test_output_is_pinned_for_its_version(name: str, pinned: dict, computed: dict) -> None:
    want, got = pinned[name], computed[name]
    assert got["version"] == want["version"], (
        f"{name} is version {got['version']}, the pinned numbers are of version {want['version']}: "
        f"regenerate them ({REGENERATE})"
    )
    a, b = np.array(got["vector"]), np.array(want["vector"])
    assert a.shape == b.shape, f"{CHANGED} ({REGENERATE}); {name}: dim {b.size} -> {a.size}"
    off = np.flatnonzero(~np.isclose(a, b, rtol=RTOL, atol=ATOL))
    names = getattr(get(name), "names", None)
    detail = ", ".join(f"{names[i] if names is not None else i}: {b[i]:.6g} -> {a[i]:.6g}" for i in off[:5])
    assert off.size == 0, f"{CHANGED} ({REGENERATE}); {name}, {off.size} dimensions: {detail}"


def test_the_pinned_signal_is_reproducible() -> None:
    """The signal itself is generated, so it must not change under the pinned numbers."""
    y = signal()
    assert y.shape == (12 * SR,) and y.dtype == np.float32
    assert np.array_equal(y, signal())


if __name__ == "__main__":
    if sys.argv[1:] != ["--regenerate"]:
        sys.exit("usage: python -m tests.test_pinned_descriptors --regenerate")
    PINNED.write_text(json.dumps(compute(), indent=1) + "\n")
    print(f"wrote {PINNED}")
