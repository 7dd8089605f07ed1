"""A value several extractors derive from one chunk (musicnn's outputs) is made once per chunk, through
``Spectra.shared``, not by writing into the chunk's cached-property storage."""

from __future__ import annotations

import numpy as np

from synesthete.features.base import Spectra


def test_a_shared_value_is_made_once_per_chunk() -> None:
    calls: list[int] = []

    def make() -> str:
        calls.append(1)
        return f"made {len(calls)}"

    chunk = Spectra(np.zeros(22050, np.float32))
    assert chunk.shared("outputs", make) == chunk.shared("outputs", make) == "made 1"
    assert Spectra(chunk.y).shared("outputs", make) == "made 2"  # another chunk: its own
    assert "outputs" not in vars(chunk)  # not where cached_property keeps the views
