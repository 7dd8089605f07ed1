"""``analyze(path)``: decode a file once and run every extractor on the same chunks and spectrogram."""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from synesthete.audio import SR, iter_chunks
from synesthete.exceptions import AnalysisError, AudioError
from synesthete.features.base import HOP, Analysis, Extractor, Spectra
from synesthete.fingerprint.landmarks import landmarks

# glibc's mallopt parameters (malloc.h) and the values we give them.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 << 20  # glibc's largest on 64 bits: a 2.5-minute chunk's spectrogram (27 MB) is below
TRIM_THRESHOLD = 512 << 20  # above a chunk's whole working set (~150 MB, audio/decode.py)


@functools.cache
def reuse_freed_memory() -> bool:
    """Have the C library keep freed memory for the next chunk instead of handing it back to the kernel.

    Why: glibc serves a large block (above a threshold it moves between 128 KB and 32 MB) with a fresh
    mmap and returns the top of its heap once more than twice that is free, so each chunk's spectrogram
    and its temporaries (5 MB each per 30 s) were new memory that the kernel faulted in and zeroed page
    by page: the STFT and the power spectrum took 11-14 ms per 30-s clip in a scan against 6.5 ms on
    reused memory, about 8 % of a whole analysis. Blocks below 32 MB now come from the heap, which is
    not trimmed, so the next chunk reuses the last one's pages. Results are unchanged; a process keeps
    the memory of its largest chunk. Once per process; False where the C library has no ``mallopt``.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) & bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


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
    reuse_freed_memory()
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
