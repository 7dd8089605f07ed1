"""Evaluating every model on a labelled folder: the labels file, which tracks are scored as what, and the
document ``synesthete evaluate`` and ``bench/quality.py`` print (``service/evaluation.py`` runs it).

The labels file is a CSV with columns ``path`` (relative to the CSV), ``group``, and optionally ``artist``
and ``album`` (used by ``filter_by``; a missing value falls back to the file's tag, then to its folder, so
a filter never silently filters nothing). Labelled files not yet in the library are scanned into it
first. Without a CSV, the library's own tracks are labelled by their folder (or a tag).
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from synesthete.evaluate.labels import folder_key
from synesthete.exceptions import UserError
from synesthete.library.store import Track

FILTERS = ("artist", "album")


@dataclass(frozen=True)
class Labelled:
    """One row of a labels file, its path made absolute."""

    path: str
    group: str
    artist: str | None = None
    album: str | None = None


def read_labels(path: str | Path) -> list[Labelled]:
    """The rows of a labels CSV; paths are resolved against the CSV's folder."""
    path = Path(path).expanduser()
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            columns = set(reader.fieldnames or ())
            if not {"path", "group"} <= columns:
                raise UserError(
                    f"{path}: a labels file needs 'path' and 'group' columns, found {sorted(columns)}"
                )
            rows = [
                Labelled(
                    str((path.parent / row["path"]).resolve()),
                    row["group"].strip(),
                    (row.get("artist") or "").strip() or None,
                    (row.get("album") or "").strip() or None,
                )
                for row in reader
                if (row.get("path") or "").strip() and (row.get("group") or "").strip()
            ]
    except OSError as e:
        raise UserError(f"{path}: cannot read the labels file: {e.strerror or e}") from None
    if not rows:
        raise UserError(f"{path}: no labelled rows (each needs a path and a group)")
    return rows


@dataclass(frozen=True)
class Plan:
    """Which tracks are scored as which group, and what the filter takes out of each query's ranking."""

    groups: dict[int, str]  # track id -> group
    same: dict[int, str] | None  # track id -> its artist/album key (folder without one); None: no filter
    document: dict  # the evaluation document, its models still to be scored


def plan(rows: list[Labelled], tracks: Mapping[str, Track], name: str, k: int, filter_by: str | None) -> Plan:
    """The rows whose files are catalogued (``tracks`` by path), grouped; refuses too few, or a filter
    that would leave no query anything to find."""
    groups: dict[int, str] = {}
    same: dict[int, str] = {}
    by_folder = 0
    for r in rows:
        track = tracks.get(r.path)
        if track is None:
            continue
        groups[track.id] = r.group
        if filter_by:
            value = getattr(r, filter_by) or getattr(track, filter_by)
            same[track.id] = f"{filter_by}:{value.strip().lower()}" if value else folder_key(track)
            by_folder += not value
    if len(groups) < 2:
        raise UserError(f"{name}: fewer than two labelled files could be analysed: nothing to evaluate")
    filter_text = _filter_text(name, filter_by, by_folder, len(groups), groups, same)
    sizes = Counter(groups.values())
    n = len(groups)
    doc = {
        "labels": name,
        "tracks": n,
        "groups": len(sizes),
        "k": k,
        "filter_by": filter_by,
        "filter_by_folder": by_folder,  # tracks without the tag, filtered by their folder instead
        "filter_text": filter_text,
        "chance": sum(c * (c - 1) for c in sizes.values()) / (n * (n - 1)),
        "not_found": [],
        "failed": [],
        "scanned": None,
        "models": {},
        "skipped": {},
        "held_out": [],
    }
    return Plan(groups, same if filter_by else None, doc)


def _filter_text(
    name: str, filter_by: str | None, by_folder: int, n: int, groups: dict[int, str], same: dict[int, str]
) -> str:
    """What the filter does, in words; refuses a filter that would leave no query anything to find."""
    if not filter_by:
        return "no filter"
    keys: dict[str, set[str]] = {}
    for i, g in groups.items():
        keys.setdefault(g, set()).add(same[i])
    if all(len(k) < 2 for k in keys.values()):  # within every group, one artist (or folder) only
        raise UserError(
            f"{name}: --filter-by {filter_by} would leave no query a relevant neighbour"
            + (f" ({by_folder} of {n} tracks have no {filter_by}, so their folder stands in for it)"
               if by_folder else "")
            + f": give --labels a CSV with an '{filter_by}' column, or evaluate without the filter"
        )  # fmt: skip
    if by_folder == 0:
        return f"same-{filter_by} neighbours filtered out"
    if by_folder == n:
        return f"no track has an {filter_by}: same-folder neighbours filtered out instead"
    return f"same-{filter_by} neighbours filtered out (same folder for the {by_folder} tracks without one)"
