"""Turning the sonic landscape into answers: similar tracks now, playlists as they land."""

from synesthete.recommend.space import Space

__all__ = ["Space"]
