"""The landmark index: its segments always answer exactly what the catalog's fingerprint rows hold, through
folds, merges, replaced and deleted fingerprints, other processes' folds and a new fingerprint version."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from synesthete import Library
from synesthete.fingerprint import index, landmarks
from synesthete.fingerprint.index import LandmarkIndex, Segment

HASHES = 1 << 12  # a small hash space, so that query hashes have many postings


def add(lib: Library, name: str, rng: np.random.Generator, n: int | None = None) -> int:
    """A track row and a random fingerprint of ``n`` landmarks; its track id."""
    n = int(rng.integers(200, 1500)) if n is None else n
    with lib.catalog.transaction() as c:
        track_id = c.execute(
            "INSERT INTO tracks (path, content_hash, size, mtime, duration, added_at, analysed_at)"
            " VALUES (?, ?, 0, 0, 60, 0, 0)",
            (name, name),
        ).lastrowid
    replace(lib, track_id, rng, n)
    return track_id


def replace(lib: Library, track_id: int, rng: np.random.Generator, n: int = 500) -> None:
    key = np.unique(rng.integers(0, HASHES, n) << 32 | rng.integers(0, 3000, n))  # distinct, as a real one
    h, t = (key >> 32).astype(np.uint32), (key & 0xFFFFFFFF).astype(np.uint32)
    lib.catalog.save_fingerprint(track_id, landmarks.VERSION, landmarks.pack(h, t))


def truth(lib: Library, hashes: np.ndarray) -> set[tuple[int, int, int]]:
    """(hash, fp_id, frame) of every current landmark with one of ``hashes``, from the rows themselves."""
    out = set()
    for fp_id, blob in lib.catalog.conn.execute(
        "SELECT fp_id, landmarks FROM fingerprints WHERE version = ?", (landmarks.VERSION,)
    ):
        h, t = landmarks.unpack(blob)
        keep = np.isin(h, hashes)
        out |= {(int(a), fp_id, int(b)) for a, b in zip(h[keep], t[keep], strict=True)}
    return out


def rows(runs: tuple[np.ndarray, np.ndarray, np.ndarray]) -> list[tuple[int, int, int]]:
    """(hash, fp_id, frame) of each posting of a lookup's runs (``LandmarkIndex.postings``)."""
    hashes, counts, postings = runs
    assert hashes.dtype == np.uint32 and postings.dtype == np.uint64
    assert (counts > 0).all() and counts.sum() == postings.size
    h = np.repeat(hashes, counts)
    fp, t = postings >> np.uint64(32), postings & np.uint64(0xFFFFFFFF)
    return list(zip(h.tolist(), fp.tolist(), t.tolist(), strict=True))


def answer(idx: LandmarkIndex, hashes: np.ndarray, current_only: Library | None = None) -> set:
    got = rows(idx.postings(hashes, common=None))
    assert len(got) == len(set(got)), "a landmark is indexed twice"
    if current_only is not None:
        alive = current_only.catalog.fingerprint_tracks(landmarks.VERSION, {g[1] for g in got})
        got = [g for g in got if g[1] in alive]
    return set(got)


