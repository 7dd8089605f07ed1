"""HTTP load: concurrent clients asking `GET /api/tracks/{id}/similar` of a real `synesthete serve`.

    .venv/bin/python bench/http_load.py [--clients 50] [--seconds 30] [--tracks 10000] [--pool 2]

A library is filled with synthetic clustered vectors (``fill`` of bench/library_speed.py), served by
uvicorn in its own process on 127.0.0.1 (a free port; nothing leaves the machine), warmed up, then
``--clients`` keep-alive connections each ask for random tracks' neighbours, one request at a time,
for ``--seconds``. Reports throughput, latency percentiles and errors (any status but 200, or a broken
connection). Prints a table and one JSON line. The client is a minimal asyncio HTTP/1.1 loop, so as
little of the two cores as possible goes to the load generator.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from library_speed import fill


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(library: Path, port: int, pool: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "synesthete.cli", "--library", str(library), "serve"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--pool", str(pool)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(os.environ))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode())
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=5).close()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the server did not answer within 120 s")


async def client(
    port: int, n_tracks: int, k: int, deadline: float, seed: int, latencies: list[float], errors: list[str]
) -> None:
    """One keep-alive connection asking one request at a time until ``deadline``."""
    rng = np.random.default_rng(seed)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline:
            track = int(rng.integers(1, n_tracks + 1))
            request = f"GET /api/tracks/{track}/similar?k={k} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
            start = time.perf_counter()
            try:
                writer.write(request.encode())
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
            except (OSError, asyncio.IncompleteReadError, ValueError) as e:
                errors.append(f"connection: {e!r}")
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            latencies.append(time.perf_counter() - start)
            if status != 200 or not body.startswith(b'{"query"'):
                errors.append(f"HTTP {status}: {body[:120]!r}")
    finally:
        writer.close()


async def load(port: int, clients: int, seconds: float, n_tracks: int, k: int) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(*(client(port, n_tracks, k, deadline, i, latencies, errors) for i in range(clients)))
    elapsed = time.perf_counter() - start
    ms = np.array(latencies) * 1000
    return {
        "clients": clients,
        "seconds": round(elapsed, 2),
        "requests": len(latencies),
        "throughput_rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p90_ms": round(float(np.percentile(ms, 90)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "max_ms": round(float(ms.max()), 2),
        "errors": len(errors),
        "first_errors": errors[:3],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--tracks", type=int, default=10_000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--pool", type=int, default=2, help="Library handles in the server (serve --pool)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        library = Path(tmp) / "lib"
        fill(library, args.tracks, np.random.default_rng(0))
        port = free_port()
        proc = start_server(library, port, args.pool)
        try:
            # Warm up: each Library handle of the server builds its search space on its first request.
            warm = asyncio.run(load(port, args.pool * 2, 2.0, args.tracks, args.k))
            if warm["errors"]:
                raise RuntimeError(f"warm-up failed: {warm['first_errors']}")
            doc = {"tracks": args.tracks, "k": args.k, "pool": args.pool}
            doc.update(asyncio.run(load(port, args.clients, args.seconds, args.tracks, args.k)))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(
        f"{'tracks':>7} {'clients':>7} {'requests':>9} {'req/s':>7} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'errors':>6}"
    )
    print(
        f"{doc['tracks']:>7} {doc['clients']:>7} {doc['requests']:>9} {doc['throughput_rps']:>7.1f}"
        f" {doc['p50_ms']:>7.1f} {doc['p90_ms']:>7.1f} {doc['p99_ms']:>7.1f} {doc['errors']:>6}"
    )
    print(json.dumps(doc))
    return 0 if doc["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
