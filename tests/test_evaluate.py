"""Retrieval metrics against hand-computed cases, and `synesthete evaluate` end to end on the demo collection."""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from synesthete import Library
from synesthete.cli import main
from synesthete.evaluate.metrics import retrieval_scores
from synesthete.evaluate.scores import ranking_scores

# 0, 1, 2 are 'a' and 3, 4 are 'b'; 0 and 1 share artist x, 3 and 4 artist z.
SIM = np.array(
    [
        [0, 0.9, 0.5, 0.8, 0.1],
        [0.9, 0, 0.3, 0.7, 0.2],
        [0.5, 0.3, 0, 0.4, 0.6],
        [0.8, 0.7, 0.4, 0, 0.95],
        [0.1, 0.2, 0.6, 0.95, 0],
    ]
)
LABELS = ["a", "a", "a", "b", "b"]
ARTISTS = np.array(["x", "x", "y", "z", "z"])
LOG3 = math.log2(3)


def test_scores_on_a_hand_computed_case() -> None:
    # Rankings (query excluded), relevant marked *:
    # 0: 1* 3 2* 4   P@2 1/2  AP (1 + 2/3)/2 = 5/6  nDCG@2 1 / (1 + 1/log2 3)
    # 1: 0* 3 2* 4   the same
    # 2: 4 0* 3 1*   P@2 1/2  AP (1/2 + 2/4)/2 = 1/2  nDCG@2 (1/log2 3) / (1 + 1/log2 3)
    # 3: 4* 0 1 2    P@2 1/2  AP 1  nDCG@2 1
    # 4: 3* 2 1 0    the same
    s = ranking_scores(SIM, LABELS, k=2)
    assert s["queries"] == 5 and s["k"] == 2
    assert s["precision_at_k"] == pytest.approx(0.5)
    assert s["map"] == pytest.approx((5 / 6 + 5 / 6 + 1 / 2 + 1 + 1) / 5)
    ideal = 1 + 1 / LOG3
    assert s["ndcg_at_k"] == pytest.approx((1 / ideal + 1 / ideal + (1 / LOG3) / ideal + 1 + 1) / 5)
    # Top 2 lists: [1 3] [0 3] [4 0] [4 0] [3 2] -> k-occurrence 3 1 1 3 2: symmetric around 2, skew 0.
    assert s["hubness"] == {"k": 2, "skewness": pytest.approx(0.0), "max_occurrence": 3, "antihubs": 0.0}
    assert s["per_group"]["b"] == {
        "tracks": 2,
        "queries": 2,
        "precision_at_k": 0.5,
        "map": 1.0,
        "ndcg_at_k": 1.0,
    }
    # Group a's 3 queries have 6 neighbours in their top 2: 1 0 2 of them 'a'... 0->1, 1->0, 2->0: 3 of 6.
    assert s["confusion"] == {"groups": ["a", "b"], "matrix": [[0.5, 0.5], [0.5, 0.5]]}


def test_the_artist_filter_takes_same_artist_neighbours_out_of_ranking_and_relevance() -> None:
    # 0: 3 2* 4 (1 filtered)  P@2 1/2  AP 1/2  nDCG (1/log2 3)/1
    # 1: 3 2* 4 (0 filtered)  the same
    # 2: 4 0* 3 1* (nobody shares its artist)  P@2 1/2  AP 1/2  nDCG (1/log2 3)/(1 + 1/log2 3)
    # 3 and 4: their only same-group track is by the same artist: nothing left to find, skipped.
    s = ranking_scores(SIM, LABELS, k=2, exclude=ARTISTS[:, None] == ARTISTS[None, :])
    assert s["queries"] == 3
    assert s["precision_at_k"] == pytest.approx(0.5)
    assert s["map"] == pytest.approx(0.5)
    assert s["ndcg_at_k"] == pytest.approx((2 / LOG3 + (1 / LOG3) / (1 + 1 / LOG3)) / 3)
    assert s["per_group"]["b"]["queries"] == 0 and math.isnan(s["per_group"]["b"]["map"])


def test_hubness_of_a_hub() -> None:
    # Everyone's nearest is 0; 0's nearest is 1: k-occurrence (k=1) 4 1 0 0 0.
    sim = np.full((5, 5), 0.1)
    sim[:, 0] = 0.9
    sim[0, 1] = 0.9
    h = ranking_scores(sim, list("aabbb"), k=1)["hubness"]
    # mean 1, deviations 3 0 -1 -1 -1: m2 = 12/5, m3 = 24/5, skew = m3 / m2^1.5
    assert h["skewness"] == pytest.approx((24 / 5) / (12 / 5) ** 1.5)
    assert h["max_occurrence"] == 4 and h["antihubs"] == pytest.approx(3 / 5)


