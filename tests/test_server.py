"""The HTTP API: every route through FastAPI's TestClient over a small real library, plus one real server.

The library is built once per module from short generated pieces in three "genres" (drones, noise,
beats) with tags, so searches, similar tracks, uploads and streaming all run on real analyses.
"""

from __future__ import annotations

import hashlib
import re
import select
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient
from mutagen.flac import FLAC

from synesthete import Library
from synesthete.server import create_app
from synesthete.server.uploads import Limits

from .conftest import DATA
from .tracker import melody, write_mod

SR = 22050
LOCAL = "http://127.0.0.1"
TOKEN = "s3cret-token"


def piece(style: str, variant: int, seconds: float = 4.0) -> np.ndarray:
    """A short signal whose sound depends clearly on its style, a little on its variant."""
    rng = np.random.default_rng([("drone", "noise", "beats").index(style), variant])
    t = np.arange(int(seconds * SR)) / SR
    if style == "drone":
        root = 110.0 * 2 ** (variant / 12)
        y = sum(np.sin(2 * np.pi * root * m * t) / m for m in (1, 1.5, 2, 3)) * (1 - np.exp(-t * 3))
    elif style == "noise":
        white = rng.standard_normal(t.size)
        y = np.convolve(white, np.ones(3 + variant) / (3 + variant), mode="same")
        y *= 0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t)
    else:  # beats: kicks and hats at a tempo
        y = np.zeros_like(t)
        beat = 60.0 / (100 + 15 * variant)
        for start in np.arange(0, seconds, beat / 2):
            i = int(start * SR)
            tt = t[: t.size - i]
            y[i:] += np.sin(2 * np.pi * 55 * tt * (1 + 2 * np.exp(-tt * 30))) * np.exp(-tt * 9)
            y[i:] += 0.3 * rng.standard_normal(tt.size) * np.exp(-tt * 60)
    return (0.7 * y / np.abs(y).max()).astype(np.float32)


def make_library(folder: Path) -> Path:
    """Nine tagged FLAC pieces (three styles x three) scanned into a library at ``folder / 'library'``."""
    music = folder / "music"
    music.mkdir(parents=True)
    for style, artist in (("drone", "Low Hum"), ("noise", "Static Choir"), ("beats", "Kick Theory")):
        for v in range(3):
            path = music / f"{style}_{v + 1}.flac"
            sf.write(path, piece(style, v), SR)
            tags = FLAC(path)
            tags.update(title=f"{style.title()} {v + 1}", artist=artist, album=f"{style} album", genre=style)
            tags.save()
    with Library(folder / "library") as lib:
        report = lib.scan([music], workers=1)
        assert not report.failed, report.failed
    return folder / "library"


@pytest.fixture(scope="module")
def small_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_library(tmp_path_factory.mktemp("server"))


@pytest.fixture(scope="module")
def client(small_library: Path):
    with TestClient(create_app(small_library), base_url=LOCAL) as c:
        yield c


@pytest.fixture(scope="module")
def ids(client: TestClient) -> dict[str, int]:
    return {t["title"]: t["track_id"] for t in client.get("/api/tracks").json()["tracks"]}


# ---- JSON API -----------------------------------------------------------------------------------
def test_status_info_models(client: TestClient) -> None:
    status = client.get("/api/status").json()
    assert status["tracks"] == 9 and status["failed"] == []
    info = client.get("/api/info").json()
    assert info["models"][0] == info["default_model"] == status["default_model"]
    parts = ("radio", "journey", "clusters", "map", "identify", "explain")
    assert info["features"] == dict.fromkeys(parts, True)  # a part missing from the build fails here
    assert client.get("/api/models").json()["models"] == info["models"]


def test_tracks_search_limit_offset(client: TestClient) -> None:
    everything = client.get("/api/tracks").json()["tracks"]
    assert len(everything) == 9
    assert {"track_id", "path", "title", "artist", "album", "genre", "duration"} <= set(everything[0])
    drones = client.get("/api/tracks", params={"search": "low hum"}).json()["tracks"]
    assert sorted(t["title"] for t in drones) == ["Drone 1", "Drone 2", "Drone 3"]
    page1 = client.get("/api/tracks", params={"limit": 4}).json()["tracks"]
    page2 = client.get("/api/tracks", params={"limit": 4, "offset": 4}).json()["tracks"]
    assert len(page1) == 4 and not {t["track_id"] for t in page1} & {t["track_id"] for t in page2}
    assert client.get("/api/tracks", params={"limit": 0}).status_code == 422


def test_track_and_missing_track(client: TestClient, ids: dict[str, int]) -> None:
    one = client.get(f"/api/tracks/{ids['Beats 2']}").json()
    assert one["genre"] == "beats" and one["artist"] == "Kick Theory"
    missing = client.get("/api/tracks/99999")
    assert missing.status_code == 404 and "no track with id 99999" in missing.json()["detail"]


