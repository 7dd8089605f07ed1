"""Near-duplicates: the same recording in two files must not play twice in one playlist.

Two tracks are the same recording when their files have the same bytes (content hash), when their audio
fingerprints match (``fingerprint/duplicates.py``), or when they last the same within ``SAME_DURATION_S``
seconds and sound the same. "Sound the same" is judged on the parts of the ``descriptors`` vector that
encoding leaves alone: re-encoding a clip (MP3 128k, Vorbis 64k, 3 dB quieter) kept its tonal block at
cosine >= 0.999 and its rhythm block >= 0.87, while the whole vector fell to 0.71 (the low-pass moves the
timbre); the closest two different pieces measured 0.993 (tonal) on the synthetic demo and 0.981 on the
real development clips. Other models fall back to the whole vector. ``near_duplicates`` and
``drop_near_duplicates`` keep the first of each recording in a playlist; ``copies_of_file`` finds the
tracks an outside file (a seed given as a file) is a copy of, by sound and duration.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from synesthete.fingerprint.duplicates import sampled_fingerprints
from synesthete.fingerprint.matcher import same_recording
from synesthete.index import normalize
from synesthete.library.store import CatalogStore
from synesthete.recommend.space import Space

SAME_SOUND_COSINE = 0.985  # whole vector, for models without named groups
SAME_TONAL_COSINE = 0.998
SAME_RHYTHM_COSINE = 0.85
SAME_DURATION_S = 2.0
BLOCKS = (("tonal", SAME_TONAL_COSINE), ("rhythm", SAME_RHYTHM_COSINE))


@dataclass(frozen=True)
class Recordings:
    """What near-duplicate removal reads of some tracks: content hash and duration, and the sampled
    fingerprint (``fingerprint/duplicates.py``) of those that have one.

    Read once for a batch of result lists (the server answers concurrent ``similar`` requests together),
    not once a list: the catalog reads cost more than the comparisons.
    """

    facts: dict[int, tuple[str, float]]
    marks: dict[int, tuple[np.ndarray, np.ndarray]]

    @classmethod
    def read(cls, catalog: CatalogStore, ids: Iterable[int]) -> Recordings:
        ids = list(dict.fromkeys(int(i) for i in ids))
        return cls(catalog.track_facts(ids), sampled_fingerprints(catalog, ids))


def _same_sound(groups: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) booleans: do these vectors (dimensions labelled by ``groups``) sound like the
    same recording?"""
    groups = np.asarray(groups)
    blocks = [(groups == group, limit) for group, limit in BLOCKS]
    if not all(columns.any() for columns, _ in blocks):
        return normalize(a) @ normalize(b).T >= SAME_SOUND_COSINE
    same = np.ones((len(a), len(b)), dtype=bool)
    for columns, limit in blocks:
        same &= normalize(a[:, columns]) @ normalize(b[:, columns]).T >= limit
    return same


def _same_sound_rows(space: Space, rows: np.ndarray) -> np.ndarray:
    """``_same_sound`` of the space's rows with each other, scaled by the lengths the space keeps."""
    blocks = [(space.group_norms(group), limit) for group, limit in BLOCKS]
    if any(b is None for b, _ in blocks):
        v = space.vectors[rows]
        return normalize(v) @ normalize(v).T >= SAME_SOUND_COSINE
    same = np.ones((len(rows), len(rows)), dtype=bool)
    for (columns, norms), limit in blocks:
        block = np.array(space.vectors[rows][:, columns], dtype=np.float32)  # as ``normalize`` would
        lengths = norms[rows][:, None]
        np.divide(block, lengths, out=block, where=lengths > 0)
        same &= block @ block.T >= limit
    return same


def near_duplicates(
    catalog: CatalogStore,
    space: Space | None,
    ids: Sequence[int],
    *,
    against: Collection[int] = (),
    known: Recordings | None = None,
) -> set[int]:
    """The ids of ``ids`` that repeat a recording already present: earlier in ``ids``, or in ``against``.

    The first of each set of copies is kept, so callers order ``ids`` by preference. ``known``: these
    tracks' ``Recordings``, already read (it must hold every id of ``ids`` and ``against``).
    """
    ids = [int(i) for i in ids]
    kept_first = [int(i) for i in against if int(i) not in set(ids)]
    order = kept_first + ids
    if len(order) < 2:
        return set()
    known = known or Recordings.read(catalog, order)
    facts = known.facts
    hashes = [facts.get(i, ("", 0.0))[0] for i in order]
    durations = np.array([facts.get(i, ("", 0.0))[1] for i in order])
    if space is not None:
        rows = space.rows(order)
        same_sound = _same_sound_rows(space, np.maximum(rows, 0)) & (
            np.abs(durations[:, None] - durations[None, :]) <= SAME_DURATION_S
        )
        same_sound[rows < 0, :] = False
        same_sound[:, rows < 0] = False
    else:
        same_sound = np.zeros((len(order), len(order)), dtype=bool)
    position = {track_id: pos for pos, track_id in enumerate(order)}
    for pair in same_recording({i: known.marks[i] for i in order if i in known.marks}):
        a, b = (position[i] for i in pair)
        same_sound[a, b] = same_sound[b, a] = True
    named = [h for h in hashes if h]
    if len(set(named)) == len(named) and np.count_nonzero(same_sound) == np.count_nonzero(
        same_sound.diagonal()
    ):
        return set()  # no two alike: the usual list, which the walk below would leave whole
    dropped: set[int] = set()
    seen_hash: dict[str, int] = {}
    kept: list[int] = []  # positions in ``order`` that are kept
    for pos, track_id in enumerate(order):
        h = hashes[pos]
        duplicate = (h and h in seen_hash) or bool(kept and same_sound[pos, kept].any())
        if duplicate and pos >= len(kept_first):
            dropped.add(track_id)
            continue
        kept.append(pos)
        if h:
            seen_hash.setdefault(h, track_id)
    return dropped


def drop_near_duplicates(
    catalog: CatalogStore, space: Space | None, ids: Sequence[int], *, against: Collection[int] = ()
) -> list[int]:
    """``ids`` in their order, without those that repeat an earlier one or one of ``against``."""
    dropped = near_duplicates(catalog, space, ids, against=against)
    return [int(i) for i in ids if int(i) not in dropped]


def copies_of_file(
    catalog: CatalogStore, space: Space, vector: np.ndarray, duration: float, ids: Sequence[int]
) -> set[int]:
    """The ids of ``ids`` that are the same recording as an outside file (``vector`` already brought
    into ``space``, ``duration`` in seconds): a file given as a seed must not come back as a track."""
    ids = [int(i) for i in ids]
    rows = space.rows(ids)
    facts = catalog.track_facts(ids)
    ok = rows >= 0
    if not ok.any():
        return set()
    same = _same_sound(space.groups, space.vectors[rows[ok]], np.asarray(vector)[None, :])[:, 0]
    kept = [i for i, r in zip(ids, rows, strict=True) if r >= 0]
    return {
        i
        for i, s in zip(kept, same, strict=True)
        if s and abs(facts.get(i, ("", 0.0))[1] - duration) <= SAME_DURATION_S
    }