def _reference(similarity, labels, k):
    """retrieval_scores as bench/quality.py first computed it, kept to prove the figures did not move."""
    sim = np.array(similarity, dtype=np.float64)
    n = sim.shape[0]
    labels = np.asarray(labels)
    np.fill_diagonal(sim, -np.inf)
    order = np.argsort(-sim, axis=1, kind="stable")[:, : n - 1]
    relevant = labels[order] == labels[:, None]
    n_relevant = relevant.sum(axis=1)
    keep = n_relevant > 0
    kk = min(k, n - 1)
    precision = relevant[:, :kk].sum(axis=1) / kk
    hits = np.cumsum(relevant, axis=1)
    ap = (relevant * hits / np.arange(1, n)).sum(axis=1) / np.maximum(n_relevant, 1)
    return float(precision[keep].mean()), float(ap[keep].mean()), int(keep.sum())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scores_match_the_first_benchmark(seed: int) -> None:
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((60, 8))
    sim = np.round(v @ v.T, 1)  # rounded: plenty of ties, broken the same way
    labels = rng.choice(list("abcdefg"), 60).tolist()
    p, m, q = _reference(sim, labels, 10)
    s = retrieval_scores(sim, labels, k=10)
    assert s["queries"] == q
    # The same per-query figures; only the mean is now exactly rounded (math.fsum), so at most 1 ulp apart.
    assert s["precision_at_k"] == pytest.approx(p, rel=1e-15) and s["map"] == pytest.approx(m, rel=1e-15)


def test_scores_do_not_depend_on_the_order_of_the_tracks() -> None:
    # Track ids follow the order in which a scan finished the files: two libraries of the same files
    # must report the same figures to the last digit (bench/quality.py against `synesthete evaluate`).
    rng = np.random.default_rng(3)
    v = rng.standard_normal((90, 6))
    labels = np.array(rng.choice(list("abcdef"), 90))
    artists = np.array(rng.choice(list("uvwxyz"), 90))
    first = ranking_scores(v @ v.T, labels, k=10, exclude=artists[:, None] == artists[None, :])
    for seed in range(5):
        p = np.random.default_rng(seed).permutation(90)
        w, lab, art = v[p], labels[p], artists[p]
        again = ranking_scores(w @ w.T, lab, k=10, exclude=art[:, None] == art[None, :])
        for key in ("precision_at_k", "map", "ndcg_at_k", "queries"):
            assert again[key] == first[key]
        assert again["hubness"]["max_occurrence"] == first["hubness"]["max_occurrence"]


@pytest.fixture
def labels_csv(demo_library: Path, tmp_path: Path) -> Path:
    """Labels for the demo collection: group = style, three made-up artists per style."""
    with Library(demo_library) as lib:
        tracks = sorted(lib.tracks(), key=lambda t: t.id)
    path = tmp_path / "labels" / "labels.csv"
    path.parent.mkdir()
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "group", "artist"])
        for n, t in enumerate(tracks):
            w.writerow([os.path.relpath(t.path, path.parent), t.genre, f"{t.genre}-artist{n % 3}"])
    return path


def test_evaluate_command_on_the_demo_collection(
    demo_library: Path, labels_csv: Path, tmp_path: Path, capsys
) -> None:
    lib_arg = ["--library", str(demo_library)]
    assert main([*lib_arg, "evaluate", "--labels", str(labels_csv), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["tracks"] == 120 and doc["groups"] == 8 and not doc["not_found"]
    d = doc["models"]["descriptors-v1"]
    assert d["queries"] == 120 and d["precision_at_k"] >= 0.9
    assert set(d) >= {"precision_at_k", "map", "ndcg_at_k", "hubness", "per_group", "confusion"}
    with Library(demo_library) as lib:  # the same figures as the API and bench/quality.py
        labels = {t.id: t.genre for t in lib.tracks()}
        assert lib.evaluate(labels, k=10, model="descriptors")["map"] == d["map"]

    report = tmp_path / "report"
    argv = [*lib_arg, "evaluate", "--labels", str(labels_csv), "--filter-by", "artist", "--json"]
    assert main([*argv, "--report", str(report), "--map-method", "pca"]) == 0
    filtered = json.loads(capsys.readouterr().out)
    f = filtered["models"]["descriptors-v1"]
    assert filtered["filter_by"] == "artist" and f["queries"] == 120
    assert f["precision_at_k"] != d["precision_at_k"]  # 5 same-artist tracks per query left the ranking
    text = (report / "index.md").read_text()
    assert "| descriptors-v1 |" in text and "figures/confusion-descriptors-v1.png" in text
    for name in (
        "models.png",
        "confusion-descriptors-v1.png",
        "map-descriptors-v1.png",
        "boxplots-descriptors-v1.png",
    ):
        assert (report / "figures" / name).read_bytes()[:4] == b"\x89PNG"
    assert "<table>" in (report / "index.html").read_text()

    assert main([*lib_arg, "evaluate", "--labels", str(labels_csv)]) == 0
    out = capsys.readouterr().out
    assert "descriptors-v1" in out and "precision@10 per group" in out


def test_evaluate_scans_new_files_and_reports_missing_ones(tmp_path: Path, data_dir: Path) -> None:
    folder = tmp_path / "clips"
    folder.mkdir()
    (folder / "a.wav").write_bytes((data_dir / "clip.wav").read_bytes())
    (folder / "b.flac").write_bytes((data_dir / "clip.flac").read_bytes())
    labels = folder / "labels.csv"
    labels.write_text("path,group\na.wav,tone\nb.flac,tone\ngone.wav,tone\n")
    with Library(tmp_path / "lib") as lib:
        doc = lib.evaluate_labels(labels, k=1, workers=1)
        assert doc["tracks"] == 2 and doc["scanned"]["added"] == 2
        assert doc["not_found"] == [str(folder / "gone.wav")]
