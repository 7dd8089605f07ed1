"""Odd file names end to end (issue 18): a name that is not valid UTF-8, a newline, quotes, a leading dash
and an emoji go through scan, status, tracks, similar, playlists, explain, map, export and a real server.

Names that are not UTF-8 are kept byte for byte: JSON and other Unicode formats carry each such byte as
the escape ``\\udcXX`` (``json.loads`` gives the very name back), M3U8 the bytes the file system needs.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from synesthete import Library
from synesthete.library.catalog import shown
from synesthete.recommend import export

from .test_server import SR, piece, start_server

NAMES = [b"caf\xe9.flac", b"new\nline.flac", b'it\'s "quoted".flac', b"-dash.flac", "emoji 🎵.flac".encode()]
LATIN1 = b"caf\xe9.flac"


@pytest.fixture(scope="module")
def odd(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[bytes, str]]:
    """A library of five generated pieces under odd names; returns it and {name bytes: catalogued path}."""
    root = tmp_path_factory.mktemp("odd")
    music = root / "music"
    music.mkdir()
    paths = {}
    for i, name in enumerate(NAMES):
        raw = os.fsencode(music) + b"/" + name
        sf.write(raw, piece(("drone", "noise", "beats")[i % 3], i), SR)
        paths[name] = os.fsdecode(raw)
    with Library(root / "library") as lib:
        report = lib.scan([music], workers=1)
        assert not report.failed, report.failed
    return root / "library", paths


def cli(library: Path, *args: str | bytes, env: dict | None = None) -> tuple[int, bytes, str]:
    """The real command line in its own process (its stdout as a terminal's bytes)."""
    done = subprocess.run(
        [sys.executable, "-m", "synesthete.cli", "--library", str(library), *args],
        capture_output=True,
        env=env,
        timeout=300,
    )
    err = done.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err, err
    return done.returncode, done.stdout, err


def cli_json(library: Path, *args: str | bytes) -> dict:
    code, out, err = cli(library, *args, "--json")
    assert code == 0, err
    return json.loads(out.decode("utf-8"))  # strict: the output is valid UTF-8 whatever the names


def ids_by_name(library: Path, paths: dict[bytes, str]) -> dict[bytes, int]:
    with Library(library) as lib:
        return {name: lib.catalog.track_at(path).id for name, path in paths.items()}


def test_catalog_finds_each_name_byte_for_byte(odd) -> None:
    library, paths = odd
    with Library(library) as lib:
        for path in paths.values():
            assert lib.catalog.track_at(path).path == path
        assert lib.catalog.track_at(paths[LATIN1].replace("\udce9", "é")) is None  # other bytes
        assert [t.path for t in lib.tracks("caf\udce9")] == [paths[LATIN1]]


def test_status_tracks_and_similar_on_the_command_line(odd) -> None:
    library, paths = odd
    status = cli_json(library, "status")
    assert status["tracks"] == len(NAMES) and status["failed"] == []
    listed = cli_json(library, "tracks")["tracks"]
    assert sorted(t["path"] for t in listed) == sorted(paths.values())  # \udcXX read back to the name
    code, out, _ = cli(library, "tracks")
    assert code == 0 and b"caf\\udce9" in out  # plain text shows the byte the same way
    for name, track_id in ids_by_name(library, paths).items():
        doc = cli_json(library, "similar", str(track_id), "-k", "3")
        assert doc["query"]["path"] == paths[name]
        assert {r["path"] for r in doc["results"]} <= set(paths.values()) - {paths[name]}
        assert len(doc["results"]) == 3
    by_path = cli_json(library, "similar", os.fsencode(paths[LATIN1]), "-k", "2")
    assert by_path["query"]["path"] == paths[LATIN1]
    outside = cli_json(library, "similar", "--file", os.fsencode(paths[b"-dash.flac"]), "-k", "2")
    assert outside["results"][0]["path"] == paths[b"-dash.flac"]  # the same file, analysed again
    code, out, err = cli(library, "similar", "--explain", os.fsencode(paths[LATIN1]), "-k", "2")
    assert code == 0 and b"both " in out, err


def test_playlists_hold_the_names_the_file_system_needs(odd, tmp_path: Path) -> None:
    library, paths = odd
    ids = ids_by_name(library, paths)
    m3u8, xspf = tmp_path / "radio.m3u8", tmp_path / "radio.xspf"
    for out in (m3u8, xspf):
        code, _, err = cli(
            library, "playlist", "radio", str(ids[b"-dash.flac"]), "-n", "4", "--out", str(out)
        )
        assert code == 0, err
        listed = export.read_paths(out)
        assert len(listed) == 4 and set(listed) == set(paths.values()) - {paths[b"-dash.flac"]}
        assert all(os.path.isfile(os.fsencode(p)) for p in listed)
    raw = m3u8.read_bytes()
    assert os.fsencode(paths[LATIN1]) + b"\n" in raw  # the name's own bytes, on a line of its own
    assert Path(paths[b"new\nline.flac"]).as_uri().encode() + b"\n" in raw  # a newline: a file:// URI
    assert len([line for line in raw.splitlines() if not line.startswith(b"#")]) == 4
    ET.fromstring(xspf.read_bytes())  # well-formed XML
    code, out, err = cli(library, "playlist", "extend", str(m3u8), "-n", "1", "--json")
    assert code == 0, err
    assert [t["path"] for t in json.loads(out)["tracks"][:4]] == export.read_paths(m3u8)
    code, _, err = cli(library, "playlist", "radio", str(ids[b"-dash.flac"]), "--block-artist", b"caf\xe9")
    assert code == 0 and "--block-artist caf\\udce9: no track has an artist tag" in err
    seeded = cli_json(library, "playlist", "radio", os.fsencode(paths[LATIN1]), "-n", "2")
    assert paths[LATIN1] not in [t["path"] for t in seeded["tracks"]]  # the seed is its track
    code, out, err = cli(library, "playlist", "explain", os.fsencode(paths[LATIN1]), str(ids[b"-dash.flac"]))
    assert code == 0 and b"score" in out, err


def test_map_csv_and_npz_export(odd, tmp_path: Path) -> None:
    library, paths = odd
    code, _, err = cli(library, "map", "--out", str(tmp_path / "map.csv"))
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO((tmp_path / "map.csv").read_bytes().decode("utf-8"))))
    assert sorted(r["path"] for r in rows) == sorted(shown(p) for p in paths.values())
    code, _, err = cli(library, "export", "--format", "npz", str(tmp_path / "all.npz"))
    assert code == 0, err
    assert sorted(np.load(tmp_path / "all.npz")["path"]) == sorted(paths.values())


