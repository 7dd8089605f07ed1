"""Fingerprints in the catalog: one row per track, its version and its landmarks packed in one blob.

The row is committed in the track's own transaction, so a killed scan never leaves a track without its
fingerprint or the reverse. The inverted index that queries use is derived from these rows
(``fingerprint/index.py``). Rows are keyed by ``fp_id`` (AUTOINCREMENT, never reused): a replaced
fingerprint gets a new id, so the index tells its old landmarks from the new ones.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

import numpy as np

from synesthete.fingerprint.landmarks import VERSION, unpack
from synesthete.library.catalog import Catalog

FINGERPRINT = "fingerprint"  # the name its version goes by next to the extractors' in a scan plan


def save(catalog: Catalog, track_id: int, version: int, blob: bytes) -> None:
    """Replace the fingerprint of ``track_id``."""
    with catalog.transaction() as c:
        write(c, track_id, version, blob)


def write(c: sqlite3.Connection, track_id: int, version: int, blob: bytes) -> None:
    """``save`` inside the caller's transaction, so a track and its fingerprint are committed together.

    An explicit DELETE (not REPLACE), so the trigger counts the old landmarks as garbage for the index."""
    c.execute("DELETE FROM fingerprints WHERE track_id = ?", (track_id,))
    c.execute(
        "INSERT INTO fingerprints (track_id, version, count, landmarks) VALUES (?,?,?,?)",
        (track_id, version, len(blob) // 8, blob),
    )


def live(catalog: Catalog, version: int = VERSION) -> dict[int, int]:
    """fp_id -> track_id of every current fingerprint."""
    return dict(
        catalog.conn.execute("SELECT fp_id, track_id FROM fingerprints WHERE version = ?", (version,))
    )


def count(catalog: Catalog) -> int:
    """How many tracks have a current fingerprint."""
    return catalog.conn.execute("SELECT count(*) FROM fingerprints WHERE version = ?", (VERSION,)).fetchone()[
        0
    ]


def alive(catalog: Catalog, fp_ids: Iterable[int]) -> dict[int, int]:
    """fp_id -> track_id of those of ``fp_ids`` that are current fingerprints (the index may hold others)."""
    ids, out = [int(i) for i in fp_ids], {}
    for start in range(0, len(ids), 900):
        part = ids[start : start + 900]
        q = f"SELECT fp_id, track_id FROM fingerprints WHERE version = ? AND fp_id IN ({','.join('?' * len(part))})"
        out.update(catalog.conn.execute(q, (VERSION, *part)))
    return out


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
