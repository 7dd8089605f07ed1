"""The PostgreSQL catalog (library/postgres.py) against a real server with pgvector (tests/pg.py starts
one): the catalog suite's behaviours, what only a shared database has (several servers, a scan from
another process), and the issue's test: real clips scanned on a local Ray head into PostgreSQL give the
embedded scan's tracks, vectors and answers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from synesthete import Library
from synesthete.exceptions import UserError
from synesthete.features.registry import EXTRACTORS
from synesthete.library.catalog import Catalog
from tests import test_catalog as catalog_suite
from tests.test_ray import _vectors_by_path
from tests.test_server import start_server

psycopg = pytest.importorskip(
    "psycopg", reason="PostgreSQL tests need the scale extra: pip install -e '.[scale]'"
)

from synesthete.library.postgres import SCHEMA_VERSION, PostgresCatalog  # noqa: E402

DEV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dev"
TAGS = {"title": None, "artist": None, "album": None, "genre": None}


@pytest.fixture
def catalog(postgres_url: str, tmp_path: Path):
    with_catalog = PostgresCatalog(postgres_url, tmp_path / "lib")
    with_catalog.read_rows = 2  # every bulk read of these tests takes several fetches of its cursor
    yield with_catalog
    with_catalog.close()


def test_the_server_is_real_and_has_pgvector(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        (distance,) = conn.execute("SELECT '[1,0,0]'::vector <=> '[0,1,0]'::vector").fetchone()
        (name,) = conn.execute("SELECT current_database()").fetchone()
    assert distance == pytest.approx(1.0)  # cosine distance of orthogonal vectors
    assert name.startswith("test_")


def test_the_postgres_catalog_implements_every_operation_of_the_interface() -> None:
    for name, signature in catalog_suite._members(catalog_suite.CatalogStore).items():
        implemented = getattr(PostgresCatalog, name, None)
        assert implemented is not None, f"PostgresCatalog lacks {name}"
        if signature is not None:
            assert list(catalog_suite.inspect.signature(implemented).parameters) == list(signature.parameters)


# The catalog suite (tests/test_catalog.py), each test run again on this catalog.
test_lookups_by_ids_cross_the_parameter_limit = catalog_suite.test_lookups_by_ids_cross_the_parameter_limit
test_a_transaction_groups_calls = catalog_suite.test_a_transaction_groups_calls_and_rolls_them_back_together
test_fingerprint_bookkeeping = catalog_suite.test_fingerprint_bookkeeping
test_projections = catalog_suite.test_projections_are_kept_per_key_and_stamp_without_moving_the_generation
test_meta = catalog_suite.test_meta


ODD = [  # (path, tags): a Latin-1 name that is not UTF-8, accents, case, and no tags at all
    ("/m/caf\udce9/b.wav", {"title": "Zebra", "artist": "abba", "album": None, "genre": "Pop"}),
    ("/m/a.wav", {"title": "été", "artist": "ABBA", "album": "Gold", "genre": "pop"}),
    ("/m/c.flac", {"title": None, "artist": None, "album": None, "genre": None}),
    ("/m/d.ogg", {"title": "Ärger", "artist": "Ärzte", "album": "x", "genre": "Punk\udcff"}),
    ("/m/e.mp3", {"title": "b", "artist": "abba", "album": "gold", "genre": None}),
]


def _fill(catalog) -> None:
    for i, (path, tags) in enumerate(ODD):
        catalog.save_track(
            path, size=i, mtime=float(i), content_hash=f"h{i}", tags=tags, duration=30.0 + i,
            vectors={"demo": (2, np.linspace(-1, 1, 7, dtype=np.float32) * (i + 1) / 3)},
        )  # fmt: skip
    catalog.record_failure("/m/bad\udcff.wav", "not audio: caf\udce9")


def test_tracks_names_order_search_and_vectors_are_the_sqlite_catalog_s(catalog, tmp_path: Path) -> None:
    sqlite = Catalog(tmp_path / "sqlite")
    for c in (sqlite, catalog):
        _fill(c)
    listed = [t.to_dict() for t in catalog.tracks()]
    assert [t["path"] for t in listed][:1] == ["/m/c.flac"]  # no artist sorts first, as in SQLite
    assert listed == [{**t.to_dict(), "track_id": t.id} for t in sqlite.tracks()]
    for words in ("abba", "ABBA gold", "caf\udce9", "été", "ärzte", "m/", "nothing"):
        assert [t.path for t in catalog.tracks(words)] == [t.path for t in sqlite.tracks(words)], words
    assert catalog.tracks(limit=2, offset=1) == sqlite.tracks(limit=2, offset=1)
    for tag, word, part in (("artist", "abba", False), ("genre", "pu", True), ("album", "x", False)):
        assert catalog.tag_in_use(tag, word, part=part) == sqlite.tag_in_use(tag, word, part=part) is True
    assert catalog.tag_in_use("genre", "rock") is sqlite.tag_in_use("genre", "rock") is False
    assert catalog.failures() == sqlite.failures()
    assert catalog.file_states() == sqlite.file_states()
    assert all(s.analysed_at > 1e9 for s in catalog.file_states().values())  # read, though not compared
    ids, vectors = catalog.vectors("demo", 2)
    sqlite_ids, sqlite_vectors = sqlite.vectors("demo", 2)
    assert ids.tolist() == sqlite_ids.tolist() and vectors.dtype == np.float32
    assert np.array_equal(vectors, sqlite_vectors)  # float32 in a pgvector column: exact
    catalog.move_track(int(ids[0]), "/m/moved/zz.wav", size=9, mtime=9.0)
    assert [t.path for t in catalog.tracks("moved")] == ["/m/moved/zz.wav"]
    assert catalog.remove_paths(["/m/a.wav", "/m/none.wav"]) == 1 and catalog.count() == 4
    sqlite.close()


def _replies(conn, read) -> tuple[object, list[str]]:
    """What ``read()`` returns, and the server's replies to it on ``conn``: each statement's completion tag
    (``SELECT 1``, ``FETCH 7``, ...), from libpq's trace of the session."""
    from psycopg import pq

    with tempfile.TemporaryFile("w+") as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            out = read()
        finally:
            conn.pgconn.untrace()
        trace.seek(0)
        return out, re.findall(r'^B\t\d+\tCommandComplete\t "([^"]*)"', trace.read(), flags=re.M)