def manifest(lib: Library) -> dict:
    return json.loads((lib.landmarks.folder / "manifest.json").read_text())


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Segments of a few thousand landmarks, so a few dozen tracks make several segments and merges."""
    monkeypatch.setattr(index, "BATCH", 3000)


def test_folds_and_merges_keep_every_landmark_once(tmp_path: Path, small_batches: None) -> None:
    rng = np.random.default_rng(1)
    queries = rng.integers(0, HASHES + 50, 300).astype(np.uint32)  # some are in no fingerprint
    with Library(tmp_path / "lib") as lib:
        for step in range(4):
            for i in range(8 if step < 3 else 2):
                add(lib, f"t{step}-{i}", rng, n=None if step < 3 else 500)
            if step < 3:  # the last two stay unfolded (under BATCH): read from the catalog at query time
                lib.landmarks.fold()
            assert answer(lib.landmarks, queries) == truth(lib, queries)
        sizes = [s["size"] for s in manifest(lib)["segments"]]
        assert len(sizes) >= 2  # several batches were written...
        assert all(a > index.MERGE_RATIO * b for a, b in itertools.pairwise(sizes))  # ...and merged
        assert (
            manifest(lib)["covered"]
            < lib.catalog.conn.execute("SELECT max(fp_id) FROM fingerprints").fetchone()[0]
        )
        added = lib.landmarks.fold()
        assert added > 0 and manifest(lib)["covered"] == max(fp for _, fp, _ in truth(lib, queries))


def test_replaced_and_deleted_fingerprints_are_ignored_then_swept(
    tmp_path: Path, small_batches: None
) -> None:
    rng = np.random.default_rng(2)
    queries = np.arange(HASHES, dtype=np.uint32)  # every hash: the whole index
    with Library(tmp_path / "lib") as lib:
        ids = [add(lib, f"t{i}", rng) for i in range(12)]
        lib.landmarks.fold()
        replace(lib, ids[0], rng)
        with lib.catalog.transaction() as c:
            c.execute("DELETE FROM tracks WHERE id = ?", (ids[1],))
        # Until a merge, the index still holds the old landmarks; the catalog tells them apart.
        assert answer(lib.landmarks, queries) > truth(lib, queries)
        assert answer(lib.landmarks, queries, current_only=lib) == truth(lib, queries)
        lib.landmarks.fold(compact=True)
        assert answer(lib.landmarks, queries) == truth(lib, queries)
        assert len(manifest(lib)["segments"]) == 1


def test_another_handle_follows_a_fold_that_removed_its_segments(tmp_path: Path, small_batches: None) -> None:
    rng = np.random.default_rng(3)
    queries = rng.integers(0, HASHES, 200).astype(np.uint32)
    with Library(tmp_path / "lib") as writer, Library(tmp_path / "lib") as reader:
        for i in range(10):
            add(writer, f"t{i}", rng)
        writer.landmarks.fold()
        assert answer(reader.landmarks, queries) == truth(reader, queries)
        before = {p.name for p in writer.landmarks.folder.iterdir()}
        for i in range(10):
            add(writer, f"u{i}", rng)
        with writer.catalog.transaction() as c:  # a stale reader would still answer with this track
            c.execute("DELETE FROM tracks WHERE path = 't0'")
        writer.landmarks.fold(compact=True)
        assert not before & {p.name for p in writer.landmarks.folder.glob("*.postings")}  # rewritten
        assert answer(reader.landmarks, queries) == truth(reader, queries)


def test_a_new_fingerprint_version_starts_the_index_again(tmp_path: Path, small_batches: None) -> None:
    rng = np.random.default_rng(4)
    queries = np.arange(HASHES, dtype=np.uint32)
    with Library(tmp_path / "lib") as lib:
        for i in range(6):
            add(lib, f"t{i}", rng)
        lib.landmarks.fold()
        m = manifest(lib)
        m["version"] = landmarks.VERSION - 1  # as if written by an older synesthete
        (lib.landmarks.folder / "manifest.json").write_text(json.dumps(m))
        lib.landmarks.fold()
        assert answer(lib.landmarks, queries) == truth(lib, queries)
        assert {p.name.split(".")[0] for p in lib.landmarks.folder.glob("*.keys")} == {
            s["name"] for s in manifest(lib)["segments"]
        }


def test_a_large_unfolded_catalog_is_indexed_by_the_first_query(tmp_path: Path, small_batches: None) -> None:
    """A killed first scan leaves many fingerprints unindexed: the first query folds them once."""
    rng = np.random.default_rng(5)
    queries = rng.integers(0, HASHES, 100).astype(np.uint32)
    with Library(tmp_path / "lib") as lib:
        for i in range(10):
            add(lib, f"t{i}", rng, n=1000)
        assert not (lib.landmarks.folder / "manifest.json").exists()
        assert answer(lib.landmarks, queries) == truth(lib, queries)
        assert manifest(lib)["covered"] > 0


def test_segment_lookup_matches_a_brute_force_search() -> None:
    rng = np.random.default_rng(6)
    h = rng.integers(0, 500, 5000).astype(np.uint32)
    fp = rng.integers(1, 40, 5000).astype(np.uint64)
    t = rng.integers(0, 10_000, 5000).astype(np.uint32)
    segment = Segment.of(h, fp, t)
    wanted = np.unique(rng.integers(0, 600, 80)).astype(np.uint32)
    got = sorted(rows(segment.gather(wanted, *segment.ranges(wanted))))
    keep = np.isin(h, wanted)
    assert got == sorted(zip(h[keep].tolist(), fp[keep].tolist(), t[keep].tolist(), strict=True))
    part_h, part_p = segment.part(100, 200)
    assert sorted(part_h.tolist()) == sorted(h[(h >= 100) & (h < 200)].tolist())
    assert part_p.size == part_h.size


def test_queries_skip_the_hashes_that_are_everywhere(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    with Library(tmp_path / "lib") as lib:
        for i in range(20):
            add(lib, f"t{i}", rng)
        common = np.arange(5, dtype=np.uint32)  # hashes 0-4 in every track, many times
        for track_id in range(1, 21):
            h, t = landmarks.unpack(
                lib.catalog.conn.execute(
                    "SELECT landmarks FROM fingerprints WHERE track_id = ?", (track_id,)
                ).fetchone()[0]
            )
            extra = np.repeat(common, 40)
            key = np.unique(
                np.r_[h, extra].astype(np.int64) << 32 | np.r_[t, rng.integers(3000, 9000, extra.size)]
            )
            lib.catalog.save_fingerprint(
                track_id,
                landmarks.VERSION,
                landmarks.pack((key >> 32).astype(np.uint32), (key & 0xFFFFFFFF).astype(np.uint32)),
            )
        lib.landmarks.fold()
        queries = np.r_[common, rng.integers(5, HASHES, 200).astype(np.uint32)]
        everything = answer(lib.landmarks, queries)
        assert {x[0] for x in everything} >= set(common.tolist())  # asked for everything, they are there
        assert set(rows(lib.landmarks.postings(queries))) == {x for x in everything if x[0] >= 5}
