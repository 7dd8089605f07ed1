"""HTTP load: concurrent clients asking a real `synesthete serve` for similar tracks, searches, radio, Subsonic.

    .venv/bin/python bench/http_load.py [--clients 50] [--seconds 20] [--tracks 10000] [--only similar]

A library is filled with synthetic clustered vectors (``fill`` of bench/library_speed.py), served by
`synesthete serve` in its own process on 127.0.0.1 (a free port; nothing leaves the machine), warmed up,
then for each route in turn ``--clients`` keep-alive connections each ask for random tracks, one request
at a time, for ``--seconds``: `GET /api/tracks/{id}/similar`, `GET /api/tracks?search=`, `GET
/api/playlists/radio?seed=` and the Subsonic `GET /rest/getSonicSimilarTracks`. Reports throughput,
latency percentiles and errors (any status but 200, a body that is not the answer, a Subsonic
"failed", or a broken connection) per route, with the server's CPU time per answer (user + system,
all threads: what a request costs, whatever else the machine is doing); the server's resident memory after start-up, after the
warm-up and after the load, and whether it ever loaded torch (it should not: no route here needs a
model); and the load average, since a busy machine lowers every figure. Prints a table and one JSON
line. The client is a minimal asyncio HTTP/1.1 loop, so as little of the two cores as possible goes to
the load generator.
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
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from library_speed import fill

# route name -> (request target for a random track id and the library's size, is this body the answer?)
ROUTES: dict[str, tuple[Callable[[int, int], str], Callable[[bytes], bool]]] = {
    "similar": (lambda i, n: f"/api/tracks/{i}/similar?k=10", lambda b: b.startswith(b'{"query"')),
    "search": (
        lambda i, n: f"/api/tracks?search=track%20{i % 1000}&limit=20",
        lambda b: b.startswith(b'{"tracks"'),
    ),
    "radio": (lambda i, n: f"/api/playlists/radio?seed={i}&n=20", lambda b: b'"tracks"' in b),
    "subsonic": (
        lambda i, n: f"/rest/getSonicSimilarTracks?id={i}&count=10&f=json",
        lambda b: json.loads(b)["subsonic-response"]["status"] == "ok",
    ),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(library: Path, port: int, pool: int = 2) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "synesthete.cli", "--library", str(library), "serve"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--pool", str(pool)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(os.environ))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode())
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/info", timeout=5).close()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the server did not answer within 120 s")


def resident_mb(pid: int) -> float:
    """The process's resident set (VmRSS), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """CPU time the process has used so far (user + system, all threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def has_torch(pid: int) -> bool:
    """Whether the process has PyTorch's native library mapped (imported torch at some point)."""
    return "libtorch" in Path(f"/proc/{pid}/maps").read_text()


async def client(
    port: int,
    route: str,
    n_tracks: int,
    deadline: float,
    seed: int,
    latencies: list[float],
    errors: list[str],
) -> None:
    """One keep-alive connection asking one request at a time until ``deadline``."""
    target, good = ROUTES[route]
    rng = np.random.default_rng(seed)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline:
            path = target(int(rng.integers(1, n_tracks + 1)), n_tracks)
            request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
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
            if status != 200 or not good(body):
                errors.append(f"HTTP {status}: {body[:120]!r}")
    finally:
        writer.close()


async def load(port: int, route: str, clients: int, seconds: float, n_tracks: int) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(
        *(client(port, route, n_tracks, deadline, i, latencies, errors) for i in range(clients))
    )
    elapsed = time.perf_counter() - start
    ms = np.array(latencies or [np.nan]) * 1000
    return {
        "route": route,
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
    parser.add_argument("--seconds", type=float, default=20.0, help="per route")
    parser.add_argument("--tracks", type=int, default=10_000)
    parser.add_argument("--pool", type=int, default=2, help="Library handles in the server (serve --pool)")
    parser.add_argument("--only", nargs="+", choices=sorted(ROUTES), default=list(ROUTES))
    args = parser.parse_args()
    doc: dict = {"tracks": args.tracks, "clients": args.clients, "pool": args.pool, "routes": []}
    with tempfile.TemporaryDirectory() as tmp:
        library = Path(tmp) / "lib"
        fill(library, args.tracks, np.random.default_rng(0))
        port = free_port()
        proc = start_server(library, port, args.pool)
        try:
            doc["rss_started_mb"] = resident_mb(proc.pid)
            for route in args.only:  # warm up: the first search builds the space
                warm = asyncio.run(load(port, route, 4, 2.0, args.tracks))
                if warm["errors"]:
                    raise RuntimeError(f"warm-up of {route} failed: {warm['first_errors']}")
            doc["rss_warm_mb"] = resident_mb(proc.pid)
            doc["load_average_before"] = round(os.getloadavg()[0], 2)
            for route in args.only:
                cpu = cpu_seconds(proc.pid)
                result = asyncio.run(load(port, route, args.clients, args.seconds, args.tracks))
                result["server_cpu_ms_per_request"] = round(
                    (cpu_seconds(proc.pid) - cpu) * 1000 / max(result["requests"], 1), 2
                )
                doc["routes"].append(result)
            doc["load_average_after"] = round(os.getloadavg()[0], 2)
            doc["rss_after_load_mb"] = resident_mb(proc.pid)
            doc["torch_loaded"] = has_torch(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(f"{args.tracks} tracks, {args.clients} clients, {args.seconds:g} s a route")
    print(
        f"{'route':>9} {'requests':>9} {'req/s':>7} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'errors':>6}"
        f" {'server CPU-ms/req':>17}"
    )
    for r in doc["routes"]:
        print(
            f"{r['route']:>9} {r['requests']:>9} {r['throughput_rps']:>7.1f} {r['p50_ms']:>7.1f}"
            f" {r['p90_ms']:>7.1f} {r['p99_ms']:>7.1f} {r['errors']:>6}"
            f" {r['server_cpu_ms_per_request']:>17.2f}"
        )
    print(
        f"serve resident: {doc['rss_started_mb']:.0f} MB started, {doc['rss_warm_mb']:.0f} MB warm,"
        f" {doc['rss_after_load_mb']:.0f} MB after the load; torch loaded: {doc['torch_loaded']}"
    )
    print(f"load average (1 min) {doc['load_average_before']} before, {doc['load_average_after']} after")
    print(json.dumps(doc))
    return 0 if all(r["errors"] == 0 for r in doc["routes"]) else 1


if __name__ == "__main__":
    sys.exit(main())
