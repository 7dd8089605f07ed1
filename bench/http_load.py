"""HTTP load: concurrent clients asking a real `synesthete serve` for similar tracks, searches, radio, Subsonic.

    .venv/bin/python bench/http_load.py [--clients 50] [--seconds 20] [--tracks 10000] [--only similar]
    .venv/bin/python bench/http_load.py --workers 2         # `serve --workers 2`: one process per core
    .venv/bin/python bench/http_load.py --soak 600          # then 10 minutes of every route, memory each minute
    .venv/bin/python bench/http_load.py --only --soak 600   # only the soak: resident MB after start-up and after
    .venv/bin/python bench/http_load.py --only --mixed 60 [--upload-share 0.05]   # uploads mixed in

A library is filled with synthetic clustered vectors (``fill`` of bench/library_speed.py), served by
`synesthete serve` in its own process on 127.0.0.1 (a free port; nothing leaves the machine), warmed up,
then for each route in turn ``--clients`` keep-alive connections each ask for random tracks, one request
at a time, for ``--seconds``: `GET /api/tracks/{id}/similar`, `GET /api/tracks?search=`, `GET
/api/playlists/radio?seed=` and the Subsonic `GET /rest/getSonicSimilarTracks`. Reports throughput,
latency percentiles and errors (any status but 200, a body that is not the answer, a Subsonic
"failed", or a broken connection) per route, with the server's CPU time per answer (user + system,
all threads of all its processes: what a request costs, whatever else the machine is doing) and the
load generator's own; the server's memory after start-up, after the warm-up and after the load (resident,
summed over its processes, and proportional: a page shared by N processes counted 1/N in each, which
is what `--workers` costs), and whether it ever loaded torch (it should not: no route here needs a
model); and the load average, since a busy machine lowers every figure. ``--soak SECONDS`` then asks
every route at random for that long, reading the memory each minute (it should stay flat). Prints a
table and one JSON line. The client is a minimal asyncio HTTP/1.1 loop, so as little of the two cores
as possible goes to the load generator (its CPU per answer is reported).

``--mixed SECONDS`` adds one bounded run in which every request is, at random, an upload (a share
``--upload-share``) of a small generated WAV to `POST /api/similar` or one of the routes above. The
server's upload rate limit (``Limits.uploads_per_minute``, `serve --uploads-per-minute`) is raised for the
bench, so it measures the server, not the limiter. The first upload loads the models; the server's memory
is read after it and after the mixed run (it should stay steady), and errors are counted per kind.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

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


UPLOAD = "upload"
BOUNDARY = "synesthete-bench-boundary"
UPLOADS_PER_MINUTE = 1e9  # the bench's server: no client is ever held back by the upload limiter
Pick = Callable[[np.random.Generator], tuple[str, bytes, Callable[[bytes], bool]]]


def bench_wav(seconds: float = 3.0, sr: int = 22050) -> bytes:
    """A small generated WAV (a chord over soft noise, 16-bit mono): what a client uploads."""
    rng = np.random.default_rng(7)
    t = np.arange(int(seconds * sr)) / sr
    y = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) / 3 + 0.05 * rng.standard_normal(t.size)
    out = io.BytesIO()
    sf.write(out, (0.5 * y).astype(np.float32), sr, format="WAV", subtype="PCM_16")
    return out.getvalue()


def get_request(port: int, target: str) -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()


def upload_request(port: int, wav: bytes) -> bytes:
    """`POST /api/similar` with the WAV as the multipart field ``file``."""
    body = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="bench.wav"\r\n'
        f"Content-Type: audio/wav\r\n\r\n".encode()
        + wav
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    head = (
        f"POST /api/similar?k=10 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def route_pick(port: int, route: str, n_tracks: int) -> Pick:
    """Requests of one route, for random tracks."""
    target, good = ROUTES[route]
    return lambda rng: (route, get_request(port, target(int(rng.integers(1, n_tracks + 1)), n_tracks)), good)


def mixed_pick(port: int, n_tracks: int, upload_share: float, wav: bytes) -> Pick:
    """An upload with probability ``upload_share``, else a request of a route drawn at random."""
    upload = upload_request(port, wav)
    routes = {name: route_pick(port, name, n_tracks) for name in ROUTES}
    names = sorted(routes)

    def pick(rng: np.random.Generator) -> tuple[str, bytes, Callable[[bytes], bool]]:
        if rng.random() < upload_share:
            return UPLOAD, upload, ROUTES["similar"][1]
        return routes[names[int(rng.integers(len(names)))]](rng)

    return pick


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(library: Path, port: int, pool: int = 2, workers: int = 1) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "synesthete.cli", "--library", str(library), "serve"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--pool", str(pool), "--workers", str(workers)]
    cmd += ["--uploads-per-minute", f"{UPLOADS_PER_MINUTE:g}"]
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


def processes(pid: int) -> list[int]:
    """``pid`` and its descendants (`serve --workers N` forks N)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *(p for c in children for p in processes(int(c)))]


