"""Playlists on the demo collection (8 styles x 15 pieces): radio, journeys, drifts, clusters, exports."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from synesthete import Library
from synesthete.cli import main
from synesthete.exceptions import ParameterError
from synesthete.features.registry import EXTRACTORS
from synesthete.library.store import Track
from synesthete.recommend import export, journey
from synesthete.recommend.dedup import Recordings, clear_of_duplicates, drop_near_duplicates, near_duplicates
from synesthete.recommend.geometry import unit_vectors
from synesthete.recommend.ordering import path_smoothness
from synesthete.recommend.playlist import Rules
from synesthete.service.playlists import descriptor_table


@pytest.fixture(scope="module")
def lib(demo_library: Path):
    with Library(demo_library) as library:
        yield library


def style(track) -> str:
    """The demo's ground truth: each style has its own folder."""
    return Path(track.path).parent.name


def by_style(lib: Library) -> dict[str, list]:
    out: dict[str, list] = {}
    for t in lib.tracks():
        out.setdefault(style(t), []).append(t)
    return out


# ---- radio ----------------------------------------------------------------------------------------
def test_radio_is_well_formed_and_never_plays_its_seed(lib: Library) -> None:
    seed = lib.tracks()[7]
    p = lib.radio([seed.id], n=20)
    ids = [t.id for t in p]
    assert len(ids) == 20 and len(set(ids)) == 20 and seed.id not in ids
    assert len(p.scores) == 20 and all(-1 <= s <= 1 for s in p.scores)
    assert np.mean([style(t) == style(seed) for t in p][:10]) >= 0.8
    doc = p.to_dict()
    assert doc["kind"] == "radio" and [r["position"] for r in doc["tracks"]] == list(range(1, 21))
    json.dumps(doc)


def test_radio_from_many_seeds_and_an_outside_file(lib: Library) -> None:
    styles = by_style(lib)
    a, b = styles["techno"][0], styles["piano-waltz"][0]
    p = lib.radio([a.id, b.id], n=12)
    assert not {a.id, b.id} & set(p.ids)
    found = {style(t) for t in p}
    assert {"techno", "piano-waltz"} <= found
    from_file = lib.radio([styles["rock"][1].path], n=5)  # a catalogued file counts as its track
    assert styles["rock"][1].id not in from_file.ids


def test_an_outside_copy_of_a_track_does_not_bring_it_back(lib: Library, tmp_path: Path) -> None:
    import soundfile as sf

    from synesthete.audio.decode import decode

    original = next(t for t in lib.tracks() if t.path.endswith(".flac"))
    copy = tmp_path / "copy.wav"
    sf.write(copy, 0.7 * decode(original.path), 22050)  # 3 dB quieter, another format
    p = lib.radio([str(copy)], n=8)
    assert original.id not in p.ids and p.info["seeds"] == [{"track_id": None, "path": str(copy)}]


def test_diversity_spreads_the_picks(lib: Library) -> None:
    seed = by_style(lib)["chiptune"][0]
    u = unit_vectors(lib.space())
    space = lib.space()

    def spread(p) -> float:
        rows = [int(np.flatnonzero(space.ids == t.id)[0]) for t in p]
        s = u[rows] @ u[rows].T
        return float(s[np.triu_indices(len(rows), 1)].mean())

    assert spread(lib.radio([seed.id], n=10, diversity=0.8)) < spread(
        lib.radio([seed.id], n=10, diversity=0.0)
    )
    with pytest.raises(ParameterError):
        lib.radio([seed.id], n=5, diversity=1.5)


def test_caps_blocklists_and_filters_are_obeyed(lib: Library) -> None:
    seed = next(t for t in lib.tracks() if t.artist and t.album)
    capped = lib.radio([seed.id], n=15, max_per_artist=1, max_per_album=1)
    artists = [t.artist for t in capped if t.artist]
    albums = [(t.artist, t.album) for t in capped if t.album]
    assert len(artists) == len(set(artists)) and len(albums) == len(set(albums))
    blocked = lib.radio([seed.id], n=15, block_artists=[seed.artist.upper()], block_genres=["rock"])
    assert all((t.artist or "") != seed.artist and "rock" not in (t.genre or "") for t in blocked)
    near = lib.radio([seed.id], n=3).ids
    assert not set(near) & set(lib.radio([seed.id], n=10, block_tracks=near).ids)
    durations = lib.radio([seed.id], n=10, min_duration=25, max_duration=35)
    assert all(25 <= t.duration <= 35 for t in durations)
    techno = lib.radio([seed.id], n=5, genres=["techno"])
    assert len(techno) == 5 and all("techno" in t.genre for t in techno)
    tempo = lib.radio([seed.id], n=10, min_tempo=100, max_tempo=130)
    values = descriptor_table(lib).values(tempo.ids, "tempo")
    assert len(tempo) > 0 and np.all((values >= 100) & (values <= 130))
    with pytest.raises(ParameterError):
        lib.radio([seed.id], n=5, max_per_artst=1)


