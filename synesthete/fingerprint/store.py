"""Fingerprints in the catalog: one row per track (its version and packed landmarks) plus an inverted index.

``fingerprints`` holds each track's landmarks as one blob (to recompute nothing when we compare two
catalogued tracks) and its version (a stale version is recomputed on the next scan, like a vector).
``landmarks`` is the inverted index, a WITHOUT ROWID b-tree keyed by (hash, fp_id, frame), so a query
is one index range per hash and the table costs ~15 bytes a landmark. Rows point at ``fp_id``
(AUTOINCREMENT, never reused), not at the track: deleting a track just orphans its landmarks, which
queries ignore and ``collect_garbage`` sweeps once they are many, so removals stay instant.
"""

from __future__ import annotations

import json
import sqlite3
from itertools import repeat

import numpy as np

from synesthete.fingerprint.landmarks import VERSION, unpack
from synesthete.library.catalog import Catalog

FINGERPRINT = "fingerprint"  # the name its version goes by next to the extractors' in a scan plan


def save(catalog: Catalog, track_id: int, version: int, blob: bytes) -> None:
    """Replace the fingerprint of ``track_id`` (explicit DELETE, so the orphan counter sees the old one)."""
    with catalog.transaction() as c:
        write(c, track_id, version, blob)


def write(c: sqlite3.Connection, track_id: int, version: int, blob: bytes) -> None:
    """``save`` inside the caller's transaction, so a track and its fingerprint are committed together."""
    hashes, frames = unpack(blob)
    keys = np.unique((hashes.astype(np.uint64) << np.uint64(32)) | frames.astype(np.uint64))
    h, t = (keys >> np.uint64(32)).tolist(), (keys & np.uint64(0xFFFFFFFF)).tolist()
    c.execute("DELETE FROM fingerprints WHERE track_id = ?", (track_id,))
    fp_id = c.execute(
        "INSERT INTO fingerprints (track_id, version, count, landmarks) VALUES (?,?,?,?)",
        (track_id, version, len(h), blob),
    ).lastrowid
    c.executemany("INSERT INTO landmarks (hash, fp_id, t) VALUES (?,?,?)", zip(h, repeat(fp_id), t))


def live(catalog: Catalog, version: int = VERSION) -> dict[int, int]:
    """fp_id -> track_id of every current fingerprint."""
    return dict(
        catalog.conn.execute("SELECT fp_id, track_id FROM fingerprints WHERE version = ?", (version,))
    )


def postings(catalog: Catalog, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hash, fp_id, frame) int64 arrays of every stored landmark whose hash is in ``hashes``."""
    wanted = json.dumps(np.unique(hashes).tolist())
    rows = catalog.conn.execute(
        "SELECT hash, fp_id, t FROM landmarks WHERE hash IN (SELECT value FROM json_each(?))", (wanted,)
    ).fetchall()
    if not rows:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    a = np.array(rows, dtype=np.int64)
    return a[:, 0], a[:, 1], a[:, 2]


def track_landmarks(catalog: Catalog, track_ids: list[int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """track_id -> (hashes, frames) of the current fingerprints of ``track_ids``."""
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for start in range(0, len(track_ids), 900):
        part = track_ids[start : start + 900]
        q = (
            "SELECT track_id, landmarks FROM fingerprints WHERE version = ?"
            f" AND track_id IN ({','.join('?' * len(part))})"
        )
        out.update((tid, unpack(blob)) for tid, blob in catalog.conn.execute(q, (VERSION, *part)))
    return out


def versions(catalog: Catalog) -> dict[int, int]:
    """track_id -> version of its stored fingerprint."""
    return dict(catalog.conn.execute("SELECT track_id, version FROM fingerprints"))


def collect_garbage(catalog: Catalog, *, force: bool = False) -> int:
    """Sweep the landmarks of deleted or replaced fingerprints once they are a quarter of the index."""
    orphans = int(catalog.conn.execute("SELECT value FROM meta WHERE key = 'orphan_landmarks'").fetchone()[0])
    if not orphans:
        return 0
    if not force:
        total = catalog.conn.execute("SELECT coalesce(sum(count), 0) FROM fingerprints").fetchone()[0]
        if orphans < max(50_000, total // 4):
            return 0
    with catalog.transaction() as c:
        n = c.execute("DELETE FROM landmarks WHERE fp_id NOT IN (SELECT fp_id FROM fingerprints)").rowcount
        c.execute("UPDATE meta SET value = '0' WHERE key = 'orphan_landmarks'")
    return n
