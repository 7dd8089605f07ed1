"""Honest retrieval metrics on labelled collections, and reports with figures."""

from synesthete.evaluate.metrics import retrieval_scores
from synesthete.evaluate.scores import ranking_scores

__all__ = ["ranking_scores", "retrieval_scores"]