def test_rules_without_filters_check_nothing() -> None:
    """A plain radio (no blocklist, no filter) reads no candidate's tags; every other option is a filter."""
    assert not Rules().filters and not Rules(max_per_artist=1, max_per_album=2).filters
    assert Rules().rejects(Track(1, "/m/a.flac", genre="rock")) is None
    for option, value in [("block_tracks", 1), ("genres", "rock"), ("min_duration", 10), ("max_tempo", 90)]:
        assert Rules.from_options({option: value}).filters, option
    assert (
        Rules.from_options({"block_genres": "rock"}).rejects(Track(1, "/m/a.flac", genre="Rock"))
        == "--block-genre"
    )


def test_extend_adds_new_tracks_after_the_playlist(lib: Library) -> None:
    start = lib.radio([3], n=5)
    longer = lib.extend(start.ids, n=6)
    assert longer.ids[:5] == start.ids and len(longer) == 11 and len(set(longer.ids)) == 11
    assert longer.info["added"] == 6


def test_dissimilar_is_far_from_every_seed(lib: Library) -> None:
    seed = lib.tracks()[0]
    far, near = lib.dissimilar([seed.id], n=8), lib.radio([seed.id], n=8)
    assert seed.id not in far.ids and len(set(far.ids)) == 8
    assert max(far.scores) < min(near.scores)
    assert all(style(t) != style(seed) for t in far)


def five_tracks(lib: Library) -> None:
    """Tracks 1-5 with descriptors: 2 is a byte-identical copy of 1, 3 a re-encode of it, 4 and 5 others."""
    extractor = EXTRACTORS["descriptors"]
    rng = np.random.default_rng(0)
    base = rng.standard_normal(extractor.dim).astype(np.float32)
    vectors = {
        1: base,
        2: base,  # byte-identical file elsewhere
        3: base + 1e-3 * rng.standard_normal(extractor.dim).astype(np.float32),  # a re-encode
        4: rng.standard_normal(extractor.dim).astype(np.float32),
        5: rng.standard_normal(extractor.dim).astype(np.float32),
    }
    hashes = {1: "h1", 2: "h1", 3: "h3", 4: "h4", 5: "h5"}
    conn = lib.catalog.conn
    for i, v in vectors.items():
        conn.execute(
            "INSERT INTO tracks (id, path, content_hash, size, mtime, title, duration, added_at,"
            " analysed_at) VALUES (?, ?, ?, 0, 0, ?, 180, 0, 0)",
            (i, f"/m/{i}.flac", hashes[i], f"t{i}"),
        )
        conn.execute(
            "INSERT INTO vectors VALUES (?, ?, ?, ?)", (i, extractor.name, extractor.version, v.tobytes())
        )
    conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")


def test_near_duplicates_same_bytes_or_same_sound(tmp_path: Path) -> None:
    """Same content hash, or the same tonal/rhythm descriptors and duration: the later copy goes."""
    with Library(tmp_path / "lib") as lib:
        five_tracks(lib)
        space = lib.space("descriptors")
        assert near_duplicates(lib.catalog, space, [1, 2, 3, 4, 5]) == {2, 3}
        assert drop_near_duplicates(lib.catalog, space, [4, 2, 5], against=[1]) == [4, 5]
        assert set(lib.radio([1], n=4, diversity=0.0, model="descriptors").ids) == {4, 5}


def test_a_batch_of_lists_is_cleared_only_where_nothing_repeats(tmp_path: Path) -> None:
    """``clear_of_duplicates`` (a server's batch of result lists at once) clears a list exactly when
    ``near_duplicates`` would find nothing to drop in it."""
    with Library(tmp_path / "lib") as lib:
        five_tracks(lib)
        space = lib.space("descriptors")
        lists = [[1, 4, 5], [4, 1, 2], [3, 5, 1], [5, 4], [4], [2, 3, 4, 5]]
        clear = clear_of_duplicates(space, lists, Recordings.read(lib.catalog, range(1, 6)))
        assert clear == [True, False, False, True, True, False]
        assert clear == [not near_duplicates(lib.catalog, space, ids) for ids in lists]


