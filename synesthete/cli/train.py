"""Learning: `synesthete train` adapts the `cnn` student to the library's own music."""

from __future__ import annotations

import argparse

from synesthete.api import Library
from synesthete.cli.output import label_source, print_json, say
from synesthete.exceptions import UserError

OBJECTIVES = ("contrastive", "supervised", "distill")  # models/train.py's; importing it would load torch
CLASSIC = ("autoencoder", "genre", "transfer", "resnet")  # models/classic.py's, each a model of its own
LABELLED = ("supervised", "genre", "transfer")


def cmd_train(lib: Library, args: argparse.Namespace) -> int:
    if args.reset:
        doc = lib.reset_training()
    else:
        source = args.labels or args.labels_from
        if source and args.objective not in LABELLED:
            raise UserError(f"--labels and --labels-from are for --objective {', '.join(LABELLED)}")
        doc = lib.train(
            objective=args.objective,
            epochs=args.epochs,
            refresh=not args.no_refresh,
            workers=args.workers,
            progress=True,
            labels=lib.track_labels(source) if source else None,
        )
    if args.json:
        print_json(doc)
        return 0
    if args.objective in CLASSIC and not args.reset:
        say(
            f"trained {doc['model']} ({doc['objective']}, {doc['epochs']} epochs, {doc['tracks']} tracks, "
            f"{doc['dim']}-d): final loss {doc['loss']:.3f}"
        )
        say(f"checkpoint {doc['checkpoint']} ({doc['model']} version {doc['version']})")
        say(f"{doc['refreshed']} vectors computed; try `synesthete similar TRACK --model {doc['model']}`")
        return 0
    if args.reset:
        say(
            f"cnn uses the shipped weights again (version {doc['version']}); {doc['refreshed']} vectors recomputed"
        )
        return 0
    say(
        f"trained cnn ({doc['objective']}, {doc['epochs']} epochs, {doc['tracks']} tracks"
        + (f", {doc['labelled']} labelled" if doc["objective"] == "supervised" else "")
        + f"): final loss {doc['loss']:.3f}"
    )
    say(f"checkpoint {doc['checkpoint']} (cnn version {doc['version']}, from {doc['parent']})")
    if args.no_refresh:
        say("the cnn vectors are now stale: the next `synesthete scan` recomputes them")
    else:
        say(f"{doc['refreshed']} cnn vectors recomputed; try `synesthete similar TRACK --model cnn`")
    return 0


def register(command) -> None:
    p = command(
        "train", cmd_train, "adapt the cnn model to this library's music (checkpoint kept in the library)"
    )
    p.add_argument(
        "--objective",
        choices=OBJECTIVES + CLASSIC,
        default="distill",
        help="distill: keep the embedding stable under the augmentations (default: no loss measured on "
        "held-out music); contrastive: self-supervised, crops of one track are alike; supervised: also "
        "learn the genre tags. "
        "autoencoder, genre (needs labels), transfer, resnet: train that classic model, a model of its own "
        "(README: Which model?)",
    )
    label_source(
        p,
        required=False,
        csv_help="supervised, genre, transfer: learn these groups (CSV columns path, relative to the file, "
        "and group)",
        from_help="supervised, genre, transfer: learn the folder each track sits in, or its genre tag (the "
        "default)",
    )
    p.add_argument("--epochs", type=int, default=10, help="passes of 8 crop pairs per track (default 10)")
    p.add_argument(
        "--workers", type=int, default=None, help="processes recomputing the cnn vectors afterwards"
    )
    p.add_argument(
        "--no-refresh", action="store_true", help="leave the vectors for the next scan to recompute"
    )
    p.add_argument("--reset", action="store_true", help="go back to the shipped weights")
    p.add_argument("--json", action="store_true")
