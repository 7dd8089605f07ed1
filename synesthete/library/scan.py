"""Scanning: find audio files, decide which need analysis, analyse them in worker processes.

Incremental by (size, mtime) and by content: an unchanged file costs one ``stat``; a moved or renamed
file is recognised by its content hash and keeps its analysis; a file gone from disk leaves the catalog.
Each finished track is committed on its own, so a killed scan resumes where it stopped. A bad file is
recorded with its reason and the scan goes on; a file is given up past a time and a memory cap. One scan
per library at a time; workers die with the scan; SIGTERM and Ctrl-C stop it cleanly (``guard.py``).
``refresh`` recomputes stale vectors of catalogued tracks without walking folders (after ``train``). A
worker is handed everything it needs in its ``Job`` (the cnn checkpoint and the classic models' folder
too) and answers a ``FileResult``.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from synesthete.audio.decode import AUDIO_EXTENSIONS, DECODER, reads_differently
from synesthete.exceptions import UserError
from synesthete.library.guard import (
    decoder_log,
    holding_interrupts,
    ignore_interrupts_in_worker,
    scan_lock,
    send_stderr_to,
    stderr_to,
    terminate_as_interrupt,
    watch_parent,
)
from synesthete.library.store import CatalogStore, Failure, FileState
from synesthete.library.tags import content_hash
from synesthete.library.work import FINGERPRINT, FileResult, Job, analyse_job, warm_up

__all__ = [
    "FINGERPRINT",
    "FileResult",
    "Job",
    "RefreshReport",
    "ScanReport",
    "analyse_job",
    "refresh",
    "scan",
]


@dataclass
class ScanReport:
    """What a scan did. ``failed`` lists every file that could not be analysed, with the reason."""

    added: int = 0
    updated: int = 0
    moved: int = 0
    removed: int = 0
    unchanged: int = 0
    failed: list[Failure] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "added": self.added,
            "updated": self.updated,
            "moved": self.moved,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "failed": [{"path": f.path, "reason": f.reason} for f in self.failed],
        }


@dataclass
class RefreshReport:
    """What ``refresh`` did: how many tracks got their stale vectors, and the files that failed."""

    refreshed: int = 0
    failed: list[Failure] = field(default_factory=list)


def walk(roots: Iterable[str]) -> tuple[list[str], list[Failure]]:
    """Audio files below ``roots`` (files may be named directly), following links but never looping."""
    files: list[str] = []
    problems: list[Failure] = []
    for root in roots:
        root = os.path.abspath(os.path.expanduser(root))
        if os.path.isfile(root):
            files.append(root)
            continue
        if not os.path.isdir(root):
            raise UserError(f"{root}: no such file or folder")
        seen: set[tuple[int, int]] = set()
        for folder, dirs, names in os.walk(
            root, followlinks=True, onerror=lambda e: problems.append(_walk_error(e))
        ):
            st = os.stat(folder)
            if (st.st_dev, st.st_ino) in seen:
                problems.append(
                    Failure(folder, "symbolic link loop: this folder is already being scanned; skipped")
                )
                dirs[:] = []
                continue
            seen.add((st.st_dev, st.st_ino))
            dirs.sort()
            for name in dirs:
                if Path(name).suffix.lower() in AUDIO_EXTENSIONS:
                    problems.append(
                        Failure(
                            os.path.join(folder, name),
                            "a folder named like an audio file (its files are scanned)",
                        )
                    )
            for name in sorted(names):
                if Path(name).suffix.lower() in AUDIO_EXTENSIONS:
                    files.append(os.path.join(folder, name))
    return list(dict.fromkeys(files)), problems


def _walk_error(e: OSError) -> Failure:
    return Failure(str(e.filename), f"cannot read folder: {e.strerror or e}")


def _init_worker(parent: int, log: Path | None, checkpoint: Path | None) -> None:
    """Die with the parent; decoder chatter to ``log``; one BLAS/OpenMP thread per worker (the pool is
    the parallelism); load the models (the cnn's from ``checkpoint``) and compile numba code once."""
    from threadpoolctl import threadpool_limits

    from synesthete.models import checkpoints

    ignore_interrupts_in_worker()
    checkpoints.use(checkpoint)
    watch_parent(parent)
    if log is not None:
        send_stderr_to(log)
    threadpool_limits(1)
    warm_up()


def _under(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def plan(
    catalog: CatalogStore,
    roots: list[str],
    extractors: dict[str, int],
    checkpoint: Path | None = None,
    classic_models: Path | None = None,
) -> tuple[list[Job], ScanReport]:
    """Compare the disk with the catalog: apply moves, touches and removals now; return what to analyse."""
    report = ScanReport()
    files, problems = walk(roots)
    for p in problems:
        catalog.record_failure(p.path, p.reason)
        report.failed.append(p)
    roots = [os.path.abspath(os.path.expanduser(r)) for r in roots]
    known = catalog.file_states()
    versions = _versions(catalog, extractors)
    reread = _waiting_for_decoder(catalog, known)
    on_disk: dict[str, os.stat_result] = {}
    for path in files:
        try:
            st = os.stat(path)
        except OSError as e:
            dangling = isinstance(e, FileNotFoundError) and os.path.islink(path)
            reason = (
                "a dangling symbolic link (its target is gone)"
                if dangling
                else f"cannot read: {e.strerror or e}"
            )
            report.failed.append(Failure(path, reason))
            catalog.record_failure(path, reason)
            continue
        if stat.S_ISREG(st.st_mode):
            on_disk[path] = st
        else:
            report.failed.append(Failure(path, f"not a regular file ({_kind(st.st_mode)})"))
            catalog.record_failure(path, report.failed[-1].reason)
    # Tracks whose files are gone are either moved (same bytes found elsewhere) or removed.
    gone = {p: s for p, s in known.items() if p not in on_disk and _under(p, roots) and not os.path.exists(p)}
    gone_by_size: dict[int, list[str]] = {}
    for p, s in gone.items():
        gone_by_size.setdefault(s.size, []).append(p)
    jobs: list[Job] = []
    models = (checkpoint, classic_models)  # what every job runs
    for path, st in on_disk.items():
        state = known.get(path)
        if state and state.size == st.st_size and state.mtime == st.st_mtime:
            if path in reread:
                jobs.append(
                    Job(path, st.st_size, st.st_mtime, state.content_hash, tuple(extractors), True, *models)
                )
            elif stale := _stale(versions.get(state.id, {}), extractors):
                jobs.append(Job(path, st.st_size, st.st_mtime, state.content_hash, stale, False, *models))
            else:
                report.unchanged += 1
            continue
        digest = None
        candidates = gone_by_size.get(st.st_size, [])
        if state or candidates:
            try:
                digest = content_hash(path)
            except OSError as e:
                report.failed.append(Failure(path, f"cannot read: {e.strerror or e}"))
                catalog.record_failure(path, report.failed[-1].reason)
                continue
        if (
            state
            and digest == state.content_hash
            and not _stale(versions.get(state.id, {}), extractors)
            and path not in reread
        ):
            catalog.touch_track(state.id, size=st.st_size, mtime=st.st_mtime)
            report.unchanged += 1
            continue
        moved_from = next((p for p in candidates if gone[p].content_hash == digest), None)
        if (
            moved_from
            and not state
            and not _stale(versions.get(gone[moved_from].id, {}), extractors)
            and moved_from not in reread
        ):
            catalog.move_track(gone[moved_from].id, path, size=st.st_size, mtime=st.st_mtime)
            candidates.remove(moved_from)
            del gone[moved_from]
            report.moved += 1
            continue
        jobs.append(Job(path, st.st_size, st.st_mtime, digest, tuple(extractors), True, *models))
    report.removed = catalog.remove_paths(list(gone))
    vanished_failures = [p for p in catalog.failure_paths() if _under(p, roots) and not os.path.lexists(p)]
    catalog.remove_paths(vanished_failures)
    return jobs, report


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a file"


def _versions(catalog: CatalogStore, extractors: dict[str, int]) -> dict[int, dict[str, int]]:
    """track id -> extractor -> version stored; fingerprints are versioned like vectors, in their own table."""
    versions = catalog.vector_versions()
    if FINGERPRINT in extractors:
        for track_id, version in catalog.fingerprint_versions().items():
            versions.setdefault(track_id, {})[FINGERPRINT] = version
    return versions


def _waiting_for_decoder(catalog: CatalogStore, known: dict[str, FileState]) -> set[str]:
    """Catalogued files that an older decoder may have read otherwise (a joined MP3 as its first part:
    ``decode.reads_differently``) and that this one has not analysed yet.

    The first scan with a new ``decode.DECODER`` reads the headers of the tracks analysed before it, once,
    and stores which of them wait (meta ``decoder``: version, since when, the waiting paths); later scans
    drop those analysed since, so a killed scan's next run still knows them, and an unchanged file still
    costs one ``stat``.
    """
    stamp = json.loads(catalog.meta("decoder") or "{}")
    if stamp.get("version") == DECODER:
        since, waiting = stamp["since"], set(stamp["waiting"])
    else:
        since = time.time()
        waiting = {p for p, s in known.items() if s.analysed_at < since and reads_differently(p)}
    left = {p for p in waiting if p in known and known[p].analysed_at < since}
    if left != waiting or stamp.get("version") != DECODER:
        catalog.set_meta("decoder", json.dumps({"version": DECODER, "since": since, "waiting": sorted(left)}))
    return left


def stamp_new_library(catalog: CatalogStore) -> None:
    """A library without tracks, never stamped, met no older decoder: stamped so when it is opened, so
    that its first scan writes nothing before its first track (on a nearly full disk, that write could
    be the one that does not fit)."""
    if catalog.meta("decoder") is None and catalog.count() == 0:
        catalog.set_meta("decoder", json.dumps({"version": DECODER, "since": 0.0, "waiting": []}))


def _stale(have: dict[str, int], want: dict[str, int]) -> tuple[str, ...]:
    return tuple(name for name, version in want.items() if have.get(name) != version)


def refresh(
    catalog: CatalogStore,
    extractors: dict[str, int],
    *,
    checkpoint: Path | None = None,
    classic_models: Path | None = None,
    workers: int | None = None,
    progress: bool = False,
) -> RefreshReport:
    """Recompute the vectors of ``extractors`` (name -> version wanted) that the catalogued tracks hold at
    another version, as the next scan would, without walking folders; a file that fails keeps its track
    (a scan decides what to forget). ``checkpoint``: the cnn weights the analysis runs; ``classic_models``:
    the folder of the classic checkpoints it runs."""
    versions = _versions(catalog, extractors)
    states = catalog.file_states()
    jobs = [
        Job(path, s.size, s.mtime, s.content_hash, stale, False, checkpoint, classic_models)
        for path, s in states.items()
        if (stale := _stale(versions.get(s.id, {}), extractors))
    ]
    report = RefreshReport()
    names = ", ".join(extractors)
    bar = tqdm(
        total=len(jobs),
        desc=f"refreshing {names}",
        unit="track",
        file=sys.stderr,
        disable=not progress or not jobs,
    )
    for job, result in _run(jobs, max(1, workers or 1)):
        if result.error is None:
            catalog.add_vectors(states[job.path].id, result.vectors, result.fingerprint)
            report.refreshed += 1
        else:
            report.failed.append(Failure(job.path, result.error))
        bar.update(1)
    bar.close()
    return report


def scan(
    catalog: CatalogStore,
    roots: list[str],
    *,
    extractors: dict[str, int],
    workers: int | None = None,
    progress: bool = True,
    on_result: Callable[[FileResult], None] | None = None,
    backend: str = "local",
    address: str | None = None,
    checkpoint: Path | None = None,
    classic_models: Path | None = None,
) -> ScanReport:
    """Bring the catalog up to date with ``roots``; see the module docstring. ``checkpoint``: the cnn
    weights the analysis runs (``extractors`` holds their version), None for the shipped ones;
    ``classic_models``: the folder of the classic checkpoints it runs (``features/classic.py``).

    ``backend``: "local" (a pool of this machine's processes) or "ray" (the same work unit as Ray tasks,
    on the cluster at ``address`` or on a local Ray head of ``workers`` CPUs: ``distributed/ray_backend.py``).

    One scan per library at a time (a second one raises ``UserError``). SIGTERM, like Ctrl-C, raises
    ``KeyboardInterrupt`` here after the workers are stopped; every track finished is kept.
    """
    if backend not in ("local", "ray"):
        raise UserError(f"unknown scan backend {backend!r}: local or ray")
    if address is not None and backend != "ray":
        raise UserError(f"--address {address} is the address of a Ray cluster: it needs --backend ray")
    if backend == "ray":
        from synesthete.distributed import ray_backend

        ray_backend.import_ray()  # before any work: a missing extra is said at once
    with scan_lock(catalog.folder), terminate_as_interrupt():
        jobs, report = plan(catalog, roots, extractors, checkpoint, classic_models)
        known = catalog.file_states()
        requested = workers
        workers = min(max(1, workers or os.cpu_count() or 1), max(1, len(jobs)))
        show = progress and bool(jobs)
        if show:
            processes = "1 process" if workers == 1 else f"{workers} processes"
            if backend == "ray":
                processes = f"Ray tasks ({f'the cluster at {address}' if address else f'a local Ray head, {processes}'})"
            print(
                f"analysing {len(jobs)} files in {processes}; first each process loads the models and compiles"
                " the feature code (once per process, up to a minute)",
                file=sys.stderr,
            )
        bar = None
        if backend == "ray":
            results = ray_backend.run(
                jobs,
                requested if address else workers,
                address=address,
                log=decoder_log(catalog.folder),
                checkpoint=checkpoint,
            )
        else:
            results = _run(jobs, workers, log=decoder_log(catalog.folder))
        try:
            for job, result in results:
                _store(catalog, job, result, known, report)
                if on_result:
                    on_result(result)
                if show and bar is None:  # started at the first result, so the ETA leaves the warm-up out
                    bar = tqdm(total=len(jobs), initial=1, unit="track", desc="analysing", file=sys.stderr)
                elif bar is not None:
                    bar.update(1)
                if result.error is not None and show:
                    bar.write(f"skipped {result.path}: {result.error}", file=sys.stderr)
        finally:
            results.close()  # workers stopped (and a local Ray head shut down) now, not at garbage collection
            if bar is not None:
                bar.close()
    return report


def _run(jobs: list[Job], workers: int, *, log: Path | None = None) -> Iterator[tuple[Job, FileResult]]:
    """Results in completion order; in-process for one worker, else a pool fed a few jobs ahead.

    ``log``: where decoders' own messages go instead of the terminal. On any exception (Ctrl-C, SIGTERM)
    or an abandoned iteration, the workers are stopped at once rather than left to finish their files.
    """
    if not jobs:
        return
    if workers == 1 or len(jobs) == 1:
        warm_up()
        for job in jobs:
            with stderr_to(log):
                result = analyse_job(job)
            yield job, result
        return
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=min(workers, len(jobs)),
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(os.getpid(), log, jobs[0].checkpoint),
    ) as pool:
        queue = iter(jobs)
        running: dict[Future, Job] = {}
        try:
            with holding_interrupts():  # the workers start now, born with SIGINT held
                for job in queue:
                    running[pool.submit(analyse_job, job)] = job
                    if len(running) >= 4 * workers:
                        break
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    job = running.pop(fut)
                    yield job, fut.result()
                    nxt = next(queue, None)
                    if nxt is not None:
                        running[pool.submit(analyse_job, nxt)] = nxt
        except BaseException:
            for process in list(getattr(pool, "_processes", {}).values()):  # no public API before 3.14
                process.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _store(catalog: CatalogStore, job: Job, result: FileResult, known: dict, report: ScanReport) -> None:
    if result.error is not None:
        catalog.record_failure(job.path, result.error)
        report.failed.append(Failure(job.path, result.error))
        return
    if not job.tags_and_all:
        catalog.add_vectors(known[job.path].id, result.vectors, result.fingerprint)
        report.updated += 1
        return
    catalog.save_track(
        job.path,
        size=job.size,
        mtime=job.mtime,
        content_hash=result.content_hash,
        tags=result.tags,
        duration=result.duration,
        vectors=result.vectors,
        fingerprint=result.fingerprint,
    )
    if job.path in known:
        report.updated += 1
    else:
        report.added += 1