def test_radio_reads_candidates_once_until_the_catalog_changes(tmp_path: Path) -> None:
    """A server asks for radios all the time: the candidates' rows and facts are read once, and read
    again as soon as a write moves the catalog's generation on (a retag shows in the next radio)."""
    with Library(tmp_path / "lib") as lib:
        five_tracks(lib)
        conn = lib.catalog.conn

        def titles() -> dict[int, str | None]:
            return {t.id: t.title for t in lib.radio([1], n=2, diversity=0.0, model="descriptors")}

        assert titles() == {4: "t4", 5: "t5"}
        statements: list[str] = []
        conn.set_trace_callback(statements.append)
        assert titles() == {4: "t4", 5: "t5"}
        assert not [s for s in statements if "FROM tracks WHERE id IN" in s]
        conn.set_trace_callback(None)
        conn.execute("UPDATE tracks SET title = 'new name' WHERE id = 4")
        conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
        assert titles() == {4: "new name", 5: "t5"}


# ---- journeys and drifts ------------------------------------------------------------------------------
def test_journey_ends_right_with_distinct_tracks_and_small_steps(lib: Library) -> None:
    styles = by_style(lib)
    names = sorted(styles)
    u = unit_vectors(lib.space())
    ours, greedy, rand = [], [], []
    rng = np.random.default_rng(0)
    for i in range(6):
        a, b = styles[names[i % 8]][i], styles[names[(i + 3) % 8]][i + 1]
        p = lib.journey(a.id, b.id, n=12)
        assert p.ids[0] == a.id and p.ids[-1] == b.id and len(set(p.ids)) == 12
        ours.append([p.info["smoothness"]["mean_step"], p.info["smoothness"]["max_step"]])
        ra, rb = (int(np.flatnonzero(lib.space().ids == t)[0]) for t in (a.id, b.id))
        for rows, out in (
            (journey.greedy_chain(u, ra, rb, 12), greedy),
            (journey.random_path(u, ra, rb, 12, rng), rand),
        ):
            s = path_smoothness(u[rows])
            out.append([s["mean_step"], s["max_step"]])
    ours, greedy, rand = np.mean(ours, 0), np.mean(greedy, 0), np.mean(rand, 0)
    assert np.all(ours < greedy) and np.all(ours < rand), (ours, greedy, rand)
    for method in journey.METHODS:
        p = lib.journey(1, 100, n=7, method=method)
        assert p.ids[0] == 1 and p.ids[-1] == 100 and len(set(p.ids)) == 7


@pytest.mark.parametrize("direction", ["tempo down", "energy up", "brighter", "calmer"])
def test_drift_moves_the_chosen_way(lib: Library, direction: str) -> None:
    table = descriptor_table(lib)
    _, parts = journey.parse_direction(direction, table.names.tolist())
    cols = [table.column(d) for d, _ in parts]
    signs = np.array([s for _, s in parts])
    rows_of_ids = {int(t): r for r, t in enumerate(table.space.ids.tolist())}
    moves = []
    for seed in lib.tracks()[5::24]:
        p = lib.drift(seed.id, direction, n=8)
        assert p.ids[0] == seed.id and len(set(p.ids)) == len(p)
        level = (table.z(np.array([rows_of_ids[i] for i in p.ids]), cols) * signs).mean(axis=1)
        moves.extend(np.diff(level) > 0)
    assert len(moves) >= 15 and np.mean(moves) >= 0.8


def test_drift_directions_parse() -> None:
    names = ["tempo", "energy level", "centroid p50"]
    assert journey.parse_direction("Slower", names)[0] == "tempo down"
    assert journey.parse_direction("centroid-p50 up", names)[1] == (("centroid p50", 1),)
    with pytest.raises(ParameterError):
        journey.parse_direction("sideways", names)


# ---- ordering, clusters, explanations --------------------------------------------------------------
def test_order_flows_better_than_a_shuffle(lib: Library) -> None:
    ids = [t.id for t in lib.tracks()[::5]]
    rng = np.random.default_rng(1)
    shuffled = [ids[i] for i in rng.permutation(len(ids))]
    p = lib.order(shuffled)
    assert sorted(p.ids) == sorted(ids)
    assert p.info["smoothness"]["mean_step"] < p.info["smoothness_as_given"]["mean_step"]
    assert lib.order(shuffled, start=shuffled[3]).ids[0] == shuffled[3]


def test_clusters_find_the_styles_and_name_them(lib: Library) -> None:
    from sklearn.metrics import adjusted_rand_score

    result = lib.clusters(8)
    assert result.k == 8 and len(result) == 8
    members = [t.id for c in result for t in c.tracks]
    assert len(members) == len(set(members)) == 120
    truth = [style(t) for c in result for t in c.tracks]
    pred = [i for i, c in enumerate(result) for _ in c.tracks]
    assert adjusted_rand_score(truth, pred) >= 0.8
    assert all(c.name and c.name != "mixed" for c in result)
    json.dumps(result.to_dict())


