"""Retrieval quality on the demo collection, whose styles are known ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synesthete import Library
from synesthete.evaluate.metrics import retrieval_scores


def test_descriptors_find_the_style_on_the_demo_collection(demo_library: Path) -> None:
    with Library(demo_library) as lib:
        labels = {t.id: t.genre for t in lib.tracks()}
        assert len(set(labels.values())) >= 8
        scores = lib.evaluate(labels, k=10, model="descriptors")
    assert scores["queries"] == 120
    assert scores["precision_at_k"] >= 0.9, scores


def test_metrics_on_a_hand_computed_case() -> None:
    # Items 0,1 are 'a', 2,3 are 'b'. Rankings by similarity (query excluded):
    # 0 -> [1, 2, 3]: AP = 1;  1 -> [2, 0, 3]: AP = 1/2;  2 -> [3, 0, 1]: AP = 1;  3 -> [0, 1, 2]: AP = 1/3.
    sim = np.array(
        [[0, 0.9, 0.5, 0.1], [0.9, 0, 0.95, 0.2], [0.5, 0.95, 0, 0.97], [0.1, 0.2, 0.97, 0]], dtype=float
    )
    sim[1, 0], sim[3, 0], sim[3, 1] = 0.8, 0.99, 0.98  # asymmetric on purpose: rows are queries
    scores = retrieval_scores(sim, ["a", "a", "b", "b"], k=1)
    assert scores["precision_at_k"] == (1 + 0 + 1 + 0) / 4
    assert abs(scores["map"] - (1 + 0.5 + 1 + 1 / 3) / 4) < 1e-12


def test_the_fused_space_is_its_members_combined_and_only_it_is_indexed(demo_library: Path) -> None:
    """Members are read to build the fusion, never searched: building their indexes would be wasted
    (at 10^6 tracks, three HNSW graphs and half the build time)."""
    from synesthete.features.registry import FUSION

    with Library(demo_library) as lib:
        lib.similar(1, k=5)
        fused = lib.space()
        members = [lib.space(m) for m in FUSION]
        assert fused.built_index is not None
        assert all(m.built_index is None for m in members)
        row = fused.rows([7])[0]
        for (start, stop, weight), member in zip(fused.blocks, members, strict=True):
            own = member.vector_of(7).astype(np.float64)
            expected = own / np.linalg.norm(own) * np.sqrt(weight)
            assert np.allclose(fused.vectors[row, start:stop], expected, atol=1e-6)
        assert lib.similar(1, k=5, model="descriptors")  # a member searched on its own gets its index
        assert lib.space("descriptors").built_index is not None
