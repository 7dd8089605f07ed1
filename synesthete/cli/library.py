"""Building and browsing the library: scan, status, tracks."""

from __future__ import annotations

import argparse

from synesthete.api import Library
from synesthete.cli.output import print_json, say


def cmd_scan(lib: Library, args: argparse.Namespace) -> int:
    report = lib.scan(
        args.paths, workers=args.workers, progress=not args.json, backend=args.backend, address=args.address
    )
    if args.json:
        print_json(report.to_dict())
    else:
        print(
            f"added {report.added}, updated {report.updated}, moved {report.moved}, removed {report.removed},"
            f" unchanged {report.unchanged}, failed {len(report.failed)}"
        )
        for f in report.failed:
            print(f"  failed: {f.path}: {f.reason}")
    analysed = report.added + report.updated + report.moved + report.unchanged
    return 1 if report.failed and analysed == 0 else 0


def cmd_status(lib: Library, args: argparse.Namespace) -> int:
    status = lib.status()
    if args.json:
        print_json(status)
        return 0
    print(f"library: {status['library']}")
    print(f"tracks:  {status['tracks']} analysed")
    models = ", ".join(f"{name} {n}" for name, n in status["models"].items())
    print(f"models:  {models} (default: {status['default_model']})")
    print(f"fingerprints: {status['fingerprints']} (the tracks `identify` can recognise)")
    print(f"failed:  {len(status['failed'])}")
    for f in status["failed"]:
        print(f"  {f['path']}: {f['reason']}")
    return 0


def cmd_tracks(lib: Library, args: argparse.Namespace) -> int:
    tracks = lib.tracks(args.search, limit=args.limit)
    if args.json:
        print_json({"tracks": [t.to_dict() for t in tracks]})
    else:
        for t in tracks:
            genre = f"  [{t.genre}]" if t.genre else ""
            print(f"{t.id:>6}  {t.label}{genre}  {t.path}")
    if tracks:
        return 0
    if args.search:
        say(
            f"synesthete: no track matches '{args.search}' (words are matched against artist, title, album, path)"
        )
    else:
        say("synesthete: the library has no tracks yet: `synesthete scan FOLDER` adds some")
    return 1


def register(command) -> None:
    p = command(
        "scan", cmd_scan, "add and refresh audio files (incremental; resumes where a killed scan stopped)"
    )
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--workers", type=int, default=None, help="analysis processes (default: all cores)")
    p.add_argument(
        "--backend",
        choices=("local", "ray"),
        default="local",
        help="local: this machine's processes (default); ray: Ray tasks (pip install -e '.[scale]')",
    )
    p.add_argument(
        "--address",
        metavar="HOST:PORT",
        help="with --backend ray: a running Ray cluster (default: start one here)",
    )
    p.add_argument("--json", action="store_true", help="print the scan report as JSON")

    p = command("status", cmd_status, "tracks, vectors per model, and files that failed with their reasons")
    p.add_argument("--json", action="store_true")

    p = command("tracks", cmd_tracks, "list catalogued tracks")
    p.add_argument("--search", metavar="TEXT", help="words matched against artist, title, album and path")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--json", action="store_true")
