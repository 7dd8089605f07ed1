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
MARGIN = 1e-4  # ``clear_of_duplicates`` clears lists this far below the limits: far above a cosine's rounding


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


def clear_of_duplicates(space: Space | None, lists: Sequence[Sequence[int]], known: Recordings) -> list[bool]:
    """For each list of ids, whether surely no two of its tracks are the same recording, so that
    ``near_duplicates`` would find nothing to drop in it. ``known`` must hold every id.

    Why: a server answers ``similar`` for a batch of requests, each list ~20 tracks; this tests the whole
    batch with one gather of rows and one stacked product per list length, where ``near_duplicates`` pays
    numpy's per-call overhead on every list. The sound test keeps a margin (``MARGIN``) below the limits,
    so a rounding difference never clears a list ``near_duplicates`` would shorten; a list it does not
    clear goes to ``near_duplicates``.
    """
    lists = [list(dict.fromkeys(int(i) for i in ids)) for ids in lists]
    marked = {i: known.marks[i] for ids in lists for i in ids if i in known.marks}
    pairs = same_recording(marked)  # pairs are judged each on their own: the same within any list
    clear = [False] * len(lists)
    by_length: dict[int, list[int]] = {}
    for pos, ids in enumerate(lists):
        by_length.setdefault(len(ids), []).append(pos)
    for length, positions in by_length.items():
        if length < 2:  # nothing to compare
            for p in positions:
                clear[p] = True
            continue
        ids = np.array([lists[p] for p in positions], dtype=np.int64).reshape(len(positions), length)
        facts = [[known.facts.get(i, ("", 0.0)) for i in row] for row in ids.tolist()]
        durations = np.array([[d for _, d in row] for row in facts], dtype=np.float64).reshape(ids.shape)
        alike = np.abs(durations[:, :, None] - durations[:, None, :]) <= SAME_DURATION_S
        if space is None:
            alike[:] = False
        else:
            rows = space.rows(ids).reshape(ids.shape)
            alike &= _same_sound_stack(space, np.maximum(rows, 0))
            alike &= (rows >= 0)[:, :, None] & (rows >= 0)[:, None, :]
        alike[:, np.arange(length), np.arange(length)] = False
        for p, row, row_facts, sound in zip(
            positions, ids.tolist(), facts, alike.any(axis=(1, 2)), strict=True
        ):
            named = [h for h, _ in row_facts if h]
            members = set(row)
            clear[p] = (
                not sound and len(set(named)) == len(named) and not any(pair <= members for pair in pairs)
            )
    return clear


def _same_sound_stack(space: Space, rows: np.ndarray) -> np.ndarray:
    """``_same_sound_rows`` of each row of ``rows`` (b, L) at once, (b, L, L), ``MARGIN`` below the limits."""
    b, length = rows.shape
    taken = space.vectors[rows.reshape(-1)]  # one gather for every block
    blocks = [(space.group_norms(group), limit) for group, limit in BLOCKS]
    if any(block is None for block, _ in blocks):
        v = normalize(np.asarray(taken, dtype=np.float32)).reshape(b, length, -1)
        return v @ v.transpose(0, 2, 1) >= SAME_SOUND_COSINE - MARGIN
    same = np.ones((b, length, length), dtype=bool)
    for (columns, norms), limit in blocks:
        block = np.array(taken[:, columns], dtype=np.float32)
        lengths = norms[rows.reshape(-1)][:, None]
        np.divide(block, lengths, out=block, where=lengths > 0)
        block = block.reshape(b, length, -1)
        same &= block @ block.transpose(0, 2, 1) >= limit - MARGIN
    return same


def drop_near_duplicates(
    catalog: CatalogStore,
    space: Space | None,
    ids: Sequence[int],
    *,
    against: Collection[int] = (),
    known: Recordings | None = None,
) -> list[int]:
    """``ids`` in their order, without those that repeat an earlier one or one of ``against``
    (``known``: as ``near_duplicates`` takes it)."""
    dropped = near_duplicates(catalog, space, ids, against=against, known=known)
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
