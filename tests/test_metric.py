"""The learnt metric of ``fused``: what it learns from labelled tracks, and the shipped one's fit."""

from __future__ import annotations

import numpy as np

from synesthete.features.registry import EXTRACTORS
from synesthete.index import normalize
from synesthete.models import metric


def _precision_at_10(v: np.ndarray, groups: np.ndarray) -> float:
    u = normalize(v.astype(np.float64), dtype=np.float64)
    s = u @ u.T
    np.fill_diagonal(s, -np.inf)
    top = np.argsort(-s, axis=1)[:, :10]
    return float((groups[top] == groups[:, None]).mean())


def test_the_learnt_metric_finds_the_directions_that_tell_sources_apart() -> None:
    """Sources that differ along a few dimensions, under what varies within every source and moves all
    dimensions together (loudness, brightness: z-scoring each dimension cannot undo that): plain cosine
    barely finds a source's other tracks, the learnt projection finds most, and on sources it never saw
    (the metric is of the space, not of the tracks)."""

    def tracks(n_sources: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        r = np.random.default_rng(seed)
        groups = np.repeat(np.arange(n_sources), 15)
        out = {}
        for m in metric.MEMBERS:
            dim = EXTRACTORS[m].dim
            loadings = np.random.default_rng(len(m)).normal(0, 1.0, (3, dim))  # the same for every source
            v = r.normal(0, 3.0, (len(groups), 3)) @ loadings + r.normal(0, 0.5, (len(groups), dim))
            v[:, :8] += r.normal(0, 2.0, (n_sources, 8))[groups]  # what tells sources apart
            out[m] = v
        return out, groups.astype(str)

    train, train_groups = tracks(40, 1)
    learnt = metric.fit(train, train_groups)
    new, new_groups = tracks(8, 2)
    for m in metric.MEMBERS:
        assert learnt[m].shape[0] == EXTRACTORS[m].dim
        z = metric.standardised(new[m], EXTRACTORS[m].weights)
        plain, projected = _precision_at_10(z, new_groups), _precision_at_10(z @ learnt[m], new_groups)
        assert projected > max(0.5, plain + 0.2), (m, plain, projected)


def test_the_shipped_metric_fits_the_extractors_it_was_learnt_on() -> None:
    learnt = metric.projections()
    assert set(learnt) == set(metric.MEMBERS)
    for m, p in learnt.items():
        assert p.shape[0] == EXTRACTORS[m].dim and np.isfinite(p).all()