def test_a_real_server_answers_for_every_name(odd) -> None:
    import httpx2

    library, paths = odd
    ids = ids_by_name(library, paths)
    proc, base = start_server(library)
    try:
        with httpx2.Client(base_url=base, timeout=60) as http:
            answer = http.get("/api/tracks")
            assert answer.status_code == 200
            listed = json.loads(answer.content.decode("utf-8"))["tracks"]
            assert sorted(t["path"] for t in listed) == sorted(paths.values())
            shared = http.get(
                "/api/playlists/radio", params={"seed": ids[b"-dash.flac"], "n": 4, "format": "m3u8"}
            )
            assert shared.status_code == 200
            lines = shared.content.decode("utf-8").splitlines()  # one line per entry, even for "new\nline"
            assert (
                len(lines) == 2 + 2 * 4 and "#EXTINF:4,caf\\udce9" in lines and "#EXTINF:4,new line" in lines
            )
            for name, track_id in ids.items():
                similar = http.get(f"/api/tracks/{track_id}/similar", params={"k": 2, "explain": "true"})
                assert (
                    similar.status_code == 200 and json.loads(similar.content)["query"]["path"] == paths[name]
                )
                one = http.get(f"/api/tracks/{track_id}")
                assert one.status_code == 200 and json.loads(one.content)["path"] == paths[name]
                audio = http.get(f"/api/tracks/{track_id}/audio")
                assert audio.status_code == 200
                assert audio.content == Path(paths[name]).read_bytes()
                song = http.get("/rest/getSong.view", params={"id": track_id, "f": "json"})
                assert song.status_code == 200
                doc = json.loads(song.content.decode("utf-8"))["subsonic-response"]
                assert doc["status"] == "ok" and doc["song"]["path"].endswith(
                    name.decode("utf-8", "surrogateescape")
                )
                xml = http.get("/rest/getSong.view", params={"id": track_id})
                assert xml.status_code == 200
                assert ET.fromstring(xml.content).find("{*}song").get("title") == shown(
                    Path(paths[name]).stem
                )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_similar_file_gets_a_scans_caps_on_the_command_line(odd, tmp_path: Path) -> None:
    """Time cap, and decoder chatter to the library's log, for a file outside the library too."""
    from tests.hostile import clip, encode

    library, paths = odd
    env = {**os.environ, "SYNESTHETE_FILE_SECONDS": "0.001"}
    code, out, err = cli(library, "similar", "--file", os.fsencode(paths[LATIN1]), env=env)
    assert code == 1 and out == b""
    assert err.strip().endswith("caf\\udce9.flac: gave up after 0.001 s: decoding or analysis did not finish")
    mp3 = bytearray(encode(tmp_path / "clean.mp3", clip(seconds=4.0)).read_bytes())
    rng = np.random.default_rng(18)
    for i in range(2000, len(mp3) - 500, 1500):  # libmpg123 complains on its stderr, then resyncs
        mp3[i : i + 40] = rng.bytes(40)
    garbled = os.fsencode(tmp_path) + b"/garbled-\xe9.mp3"
    Path(os.fsdecode(garbled)).write_bytes(bytes(mp3))
    log = library / "logs" / "decoders.log"
    before = log.stat().st_size if log.exists() else 0
    code, _, err = cli(library, "similar", "--file", garbled)
    assert code == 1 and "garbled-\\udce9.mp3: truncated or corrupt" in err
    assert "mpg123" not in err and "Illegal Audio-MPEG-Header" not in err
    assert b"Illegal Audio-MPEG-Header" in log.read_bytes()[before:]
