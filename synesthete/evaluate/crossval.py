"""Held-out scores of the classic models, which are trained on the very collection they are scored on.

Scoring a model on the groups it learned would flatter it (the genre CNN would be graded on its own
training labels), so the groups are split into folds and, for each fold, the model is trained on the
tracks of the other groups only (their audio and, for ``genre`` and a labelled ``transfer``, their
labels) and then asked about the fold's tracks. Each query's ranking (over every labelled track) comes
from the model that never saw its group; ``ranking_scores`` then scores all the rows together, so the
figures compare with the other models' leave-one-out figures on the same queries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from synesthete.evaluate.scores import ranking_scores, same_exclusion
from synesthete.exceptions import UserError
from synesthete.index import normalize
from synesthete.recommend.space import Space


def group_folds(groups: Mapping[int, str], folds: int, seed: int = 0) -> list[set[str]]:
    """The groups dealt into ``folds`` sets (seeded shuffle, round robin)."""
    names = sorted(set(groups.values()))
    if len(names) < folds or folds < 2:
        raise UserError(f"cross-validation over {folds} folds needs at least {max(folds, 2)} groups")
    order = np.random.default_rng(seed).permutation(len(names))
    return [{names[j] for j in order[i::folds]} for i in range(folds)]


def cross_validated(
    groups: Mapping[int, str],
    train: Callable[[Sequence[int]], Space],
    *,
    folds: int = 3,
    k: int = 10,
    same: Mapping[int, str] | None = None,
    seed: int = 0,
) -> dict:
    """Scores of a model with every query answered by a model trained without its group.

    ``train(track_ids)`` trains the model on those tracks (and their groups) and returns its space.
    ``same`` (track id -> artist or album) filters as in ``space_scores``. Returns ``ranking_scores``'s
    document plus ``folds`` (the groups held out in each).
    """
    ids = sorted(groups)
    labels = [groups[i] for i in ids]
    sim = np.empty((len(ids), len(ids)))
    held_out = group_folds(groups, folds, seed)
    for fold in held_out:
        space = train([i for i in ids if groups[i] not in fold])
        rows = space.rows(ids)
        if (rows < 0).any():
            raise UserError(f"{space.model}: some labelled tracks have no vector (they failed to decode?)")
        v = normalize(space.vectors[rows], dtype=np.float64)
        queries = [r for r, i in enumerate(ids) if groups[i] in fold]
        sim[queries] = v[queries] @ v.T
    exclude = same_exclusion(ids, same)
    return {**ranking_scores(sim, labels, k=k, exclude=exclude), "folds": [sorted(f) for f in held_out]}
