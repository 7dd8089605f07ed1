"""Matching: which catalogued track a recording comes from, at which offset, and how sure we are.

Every query hash votes for (track, time offset) pairs; a recording of a catalogued track puts many votes
on one pair, chance spreads them thin. The verdict compares the winner with the best *other* track
(the runner-up), which is self-calibrating: a bigger collection raises both the chance winner and the
chance runner-up, so the rule holds at 10^2 and at 10^4 tracks.

Speed: a recording played 1.5% fast shifts every peak 1.5% up in frequency and 1.5% closer in time,
which breaks most hashes. Instead of weakening the hash for every query, we undo the speed at query
time: the excerpt is resampled by each factor of ``SPEEDS`` (±3% in steps of 0.5%: measured, a hash
survives about ±0.25% but not ±0.5%) and the best verdict wins. Unaltered recordings stop at the first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import soxr

from synesthete.features.base import SR
from synesthete.fingerprint.landmarks import FRAME_SECONDS, QUERY, Density, of_signal

SPEEDS = tuple(1.0 + sign * step / 200 for step in range(7) for sign in ((1,) if step == 0 else (-1, 1)))
MIN_VOTES = 8  # fewer aligned hashes than this happen by chance (measured: bench/identify.py)
MIN_CONFIDENCE = 0.5  # the winner must hold at least twice the runner-up's votes
SURE_VOTES = 20  # a verdict this strong at the first speed needs no other speed
MAX_QUERY_SECONDS = 30.0
SPEED_DENSITY = Density(peaks_per_second=20.0, fan_out=8)
MAX_LEAD_FRAMES = round(0.5 / FRAME_SECONDS)

Postings = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]  # hashes -> (hash, fp_id, frame)


@dataclass(frozen=True)
class Verdict:
    """The best-supported fingerprint, its votes and the runner-up's, and where the excerpt sits in it."""

    fp_id: int | None
    votes: int
    runner_up: int
    offset_s: float
    speed: float

    @property
    def confidence(self) -> float:
        """The share of the winner's votes that no other track matches, in [0, 1]."""
        return 0.0 if self.votes <= 0 else max(0.0, (self.votes - self.runner_up) / self.votes)

    @property
    def accepted(self) -> bool:
        return self.fp_id is not None and self.votes >= MIN_VOTES and self.confidence >= MIN_CONFIDENCE


NO_MATCH = Verdict(None, 0, 0, 0.0, 1.0)


