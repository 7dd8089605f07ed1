"""Building a space reads each member straight into one array and lets it go once fused: the same arrays,
bit for bit, as reading every row, stacking them and keeping every member beside the fused array."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synesthete import Library
from synesthete.exceptions import UserError
from synesthete.features.registry import (
    EXTRACTORS,
    FUSED_MODEL,
    FUSED_VERSION,
    FUSION,
    LEARNT_MODEL,
    LEARNT_VERSION,
)
from synesthete.index import normalize
from synesthete.library.store import fill_rows
from synesthete.models import metric
from synesthete.recommend.space import Space


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12)


def _stacked(lib: Library, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A member's vectors as the catalog read them before: every row fetched, then stacked."""
    rows = lib.catalog.conn.execute(
        "SELECT track_id, vector FROM vectors WHERE extractor = ? AND version = ? ORDER BY track_id",
        (name, EXTRACTORS[name].version),
    ).fetchall()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    return ids, np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])


def _reference_fused(spaces: list[Space], weights: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """The fusion as it was computed with every member kept: over the ids all members have."""
    ids = spaces[0].ids
    for s in spaces[1:]:
        ids = ids[np.isin(ids, s.ids)]
    blocks = [
        (normalize(s.vectors[s.rows(ids)].astype(np.float64), dtype=np.float64) * np.sqrt(w)).astype(
            np.float32
        )
        for s, w in zip(spaces, weights, strict=True)
    ]
    return ids, np.hstack(blocks)


def _members(lib: Library) -> tuple[list[Space], list[np.ndarray]]:
    """Each member of ``fused``, built from its rows stacked one by one, and those raw rows."""
    members, raws = [], []
    for name in FUSION:
        ids, raw = _stacked(lib, name)
        read_ids, read = lib.catalog.vectors(name, EXTRACTORS[name].version)
        assert np.array_equal(read_ids, ids) and np.array_equal(read, raw)
        e = EXTRACTORS[name]
        named = {"names": getattr(e, "names", None), "groups": getattr(e, "groups", None)}
        members.append(Space.build(name, e.version, ids, raw.copy(), e.weights, **named))
        raws.append(raw)
    return members, raws


def test_fused_space_is_bit_identical_to_stacked_members(demo_library: Path) -> None:
    with Library(demo_library) as lib:
        members, _ = _members(lib)
        ids, vectors = _reference_fused(members, list(FUSION.values()))
        space = lib._build_space(FUSED_MODEL, FUSED_VERSION)
    assert len(ids) == 120
    assert np.array_equal(space.ids, ids)
    assert space.vectors.dtype == np.float32 and np.array_equal(space.vectors, vectors)
    for attr in ("mean", "scale", "weights", "names", "groups"):
        assert np.array_equal(getattr(space, attr), np.concatenate([getattr(m, attr) for m in members]))
    assert space.members == tuple(FUSION)


def cosine(v: np.ndarray) -> np.ndarray:
    u = normalize(v.astype(np.float64), dtype=np.float64)
    return u @ u.T


def test_learnt_space_stacks_each_member_plain_and_through_its_learnt_metric(demo_library: Path) -> None:
    """``fused-learnt``: each member's standardised vectors at unit length, then the same through the member's
    learnt projection, weighted so that the cosine is the weighted mean of those cosines; an outside
    file's raw vectors land where the track's row is (``transform``)."""
    learnt, share = metric.projections(), metric.LEARNT_SHARE
    with Library(demo_library) as lib:
        members, raws = _members(lib)
        ids = members[0].ids
        space = lib._build_space(LEARNT_MODEL, LEARNT_VERSION)
    blocks = []
    for m, w in zip(members, FUSION.values(), strict=True):
        v = m.vectors.astype(np.float64)
        blocks += [normalize(v, dtype=np.float64) * np.sqrt(w * (1 - share))]
        blocks += [normalize(v @ learnt[m.model], dtype=np.float64) * np.sqrt(w * share)]
    assert len(ids) == 120 and np.array_equal(space.ids, ids)
    assert space.vectors.dtype == np.float32
    np.testing.assert_allclose(space.vectors, np.hstack(blocks), atol=2e-5)
    cosines = [(1 - share) * cosine(m.vectors) + share * cosine(m.vectors @ learnt[m.model]) for m in members]
    weighted = np.average(cosines, axis=0, weights=list(FUSION.values()))
    np.testing.assert_allclose(cosine(space.vectors), weighted, atol=1e-4)
    for attr in ("mean", "scale", "weights"):
        assert np.array_equal(
            getattr(space, attr), np.concatenate([getattr(m, attr) for m in members for _ in "ab"])
        )
    assert space.members == tuple(m for m in FUSION for _ in "ab")
    assert (space.groups == metric.LEARNT_GROUP).sum() == sum(learnt[m].shape[1] for m in FUSION)
    for row in (0, 57, 119):
        outside = space.transform(np.concatenate([r[row] for r in raws for _ in "ab"]))
        np.testing.assert_allclose(outside, space.vectors[row], atol=1e-4)


def test_build_in_place_equals_a_copy(rng: np.random.Generator) -> None:
    raw = rng.normal(3.0, 2.0, (300, 7)).astype(np.float32)
    weights = rng.uniform(0.5, 2.0, 7)
    copied = Space.build("toy", 1, np.arange(300), raw, weights)
    own = raw.copy()
    in_place = Space.build("toy", 1, np.arange(300), own, weights, inplace=True)
    assert in_place.vectors is own
    assert np.array_equal(in_place.vectors, copied.vectors) and not np.array_equal(copied.vectors, raw)


def test_fuse_keeps_only_tracks_every_member_has(rng: np.random.Generator) -> None:
    """Members built one at a time (a generator), the first with tracks another lacks, dropped in place."""
    id_sets = [np.arange(1, 201), np.setdiff1d(np.arange(1, 221), [5, 77, 150]), np.arange(3, 201)]
    dims, weights = [4, 6, 3], [1.0, 0.5, 2.0]
    members = [
        Space.build(f"m{i}", 1, ids, rng.normal(size=(len(ids), d)).astype(np.float32), None)
        for i, (ids, d) in enumerate(zip(id_sets, dims, strict=True))
    ]
    ids, vectors = _reference_fused(members, weights)
    fused = Space.fuse("fused", 1, (m for m in members), weights, dims)
    assert len(ids) == 195
    assert np.array_equal(fused.ids, ids) and np.array_equal(fused.vectors, vectors)
    assert fused.blocks == ((0, 4, 1.0), (4, 10, 0.5), (10, 13, 2.0))


def test_fuse_without_common_tracks_says_what_to_do(rng: np.random.Generator) -> None:
    members = [Space.build(f"m{i}", 1, ids, rng.normal(size=(3, 2)).astype(np.float32), None)
               for i, ids in enumerate([np.arange(1, 4), np.arange(4, 7)])]  # fmt: skip
    with pytest.raises(UserError, match="synesthete scan"):
        Space.fuse("fused", 1, members, [1.0, 1.0], [2, 2])


@pytest.mark.parametrize("capacity", [0, 3, 5, 40])
def test_fill_rows_whatever_the_count(rng: np.random.Generator, capacity: int) -> None:
    """Rows counted too few (a scan added some meanwhile) grow the array; too many are given back."""
    ids = np.arange(10, 23, dtype=np.int64)
    vectors = rng.normal(size=(13, 5)).astype(np.float32)
    chunks = [(ids[a : a + 4], vectors[a : a + 4].tobytes()) for a in range(0, 13, 4)]
    got_ids, got = fill_rows(capacity, chunks)
    assert np.array_equal(got_ids, ids) and np.array_equal(got, vectors)
    none_ids, none = fill_rows(capacity, [])
    assert none_ids.shape == (0,) and none.shape == (0, 0)


def test_a_fused_space_with_a_projected_member_is_saved_and_read_back(
    rng: np.random.Generator, tmp_path: Path
) -> None:
    """A large collection's space is kept on disk: read back, it has the projection an outside file's
    vector goes through, and places that vector where the track's row is."""
    ids = np.arange(1, 301)
    raw = rng.normal(size=(300, 6)).astype(np.float32)
    member = Space.build("m", 1, ids, raw.copy(), None)
    projection = rng.normal(size=(6, 4)).astype(np.float32)
    fused = Space.fuse("fused", 2, iter([member, member.projected(projection, "learnt")]), [0.3, 0.7], [6, 4])
    fused.save(tmp_path, generation=3)
    loaded = Space.load(tmp_path, "fused", 2, generation=3)
    assert loaded is not None and loaded.projections[0] is None
    np.testing.assert_array_equal(loaded.projections[1], projection)
    np.testing.assert_array_equal(loaded.vectors, fused.vectors)
    outside = loaded.transform(np.concatenate([raw[42], raw[42]]))
    np.testing.assert_allclose(outside, fused.vectors[42], atol=1e-5)
