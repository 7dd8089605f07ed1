"""Schema migrations: each entry brings the catalog from version i to i + 1; never edit a shipped one."""

from __future__ import annotations

import sqlite3

from synesthete.exceptions import UserError

# What a search of the tracks matches (lower() folds ASCII letters only, as it always has here), and the
# order tracks are listed in: shared by a migration and by ``Catalog.tracks``, so they stay one (to change
# them, add a migration that drops and recreates the triggers and the index).
SEARCH_TEXT = (
    "lower(coalesce({row}.artist,'') || ' - ' || coalesce({row}.title,'') || ' ' || coalesce({row}.album,'')"
    " || ' ' || {row}.path)"
)
LISTING_ORDER = "lower(coalesce(artist,'')), lower(coalesce(album,'')), lower(coalesce(title,'')), path"

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
    # 1 -> 2: landmark fingerprints (catalog.py, ``save_fingerprint``): one versioned blob per track, an inverted index
    # keyed by hash, and a count of the index rows whose fingerprint is gone (swept in bulk, later).
    """
    CREATE TABLE fingerprints (
        fp_id INTEGER PRIMARY KEY AUTOINCREMENT,
        track_id INTEGER NOT NULL UNIQUE REFERENCES tracks(id) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        count INTEGER NOT NULL,
        landmarks BLOB NOT NULL
    );
    CREATE TABLE landmarks (
        hash INTEGER NOT NULL,
        fp_id INTEGER NOT NULL,
        t INTEGER NOT NULL,
        PRIMARY KEY (hash, fp_id, t)
    ) WITHOUT ROWID;
    INSERT INTO meta VALUES ('orphan_landmarks', '0');
    CREATE TRIGGER fingerprints_orphan AFTER DELETE ON fingerprints BEGIN
        UPDATE meta SET value = CAST(value AS INTEGER) + OLD.count WHERE key = 'orphan_landmarks';
    END;
    """,
    # -> +1: cached map projections (catalog.py, ``save_projection``), one per model, method, dims and seed; ``stamp``
    # fingerprints the projected vectors, so a changed collection recomputes its map.
    """
    CREATE TABLE projections (
        model TEXT NOT NULL,
        method TEXT NOT NULL,
        dims INTEGER NOT NULL,
        seed INTEGER NOT NULL,
        stamp TEXT NOT NULL,
        ids BLOB NOT NULL,
        coords BLOB NOT NULL,
        axes TEXT NOT NULL,
        seconds REAL NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (model, method, dims, seed)
    );
    """,
    # -> +1: the landmark index leaves SQLite for memory-mapped segments built from the fingerprint rows
    # (fingerprint/index.py): the b-tree cost ~150 ms a query at 10^4 tracks and ~5 MB of WAL per track.
    """
    DROP TABLE landmarks;
    UPDATE meta SET value = '0' WHERE key = 'orphan_landmarks';
    """,
    # -> +1: searching and listing tracks without work per row (catalog.py ``tracks``): the lower-cased
    # text a search matches, kept by triggers whoever writes the row, and an index in the listing's order.
    # The expressions are those the query used before, so the results are the same, byte for byte.
    f"""
    ALTER TABLE tracks ADD COLUMN search_text TEXT;
    UPDATE tracks SET search_text = {SEARCH_TEXT.format(row="tracks")};
    CREATE TRIGGER tracks_search_insert AFTER INSERT ON tracks BEGIN
        UPDATE tracks SET search_text = {SEARCH_TEXT.format(row="NEW")} WHERE id = NEW.id;
    END;
    CREATE TRIGGER tracks_search_update AFTER UPDATE OF artist, title, album, path ON tracks BEGIN
        UPDATE tracks SET search_text = {SEARCH_TEXT.format(row="NEW")} WHERE id = NEW.id;
    END;
    CREATE INDEX tracks_order ON tracks({LISTING_ORDER});
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, to: int = SCHEMA_VERSION) -> None:
    """Apply the migrations this catalog has not seen yet, each in its own transaction.

    ``to``: stop at that version (tests build the catalogs of old releases this way).
    """
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    if current > SCHEMA_VERSION:
        raise UserError(
            f"the catalog has schema version {current}, newer than this synesthete ({SCHEMA_VERSION}): upgrade"
        )
    for version in range(current, to):
        try:
            conn.executescript(f"BEGIN; {MIGRATIONS[version]} PRAGMA user_version = {version + 1}; COMMIT;")
        except sqlite3.Error:
            conn.rollback()
            raise
