"""Training the classic networks (``models/classic.py``) on a library's own music.

What each one learns:
- ``autoencoder``: to rebuild the standardised patch from its 256-d latent (MSE); no labels.
- ``genre``: the group of each labelled track's patches (cross-entropy); labels are needed: genre tags,
  a labels CSV or the folders. Unlabelled tracks are left out.
- ``transfer``: the new head on the frozen pretrained student learns the labels when the collection has
  at least two groups of them, else contrastively (two augmented crops of one track are alike, NT-Xent).
- ``resnet``: contrastively, as ``transfer`` without labels (no ImageNet weights can be had here).

Audio is decoded once per run (the first minute of each track, ``models/train.py``'s ``collection_mels``);
crops and augmentations work on the log-mel. An epoch is ``CROPS_PER_TRACK`` crops of every track.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from synesthete.exceptions import UserError
from synesthete.features import classic as store
from synesthete.models import checkpoints
from synesthete.models.classic import NAMES, Transfer, build
from synesthete.models.cnn import PATCH_FRAMES
from synesthete.models.train import (
    _bar,
    augment,
    collection_mels,
    crops,
    nt_xent,
    refresh_vectors,
    step,
    training_tracks,
)

CROPS_PER_TRACK = 4


def class_indices(labels: Sequence[str | None]) -> tuple[np.ndarray, list[str]]:
    """Class index per track (-1 unlabelled) and the class names, sorted."""
    tags = [(g or "").strip().lower() for g in labels]
    names = sorted({t for t in tags if t})
    index = {g: i for i, g in enumerate(names)}
    return np.array([index.get(t, -1) for t in tags]), names


def new_network(kind: str, classes: int) -> torch.nn.Module:
    """A fresh network of ``kind``; ``transfer`` starts from the shipped student's weights."""
    if kind == "transfer":
        shipped = checkpoints.load(checkpoints.checkpoint(checkpoints.SHIPPED))
        net = Transfer(shipped.config, classes=classes)
        net.base.load_state_dict(shipped.state_dict())
        return net
    return build(kind, {"classes": max(2, classes)} if kind == "genre" else {})


def fit(
    kind: str,
    mels: Sequence[np.ndarray],
    classes: np.ndarray | None = None,
    *,
    epochs: int = 10,
    batch: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = True,
) -> tuple[torch.nn.Module, float]:
    """Train a new network of ``kind`` on log-mels (128, frames); ``classes`` (index per track, -1 for
    none) for ``genre`` and a labelled ``transfer``. Returns the network in eval mode and the last
    epoch's mean loss."""
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    pool = np.arange(len(mels)) if classes is None else np.flatnonzero(classes >= 0)
    n_classes = 0 if classes is None else int(classes.max()) + 1
    net = new_network(kind, n_classes)
    if hasattr(net, "fit_input"):
        sample = crops(mels, rng.choice(len(mels), size=min(256, 4 * len(mels))), rng, PATCH_FRAMES)
        net.fit_input(sample)
    batch = max(2, min(batch, len(pool)))
    per_epoch = max(1, math.ceil(CROPS_PER_TRACK * len(pool) / batch))
    steps = epochs * per_epoch
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    bar = _bar(steps, f"training {kind}", progress)
    net.train()
    recent: list[float] = []
    for _ in range(steps):
        rows = rng.choice(pool, size=batch, replace=False)
        loss = _loss(net, kind, mels, rows, None if classes is None else classes[rows], rng, gen)
        recent = step(loss, opt, sched, recent, per_epoch, bar)
    bar.close()
    return net.eval(), float(np.mean(recent))


def _loss(net, kind: str, mels, rows, y, rng: np.random.Generator, gen: torch.Generator) -> torch.Tensor:
    if kind == "autoencoder":
        x = crops(mels, rows, rng, PATCH_FRAMES)
        return F.mse_loss(net(x), net.standardise(x))
    first = augment(crops(mels, rows, rng), gen)
    if y is not None:  # genre, or a labelled transfer
        logits = net(first) if kind == "genre" else net.classify(net.embed(first))
        return F.cross_entropy(logits, torch.from_numpy(y))
    second = augment(crops(mels, rows, rng), gen)
    za, zb = net.embed(first), net.embed(second)
    if kind == "resnet":
        za, zb = net.project(za), net.project(zb)
    return nt_xent(za, zb)


