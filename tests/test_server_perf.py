"""The server's fast paths keep their answers: batched similar searches, a lean start, fresh after a scan.

Behaviour only (speed is measured in bench/http_load.py): concurrent `similar` requests searched together
give what `Library.similar` gives one at a time; `serve` maps no PyTorch until an upload needs a model;
tracks a scan adds are found at once.
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx2
import numpy as np
import pytest
import soundfile as sf

from synesthete import Library
from synesthete.exceptions import ParameterError
from synesthete.server.pool import LibraryPool, NoSuchTrack, SimilarBatcher

from .test_server import SR, _wav_bytes, make_library, piece, start_server


@pytest.fixture(scope="module")
def small_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_library(tmp_path_factory.mktemp("server-perf"))


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
            asks = [(i, 4, None, False) for i in ids] + [(i, 3, "seed498", True) for i in ids[:4]]
            asks += [(99_999, 4, None, False), (ids[0], 4, "nonsense", False)]
            with lib._building:  # the first batch waits for the space: every other ask queues behind it
                futures = [batcher.submit(i, k=k, model=m, dissimilar=d) for i, k, m, d in asks]
            answers = [f.result(timeout=120) for f in futures[:-2]]
            for (track_id, k, model, dissimilar), found in zip(asks, answers, strict=False):
                alone = lib.similar(track_id, k=k, model=model, dissimilar=dissimilar)
                assert found.query.id == track_id and found.model == lib.space(model).name
                assert [m.track.id for m in found.matches] == [m.track.id for m in alone]
                assert np.allclose([m.score for m in found.matches], [m.score for m in alone], atol=1e-5)
        with pytest.raises(NoSuchTrack, match="no track with id 99999"):
            futures[-2].result(timeout=60)
        with pytest.raises(ParameterError, match="unknown model 'nonsense'"):
            futures[-1].result(timeout=60)
        assert max(sizes) > 1, f"no batch held more than one ask: {sizes}"
    finally:
        batcher.close()
        pool.close()


def test_an_ask_given_up_leaves_the_others_answered(small_library: Path) -> None:
    """A request whose client went away is cancelled; the batch goes on without it, and the thread lives."""
    pool = LibraryPool(small_library, size=1)
    batcher = SimilarBatcher(pool)
    try:
        with pool.borrow() as lib:
            ids = [t.id for t in lib.tracks()]
            with lib._building:  # the first ask waits in its batch; the other two queue behind it
                first, gone, kept = (batcher.submit(i, k=2, model=None, dissimilar=False) for i in ids[:3])
                assert gone.cancel()
            assert first.result(timeout=120).query.id == ids[0]
            assert kept.result(timeout=120).query.id == ids[2] and gone.cancelled()
            later = batcher.submit(ids[3], k=2, model=None, dissimilar=False)
            assert [m.track.id for m in later.result(timeout=60).matches] == [
                m.track.id for m in lib.similar(ids[3], k=2)
            ]
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
