"""``autoencoder``, ``genre``, ``transfer``, ``resnet``: the classic networks (``models/classic.py``),
trained on a library's own music by ``synesthete train --objective NAME``.

They have no shipped weights, so each exists only in a library that trained it: its checkpoint is
``<library>/models/NAME-<hash>.pt`` and ``<library>/models/classic.json`` names the current one per model.
As for ``cnn``, the version is derived from the checkpoint's hash (a retrained model's vectors are stale),
and which library's folder is looked in is set by ``use``, as ``models/checkpoints.py`` does for ``cnn``:
``Library`` passes its own (``of_library``), and a scan passes it explicitly, in each ``Job``, to its
workers (local or Ray), never through the environment. torch is imported on first use.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np

from synesthete.exceptions import ParameterError
from synesthete.features.base import RunningStats, Spectra
from synesthete.features.cnn import patch_stats

CURRENT = "classic.json"
NAMES = ("autoencoder", "genre", "transfer", "resnet")  # models/classic.py's; importing it loads torch
DIMS = {"autoencoder": 256, "genre": 64, "transfer": 32, "resnet": 256}


_in_use: Path | None = None  # the models folder ``use`` chose; None: no classic model runs


def of_library(library: str | Path) -> Path:
    """The folder holding ``library``'s classic checkpoints (and its ``classic.json``)."""
    return Path(library) / "models"


def use(folder: Path | None) -> None:
    """Run the classic checkpoints of the models folder ``folder`` (None: none) in this process from now on."""
    global _in_use
    _in_use = None if folder is None else Path(folder)


def current_files(folder: Path | None = None) -> dict[str, Path]:
    """Model name -> its current checkpoint file, for the models trained in ``folder`` (the folder ``use``
    chose by default)."""
    folder = folder or _in_use
    if folder is None:
        return {}
    try:
        names = json.loads((folder / CURRENT).read_text())
    except (OSError, ValueError):
        return {}
    return {k: folder / v for k, v in names.items() if k in NAMES and (folder / v).is_file()}


def trained(library: str | Path) -> list[str]:
    """The classic models ``library`` has a checkpoint of, in ``NAMES`` order."""
    have = current_files(of_library(library))
    return [n for n in NAMES if n in have]


def checkpoint_of(name: str):
    """The ``Checkpoint`` of model ``name`` in the folder ``use`` chose; ParameterError if never trained."""
    from synesthete.models.checkpoints import checkpoint

    path = current_files().get(name)
    if path is None:
        raise ParameterError(
            f"model {name!r} is not trained in this library: run `synesthete train --objective {name}`"
        )
    return checkpoint(path)


@functools.cache
def _load(path: str, digest: str) -> Any:
    import torch

    from synesthete.models import classic

    doc = torch.load(path, map_location="cpu", weights_only=True)
    if doc.get("kind") not in classic.NAMES:
        raise ParameterError(f"{path}: not a checkpoint of a classic model")
    net = classic.build(doc["kind"], doc["config"])
    net.load_state_dict(doc["state"])
    return net.eval()


class Classic:
    """One classic network's embedding of each 3-s patch, averaged over the track's patches."""

    weights = None

    def __init__(self, name: str) -> None:
        self.name = name
        self.dim = DIMS[name]

    @property
    def version(self) -> int:
        return checkpoint_of(self.name).version

    def partial(self, spectra: Spectra) -> RunningStats:
        from synesthete.models import classic

        ckpt = checkpoint_of(self.name)
        return patch_stats(spectra, _load(str(ckpt.path), ckpt.digest), classic.embed)

    def finish(self, partials: list[RunningStats]) -> np.ndarray:
        return RunningStats.merged(partials).mean.astype(np.float32)


CLASSIC: dict[str, Classic] = {name: Classic(name) for name in NAMES}
