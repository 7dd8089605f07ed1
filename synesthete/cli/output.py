"""What every command shares: printing one JSON document, and the JSON of a result list."""

from __future__ import annotations

import json
import sys


def print_json(doc: object) -> None:
    """Exactly one JSON document on stdout."""
    json.dump(doc, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")


def say(text: str = "") -> None:
    """A message for the person, on stderr, never mixed with results."""
    print(text, file=sys.stderr)
