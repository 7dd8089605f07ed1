"""Memory: analysing one long file (the decoder streams, so a 2-hour mix costs what a song costs), and `serve`.

    .venv/bin/python bench/memory.py [--hours 2] [--tracks 10000]

Writes a long FLAC (44.1 kHz stereo, generated block by block) and a 4-minute one, analyses each with
every extractor in a fresh process, and reports that process's peak resident memory, beside the memory
of the loaded libraries and models alone (torch, numba, librosa: a fixed cost, whatever the file).
Then `synesthete serve` on a library of ``--tracks`` synthetic tracks (bench/library_speed.py's
``fill``): its resident memory after start-up, after a `similar` request (the search space is built),
and after an uploaded file is analysed, the first request that needs a model. Prints a table and one
JSON line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).parent))

CHILD = """
import resource, sys, time
from synesthete.analysis import analyze
start = time.process_time()
a = analyze(sys.argv[1])
print(a.duration, time.process_time() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""
BASELINE = """
import resource
import numpy as np
from synesthete.features.base import Spectra
from synesthete.features.registry import EXTRACTORS
spectra = Spectra(np.random.default_rng(0).standard_normal(22050).astype(np.float32) * 0.1)
for e in EXTRACTORS.values():
    e.finish([e.partial(spectra)])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def write_long(path: Path, hours: float, sr: int = 44100) -> None:
    rng = np.random.default_rng(0)
    block = sr * 60
    with sf.SoundFile(path, "w", samplerate=sr, channels=2, format="FLAC") as f:
        for minute in range(int(hours * 60)):
            t = (np.arange(block) + minute * block) / sr
            y = 0.2 * np.sin(2 * np.pi * (110 + minute % 24 * 10) * t) + 0.05 * rng.standard_normal(block)
            f.write(np.stack([y, y], axis=1).astype(np.float32))


def serve_memory(n_tracks: int, song: Path, folder: Path) -> dict:
    """``serve``'s resident MB when started, after a similar request, after an upload (a model loads)."""
    from http_load import free_port, has_torch, resident_mb, start_server
    from library_speed import fill

    fill(folder / "lib", n_tracks, np.random.default_rng(0))
    port = free_port()
    proc = start_server(folder / "lib", port)
    try:
        rows = {"started_mb": resident_mb(proc.pid)}
        base = f"http://127.0.0.1:{port}"
        urllib.request.urlopen(f"{base}/api/tracks/1/similar", timeout=300).close()
        rows["after_similar_mb"], rows["torch_after_similar"] = resident_mb(proc.pid), has_torch(proc.pid)
        with tempfile.TemporaryDirectory() as tmp:  # a 30-s excerpt of the song, as a browser would send
            clip = Path(tmp) / "clip.wav"
            sf.write(clip, sf.read(song, frames=30 * 44100)[0], 44100)
            body, boundary = clip.read_bytes(), "synesthete-bench"
        form = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="clip.wav"\r\n'
                "Content-Type: audio/wav\r\n\r\n"
            ).encode()
            + body
            + f"\r\n--{boundary}--\r\n".encode()
        )
        upload = urllib.request.Request(
            f"{base}/api/similar",
            data=form,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        urllib.request.urlopen(upload, timeout=300).close()
        rows["after_upload_mb"], rows["torch_after_upload"] = resident_mb(proc.pid), has_torch(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {"tracks": n_tracks, **rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--tracks", type=int, default=10_000, help="tracks in the served library")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.flac"
        start = time.perf_counter()
        write_long(path, args.hours)
        print(f"wrote {args.hours:g} h of audio in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        song = Path(tmp) / "song.flac"
        write_long(song, 4 / 60)
        run = {"capture_output": True, "text": True, "check": True}
        base = float(subprocess.run([sys.executable, "-c", BASELINE], **run).stdout)
        rows = {}
        for name, file in (("song", song), ("long", path)):
            out = subprocess.run([sys.executable, "-c", CHILD, str(file)], **run).stdout.split()
            rows[name] = dict(zip(("seconds", "cpu_s", "peak_rss_mb"), map(float, out), strict=True))
        serve = serve_memory(args.tracks, song, Path(tmp))
    doc = {"models_loaded_rss_mb": base, **rows, "serve": serve}
    print(f"libraries and models loaded, 1 s analysed: {base:.0f} MB")
    for r in rows.values():
        print(
            f"{r['seconds'] / 60:6.1f} min analysed in {r['cpu_s']:4.0f} CPU-s: peak RSS {r['peak_rss_mb']:.0f} MB"
        )
    print(
        f"serve, {serve['tracks']} tracks: {serve['started_mb']:.0f} MB started, {serve['after_similar_mb']:.0f} MB"
        f" after a similar request (torch loaded: {serve['torch_after_similar']}),"
        f" {serve['after_upload_mb']:.0f} MB after an upload (torch loaded: {serve['torch_after_upload']})"
    )
    print(json.dumps(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
