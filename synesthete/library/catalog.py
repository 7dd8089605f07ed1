"""The catalog: one SQLite file (WAL) holding tracks, their vectors per extractor version, and failures.

Every write runs in one short transaction, so a scan killed at any moment leaves a consistent catalog in
which every finished track is kept. A ``generation`` counter moves on every write, so readers can cache
what they derive (search indexes) and know when to rebuild it.

Paths are kept byte for byte: a file name that is not valid UTF-8 (copied from an old Latin-1 system)
reaches Python as a str with surrogate escapes (``os.fsdecode``); it is stored as the same bytes in a
TEXT column (``CAST(? AS TEXT)`` of ``_db(text)``) and read back through ``surrogateescape``. Where
it must be shown as Unicode (JSON, XML, CSV), each such byte is written ``\\udcXX`` (``shown``).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import numpy as np

from synesthete.exceptions import UserError
from synesthete.library.migrations import LISTING_ORDER, migrate
from synesthete.library.store import (  # the records are the interface's; re-exported for callers
    READ_ROWS,
    Failure,
    FileState,
    Fingerprint,
    Pending,
    ProjectionKey,
    Track,
    Vectors,
    fill_rows,
    projection_of,
)

__all__ = ["CATALOG_FILE", "Catalog", "Failure", "FileState", "Track", "shown"]

CATALOG_FILE = "catalog.sqlite"
TRACK_COLUMNS = "id, path, title, artist, album, genre, duration"


def _db(text: str | None) -> str | bytes | None:
    """What to bind for text that may hold surrogate escapes; SQL casts it back to TEXT."""
    if text is None or text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape")


_text = partial(str, encoding="utf-8", errors="surrogateescape")  # TEXT as it was stored, byte for byte


def shown(text: str) -> str:
    """Text for formats that must be valid Unicode (JSON, XML, CSV): a byte of a name that is not
    UTF-8 (a surrogate escape) as the six characters ``\\udcXX``, a valid escape in JSON and JavaScript."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


BATCH = 900  # ids bound per ``IN (...)``: under SQLite's limit on a statement's parameters


