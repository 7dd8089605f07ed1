"""The engine without a library: playlists, journeys, ordering, clusters, explanations and scores are pure
functions of a ``Space`` built from arrays (issue 15: nothing below ``api.py`` needs a ``Library``)."""

from __future__ import annotations

import numpy as np
import pytest

from synesthete.evaluate.crossval import cross_validated
from synesthete.evaluate.scores import same_exclusion, space_scores
from synesthete.exceptions import UserError
from synesthete.index import normalize
from synesthete.library.store import Track
from synesthete.recommend import clusters, explain, journey, playlist
from synesthete.recommend.geometry import Descriptors, unit_vectors
from synesthete.recommend.ordering import path_smoothness, smooth_order
from synesthete.recommend.space import Space

GROUPS = 4
PER_GROUP = 12
DIM = 16


@pytest.fixture(scope="module")
def space() -> Space:
    """Four tight groups of tracks (ids 10, 11, ...) around four random centres."""
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(GROUPS, DIM)) * 4
    raw = np.concatenate([c + rng.normal(size=(PER_GROUP, DIM)) * 0.3 for c in centres])
    ids = np.arange(10, 10 + len(raw), dtype=np.int64)
    return Space.build("toy", 1, ids, raw, None)


def group_of(track_id: int) -> int:
    return (track_id - 10) // PER_GROUP


def test_a_missing_vector_is_one_error_saying_what_to_do(space: Space) -> None:
    with pytest.raises(UserError, match="track 5 has no 'toy' vector: run `synesthete scan` again"):
        space.row(5)
    with pytest.raises(UserError, match="track 5 has no 'toy' vector"):
        space.vector_of(5)
    assert space.row(12) == 2


def test_normalize_gives_unit_rows_in_the_asked_precision() -> None:
    v = np.array([[3.0, 4.0], [0.0, 0.0]])
    assert normalize(v).dtype == np.float32
    out = normalize(v, dtype=np.float64)
    assert out.dtype == np.float64 and np.allclose(out, [[0.6, 0.8], [0.0, 0.0]])
    assert np.allclose(normalize(np.array([0.0, 2.0])), [0.0, 1.0])  # one vector too


def test_smooth_order_walks_a_circle_round_not_across() -> None:
    angles = np.linspace(0, np.pi, 9)  # a half circle: the smooth path follows it end to end
    u = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    shuffled = np.random.default_rng(0).permutation(len(u))
    path = smooth_order(u[shuffled], start=int(np.flatnonzero(shuffled == 0)[0]))
    assert shuffled[path].tolist() == list(range(len(u)))
    jumbled = path_smoothness(u[shuffled])
    smooth = path_smoothness(u[shuffled][path])
    assert smooth["max_step"] < jumbled["max_step"] and smooth["mean_step"] < jumbled["mean_step"]


def test_a_journey_goes_from_one_group_to_another_in_distinct_steps(space: Space) -> None:
    picks = journey.journey(space, 10, 10 + 3 * PER_GROUP, 8)
    assert picks.ids[0] == 10 and picks.ids[-1] == 10 + 3 * PER_GROUP
    assert len(set(picks.ids)) == 8 and picks.scores[0] is None
    assert picks.info["smoothness"]["max_step"] <= picks.info["baselines"]["random_path"]["max_step"]


def test_a_drift_raises_the_descriptor_at_every_step(space: Space) -> None:
    table = Descriptors.of(space, [f"d{i}" for i in range(DIM)], ["timbre"] * DIM)
    picks = journey.drift(space, table, 10, "d0 up", 6)
    values = picks.info["values"]["d0"]
    assert picks.ids[0] == 10 and len(picks.ids) == len(values) >= 2
    assert (np.diff(values) > 0).all()


def test_clusters_find_the_groups_and_keep_the_tracks_given(space: Space) -> None:
    tracks = {int(i): Track(int(i), f"/m/g{group_of(int(i))}/{i}.flac") for i in space.ids}
    found = clusters.clusters(space, tracks, GROUPS)
    assert found.model == "toy-v1" and len(found) == GROUPS
    for cluster in found:
        assert len({group_of(t.id) for t in cluster.tracks}) == 1  # each cluster one group
        assert cluster.genres == [f"g{group_of(cluster.tracks[0].id)}"]  # untagged: named by its folder
    assert clusters.clusters(space, tracks).k == GROUPS  # chosen by silhouette


def test_order_and_explain_need_only_the_space(space: Space) -> None:
    u = unit_vectors(space)
    ids = [10, 10 + PER_GROUP, 11, 11 + PER_GROUP]
    seeds = playlist.Seeds([Track(i, f"/m/{i}") for i in ids], [], u[space.rows(ids)])
    picks = playlist.order(seeds, start=10)
    assert picks.ids[0] == 10 and {group_of(i) for i in picks.ids[:2]} == {0}  # same group next
    with pytest.raises(UserError, match="not among the tracks"):
        playlist.order(seeds, start=99)
    query = explain.Query(space.vector_of(10), None, {"track_id": 10})
    near, far = explain.explain(space, query, [Track(11, "/m/11"), Track(10 + PER_GROUP, "/m/x")])
    assert near.score > far.score and near.groups[0]["group"] == "toy"
    assert np.isclose(sum(g["contribution"] for g in near.groups), near.score, atol=1e-4)


def test_scores_from_a_space_and_a_filter(space: Space) -> None:
    labels = {int(i): f"g{group_of(int(i))}" for i in space.ids}
    doc = space_scores(space, labels, k=5)
    assert doc["model"] == "toy-v1" and doc["precision_at_k"] == 1.0
    same = {i: f"artist:{i % 2}" for i in labels}  # half of each group shares the query's "artist"
    mask = same_exclusion(list(labels), same)
    assert mask[0, 2] and not mask[0, 1]
    filtered = space_scores(space, labels, k=5, same=same)
    assert filtered["queries"] == len(labels) and filtered["precision_at_k"] == 1.0
    with pytest.raises(UserError, match="fewer than two"):
        space_scores(space, {10: "g0"})


def test_cross_validation_trains_once_per_fold_without_its_groups(space: Space) -> None:
    labels = {int(i): f"g{group_of(int(i))}" for i in space.ids}
    seen: list[set[str]] = []

    def train(tracks) -> Space:
        seen.append({labels[i] for i in tracks})
        return space  # a model that needs no training: the held-out scores equal leave-one-out's

    doc = cross_validated(labels, train, folds=2, k=5)
    assert len(seen) == 2 and all(len(s) == GROUPS // 2 for s in seen)
    assert [sorted(set(labels.values()) - s) for s in seen] == doc["folds"]
    assert doc["precision_at_k"] == space_scores(space, labels, k=5)["precision_at_k"]
