"""The projection cache: maps kept in the catalog's ``projections`` table, reused while their stamp holds.

A projection is derived data, so saving one does not move the catalog's generation (that would make every
search space rebuild for nothing); the stamp of the projected vectors decides whether a map is current.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Key:
    model: str  # with its version, e.g. 'descriptors-v1'
    method: str
    dims: int
    seed: int


def load(conn: sqlite3.Connection, key: Key, stamp: str) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
    """(ids, coords, axes) cached for ``key`` if made from the vectors ``stamp`` describes, else None."""
    row = conn.execute(
        "SELECT stamp, ids, coords, axes FROM projections WHERE model=? AND method=? AND dims=? AND seed=?",
        (key.model, key.method, key.dims, key.seed),
    ).fetchone()
    if row is None or row[0] != stamp:
        return None
    ids = np.frombuffer(row[1], dtype=np.int64)
    coords = np.frombuffer(row[2], dtype=np.float32).reshape(len(ids), key.dims)
    return ids, coords, json.loads(row[3])


def save(
    conn: sqlite3.Connection,
    key: Key,
    stamp: str,
    ids: np.ndarray,
    coords: np.ndarray,
    axes: list[str],
    seconds: float,
) -> None:
    """Keep (or replace) the map for ``key``; one statement, so it commits on its own."""
    conn.execute(
        "INSERT OR REPLACE INTO projections (model, method, dims, seed, stamp, ids, coords, axes, seconds,"
        " created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            key.model,
            key.method,
            key.dims,
            key.seed,
            stamp,
            np.ascontiguousarray(ids, dtype=np.int64).tobytes(),
            np.ascontiguousarray(coords, dtype=np.float32).tobytes(),
            json.dumps(axes),
            float(seconds),
            time.time(),
        ),
    )
