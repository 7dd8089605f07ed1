"""A scan's unit of work: one file analysed in a worker process (local or Ray), from a ``Job`` that holds
everything the worker needs to a ``FileResult`` it hands back. Its own module, so the scan and the Ray
backend (``distributed/ray_backend.py``) both import it and neither imports the other.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

from synesthete.exceptions import AudioError
from synesthete.fingerprint import landmarks
from synesthete.library.guard import MEMORY_CAP, memory_cap
from synesthete.library.tags import content_hash, read_tags

log = logging.getLogger(__name__)
FINGERPRINT = "fingerprint"  # the name the landmark format's version goes by next to the extractors'
FILE_SECONDS = 900.0  # per file; SYNESTHETE_FILE_SECONDS overrides (4 h of audio take ~3 min here)


@dataclass(frozen=True)
class Job:
    """One file to analyse, and everything a worker process needs for it (it shares no other state)."""

    path: str
    size: int
    mtime: float
    content_hash: str | None  # known when the scan already hashed the file
    extractors: tuple[str, ...]  # what to (re)compute
    tags_and_all: bool  # False: only stale vectors of an unchanged file
    checkpoint: Path | None = None  # the cnn weights to run (models/checkpoints.py); None: the shipped ones
    classic_models: Path | None = None  # the folder of the classic checkpoints (features/classic.py)


@dataclass(frozen=True)
class FileResult:
    """What analysing one file gave, as workers hand it back: its vectors, duration, fingerprint and
    (for a new or changed file) tags and content hash; or only ``error``, the reason it failed."""

    path: str
    error: str | None = None
    vectors: dict[str, tuple[int, np.ndarray]] = field(default_factory=dict)
    duration: float = 0.0
    fingerprint: tuple[int, bytes] | None = None  # (landmark format version, packed landmarks)
    tags: dict[str, str | None] | None = None
    content_hash: str | None = None


def analyse_job(job: Job) -> FileResult:
    """Runs in a worker: tags, hash and vectors of one file, or the reason it failed."""
    from synesthete.analysis import analyze
    from synesthete.features import classic
    from synesthete.features.registry import get
    from synesthete.models import checkpoints

    try:
        checkpoints.use(job.checkpoint)
        classic.use(job.classic_models)
        extractors = [get(name) for name in job.extractors if name != FINGERPRINT]
        seconds = float(os.environ.get("SYNESTHETE_FILE_SECONDS", FILE_SECONDS))
        with time_limit(job.path, seconds), memory_cap():
            analysis = analyze(job.path, extractors, fingerprint=FINGERPRINT in job.extractors)
        fingerprint = None
        if analysis.landmarks is not None:
            fingerprint = (landmarks.VERSION, landmarks.pack(*analysis.landmarks))
        return FileResult(
            job.path,
            vectors={n: (analysis.versions[n], analysis.vectors[n]) for n in analysis.vectors},
            duration=analysis.duration,
            fingerprint=fingerprint,
            tags=read_tags(job.path) if job.tags_and_all else None,
            content_hash=(job.content_hash or content_hash(job.path)) if job.tags_and_all else None,
        )
    except AudioError as e:
        return FileResult(job.path, e.reason)
    except OSError as e:
        return FileResult(job.path, f"cannot read: {e.strerror or e}")
    except MemoryError:
        return FileResult(job.path, f"needs more than {MEMORY_CAP / 2**30:g} GB of memory to analyse")
    except Exception as e:  # a bug in an extractor must not stop the scan: record it with the file
        log.exception("unexpected failure on %s", job.path)
        return FileResult(job.path, f"internal error: {type(e).__name__}: {e}")


@contextmanager
def time_limit(path: str, seconds: float) -> Iterator[None]:
    """Give up on a file that takes longer than ``seconds`` (a decoder stuck on a hostile file).

    A timer signal, so only in a process's main thread (workers, a one-worker scan); elsewhere no limit.
    """
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    expired = False
    reason = f"gave up after {seconds:g} s: decoding or analysis did not finish"

    def expire(signum: int, frame: object) -> None:
        nonlocal expired
        expired = True
        raise AudioError(path, reason)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    if expired:  # the timer fired inside code that swallowed the exception: the limit still holds
        raise AudioError(path, reason)


@cache
def warm_up() -> None:
    """Load the models and compile the numba code of every extractor, once per process."""
    import numpy as np

    from synesthete.features.base import Spectra
    from synesthete.features.registry import EXTRACTORS

    y = np.random.default_rng(0).standard_normal(22050 * 2).astype(np.float32) * 0.1
    spectra = Spectra(y)
    for e in EXTRACTORS.values():
        e.finish([e.partial(spectra)])
