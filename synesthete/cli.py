"""``synesthete`` on the command line: each command is a thin function over ``Library``.

Only ``main`` turns typed errors into messages and exit codes. Results go to stdout (one JSON document
with ``--json``); progress and messages go to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable

from synesthete.api import Library, Match
from synesthete.exceptions import SynestheteError


def _print_json(doc: object) -> None:
    json.dump(doc, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")


def _say(text: str = "") -> None:
    print(text, file=sys.stderr)


def similar_document(query: dict, model: str, matches: list[Match]) -> dict:
    """The JSON of `similar --json` (DESIGN.md); the HTTP API returns the same document."""
    return {"query": query, "model": model, "results": [m.to_dict(rank) for rank, m in enumerate(matches, 1)]}


def cmd_scan(lib: Library, args: argparse.Namespace) -> int:
    report = lib.scan(args.paths, workers=args.workers, progress=not args.json)
    if args.json:
        _print_json(report.to_dict())
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
        _print_json(status)
        return 0
    print(f"library: {status['library']}")
    print(f"tracks:  {status['tracks']} analysed")
    models = ", ".join(f"{name} {n}" for name, n in status["models"].items())
    print(f"models:  {models} (default: {status['default_model']})")
    print(f"failed:  {len(status['failed'])}")
    for f in status["failed"]:
        print(f"  {f['path']}: {f['reason']}")
    return 0


def cmd_tracks(lib: Library, args: argparse.Namespace) -> int:
    tracks = lib.tracks(args.search, limit=args.limit)
    if args.json:
        _print_json({"tracks": [t.to_dict() for t in tracks]})
        return 0
    for t in tracks:
        genre = f"  [{t.genre}]" if t.genre else ""
        print(f"{t.id:>6}  {t.label}{genre}  {t.path}")
    return 0


def cmd_similar(lib: Library, args: argparse.Namespace) -> int:
    if (args.track is None) == (args.file is None):
        raise SynestheteError("give either TRACK or --file AUDIO")
    space = lib.space(args.model)
    if args.file:
        matches = lib.similar_to_file(args.file, k=args.k, model=args.model, dissimilar=args.dissimilar)
        query = lib.describe_file(args.file)
    else:
        track = lib.resolve(args.track)
        matches = lib.similar(track, k=args.k, model=args.model, dissimilar=args.dissimilar)
        query = {k: v for k, v in track.to_dict().items() if k in ("track_id", "path", "title", "artist")}
    if args.json:
        _print_json(similar_document(query, space.name, matches))
        return 0
    word = "Least like" if args.dissimilar else "Sounds like"
    print(
        f"{word}: {query.get('artist') or ''}{' - ' if query.get('artist') else ''}{query['title']}  ({query['path']})"
    )
    print(f"model: {space.name}")
    for rank, m in enumerate(matches, 1):
        genre = f"  [{m.track.genre}]" if m.track.genre else ""
        print(f"{rank:>3}. {m.score:+.3f}  {m.track.label}{genre}")
    return 0


def cmd_demo(lib: Library, args: argparse.Namespace) -> int:
    from synesthete.demo_run import run_demo

    return run_demo(lib, workers=args.workers, per_style=args.per_style)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--library",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="the library folder (default: $SYNESTHETE_LIBRARY or ~/.local/share/synesthete)",
    )
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log more")
    parser = argparse.ArgumentParser(
        prog="synesthete", description="A music engine that sees sound.", parents=[common]
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func: Callable, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, parents=[common])
        p.set_defaults(func=func)
        return p

    p = command(
        "scan", cmd_scan, "add and refresh audio files (incremental; resumes where a killed scan stopped)"
    )
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--workers", type=int, default=None, help="analysis processes (default: all cores)")
    p.add_argument("--json", action="store_true", help="print the scan report as JSON")

    p = command("status", cmd_status, "tracks, vectors per model, and files that failed with their reasons")
    p.add_argument("--json", action="store_true")

    p = command("tracks", cmd_tracks, "list catalogued tracks")
    p.add_argument("--search", metavar="TEXT", help="words matched against artist, title, album and path")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--json", action="store_true")

    p = command("similar", cmd_similar, "tracks that sound like a track of the library or an outside file")
    p.add_argument(
        "track", nargs="?", metavar="TRACK", help="a track id, or text matching 'artist - title' or the path"
    )
    p.add_argument(
        "--file", metavar="AUDIO", help="an audio file outside the library (analysed, never added)"
    )
    p.add_argument("-k", type=int, default=10, help="how many results (default 10)")
    p.add_argument("--model", default=None, help="which model to search with (see `status`)")
    p.add_argument("--dissimilar", action="store_true", help="the least similar tracks instead")
    p.add_argument("--json", action="store_true")

    p = command("demo", cmd_demo, "generate the demo collection, scan it and show what sounds like what")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--per-style", type=int, default=15, help="pieces per synthetic style (default 15)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        with Library(getattr(args, "library", None)) as lib:
            return args.func(lib, args)
    except SynestheteError as e:
        _say(f"synesthete: error: {e}")
        return 1
    except KeyboardInterrupt:
        _say("synesthete: interrupted; every finished track is saved: run the same command again to resume")
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