def test_explanations_split_the_score_by_feature_group(lib: Library) -> None:
    techno = by_style(lib)["techno"]
    fused = lib.explain(techno[0].id, techno[1].id)  # the default model adds musicnn's embedding as one part
    assert {g["group"] for g in fused.groups} == {"timbre", "tonal", "rhythm", "loudness", "musicnn"}
    assert sum(g["contribution"] for g in fused.groups) == pytest.approx(fused.score, abs=1e-4)
    learnt = lib.explain(techno[0].id, techno[1].id, model="fused-learnt")  # the learnt metric: one more part
    assert {g["group"] for g in learnt.groups} == {g["group"] for g in fused.groups} | {"learnt"}
    assert sum(g["contribution"] for g in learnt.groups) == pytest.approx(learnt.score, abs=1e-4)
    e = lib.explain(techno[0].id, techno[1].id, model="descriptors")
    assert {g["group"] for g in e.groups} == {"timbre", "tonal", "rhythm", "loudness"}
    assert sum(g["contribution"] for g in e.groups) == pytest.approx(e.score, abs=1e-4)
    assert sum(g["share"] for g in e.groups) == pytest.approx(1.0, abs=1e-3)
    assert e.words.startswith("both")
    # the facts are the track's descriptors read back: the same as analysing its file again
    again = lib.analyse_outside(techno[0].path, ["descriptors"]).vectors["descriptors"]
    tempo = again[list(EXTRACTORS["descriptors"].names).index("tempo")]
    assert e.facts["query"]["tempo_bpm"] == pytest.approx(tempo, abs=0.05)
    assert e.facts["query"]["key"].split()[1] in ("major", "minor")


# ---- export and the command line ----------------------------------------------------------------------
def test_exports_parse(lib: Library, tmp_path: Path) -> None:
    p = lib.radio([2], n=6)
    m3u = export.save(p.tracks, tmp_path / "sub" / "radio.m3u8", relative=True, title="r")
    lines = m3u.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "#EXTM3U" and sum(x.startswith("#EXTINF:") for x in lines) == 6
    assert not any(Path(x).is_absolute() for x in lines if not x.startswith("#"))
    assert export.read_paths(m3u) == [t.path for t in p]
    xspf = export.save(p.tracks, tmp_path / "radio.xspf")
    root = ET.parse(xspf).getroot()
    locations = [e.text for e in root.iter(f"{{{export.XSPF_NS}}}location")]
    assert len(locations) == 6 and all(x.startswith("file://") for x in locations)
    assert export.read_paths(xspf) == [t.path for t in p]
    with pytest.raises(ParameterError):
        export.save(p.tracks, tmp_path / "radio.txt")


def run_json(capsys, *args: str) -> dict:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_cli_playlists(capsys, demo_library: Path, tmp_path: Path) -> None:
    lib = ["--library", str(demo_library)]
    out = tmp_path / "r.m3u8"
    doc = run_json(capsys, "playlist", "radio", "5", "-n", "7", "--out", str(out), "--json", *lib)
    assert len(doc["tracks"]) == 7 and doc["saved"] == str(out) and out.exists()
    assert all(t["track_id"] != 5 for t in doc["tracks"])
    doc = run_json(capsys, "playlist", "extend", str(out), "-n", "3", "--json", *lib)
    assert len(doc["tracks"]) == 10
    doc = run_json(capsys, "playlist", "journey", "1", "100", "-n", "6", "--json", *lib)
    assert [doc["tracks"][0]["track_id"], doc["tracks"][-1]["track_id"]] == [1, 100]
    assert {"mean_step", "max_step"} <= set(doc["smoothness"])
    doc = run_json(capsys, "playlist", "drift", "40", "tempo", "down", "-n", "4", "--json", *lib)
    assert doc["direction"] == "tempo down" and doc["tracks"][0]["track_id"] == 40
    doc = run_json(capsys, "playlist", "dissimilar", "5", "-n", "3", "--tempo", "60-200", "--json", *lib)
    assert len(doc["tracks"]) == 3
    doc = run_json(capsys, "playlist", "order", "1", "50", "100", "2", "--json", *lib)
    assert sorted(t["track_id"] for t in doc["tracks"]) == [1, 2, 50, 100]
    doc = run_json(capsys, "playlist", "clusters", "-k", "4", "--json", *lib)
    assert len(doc["clusters"]) == 4 and all(c["name"] for c in doc["clusters"])
    doc = run_json(capsys, "similar", "9", "-k", "3", "--explain", "--json", *lib)
    assert all({"groups", "words"} <= set(r["explanation"]) for r in doc["results"])
    assert main(["playlist", "radio", "5", "--tempo", "fast", *lib]) == 1
