"""Serving: the HTTP API, the OpenSubsonic endpoints and the web page (`synesthete serve`)."""

from __future__ import annotations

import argparse

from synesthete.api import Library
from synesthete.cli.output import say
from synesthete.exceptions import UserError


def cmd_serve(lib: Library, args: argparse.Namespace) -> int:
    import uvicorn

    from synesthete.server import LibraryPool, create_app, is_loopback
    from synesthete.server.security import ENV_TOKEN, token_from_env
    from synesthete.server.uploads import Limits

    token = args.token or token_from_env()
    if not is_loopback(args.host) and not token:
        raise UserError(
            f"serving on {args.host} opens the library to the network: give --token TOKEN"
            f" (or set {ENV_TOKEN}); without a token, serve on 127.0.0.1"
        )
    limits = Limits(max_bytes=int(args.max_upload_mb * 1024 * 1024), max_seconds=args.max_upload_seconds)
    pool = LibraryPool.of(lib, size=max(args.pool, 1))
    app = create_app(pool, token=token, limits=limits)
    host = f"[{args.host}]" if ":" in args.host else args.host
    say(f"synesthete: the page is at http://{host}:{args.port}/  (API docs: /docs; Ctrl-C stops)")
    if token:
        say(
            "synesthete: API routes need the token (Authorization: Bearer TOKEN, or ?token=TOKEN on the page)"
        )
    try:
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            log_level="info" if getattr(args, "verbose", False) else "warning",
        )
    finally:
        pool.close()
    return 0


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
        "--pool", type=int, default=2, help="library handles serving requests in parallel (default 2)"
    )
