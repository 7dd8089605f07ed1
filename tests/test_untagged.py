"""What a new user meets with a folder of untagged music (issue 16): folders stand in for the missing
tags, every rule that cannot act says so, and empty answers are not silent.

The untagged collection is the demo's library with its tags taken out of the catalog (the files, and so
their folders, stay), which is what scanning the same audio without tags would record.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from synesthete import Library
from synesthete.cli import main
from synesthete.exceptions import ParameterError, UserError
from synesthete.recommend import journey


def style(track) -> str:
    """The demo's ground truth: each style has its own folder."""
    return Path(track.path).parent.name


def copy_library(demo_library: Path, into: Path, *, untag: bool) -> Path:
    shutil.copytree(demo_library, into)
    if untag:
        with sqlite3.connect(into / "catalog.sqlite") as conn:
            conn.execute("UPDATE tracks SET artist = NULL, album = NULL, genre = NULL")
    return into


@pytest.fixture(scope="module")
def untagged(demo_library: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_library(demo_library, tmp_path_factory.mktemp("untagged") / "library", untag=True)


@pytest.fixture(scope="module")
def lib(untagged: Path):
    with Library(untagged) as library:
        yield library


@pytest.fixture(scope="module")
def tagged(demo_library: Path):
    with Library(demo_library) as library:
        yield library


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def labels_csv(lib: Library, path: Path, *, artists: bool = False) -> Path:
    """A labels file grouping every track by its folder; with ``artists``, half the rows name one."""
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "group", "artist"])
        for n, t in enumerate(lib.tracks()):
            artist = f"{style(t)}-artist{n % 3}" if artists and n % 2 else ""
            w.writerow([os.path.relpath(t.path, path.parent), style(t), artist])
    return path


# ---- evaluate ---------------------------------------------------------------------------------------
def test_an_artist_filter_with_no_artist_to_filter_refuses(capsys, lib: Library, tmp_path: Path) -> None:
    labels = labels_csv(lib, tmp_path / "labels.csv")
    code, _, err = run(capsys, "--library", str(lib.folder), "evaluate", "--labels", str(labels),
                       "--filter-by", "artist", "--json")  # fmt: skip
    assert code == 1
    assert "no query a relevant neighbour" in err and "folder stands in" in err and "artist" in err


def test_an_artist_filter_uses_the_folder_where_the_artist_is_missing(lib: Library, tmp_path: Path) -> None:
    labels = labels_csv(lib, tmp_path / "labels.csv", artists=True)
    plain = lib.evaluate_labels(labels, workers=1)
    doc = lib.evaluate_labels(labels, filter_by="artist", workers=1)
    assert plain["filter_text"] == "no filter" and doc["tracks"] == 120
    assert doc["filter_by_folder"] == 60 and "same folder for the 60 tracks" in doc["filter_text"]
    p, q = (d["models"]["descriptors-v1"]["precision_at_k"] for d in (plain, doc))
    assert q < p  # neighbours were really taken out


