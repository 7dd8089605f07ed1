"""Serving: the HTTP API, the OpenSubsonic endpoints and the web page (`synesthete serve`)."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import errno
import socket

from synesthete.api import Library
from synesthete.cli.output import say
from synesthete.exceptions import UserError

M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)


def cmd_serve(lib: Library, args: argparse.Namespace) -> int:
    import uvicorn

    from synesthete.server import LibraryPool, create_app, is_loopback, workers
    from synesthete.server.security import ENV_TOKEN, SharedBuckets, token_from_env
    from synesthete.server.uploads import Limits

    token = args.token or token_from_env()
    if not is_loopback(args.host) and not token:
        raise UserError(
            f"serving on {args.host} opens the library to the network: give --token TOKEN"
            f" (or set {ENV_TOKEN}); without a token, serve on 127.0.0.1"
        )
    rate = {} if args.uploads_per_minute is None else {"uploads_per_minute": args.uploads_per_minute}
    if args.uploads_per_minute is not None and not args.uploads_per_minute > 0:
        raise UserError(f"--uploads-per-minute must be above 0, got {args.uploads_per_minute:g}")
    limits = Limits(
        max_bytes=int(args.max_upload_mb * 1024 * 1024), max_seconds=args.max_upload_seconds, **rate
    )
    if args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    _few_malloc_arenas()  # before the server's threads start
    sock = _bind(args.host, args.port)  # before saying where the page is: a busy port fails here
    host = f"[{args.host}]" if ":" in args.host else args.host
    say(f"synesthete: the page is at http://{host}:{args.port}/  (API docs: /docs; Ctrl-C stops)")
    if token:
        say(
            "synesthete: API routes need the token (Authorization: Bearer TOKEN, or ?token=TOKEN on the page)"
        )

    def serve(pool: LibraryPool, shared: SharedBuckets | None = None) -> int:
        config = uvicorn.Config(
            create_app(pool, token=token, limits=limits, shared_buckets=shared),
            host=args.host,
            port=args.port,
            log_level="info" if getattr(args, "verbose", False) else "warning",
            # A line per request only with -v: otherwise uvicorn still formats each one's address and path
            # for a logger that drops it (the CLI's root handler makes it look wanted).
            access_log=getattr(args, "verbose", False),
            # Slow and idle clients: an idle kept-alive connection is closed after 5 s, a stalled request
            # body answered 408 after 30 s (server/uploads.py), and past 1,000 open connections new ones get 503.
            timeout_keep_alive=5,
            limit_concurrency=1000,
        )
        try:
            uvicorn.Server(config).run(sockets=[sock])
        finally:
            pool.close()
        return 0

    try:
        if args.workers == 1:
            return serve(LibraryPool.of(lib, size=max(args.pool, 1)))
        sock.listen(2048)  # as uvicorn would: connections wait in the queue while the workers start
        workers.warm(lib)  # read once here, shared by the workers forked below
        lib.close()  # SQLite's advice: no connection crosses a fork (each worker opens its own)
        say(f"synesthete: {args.workers} worker processes answer on one socket")
        shared = SharedBuckets()  # one upload limit per client, whichever worker takes each upload
        return workers.run(
            args.workers,
            lambda: serve(LibraryPool(lib.folder, size=max(args.pool, 1), spaces_of=lib), shared),
        )
    finally:
        sock.close()


def _few_malloc_arenas() -> None:
    """glibc gives threads that allocate at once heaps of their own and keeps what they free: after a
    load the request threads held ~55 MB more (303 MB instead of 246 at 10^4 tracks, bench/http_load.py).
    Two heaps are enough here (the threads mostly wait on SQLite and numpy). No-op without glibc."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, 2)


def _bind(host: str, port: int) -> socket.socket:
    """A socket bound to ``host``:``port``, or a clear error naming the address and the reason."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: restarts reuse the port
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        hint = (
            " (another server is using it: stop it, or give --port N)" if e.errno == errno.EADDRINUSE else ""
        )
        raise UserError(f"cannot serve on {host}:{port}: {e.strerror or e}{hint}") from None
    return sock


def register(command) -> None:
    p = command(
        "serve", cmd_serve, "the web page and the HTTP API (OpenAPI docs at /docs, OpenSubsonic at /rest)"
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others need a token)"
    )
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--token", default=None, help="required by every API route ($SYNESTHETE_TOKEN also works)")
    p.add_argument(
        "--max-upload-mb", type=float, default=64.0, help="largest upload accepted (default 64 MiB)"
    )
    p.add_argument(
        "--max-upload-seconds", type=float, default=900.0, help="longest upload analysed (default 900 s)"
    )
    p.add_argument(
        "--uploads-per-minute",
        type=float,
        default=None,
        help="uploads and recordings a client may send a minute, in bursts of half that; past it 429 (default 60)",
    )
    p.add_argument(
        "--pool", type=int, default=2, help="library handles serving requests in parallel (default 2)"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes answering requests, e.g. one per core (default 1: the least memory; see README)",
    )
