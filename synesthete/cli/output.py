"""What every command shares: printing one JSON document, and the JSON of a result list."""

from __future__ import annotations

import json
import sys

from synesthete.api import Match


def print_json(doc: object) -> None:
    """Exactly one JSON document on stdout."""
    json.dump(doc, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")


def say(text: str = "") -> None:
    """A message for the person, on stderr, never mixed with results."""
    print(text, file=sys.stderr)


def similar_document(query: dict, model: str, matches: list[Match]) -> dict:
    """The JSON of `similar --json` (DESIGN.md); the HTTP API returns the same document."""
    return {"query": query, "model": model, "results": [m.to_dict(rank) for rank, m in enumerate(matches, 1)]}
