"""Playlists: radio, extend, dissimilar, journey, drift, order, clusters, explain; saved with --out."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from synesthete.api import Library
from synesthete.cli.output import print_json, say
from synesthete.exceptions import UserError
from synesthete.recommend import export
from synesthete.recommend.playlist import Playlist


def _tracks_args(items: list[str]) -> list[str]:
    """TRACK arguments, with any playlist file (.m3u, .m3u8, .xspf) replaced by the files it lists."""
    out: list[str] = []
    for item in items:
        if Path(item).suffix.lower() in export.FORMATS and Path(item).is_file():
            out.extend(export.read_paths(item))
        else:
            out.append(item)
    if not out:
        raise UserError("no tracks given")
    return out


def _rules(args: argparse.Namespace) -> dict:
    rules = {
        "max_per_artist": args.max_per_artist,
        "max_per_album": args.max_per_album,
        "block_artists": args.block_artist,
        "block_albums": args.block_album,
        "block_tracks": args.block_track,
        "block_genres": args.block_genre,
        "genres": args.genre,
        "min_duration": args.min_duration,
        "max_duration": args.max_duration,
    }
    if args.tempo:
        m = re.fullmatch(r"\s*(\d*\.?\d*)\s*[-:]\s*(\d*\.?\d*)\s*", args.tempo)
        if not m or not (m.group(1) or m.group(2)):
            raise UserError(f"--tempo takes a range like 90-120 (or 90- or -120), got '{args.tempo}'")
        rules["min_tempo"] = float(m.group(1)) if m.group(1) else None
        rules["max_tempo"] = float(m.group(2)) if m.group(2) else None
    return {k: v for k, v in rules.items() if v not in (None, [])}


def _show(lib: Library, args: argparse.Namespace, playlist: Playlist, title: str) -> int:
    """Print (or save) the playlist, its warnings on stderr; an empty playlist exits 1, unsaved."""
    for warning in playlist.info.get("warnings", []):
        say(f"synesthete: warning: {warning}")
    if not playlist.tracks:
        if args.json:
            print_json(playlist.to_dict())
        say("synesthete: the playlist is empty" + ("; nothing saved" if getattr(args, "out", None) else ""))
        return 1
    saved = None
    if getattr(args, "out", None):
        saved = export.save(playlist.tracks, args.out, relative=args.relative, title=title)
        say(f"saved {len(playlist)} tracks to {saved}")
    if args.json:
        doc = playlist.to_dict()
        if saved:
            doc["saved"] = str(saved)
        print_json(doc)
        return 0
    print(f"{title}  (model: {playlist.model})")
    for pos, t in enumerate(playlist.tracks):
        score = playlist.scores[pos] if playlist.scores else None
        score_text = f"{score:+.3f}  " if score is not None else " " * 8
        genre = f"  [{t.genre}]" if t.genre else ""
        print(f"{pos + 1:>3}. {score_text}{t.label}{genre}")
    info = playlist.info
    if "smoothness" in info:
        s = info["smoothness"]
        line = f"steps (cosine distance): mean {s['mean_step']:.3f}, largest {s['max_step']:.3f}"
        for name, b in info.get("baselines", {}).items():
            line += f"; {name.replace('_', ' ')}: {b['mean_step']:.3f} / {b['max_step']:.3f}"
        print(line)
    if "values" in info:
        for name, values in info["values"].items():
            print(f"{name}: " + " -> ".join(f"{v:.3g}" for v in values))
        if not info.get("complete", True):
            print("(stopped early: no track of the collection goes further that way)")
    return 0


def cmd_radio(lib: Library, args: argparse.Namespace) -> int:
    p = lib.radio(
        _tracks_args(args.tracks), args.n, diversity=args.diversity, model=args.model, **_rules(args)
    )
    return _show(lib, args, p, "Radio from " + ", ".join(_seed_names(p)))


def cmd_extend(lib: Library, args: argparse.Namespace) -> int:
    p = lib.extend(
        _tracks_args(args.tracks), args.n, diversity=args.diversity, model=args.model, **_rules(args)
    )
    return _show(lib, args, p, f"Playlist extended by {p.info['added']}")


def cmd_dissimilar(lib: Library, args: argparse.Namespace) -> int:
    p = lib.dissimilar(_tracks_args(args.tracks), args.n, model=args.model, **_rules(args))
    return _show(lib, args, p, "Least like " + ", ".join(_seed_names(p)))


def cmd_journey(lib: Library, args: argparse.Namespace) -> int:
    p = lib.journey(args.start, args.end, args.n, method=args.method, model=args.model)
    return _show(lib, args, p, f"Journey from {p[0].label} to {p[-1].label}")


def cmd_drift(lib: Library, args: argparse.Namespace) -> int:
    p = lib.drift(args.track, " ".join(args.direction), args.n, model=args.model)
    return _show(lib, args, p, f"Drift '{p.info['direction']}' from {p[0].label}")


def cmd_order(lib: Library, args: argparse.Namespace) -> int:
    p = lib.order(_tracks_args(args.tracks), start=args.start, model=args.model)
    return _show(lib, args, p, f"{len(p)} tracks in a flowing order")


def cmd_clusters(lib: Library, args: argparse.Namespace) -> int:
    result = lib.clusters(args.k, model=args.model)
    if args.out:
        folder = Path(args.out).expanduser()
        for i, c in enumerate(result.clusters, 1):
            stem = re.sub(r"[^\w]+", "-", c.name.lower()).strip("-")[:60] or "cluster"
            export.save(c.tracks, folder / f"{i:02d}-{stem}.m3u8", relative=args.relative, title=c.name)
        say(f"saved {len(result)} playlists in {folder}")
    if args.json:
        print_json(result.to_dict())
        return 0
    sil = f", silhouette {result.silhouette:.2f}" if result.silhouette is not None else ""
    print(f"{result.k} clusters (model: {result.model}{sil})")
    for i, c in enumerate(result.clusters, 1):
        print(f"{i:>3}. {c.name}  ({len(c.tracks)} tracks)")
        for t in c.tracks[: args.show]:
            print(f"       {t.label}")
        if len(c.tracks) > args.show:
            print(f"       ... {len(c.tracks) - args.show} more")
    return 0


def cmd_explain(lib: Library, args: argparse.Namespace) -> int:
    e = lib.explain(args.a, args.b, model=args.model)
    if args.json:
        print_json(e.to_dict())
        return 0
    print(f"score {e.score:+.3f} ({e.model}): {e.words}")
    for g in e.groups:
        print(
            f"  {g['group']:<10} {100 * g['share']:5.1f} %   (within-group similarity {g['similarity']:+.2f})"
        )
    return 0


def _seed_names(p: Playlist) -> list[str]:
    return [s.get("title") or Path(s["path"]).name for s in p.info.get("seeds", [])]


def register(command) -> None:
    top = command("playlist", None, "playlists: radio, extend, dissimilar, journey, drift, order, clusters")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--library", metavar="DIR", default=argparse.SUPPRESS, help="the library folder")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log more")
    common.add_argument("--model", default=None, help="which model to use (see `status`)")
    common.add_argument("--json", action="store_true", help="print one JSON document")
    saving = argparse.ArgumentParser(add_help=False)
    saving.add_argument("--out", metavar="FILE", help="also save it: FILE.m3u8, FILE.m3u or FILE.xspf")
    saving.add_argument("--relative", action="store_true", help="paths relative to the playlist's folder")
    rules = argparse.ArgumentParser(add_help=False)
    rules.add_argument("--max-per-artist", type=int, metavar="N", help="at most N tracks per artist")
    rules.add_argument("--max-per-album", type=int, metavar="N", help="at most N tracks per album")
    rules.add_argument("--block-artist", action="append", metavar="NAME", help="never this artist")
    rules.add_argument("--block-album", action="append", metavar="NAME", help="never this album")
    rules.add_argument("--block-track", action="append", type=int, metavar="ID", help="never this track")
    rules.add_argument("--block-genre", action="append", metavar="WORD", help="never a genre containing it")
    rules.add_argument("--genre", action="append", metavar="WORD", help="only genres containing it")
    rules.add_argument("--min-duration", type=float, metavar="S", help="only tracks at least S seconds")
    rules.add_argument("--max-duration", type=float, metavar="S", help="only tracks at most S seconds")
    rules.add_argument("--tempo", metavar="LO-HI", help="only tempos in this BPM range, e.g. 90-120")
    sub = top.add_subparsers(dest="playlist_command", required=True, metavar="KIND")

    def kind(name: str, func, help: str, parents: list) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, parents=[common, *parents])
        p.set_defaults(func=func)
        return p

    tracks_help = "a track id, text matching 'artist - title', an audio file or a playlist file"
    p = kind("radio", cmd_radio, "tracks like one or more seeds, never a seed", [saving, rules])
    p.add_argument("tracks", nargs="+", metavar="TRACK", help=tracks_help)
    p.add_argument("-n", type=int, default=20, help="how many tracks (default 20)")
    p.add_argument("--diversity", type=float, default=0.2, help="0 = most similar, 1 = most varied (0.2)")
    p = kind("extend", cmd_extend, "a playlist followed by n more tracks like it", [saving, rules])
    p.add_argument("tracks", nargs="+", metavar="TRACK", help=tracks_help)
    p.add_argument("-n", type=int, default=10, help="how many tracks to add (default 10)")
    p.add_argument("--diversity", type=float, default=0.2, help="0 = most similar, 1 = most varied (0.2)")
    p = kind("dissimilar", cmd_dissimilar, "tracks least like every seed", [saving, rules])
    p.add_argument("tracks", nargs="+", metavar="TRACK", help=tracks_help)
    p.add_argument("-n", type=int, default=10, help="how many tracks (default 10)")
    p = kind("journey", cmd_journey, "n tracks from FROM to TO in small steps", [saving])
    p.add_argument("start", metavar="FROM")
    p.add_argument("end", metavar="TO")
    p.add_argument("-n", type=int, default=12, help="how many tracks, both ends included (default 12)")
    p.add_argument("--method", default="path", choices=["path", "slerp", "linear", "graph"])
    p = kind("drift", cmd_drift, "from a track, n steps in a direction, staying close in sound", [saving])
    p.add_argument("track", metavar="TRACK")
    p.add_argument(
        "direction", nargs="+", metavar="DIRECTION",
        help="tempo up|down, energy up|down, brighter, darker, calmer, wilder, or '<descriptor> up|down'",
    )  # fmt: skip
    p.add_argument("-n", type=int, default=10, help="how many tracks, the seed included (default 10)")
    p = kind("order", cmd_order, "the given tracks in an order that flows", [saving])
    p.add_argument("tracks", nargs="+", metavar="TRACK", help=tracks_help)
    p.add_argument("--start", metavar="TRACK", help="begin with this one of the tracks")
    p = kind("clusters", cmd_clusters, "the collection split into k sonic playlists", [])
    p.add_argument("-k", type=int, default=None, help="how many (default: best silhouette, 2-16)")
    p.add_argument("--out", metavar="DIR", help="save one .m3u8 per cluster in DIR")
    p.add_argument("--relative", action="store_true", help="paths relative to DIR")
    p.add_argument("--show", type=int, default=5, help="tracks to print per cluster (default 5)")
    p = kind("explain", cmd_explain, "why two tracks are close: feature groups and plain words", [])
    p.add_argument("a", metavar="TRACK", help="a track, or an audio file outside the library")
    p.add_argument("b", metavar="TRACK")
