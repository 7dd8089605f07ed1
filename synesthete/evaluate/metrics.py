"""Leave-one-out retrieval metrics: each item queries all the others, and shares a label or not."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from synesthete.evaluate.scores import ranking_scores


def retrieval_scores(similarity: np.ndarray, labels: Sequence[str], *, k: int = 10) -> dict[str, float]:
    """precision@k and mean average precision, the query itself excluded.

    ``similarity`` is (n, n), larger meaning closer. Queries whose label no other item shares are
    skipped (they have nothing to find). The full set of scores (nDCG, hubness, filters) is
    ``evaluate.scores.ranking_scores``; this keeps the two figures every benchmark quotes.
    """
    scores = ranking_scores(similarity, labels, k=k)
    return {key: scores[key] for key in ("precision_at_k", "map", "k", "queries")}
