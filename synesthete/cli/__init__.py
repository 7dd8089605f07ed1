"""``synesthete`` on the command line: each command is a thin function over ``Library``.

One module per group of commands; each has ``register(command)``, which declares its subcommands, and
one line in ``COMMAND_MODULES`` adds it. Only ``main`` turns typed errors into messages and exit codes.
Results go to stdout (one JSON document with ``--json``); progress and messages go to stderr.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import io
import logging
import sys
from collections.abc import Callable

from synesthete.api import Library
from synesthete.cli.output import say
from synesthete.exceptions import SynestheteError

COMMAND_MODULES = [
    "synesthete.cli.library",
    "synesthete.cli.similar",
    "synesthete.cli.identify",
    "synesthete.cli.playlist",
    "synesthete.cli.demo",
    "synesthete.cli.map",
    "synesthete.cli.evaluate",
    "synesthete.cli.train",
    "synesthete.cli.serve",
]


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--library",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="the library folder (default: $SYNESTHETE_LIBRARY or ~/.local/share/synesthete)",
    )
    common.add_argument(
        "--catalog",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="keep the catalog in PostgreSQL: postgresql://user@host/db (default: $SYNESTHETE_CATALOG,"
        " else the SQLite file in the library folder; docs/scaling.md)",
    )
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log more")
    parser = argparse.ArgumentParser(
        prog="synesthete", description="A music engine that sees sound.", parents=[common]
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func: Callable, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, parents=[common])
        p.set_defaults(func=func)
        return p

    for module in COMMAND_MODULES:
        importlib.import_module(module).register(command)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # A file name that is not valid UTF-8 prints as \udcXX (valid JSON, read back losslessly), never a crash.
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="backslashreplace")
    logging.basicConfig(
        level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        with Library(getattr(args, "library", None), catalog=getattr(args, "catalog", None)) as lib:
            return args.func(lib, args)
    except SynestheteError as e:
        say(f"synesthete: error: {e}")
        return 1
    except KeyboardInterrupt:
        say("synesthete: interrupted; every finished track is saved: run the same command again to resume")
        return 130
    except BrokenPipeError:
        return 0
    except OSError as e:  # the catalog says so itself; this covers index segments, logs and exports
        if e.errno != errno.ENOSPC:
            raise
        say(f"synesthete: error: {e.filename or 'a file'}: cannot write, the disk is full; free some space")
        return 1
