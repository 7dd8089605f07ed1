"""Near-duplicates by fingerprint: files that hold the same recording (a FLAC and its MP3, a re-rip).

Two files are the same recording when a stretch of one, looked up in the landmark index, lines up with
the other at one time offset. Unlike vector similarity, this never confuses two takes that merely sound
alike, and it finds an excerpt inside a longer file too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from synesthete.fingerprint.index import LandmarkIndex
from synesthete.fingerprint.landmarks import FRAME_SECONDS, VERSION, unpack
from synesthete.fingerprint.matcher import vote
from synesthete.library.store import CatalogStore

SAMPLE_SECONDS = 20.0  # the stretch of each track looked up in the index
MIN_VOTES = 20
MIN_SHARE = 0.1  # aligned hashes as a share of the sample's
PAIR_SAMPLE = 8


def duplicate_groups(catalog: CatalogStore, index: LandmarkIndex) -> list[list[int]]:
    """Groups of track ids (two or more, smallest id first) holding the same recording."""
    live = catalog.fingerprint_tracks(VERSION)
    current = np.fromiter(live, np.int64, len(live))
    fp_of = {track: fp for fp, track in live.items()}
    parent = {t: t for t in fp_of}

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for track_id, blob in catalog.fingerprint_blobs(VERSION).items():
        hashes, frames = _middle(*unpack(blob))
        found = vote(hashes, frames, index.postings)
        fps, votes = found.fp_ids, found.votes
        enough = (votes >= MIN_VOTES) & (votes >= MIN_SHARE * hashes.size) & (fps != fp_of[track_id])
        enough &= np.isin(fps, current)  # the index may still hold replaced fingerprints
        for fp in fps[enough].tolist():
            a, b = root(track_id), root(live[fp])
            if a != b:
                parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = {}
    for t in sorted(parent):
        groups.setdefault(root(t), []).append(t)
    return [g for g in groups.values() if len(g) > 1]


def _middle(hashes: np.ndarray, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The landmarks of ``SAMPLE_SECONDS`` around the middle of the track."""
    if frames.size == 0:
        return hashes, frames
    span = SAMPLE_SECONDS / FRAME_SECONDS
    mid = (int(frames.min()) + int(frames.max())) / 2
    keep = np.abs(frames.astype(np.float64) - mid) <= span / 2
    return hashes[keep], frames[keep]


def sampled_fingerprints(
    catalog: CatalogStore, ids: Sequence[int]
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """The stored landmarks (hashes, frames) of those of ``ids`` that have a fingerprint, only the hashes
    divisible by ``PAIR_SAMPLE``: the same subset in every track, so copies still align
    (``same_recording``), and a ``similar`` query pays a few milliseconds for comparing them."""
    marks = {k: unpack(blob) for k, blob in catalog.fingerprint_blobs(VERSION, ids).items()}
    return {k: (h[h % PAIR_SAMPLE == 0], t[h % PAIR_SAMPLE == 0]) for k, (h, t) in marks.items()}
