"""Schema migrations: each entry brings the catalog from version i to i + 1; never edit a shipped one."""

from __future__ import annotations

import sqlite3

from synesthete.exceptions import UserError

MIGRATIONS: list[str] = [
    # 0 -> 1: tracks, their vectors per extractor version, and the files that failed.
    """
    CREATE TABLE tracks (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        content_hash TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime REAL NOT NULL,
        title TEXT, artist TEXT, album TEXT, genre TEXT,
        duration REAL NOT NULL,
        added_at REAL NOT NULL,
        analysed_at REAL NOT NULL
    );
    CREATE INDEX tracks_hash ON tracks(content_hash);
    CREATE TABLE vectors (
        track_id INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
        extractor TEXT NOT NULL,
        version INTEGER NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY (track_id, extractor)
    );
    CREATE TABLE failures (
        path TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT INTO meta VALUES ('generation', '0');
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> None:
    """Apply the migrations this catalog has not seen yet, each in its own transaction."""
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    if current > SCHEMA_VERSION:
        raise UserError(
            f"the catalog has schema version {current}, newer than this synesthete ({SCHEMA_VERSION}): upgrade"
        )
    for version in range(current, SCHEMA_VERSION):
        try:
            conn.executescript(f"BEGIN; {MIGRATIONS[version]} PRAGMA user_version = {version + 1}; COMMIT;")
        except sqlite3.Error:
            conn.rollback()
            raise
