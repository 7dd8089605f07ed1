"""Evaluating every model on a labelled folder: the code behind ``synesthete evaluate`` and
``bench/quality.py``, so both print the same figures.

The labels file is a CSV with columns ``path`` (relative to the CSV), ``group``, and optionally ``artist``
and ``album`` (used by ``filter_by``; a missing value falls back to the file's tag, then to its folder, so
a filter never silently filters nothing). Labelled files not yet in the library are scanned into it
first. Without a CSV, the library's own tracks are labelled by their folder (or a tag).
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from synesthete.evaluate.crossval import cross_validated
from synesthete.evaluate.labels import folder_key, track_labels
from synesthete.exceptions import ParameterError, UserError
from synesthete.features.classic import NAMES as CLASSIC

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
    labels: str | Path | None = None,
    *,
    labels_from: str | None = None,
    k: int = 10,
    filter_by: str | None = None,
    models: list[str] | None = None,
    workers: int | None = None,
    progress: bool = False,
    classic_epochs: int = 0,
    folds: int = 3,
) -> dict:
    """Scan what is missing, then score every model; one JSON-friendly document.

    The groups come from the ``labels`` CSV, or (``labels_from="folder"``, or a tag) from the library's
    own tracks. With ``filter_by``, a track without that CSV column or tag is filtered by its folder.
    ``classic_epochs``: also train the four classic models for that many epochs and score them held out,
    by cross-validation over ``folds`` folds of groups (``evaluate/crossval.py``); listed in ``held_out``.
    """
    trained = (classic_epochs, folds, progress)
    if filter_by not in (None, *FILTERS):
        raise ParameterError(f"filter_by is one of {', '.join(FILTERS)}, not {filter_by!r}")
    if (labels is None) == (labels_from is None):
        raise ParameterError("give either a labels CSV or where the labels come from (e.g. 'folder')")
    if labels_from is not None:
        return _score(
            lib, _library_rows(lib, labels_from), f"{labels_from} names", k, filter_by, models, trained
        )
    rows = read_labels(labels)
    paths = sorted({r.path for r in rows})
    absent = [p for p in paths if not Path(p).is_file()]
    present = [p for p in paths if p not in set(absent)]
    # Incremental: new files are analysed, files analysed before a model existed get its vectors, and
    # up-to-date files cost one stat each.
    scanned = lib.scan(present, workers=workers, progress=progress).to_dict() if present else None
    doc = _score(lib, rows, str(labels), k, filter_by, models, trained)
    doc["not_found"] = absent
    doc["failed"] = [f["path"] for f in scanned["failed"] if f["path"] in set(present)] if scanned else []
    doc["scanned"] = scanned
    return doc


def _library_rows(lib: Library, source: str) -> list[Labelled]:
    """Every catalogued track as a labelled row, grouped by its folder or a tag."""
    groups = track_labels(lib, source)
    tracks = lib.catalog.tracks_by_ids(list(groups))
    return [Labelled(tracks[i].path, g) for i, g in groups.items() if i in tracks]


def _score(
    lib: Library,
    rows: list[Labelled],
    name: str,
    k: int,
    filter_by: str | None,
    models: list[str] | None,
    trained: tuple[int, int, bool] = (0, 3, False),
) -> dict:
    """Score every model on the catalogued rows; the document ``evaluate_labels`` returns."""
    by_path = {t.path: t for t in lib.tracks()}
    groups: dict[int, str] = {}
    same: dict[int, str] = {}
    by_folder = 0
    for r in rows:
        track = by_path.get(r.path)
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
    epochs, folds, progress = trained
    for model in models or lib.models():
        if epochs and model in CLASSIC:  # scored held out below, not as the library last trained it
            continue
        try:
            scores = lib.evaluate(groups, k=k, model=model, same=same if filter_by else None)
        except UserError as e:  # a model none of these files has vectors of: say so, score the others
            doc["skipped"][model] = str(e)
            continue
        doc["models"][scores.pop("model")] = scores
    for kind in CLASSIC if epochs else ():
        doc["models"][kind] = cross_validated(
            lib,
            kind,
            groups,
            folds=folds,
            k=k,
            same=same if filter_by else None,
            epochs=epochs,
            progress=progress,
        )
        doc["held_out"].append(kind)
    if not doc["models"]:
        raise UserError(f"{name}: no model could be evaluated: {doc['skipped']}")
    doc["track_groups"] = {str(i): g for i, g in groups.items()}  # which tracks were scored, as what
    return doc


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
