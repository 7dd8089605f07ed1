"""``Library``'s exports: the spaces, vectors and tracks gathered for ``mapview/export.py``."""

from __future__ import annotations

from pathlib import Path

from synesthete.exceptions import ParameterError, UserError
from synesthete.features import classic
from synesthete.features.registry import EXTRACTORS
from synesthete.mapview import export as exporting
from synesthete.service import LibraryLike


def export(lib: LibraryLike, fmt: str, out: str | Path) -> dict:
    """Write the collection in ``fmt`` to ``out``; returns what was written."""
    if fmt not in exporting.FORMATS:
        raise ParameterError(f"unknown export format {fmt!r}; known: {', '.join(exporting.FORMATS)}")
    out = Path(out).expanduser()
    if fmt == "projector":
        spaces = []
        for name in lib.models():  # the default (possibly a fusion of extractors) first
            try:
                spaces.append(lib.space(name))
            except UserError:
                continue  # no track has this model's vectors yet
        return exporting.write_projector(out, spaces, {t.id: t for t in lib.tracks()})
    trained = {name: classic.CLASSIC[name] for name in classic.trained(lib.folder)}
    table = exporting.collect(lib.tracks(), {**EXTRACTORS, **trained}, lib.catalog)
    (exporting.write_parquet if fmt == "parquet" else exporting.write_npz)(table, out)
    return {"format": fmt, "path": str(out), "tracks": len(table["track_id"]), "models": table["models"]}