def _kb(path: str, field: str) -> int:
    for line in Path(path).read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in {path}")


def resident_mb(pid: int) -> float:
    """The resident sets (VmRSS) of the process and its descendants, summed, in MB."""
    return round(sum(_kb(f"/proc/{p}/status", "VmRSS:") for p in processes(pid)) / 1024, 1)


def proportional_mb(pid: int) -> float:
    """The proportional sets (Pss: a page shared by n processes counts 1/n) of the process and its
    descendants, summed, in MB: their real cost together, where resident sets count shared pages twice."""
    return round(sum(_kb(f"/proc/{p}/smaps_rollup", "Pss:") for p in processes(pid)) / 1024, 1)


def cpu_seconds(pid: int) -> float:
    """CPU time the process and its descendants have used so far (user + system, all threads)."""
    total = 0
    for p in processes(pid):
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU time this process (the load generator) has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def has_torch(pid: int) -> bool:
    """Whether the process or a descendant has PyTorch's native library mapped (imported torch)."""
    return any("libtorch" in Path(f"/proc/{p}/maps").read_text() for p in processes(pid))


async def client(
    port: int,
    pick: Pick,
    deadline: float,
    seed: int,
    latencies: dict[str, list[float]],
    errors: dict[str, list[str]],
) -> None:
    """One keep-alive connection asking one request at a time (``pick`` draws it) until ``deadline``."""
    rng = np.random.default_rng(seed)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline:
            kind, request, good = pick(rng)
            start = time.perf_counter()
            try:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
            except (OSError, asyncio.IncompleteReadError, ValueError) as e:
                errors.setdefault(kind, []).append(f"connection: {e!r}")
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            latencies.setdefault(kind, []).append(time.perf_counter() - start)
            if status != 200 or not good(body):
                errors.setdefault(kind, []).append(f"HTTP {status}: {body[:120]!r}")
    finally:
        writer.close()


async def load(port: int, pick: Pick, clients: int, seconds: float) -> dict[str, dict]:
    """``clients`` connections asking for ``seconds``: figures per kind of request."""
    latencies: dict[str, list[float]] = {}
    errors: dict[str, list[str]] = {}
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(*(client(port, pick, deadline, i, latencies, errors) for i in range(clients)))
    elapsed = time.perf_counter() - start
    return {
        kind: figures(kind, latencies.get(kind, []), errors.get(kind, []), clients, elapsed)
        for kind in sorted(set(latencies) | set(errors))
    }


