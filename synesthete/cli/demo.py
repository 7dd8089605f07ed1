"""`synesthete demo`."""

from __future__ import annotations

import argparse

from synesthete.api import Library


def cmd_demo(lib: Library, args: argparse.Namespace) -> int:
    from synesthete.demo_run import run_demo

    return run_demo(lib, workers=args.workers, per_style=args.per_style)


def register(command) -> None:
    p = command("demo", cmd_demo, "generate the demo collection, scan it and show what sounds like what")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--per-style", type=int, default=15, help="pieces per synthetic style (default 15)")
