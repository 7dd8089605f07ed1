"""Exports for researchers and for the TensorBoard projector.

- ``projector`` DIR: per model (every space of ``Library.models()``, fusions too), ``<model>.tsv`` (one track a line, the vectors as the engine compares them:
  standardised and weighted) and ``<model>.metadata.tsv`` (a header, then the track's tags), plus
  ``projector_config.pbtxt`` tying them together; load them at projector.tensorflow.org or in TensorBoard.
- ``parquet`` FILE and ``npz`` FILE: every track (id, path, tags, duration) and every model's vectors as
  the extractor made them (raw: compare them through your own scaling), NaN/null where a track has none.
  Dimension names, where a model has them, travel in the file's metadata.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from synesthete.exceptions import UserError
from synesthete.library.store import CatalogStore, Track
from synesthete.recommend.space import Space

FORMATS = ("projector", "parquet", "npz")
TAGS = ("path", "title", "artist", "album", "genre")
METADATA_KEY = b"synesthete"


def collect(tracks: Sequence[Track], extractors: Mapping[str, object], catalog: CatalogStore) -> dict:
    """Columns of the whole collection (``tracks``), in track id order, with the raw vectors of each of
    ``extractors`` (name -> extractor: ``version``, ``dim``, optional ``names``) aligned to them."""
    tracks = sorted(tracks, key=lambda t: t.id)
    if not tracks:
        raise UserError("the library is empty: scan a folder first (synesthete scan PATH)")
    ids = np.array([t.id for t in tracks], dtype=np.int64)
    row_of = {int(i): n for n, i in enumerate(ids)}
    table: dict = {"track_id": ids, "duration": np.array([t.duration or np.nan for t in tracks])}
    for tag in TAGS:
        table[tag] = [getattr(t, tag) or "" for t in tracks]
    models, vectors = {}, {}
    for name, extractor in extractors.items():
        have, raw = catalog.vectors(name, extractor.version)
        matrix = np.full((len(ids), extractor.dim), np.nan, dtype=np.float32)
        rows = [row_of.get(int(i), -1) for i in have]
        keep = np.array([r >= 0 for r in rows], dtype=bool)
        if len(have):
            matrix[np.array(rows)[keep]] = raw[keep]
        vectors[name] = matrix
        names = getattr(extractor, "names", None)
        models[name] = {
            "version": extractor.version,
            "dim": extractor.dim,
            "tracks": int(keep.sum()),
            "names": [str(n) for n in names] if names is not None else None,
        }
    table["vectors"], table["models"] = vectors, models
    return table


def write_parquet(table: dict, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {"track_id": pa.array(table["track_id"], type=pa.int64())}
    columns.update({tag: pa.array(table[tag], type=pa.string()) for tag in TAGS})
    columns["duration"] = pa.array(table["duration"], type=pa.float64())
    for name, matrix in table["vectors"].items():
        flat = pa.array(matrix.reshape(-1), type=pa.float32())
        missing = pa.array(np.isnan(matrix).all(axis=1) if matrix.size else np.zeros(len(matrix), bool))
        columns[name] = pa.FixedSizeListArray.from_arrays(flat, matrix.shape[1], mask=missing)
    t = pa.table(columns).replace_schema_metadata({METADATA_KEY: json.dumps({"models": table["models"]})})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(t, path, compression="zstd")


def read_parquet(path: str | Path) -> dict:
    """An exported parquet file back as {column: values, 'vectors': {model: (n, dim)}, 'models': ...}."""
    import pyarrow.parquet as pq

    t = pq.read_table(path)
    meta = json.loads(t.schema.metadata[METADATA_KEY])
    out: dict = {"track_id": t.column("track_id").to_numpy(), "duration": t.column("duration").to_numpy()}
    out.update({tag: t.column(tag).to_pylist() for tag in TAGS})
    out["vectors"] = {}
    for name, info in meta["models"].items():
        col = t.column(name).combine_chunks()
        values = col.flatten().to_numpy(zero_copy_only=False)  # nulls' slots are skipped by flatten
        matrix = np.full((len(col), info["dim"]), np.nan, dtype=np.float32)
        valid = ~np.asarray(col.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        matrix[valid] = values.reshape(-1, info["dim"])
        out["vectors"][name] = matrix
    out["models"] = meta["models"]
    return out


def write_npz(table: dict, path: Path) -> None:
    arrays = {"track_id": table["track_id"], "duration": table["duration"]}
    arrays.update({tag: np.array(table[tag], dtype=str) for tag in TAGS})
    arrays.update({f"vectors_{name}": m for name, m in table["vectors"].items()})
    arrays["models"] = np.array(json.dumps(table["models"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:  # a file handle, so numpy does not append '.npz' to the name
        np.savez_compressed(fh, **arrays)


def read_npz(path: str | Path) -> dict:
    """An exported npz file back, in the same shape as ``read_parquet``; no pickle involved."""
    with np.load(path, allow_pickle=False) as z:
        models = json.loads(str(z["models"]))
        out: dict = {"track_id": z["track_id"], "duration": z["duration"]}
        out.update({tag: z[tag].tolist() for tag in TAGS})
        out["vectors"] = {name: z[f"vectors_{name}"] for name in models}
    out["models"] = models
    return out


def _cell(value: object) -> str:
    return str(value or "").replace("\t", " ").replace("\n", " ").replace("\r", " ")


def write_projector(folder: Path, spaces: Sequence[Space], tracks: Mapping[int, Track]) -> dict:
    """TensorBoard projector files, one tensor per space (the default model's first); ``tracks`` by id."""
    folder.mkdir(parents=True, exist_ok=True)
    config, written = [], {}
    for space in spaces:
        keep = [n for n, i in enumerate(space.ids.tolist()) if i in tracks]
        stem = space.name
        np.savetxt(folder / f"{stem}.tsv", space.vectors[keep], delimiter="\t", fmt="%.6g")
        with open(folder / f"{stem}.metadata.tsv", "w", encoding="utf-8") as fh:
            fh.write("\t".join(["track_id", "label", *TAGS[1:], "path"]) + "\n")
            for n in keep:
                t = tracks[int(space.ids[n])]
                row = [t.id, t.label, t.title, t.artist, t.album, t.genre, t.path]
                fh.write("\t".join(_cell(v) for v in row) + "\n")
        config.append(
            "embeddings {\n"
            f'  tensor_name: "{stem}"\n  tensor_path: "{stem}.tsv"\n  metadata_path: "{stem}.metadata.tsv"\n'
            "}\n"
        )
        written[stem] = len(keep)
    if not written:
        raise UserError("the library is empty: scan a folder first (synesthete scan PATH)")
    (folder / "projector_config.pbtxt").write_text("".join(config), encoding="utf-8")
    return {"format": "projector", "path": str(folder), "tensors": written}


def read_projector(folder: str | Path, tensor: str) -> tuple[np.ndarray, list[dict]]:
    """(vectors, metadata rows) of one exported tensor, as the projector reads them."""
    folder = Path(folder)
    vectors = np.loadtxt(folder / f"{tensor}.tsv", delimiter="\t", dtype=np.float32, ndmin=2)
    lines = (folder / f"{tensor}.metadata.tsv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    return vectors, [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]
