"""What every command shares: printing one JSON document, and the JSON of a result list."""

from __future__ import annotations

import argparse
import json
import sys


def print_json(doc: object) -> None:
    """Exactly one JSON document on stdout."""
    json.dump(doc, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")


def say(text: str = "") -> None:
    """A message for the person, on stderr, never mixed with results."""
    print(text, file=sys.stderr)


def label_source(p: argparse.ArgumentParser, *, required: bool, csv_help: str, from_help: str) -> None:
    """``--labels CSV`` or ``--labels-from folder|genre``: where a command's groups come from."""
    source = p.add_mutually_exclusive_group(required=required)
    source.add_argument("--labels", metavar="LABELS.csv", help=csv_help)
    source.add_argument("--labels-from", choices=("folder", "genre"), help=from_help)