def test_evaluate_labels_from_folder(capsys, lib: Library) -> None:
    code, out, err = run(
        capsys, "--library", str(lib.folder), "evaluate", "--labels-from", "folder", "--json"
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["tracks"] == 120 and doc["groups"] == 8
    assert doc["models"]["descriptors-v1"]["precision_at_k"] >= 0.9
    assert set(doc["track_groups"].values()) == {style(t) for t in lib.tracks()}


# ---- maps and clusters --------------------------------------------------------------------------------
def test_an_untagged_map_is_coloured_by_folder(capsys, lib: Library, tmp_path: Path) -> None:
    base = ["--library", str(lib.folder), "map", "--model", "descriptors", "--method", "pca"]
    code, _, err = run(capsys, *base, "--out", str(tmp_path / "m.csv"))
    assert code == 0 and "coloured by folder" in err
    with open(tmp_path / "m.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["label"] for r in rows} == {style(t) for t in lib.tracks()}
    assert all(r["label"] == Path(r["path"]).parent.name for r in rows)

    assert run(capsys, *base, "--out", str(tmp_path / "m.png"))[0] == 0
    import matplotlib.image

    rgb = matplotlib.image.imread(tmp_path / "m.png")[..., :3]
    vivid = rgb[(rgb.max(axis=2) - rgb.min(axis=2)) > 0.3]  # coloured pixels, not grey or white
    assert len(np.unique(np.round(vivid * 8), axis=0)) >= 8

    assert run(capsys, *base, "--color-by", "cluster", "--out", str(tmp_path / "c.csv"))[0] == 0
    with open(tmp_path / "c.csv", newline="") as fh:
        clusters = {r["label"] for r in csv.DictReader(fh)}
    assert len(clusters) >= 2 and "(none)" not in clusters


def test_clusters_are_named_by_folder_without_genre_tags(lib: Library) -> None:
    result = lib.clusters(8, model="descriptors")
    folders = {style(t) for t in lib.tracks()}
    named = [c for c in result if any(c.name.endswith(f) or f" {f} " in c.name + " " for f in folders)]
    assert len(named) >= 6, [c.name for c in result]
    assert all(set(c.genres) <= folders for c in result)


def test_track_labels(lib: Library, tmp_path: Path) -> None:
    folders = lib.track_labels("folder")
    assert len(folders) == 120 and all(folders[t.id] == style(t) for t in lib.tracks())
    assert lib.track_labels("genre") == {} and lib.track_labels("artist") == {}
    assert lib.track_labels(labels_csv(lib, tmp_path / "labels.csv")) == folders
    with pytest.raises(ParameterError, match="folder"):
        lib.track_labels("mood")


# ---- playlists: caps, rules, warnings -------------------------------------------------------------
def test_an_artist_cap_counts_folders_without_artist_tags(lib: Library) -> None:
    seed = lib.tracks()[3]
    p = lib.radio([seed.id], n=10, max_per_artist=2)
    per_folder = [sum(style(t) == f for t in p) for f in {style(t) for t in p}]
    assert len(p) == 10 and max(per_folder) <= 2
    assert any("folder" in w and "--max-per-artist" in w for w in p.info["warnings"])


def test_rules_with_nothing_to_act_on_say_so(lib: Library, tagged: Library) -> None:
    seed = lib.tracks()[3].id
    untagged = lib.radio([seed], n=5, block_genres=["christmas"], genres=["rock"]).info["warnings"]
    assert any("--block-genre christmas: no track has a genre tag" in w for w in untagged)
    assert any("--genre rock: no track has a genre tag, so it keeps nothing" in w for w in untagged)
    assert any("only 0 of the 5" in w and "--genre" in w for w in untagged)
    plain = tagged.radio([seed], n=5, block_genres=["christmas"]).info["warnings"]
    assert plain == [
        "--block-genre christmas: no track has a genre matching 'christmas', so it blocks nothing"
    ]
    assert tagged.radio([seed], n=5, block_genres=["rock"]).info["warnings"] == []


def test_an_empty_playlist_exits_1_and_says_why(capsys, untagged: Path) -> None:
    code, out, err = run(capsys, "--library", str(untagged), "playlist", "radio", "12", "--max-per-artist", "2",
                         "--block-genre", "christmas", "--tempo", "90-120", "--min-duration", "120")  # fmt: skip
    assert code == 1 and out == ""
    assert "only 0 of the 20 tracks" in err and "--min-duration" in err and "the playlist is empty" in err
    code, out, err = run(capsys, "--library", str(untagged), "playlist", "radio", "12", "-n", "3",
                         "--min-duration", "35")  # fmt: skip
    assert code == 0 and out.count("\n") == 4 and "synesthete: warning" not in err  # enough tracks: quiet


def test_a_search_that_matches_nothing_says_so(capsys, untagged: Path) -> None:
    code, out, err = run(capsys, "--library", str(untagged), "tracks", "--search", "nothingmatches")
    assert code == 1 and out == "" and "no track matches 'nothingmatches'" in err


def test_radio_from_two_seeds_draws_from_both(tagged: Library) -> None:
    by_style: dict[str, list] = {}
    for t in tagged.tracks():
        by_style.setdefault(style(t), []).append(t)
    for a, b in [("chiptune", "techno"), ("lo-fi-hip-hop", "rock"), ("ambient-pad", "piano-waltz")]:
        p = tagged.radio([by_style[a][0].id, by_style[b][0].id], n=20)
        counts = [sum(style(t) == s for t in p) for s in (a, b)]
        assert sum(counts) == 20 and abs(counts[0] - counts[1]) <= 2, (a, b, counts)


# ---- journeys and drifts ----------------------------------------------------------------------------
def test_journeys_spread_their_tracks_along_the_way(tagged: Library) -> None:
    by_style: dict[str, list] = {}
    for t in tagged.tracks():
        by_style.setdefault(style(t), []).append(t)
    names = sorted(by_style)
    gaps = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            p = tagged.journey(by_style[a][1].id, by_style[b][2].id, n=12)
            inner = p.tracks[1:-1]
            gaps.append(abs(sum(style(t) == a for t in inner) - sum(style(t) == b for t in inner)))
    assert max(gaps) <= 6 and np.mean(gaps) <= 2.5, gaps


@pytest.mark.parametrize("direction", ["wilder", "calmer", "tempo up"])
def test_drift_counts_like_a_journey_and_reports_its_monotony_honestly(
    tagged: Library, direction: str
) -> None:
    for seed in tagged.tracks()[7::40]:
        p = tagged.drift(seed.id, direction, n=8)
        assert p.ids[0] == seed.id and (len(p) == 8) == p.info["complete"] and len(p) <= 8
        values = p.info["values"]
        assert set(values) == {d["name"] for d in p.info["descriptors"]}
        signs = {d["name"]: d["sign"] for d in p.info["descriptors"]}
        steps = np.all([np.sign(signs[k]) * np.diff(v) >= 0 for k, v in values.items()], axis=0)
        assert p.info["monotone_share"] == pytest.approx(float(steps.mean()))
    with pytest.raises(ParameterError):
        tagged.drift(seed.id, direction, n=1)


def test_drift_prefers_steps_that_move_every_descriptor_its_way() -> None:
    u = np.eye(4, dtype=np.float32)[[0, 1, 2, 3]]
    u[1] += 0.5 * u[0]  # track 1 sounds most like the start ...
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    parts = np.array([[0.0, 0.0], [2.0, -0.5], [0.6, 0.6], [1.0, 1.0]])  # ... but takes one part back
    rows = journey.drift_rows(u, parts.mean(axis=1), 0, 1, parts=parts)
    assert rows == [0, 2]
    assert journey.drift_rows(u, parts.mean(axis=1), 0, 1) == [0, 1]  # without parts, the nearest


def test_explanations_name_the_learned_group_after_its_model(tagged: Library) -> None:
    a, b = tagged.tracks()[:2]
    groups = {g["group"] for g in tagged.explain(a.id, b.id).groups}
    assert "learned" not in groups and "musicnn" in groups


# ---- training on folders --------------------------------------------------------------------------
def test_supervised_training_learns_the_folders(demo_library: Path, tmp_path: Path) -> None:
    folder = copy_library(demo_library, tmp_path / "library", untag=True)
    with Library(folder) as lib:
        few = [t.id for t in lib.tracks()[::15]][:8]
        with pytest.raises(UserError, match="genre"):
            lib.train(objective="supervised", epochs=1, tracks=few, refresh=False)
        doc = lib.train(
            objective="supervised", epochs=1, tracks=few, refresh=False, labels=lib.track_labels("folder")
        )
    assert doc["labelled"] == len(few) and doc["objective"] == "supervised"


# ---- serving ----------------------------------------------------------------------------------------
def test_serve_on_a_busy_port_fails_before_announcing_the_page(capsys, untagged: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, err = run(capsys, "--library", str(untagged), "serve", "--port", str(port))
    assert code == 1
    assert f"cannot serve on 127.0.0.1:{port}" in err and "--port" in err
    assert "the page is at" not in err
