"""The map and exports: `synesthete map`, `synesthete export`."""

from __future__ import annotations

import argparse

from synesthete.api import Library
from synesthete.cli.output import print_json, say
from synesthete.mapview.project import DEFAULT_SEED, METHODS


def cmd_map(lib: Library, args: argparse.Namespace) -> int:
    doc = lib.map(args.method, args.dims, args.model, seed=args.seed)
    how = "from the cache" if doc["cached"] else f"in {doc['seconds']:.1f} s"
    if args.out:
        from synesthete.mapview.plots import write_map

        colour_by = args.color_by or _default_colouring(doc)
        labels = None if colour_by == "genre" else lib.track_labels(colour_by, model=args.model)
        path = write_map(doc, args.out, labels=labels)
        say(
            f"{doc['method']} {doc['dims']}D map of {len(doc['points'])} tracks ({doc['model']}, {how},"
            f" coloured by {colour_by}) -> {path}"
        )
    if args.json:
        print_json(doc)
    elif not args.out:
        print(
            f"{doc['method']} {doc['dims']}D map of {len(doc['points'])} tracks, model {doc['model']} ({how})"
        )
        for axis, label in zip("xyz", doc["axes"], strict=False):
            print(f"  {axis}: {label}")
        print("write it with --out map.html (interactive), map.png (static) or coords.csv")
    return 0


def _default_colouring(doc: dict) -> str:
    """By genre when some track has a genre tag, else by folder (an untagged map would be all grey)."""
    if any(p.get("genre") for p in doc["points"]):
        return "genre"
    say("synesthete: no track has a genre tag: the map is coloured by folder (see --color-by)")
    return "folder"


def cmd_export(lib: Library, args: argparse.Namespace) -> int:
    result = lib.export(args.format, args.out)
    if args.json:
        print_json(result)
    else:
        counts = result.get("tensors") or {m: v["tracks"] for m, v in result["models"].items()}
        print(f"{args.format}: {args.out} ({', '.join(f'{m}: {n} tracks' for m, n in counts.items())})")
    return 0


def register(command) -> None:
    p = command("map", cmd_map, "the collection as a 2D/3D map (UMAP, t-SNE or PCA), cached in the catalog")
    p.add_argument("--method", choices=METHODS, default="umap")
    p.add_argument("--dims", type=int, choices=(2, 3), default=2)
    p.add_argument("--model", default=None, help="which model's space to draw (see `status`)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="same seed, same map (default 42)")
    p.add_argument(
        "--out", metavar="FILE", help="map.html (interactive, offline), map.png, coords.csv or map.json"
    )
    p.add_argument(
        "--color-by",
        choices=("genre", "folder", "cluster", "artist"),
        default=None,
        help="what the points are coloured by (default: genre, or folder when no track has a genre tag)",
    )
    p.add_argument("--json", action="store_true", help="print the map document (coordinates and tags)")

    p = command("export", cmd_export, "vectors and tags for the TensorBoard projector, parquet or npz")
    p.add_argument("--format", choices=("projector", "parquet", "npz"), required=True)
    p.add_argument("out", metavar="OUT", help="a folder for projector, a file for parquet and npz")
    p.add_argument("--json", action="store_true")