def test_bulk_reads_stream_a_few_rows_a_fetch_and_give_sqlite_s_arrays_bit_for_bit(
    catalog, tmp_path: Path
) -> None:
    """psycopg's ordinary cursor would take all 103 vectors into the client at once; the catalog reads
    them from a server-side cursor 7 a fetch, counted first in the same snapshot, into SQLite's arrays."""
    rng = np.random.default_rng(12)
    n, dim = 103, 37
    scale = 10.0 ** rng.integers(-30, 30, (n, dim))  # float32's range, from 1e-30 to 1e29
    vectors = (rng.standard_normal((n, dim)) * scale).astype(np.float32)
    vectors[0, :3] = (-0.0, np.finfo(np.float32).smallest_subnormal, np.finfo(np.float32).max)
    sqlite, order = Catalog(tmp_path / "sqlite"), rng.permutation(n).tolist()  # ids not in the rows' order
    for c in (sqlite, catalog):
        with c.transaction():
            for i in order:
                c.save_track(
                    f"/m/{i:03}.wav", size=i, mtime=0.0, content_hash=f"h{i}", tags=TAGS, duration=1.0,
                    vectors={"demo": (1, vectors[i])}, fingerprint=(1, bytes([i]) * 8 * (i % 4 + 1)),
                )  # fmt: skip
    catalog.read_rows = 7
    (ids, got), replies = _replies(catalog.conn, lambda: catalog.vectors("demo", 1))
    want_ids, want = sqlite.vectors("demo", 1)
    assert ids.tolist() == want_ids.tolist() and len(ids) == n
    assert got.dtype == np.float32 and got.tobytes() == want.tobytes()  # bit for bit, -0.0 and all
    assert replies == [
        "BEGIN", "SET", "DECLARE CURSOR", "SELECT 1", *["FETCH 7"] * 14, "FETCH 5", "FETCH 0",
        "CLOSE CURSOR", "COMMIT",
    ]  # fmt: skip
    # The other reads that grow with the catalog stream too, and answer as SQLite does.
    states, replies = _replies(catalog.conn, catalog.file_states)
    assert states == sqlite.file_states() and replies.count("FETCH 7") == 14
    assert catalog.fingerprint_blobs(1) == sqlite.fingerprint_blobs(1)
    assert catalog.fingerprint_versions() == sqlite.fingerprint_versions()
    assert catalog.vector_versions() == sqlite.vector_versions()
    assert catalog.tracks() == sqlite.tracks() and catalog.tracks(limit=5) == sqlite.tracks(limit=5)
    assert catalog.tracks_by_ids(ids[::2]) == sqlite.tracks_by_ids(ids[::2])
    assert sorted(catalog.fingerprint_tracks(1).values()) == sorted(sqlite.fingerprint_tracks(1).values())
    with catalog.transaction():  # inside a write transaction a read joins it (and sees its writes)
        catalog.remove_paths(["/m/000.wav"])
        assert len(catalog.vectors("demo", 1)[0]) == n - 1 and len(catalog.file_states()) == n - 1
    sqlite.close()


