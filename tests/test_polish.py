"""Loose ends of issues 13, 17 and 18: honest explanations, Subsonic's unknown methods, a cheap search,
cheap artwork flags."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from synesthete import Library
from synesthete.recommend.explain import group_shares, words

# ---- explanations never contradict the score ----------------------------------------------------
GROUPS = np.array(["timbre"] * 4 + ["rhythm"] * 4 + ["tonal"] * 4)


def _said(a: list[float], b: list[float]) -> tuple[float, str]:
    shares = group_shares(np.array(a), np.array(b), GROUPS)
    return sum(g["contribution"] for g in shares), words({}, {}, shares)


def test_words_follow_the_sign_of_the_score() -> None:
    close, text = _said([1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0], [1, 1, 0, 0, 0.5, 0, 0, 0, 0, 0, -0.2, 0])
    assert close > 0.5 and "closest in timbre" in text and "of the similarity" in text
    far, text = _said([1, 0, 0, 0, 1, 1, 0, 0, 0.3, 0, 0, 0], [-1, 0, 0, 0, -1, -1, 0, 0, 0.3, 0, 0, 0])
    assert (
        far < -0.5
        and "far apart (score -0." in text
        and "closest" not in text
        and "of the similarity" not in text
    )
    assert "most different in rhythm (67 % of the dissimilarity), least in tonal" in text
    tiny, text = _said([1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0, -0.98, 0, 0, 0, 0, 0, 0, 0])
    assert abs(tiny) < 0.05 and "hardly related" in text and "closest" not in text


def test_a_dissimilar_pair_of_the_demo_is_explained_as_far_apart(demo_library: Path) -> None:
    with Library(demo_library) as lib:
        for model in ("descriptors", None):
            query = lib.tracks()[0]
            far = lib.similar(query.id, k=1, dissimilar=True, model=model)[0]
            e = lib.explain(query.id, far.track.id, model=model)
            assert e.score < -0.05, e.score  # the demo's most different track really scores below zero
            assert "closest in" not in e.words and "of the similarity" not in e.words, e.words
            said = re.search(r"far apart \(score (-[\d.]+)\): most different in (.+?) \((\d+) %", e.words)
            assert said, e.words
            assert float(said.group(1)) == pytest.approx(e.score, abs=0.006)
            against = [g for g in e.groups if g["contribution"] < 0]
            low = min(against, key=lambda g: g["contribution"])
            assert said.group(2).startswith(low["group"])
            share = low["contribution"] / sum(g["contribution"] for g in against)
            assert int(said.group(3)) == round(100 * share)


# ---- search: a precomputed column gives the same results as the scan it replaced -----------------
# The query of ``Catalog.tracks`` before the search_text column, computing the text of every row again.
SCAN = (
    "SELECT id FROM tracks{where} ORDER BY lower(coalesce(artist,'')), lower(coalesce(album,'')),"
    " lower(coalesce(title,'')), path LIMIT ? OFFSET ?"
)
HAYSTACK = (
    "lower(coalesce(artist,'') || ' - ' || coalesce(title,'') || ' ' || coalesce(album,'') || ' ' || path)"
)
ODD_TAGS = [  # (path, title, artist, album)
    ("/music/Café/01 Été.flac", "Été", "Édith Piaf", "La Vie"),
    ("/music/cafe/02 ete.flac", "ete", "edith piaf", None),
    ("/music/CAFÉ/03 ÉTÉ.FLAC", "ÉTÉ", "ÉDITH", "LA VIE"),
    ("/music/100%/50_50 mix.mp3", "50_50 Mix", "DJ 100%", "Percent_Album"),
    ("/music/100%/5050 mix.mp3", "5050 mix", "DJ 100", "PercentXAlbum"),
    ("/music/a\\b/back\\slash.ogg", None, None, None),
    ('/music/quotes/it\'s "q".wav', 'It\'s "Quoted"', "O'Brien", "Q"),
    ("/music/emoji/🎵 Ünïcode.opus", "🎵 Ünïcode", "Straße", "ΣΊΣΥΦΟΣ"),
    ("/music/old/caf\udce9.ogg", None, None, None),  # a Latin-1 name: the byte 0xE9, not UTF-8
    ("/music/old/CAF\udcc9 x.ogg", "x", None, None),
    ("/music/-leading dash.wav", "-dash", "", ""),
    ("/music/newline\nname.wav", "new\nline", "A\tB", None),
]
ODD_QUERIES = [
    "",
    "é",
    "É",
    "ÉTÉ",
    "ete",
    "Été",
    "CAFÉ",
    "cafe",
    "café",
    "%",
    "_",
    "100%",
    "50_50",
    "5_5",
    "%_%",
    "'",
    '"',
    "it's",
    "o'brien",
    "\\",
    "a\\b",
    "music/",
    "/MUSIC/",
    ".flac",
    "FLAC",
    "piaf la",
    "la piaf",
    "🎵",
    "ünïcode",
    "ÜNÏCODE",
    "straße",
    "STRASSE",
    "σίσυφος",
    "ΣΊΣΥΦΟΣ",
    "caf\udce9",
    "CAF\udcc9",
    "\udce9",
    "-",
    " - ",
    "edith - ete",
    "new",
    "\t",
    "zzz",
    "dj 100 %",
]


def _before(catalog, search: str | None, limit: int | None = None, offset: int = 0) -> list[int]:
    from synesthete.library.catalog import _db

    words = (search or "").split()
    where = (
        " WHERE " + " AND ".join(f"instr({HAYSTACK}, CAST(? AS TEXT)) > 0" for _ in words) if words else ""
    )
    args = [_db(w.lower()) for w in words] + [-1 if limit is None else limit, offset]
    return [r[0] for r in catalog.conn.execute(SCAN.format(where=where), args)]


def test_search_matches_as_the_scan_did_on_odd_text(tmp_path: Path) -> None:
    from synesthete.library.catalog import Catalog

    catalog = Catalog(tmp_path / "library")
    ids = {}
    for path, title, artist, album in ODD_TAGS:
        tags = {"title": title, "artist": artist, "album": album, "genre": None}
        ids[path] = catalog.save_track(
            path, size=1, mtime=0.0, content_hash=str(len(ids)), tags=tags, duration=1.0, vectors={}
        )

    def same() -> None:
        for q in ODD_QUERIES:
            assert [t.id for t in catalog.tracks(q)] == _before(catalog, q), repr(q)
        for limit, offset in ((3, 0), (3, 3), (5, 7), (None, 4)):
            assert [t.id for t in catalog.tracks(None, limit=limit, offset=offset)] == _before(
                catalog, None, limit, offset
            )
            assert [t.id for t in catalog.tracks("music", limit=limit, offset=offset)] == _before(
                catalog, "music", limit, offset
            )

    same()
    # As before: lower() folds ASCII letters only ("é" finds "Été", not "ÉTÉ"); % and _ are plain characters.
    assert {t.path for t in catalog.tracks("caf\udce9")} == {"/music/old/caf\udce9.ogg"}
    assert len(catalog.tracks("é")) == 1 and len(catalog.tracks("100%")) == 2 and not catalog.tracks("5_5")
    # retagged, moved, inserted by hand: the column follows every write
    catalog.save_track(
        "/music/cafe/02 ete.flac",
        size=2,
        mtime=1.0,
        content_hash="x",
        tags={"title": "Renamed Song", "artist": "Zed", "album": None, "genre": None},
        duration=1.0,
        vectors={},
    )
    catalog.move_track(ids["/music/-leading dash.wav"], "/elsewhere/moved\udcff.wav", size=1, mtime=0.0)
    with catalog.transaction() as c:
        c.execute(
            "INSERT INTO tracks (path, content_hash, size, mtime, title, duration, added_at, analysed_at)"
            " VALUES ('/by/hand.wav', '', 0, 0, 'Hand Made', 1, 0, 0)"
        )
    assert [t.title for t in catalog.tracks("renamed zed")] == ["Renamed Song"] and not catalog.tracks(
        "edith piaf ete"
    )
    assert [t.path for t in catalog.tracks("ELSEWHERE")] == ["/elsewhere/moved\udcff.wav"]
    assert [t.title for t in catalog.tracks("hand made")] == ["Hand Made"]
    same()
    catalog.close()


# ---- Subsonic: an unknown method is a Subsonic error, not a bare 404 --------------------------------
@pytest.mark.parametrize("name", ["getArtists", "getAlbumList2.view", "star"])
def test_unknown_subsonic_methods_answer_a_subsonic_error(tmp_path: Path, name: str) -> None:
    import xml.etree.ElementTree as ET

    from fastapi.testclient import TestClient

    from synesthete.server import create_app

    with TestClient(create_app(tmp_path / "library"), base_url="http://127.0.0.1") as client:
        doc = client.get(f"/rest/{name}", params={"f": "json", "u": "me", "p": "x"})
        assert doc.status_code == 404 and doc.headers["content-type"].startswith("application/json")
        body = doc.json()["subsonic-response"]
        assert body["status"] == "failed" and body["error"]["code"] == 0
        assert name.removesuffix(".view") in body["error"]["message"]
        xml = client.post(f"/rest/{name}", data={"u": "me", "p": "x"})
        assert xml.status_code == 404 and xml.headers["content-type"].startswith("application/xml")
        root = ET.fromstring(xml.content)
        error = root.find("{http://subsonic.org/restapi}error")
        assert root.get("status") == "failed" and error is not None and error.get("code") == "0"
        assert client.get("/rest/ping", params={"f": "json"}).json()["subsonic-response"]["status"] == "ok"


# ---- artwork flags: read once per state of the file, never stale ---------------------------------
def _flac(path: Path) -> Path:
    import soundfile as sf

    t = np.arange(22050) / 22050
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 22050)
    return path


def _picture(path: Path, data: bytes | None) -> None:
    from mutagen.flac import FLAC, Picture

    tags = FLAC(path)
    tags.clear_pictures()
    if data is not None:
        picture = Picture()
        picture.type, picture.mime, picture.data = 3, "image/png", data
        tags.add_picture(picture)
    tags.save()


def test_cover_flags_follow_every_change_at_once(tmp_path: Path) -> None:
    from synesthete.server.media import has_cover

    song = _flac(tmp_path / "song.flac")
    assert not has_cover(str(song))
    _picture(song, b"\x89PNG\r\n\x1a\n front")
    assert has_cover(str(song))
    _picture(song, None)
    assert not has_cover(str(song))
    (tmp_path / "Cover.JPG").write_bytes(b"\xff\xd8\xff a cover")
    assert has_cover(str(song))
    (tmp_path / "Cover.JPG").unlink()
    assert not has_cover(str(song))


def test_cover_flags_read_the_tags_once_per_settled_state(tmp_path: Path, monkeypatch) -> None:
    import os

    from synesthete.server import media

    reads: list[str] = []

    def counted(path: str):
        reads.append(path)
        return original(path)

    original = media._embedded_picture
    monkeypatch.setattr(media, "_embedded_picture", counted)
    monkeypatch.setattr(media, "SETTLED_NS", 0)  # every state counts as settled at once
    media._has_embedded.cache_clear()
    media._cover_names.cache_clear()
    song = _flac(tmp_path / "song.flac")
    os.utime(song, ns=(1_000_000_000, 1_000_000_000))  # distinct times, whatever the clock's tick
    assert [media.has_cover(str(song)) for _ in range(10)] == [False] * 10
    assert len(reads) == 1
    _picture(song, b"\x89PNG\r\n\x1a\n front")
    os.utime(song, ns=(2_000_000_000, 2_000_000_000))
    assert [media.has_cover(str(song)) for _ in range(10)] == [True] * 10
    assert len(reads) == 2
    _picture(song, None)
    os.utime(song, ns=(3_000_000_000, 3_000_000_000))
    assert not media.has_cover(str(song)) and len(reads) == 3
    listed = media._cover_names.cache_info().misses
    (tmp_path / "folder.png").write_bytes(b"\x89PNG\r\n\x1a\n a cover")
    os.utime(tmp_path, ns=(5_000_000_000, 5_000_000_000))
    assert media.has_cover(str(song)) and media._cover_names.cache_info().misses == listed + 1
    (tmp_path / "folder.png").write_bytes(b"x" * (media.MAX_COVER_BYTES + 1))  # in place: same folder
    assert not media.has_cover(str(song))


# ---- serve: the upload rate is a setting --------------------------------------------------------
def test_serve_refuses_an_upload_rate_that_is_not_positive(tmp_path: Path, capsys) -> None:
    from synesthete.cli import main

    assert main(["--library", str(tmp_path / "lib"), "serve", "--uploads-per-minute", "0"]) == 1
    assert "--uploads-per-minute must be above 0, got 0" in capsys.readouterr().err
