"""``analyze(path)``: decode a file once and run every extractor on the same chunks and spectrogram."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from synesthete.audio import SR, iter_chunks
from synesthete.exceptions import AnalysisError, AudioError
from synesthete.features.base import HOP, Analysis, Extractor, Spectra
from synesthete.fingerprint.landmarks import landmarks


def default_extractors() -> list[Extractor]:
    from synesthete.features.registry import EXTRACTORS

    return list(EXTRACTORS.values())


def analyze(
    path: str | Path, extractors: Sequence[Extractor] | None = None, *, fingerprint: bool = False
) -> Analysis:
    """Vectors of every extractor for one file, decoded once in bounded chunks.

    ``fingerprint``: also its landmarks (``Analysis.landmarks``), from the same spectrogram.

    Raises an ``AudioError`` subclass (naming the file and the reason) for anything unusable.
    """
    path = str(path)
    extractors = default_extractors() if extractors is None else list(extractors)
    partials: dict[str, list] = {e.name: [] for e in extractors}
    samples = 0
    marks: list[tuple[np.ndarray, np.ndarray]] = []
    for chunk in iter_chunks(path, sr=SR):
        spectra = Spectra(chunk, SR)
        if fingerprint:
            marks.append(landmarks(spectra.stft_power, frame_offset=round(samples / HOP)))
        samples += chunk.size
        for e in extractors:
            try:
                partials[e.name].append(e.partial(spectra))
            except (AudioError, MemoryError):  # a time or memory cap (library/guard.py), not a bug
                raise
            except Exception as err:
                raise AnalysisError(path, f"extractor {e.name} failed: {err}") from err
    analysis = Analysis(duration=samples / SR)
    if fingerprint:
        analysis.landmarks = tuple(np.concatenate(x) for x in zip(*marks, strict=True))
    for e in extractors:
        try:
            vector = np.asarray(e.finish(partials[e.name]), dtype=np.float32)
        except (AudioError, MemoryError):
            raise
        except Exception as err:
            raise AnalysisError(path, f"extractor {e.name} failed: {err}") from err
        if vector.shape != (e.dim,) or not np.isfinite(vector).all():
            raise AnalysisError(path, f"extractor {e.name} produced an invalid vector (shape {vector.shape})")
        analysis.vectors[e.name] = vector
        analysis.versions[e.name] = e.version
    return analysis
