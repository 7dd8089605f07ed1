"""Honest retrieval metrics on labelled collections."""

from synesthete.evaluate.metrics import retrieval_scores

__all__ = ["retrieval_scores"]
