"""``Library``'s evaluation: labels gathered (tags, folders, clusters, a CSV), missing files scanned, every
model scored (``evaluate/``), the classic models trained per fold, and the report's spaces and tracks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from synesthete.evaluate import crossval, harness
from synesthete.evaluate.labels import SOURCES, tag_labels
from synesthete.exceptions import ParameterError, UserError
from synesthete.features.classic import NAMES as CLASSIC
from synesthete.recommend.space import Space
from synesthete.service import LibraryLike


def track_labels(lib: LibraryLike, source: str | Path, *, model: str | None = None) -> dict[int, str]:
    """Every labelled track's label from ``source``: a tag (genre, artist, album), the folder, the
    sonic cluster of ``model`` (its name), or a CSV file with ``path`` and ``group`` columns (paths
    relative to the CSV). Tracks without the tag are left out."""
    source = str(source)
    if source not in SOURCES:
        if Path(source).expanduser().is_file():
            return labels_from_csv(lib, source)
        raise ParameterError(f"labels come from one of {', '.join(SOURCES)} or a CSV file, not {source!r}")
    if source == "cluster":
        return {t.id: c.name for c in lib.clusters(model=model) for t in c.tracks}
    return tag_labels(lib.tracks(), source)


def labels_from_csv(lib: LibraryLike, path: str | Path) -> dict[int, str]:
    """Track id -> group for the rows of a labels CSV whose files are in the library."""
    rows = harness.read_labels(path)
    by_path = {t.path: t.id for t in lib.tracks()}
    labels = {by_path[r.path]: r.group for r in rows if r.path in by_path}
    if not labels:
        raise UserError(f"{path}: none of its {len(rows)} files is in the library (scan them first)")
    return labels


def evaluate_labels(
    lib: LibraryLike,
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
    if filter_by not in (None, *harness.FILTERS):
        raise ParameterError(f"filter_by is one of {', '.join(harness.FILTERS)}, not {filter_by!r}")
    if (labels is None) == (labels_from is None):
        raise ParameterError("give either a labels CSV or where the labels come from (e.g. 'folder')")
    if labels_from is not None:
        rows = _library_rows(lib, labels_from)
        return _score(lib, rows, f"{labels_from} names", k, filter_by, models, trained)
    rows = harness.read_labels(labels)
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


def _library_rows(lib: LibraryLike, source: str) -> list[harness.Labelled]:
    """Every catalogued track as a labelled row, grouped by its folder or a tag."""
    groups = track_labels(lib, source)
    tracks = lib.catalog.tracks_by_ids(list(groups))
    return [harness.Labelled(tracks[i].path, g) for i, g in groups.items() if i in tracks]


def _score(
    lib: LibraryLike,
    rows: list[harness.Labelled],
    name: str,
    k: int,
    filter_by: str | None,
    models: list[str] | None,
    trained: tuple[int, int, bool] = (0, 3, False),
) -> dict:
    """Score every model on the catalogued rows; the document ``evaluate_labels`` returns."""
    plan = harness.plan(rows, {t.path: t for t in lib.tracks()}, name, k, filter_by)
    doc = plan.document
    epochs, folds, progress = trained
    for model in models or lib.models():
        if epochs and model in CLASSIC:  # scored held out below, not as the library last trained it
            continue
        try:
            scores = lib.evaluate(plan.groups, k=k, model=model, same=plan.same)
        except UserError as e:  # a model none of these files has vectors of: say so, score the others
            doc["skipped"][model] = str(e)
            continue
        doc["models"][scores.pop("model")] = scores
    for kind in CLASSIC if epochs else ():
        doc["models"][kind] = cross_validated(
            lib, kind, plan.groups, folds=folds, k=k, same=plan.same, epochs=epochs, progress=progress
        )
        doc["held_out"].append(kind)
    if not doc["models"]:
        raise UserError(f"{name}: no model could be evaluated: {doc['skipped']}")
    doc["track_groups"] = {str(i): g for i, g in plan.groups.items()}  # which tracks were scored, as what
    return doc


def cross_validated(
    lib: LibraryLike,
    kind: str,
    groups: Mapping[int, str],
    *,
    folds: int = 3,
    k: int = 10,
    same: Mapping[int, str] | None = None,
    epochs: int = 10,
    seed: int = 0,
    progress: bool = False,
) -> dict:
    """Held-out scores of classic model ``kind`` (``evaluate/crossval.py``), trained in ``lib`` once per
    fold; the library's current ``kind`` is the last fold's afterwards."""

    def train(tracks: Sequence[int]) -> Space:
        labels = {i: groups[i] for i in tracks}
        lib.train(objective=kind, epochs=epochs, tracks=list(tracks), labels=labels, progress=progress)
        return lib.space(kind)

    return crossval.cross_validated(groups, train, folds=folds, k=k, same=same, seed=seed)


def write_report(lib: LibraryLike, doc: dict, folder: str | Path, *, map_method: str = "umap") -> Path:
    """The report of an ``evaluate_labels`` document (``evaluate/report.py``), with each scored model's
    space, the descriptors' (when the library has them) and the labelled tracks."""
    from synesthete.evaluate.report import write_report as write

    spaces = {m: lib.space(m.rsplit("-v", 1)[0]) for m in doc["models"]}
    try:
        descriptors = lib.space("descriptors")
    except UserError:
        descriptors = None
    tracks = lib.catalog.tracks_by_ids([int(i) for i in doc["track_groups"]])
    return write(doc, folder, spaces=spaces, descriptors=descriptors, tracks=tracks, map_method=map_method)
