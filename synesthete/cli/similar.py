"""Asking: which tracks sound like this one, or like this file."""

from __future__ import annotations

import argparse

from synesthete.api import Library, similar_document
from synesthete.cli.output import print_json
from synesthete.exceptions import UserError


def cmd_similar(lib: Library, args: argparse.Namespace) -> int:
    if (args.track is None) == (args.file is None):
        raise UserError("give either TRACK or --file AUDIO")
    space = lib.space(args.model)
    if args.file:
        matches = lib.similar_to_file(args.file, k=args.k, model=args.model, dissimilar=args.dissimilar)
        query = lib.describe_file(args.file)
    else:
        track = lib.resolve(args.track)
        matches = lib.similar(track, k=args.k, model=args.model, dissimilar=args.dissimilar)
        query = {k: v for k, v in track.to_dict().items() if k in ("track_id", "path", "title", "artist")}
    explanations = []
    if args.explain:
        source = args.file if args.file else track
        explanations = lib.explain_all(source, [m.track for m in matches], model=args.model)
    if args.json:
        print_json(similar_document(query, space.name, matches, explanations))
        return 0
    word = "Least like" if args.dissimilar else "Sounds like"
    print(
        f"{word}: {query.get('artist') or ''}{' - ' if query.get('artist') else ''}{query['title']}  ({query['path']})"
    )
    print(f"model: {space.name}")
    for rank, m in enumerate(matches, 1):
        genre = f"  [{m.track.genre}]" if m.track.genre else ""
        print(f"{rank:>3}. {m.score:+.3f}  {m.track.label}{genre}")
        if explanations:
            print(f"        {explanations[rank - 1].words}")
    return 0


def register(command) -> None:
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
    p.add_argument("--explain", action="store_true", help="say why each result is close (feature groups)")
    p.add_argument("--json", action="store_true")
