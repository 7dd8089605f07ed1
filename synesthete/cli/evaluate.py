"""Measuring: `synesthete evaluate` on a labelled folder, every model, optionally a report with figures."""

from __future__ import annotations

import argparse
import math

from synesthete.api import Library
from synesthete.cli.output import label_source, print_json, say


def _f(x: float) -> str:
    return "  -  " if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def cmd_evaluate(lib: Library, args: argparse.Namespace) -> int:
    doc = lib.evaluate_labels(
        args.labels,
        labels_from=args.labels_from,
        k=args.k,
        filter_by=args.filter_by,
        progress=not args.json,
        classic_epochs=args.classic,
    )
    if doc["filter_by_folder"]:
        say(f"synesthete: warning: {doc['filter_text']}")
    if args.report:
        index = lib.write_report(doc, args.report, map_method=args.map_method)
        say(f"report: {index}")
    if args.json:
        print_json(doc)
        return 0
    for path in doc["not_found"]:
        say(f"not found: {path}")
    for path in doc["failed"]:
        say(f"could not be analysed: {path}")
    filt = f", {doc['filter_text']}" if doc["filter_by"] else ""
    print(
        f"{doc['labels']}: {doc['tracks']} tracks, {doc['groups']} groups{filt}, chance precision ~{doc['chance']:.3f}"
    )
    k = doc["k"]
    print(f"{'model':<20} {'P@' + str(k):>7} {'mAP':>7} {'nDCG@' + str(k):>8} {'hub skew':>9} {'queries':>8}")
    for model, s in doc["models"].items():
        print(
            f"{model:<20} {_f(s['precision_at_k']):>7} {_f(s['map']):>7} {_f(s['ndcg_at_k']):>8}"
            f" {s['hubness']['skewness']:9.2f} {s['queries']:8d}"
            + ("  held out" if model in doc["held_out"] else "")
        )
    if doc["held_out"]:
        print(
            "held out: trained without the groups of the queries they answer (cross-validation over groups)"
        )
    models = list(doc["models"])
    print(f"\nprecision@{k} per group")
    print(f"{'group':<28} {'tracks':>6} " + " ".join(f"{m[:16]:>16}" for m in models))
    first = doc["models"][models[0]]["per_group"]
    for group, row in first.items():
        cells = " ".join(f"{_f(doc['models'][m]['per_group'][group]['precision_at_k']):>16}" for m in models)
        print(f"{group[:28]:<28} {row['tracks']:>6} {cells}")
    return 0


def register(command) -> None:
    p = command("evaluate", cmd_evaluate, "retrieval quality of every model on a labelled folder")
    label_source(
        p,
        required=True,
        csv_help="columns path (relative to the file), group, and optionally artist, album",
        from_help="label the library's own tracks by the folder they sit in, or by their genre tag",
    )
    p.add_argument("-k", type=int, default=10, help="neighbours scored per query (default 10)")
    p.add_argument(
        "--filter-by",
        choices=("artist", "album"),
        default=None,
        help="leave the query's own artist/album out of its neighbours and of what counts as relevant"
        " (a track without one: its folder)",
    )
    p.add_argument(
        "--classic",
        type=int,
        default=0,
        metavar="EPOCHS",
        help="also train the autoencoder, genre, transfer and resnet models for EPOCHS epochs and score them "
        "held out (each query by a model trained without its group)",
    )
    p.add_argument("--report", metavar="DIR", help="write a Markdown and HTML report with figures here")
    p.add_argument(
        "--map-method",
        choices=("umap", "tsne", "pca"),
        default="umap",
        help="the report's map (default umap)",
    )
    p.add_argument("--json", action="store_true")
