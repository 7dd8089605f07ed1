"""The quantized index (inverted lists of 8-bit codes, exact re-rank on memory-mapped vectors) and the
spaces that use it.

The generic index behaviour (exclusion, farthest, zero vectors, bad input, save/load) is tested for every
kind in test_index.py; here: what is particular to this kind, at sizes a test can build.
"""

from __future__ import annotations

import faiss
import numpy as np
import pytest

import synesthete.index as index_module
from synesthete.index import ExactIndex, HNSWIndex, QuantizedIndex, build_index, load_index
from synesthete.recommend.space import Space


def low_rank(n: int, d: int, rank: int, clusters: int, seed: int) -> np.ndarray:
    """Clustered vectors in ``d`` dimensions that vary along ``rank`` directions, plus a little noise in
    all of them: like a music space, whose hundreds of descriptors are strongly correlated."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, rank))
    latent = centres[rng.integers(clusters, size=n)] + 0.6 * rng.standard_normal((n, rank))
    mixing = rng.standard_normal((rank, d))
    return (latent @ mixing + 0.3 * rng.standard_normal((n, d))).astype(np.float32)


@pytest.fixture(scope="module")
def case() -> tuple[np.ndarray, np.ndarray, QuantizedIndex]:
    """6,000 vectors of 300-d (rank 40) and a quantized index over them (60 lists), built once."""
    vectors = low_rank(6_000, 300, 40, 30, seed=3)
    ids = np.arange(6_000, dtype=np.int64) * 7 + 11  # not row numbers
    index = QuantizedIndex(300, threads=1)
    index.add(ids, vectors)
    return ids, vectors, index


def recall_at_10(found: np.ndarray, truth: np.ndarray) -> float:
    return float(
        np.mean([len(set(f.tolist()) & set(t.tolist())) / 10 for f, t in zip(found, truth, strict=True)])
    )


def test_top_10_as_exact_search_within_a_recall_bound(case: tuple) -> None:
    ids, vectors, index = case
    exact = ExactIndex(300)
    exact.add(ids, vectors)
    queries = vectors[::150]  # 40 tracks of the collection, as `similar` asks
    truth, truth_scores = exact.query(queries, 10)
    found, scores = index.query(queries, 10)
    assert recall_at_10(found, truth) >= 0.95
    # the scores are exact cosines on the full vectors (re-ranked), not the 8-bit codes' approximation
    same = found == truth
    np.testing.assert_allclose(scores[same], truth_scores[same], atol=1e-5)


def test_one_list_misses_neighbours_the_probed_lists_find(case: tuple) -> None:
    """The lists are what make it approximate: scanning one list loses neighbours that lie across a list
    boundary, which the default number of probed lists finds."""
    ids, vectors, index = case
    exact = ExactIndex(300)
    exact.add(ids, vectors)
    queries = vectors[::150]
    truth, _ = exact.query(queries, 10)
    default = recall_at_10(index.query(queries, 10)[0], truth)
    index.probe = 1
    try:
        narrow = recall_at_10(index.query(queries, 10)[0], truth)
    finally:
        index.probe = QuantizedIndex(300).probe
    assert narrow < default


def test_saved_vectors_are_memory_mapped_float16(case: tuple, tmp_path) -> None:
    ids, vectors, index = case
    path = tmp_path / "space.faiss"
    index.save(path)
    loaded = load_index(path)
    assert isinstance(loaded, QuantizedIndex)
    assert isinstance(loaded.vectors, np.memmap) and loaded.vectors.dtype == np.float16
    assert isinstance(faiss.downcast_InvertedLists(loaded._ivf.invlists), faiss.OnDiskInvertedLists)  # mapped
    assert loaded.vectors.filename is not None and loaded.vectors.shape == (6_000, 300)
    np.testing.assert_array_equal(loaded.ids, ids)
    np.testing.assert_allclose(loaded.vectors, vectors, rtol=1e-3, atol=1e-3)
    before, after = index.query(vectors[:20], 10), loaded.query(vectors[:20], 10)
    assert recall_at_10(after[0], before[0]) >= 0.98  # float16 may swap a near tie, nothing more
    # a query reads rows of the file: the vectors in the file are what it scores
    loaded.vectors.flush()
    with open(f"{path}.vectors.npy", "r+b") as f:
        f.seek(-300 * 2, 2)  # the last row, float16
        f.write(np.zeros(300, np.float16).tobytes())
    reread = load_index(path)
    last = int(ids[-1])
    assert last not in reread.query(vectors[-1], 10)[0][:1]  # its vector is now zero: cosine 0 with all


def test_a_mapped_space_measures_group_lengths_of_the_rows_asked_for_only(case: tuple, tmp_path) -> None:
    """Near-duplicate removal's row lengths over a group's columns: on a space mapped from its file they
    are the lengths ``row_norms`` gives, measured row by row as asked (not the whole file at once)."""
    from synesthete.index.base import row_norms

    ids, vectors, _ = case
    dim = vectors.shape[1]
    groups = np.where(np.arange(dim) % 3 == 0, "tonal", "timbre")
    space = Space("g", 1, ids, vectors.copy(), np.zeros(dim), np.ones(dim), np.ones(dim), None, groups=groups)
    space.built_index = QuantizedIndex(dim, threads=1)
    space.built_index.add(ids, space.vectors)
    space.save(tmp_path, generation=1)
    loaded = Space.load(tmp_path, "g", 1, generation=1)
    assert loaded is not None and loaded.group_norms("rhythm") is None
    columns, norms = loaded.group_norms("tonal")
    rows = np.array([5, 4_000, 5, 17])
    expected = row_norms(np.asarray(loaded.vectors[rows][:, columns], dtype=np.float32))
    np.testing.assert_array_equal(norms[rows], expected)
    assert np.isnan(norms._known).sum() == len(ids) - 3  # three rows measured, the rest never read
    np.testing.assert_array_equal(norms[rows[::-1]], expected[::-1])  # kept: the same again


def test_build_index_quantizes_past_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    vectors = low_rank(3_000, 300, 20, 10, seed=5)
    ids = np.arange(3_000)
    monkeypatch.setattr(index_module, "QUANTIZE_VALUES", 3_000 * 300 - 1)
    assert type(build_index(ids, vectors, approximate_above=1_000)) is QuantizedIndex
    assert type(build_index(ids[:2_000], vectors[:2_000], approximate_above=1_000)) is HNSWIndex
    assert type(build_index(ids, vectors)) is ExactIndex  # under the exact limit: exact, as before
    narrow = low_rank(3_000, 200, 20, 10, seed=5)  # not wider than QUANTIZE_WIDER: a graph
    monkeypatch.setattr(index_module, "QUANTIZE_VALUES", 1)
    assert type(build_index(ids, narrow, approximate_above=1_000)) is HNSWIndex


def test_space_saved_with_a_quantized_index_loads_memory_mapped(case: tuple, tmp_path) -> None:
    ids, vectors, _ = case
    dim = vectors.shape[1]
    space = Space("synthetic", 1, ids, vectors.copy(), np.zeros(dim), np.ones(dim), np.ones(dim), None)
    space.built_index = QuantizedIndex(dim, threads=1)
    space.built_index.add(ids, space.vectors)
    answers = space.search(vectors[:10], 11)
    space.save(tmp_path, generation=4)
    assert isinstance(space.vectors, np.memmap)  # the saving process too reads the file from now on
    assert Space.load(tmp_path, "synthetic", 1, generation=5) is None  # another generation: rebuild
    loaded = Space.load(tmp_path, "synthetic", 1, generation=4)
    assert loaded is not None and loaded.quantized
    assert isinstance(loaded.vectors, np.memmap) and loaded.vectors.dtype == np.float16
    np.testing.assert_array_equal(loaded.ids, ids)
    again = loaded.search(vectors[:10], 11)
    assert recall_at_10(again[0][:, :10], answers[0][:, :10]) >= 0.98
    # 'least similar' searches the lists nearest the negated query: no exact copy of the space is made
    far, far_scores = loaded.search(vectors[0], 10, dissimilar=True)
    assert loaded._exact is None
    exact = ExactIndex(dim)
    exact.add(ids, vectors)
    true_far, true_scores = exact.query(vectors[0], 10, farthest=True)
    assert np.all(np.diff(far_scores) >= 0) and far_scores[0] <= true_scores[-1] + 0.05
    assert len(set(far.tolist()) & set(true_far.tolist())) >= 5


def test_a_library_past_the_budget_answers_from_a_saved_memory_mapped_quantized_space(
    demo_library, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real path at a test's size: ``Library.space`` builds the default (fused, 956-d) space, picks
    the quantized index when the budgets say so, saves it, and a fresh ``Library`` loads it mapped."""
    import shutil

    from synesthete import Library
    from synesthete import api as api_module

    folder = tmp_path / "library"
    shutil.copytree(demo_library, folder)
    with Library(folder) as lib:
        track = lib.tracks()[7].id
        exact = [m.track.id for m in lib.similar(track, k=5)]
        least = [m.track.id for m in lib.similar(track, k=5, dissimilar=True)]
    monkeypatch.setattr(index_module, "EXACT_VALUES", 1)  # 120 tracks x 956 stand for 10^6 x 956
    monkeypatch.setattr(index_module, "QUANTIZE_VALUES", 1)
    monkeypatch.setattr(api_module, "PERSIST_SPACE_ABOVE", 1)
    saved = []
    for _ in range(2):  # the library that builds and saves the space, then a fresh one that loads it
        with Library(folder) as lib:
            found = lib.similar(track, k=5)
            space = lib.space()
            assert space.quantized and isinstance(space.vectors, np.memmap)
            assert [m.track.id for m in found] == exact  # one list of 120: the re-rank sees every track
            assert [m.track.id for m in lib.similar(track, k=5, dissimilar=True)] == least
        saved.append({p.name: p.stat().st_mtime_ns for p in (folder / "index").iterdir()})
    assert any(name.endswith(".faiss.vectors.npy") for name in saved[0])
    assert saved[1] == saved[0]  # the fresh library loaded the saved space: nothing was written again


