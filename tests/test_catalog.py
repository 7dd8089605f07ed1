"""The catalog interface (library/store.py) and its SQLite implementation: every operation the rest of the
code uses is declared once, and the SQLite catalog answers each the same way a second one must."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest

from synesthete.library.catalog import BATCH, Catalog
from synesthete.library.store import CatalogStore, Pending, ProjectionKey

TAGS = {"title": None, "artist": None, "album": None, "genre": None}


def add(catalog: Catalog, path: str, *, duration: float = 60.0, fingerprint=None) -> int:
    return catalog.save_track(
        path, size=1, mtime=0.0, content_hash=f"hash of {path}", tags=TAGS, duration=duration,
        vectors={"demo": (1, np.arange(3, dtype=np.float32))}, fingerprint=fingerprint,
    )  # fmt: skip


@pytest.fixture
def catalog(tmp_path: Path):
    with_catalog = Catalog(tmp_path / "lib")
    yield with_catalog
    with_catalog.close()


def _members(cls: type) -> dict[str, inspect.Signature | None]:
    out = {}
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        out[name] = None if isinstance(value, property) else inspect.signature(value)
    return out


def test_the_sqlite_catalog_implements_every_operation_of_the_interface() -> None:
    declared = _members(CatalogStore)
    assert len(declared) > 30  # the whole interface, not an empty Protocol
    for name, signature in declared.items():
        implemented = getattr(Catalog, name, None)
        assert implemented is not None, f"Catalog lacks {name}"
        if signature is not None:
            assert list(inspect.signature(implemented).parameters) == list(signature.parameters), name


def test_lookups_by_ids_cross_the_parameter_limit(catalog: Catalog) -> None:
    n = 2 * BATCH + 7
    with catalog.transaction():
        ids = [add(catalog, f"/m/{i}.wav", duration=i, fingerprint=(3, bytes(8 * (i % 5)))) for i in range(n)]
    assert sorted(catalog.tracks_by_ids(ids)) == ids
    facts = catalog.track_facts([*ids, 10**9])
    assert len(facts) == n and facts[ids[-1]] == (f"hash of /m/{n - 1}.wav", float(n - 1))
    live = catalog.fingerprint_tracks(3)
    assert sorted(live.values()) == ids
    some = list(live)[::2]
    assert catalog.fingerprint_tracks(3, some) == {fp: live[fp] for fp in some}
    assert catalog.fingerprint_tracks(4, some) == {}  # another landmark format is not current
    blobs = catalog.fingerprint_blobs(3, ids[-BATCH - 3 :])
    assert len(blobs) == BATCH + 3 and blobs[ids[-1]] == bytes(8 * ((n - 1) % 5))


def test_a_transaction_groups_calls_and_rolls_them_back_together(catalog: Catalog) -> None:
    first = add(catalog, "/m/a.wav", fingerprint=(3, bytes(16)))
    generation = catalog.generation
    with pytest.raises(RuntimeError), catalog.transaction():
        add(catalog, "/m/b.wav")
        catalog.save_fingerprint(first, 3, bytes(80))
        raise RuntimeError("stop")
    assert catalog.track_at("/m/b.wav") is None
    assert catalog.fingerprint_blobs(3) == {first: bytes(16)}
    assert catalog.generation == generation
    with catalog.transaction():
        add(catalog, "/m/b.wav")
        catalog.save_fingerprint(first, 3, bytes(80))
    assert catalog.generation == generation + 1  # one write, however many calls
    assert catalog.fingerprint_blobs(3) == {first: bytes(80)}


def test_fingerprint_bookkeeping(catalog: Catalog) -> None:
    a = add(catalog, "/m/a.wav", fingerprint=(3, bytes(8 * 10)))
    b = add(catalog, "/m/b.wav", fingerprint=(2, bytes(8 * 4)))
    assert catalog.fingerprint_count(3) == 1 and catalog.fingerprint_versions() == {a: 3, b: 2}
    assert catalog.fingerprints_pending(0) == Pending(2, 2, 14)
    assert [(fp, v, len(blob)) for fp, v, blob in catalog.fingerprints_after(1)] == [(2, 2, 32)]
    catalog.save_fingerprint(a, 3, bytes(8 * 6))  # replaced: a new fp_id, the old landmarks orphaned
    assert catalog.fingerprint_tracks(3) == {3: a}
    assert catalog.fingerprint_ids_between(3, 1, 3) == [3]
    assert catalog.orphan_landmarks() == 10
    catalog.remove_paths(["/m/b.wav"])
    assert catalog.orphan_landmarks() == 14 and catalog.fingerprint_versions() == {a: 3}
    catalog.reset_orphan_landmarks()
    assert catalog.orphan_landmarks() == 0


def test_projections_are_kept_per_key_and_stamp_without_moving_the_generation(catalog: Catalog) -> None:
    key = ProjectionKey("demo-v1", "pca", 2, 42)
    ids, coords = np.array([5, 7], np.int64), np.array([[0.5, 1.0], [-1.0, 2.0]], np.float32)
    assert catalog.load_projection(key, "s1") is None
    generation = catalog.generation
    catalog.save_projection(key, "s1", ids, coords, ["PC 1", "PC 2"], 0.25)
    assert catalog.generation == generation
    got_ids, got_coords, axes = catalog.load_projection(key, "s1")
    assert got_ids.tolist() == [5, 7] and np.array_equal(got_coords, coords) and axes == ["PC 1", "PC 2"]
    assert catalog.load_projection(key, "s2") is None  # other vectors: recompute
    assert catalog.load_projection(ProjectionKey("demo-v1", "pca", 2, 43), "s1") is None


def test_meta(catalog: Catalog) -> None:
    assert catalog.meta("nothing here") is None
    catalog.set_meta("note", "kept")
    assert catalog.meta("note") == "kept"
    assert catalog.meta("generation") == str(catalog.generation)
