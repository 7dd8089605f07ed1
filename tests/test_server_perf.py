"""The server's fast paths keep their answers: batched similar searches, a lean start, fresh after a scan.

Behaviour only (speed is measured in bench/http_load.py): concurrent `similar` requests searched together
give what `Library.similar` gives one at a time; `serve` maps no PyTorch until an upload needs a model;
tracks a scan adds are found at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
import numpy as np
import pytest
import soundfile as sf

from synesthete import Library
from synesthete.exceptions import ParameterError
from synesthete.server.pool import LibraryPool, NoSuchTrack, SimilarBatcher
from synesthete.server.security import RateLimit, SharedBuckets

from .test_server import SR, _wav_bytes, make_library, piece, start_server


@pytest.fixture(scope="module")
def small_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_library(tmp_path_factory.mktemp("server-perf"))


def asked(batcher: SimilarBatcher, asks: list[tuple], *, hold=None, give_up: int | None = None) -> list:
    """The answers (or errors) of ``batcher.ask`` for each (track id, k, model, dissimilar, with_least),
    asked at once on an event loop; with ``hold`` (a lock) held while they queue, so they wait behind the
    first batch; ``give_up``: that ask is cancelled once queued, as a request whose client went away."""

    async def run() -> list:
        with hold if hold is not None else contextlib.nullcontext():
            tasks = [
                asyncio.ensure_future(batcher.ask(i, k=k, model=m, dissimilar=d, with_least=w))
                for i, k, m, d, w in asks
            ]
            await asyncio.sleep(0.05)  # every ask queued
            if give_up is not None:
                tasks[give_up].cancel()
        return await asyncio.gather(*tasks, return_exceptions=True)

    return asyncio.run(run())


def torch_mapped(pid: int) -> bool:
    """Whether process ``pid`` has PyTorch's native library loaded (it stays mapped once imported)."""
    return "libtorch" in Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/maps")
def test_serve_loads_a_model_only_when_an_upload_needs_one(small_library: Path) -> None:
    proc, base = start_server(small_library)
    try:
        assert not torch_mapped(proc.pid), "serve loaded PyTorch at start-up"
        with httpx2.Client(base_url=base, timeout=120) as http:
            ids = [t["track_id"] for t in http.get("/api/tracks").json()["tracks"]]
            assert http.get(f"/api/tracks/{ids[0]}/similar", params={"k": 3}).status_code == 200
            sub = http.get("/rest/getSonicSimilarTracks", params={"id": ids[1], "f": "json"}).json()
            assert sub["subsonic-response"]["status"] == "ok"
            assert http.get("/api/playlists/radio", params={"seed": ids[2], "n": 3}).status_code == 200
            assert http.get("/api/tracks", params={"search": "drone"}).status_code == 200
            assert not torch_mapped(proc.pid), "answering from stored vectors loaded PyTorch"
            upload = http.post("/api/similar", files={"file": ("x.wav", _wav_bytes(piece("drone", 2)))})
            assert upload.status_code == 200 and upload.json()["results"][0]["genre"] == "drone"
        assert torch_mapped(proc.pid), "the upload was analysed without musicnn's network?"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_batched_answers_are_those_of_one_at_a_time(small_library: Path, monkeypatch) -> None:
    """Asks that queue up while a batch is searched are answered together, each as if alone; a bad ask
    (unknown id, unknown model) fails alone."""
    sizes: list[int] = []
    searched_together = Library.similar_many

    def spy(self, tracks, **kwargs):
        sizes.append(len(tracks))
        return searched_together(self, tracks, **kwargs)

    monkeypatch.setattr(Library, "similar_many", spy)
    pool = LibraryPool(small_library, size=1)
    batcher = SimilarBatcher(pool)
    try:
        with pool.borrow() as lib:
            ids = [t.id for t in lib.tracks()]
            asks = [(i, 4, None, False, False) for i in ids] + [
                (i, 3, "seed498", True, False) for i in ids[:4]
            ]
            asks += [(99_999, 4, None, False, False), (ids[0], 4, "nonsense", False, False)]
            # the first batch waits for the space: every other ask queues behind it
            answers = asked(batcher, asks, hold=lib._building)
            for (track_id, k, model, dissimilar, _), found in zip(asks, answers[:-2], strict=False):
                alone = lib.similar(track_id, k=k, model=model, dissimilar=dissimilar)
                assert found.query.id == track_id and found.model == lib.space(model).name
                assert [m.track.id for m in found.matches] == [m.track.id for m in alone]
                assert np.allclose([m.score for m in found.matches], [m.score for m in alone], atol=1e-5)
        assert isinstance(answers[-2], NoSuchTrack) and "no track with id 99999" in str(answers[-2])
        assert isinstance(answers[-1], ParameterError) and "unknown model 'nonsense'" in str(answers[-1])
        assert max(sizes) > 1, f"no batch held more than one ask: {sizes}"
    finally:
        batcher.close()
        pool.close()