class Catalog:
    """The SQLite catalog of one library folder; implements ``library.store.CatalogStore``."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder).expanduser()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / CATALOG_FILE
        self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0, check_same_thread=False)
        self.conn.text_factory = _text
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.execute("PRAGMA foreign_keys = ON")
        migrate(self.conn)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction that also moves the generation on; rolled back on any error. Inside one
        already open, it joins it (the outer one commits).

        A full disk makes SQLite end the transaction itself; the error then says so, naming the catalog
        (every track committed before stays).
        """
        if self.conn.in_transaction:
            yield self.conn
            return
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
                self.conn.execute(
                    "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'"
                )
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as e:
            if getattr(e, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
                raise UserError(
                    f"{self.path}: cannot write, the disk is full; every track finished so far is kept:"
                    " free some space and run the same command again"
                ) from e
            raise

    @property
    def generation(self) -> int:
        return int(self.meta("generation") or 0)

    def _in_batches(self, sql: str, ids: Iterable[int], *args: object) -> Iterator[tuple]:
        """Rows of ``sql`` (whose ``{ids}`` becomes placeholders, bound after ``args``) for every id,
        ``BATCH`` ids per statement."""
        ids = [int(i) for i in ids]
        for start in range(0, len(ids), BATCH):
            part = ids[start : start + BATCH]
            yield from self.conn.execute(sql.format(ids=",".join("?" * len(part))), (*args, *part))

    # ---- tracks --------------------------------------------------------------------------------
    def tracks(self, search: str | None = None, limit: int | None = None, offset: int = 0) -> list[Track]:
        """Tracks ordered by artist, album, title; ``search`` matches every word in tags or path."""
        sql, args = f"SELECT {TRACK_COLUMNS} FROM tracks", []
        words = (search or "").split()
        if words:  # search_text: the row's tags and path, lower-cased once when written (migrations.py)
            sql += " WHERE " + " AND ".join("instr(search_text, CAST(? AS TEXT)) > 0" for _ in words)
            args += [_db(w.lower()) for w in words]
        sql += f" ORDER BY {LISTING_ORDER} LIMIT ? OFFSET ?"  # read in the order of the index tracks_order
        args += [-1 if limit is None else limit, offset]
        return [Track(*row) for row in self.conn.execute(sql, args)]

    def track(self, track_id: int) -> Track | None:
        row = self.conn.execute(f"SELECT {TRACK_COLUMNS} FROM tracks WHERE id = ?", (track_id,)).fetchone()
        return Track(*row) if row else None

    def track_at(self, path: str) -> Track | None:
        """The track catalogued at exactly this path (byte for byte), if any."""
        row = self.conn.execute(
            f"SELECT {TRACK_COLUMNS} FROM tracks WHERE path = CAST(? AS TEXT)", (_db(path),)
        ).fetchone()
        return Track(*row) if row else None

    def tracks_by_ids(self, ids: Iterable[int]) -> dict[int, Track]:
        rows = self._in_batches(f"SELECT {TRACK_COLUMNS} FROM tracks WHERE id IN ({{ids}})", ids)
        return {row[0]: Track(*row) for row in rows}

    def track_facts(self, ids: Iterable[int]) -> dict[int, tuple[str, float]]:
        rows = self._in_batches("SELECT id, content_hash, duration FROM tracks WHERE id IN ({ids})", ids)
        return {i: (h, float(d or 0.0)) for i, h, d in rows}

    def tag_in_use(self, tag: str, word: str | None = None, *, part: bool = False) -> bool:
        """Whether some track's ``tag`` (artist, album, genre) is ``word`` (lower case), holds it
        (``part``), or, with no word, is set at all."""
        if tag not in ("artist", "album", "genre"):
            raise ValueError(f"not a tag the catalog keeps: {tag}")
        test, args = f"{tag} <> ''", ()
        if word is not None:
            test = f"instr(lower({tag}), CAST(? AS TEXT)) > 0" if part else f"lower({tag}) = CAST(? AS TEXT)"
            args = (_db(word),)
        return self.conn.execute(f"SELECT 1 FROM tracks WHERE {test} LIMIT 1", args).fetchone() is not None

    def count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM tracks").fetchone()[0]

    def file_states(self) -> dict[str, FileState]:
        rows = self.conn.execute("SELECT path, id, size, mtime, content_hash, analysed_at FROM tracks")
        return {path: FileState(*state) for path, *state in rows}

    def save_track(
        self,
        path: str,
        *,
        size: int,
        mtime: float,
        content_hash: str,
        tags: Mapping[str, str | None],
        duration: float,
        vectors: Vectors,
        fingerprint: Fingerprint | None = None,
    ) -> int:
        """Insert or update the track at ``path`` with its vectors and fingerprint, in one transaction,
        so a killed scan never leaves half a track behind."""
        now = time.time()
        with self.transaction() as c:
            row = c.execute("SELECT id FROM tracks WHERE path = CAST(? AS TEXT)", (_db(path),)).fetchone()
            fields = (
                content_hash,
                size,
                mtime,
                _db(tags.get("title")),
                _db(tags.get("artist")),
                _db(tags.get("album")),
                _db(tags.get("genre")),
                duration,
                now,
            )
            text = "CAST(? AS TEXT)"
            if row:
                track_id = row[0]
                c.execute(
                    f"UPDATE tracks SET content_hash=?, size=?, mtime=?, title={text}, artist={text},"
                    f" album={text}, genre={text}, duration=?, analysed_at=? WHERE id=?",
                    (*fields, track_id),
                )
            else:
                track_id = c.execute(
                    "INSERT INTO tracks (content_hash, size, mtime, title, artist, album, genre, duration,"
                    f" analysed_at, path, added_at) VALUES (?,?,?,{text},{text},{text},{text},?,?,{text},?)",
                    (*fields, _db(path), now),
                ).lastrowid
            self.add_vectors(track_id, vectors, fingerprint)
            c.execute("DELETE FROM failures WHERE path = CAST(? AS TEXT)", (_db(path),))
        return track_id

    def move_track(self, track_id: int, path: str, *, size: int, mtime: float) -> None:
        """A file was renamed or moved: keep its analysis, change where it lives."""
        with self.transaction() as c:
            c.execute("DELETE FROM tracks WHERE path = CAST(? AS TEXT) AND id != ?", (_db(path), track_id))
            c.execute(
                "UPDATE tracks SET path=CAST(? AS TEXT), size=?, mtime=? WHERE id=?",
                (_db(path), size, mtime, track_id),
            )
            c.execute("DELETE FROM failures WHERE path = CAST(? AS TEXT)", (_db(path),))

    def touch_track(self, track_id: int, *, size: int, mtime: float) -> None:
        """The file's time changed but its content did not."""
        with self.transaction() as c:
            c.execute("UPDATE tracks SET size=?, mtime=? WHERE id=?", (size, mtime, track_id))

    def remove_paths(self, paths: list[str]) -> int:
        """Forget tracks (and their vectors) and failures at these paths."""
        if not paths:
            return 0
        with self.transaction() as c:
            n = 0
            for path in paths:
                n += c.execute("DELETE FROM tracks WHERE path = CAST(? AS TEXT)", (_db(path),)).rowcount
                c.execute("DELETE FROM failures WHERE path = CAST(? AS TEXT)", (_db(path),))
        return n

    # ---- failures ------------------------------------------------------------------------------
    def record_failure(self, path: str, reason: str) -> None:
        """Remember why a file could not be analysed; a stale track at that path is forgotten."""
        with self.transaction() as c:
            c.execute("DELETE FROM tracks WHERE path = CAST(? AS TEXT)", (_db(path),))
            c.execute(
                "INSERT OR REPLACE INTO failures (path, reason, at) VALUES (CAST(? AS TEXT),CAST(? AS TEXT),?)",
                (_db(path), _db(reason), time.time()),
            )

    def failures(self) -> list[Failure]:
        return [Failure(*r) for r in self.conn.execute("SELECT path, reason FROM failures ORDER BY path")]

    def failure_paths(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT path FROM failures")]

    # ---- vectors -------------------------------------------------------------------------------
    def add_vectors(self, track_id: int, vectors: Vectors, fingerprint: Fingerprint | None = None) -> None:
        """Replace some of a track's vectors (and its fingerprint) in one transaction."""
        with self.transaction() as c:
            c.executemany(
                "INSERT OR REPLACE INTO vectors (track_id, extractor, version, vector) VALUES (?,?,?,?)",
                [
                    (track_id, name, version, np.asarray(v, dtype=np.float32).tobytes())
                    for name, (version, v) in vectors.items()
                ],
            )
            if fingerprint is not None:
                self.save_fingerprint(track_id, *fingerprint)

    def vectors(self, extractor: str, version: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids int64 (n,), vectors float32 (n, dim)) of every track with a current vector.

        Read ``READ_ROWS`` rows at a time straight into one array sized by the tracks counted first: a
        list of every row and its stacked copy held the vectors three times over (10^6 x 498: 2 GB each).
        """
        capacity = self.conn.execute("SELECT count(*) FROM tracks").fetchone()[0]
        cursor = self.conn.execute(
            "SELECT track_id, vector FROM vectors WHERE extractor = ? AND version = ? ORDER BY track_id",
            (extractor, version),
        )
        return fill_rows(
            capacity,
            (
                (np.array([r[0] for r in rows], dtype=np.int64), b"".join(r[1] for r in rows))
                for rows in iter(lambda: cursor.fetchmany(READ_ROWS), [])
            ),
        )

    def vector_versions(self) -> dict[int, dict[str, int]]:
        out: dict[int, dict[str, int]] = {}
        for track_id, name, version in self.conn.execute("SELECT track_id, extractor, version FROM vectors"):
            out.setdefault(track_id, {})[name] = version
        return out

    def vector_counts(self) -> dict[tuple[str, int], int]:
        rows = self.conn.execute(
            "SELECT extractor, version, count(*) FROM vectors GROUP BY extractor, version"
        )
        return {(name, version): n for name, version, n in rows}

    def count_with_vectors(self, versions: Mapping[str, int]) -> int:
        """How many tracks have a current vector of every one of these extractors."""
        clauses = " AND ".join(
            "EXISTS (SELECT 1 FROM vectors v WHERE v.track_id = t.id AND v.extractor = ? AND v.version = ?)"
            for _ in versions
        )
        args = [x for item in versions.items() for x in item]
        return self.conn.execute(f"SELECT count(*) FROM tracks t WHERE {clauses}", args).fetchone()[0]

    # ---- fingerprints (schema: migrations.py; the index built from them: fingerprint/index.py) ----
    def save_fingerprint(self, track_id: int, version: int, blob: bytes) -> None:
        """Replace a track's fingerprint. An explicit DELETE (not REPLACE), so the trigger counts the old
        landmarks as orphans for the index; AUTOINCREMENT, so the new row's fp_id is never reused."""
        with self.transaction() as c:
            c.execute("DELETE FROM fingerprints WHERE track_id = ?", (track_id,))
            c.execute(
                "INSERT INTO fingerprints (track_id, version, count, landmarks) VALUES (?,?,?,?)",
                (track_id, version, len(blob) // 8, blob),
            )

    def fingerprint_count(self, version: int) -> int:
        return self.conn.execute(
            "SELECT count(*) FROM fingerprints WHERE version = ?", (version,)
        ).fetchone()[0]

    def fingerprint_versions(self) -> dict[int, int]:
        return dict(self.conn.execute("SELECT track_id, version FROM fingerprints"))

    def fingerprint_tracks(self, version: int, fp_ids: Iterable[int] | None = None) -> dict[int, int]:
        sql = "SELECT fp_id, track_id FROM fingerprints WHERE version = ?"
        if fp_ids is None:
            return dict(self.conn.execute(sql, (version,)))
        return dict(self._in_batches(sql + " AND fp_id IN ({ids})", fp_ids, version))

    def fingerprint_blobs(self, version: int, track_ids: Iterable[int] | None = None) -> dict[int, bytes]:
        sql = "SELECT track_id, landmarks FROM fingerprints WHERE version = ?"
        if track_ids is None:
            return dict(self.conn.execute(sql, (version,)))
        return dict(self._in_batches(sql + " AND track_id IN ({ids})", track_ids, version))

    def fingerprint_ids_between(self, version: int, first: int, last: int) -> list[int]:
        rows = self.conn.execute(
            "SELECT fp_id FROM fingerprints WHERE version = ? AND fp_id BETWEEN ? AND ?",
            (version, first, last),
        )
        return [r[0] for r in rows]

    def fingerprints_pending(self, after: int) -> Pending:
        row = self.conn.execute(
            "SELECT count(*), max(fp_id), coalesce(sum(count), 0) FROM fingerprints WHERE fp_id > ?", (after,)
        ).fetchone()
        return Pending(*row)

    def fingerprints_after(self, after: int) -> Iterator[tuple[int, int, bytes]]:
        cursor = self.conn.execute(
            "SELECT fp_id, version, landmarks FROM fingerprints WHERE fp_id > ? ORDER BY fp_id", (after,)
        )
        while rows := cursor.fetchmany(64):
            yield from rows

    def orphan_landmarks(self) -> int:
        """Counted by the trigger ``fingerprints_orphan`` (migrations.py)."""
        return int(self.meta("orphan_landmarks") or 0)

    def reset_orphan_landmarks(self) -> None:
        self.set_meta("orphan_landmarks", "0")

    # ---- maps and meta -------------------------------------------------------------------------
    def load_projection(
        self, key: ProjectionKey, stamp: str
    ) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
        row = self.conn.execute(
            "SELECT stamp, ids, coords, axes FROM projections WHERE model=? AND method=? AND dims=? AND seed=?",
            (key.model, key.method, key.dims, key.seed),
        ).fetchone()
        return projection_of(key, stamp, row)

    def save_projection(
        self,
        key: ProjectionKey,
        stamp: str,
        ids: np.ndarray,
        coords: np.ndarray,
        axes: list[str],
        seconds: float,
    ) -> None:
        """One statement outside ``transaction`` (it commits on its own), so the generation stays."""
        self.conn.execute(
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

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as c:
            c.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