def test_migrations_run_once_and_a_newer_catalog_is_refused(postgres_url: str, tmp_path: Path) -> None:
    first = PostgresCatalog(postgres_url, tmp_path / "a")
    first.save_track(
        "/m/a.wav", size=1, mtime=0.0, content_hash="h", tags=TAGS, duration=1.0,
        vectors={"demo": (1, np.ones(3, np.float32))},
    )  # fmt: skip
    assert first.meta("schema") == str(SCHEMA_VERSION)
    second = PostgresCatalog(postgres_url, tmp_path / "b")  # opening again migrates nothing, loses nothing
    assert second.count() == 1 and second.generation == first.generation
    first.set_meta("schema", str(SCHEMA_VERSION + 1))
    with pytest.raises(UserError, match="newer than this synesthete"):
        PostgresCatalog(postgres_url, tmp_path / "c")
    for c in (first, second):
        c.close()


def test_a_bad_url_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"cannot open the catalog postgresql://me:\*\*\*@"):
        Library(tmp_path / "lib", catalog="postgresql://me:secret@/nowhere?host=/nonexistent")
    with pytest.raises(UserError, match="must be a postgresql://"):
        Library(tmp_path / "lib", catalog="mysql://me@host/db")


def _cli(*args: str, catalog: str, library: Path, flag: bool = False) -> subprocess.CompletedProcess:
    """``synesthete`` in a process of its own (another machine, as far as the catalog can tell), told the
    catalog by $SYNESTHETE_CATALOG or, with ``flag``, by ``--catalog``."""
    env = {k: v for k, v in os.environ.items() if k != "SYNESTHETE_CATALOG"}
    where = ["--catalog", catalog] if flag else []
    env |= {} if flag else {"SYNESTHETE_CATALOG": catalog}
    cmd = [sys.executable, "-m", "synesthete.cli", "--library", str(library), *where, *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


def _get(base: str, target: str) -> dict:
    with urllib.request.urlopen(base + target, timeout=120) as response:
        return json.loads(response.read())


def test_a_forked_process_opens_its_own_connection(catalog) -> None:
    """``serve --workers`` forks with the catalog open: the child must not talk on its parent's session."""
    catalog.set_meta("note", "before")
    parent_pid = catalog.conn.info.backend_pid
    pid = os.fork()
    if pid == 0:  # the child: exit status 0 only if it read through a connection of its own
        ok = catalog.meta("note") == "before" and catalog.conn.info.backend_pid != parent_pid
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    catalog.set_meta("note", "after")  # the parent's session is intact
    assert catalog.meta("note") == "after" and catalog.conn.info.backend_pid == parent_pid


def test_servers_on_one_database_answer_the_same_and_see_another_process_s_scan(
    postgres_url: str, tmp_path: Path
) -> None:
    from synesthete.demo import ensure_demo_audio

    audio = ensure_demo_audio(tmp_path / "audio", per_style=1)
    pieces = sorted(audio.glob("*/*.*")) or sorted(p for p in audio.rglob("*") if p.is_file())
    first, rest = tmp_path / "first", tmp_path / "rest"
    for folder, part in ((first, pieces[:4]), (rest, pieces[4:])):
        folder.mkdir()
        for p in part:
            (folder / p.name).symlink_to(p)
    out = _cli("scan", str(first), "--workers", "1", catalog=postgres_url, library=tmp_path / "scanner")
    assert out.returncode == 0, out.stderr
    # Two servers, each with its own library folder (its own machine); the second forks 2 workers.
    servers = [
        start_server(tmp_path / "server-a", "--catalog", postgres_url),
        start_server(tmp_path / "server-b", "--catalog", postgres_url, "--workers", "2"),
    ]
    try:
        bases = [base for _, base in servers]
        ids = [t["track_id"] for t in _get(bases[0], "/api/tracks")["tracks"]]
        assert len(ids) == 4 and sorted(
            t["track_id"] for t in _get(bases[1], "/api/tracks")["tracks"]
        ) == sorted(ids)
        for i in ids:
            a, b = (_get(base, f"/api/tracks/{i}/similar?k=3")["results"] for base in bases)
            assert len(a) == 3 and a == b
        out = _cli("scan", str(rest), "--workers", "1", catalog=postgres_url, library=tmp_path / "scanner")
        assert out.returncode == 0, out.stderr
        for base in bases:  # the next request sees the scan: no restart, no signal
            assert len(_get(base, "/api/tracks")["tracks"]) == len(pieces)
        newest = max(t["track_id"] for t in _get(bases[0], "/api/tracks")["tracks"])
        a, b = (_get(base, f"/api/tracks/{newest}/similar?k=7")["results"] for base in bases)
        assert len(a) == 7 and a == b
        assert newest in {
            r["track_id"] for i in ids for r in _get(bases[1], f"/api/tracks/{i}/similar?k=7")["results"]
        }
    finally:
        for proc, _ in servers:
            proc.terminate()
            proc.wait(timeout=60)
    listed = _cli("tracks", "--json", catalog=postgres_url, library=tmp_path / "reader", flag=True)
    assert listed.returncode == 0 and listed.stdout.count(str(rest)) == len(pieces) - 4


def _dev_clips(groups: int = 3, per_group: int = 4) -> list[Path]:
    folders = sorted(p for p in (DEV / "audio").iterdir() if p.is_dir())[:groups]
    return [clip for folder in folders for clip in sorted(folder.iterdir())[:per_group]]


@pytest.mark.skipif(not (DEV / "audio").is_dir(), reason=f"the dev clips are not here ({DEV})")
def test_ray_into_postgres_gives_the_embedded_scan_s_tracks_vectors_and_answers(
    postgres_url: str, tmp_path: Path
) -> None:
    """The issue's test: 12 real clips of 3 groups, local backend into SQLite against a local Ray head
    with 2 workers into PostgreSQL."""
    pytest.importorskip("ray", reason="Ray is not installed: pip install -e '.[scale]'")
    clips = [str(c) for c in _dev_clips()]
    assert len(clips) == 12
    with Library(tmp_path / "embedded") as local, Library(tmp_path / "cluster", catalog=postgres_url) as ray:
        local.scan(clips, workers=1)
        try:
            ray.scan(clips, workers=2, backend="ray")
        except UserError as e:
            if "could not start or reach" in str(e):
                pytest.skip(f"Ray cannot start here: {e}")
            raise
        by_path = {t.path: t for t in local.tracks()}
        ray_by_path = {t.path: t for t in ray.tracks()}
        assert sorted(by_path) == sorted(ray_by_path) == sorted(clips)
        assert local.status()["models"] == ray.status()["models"]
        assert local.status()["fingerprints"] == ray.status()["fingerprints"] == 12
        for name, extractor in EXTRACTORS.items():
            mine, theirs = (_vectors_by_path(lib, name, extractor.version) for lib in (local, ray))
            assert sorted(mine) == sorted(theirs) == sorted(clips), name
            for path, vector in mine.items():
                np.testing.assert_allclose(
                    theirs[path], vector, rtol=1e-5, atol=1e-6, err_msg=f"{name} {path}"
                )
        for model in local.models():
            for path in clips:
                mine = [m.track.path for m in local.similar(by_path[path].id, k=10, model=model)]
                theirs = [m.track.path for m in ray.similar(ray_by_path[path].id, k=10, model=model)]
                assert len(mine) == 10 and mine == theirs, (model, path)