def test_the_least_similar_comes_from_the_same_search(small_library: Path) -> None:
    """What OpenSubsonic's getSonicSimilarTracks needs (the similar tracks, and the least similar one where
    similarity is 0), from one pass over the vectors: the answers of the two searches, directly and
    through the batcher."""
    pool = LibraryPool(small_library, size=1)
    batcher = SimilarBatcher(pool)
    try:
        with pool.borrow() as lib:
            ids = [t.id for t in lib.tracks()]
            both = lib.similar_and_least_many(ids, k=3)
            answers = asked(batcher, [(i, 3, None, False, True) for i in ids])
            for track_id, (matches, least), found in zip(ids, both, answers, strict=True):
                alone, far = lib.similar(track_id, k=3), lib.similar(track_id, k=1, dissimilar=True)
                assert [m.track.id for m in matches] == [m.track.id for m in alone]
                assert np.allclose([m.score for m in matches], [m.score for m in alone], atol=1e-5)
                assert least.track.id == far[0].track.id and abs(least.score - far[0].score) < 1e-5
                assert [m.track.id for m in found.matches] == [m.track.id for m in matches]
                assert found.least.track.id == least.track.id
    finally:
        batcher.close()
        pool.close()


def test_an_ask_given_up_leaves_the_others_answered(small_library: Path) -> None:
    """A request whose client went away is cancelled; its batch goes on without it, an unknown id fails
    alone, and the batching thread lives on for later asks."""
    pool = LibraryPool(small_library, size=1)
    batcher = SimilarBatcher(pool)
    try:
        with pool.borrow() as lib:
            ids = [t.id for t in lib.tracks()][:6]
            asks = [(i, 3, None, False, False) for i in ids] + [(99_999, 3, None, False, False)]
            found = asked(batcher, asks, hold=lib._building, give_up=1)
            assert isinstance(found[1], asyncio.CancelledError) and isinstance(found[-1], NoSuchTrack)
            for track_id, answer in [(ids[0], found[0]), *zip(ids[2:], found[2:-1], strict=True)]:
                assert answer.query.id == track_id
                assert [m.track.id for m in answer.matches] == [
                    m.track.id for m in lib.similar(track_id, k=3)
                ]
            (later,) = asked(batcher, [(ids[1], 2, None, False, False)])
            assert [m.track.id for m in later.matches] == [m.track.id for m in lib.similar(ids[1], k=2)]
    finally:
        batcher.close()
        pool.close()


def test_a_running_server_finds_what_a_scan_adds(small_library: Path, tmp_path: Path) -> None:
    """Nothing the server keeps goes stale: a track scanned in by another ``Library`` (as by another
    process) is searchable and among the similar tracks at once."""
    from fastapi.testclient import TestClient

    from synesthete.server import create_app

    with TestClient(create_app(small_library), base_url="http://127.0.0.1") as client:
        drone = client.get("/api/tracks", params={"search": "Drone 1"}).json()["tracks"][0]["track_id"]
        before = client.get(f"/api/tracks/{drone}/similar", params={"k": 50}).json()["results"]
        sf.write(tmp_path / "drone_new.flac", piece("drone", 5), SR)
        with Library(small_library) as other:
            assert other.scan([tmp_path], workers=1).added == 1
        found = client.get("/api/tracks", params={"search": "drone_new"}).json()["tracks"]
        assert len(found) == 1
        after = client.get(f"/api/tracks/{drone}/similar", params={"k": 50}).json()["results"]
        assert len(after) == len(before) + 1 and found[0]["track_id"] in {r["track_id"] for r in after}


def test_a_retagged_track_is_answered_with_its_new_tags_after_a_scan(tmp_path: Path) -> None:
    """The rows the server keeps between ``similar`` requests (``library/known.py``) are read again once
    a scan has changed the catalog: a result retagged and rescanned comes back under its new title."""
    from fastapi.testclient import TestClient
    from mutagen.flac import FLAC

    from synesthete.server import create_app

    library = make_library(tmp_path)
    with TestClient(create_app(library), base_url="http://127.0.0.1") as client:
        drone = client.get("/api/tracks", params={"search": "Drone 1"}).json()["tracks"][0]["track_id"]
        before = client.get(f"/api/tracks/{drone}/similar", params={"k": 8}).json()["results"]
        retagged = next(r for r in before if r["title"] == "Drone 2")
        tags = FLAC(retagged["path"])
        tags["title"] = "Drone Two"
        tags.save()
        with Library(library) as other:
            assert other.scan([tmp_path / "music"], workers=1).updated == 1
        after = client.get(f"/api/tracks/{drone}/similar", params={"k": 8}).json()["results"]
    titles = {r["track_id"]: r["title"] for r in after}
    assert titles[retagged["track_id"]] == "Drone Two"
    assert titles == {r["track_id"]: r["title"] for r in before} | {retagged["track_id"]: "Drone Two"}


