"""The inverted index of landmarks (hash -> fingerprint and frame), in immutable memory-mapped segments.

The catalog keeps each track's landmarks as one blob, committed with the track: that is the truth, and a
scan writes nothing else per track. This index is derived from it and log-structured. ``fold`` turns the
fingerprints added since the last fold (``fp_id`` above the manifest's ``covered``; ids are never reused)
into a new segment, then merges the newest two segments while the older is at most ``MERGE_RATIO`` times
bigger: each segment is more than twice the next, so there are O(log n) of them, and each landmark is
rewritten O(log n) times. A segment is three
flat files sorted by hash: its distinct hashes (uint32), where each hash's postings start (uint64), and
the postings (uint64: ``fp_id << 32 | frame``). A lookup is one binary search per query hash and one
gather, memory-mapped, with no row-by-row work (the SQLite b-tree it replaces spent ~150 ms a query at
10^4 tracks fetching rows).

Readers never lock: segment files are never modified, the manifest is replaced atomically, and the
fingerprints not folded yet are read from the catalog at query time. A fingerprint deleted or replaced
after its segment was written stays there until a merge drops it, so callers check candidates against
the catalog (``fingerprint_tracks``). Writers (``fold``) hold an exclusive lock on the folder.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synesthete.fingerprint.landmarks import VERSION, unpack
from synesthete.library.store import CatalogStore, Pending

MANIFEST = "manifest.json"
BATCH = 8_000_000  # landmarks per new segment and per merge step: bounds a fold's memory (~200 MB)
MERGE_RATIO = 2
COMMON = 8.0  # a query hash with more postings than this many times the median is skipped (``postings``)
PARTS = (("keys", np.uint32), ("starts", np.uint64), ("postings", np.uint64))


@dataclass(frozen=True)
class Segment:
    """Postings grouped by hash: those of ``keys[i]`` are ``postings[starts[i]:starts[i + 1]]``."""

    keys: np.ndarray
    starts: np.ndarray
    postings: np.ndarray

    @property
    def size(self) -> int:
        return int(self.postings.size)

    @classmethod
    def of(cls, hashes: np.ndarray, fp_ids: np.ndarray, frames: np.ndarray) -> Segment:
        """A segment in memory; postings of one hash keep their input order (a stable sort)."""
        order = np.argsort(hashes, kind="stable")
        h = hashes[order]
        keys, first = np.unique(h, return_index=True)
        postings = (fp_ids[order].astype(np.uint64) << np.uint64(32)) | frames[order].astype(np.uint64)
        return cls(keys.astype(np.uint32), np.append(first, h.size).astype(np.uint64), postings)

    @classmethod
    def open(cls, folder: Path, name: str) -> Segment:
        return cls(*(np.memmap(folder / f"{name}.{part}", dtype=dt, mode="r") for part, dt in PARTS))

    def ranges(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(first posting, count) of each of ``hashes`` (sorted, distinct); count 0 when absent."""
        if self.keys.size == 0:
            return np.zeros(hashes.size, np.int64), np.zeros(hashes.size, np.int64)
        i = np.minimum(np.searchsorted(self.keys, hashes), self.keys.size - 1)
        found = np.asarray(self.keys[i]) == hashes
        lo = np.asarray(self.starts[i]).astype(np.int64)
        return lo, np.where(found, np.asarray(self.starts[i + 1]).astype(np.int64) - lo, 0)

    def gather(
        self, hashes: np.ndarray, lo: np.ndarray, n: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The runs (hash, count, postings) of ``n`` postings from ``lo`` for each of ``hashes``, empty
        runs left out (see ``LandmarkIndex.postings``)."""
        from synesthete.fingerprint.pairs import copy_runs  # numba: loaded by the first lookup

        found = n > 0
        lo, n = lo[found], n[found]
        out = np.empty(int(n.sum()), np.uint64)
        copy_runs(np.asarray(self.postings), lo, n, out, 0)
        return hashes[found], n, out

    def part(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """(hash, posting) of every posting whose hash is in [lo, hi)."""
        a, b = (int(x) for x in np.searchsorted(self.keys, [lo, hi]))
        counts = np.diff(np.asarray(self.starts[a : b + 1]).astype(np.int64))
        postings = np.asarray(self.postings[int(self.starts[a]) : int(self.starts[b])])
        return np.repeat(np.asarray(self.keys[a:b]), counts), postings


def write(sources: list[Segment], folder: Path, keep: np.ndarray | None = None) -> tuple[str, int]:
    """Merge ``sources`` (oldest first) into a new segment file set; (its name, its size).

    ``keep``: the fp_ids to keep (the live ones), or None for all. Works through the hash space in
    ranges of about ``BATCH`` postings, so memory stays bounded whatever the sizes.
    """
    name = uuid.uuid4().hex[:16]
    biggest = max(sources, key=lambda s: s.size)
    n_parts = max(1, -(-sum(s.size for s in sources) // BATCH))
    # Range bounds at the biggest source's posting quantiles: hashes are far from uniform.
    at = np.searchsorted(np.asarray(biggest.starts), np.linspace(0, biggest.size, n_parts + 1)[1:-1])
    bounds = [0, *np.asarray(biggest.keys)[np.minimum(at, biggest.keys.size - 1)].tolist(), 1 << 32]
    keys, counts, size = [], [], 0
    with open(folder / f"{name}.postings", "wb") as out:
        for lo, hi in itertools.pairwise(bounds):
            pieces = [s.part(lo, hi) for s in sources]
            h = np.concatenate([p[0] for p in pieces])
            p = np.concatenate([p[1] for p in pieces])
            if keep is not None:
                alive = np.isin(p >> np.uint64(32), keep)
                h, p = h[alive], p[alive]
            order = np.argsort(h, kind="stable")
            k, c = np.unique(h[order], return_counts=True)
            out.write(p[order].tobytes())
            keys.append(k.astype(np.uint32))
            counts.append(c)
            size += int(p.size)
    starts = np.concatenate([[0], np.cumsum(np.concatenate(counts))]).astype(np.uint64)
    np.concatenate(keys).tofile(folder / f"{name}.keys")
    starts.tofile(folder / f"{name}.starts")
    return name, size


class LandmarkIndex:
    """The segments of one library's index, reopened whenever another process replaced the manifest."""

    def __init__(self, catalog: CatalogStore) -> None:
        self.catalog = catalog
        self.folder = catalog.folder / "index" / "landmarks"
        self._stamp: tuple | None = None
        self._segments: list[Segment] = []
        self._covered = 0
        self._pending: tuple[Pending | None, Segment | None] = (None, None)

    # ---- reading ---------------------------------------------------------------------------------
    def postings(
        self, hashes: np.ndarray, common: float | None = COMMON
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The indexed landmarks whose hash is in ``hashes``, in runs of one hash: (hashes uint32, counts
        int64, postings uint64), ``counts[i]`` postings of ``hashes[i]`` and then the next run; a posting is
        ``fp_id << 32 | frame``. A hash has a run in each segment holding it.

        Runs and packed postings, as the segments hold them, not a (hash, fp_id, frame) row per posting:
        at 10^4 tracks a query has ~10^5 postings, and splitting and widening them cost more than finding
        them (``pairs.crowded_pairs`` reads them as they are).

        Hashes with more than ``common`` times the median count of the query's hashes are skipped, like
        stop words: measured at 10^4 tracks, they are 5-11% of a query's hashes but 56-90% of its
        postings, and what occurs everywhere tells little about where.
        """
        wanted = np.unique(np.asarray(hashes, dtype=np.uint32))
        segments = self._current()
        ranges = [s.ranges(wanted) for s in segments]
        total = sum((n for _, n in ranges), np.zeros(wanted.size, np.int64))
        skip = np.zeros(wanted.size, bool)
        if common is not None and total.any():
            skip = total > common * max(1.0, float(np.median(total[total > 0])))
        found = [
            s.gather(wanted, lo, np.where(skip, 0, n)) for s, (lo, n) in zip(segments, ranges, strict=True)
        ]
        if len(found) == 1:
            return found[0]
        return (
            np.concatenate([np.zeros(0, np.uint32), *(f[0] for f in found)]),
            np.concatenate([np.zeros(0, np.int64), *(f[1] for f in found)]),
            np.concatenate([np.zeros(0, np.uint64), *(f[2] for f in found)]),
        )

    def alive(self, fp_ids: list[int]) -> Collection[int]:
        """Those of ``fp_ids`` that are current fingerprints (the index may still hold replaced ones)."""
        return self.catalog.fingerprint_tracks(VERSION, fp_ids).keys()

    def landmarks(self, fp_ids: list[int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """The stored (hashes, frames) of those of ``fp_ids`` that are current, read from the catalog."""
        tracks = self.catalog.fingerprint_tracks(VERSION, fp_ids)
        blobs = self.catalog.fingerprint_blobs(VERSION, tracks.values())
        return {fp: unpack(blobs[t]) for fp, t in tracks.items() if t in blobs}

    def _current(self) -> list[Segment]:
        """The folded segments and, in memory, the fingerprints the catalog holds beyond them."""
        for attempt in range(3):
            try:
                self._reopen()
                break
            except FileNotFoundError:  # a fold removed a segment between our manifest read and open
                if attempt == 2:
                    raise
        key = self.catalog.fingerprints_pending(self._covered)
        if (
            key.landmarks > BATCH
        ):  # a new catalog, a killed scan: index it once rather than read it every query
            self.fold()
            return self._current()
        if key != self._pending[0]:
            self._pending = (key, _in_memory(self._unfolded(self._covered)) if key.count else None)
        pending = self._pending[1]
        return self._segments if pending is None else [*self._segments, pending]

    def _reopen(self) -> None:
        path = self.folder / MANIFEST
        try:
            st = path.stat()
            stamp = (st.st_mtime_ns, st.st_ino, st.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp:
            return
        manifest = _read_manifest(self.folder)
        self._segments = [Segment.open(self.folder, s["name"]) for s in manifest["segments"]]
        self._covered = manifest["covered"]
        self._stamp = stamp

    def _unfolded(self, covered: int) -> Iterator[tuple[int, bytes]]:
        """(fp_id, blob) of the current fingerprints above ``covered``, by fp_id (one snapshot)."""
        for fp_id, version, blob in self.catalog.fingerprints_after(covered):
            yield fp_id, (blob if version == VERSION else b"")

    # ---- writing ---------------------------------------------------------------------------------
    def fold(self, *, compact: bool = False) -> int:
        """Index the fingerprints added since the last fold, merge segments, sweep deleted ones.

        Returns the number of landmarks added. ``compact``: merge everything into one segment of live
        fingerprints now, not only once a quarter of the index is garbage. Run by ``Library.scan``, and
        every ``BATCH`` landmarks during a long scan, so queries never read much from the catalog.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        with _locked(self.folder):
            manifest = _read_manifest(self.folder)
            segments, covered, added = list(manifest["segments"]), manifest["covered"], 0
            batch: list[tuple[int, bytes]] = []
            batch_bytes = 0
            for fp_id, blob in self._unfolded(covered):
                covered = fp_id
                if blob:
                    batch.append((fp_id, blob))
                    batch_bytes += len(blob)
                if batch_bytes >= 8 * BATCH:  # 8 bytes a landmark
                    added += self._append(segments, batch)
                    batch, batch_bytes = [], 0
            if batch:
                added += self._append(segments, batch)
            swept = self._collect_garbage(segments, force=compact)
            if covered != manifest["covered"] or swept or not (self.folder / MANIFEST).exists():
                _write_manifest(self.folder, {"version": VERSION, "covered": covered, "segments": segments})
            _remove_unlisted(self.folder, segments)
        return added

    def _append(self, segments: list[dict], batch: list[tuple[int, bytes]]) -> int:
        segment = _in_memory(iter(batch))
        if segment is None:
            return 0
        name, size = write([segment], self.folder)
        segments.append({"name": name, "size": size, "first": batch[0][0], "last": batch[-1][0]})
        # A segment at least half the size of the one before joins it: each is then more than twice the next.
        while len(segments) >= 2 and segments[-2]["size"] <= MERGE_RATIO * segments[-1]["size"]:
            self._merge(segments, len(segments) - 2, len(segments))
        return size

    def _merge(self, segments: list[dict], start: int, stop: int) -> None:
        """Replace ``segments[start:stop]`` (adjacent fp ranges) by one, without dead fingerprints."""
        group = segments[start:stop]
        first, last = group[0]["first"], group[-1]["last"]
        keep = np.array(self.catalog.fingerprint_ids_between(VERSION, first, last), np.uint64)
        name, size = write([Segment.open(self.folder, s["name"]) for s in group], self.folder, keep)
        merged = {"name": name, "size": size, "first": first, "last": last}
        segments[start:stop] = [merged] if size else []  # an empty file cannot be memory-mapped

    def _collect_garbage(self, segments: list[dict], *, force: bool) -> bool:
        """Merge everything once the landmarks of deleted fingerprints are a quarter of the index."""
        orphans = self.catalog.orphan_landmarks()
        total = sum(s["size"] for s in segments)
        if not segments or (not force and orphans < max(50_000, total // 4)):
            return False
        self._merge(segments, 0, len(segments))
        self.catalog.reset_orphan_landmarks()
        return True


def _in_memory(rows: Iterator[tuple[int, bytes]]) -> Segment | None:
    hashes, fp_ids, frames = [], [], []
    for fp_id, blob in rows:
        if blob:
            h, t = unpack(blob)
            hashes.append(h)
            frames.append(t)
            fp_ids.append(np.full(h.size, fp_id, np.uint64))
    if not hashes:
        return None
    return Segment.of(np.concatenate(hashes), np.concatenate(fp_ids), np.concatenate(frames))


def _read_manifest(folder: Path) -> dict:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        manifest = None
    if not manifest or manifest.get("version") != VERSION:  # other hashes: start again from the catalog
        return {"version": VERSION, "covered": 0, "segments": []}
    return manifest


def _write_manifest(folder: Path, manifest: dict) -> None:
    tmp = folder / f"{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, folder / MANIFEST)


def _remove_unlisted(folder: Path, segments: list[dict]) -> None:
    """Delete the files of merged-away segments (open memory maps of other readers stay valid)."""
    listed = {s["name"] for s in segments}
    for f in folder.iterdir():
        if f.name not in (MANIFEST, ".lock") and f.name.split(".")[0] not in listed:
            f.unlink(missing_ok=True)


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