def train_classic(
    lib,
    kind: str,
    *,
    epochs: int = 10,
    tracks: Sequence[int] | None = None,
    labels: Mapping[int, str] | None = None,
    max_tracks: int = 2000,
    refresh: bool = True,
    workers: int | None = None,
    seed: int = 0,
    progress: bool = False,
) -> dict:
    """Train model ``kind`` on the library's tracks (or ``tracks``), save it as the library's current
    ``kind`` and (``refresh``) compute its vectors for every track. ``labels``: track id -> group (else
    the genre tags)."""
    if kind not in NAMES:
        raise UserError(f"unknown classic model {kind!r}; choose one of {', '.join(NAMES)}")
    if epochs < 1:
        raise UserError(f"epochs must be at least 1, got {epochs}")
    chosen = training_tracks(lib, tracks, max_tracks, seed)
    given = [t.genre if labels is None else labels.get(t.id) for t in chosen]
    classes, names = class_indices(given)
    source = "genre tags" if labels is None else "labels"
    if kind == "genre" and len(names) < 2:
        raise UserError(
            f"the genre model learns groups, and the collection has {len(names)} in its {source}: tag "
            "genres, or give --labels LABELS.csv or --labels-from folder"
        )
    supervised = kind == "genre" or (kind == "transfer" and len(names) >= 2)
    if supervised:  # only labelled tracks are read
        keep = [i for i, c in enumerate(classes) if c >= 0]
        chosen, classes = [chosen[i] for i in keep], classes[keep]
    mels, kept = collection_mels([t.path for t in chosen], progress=progress)
    if len(mels) < 2:
        raise UserError("training needs at least two readable tracks in the library: scan some music first")
    chosen, classes = [chosen[i] for i in kept], classes[kept]
    threads = torch.get_num_threads()
    torch.set_num_threads(idle_cores())
    try:
        net, loss = fit(
            kind, mels, classes if supervised else None, epochs=epochs, seed=seed, progress=progress
        )
    finally:
        torch.set_num_threads(threads)
    objective = (
        f"supervised on {len(names)} groups of {source}"
        if supervised
        else ("reconstruction" if kind == "autoencoder" else "contrastive")
    )
    state = {
        "kind": kind,
        "config": net.config,
        "state": net.state_dict(),
        "meta": {"objective": objective, "epochs": epochs, "tracks": len(mels), "classes": names},
    }
    path = save(lib.folder, kind, state)
    store.use(store.of_library(lib.folder))
    made = store.checkpoint_of(kind)
    refreshed = refresh_vectors(lib, workers=workers, progress=progress, name=kind) if refresh else 0
    return {
        "model": kind,
        "checkpoint": str(path),
        "version": made.version,
        "objective": objective,
        "epochs": epochs,
        "tracks": len(mels),
        "labelled": int((classes >= 0).sum()) if supervised else 0,
        "dim": store.DIMS[kind],
        "loss": round(loss, 4),
        "refreshed": refreshed,
    }


def idle_cores() -> int:
    """Threads for training: the cores nobody else is using (at most 4). Small networks on a busy
    machine run several times slower with a thread per core than with one (measured here at a load
    of 13 on 2 cores: 1.6 s against 0.45 s a step of the resnet)."""
    cores = os.cpu_count() or 1
    return max(1, min(4, cores - round(os.getloadavg()[0])))


def save(library: str | Path, kind: str, state: dict) -> Path:
    """Write ``state`` as ``<library>/models/<kind>-<hash>.pt`` and make it the current ``kind``."""
    folder = Path(library) / "models"
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
    os.close(fd)
    torch.save(state, tmp)
    digest = hashlib.sha256(Path(tmp).read_bytes()).hexdigest()
    final = folder / f"{kind}-{digest[:12]}.pt"
    os.replace(tmp, final)
    current = folder / store.CURRENT
    try:
        doc = json.loads(current.read_text())
    except (OSError, ValueError):
        doc = {}
    doc[kind] = final.name
    part = current.with_suffix(".part")
    part.write_text(json.dumps(doc, indent=1))
    os.replace(part, current)
    return final
