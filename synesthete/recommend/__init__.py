"""Turning the sonic landscape into answers: pure functions over a ``Space`` (playlists, journeys and
drifts, ordering, clusters, explanations, near-duplicates), given what they need and returning ids,
scores and documents; ``Library`` resolves the seeds and turns ids into tracks (``service/``)."""

from synesthete.recommend.space import Space

__all__ = ["Space"]
