"""The sonic map: deterministic projections, the projection cache, the files a map is written to, exports."""

from __future__ import annotations

import base64
import gzip
import json
import re
from pathlib import Path

import numpy as np
import pytest

from synesthete import Library
from synesthete.cli import main
from synesthete.features.registry import EXTRACTORS
from synesthete.mapview.export import read_npz, read_parquet, read_projector
from synesthete.mapview.plots import to_html, write_map
from synesthete.mapview.project import exact_neighbours, project

MODELS = ("descriptors", "seed498")  # the ones a synthetic library gets vectors for


def add_tracks(lib: Library, n: int, *, start: int = 0, seed: int = 0) -> None:
    """Tracks with synthetic vectors in 4 'genres', straight into the catalog (no audio needed)."""
    rng = np.random.default_rng(seed)
    for i in range(start, start + n):
        genre = f"style{i % 4}"
        vectors = {}
        for name in MODELS:
            e = EXTRACTORS[name]
            centre = np.random.default_rng(100 + i % 4).standard_normal(e.dim)
            vectors[name] = (e.version, (centre + 0.3 * rng.standard_normal(e.dim)).astype(np.float32))
        lib.catalog.save_track(
            f"/music/{genre}/track{i:03d}.flac",
            size=1000 + i,
            mtime=1.0,
            content_hash=f"h{i}",
            tags={"title": f"Track {i}", "artist": f"Artist {i % 3}", "album": "LP", "genre": genre},
            duration=30.0,
            vectors=vectors,
        )


@pytest.fixture
def synthetic(tmp_path: Path) -> Library:
    with Library(tmp_path / "library") as lib:
        add_tracks(lib, 60)
        yield lib


def blobs(n: int = 150, d: int = 20) -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.standard_normal((5, d))[np.arange(n) % 5] + 0.2 * rng.standard_normal((n, d))


@pytest.mark.parametrize("method", ["pca", "tsne", "umap"])
def test_projections_are_deterministic_with_a_seed(method: str) -> None:
    x = blobs()
    a = project(x, method=method, dims=2, seed=7)
    b = project(x, method=method, dims=2, seed=7)
    assert a.coords.shape == (len(x), 2) and np.isfinite(a.coords).all()
    np.testing.assert_array_equal(a.coords, b.coords)
    if method == "umap":  # t-SNE starts from PCA: its seed changes nothing
        assert not np.array_equal(a.coords, project(x, method=method, dims=2, seed=8).coords)


def test_umap_in_3d_keeps_the_clusters_apart() -> None:
    x = blobs()
    coords = project(x, method="umap", dims=3, seed=0).coords
    assert coords.shape == (len(x), 3)
    centres = np.array([coords[np.arange(len(x)) % 5 == c].mean(axis=0) for c in range(5)])
    spread = np.mean(
        [np.linalg.norm(coords[np.arange(len(x)) % 5 == c] - centres[c], axis=1).mean() for c in range(5)]
    )
    gaps = np.linalg.norm(centres[:, None] - centres[None], axis=2)[np.triu_indices(5, 1)]
    assert gaps.min() > spread


def test_exact_neighbours_put_each_point_first_then_its_nearest() -> None:
    x = blobs(40, 3).astype(np.float32)
    idx, dist, _ = exact_neighbours(x, 4, block=7)
    d = np.linalg.norm(x[:, None] - x[None], axis=2)
    np.testing.assert_array_equal(idx[:, 0], np.arange(40))
    np.testing.assert_allclose(dist, np.sort(d, axis=1)[:, :4], atol=1e-5)


def test_pca_axes_are_named_by_the_dimensions_that_load_most() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((100, 4)) * [0.1, 0.1, 0.1, 0.1]
    x[:, 2] += np.linspace(-5, 5, 100)  # 'tempo' carries almost all the variance
    x[:, 0] += 1.0  # keep the rows away from the origin (they are scaled to unit length)
    p = project(x, method="pca", dims=2, names=["bright", "loud", "tempo", "dense"])
    assert p.axes[0].startswith("PC1 (") and "tempo" in p.axes[0].split(": ")[1].split(", ")[0]


