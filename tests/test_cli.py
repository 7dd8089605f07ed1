"""The command line, driven for real against the demo library: the JSON contract of DESIGN.md."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from synesthete import Library
from synesthete.cli import main

from .conftest import DATA


def run(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture, *args: str) -> dict:
    code, out, err = run(capsys, *args)
    assert code == 0, err
    return json.loads(out)


def test_status_and_tracks(capsys, demo_library: Path) -> None:
    status = run_json(capsys, "--library", str(demo_library), "status", "--json")
    assert status["tracks"] == 120
    assert status["models"]["fused"] == status["models"]["descriptors"] == status["models"]["seed498"] == 120
    assert status["failed"] == []
    assert status["fingerprints"] == 120
    tracks = run_json(capsys, "tracks", "--json", "--library", str(demo_library))["tracks"]
    assert len(tracks) == 120
    assert {"track_id", "path", "title", "artist", "album", "genre", "duration"} <= set(tracks[0])
    found = run_json(
        capsys, "--library", str(demo_library), "tracks", "--search", tracks[5]["title"], "--json"
    )
    assert tracks[5]["track_id"] in [t["track_id"] for t in found["tracks"]]


def test_similar_json_follows_the_contract(capsys, demo_library: Path) -> None:
    doc = run_json(capsys, "--library", str(demo_library), "similar", "7", "-k", "5", "--json")
    assert doc["query"]["track_id"] == 7 and set(doc["query"]) == {"track_id", "path", "title", "artist"}
    assert doc["model"] == "fused-v1"  # the default model
    results = doc["results"]
    assert [r["rank"] for r in results] == [1, 2, 3, 4, 5]
    assert all(r["track_id"] != 7 for r in results)
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True) and all(-1 <= s <= 1 for s in scores)
    assert {"rank", "track_id", "path", "title", "artist", "album", "genre", "score"} <= set(results[0])


def test_similar_by_text_dissimilar_and_model(capsys, demo_library: Path) -> None:
    lib = str(demo_library)
    title = run_json(capsys, "--library", lib, "tracks", "--json")["tracks"][0]["title"]
    near = run_json(capsys, "--library", lib, "similar", title, "--json", "-k", "3")
    far = run_json(capsys, "--library", lib, "similar", title, "--dissimilar", "--json", "-k", "3")
    scores = [r["score"] for r in far["results"]]
    assert scores == sorted(scores) and max(scores) < min(r["score"] for r in near["results"])
    other = run_json(capsys, "--library", lib, "similar", title, "--model", "seed498", "--json")
    assert other["model"].startswith("seed498-v") and len(other["results"]) == 10


def test_similar_file_outside_the_library(capsys, demo_library: Path) -> None:
    doc = run_json(
        capsys, "--library", str(demo_library), "similar", "--file", str(DATA / "clip.ogg"), "--json"
    )
    assert doc["query"] == {"track_id": None, "path": str(DATA / "clip.ogg"), "title": "clip", "artist": None}
    assert len(doc["results"]) == 10
    status = run_json(capsys, "--library", str(demo_library), "status", "--json")
    assert status["tracks"] == 120  # the outside file was not added


def test_similar_file_with_explanations_analyses_the_file_once(
    capsys, demo_library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import synesthete.api

    analysed = []
    real = synesthete.api.analyze

    def counted(path, *args, **kwargs):  # the real analysis, counted
        analysed.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(synesthete.api, "analyze", counted)
    query = tmp_path / "query.ogg"
    shutil.copy(DATA / "clip.ogg", query)
    args = ("--library", str(demo_library), "similar", "--file", str(query), "-k", "3", "--explain", "--json")
    doc = run_json(capsys, *args)
    assert len(doc["results"]) == 3 and all(r["explanation"]["words"] for r in doc["results"])
    assert analysed == [str(query)]  # similar and its explanations share one analysis
    with Library(demo_library) as lib:
        lib.similar_to_file(query, k=3)
        lib.similar_to_file(query, k=3)
        assert len(analysed) == 2  # the second query read the first's analysis
        shutil.copy(DATA / "clip.wav", query)  # the same name, other bytes: analysed again
        lib.similar_to_file(query, k=3)
        assert len(analysed) == 3


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["similar", "99999"], "no track with id 99999"),
        (["similar", "no such song anywhere"], "no track matches 'no such song anywhere'"),
        (["similar", "--file", str(DATA / "random.mp3")], "random.mp3: not an audio file"),
        (["similar", "1", "--model", "nonsense"], "unknown model 'nonsense'"),
        (["similar", "1", "-k", "0"], "k must be a positive whole number"),
        (["similar"], "give either TRACK or --file AUDIO"),
    ],
)
def test_bad_queries_exit_1_with_a_clear_message(
    capsys, demo_library: Path, args: list[str], words: str
) -> None:
    code, out, err = run(capsys, "--library", str(demo_library), *args)
    assert code == 1 and out == ""
    assert words in err


def test_scan_exit_codes(capsys, tmp_path: Path, music_dir: Path) -> None:
    (music_dir / "random.mp3").write_bytes((DATA / "random.mp3").read_bytes())
    code, out, _ = run(capsys, "--library", str(tmp_path / "lib"), "scan", str(music_dir), "--workers", "1")
    assert code == 0 and "failed 1" in out and "random.mp3" in out
    bad_only = tmp_path / "bad"
    bad_only.mkdir()
    (bad_only / "text.flac").write_text("hello")
    code, _, _ = run(capsys, "--library", str(tmp_path / "lib2"), "scan", str(bad_only))
    assert code == 1
    code, _, err = run(capsys, "--library", str(tmp_path / "lib3"), "scan", str(tmp_path / "nowhere"))
    assert code == 1 and "no such file or folder" in err


def test_empty_library_says_what_to_do(capsys, tmp_path: Path) -> None:
    code, _, err = run(
        capsys, "--library", str(tmp_path / "empty"), "similar", "--file", str(DATA / "clip.ogg")
    )
    assert code == 1 and "scan a folder first" in err


def test_demo_shows_each_room_and_recognises_a_phone_recording(capsys, demo_library: Path) -> None:
    code, out, _ = run(capsys, "--library", str(demo_library), "demo")
    assert code == 0
    assert "precision@10" in out and "What sounds like what" in out
    heard = next(line for line in out.splitlines() if "A phone recording" in line)
    title = heard.split(" of '")[1].split("', 2% fast")[0]
    found = re.search(rf"this is {re.escape(title)}, from ([0-9.]+) s, at speed ([0-9.]+)", out)
    assert found, out  # the right track...
    assert abs(float(found[1]) - 20.0) < 0.2 and float(found[2]) == 1.02  # ...at the right place and speed
    assert "identify --file" in out and (demo_library / "demo-recording.wav").exists()