def test_playlists_on_a_quantized_space_read_rows_and_answer_as_the_exact_space(
    demo_library, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Journeys (with their baselines), drifts, clusters and radio on spaces searched by the quantized
    index (10^6 wide tracks; here the demo's 120 under lowered budgets) read the rows of their candidates
    instead of an exact copy of every vector, and answer as on the exact spaces: at this size the index's
    candidates hold every track those answers need."""
    import shutil

    from synesthete import Library

    folder = tmp_path / "library"
    shutil.copytree(demo_library, folder)

    def answers(lib: Library) -> dict:
        ids = [t.id for t in lib.tracks()]
        trip = lib.journey(ids[3], ids[100], n=8)
        drift = lib.drift(ids[40], "calmer", n=6)
        groups = lib.clusters(4)
        return {
            "journey": ([t.id for t in trip], trip.info),
            "drift": ([t.id for t in drift], drift.info["monotone_share"], drift.info["values"]),
            "clusters": [(c.name, [t.id for t in c.tracks]) for c in groups],
            "radio": [t.id for t in lib.radio([ids[7], ids[70]], n=10)],
        }

    with Library(folder) as lib:
        exact = answers(lib)
    monkeypatch.setattr(index_module, "EXACT_VALUES", 1)  # 120 tracks x 956 stand for 10^6 x 956
    monkeypatch.setattr(index_module, "QUANTIZE_VALUES", 1)
    with Library(folder) as lib:
        assert answers(lib) == exact
        assert lib.space().quantized
        assert lib.space()._exact is None and lib.space("descriptors")._exact is None  # no exact copy
