"""Evaluating every model on a labelled folder: the code behind ``synesthete evaluate`` and
``bench/quality.py``, so both print the same figures.

The labels file is a CSV with columns ``path`` (relative to the CSV), ``group``, and optionally ``artist``
and ``album`` (used by ``filter_by``; a missing value falls back to the file's tag). Labelled files not yet
in the library are scanned into it first.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from synesthete.exceptions import ParameterError, UserError

if TYPE_CHECKING:
    from synesthete.api import Library

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


def evaluate_labels(
    lib: Library,
    labels: str | Path,
    *,
    k: int = 10,
    filter_by: str | None = None,
    models: list[str] | None = None,
    workers: int | None = None,
    progress: bool = False,
) -> dict:
    """Scan what is missing, then score every model; one JSON-friendly document."""
    if filter_by not in (None, *FILTERS):
        raise ParameterError(f"filter_by is one of {', '.join(FILTERS)}, not {filter_by!r}")
    rows = read_labels(labels)
    paths = sorted({r.path for r in rows})
    absent = [p for p in paths if not Path(p).is_file()]
    present = [p for p in paths if p not in set(absent)]
    # Incremental: new files are analysed, files analysed before a model existed get its vectors, and
    # up-to-date files cost one stat each.
    scanned = lib.scan(present, workers=workers, progress=progress).to_dict() if present else None
    by_path = {t.path: t for t in lib.tracks()}
    groups, same = {}, {}
    for r in rows:
        track = by_path.get(r.path)
        if track is None:
            continue
        groups[track.id] = r.group
        if filter_by:
            same[track.id] = getattr(r, filter_by) or getattr(track, filter_by) or ""
    if len(groups) < 2:
        raise UserError(f"{labels}: fewer than two labelled files could be analysed: nothing to evaluate")
    sizes = Counter(groups.values())
    n = len(groups)
    doc = {
        "labels": str(labels),
        "tracks": n,
        "groups": len(sizes),
        "k": k,
        "filter_by": filter_by,
        "chance": sum(c * (c - 1) for c in sizes.values()) / (n * (n - 1)),
        "not_found": absent,
        "failed": [f["path"] for f in scanned["failed"] if f["path"] in set(present)] if scanned else [],
        "scanned": scanned,
        "models": {},
        "skipped": {},
    }
    for model in models or lib.models():
        try:
            scores = lib.evaluate(groups, k=k, model=model, same=same if filter_by else None)
        except UserError as e:  # a model none of these files has vectors of: say so, score the others
            doc["skipped"][model] = str(e)
            continue
        doc["models"][scores.pop("model")] = scores
    if not doc["models"]:
        raise UserError(f"{labels}: no model could be evaluated: {doc['skipped']}")
    doc["track_groups"] = {str(i): g for i, g in groups.items()}  # which tracks were scored, as what
    return doc