def figures(kind: str, latencies: list[float], errors: list[str], clients: int, elapsed: float) -> dict:
    ms = np.array(latencies or [np.nan]) * 1000
    return {
        "route": kind,
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


def one_route(port: int, route: str, clients: int, seconds: float, n_tracks: int) -> dict:
    found = asyncio.run(load(port, route_pick(port, route, n_tracks), clients, seconds))
    return found.get(route) or figures(route, [], [], clients, seconds)


def soak(proc: subprocess.Popen, port: int, args: argparse.Namespace) -> dict:
    """``args.soak`` seconds of every route at random, a minute at a time, the memory read after each."""
    routes = {name: route_pick(port, name, args.tracks) for name in args.only or ROUTES}
    names = sorted(routes)

    def pick(rng: np.random.Generator) -> tuple[str, bytes, Callable[[bytes], bool]]:
        return routes[names[int(rng.integers(len(names)))]](rng)

    doc: dict = {"seconds": args.soak, "requests": 0, "errors": 0, "rss_mb": [], "pss_mb": []}
    left = args.soak
    while left > 0:
        kinds = asyncio.run(load(port, pick, args.clients, min(60.0, left)))
        left -= 60.0
        doc["requests"] += sum(k["requests"] for k in kinds.values())
        doc["errors"] += sum(k["errors"] for k in kinds.values())
        doc["rss_mb"].append(resident_mb(proc.pid))
        doc["pss_mb"].append(proportional_mb(proc.pid))
    return doc


def mixed_run(proc: subprocess.Popen, port: int, args: argparse.Namespace) -> dict:
    """One upload (it loads the models), then ``args.mixed`` seconds of mixed requests, uploads among them."""
    wav = bench_wav()
    doc: dict = {"seconds": args.mixed, "clients": args.clients, "upload_share": args.upload_share}
    doc["upload_bytes"] = len(upload_request(port, wav))
    body = upload_request(port, wav).split(b"\r\n\r\n", 1)[1]
    ask = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/similar?k=10",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    )
    start = time.perf_counter()
    with urllib.request.urlopen(ask, timeout=600) as answer:  # an error status raises, with its reason
        if not ROUTES["similar"][1](answer.read()):
            raise RuntimeError("the first upload's answer is not a result document")
    doc["first_upload_s"] = round(time.perf_counter() - start, 2)
    doc["rss_before_mb"] = resident_mb(proc.pid)
    cpu = cpu_seconds(proc.pid)
    kinds = asyncio.run(
        load(port, mixed_pick(port, args.tracks, args.upload_share, wav), args.clients, args.mixed)
    )
    requests = sum(k["requests"] for k in kinds.values())
    doc["server_cpu_ms_per_request"] = round((cpu_seconds(proc.pid) - cpu) * 1000 / max(requests, 1), 2)
    doc["rss_after_mb"] = resident_mb(proc.pid)
    doc["requests"], doc["errors"] = requests, sum(k["errors"] for k in kinds.values())
    doc["kinds"] = list(kinds.values())
    return doc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0, help="per route")
    parser.add_argument("--tracks", type=int, default=10_000)
    parser.add_argument("--pool", type=int, default=2, help="Library handles in the server (serve --pool)")
    parser.add_argument("--workers", type=int, default=1, help="server processes (serve --workers)")
    parser.add_argument("--soak", type=float, default=0.0, help="seconds of every route at random, after")
    parser.add_argument(
        "--only", nargs="*", choices=sorted(ROUTES), default=list(ROUTES), help="routes (none: only --mixed)"
    )
    parser.add_argument("--mixed", type=float, default=0.0, help="seconds of mixed requests with uploads")
    parser.add_argument("--upload-share", type=float, default=0.05, help="share of uploads in --mixed")
    args = parser.parse_args()
    doc: dict = {"tracks": args.tracks, "clients": args.clients, "pool": args.pool, "workers": args.workers}
    doc["routes"] = []
    with tempfile.TemporaryDirectory() as tmp:
        library = Path(tmp) / "lib"
        fill(library, args.tracks, np.random.default_rng(0))
        port = free_port()
        proc = start_server(library, port, args.pool, args.workers)
        try:
            doc["rss_started_mb"] = resident_mb(proc.pid)
            for route in args.only or list(ROUTES):  # warm up: the first search builds the space
                warm = one_route(port, route, 4, 2.0, args.tracks)
                if warm["errors"]:
                    raise RuntimeError(f"warm-up of {route} failed: {warm['first_errors']}")
            doc["rss_warm_mb"] = resident_mb(proc.pid)
            doc["load_average_before"] = round(os.getloadavg()[0], 2)
            doc["pss_warm_mb"] = proportional_mb(proc.pid)
            for route in args.only:
                cpu, own = cpu_seconds(proc.pid), own_cpu_seconds()
                result = one_route(port, route, args.clients, args.seconds, args.tracks)
                answers = max(result["requests"], 1)
                result["server_cpu_ms_per_request"] = round((cpu_seconds(proc.pid) - cpu) * 1000 / answers, 2)
                result["client_cpu_ms_per_request"] = round((own_cpu_seconds() - own) * 1000 / answers, 2)
                doc["routes"].append(result)
            doc["load_average_after"] = round(os.getloadavg()[0], 2)
            doc["rss_after_load_mb"] = resident_mb(proc.pid)
            doc["pss_after_load_mb"] = proportional_mb(proc.pid)
            if args.soak > 0:
                doc["soak"] = soak(proc, port, args)
            doc["torch_loaded"] = has_torch(proc.pid)
            if args.mixed > 0:  # last: its uploads load the models
                doc["mixed"] = mixed_run(proc, port, args)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(
        f"{args.tracks} tracks, {args.clients} clients, {args.seconds:g} s a route,"
        f" serve --workers {args.workers}"
    )
    print(
        f"{'kind':>9} {'requests':>9} {'req/s':>7} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'errors':>6}"
        f" {'server CPU-ms/req':>17} {'client CPU-ms/req':>17}"
    )
    for r in doc["routes"]:
        print(
            f"{r['route']:>9} {r['requests']:>9} {r['throughput_rps']:>7.1f} {r['p50_ms']:>7.1f}"
            f" {r['p90_ms']:>7.1f} {r['p99_ms']:>7.1f} {r['errors']:>6}"
            f" {r['server_cpu_ms_per_request']:>17.2f} {r['client_cpu_ms_per_request']:>17.2f}"
        )
    print(
        f"serve resident: {doc['rss_started_mb']:.0f} MB started, {doc['rss_warm_mb']:.0f} MB warm,"
        f" {doc['rss_after_load_mb']:.0f} MB after the load (proportional: {doc['pss_warm_mb']:.0f} warm,"
        f" {doc['pss_after_load_mb']:.0f} after); torch loaded: {doc['torch_loaded']}"
    )
    soaked = doc.get("soak")
    if soaked:
        print(
            f"soak, {soaked['seconds']:g} s of every route: {soaked['requests']} requests,"
            f" {soaked['errors']} errors; resident MB each minute {soaked['rss_mb']},"
            f" proportional {soaked['pss_mb']}"
        )
        print(
            f"serve resident: {doc['rss_started_mb']:.0f} MB after start-up,"
            f" {soaked['rss_mb'][-1]:.0f} MB after {soaked['seconds']:g} s of load (the soak's last minute;"
            f" {soaked['seconds'] / 60:g} min of every route at random after the timed runs)"
        )
    print(f"load average (1 min) {doc['load_average_before']} before, {doc['load_average_after']} after")
    mixed = doc.get("mixed")
    if mixed:
        print(
            f"mixed, {mixed['seconds']:g} s, {100 * mixed['upload_share']:g} % uploads of"
            f" {mixed['upload_bytes'] / 1024:.0f} KB (first upload {mixed['first_upload_s']} s):"
            f" {mixed['requests']} requests, {mixed['errors']} errors,"
            f" server {mixed['server_cpu_ms_per_request']} CPU-ms a request"
        )
        for r in mixed["kinds"]:
            print(
                f"{r['route']:>9} {r['requests']:>9} {r['throughput_rps']:>7.1f} {r['p50_ms']:>7.1f}"
                f" {r['p90_ms']:>7.1f} {r['p99_ms']:>7.1f} {r['errors']:>6}"
            )
        print(
            f"serve resident: {mixed['rss_before_mb']:.0f} MB before the mixed run, {mixed['rss_after_mb']:.0f} after"
        )
    print(json.dumps(doc))
    failed = sum(r["errors"] for r in doc["routes"]) + (mixed["errors"] if mixed else 0)
    failed += soaked["errors"] if soaked else 0
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