def test_similar_is_the_cli_document(client: TestClient, ids: dict[str, int]) -> None:
    query = ids["Drone 1"]
    doc = client.get(f"/api/tracks/{query}/similar", params={"k": 4}).json()
    assert set(doc) == {"query", "model", "results"}
    assert doc["query"]["track_id"] == query and set(doc["query"]) == {"track_id", "path", "title", "artist"}
    results = doc["results"]
    assert [r["rank"] for r in results] == [1, 2, 3, 4] and query not in [r["track_id"] for r in results]
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    assert {r["genre"] for r in results[:2]} == {"drone"}  # the other drones come first
    far = client.get(f"/api/tracks/{query}/similar", params={"k": 3, "dissimilar": True}).json()["results"]
    assert [r["score"] for r in far] == sorted(r["score"] for r in far) and "drone" not in {
        r["genre"] for r in far
    }
    other = client.get(f"/api/tracks/{query}/similar", params={"model": "seed498"}).json()
    assert other["model"].startswith("seed498-v") and len(other["results"]) == 8
    bad = client.get(f"/api/tracks/{query}/similar", params={"model": "nonsense"})
    assert bad.status_code == 422 and "unknown model 'nonsense'" in bad.json()["detail"]


def test_upload_finds_its_own_style(client: TestClient) -> None:
    y = piece("beats", 1, seconds=3.0)
    buffer = _wav_bytes(y)
    doc = client.post("/api/similar", params={"k": 3}, files={"file": ("mine.wav", buffer, "audio/wav")})
    assert doc.status_code == 200, doc.text
    doc = doc.json()
    assert doc["query"] == {"track_id": None, "path": "mine.wav", "title": "mine", "artist": None}
    assert doc["results"][0]["genre"] == "beats"


def test_upload_of_every_committed_format(client: TestClient) -> None:
    for name, kind in (("clip.ogg", "audio/ogg"), ("clip.mp3", "audio/mpeg"), ("clip.m4a", "audio/mp4")):
        r = client.post("/api/similar", files={"file": (name, (DATA / name).read_bytes(), kind)})
        assert r.status_code == 200, (name, r.text)


def test_an_uploaded_tracker_module_is_played_and_answered(client: TestClient, tmp_path: Path) -> None:
    """A module is known by its bytes (here ProTracker's tag at byte 1080), whatever its name, and is
    played to be compared."""
    tune = write_mod(tmp_path / "tune", melody(2, 128))
    r = client.post("/api/similar", files={"file": ("blob", tune.read_bytes(), "application/octet-stream")})
    assert r.status_code == 200, r.text
    assert r.json()["results"]


def test_browser_recording_webm_by_content_type(client: TestClient, tmp_path: Path) -> None:
    """A MediaRecorder blob: webm/opus, named by its type only."""
    webm = tmp_path / "rec.webm"
    _write_webm(webm, piece("noise", 0, seconds=5.0))
    r = client.post("/api/similar", files={"file": ("blob", webm.read_bytes(), "audio/webm;codecs=opus")})
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["genre"] == "noise"


@pytest.mark.parametrize(
    ("name", "kind", "status", "words"),
    [
        ("notes.txt", "text/plain", 415, "not an audio file"),
        ("ls.mp3", "audio/mpeg", 415, "not an audio file"),  # an executable (/bin/ls) named .mp3
        ("random.mp3", "audio/mpeg", 415, "not an audio file"),
        ("text.flac", "audio/flac", 415, "cannot be used"),
        ("short.wav", "audio/wav", 422, "too short"),
        ("silence.wav", "audio/wav", 422, "silent"),
        ("empty.mp3", "audio/mpeg", 422, "empty"),
    ],
)
def test_bad_uploads_are_refused_with_a_reason(client, name, kind, status, words) -> None:
    if name == "ls.mp3":
        body = Path("/bin/ls").read_bytes()
    else:
        body = (DATA / name).read_bytes() if (DATA / name).exists() else b"just some words"
    r = client.post("/api/similar", files={"file": (name, body, kind)})
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]


def test_upload_limits_size_and_duration(small_library: Path) -> None:
    app = create_app(small_library, limits=Limits(max_bytes=200_000, max_seconds=5.0))
    with TestClient(app, base_url=LOCAL) as c:
        big = c.post("/api/similar", files={"file": ("big.wav", b"\0" * 400_000, "audio/wav")})
        assert big.status_code == 413 and "larger than" in big.json()["detail"]
        long = _wav_bytes(piece("drone", 0, seconds=8.0).astype(np.float32), subtype="PCM_U8")
        r = c.post("/api/similar", files={"file": ("long.wav", long, "audio/wav")})
        assert r.status_code == 413 and "at most 5 s" in r.json()["detail"]
        assert c.post("/api/similar").status_code == 422  # no file field at all


def test_temporary_uploads_are_deleted(client: TestClient, tmp_path: Path, monkeypatch) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    client.post("/api/similar", files={"file": ("a.wav", _wav_bytes(piece("drone", 1)), "audio/wav")})
    client.post("/api/similar", files={"file": ("b.mp3", (DATA / "random.mp3").read_bytes(), "audio/mpeg")})
    assert not list(tmp_path.glob("synesthete-upload-*"))


def test_audio_streams_with_range_and_type(
    client: TestClient, ids: dict[str, int], small_library: Path
) -> None:
    track = client.get(f"/api/tracks/{ids['Noise 2']}").json()
    whole = client.get(f"/api/tracks/{track['track_id']}/audio")
    assert whole.status_code == 200 and whole.headers["content-type"] == "audio/flac"
    assert whole.content == Path(track["path"]).read_bytes()
    part = client.get(f"/api/tracks/{track['track_id']}/audio", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == whole.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole.content)}"


