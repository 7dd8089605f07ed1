"""Held-out scores of the classic models, which are trained on the very collection they are scored on.

Scoring a model on the groups it learned would flatter it (the genre CNN would be graded on its own
training labels), so the groups are split into folds and, for each fold, the model is trained on the
tracks of the other groups only (their audio and, for ``genre`` and a labelled ``transfer``, their
labels) and then asked about the fold's tracks. Each query's ranking (over every labelled track) comes
from the model that never saw its group; ``ranking_scores`` then scores all the rows together, so the
figures compare with the other models' leave-one-out figures on the same queries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from synesthete.evaluate.scores import ranking_scores
from synesthete.exceptions import UserError

if TYPE_CHECKING:
    from synesthete.api import Library


def group_folds(groups: Mapping[int, str], folds: int, seed: int = 0) -> list[set[str]]:
    """The groups dealt into ``folds`` sets (seeded shuffle, round robin)."""
    names = sorted(set(groups.values()))
    if len(names) < folds or folds < 2:
        raise UserError(f"cross-validation over {folds} folds needs at least {max(folds, 2)} groups")
    order = np.random.default_rng(seed).permutation(len(names))
    return [{names[j] for j in order[i::folds]} for i in range(folds)]


def cross_validated(
    lib: Library,
    kind: str,
    groups: Mapping[int, str],
    *,
    folds: int = 3,
    k: int = 10,
    same: Mapping[int, str] | None = None,
    epochs: int = 10,
    seed: int = 0,
    progress: bool = False,
) -> dict:
    """Scores of classic model ``kind`` with every query answered by a model trained without its group.

    ``same`` (track id -> artist or album) filters as in ``Library.evaluate``. The library's current
    ``kind`` is the last fold's afterwards. Returns ``ranking_scores``'s document plus ``folds`` (the
    groups held out in each).
    """
    ids = sorted(groups)
    labels = [groups[i] for i in ids]
    sim = np.empty((len(ids), len(ids)))
    held_out = group_folds(groups, folds, seed)
    for fold in held_out:
        train = [i for i in ids if groups[i] not in fold]
        lib.train(
            objective=kind,
            epochs=epochs,
            tracks=train,
            labels={i: groups[i] for i in train},
            progress=progress,
        )
        space = lib.space(kind)
        row_of = {int(t): r for r, t in enumerate(space.ids.tolist())}
        if any(i not in row_of for i in ids):
            raise UserError(f"{kind}: some labelled tracks have no vector (they failed to decode?)")
        v = space.vectors[[row_of[i] for i in ids]].astype(np.float64)
        v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        rows = [r for r, i in enumerate(ids) if groups[i] in fold]
        sim[rows] = v[rows] @ v.T
    exclude = None
    if same is not None:
        keys = np.array([same.get(i) or f"\0{i}" for i in ids])  # no key: unique
        exclude = keys[:, None] == keys[None, :]
    return {**ranking_scores(sim, labels, k=k, exclude=exclude), "folds": [sorted(f) for f in held_out]}