def vote(
    q_hashes: np.ndarray, q_frames: np.ndarray, postings: Postings, live: set[int] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fp_ids, votes, offsets in frames) of each candidate's best offset, most votes first.

    Votes at offsets d and d + 1 are pooled, so a frame of jitter (speed residue, alignment) costs nothing.
    """
    empty = np.zeros(0, np.int64)
    if q_hashes.size == 0:
        return empty, empty, empty
    h, fp, t = postings(q_hashes)
    if live is not None and fp.size:
        keep = np.isin(fp, np.fromiter(live, np.int64, len(live)))
        h, fp, t = h[keep], fp[keep], t[keep]
    if h.size == 0:
        return empty, empty, empty
    # Join the postings to the query landmarks of the same hash (a hash may occur several times).
    order = np.argsort(q_hashes, kind="stable")
    qh, qt = q_hashes[order].astype(np.int64), q_frames[order].astype(np.int64)
    lo, hi = np.searchsorted(qh, h, "left"), np.searchsorted(qh, h, "right")
    n = hi - lo
    rows = np.repeat(np.arange(h.size), n)
    cols = np.repeat(lo - np.cumsum(n) + n, n) + np.arange(n.sum())
    offsets = t[rows] - qt[cols]
    plausible = offsets >= -MAX_LEAD_FRAMES  # a recording may start a little before the track, no more
    rows, offsets = rows[plausible], offsets[plausible]
    if rows.size == 0:
        return empty, empty, empty
    key = (fp[rows] << 32) | (offsets + (1 << 31))
    keys, counts = np.unique(key, return_counts=True)
    nxt = np.minimum(np.searchsorted(keys, keys + 1), keys.size - 1)
    pooled = counts + np.where(keys[nxt] == keys + 1, counts[nxt], 0)
    fps = keys >> 32
    # Best offset per fingerprint.
    order = np.lexsort((-pooled, fps))
    fps, pooled, keys = fps[order], pooled[order], keys[order]
    first = np.r_[True, fps[1:] != fps[:-1]]
    fps, pooled, keys = fps[first], pooled[first], keys[first]
    best = np.argsort(-pooled, kind="stable")
    return fps[best], pooled[best], (keys[best] & 0xFFFFFFFF) - (1 << 31)


def identify_signal(
    y: np.ndarray,
    postings: Postings,
    *,
    live: set[int] | None = None,
    density: Density = QUERY,
    max_speed_change: float = 0.03,
) -> Verdict:
    """The verdict for a mono float32 signal at ``SR`` (only its first ``MAX_QUERY_SECONDS`` are used).

    ``max_speed_change``: how far off speed the recording may be (0: exactly the track's speed, one
    lookup instead of up to 13).
    """
    y = np.asarray(y, dtype=np.float32)[: int(MAX_QUERY_SECONDS * SR)]
    best: dict[int, tuple[int, int, float]] = {}  # fp_id -> (votes, offset, speed) over every speed
    verdict = NO_MATCH
    for speed in (s for s in SPEEDS if abs(s - 1.0) <= max_speed_change + 1e-9):
        if speed == 1.0:
            z, d = y, density
        else:  # lighter: most recordings are at speed 1, and each other speed costs a full lookup
            z, d = soxr.resample(y, SR, SR * speed).astype(np.float32), SPEED_DENSITY
        fps, votes, offsets = vote(*of_signal(z, density=d), postings, live)
        for f, v, o in zip(fps[:10].tolist(), votes[:10].tolist(), offsets[:10].tolist(), strict=True):
            if v > best.get(f, (0,))[0]:
                best[f] = (v, o, speed)
        verdict = _verdict(best)
        if verdict.accepted and verdict.votes >= SURE_VOTES and verdict.confidence >= 0.8:
            break
    return verdict


def _verdict(best: dict[int, tuple[int, int, float]]) -> Verdict:
    if not best:
        return NO_MATCH
    ranked = sorted(best.items(), key=lambda kv: -kv[1][0])
    fp_id, (votes, offset, speed) = ranked[0]
    runner_up = ranked[1][1][0] if len(ranked) > 1 else 0
    return Verdict(int(fp_id), int(votes), int(runner_up), offset * FRAME_SECONDS, speed)


def same_recording(
    landmarks: dict[int, tuple[np.ndarray, np.ndarray]], *, min_votes: int = 20, min_share: float = 0.05
) -> set[frozenset[int]]:
    """Pairs of keys whose landmarks align at one offset: the same recording (copies, re-encodings).

    ``min_share``: the aligned hashes as a share of the smaller fingerprint, so a 30-s excerpt of a
    track counts as the same recording as the track.
    """
    keys = list(landmarks)
    if len(keys) < 2:
        return set()
    h = np.concatenate([landmarks[k][0] for k in keys]).astype(np.int64)
    t = np.concatenate([landmarks[k][1] for k in keys]).astype(np.int64)
    who = np.concatenate([np.full(landmarks[k][0].size, i) for i, k in enumerate(keys)])
    sizes = np.array([landmarks[k][0].size for k in keys])
    order = np.lexsort((who, h))
    h, t, who = h[order], t[order], who[order]
    hi = np.searchsorted(h, h, "right")
    n = hi - np.arange(h.size) - 1  # later entries with the same hash
    a = np.repeat(np.arange(h.size), n)
    b = a + 1 + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
    other = who[a] != who[b]
    a, b = a[other], b[other]
    if a.size == 0:
        return set()
    pair_key = (who[a] * len(keys) + who[b]) << 32 | (t[b] - t[a] + (1 << 31))
    uniq, counts = np.unique(pair_key, return_counts=True)
    pairs = uniq >> 32
    out: set[frozenset[int]] = set()
    for p in np.unique(pairs[counts >= min_votes]).tolist():
        i, j = divmod(p, len(keys))
        votes = counts[pairs == p].max()
        if votes >= min_share * min(sizes[i], sizes[j]):
            out.add(frozenset((keys[i], keys[j])))
    return out