def test_no_path_reaches_the_filesystem(client: TestClient) -> None:
    for url in (
        "/api/tracks/..%2F..%2Fetc%2Fpasswd/audio",
        "/api/tracks/../../../../etc/passwd",
        "/static/../../../../etc/passwd",
        "/static/..%2F..%2F..%2Fetc%2Fpasswd",
        "/api/tracks/-1/audio",
        "/rest/stream?id=../../etc/passwd&f=json",
        "/rest/stream?id=%2Fetc%2Fpasswd&f=json",
    ):
        r = client.get(url)
        assert b"root:" not in r.content, url
        assert r.status_code in (400, 404, 422) or r.json()["subsonic-response"]["status"] == "failed", url


def test_page_and_docs(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and 'id="search"' in page.text and 'id="record"' in page.text
    for asset, kind in (("/static/app.js", "javascript"), ("/static/style.css", "css")):
        r = client.get(asset)
        assert r.status_code == 200 and kind in r.headers["content-type"]
    plotly = client.get("/vendor/plotly.min.js")  # plotly is a dependency: the map must never lack it
    assert plotly.status_code == 200 and "javascript" in plotly.headers["content-type"]
    assert len(plotly.content) > 1_000_000 and b"plotly" in plotly.content[:1000]
    spec = client.get("/openapi.json").json()
    for path in (
        "/api/tracks",
        "/api/tracks/{track_id}/similar",
        "/api/similar",
        "/rest/getSonicSimilarTracks",
    ):
        assert path in spec["paths"], path
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize(("url", "assets"), [("/docs", 2), ("/redoc", 1)])
def test_docs_pages_need_no_cdn(client: TestClient, url: str, assets: int) -> None:
    """Swagger UI and ReDoc load their JS and CSS from this server (the ``fastapi-offline`` package), so
    the interactive docs work offline."""
    r = client.get(url)
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    refs = re.findall(r"""<(?:script|link)\b[^>]*\b(?:src|href)=["']([^"']+)["']""", r.text)
    assert refs and not [u for u in refs if "//" in u], refs  # no http://, https:// nor //host/...
    code = [u for u in refs if u.endswith((".js", ".css"))]
    assert len(code) == assets, refs
    for ref in code:
        asset = client.get(ref)
        assert asset.status_code == 200 and len(asset.content) > 50_000, ref
        assert ("javascript" if ref.endswith(".js") else "css") in asset.headers["content-type"], ref
    assert "'/openapi.json'" in r.text or '"/openapi.json"' in r.text


# ---- playlists and identification --------------------------------------------------------------
def test_radio_and_journey_playlists(client: TestClient, ids: dict[str, int]) -> None:
    radio = client.get("/api/playlists/radio", params={"seed": [ids["Drone 1"], ids["Beats 1"]], "n": 4})
    assert radio.status_code == 200, radio.text
    tracks = radio.json()["tracks"]
    assert len(tracks) == 4 and not {ids["Drone 1"], ids["Beats 1"]} & {t["track_id"] for t in tracks}
    start, end = ids["Drone 1"], ids["Beats 3"]
    journey = client.get("/api/playlists/journey", params={"start": start, "end": end, "n": 5}).json()
    path = [t["track_id"] for t in journey["tracks"]]
    assert len(path) == 5 and path[0] == start and path[-1] == end
    m3u = client.get("/api/playlists/journey", params={"start": start, "end": end, "n": 5, "format": "m3u8"})
    assert m3u.status_code == 200 and m3u.text.startswith("#EXTM3U")
    assert "attachment" in m3u.headers["content-disposition"]


def test_explanations_and_clusters(client: TestClient, ids: dict[str, int]) -> None:
    doc = client.get(f"/api/tracks/{ids['Drone 2']}/similar", params={"k": 2, "explain": True}).json()
    assert all(r["explanation"]["words"] and r["explanation"]["groups"] for r in doc["results"])
    pair = client.get("/api/explain", params={"a": ids["Drone 2"], "b": ids["Drone 3"]}).json()
    assert pair["words"] and pair["groups"]
    groups = client.get("/api/playlists/clusters", params={"k": 3}).json()["clusters"]
    assert len(groups) == 3 and sum(len(g["tracks"]) for g in groups) == 9


def test_playlist_seeds_are_ids_never_paths(client: TestClient) -> None:
    r = client.get("/api/playlists/radio", params={"seed": str(DATA / "clip.wav")})
    assert r.status_code == 422


def test_identify_a_recording_of_a_catalogued_track(client: TestClient, small_library: Path) -> None:
    with Library(small_library) as lib:
        track = next(t for t in lib.tracks() if t.title == "Beats 2")
    y, sr = sf.read(track.path, dtype="float32")
    clip = _wav_bytes(
        y[: int(3 * sr)] + 0.01 * np.random.default_rng(0).standard_normal(int(3 * sr)).astype(np.float32)
    )
    r = client.post("/api/identify", files={"file": ("phone.wav", clip, "audio/wav")})
    assert r.status_code == 200, r.text
    assert r.json()["match"]["track_id"] == track.id


# ---- security -----------------------------------------------------------------------------------
def test_without_token_only_loopback_hosts(small_library: Path) -> None:
    with TestClient(create_app(small_library), base_url="http://music.example.org") as c:
        assert c.get("/api/status").status_code == 403
        assert c.get("/docs").status_code == 403
        assert c.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 403
    with TestClient(create_app(small_library), base_url="http://[::1]:8000") as c:
        assert c.get("/api/status").status_code == 200


def test_token_guards_every_api_route(small_library: Path, ids: dict[str, int]) -> None:
    with TestClient(create_app(small_library, token=TOKEN), base_url="http://music.example.org") as c:
        for url in ("/api/status", "/api/tracks", f"/api/tracks/{ids['Drone 1']}/similar", "/api/info"):
            r = c.get(url)
            assert r.status_code == 401 and "token" in r.json()["detail"], url
        assert c.post("/api/similar", files={"file": ("a.wav", b"x", "audio/wav")}).status_code == 401
        assert c.get("/api/status", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/api/status", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        audio = c.get(f"/api/tracks/{ids['Drone 1']}/audio", params={"token": TOKEN})
        assert audio.status_code == 200 and audio.headers["content-type"] == "audio/flac"
        assert c.get("/").status_code == 200  # the page itself holds no data; it asks for the token
        assert c.get("/docs").status_code == 200  # nor do the API docs (as FastAPI's own /docs)


def test_subsonic_auth_maps_to_the_token(small_library: Path) -> None:
    with TestClient(create_app(small_library, token=TOKEN), base_url="http://music.example.org") as c:

        def ping(**auth: str) -> dict:
            r = c.get("/rest/ping.view", params={"v": "1.16.1", "c": "test", "f": "json", **auth})
            return r.json()["subsonic-response"]

        assert ping()["error"]["code"] == 10
        assert ping(u="me", p="nope")["error"]["code"] == 40
        assert ping(u="me", p=TOKEN)["status"] == "ok"
        assert ping(u="me", p="enc:" + TOKEN.encode().hex())["status"] == "ok"
        salt = "c19b2d"
        assert ping(u="me", t=hashlib.md5((TOKEN + salt).encode()).hexdigest(), s=salt)["status"] == "ok"
        assert (
            ping(u="me", t=hashlib.md5(b"wrong" + salt.encode()).hexdigest(), s=salt)["error"]["code"] == 40
        )
        assert ping(apiKey=TOKEN)["status"] == "ok"
        assert ping(apiKey=TOKEN, u="me")["error"]["code"] == 43
        # the spec wants the extension list readable without credentials
        ext = c.get("/rest/getOpenSubsonicExtensions", params={"f": "json"}).json()["subsonic-response"]
        assert ext["status"] == "ok"


# ---- OpenSubsonic -------------------------------------------------------------------------------
def test_subsonic_extensions_json_and_xml(client: TestClient) -> None:
    doc = client.get("/rest/getOpenSubsonicExtensions", params={"f": "json"}).json()["subsonic-response"]
    assert doc["status"] == "ok" and doc["openSubsonic"] is True and doc["type"] == "synesthete"
    assert {"name": "sonicSimilarity", "versions": [1]} in doc["openSubsonicExtensions"]
    xml = client.get("/rest/getOpenSubsonicExtensions.view")
    assert xml.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(xml.content)
    ns = {"s": "http://subsonic.org/restapi"}
    assert root.tag == "{http://subsonic.org/restapi}subsonic-response" and root.get("status") == "ok"
    names = [e.get("name") for e in root.findall("s:openSubsonicExtensions", ns)]
    assert "sonicSimilarity" in names
    jsonp = client.get("/rest/ping", params={"f": "jsonp", "callback": "cb"})
    assert jsonp.text.startswith("cb(") and jsonp.text.endswith(");")
    post = client.post("/rest/ping", data={"f": "json", "u": "me", "p": "x"})
    assert post.json()["subsonic-response"]["status"] == "ok"


def test_subsonic_song_stream_and_similar(client: TestClient, ids: dict[str, int]) -> None:
    query = ids["Noise 1"]
    song = client.get("/rest/getSong", params={"id": query, "f": "json"}).json()["subsonic-response"]["song"]
    assert song["id"] == str(query) and song["title"] == "Noise 1" and song["suffix"] == "flac"
    assert song["contentType"] == "audio/flac" and song["isDir"] is False and song["size"] > 0
    missing = client.get("/rest/getSong", params={"id": 99999, "f": "json"}).json()["subsonic-response"]
    assert missing["status"] == "failed" and missing["error"]["code"] == 70
    stream = client.get("/rest/stream", params={"id": query}, headers={"Range": "bytes=0-9"})
    assert stream.status_code == 206 and stream.content[:4] == b"fLaC"

    doc = client.get("/rest/getSonicSimilarTracks", params={"id": query, "count": 3, "f": "json"}).json()
    matches = doc["subsonic-response"]["sonicMatch"]
    assert len(matches) == 3 and str(query) not in [m["entry"]["id"] for m in matches]
    sims = [m["similarity"] for m in matches]
    assert sims == sorted(sims, reverse=True) and all(0 <= s <= 1 for s in sims)
    api = client.get(f"/api/tracks/{query}/similar", params={"k": 3}).json()["results"]
    assert [m["entry"]["id"] for m in matches] == [
        str(r["track_id"]) for r in api
    ]  # one path through Library
    xml = ET.fromstring(
        client.get("/rest/getSonicSimilarTracks.view", params={"id": query, "count": 2}).content
    )
    ns = {"s": "http://subsonic.org/restapi"}
    found = xml.findall("s:sonicMatch", ns)
    assert len(found) == 2 and found[0].find("s:entry", ns).get("id") == str(api[0]["track_id"])
    assert (
        client.get("/rest/getSonicSimilarTracks", params={"f": "json"}).json()["subsonic-response"]["error"][
            "code"
        ]
        == 10
    )


def test_subsonic_find_sonic_path(client: TestClient, ids: dict[str, int]) -> None:
    params = {"startSongId": ids["Drone 1"], "endSongId": ids["Beats 3"], "count": 5, "f": "json"}
    doc = client.get("/rest/findSonicPath", params=params).json()["subsonic-response"]
    assert doc["status"] == "ok", doc
    path = [m["entry"]["id"] for m in doc["sonicMatch"]]
    assert path[0] == str(ids["Drone 1"]) and path[-1] == str(ids["Beats 3"]) and len(path) <= 5


# ---- a real server ------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(library: Path, *args: str) -> tuple[subprocess.Popen, str]:
    """`synesthete serve` in its own process on a free port; returns once it answers."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "synesthete.cli",
            "--library",
            str(library),
            "serve",
            "--port",
            str(port),
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    import urllib.request

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(proc.stdout.read().decode())
        try:
            urllib.request.urlopen(base + "/", timeout=2).close()
            return proc, base
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the server did not start in 60 s")


@pytest.fixture(scope="module")
def server(small_library: Path):
    proc, base = start_server(small_library)
    yield base
    proc.terminate()
    proc.wait(timeout=10)


def test_real_server(server: str, ids: dict[str, int]) -> None:
    import httpx2

    with httpx2.Client(base_url=server, timeout=30) as http:
        assert http.get("/api/status").json()["tracks"] == 9
        doc = http.get(f"/api/tracks/{ids['Beats 1']}/similar", params={"k": 2}).json()
        assert len(doc["results"]) == 2
        upload = http.post(
            "/api/similar", files={"file": ("x.wav", _wav_bytes(piece("drone", 2)), "audio/wav")}
        )
        assert upload.status_code == 200 and upload.json()["results"][0]["genre"] == "drone"
        refused = http.post("/api/similar", files={"file": ("x.mp3", b"ID3 not really", "audio/mpeg")})
        assert refused.status_code == 415 and refused.json()["detail"]
        part = http.get(f"/api/tracks/{ids['Beats 1']}/audio", headers={"Range": "bytes=0-3"})
        assert part.status_code == 206 and part.content == b"fLaC"
        ping = http.get("/rest/ping.view", params={"f": "json"}).json()
        assert ping["subsonic-response"]["status"] == "ok"


def test_serve_refuses_an_open_address_without_token(small_library: Path, monkeypatch, capsys) -> None:
    from synesthete.cli import main

    monkeypatch.delenv("SYNESTHETE_TOKEN", raising=False)
    assert main(["--library", str(small_library), "serve", "--host", "0.0.0.0"]) == 1
    assert "--token" in capsys.readouterr().err


# ---- helpers ------------------------------------------------------------------------------------
def _wav_bytes(y: np.ndarray, subtype: str = "PCM_16") -> bytes:
    import io

    buffer = io.BytesIO()
    sf.write(buffer, y, SR, format="WAV", subtype=subtype)
    return buffer.getvalue()


def _write_webm(path: Path, y: np.ndarray) -> None:
    """webm/opus as Chromium's MediaRecorder writes it (48 kHz)."""
    import av
    import soxr

    y48 = soxr.resample(y, SR, 48000).astype(np.float32)
    with av.open(str(path), "w", format="webm") as out:
        stream = out.add_stream("libopus", rate=48000, layout="mono")
        for start in range(0, len(y48), 960):
            frame = av.AudioFrame.from_ndarray(y48[None, start : start + 960], format="flt", layout="mono")
            frame.sample_rate = 48000
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


# ---- the API's edges and a hardened server (issues 17.4, 18.5) ----------------------------------
BIG = 2**63  # one past SQLite's INTEGER


def test_ids_and_offsets_past_sqlite_are_refused(client: TestClient, ids: dict[str, int]) -> None:
    one = ids["Drone 1"]
    for url in (f"/api/tracks/{BIG}", f"/api/tracks/{BIG}/similar", f"/api/tracks/{BIG}/audio"):
        r = client.get(url)
        assert r.status_code == 404 and f"no track with id {BIG}" in r.json()["detail"], url
    assert client.get("/api/explain", params={"a": BIG, "b": one}).status_code == 404
    for url, params in (
        ("/api/tracks", {"offset": BIG}),
        ("/api/playlists/radio", {"seed": BIG}),
        ("/api/playlists/journey", {"start": one, "end": BIG}),
        ("/api/playlists/dissimilar", {"seed": 2**64}),
    ):
        assert client.get(url, params=params).status_code == 422, url
    for big in (BIG, 2**64, "9" * 40):
        doc = client.get("/rest/getSong", params={"id": big, "f": "json"}).json()["subsonic-response"]
        assert doc["status"] == "failed" and doc["error"]["code"] == 70, doc
    xml = client.get("/rest/getSonicSimilarTracks", params={"id": one, "count": BIG})
    root = ET.fromstring(xml.content)  # XML, as the client asked (the default), not plain text
    assert root.get("status") == "failed" and root[0].get("code") == "0"


def test_two_files_in_one_upload_are_refused(client: TestClient) -> None:
    wav = _wav_bytes(piece("drone", 1))
    two = [("file", ("a.wav", wav, "audio/wav")), ("file", ("b.wav", wav, "audio/wav"))]
    r = client.post("/api/similar", files=two)
    assert r.status_code == 422 and "exactly one file" in r.json()["detail"]
    other = client.post("/api/identify", files={"audio": ("a.wav", wav, "audio/wav")})
    assert other.status_code == 422


def test_no_traceback_reaches_a_client(small_library: Path, ids: dict[str, int], monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals at /home/someone")

    monkeypatch.setattr(Library, "similar_many", broken)
    monkeypatch.setattr(Library, "similar_and_least_many", broken)  # what Subsonic's sonic matches call
    with TestClient(create_app(small_library), base_url=LOCAL, raise_server_exceptions=False) as c:
        r = c.get(f"/api/tracks/{ids['Drone 1']}/similar")
        assert r.status_code == 500 and r.json() == {
            "detail": "internal error (the server's log has the details)"
        }
        s = c.get("/rest/getSonicSimilarTracks", params={"id": ids["Drone 1"], "f": "json"})
        doc = s.json()["subsonic-response"]
        assert doc["status"] == "failed" and doc["error"]["code"] == 0
        for body in (r.text, s.text):
            assert "secret" not in body and "Traceback" not in body and "RuntimeError" not in body


def test_cors_off_and_security_headers(client: TestClient) -> None:
    evil = {"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"}
    pre = client.options("/api/tracks", headers=evil)
    got = client.get("/api/tracks", headers={"Origin": "http://evil.example"})
    for r in (pre, got):
        assert "access-control-allow-origin" not in r.headers
    assert got.headers["x-content-type-options"] == "nosniff"
    page = client.get("/")
    policy = page.headers["content-security-policy"]
    script = next(p for p in policy.split(";") if p.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in policy and "'self'" in script and "frame-ancestors 'none'" in policy
    assert page.headers["x-frame-options"] == "DENY"
    # and the page needs no inline code under that policy
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page.text) and "<style" not in page.text
    assert not re.search(r"\sstyle=|\son[a-z]+=", page.text)
    css = client.get("/vendor/plotly.css")  # plotly's own rules, which it may not inline under the policy
    assert css.status_code == 200 and ".js-plotly-plot .plotly .modebar" in css.text


def test_m3u8_holds_urls_never_paths_nor_the_token(small_library: Path, ids: dict[str, int]) -> None:
    params = {"start": ids["Drone 1"], "end": ids["Beats 3"], "n": 3, "format": "m3u8"}
    with TestClient(create_app(small_library), base_url=LOCAL) as c:
        plain = c.get("/api/playlists/journey", params=params)
        assert plain.status_code == 200 and str(small_library.parent) not in plain.text
        urls = [line for line in plain.text.splitlines() if not line.startswith("#")]
        assert len(urls) == 3 and urls[0] == f"{LOCAL}/api/tracks/{ids['Drone 1']}/audio"
    with TestClient(create_app(small_library, token=TOKEN), base_url="http://music.example.org") as c:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        to = "/api/playlists/journey?" + "&".join(f"{k}={v}" for k, v in params.items())
        link = c.get("/api/link", params={"to": to}, headers=auth).json()["url"]
        assert TOKEN not in link and "sig=" in link
        m3u = c.get(link)  # no token: the signature is enough
        assert m3u.status_code == 200 and m3u.text.startswith("#EXTM3U") and TOKEN not in m3u.text
        assert str(small_library.parent) not in m3u.text
        urls = [line for line in m3u.text.splitlines() if not line.startswith("#")]
        first = c.get(urls[0])
        assert first.status_code == 200 and first.content[:4] == b"fLaC"
        assert c.get(link.replace("n=3", "n=4")).status_code == 401  # a signature covers its whole address
        assert c.get(urls[0].replace("/audio", "")).status_code == 401
        assert c.get("/api/link", params={"to": "http://elsewhere/api/x"}, headers=auth).status_code == 422
        assert c.get("/api/link", params={"to": to}).status_code == 401


@contextmanager
def serving(app) -> Iterator[int]:
    """``app`` behind a real uvicorn on a free loopback port, in a thread; yields the port."""
    import threading

    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def send_raw(port: int, head: str, body: Iterable[bytes] = (), read_timeout: float = 30.0) -> tuple[int, int]:
    """Send ``head`` then ``body`` pieces until the server answers; (status, body bytes sent)."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as s:
        s.sendall(head.replace("\n", "\r\n").encode() + b"\r\n")
        sent = 0
        for piece_ in body:
            if select.select([s], [], [], 0)[0]:  # the server has answered already
                break
            try:
                s.sendall(piece_)
            except OSError:  # it answered and closed
                break
            sent += len(piece_)
        answer = s.recv(4096).decode("latin-1")
    return int(answer.split(" ", 2)[1]), sent


def test_bodies_are_bounded_before_they_are_read(small_library: Path) -> None:
    limits = Limits(max_bytes=200_000, body_timeout=1.0)
    app = create_app(small_library, token=TOKEN, limits=limits)
    upload = "POST /api/similar HTTP/1.1\nHost: 127.0.0.1\nContent-Type: multipart/form-data; boundary=x\n"
    with serving(app) as port:
        # no token, 60 MB declared: 401 with not a byte of the body sent
        assert send_raw(port, upload + "Content-Length: 60000000\n") == (401, 0)
        auth = f"Authorization: Bearer {TOKEN}\n"
        assert send_raw(port, upload + auth + "Content-Length: 1000000000\n") == (413, 0)
        # chunked: cut at the limit, while the client is still sending
        part = b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
        chunk = b"10000\r\n" + b"\0" * 0x10000 + b"\r\n"
        first = f"{len(part):x}\r\n".encode() + part + b"\r\n"
        status, sent = send_raw(
            port, upload + auth + "Transfer-Encoding: chunked\n", [first, *[chunk] * 1000]
        )
        assert status == 413 and sent < 1000 * len(chunk)
        # any other route: a Subsonic form POST is bounded too, and answered as Subsonic
        form = "POST /rest/ping.view?f=json HTTP/1.1\nHost: 127.0.0.1\n"
        form += "Content-Type: application/x-www-form-urlencoded\n"
        assert send_raw(port, form + "Content-Length: 100000000\n")[0] == 413
        status, sent = send_raw(
            port, form + "Transfer-Encoding: chunked\n", [b"400\r\n" + b"a" * 1024 + b"\r\n"] * 100_000
        )
        assert sent < 100_000 * 1030
        # a client that stops sending is dropped (uvicorn alone would wait for ever)
        assert send_raw(port, upload + auth + "Content-Length: 1000\n", [b"--x\r\n"])[0] == 408


def test_the_body_limit_refuses_before_any_route_reads(small_library: Path) -> None:
    """Only the body limit (``uploads.BodyLimit``) refuses these: without it the form POST would be read
    whole and answered, and the oversized upload parsed as multipart (and refused as malformed, not large)."""
    app = create_app(small_library, limits=Limits(max_bytes=200_000))
    with TestClient(app, base_url=LOCAL) as c:
        form = c.post("/rest/ping.view", params={"f": "json"}, data={"pad": "a" * 100_000})
        assert form.status_code == 413 and "not an upload" in form.text
        declared = c.post(
            "/api/similar",
            content=b"\0" * 300_000,  # over the limit and its envelope, and not even multipart
            headers={"Content-Type": "multipart/form-data; boundary=x"},
        )
        assert declared.status_code == 413 and "larger than" in declared.json()["detail"]
        small = c.post("/rest/ping.view", params={"f": "json"}, data={"pad": "a" * 1000})
        assert small.json()["subsonic-response"]["status"] == "ok"


def test_a_chunked_upload_to_a_real_server(server: str) -> None:
    """Transfer-Encoding: chunked (no Content-Length, as a streaming client sends) over a real socket to
    ``synesthete serve``: counted as it arrives, then analysed like any upload."""
    import http.client
    import json
    from urllib.parse import urlsplit

    boundary = "synesthete-test-boundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()
    body += _wav_bytes(piece("drone", 2)) + f"\r\n--{boundary}--\r\n".encode()
    address = urlsplit(server)
    conn = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
    try:
        conn.request(
            "POST",
            "/api/similar?k=2",
            body=(body[i : i + 8192] for i in range(0, len(body), 8192)),
            headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Transfer-Encoding": "chunked",
            },
            encode_chunked=True,
        )
        answer = conn.getresponse()
        doc = json.loads(answer.read())
    finally:
        conn.close()
    assert answer.status == 200, doc
    assert doc["query"]["path"] == "x.wav" and doc["results"][0]["genre"] == "drone"


def test_uploads_are_rate_limited_per_client(small_library: Path) -> None:
    app = create_app(small_library, limits=Limits(uploads_per_minute=4))  # a burst of 2, then one in 15 s
    wav = _wav_bytes(piece("noise", 1))
    with TestClient(app, base_url=LOCAL) as c:
        answers = [c.post("/api/similar", files={"file": ("a.wav", wav, "audio/wav")}) for _ in range(3)]
        assert [r.status_code for r in answers] == [200, 200, 429]
        assert 1 <= int(answers[2].headers["retry-after"]) <= 15
        assert "too many uploads" in answers[2].json()["detail"]
        assert c.get("/api/status").status_code == 200  # other routes are not counted


# ---- OpenSubsonic as third-party clients use it (issue 17.5) ------------------------------------
def _nulls(doc, where: str = "") -> list[str]:
    """Paths of every null in a JSON document."""
    if doc is None:
        return [where]
    if isinstance(doc, dict):
        return [n for k, v in doc.items() for n in _nulls(v, f"{where}.{k}")]
    if isinstance(doc, list):
        return [n for i, v in enumerate(doc) for n in _nulls(v, f"{where}[{i}]")]
    return []


def test_third_party_subsonic_clients(small_library: Path, ids: dict[str, int]) -> None:
    """py-sonic browses, searches and streams; py-opensonic asks for sonic matches and paths."""
    libsonic = pytest.importorskip("libsonic", reason="py-sonic (the dev extra) is not installed")
    libopensonic = pytest.importorskip("libopensonic", reason="py-opensonic (the dev extra) is not installed")
    cover = small_library.parent / "music" / "cover.jpg"
    cover.write_bytes(b"\xff\xd8\xff\xe0 a tiny stand-in for a JPEG")
    try:
        with serving(create_app(small_library, token=TOKEN)) as port:
            sonic = libsonic.Connection("http://127.0.0.1", "me", TOKEN, port=port, appName="test")
            assert sonic.ping()
            assert sonic.getMusicFolders()["musicFolders"]["musicFolder"][0]["id"] == 1
            index = sonic.getIndexes()["indexes"]["index"]
            artists = {a["name"]: a["id"] for i in index for a in i["artist"]}
            assert set(artists) == {"Low Hum", "Static Choir", "Kick Theory"}
            folder = sonic.getMusicDirectory(artists["Low Hum"])["directory"]
            assert sorted(c["title"] for c in folder["child"]) == ["Drone 1", "Drone 2", "Drone 3"]
            assert all(c["parent"] == artists["Low Hum"] and c["coverArt"] for c in folder["child"])
            found = sonic.search3("drone")["searchResult3"]["song"]
            assert sorted(s["title"] for s in found) == ["Drone 1", "Drone 2", "Drone 3"]
            assert len(sonic.search3("", songCount=100)["searchResult3"]["song"]) == 9
            randoms = sonic.getRandomSongs(size=4)["randomSongs"]["song"]
            assert len({s["id"] for s in randoms}) == 4
            like = sonic.getSimilarSongs2(ids["Drone 1"], count=2)["similarSongs2"]["song"]
            assert [s["genre"] for s in like] == ["drone", "drone"]
            art = sonic.getCoverArt(str(ids["Drone 2"]))
            assert art.read() == cover.read_bytes()
            assert sonic.getSong(ids["Beats 1"])["song"]["path"] == "Kick Theory/beats_1.flac"
            for doc in (folder, sonic.getSong(ids["Beats 1"]), sonic.getIndexes()):
                assert not _nulls(doc), _nulls(doc)

            open_ = libopensonic.Connection("http://127.0.0.1", "me", TOKEN, port=port, app_name="test")
            try:
                matches = open_.get_sonic_similar_tracks(str(ids["Drone 1"]), count=8)
                sims = [m.similarity for m in matches]
                assert len(matches) == 8 and sims == sorted(sims, reverse=True)
                assert [m.entry.genre for m in matches[:2]] == ["drone", "drone"]
                assert 0 < sims[0] <= 1 and sims[-1] == 0.0  # all 8 others: the last is the most different
                start, end = str(ids["Drone 1"]), str(ids["Beats 3"])
                path = open_.find_sonic_path(start, end, count=100)  # more than the library holds
                assert path[0].entry.id == start and path[-1].entry.id == end and 2 < len(path) <= 9
                assert path[0].similarity == 1.0 and all(0 <= m.similarity <= 1 for m in path)
                assert [m.entry.id for m in open_.find_sonic_path(start, end, count=1)] == [start]
                assert open_.get_song(start).title == "Drone 1"
            finally:
                open_.cleanup()
    finally:
        cover.unlink()


def test_artwork_only_of_catalogued_tracks(
    client: TestClient, ids: dict[str, int], small_library: Path
) -> None:
    one = ids["Noise 3"]
    assert client.get(f"/api/tracks/{one}/cover").status_code == 404  # none in its tags, none beside it
    cover = small_library.parent / "music" / "folder.png"
    cover.write_bytes(b"\x89PNG\r\n\x1a\n a stand-in")
    try:
        r = client.get(f"/api/tracks/{one}/cover")
        assert (
            r.status_code == 200
            and r.content == cover.read_bytes()
            and r.headers["content-type"] == "image/png"
        )
    finally:
        cover.unlink()
    assert client.get(f"/api/tracks/{BIG}/cover").status_code == 404


def test_assets_are_compressed_and_answers_are_not(client: TestClient) -> None:
    gz = {"Accept-Encoding": "gzip"}
    for asset in ("/static/app.js", "/static/style.css", "/vendor/plotly.min.js"):
        r = client.get(asset, headers=gz)
        assert r.status_code == 200 and r.headers.get("content-encoding") == "gzip", asset
        assert r.num_bytes_downloaded < len(r.content) / 2, asset  # the bytes sent were the compressed ones
    assert "content-encoding" not in client.get("/api/tracks", headers=gz).headers


def test_docs_pages_fetch_nothing_from_elsewhere(client: TestClient) -> None:
    for url in ("/docs", "/redoc"):
        policy = client.get(url).headers["content-security-policy"]
        assert "default-src 'self'" in policy and "img-src 'self' data:" in policy, url


def test_embedded_artwork_comes_first(client: TestClient, ids: dict[str, int]) -> None:
    from mutagen.flac import Picture

    path = Path(client.get(f"/api/tracks/{ids['Drone 3']}").json()["path"])
    original = path.read_bytes()
    try:
        tags = FLAC(path)
        picture = Picture()
        picture.type, picture.mime, picture.data = 3, "image/png", b"\x89PNG\r\n\x1a\n the front cover"
        tags.add_picture(picture)
        tags.save()
        r = client.get(f"/api/tracks/{ids['Drone 3']}/cover")
        assert r.status_code == 200 and r.content == picture.data and r.headers["content-type"] == "image/png"
        song = client.get("/rest/getSong", params={"id": ids["Drone 3"], "f": "json"}).json()
        assert song["subsonic-response"]["song"]["coverArt"] == str(ids["Drone 3"])
        art = client.get("/rest/getCoverArt", params={"id": ids["Drone 3"]})
        assert art.content == picture.data
        other = client.get("/rest/getSong", params={"id": ids["Drone 1"], "f": "json"}).json()
        assert "coverArt" not in other["subsonic-response"]["song"]  # no artwork: no field, never null
    finally:
        path.write_bytes(original)
