"""Exact and approximate nearest-neighbour indexes: correctness against brute force, and recall."""

from __future__ import annotations

import numpy as np
import pytest

from synesthete.exceptions import ParameterError
from synesthete.index import ExactIndex, HNSWIndex, QuantizedIndex, VectorIndex, build_index, load_index
from synesthete.index.exact import best_columns

KINDS = [ExactIndex, HNSWIndex, QuantizedIndex]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def clustered(
    rng: np.random.Generator, n: int, d: int, n_clusters: int = 50, spread: float = 1.0
) -> np.ndarray:
    centres = rng.standard_normal((n_clusters, d))
    return (centres[rng.integers(n_clusters, size=n)] + spread * rng.standard_normal((n, d))).astype(
        np.float32
    )


def brute_force(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row positions and scores of the true top-k by cosine, in float64."""
    v = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    scores = q.astype(np.float64) @ v.T.astype(np.float64)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(scores, order, axis=1)


def make(kind: type, ids: np.ndarray, vectors: np.ndarray) -> VectorIndex:
    index = kind(vectors.shape[1])
    index.add(ids, vectors)
    return index


@pytest.mark.parametrize("k", [1, 10, 50])
@pytest.mark.parametrize("n_queries", [1, 7])
def test_exact_matches_brute_force(rng: np.random.Generator, k: int, n_queries: int) -> None:
    vectors = rng.standard_normal((2000, 32)).astype(np.float32)
    ids = rng.permutation(10**6)[:2000].astype(np.int64) - 500_000  # arbitrary, negative too
    queries = rng.standard_normal((n_queries, 32)).astype(np.float32)
    found, scores = make(ExactIndex, ids, vectors).query(queries, k)
    rows, expected = brute_force(vectors, queries, k)
    assert found.shape == scores.shape == (n_queries, k)
    np.testing.assert_array_equal(found, ids[rows])
    np.testing.assert_allclose(scores, expected, atol=1e-5)


@pytest.mark.parametrize(("n", "k"), [(5, 3), (5, 5), (2000, 1), (2000, 21), (20_000, 12), (20_000, 400)])
def test_best_columns_is_a_stable_sort_of_each_row(rng: np.random.Generator, n: int, k: int) -> None:
    """The top k of each row, bounded by chunk maxima or not, in either memory layout: the columns a full
    stable sort gives, ties (many here, at the k-th value too) in column order; a NaN sorts last."""
    scores = np.round(rng.standard_normal((7, n)), 2).astype(np.float32)
    expected = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    np.testing.assert_array_equal(best_columns(scores, k), expected)
    np.testing.assert_array_equal(best_columns(np.asfortranarray(scores), k), expected)
    scores[0, 0] = np.nan
    nan_last = np.argsort(-scores[0], kind="stable")[:k]
    np.testing.assert_array_equal(best_columns(scores, k)[0], nan_last)


@pytest.mark.parametrize("kind", KINDS)
def test_single_query_is_1d_best_first(rng: np.random.Generator, kind: type) -> None:
    vectors = rng.standard_normal((500, 16)).astype(np.float32)
    index = make(kind, np.arange(500), 3.0 * vectors)  # raw, unnormalised vectors
    found, scores = index.query(vectors[42], 5)
    assert found.shape == scores.shape == (5,)
    assert found[0] == 42 and scores[0] == pytest.approx(1.0, abs=1e-5)
    assert np.all(np.diff(scores) <= 0) and np.all(np.abs(scores) <= 1.0)


@pytest.mark.parametrize("kind", KINDS)
def test_farthest_returns_least_similar_ascending(rng: np.random.Generator, kind: type) -> None:
    vectors = rng.standard_normal((1000, 16)).astype(np.float32)
    query = rng.standard_normal(16).astype(np.float32)
    found, scores = make(kind, np.arange(1000), vectors).query(query, 10, farthest=True)
    rows, expected = brute_force(vectors, -query[None, :], 10)
    assert np.all(np.diff(scores) >= 0)
    if kind is ExactIndex:
        np.testing.assert_array_equal(found, rows[0])
        np.testing.assert_allclose(scores, -expected[0], atol=1e-5)
    else:
        assert len(set(found.tolist()) & set(rows[0].tolist())) >= 9


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("farthest", [False, True])
def test_exclude_searches_deeper(rng: np.random.Generator, kind: type, farthest: bool) -> None:
    vectors = rng.standard_normal((1000, 16)).astype(np.float32)
    ids = np.arange(1000, dtype=np.int64) * 7
    index = make(kind, ids, vectors)
    top, _ = index.query(vectors[3], 30, farthest=farthest)
    exclude = {int(i) for i in top[:20]} | {-1, 999_999}  # incl. the nearest itself, and absent ids
    found, _ = index.query(vectors[3], 10, exclude=exclude, farthest=farthest)
    assert len(found) == 10 and not exclude & set(found.tolist())
    np.testing.assert_array_equal(found, top[20:30])


@pytest.mark.parametrize("kind", KINDS)
def test_exclude_almost_everything_still_returns_the_rest(rng: np.random.Generator, kind: type) -> None:
    vectors = rng.standard_normal((300, 8)).astype(np.float32)
    index = make(kind, np.arange(300), vectors)
    found, _ = index.query(vectors[:2], 10, exclude=range(296))
    assert found.shape == (2, 4)
    assert set(found[0].tolist()) == {296, 297, 298, 299}
    assert index.query(vectors[0], 10, exclude=range(300))[0].shape == (0,)


@pytest.mark.parametrize("kind", KINDS)
def test_zero_vectors_give_no_nan(kind: type) -> None:
    vectors = np.zeros((20, 8), dtype=np.float32)
    vectors[10:, 0] = 1.0
    index = make(kind, np.arange(20), vectors)
    for query in (np.zeros(8, np.float32), vectors[15]):
        _, scores = index.query(query, 20)
        assert len(scores) == 20 and np.isfinite(scores).all()
    _, scores = index.query(np.zeros(8, np.float32), 5)
    np.testing.assert_array_equal(scores, 0.0)


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_round_trip(rng: np.random.Generator, tmp_path, kind: type) -> None:
    vectors = rng.standard_normal((800, 24)).astype(np.float32)
    ids = rng.choice(np.iinfo(np.int64).max, size=800, replace=False).astype(np.int64)
    index = make(kind, ids, vectors)
    path = tmp_path / "tracks.index"
    index.save(path)
    for loaded in (kind.load(path), load_index(path)):
        assert type(loaded) is kind and len(loaded) == 800 and loaded.dim == 24
        (ids_a, scores_a), (ids_b, scores_b) = index.query(vectors[:5], 10), loaded.query(vectors[:5], 10)
        np.testing.assert_array_equal(ids_a, ids_b)
        # A quantized index keeps its full vectors in float16 on disk: scores agree to float16's precision.
        np.testing.assert_allclose(scores_a, scores_b, atol=1e-3 if kind is QuantizedIndex else 0)
        assert int(ids[0]) in loaded and 12345 not in loaded


@pytest.mark.parametrize("kind", KINDS)
def test_len_and_contains(rng: np.random.Generator, kind: type) -> None:
    index = kind(4)
    assert len(index) == 0 and 1 not in index
    assert index.query(np.ones(4, np.float32), 5)[0].shape == (0,)
    index.add(np.array([5, 9]), rng.standard_normal((2, 4)))
    index.add(np.array([-3]), rng.standard_normal((1, 4)))
    assert len(index) == 3 and index.dim == 4
    assert 5 in index and -3 in index and np.int64(9) in index and 6 not in index and "x" not in index


def test_exact_re_add_replaces(rng: np.random.Generator) -> None:
    index = make(ExactIndex, np.arange(10), rng.standard_normal((10, 4)))
    index.add(np.array([3]), np.array([[0.0, 0.0, 0.0, 2.0]]))
    assert len(index) == 10
    found, scores = index.query(np.array([0.0, 0.0, 0.0, 1.0]), 1)
    assert found[0] == 3 and scores[0] == pytest.approx(1.0)


def test_hnsw_refuses_re_add(rng: np.random.Generator) -> None:
    index = make(HNSWIndex, np.arange(10), rng.standard_normal((10, 4)))
    with pytest.raises(ParameterError):
        index.add(np.array([3]), rng.standard_normal((1, 4)))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("ids", "vectors"),
    [
        (np.arange(3), np.ones((2, 4))),  # count mismatch
        (np.arange(2), np.ones((2, 5))),  # wrong dim
        (np.array([1, 1]), np.ones((2, 4))),  # duplicate ids
        (np.arange(2), np.full((2, 4), np.nan)),  # not finite
        (np.array([0.5, 1.5]), np.ones((2, 4))),  # float ids
    ],
)
def test_bad_input_is_a_parameter_error(kind: type, ids: np.ndarray, vectors: np.ndarray) -> None:
    index = kind(4)
    with pytest.raises(ParameterError):
        index.add(ids, vectors)


@pytest.mark.parametrize("kind", KINDS)
def test_bad_query_is_a_parameter_error(kind: type) -> None:
    index = make(kind, np.arange(3), np.eye(3, 4, dtype=np.float32))
    with pytest.raises(ParameterError):
        index.query(np.ones(5), 1)
    with pytest.raises(ParameterError):
        index.query(np.ones(4), -1)


@pytest.mark.parametrize(("n", "kind"), [(100, ExactIndex), (101, HNSWIndex)])
def test_build_index_picks_by_size(rng: np.random.Generator, n: int, kind: type) -> None:
    index = build_index(np.arange(n), rng.standard_normal((n, 8)), approximate_above=100)
    assert type(index) is kind and len(index) == n
    assert isinstance(index, VectorIndex)


@pytest.fixture(scope="module")
def recall_case() -> tuple[np.ndarray, np.ndarray, HNSWIndex]:
    """20k clustered 64-d vectors in an HNSW index (built once: the build is the slow part)."""
    rng = np.random.default_rng(7)
    data = clustered(rng, 20_200, 64, n_clusters=140)
    vectors, queries = data[:20_000], data[20_000:]
    index = HNSWIndex(64, threads=1)  # one thread: steady timing on a busy 2-core CI machine
    index.add(np.arange(20_000), vectors)
    return vectors, queries, index


@pytest.mark.parametrize("batch", [False, True])
def test_hnsw_recall_at_10_vs_exact(recall_case: tuple, batch: bool) -> None:
    vectors, queries, index = recall_case
    exact = make(ExactIndex, np.arange(len(vectors)), vectors)
    truth, _ = exact.query(queries, 10)
    if batch:
        found, _ = index.query(queries, 10)
    else:
        found = np.stack([index.query(q, 10)[0] for q in queries])
    recall = np.mean([len(set(f.tolist()) & set(t.tolist())) / 10 for f, t in zip(found, truth, strict=True)])
    assert recall >= 0.95
