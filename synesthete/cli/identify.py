"""Recognising: which catalogued track a recording is of, and which files hold the same recording."""

from __future__ import annotations

import argparse

from synesthete.api import Library
from synesthete.cli.output import print_json


def cmd_identify(lib: Library, args: argparse.Namespace) -> int:
    found = lib.identify(args.file)
    if args.json:
        print_json({"query": lib.describe_file(args.file), "match": found.to_dict() if found else None})
        return 0
    if found is None:
        print("not in the collection (no catalogued track matches this recording)")
        return 0
    minutes, seconds = divmod(found.offset_s, 60)
    speed = f", played at {found.speed:.1%} speed" if found.speed != 1.0 else ""
    print(
        f"{found.track.label}  (track {found.track.id}, {found.track.path})\n"
        f"confidence {found.confidence:.2f}, from {int(minutes)}:{seconds:04.1f} into the track{speed}"
    )
    for twin in found.same_recording:
        print(f"the same recording is also in track {twin.id}, {twin.path}")
    return 0


def cmd_duplicates(lib: Library, args: argparse.Namespace) -> int:
    groups = lib.duplicates()
    if args.json:
        print_json({"groups": [[t.to_dict() for t in g] for g in groups]})
        return 0
    if not groups:
        print("no duplicates: every recording is in one file")
    for n, group in enumerate(groups, 1):
        print(f"{n}. {group[0].label}")
        for t in group:
            print(f"     {t.id:>6}  {t.path}")
    return 0


def register(command) -> None:
    p = command("identify", cmd_identify, "which catalogued track a recording (a few noisy seconds) is of")
    p.add_argument("--file", metavar="AUDIO", required=True, help="the recording (any audio format)")
    p.add_argument("--json", action="store_true")
    p = command("duplicates", cmd_duplicates, "files that hold the same recording (copies, re-encodings)")
    p.add_argument("--json", action="store_true")