def test_map_is_cached_and_recomputed_when_the_vectors_change(synthetic: Library) -> None:
    generation = synthetic.catalog.generation
    first = synthetic.map("pca", 2, "descriptors")
    assert not first["cached"] and len(first["points"]) == 60
    assert synthetic.catalog.generation == generation  # a cached map is derived data: spaces stay valid
    again = synthetic.map("pca", 2, "descriptors")
    assert again["cached"] and again["points"] == first["points"] and again["axes"] == first["axes"]
    assert not synthetic.map("pca", 3, "descriptors")["cached"]  # another key, another entry
    assert synthetic.map("pca", 2, "descriptors")["cached"]
    add_tracks(synthetic, 1, start=60, seed=5)
    changed = synthetic.map("pca", 2, "descriptors")
    assert not changed["cached"] and len(changed["points"]) == 61
    point = changed["points"][0]
    assert {"track_id", "x", "y", "title", "artist", "genre", "path"} <= set(point)
    json.dumps(changed)


def test_map_files(synthetic: Library, tmp_path: Path) -> None:
    doc = synthetic.map("pca", 3, "descriptors")
    page = write_map(doc, tmp_path / "map.html").read_text()
    assert "<script src" not in page  # offline: nothing fetched
    packed = re.search(r'id="plotly-js-gzip"[^>]*>([^<]+)<', page).group(1)
    assert b"plotly" in gzip.decompress(base64.b64decode(packed))[:2000].lower()
    figure = json.loads(re.search(r'id="figure"[^>]*>(.+?)</script>', page, re.S).group(1))
    assert {t["type"] for t in figure["data"]} == {"scatter3d"} and len(figure["data"]) == 4
    png = write_map(doc, tmp_path / "map.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = (write_map(doc, tmp_path / "coords.csv")).read_text().splitlines()
    assert rows[0].startswith("track_id,x,y,z,label") and len(rows) == 61


def test_a_map_page_of_ten_thousand_tracks_stays_under_5_mb() -> None:
    rng = np.random.default_rng(0)
    points = [
        {
            "track_id": i,
            "x": float(rng.standard_normal()),
            "y": float(rng.standard_normal()),
            "z": float(rng.standard_normal()),
            "title": f"A fairly long song title number {i}",
            "artist": f"Some Artist Name {i % 700}",
            "genre": f"genre {i % 30}",
            "path": f"/home/someone/Music/Some Artist Name {i % 700}/Album/{i:05d} title.flac",
        }
        for i in range(10_000)
    ]
    doc = {"model": "descriptors-v1", "method": "umap", "dims": 3, "axes": ["1", "2", "3"], "points": points}
    colours = {p["track_id"]: p["genre"] for p in points}
    assert len(to_html(doc, colours, "big").encode()) < 5_000_000


def test_map_command(synthetic: Library, tmp_path: Path, capsys) -> None:
    folder = str(synthetic.folder)
    assert (
        main(
            [
                "--library",
                folder,
                "map",
                "--model",
                "descriptors",
                "--method",
                "pca",
                "--dims",
                "2",
                "--out",
                str(tmp_path / "c.csv"),
            ]
        )
        == 0
    )
    assert (tmp_path / "c.csv").read_text().count("\n") == 61
    capsys.readouterr()
    assert main(["--library", folder, "map", "--model", "descriptors", "--method", "pca", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["cached"] and doc["axes"][0].startswith("PC1")


def test_exports_read_back(synthetic: Library, tmp_path: Path) -> None:
    ids = sorted(t.id for t in synthetic.tracks())
    for fmt, reader in (("parquet", read_parquet), ("npz", read_npz)):
        out = tmp_path / f"collection.{fmt}"
        assert main(["--library", str(synthetic.folder), "export", "--format", fmt, str(out)]) == 0
        back = reader(out)
        assert back["track_id"].tolist() == ids
        assert back["genre"][:4] == ["style0", "style1", "style2", "style3"]
        assert back["path"][0] == "/music/style0/track000.flac"
        for name in MODELS:
            _, raw = synthetic.catalog.vectors(name, EXTRACTORS[name].version)
            np.testing.assert_array_equal(back["vectors"][name], raw)
        assert back["models"]["descriptors"]["names"][0] == str(EXTRACTORS["descriptors"].names[0])
        for name in set(EXTRACTORS) - set(MODELS):  # models without vectors export as missing
            assert np.isnan(back["vectors"][name]).all()
    result = synthetic.export("projector", tmp_path / "projector")
    assert result["tensors"] == {"descriptors-v1": 60, "seed498-v1": 60}
    vectors, meta = read_projector(tmp_path / "projector", "descriptors-v1")
    space = synthetic.space("descriptors")
    np.testing.assert_allclose(vectors, space.vectors, rtol=1e-5, atol=1e-5)
    assert meta[0]["track_id"] == str(space.ids[0]) and meta[0]["genre"] == "style0"
    config = (tmp_path / "projector" / "projector_config.pbtxt").read_text()
    assert 'tensor_path: "seed498-v1.tsv"' in config