def worker_pids(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def open_sockets(pid: int) -> int:
    """How many sockets process ``pid`` holds (its connections, and the listening one)."""
    found = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            found += os.readlink(fd).startswith("socket:")
    return found


def ask_on_connections(
    base: str, target: str, workers: list[int], n: int = 20
) -> tuple[list[dict], set[int]]:
    """``target`` asked on ``n`` connections at once: the answers, and the workers that held one of them."""
    host, port = urlsplit(base).hostname, urlsplit(base).port
    before = {w: open_sockets(w) for w in workers}
    connections = [http.client.HTTPConnection(host, port, timeout=60) for _ in range(n)]
    try:
        for c in connections:
            c.request("GET", target)
        answers = []
        for c in connections:
            response = c.getresponse()
            assert response.status == 200, response.read()
            answers.append(json.loads(response.read()))
        held = {w for w in workers if open_sockets(w) > before[w]}  # still open: kept alive
    finally:
        for c in connections:
            c.close()
    return answers, held


def wait_for(check, seconds: float = 60.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"not within {seconds:g} s")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_answer_on_one_port_and_see_a_scan_at_once(small_library: Path, tmp_path: Path) -> None:
    """`serve --workers 2`: two processes take connections on one port, neither loads PyTorch, a track
    scanned in by another process is found by both at once, a killed worker is replaced, the upload limit
    holds per client across workers, and SIGTERM stops them all."""
    library = shutil.copytree(small_library, tmp_path / "library")
    proc, base = start_server(library, "--workers", "2", "--uploads-per-minute", "4")
    try:
        workers = wait_for(lambda: len(worker_pids(proc.pid)) == 2 and worker_pids(proc.pid))
        drone = httpx2.get(f"{base}/api/tracks", params={"search": "Drone 1"}).json()["tracks"][0]
        music = tmp_path / "music"
        music.mkdir()
        sf.write(music / "workers_new.flac", piece("drone", 8), SR)  # not another test's drone_new
        with Library(library) as other:
            assert other.scan([music], workers=1).added == 1
        held: set[int] = set()
        for _ in range(10):  # the kernel hands each connection to whichever worker accepts first
            answers, now = ask_on_connections(base, "/api/tracks?search=workers_new", workers)
            assert all(len(a["tracks"]) == 1 for a in answers), answers
            held |= now
            if held == set(workers):
                break
        assert held == set(workers), f"only workers {held} of {workers} took connections"
        new_id = answers[0]["tracks"][0]["track_id"]
        answers, _ = ask_on_connections(base, f"/api/tracks/{drone['track_id']}/similar?k=50", workers)
        assert all(new_id in {r["track_id"] for r in a["results"]} for a in answers)
        assert not any(torch_mapped(w) for w in workers), "answering from stored vectors loaded PyTorch"

        os.kill(workers[0], signal.SIGKILL)
        replaced = wait_for(
            lambda: (p := worker_pids(proc.pid)) and len(p) == 2 and workers[0] not in p and p
        )
        assert workers[1] in replaced
        answers, _ = ask_on_connections(base, f"/api/tracks/{new_id}/similar?k=3", replaced, n=4)
        assert all(len(a["results"]) == 3 for a in answers)

        # 4 uploads a minute, in bursts of 2: counted once for the client, whichever worker takes each
        # (each on a connection of its own; not audio, so refused with 415 once let through)
        codes = [
            httpx2.post(f"{base}/api/similar", files={"file": ("x.mp3", b"ID3 not really")}).status_code
            for _ in range(12)
        ]
        assert set(codes) == {415, 429} and codes.count(415) <= 3, codes  # 2, and 1 more if 15 s pass
    finally:
        proc.terminate()
        code = proc.wait(timeout=60)
    assert code == 0, proc.stdout.read().decode()
    for pid in replaced:  # stopped, and reaped by the server (no zombie left)
        assert not Path(f"/proc/{pid}").exists()


def test_shared_upload_limit_counts_a_client_once_across_processes() -> None:
    """Buckets made before a fork are one count: a burst spent partly in another process is spent."""
    limit = RateLimit(4, SharedBuckets())  # bursts of 2
    pid = os.fork()
    if pid == 0:  # another worker takes the client's first upload
        os._exit(0 if limit.allow("10.0.0.1") == 0.0 else 1)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    assert limit.allow("10.0.0.1") == 0.0
    assert limit.allow("10.0.0.1") > 0, "the burst of 2 was spent across the two processes"
    assert limit.allow("10.0.0.2") == 0.0, "another client has a bucket of its own"


def test_a_full_shared_table_forgets_the_longest_idle_client() -> None:
    class Tiny(SharedBuckets):
        ROWS = PROBES = 2

    limit = RateLimit(4, Tiny())
    assert limit.allow("a") == 0.0 and limit.allow("a") == 0.0 and limit.allow("a") > 0
    assert limit.allow("b") == 0.0
    assert limit.allow("c") == 0.0  # the table is full: "a", idle longest, is forgotten
    assert limit.allow("a") == 0.0, "a forgotten client starts again with a full burst"
