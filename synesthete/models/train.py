"""Training the ``cnn`` student: distillation from musicnn, then adaptation to a collection.

- ``distill``: regress musicnn's 200-d penultimate layer per 3-s patch (standardised MSE plus cosine)
  and its 50 tag probabilities (through the teacher's own output layer); optionally (``group``) also
  the track vector retrieval compares, the maximum over a few patches of one track, standardised
  over tracks, by MSE plus cosine (``track_loss``); optionally (``pairs``) an NT-Xent over two patches
  of one track, so a track's passages read as one piece. This makes the shipped weights;
  ``python -m synesthete.models.train`` rebuilds them (see ``main``).
- ``adapt``: on a user's collection, a self-supervised contrastive objective (two augmented crops of
  one track are a positive pair, NT-Xent against the rest of the batch; ``contrastive``), optionally
  with a genre head on the tracks that carry a genre tag (``supervised``). Every objective keeps an
  MSE pull toward the starting student's embedding of the clean crop, so the space moves toward the
  collection without forgetting what musicnn taught it; ``distill`` (the default) is that pull alone,
  applied to the augmented crops too (the student made robust to gain, EQ, noise and codecs on the
  collection's own audio, with no teacher needed at run time). The batch-norm statistics stay those of
  the distillation (``keep_batch_statistics``).

The augmentations act on the log-mel the student reads (see ``augment``), not on audio: each track is
decoded once per run and two views cost a few array operations.

Everything runs on the CPU in minutes: patches are small (128 x 129) and the network has ~0.5 M
parameters.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from synesthete.features.base import SR, Spectra
from synesthete.models import musicnn
from synesthete.models.cnn import PATCH_FRAMES, Student
from synesthete.models.corpus import Patches

OBJECTIVES = ("contrastive", "supervised", "distill")


# ---- losses and loops ----------------------------------------------------------------------------
def _teacher_out() -> torch.nn.Linear:
    """musicnn's last layer: 200-d penultimate to 50 tag logits (for the tag part of the loss)."""
    layer = musicnn.load().out
    for p in layer.parameters():
        p.requires_grad_(False)
    return layer


def distill_loss(
    net: Student, x: torch.Tensor, emb: torch.Tensor, tags: torch.Tensor, out, tag_weight: float
):
    """Standardised MSE + (1 - cosine) on the embedding, + BCE on the tags through the teacher's head."""
    z = net.standardized(x)
    target = (emb - net.out_mean) / net.out_std
    pred = z * net.out_std + net.out_mean
    loss = _mse_cosine(z, target)
    if tag_weight:
        loss = loss + tag_weight * F.binary_cross_entropy_with_logits(out(pred), tags)
    return loss


def _mse_cosine(z: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(z, target) + (1 - F.cosine_similarity(z, target, dim=1)).mean()


def fit_statistics(net: Student, data: Patches) -> None:
    """Input band means/stds and target means/stds from the training data."""
    x = torch.from_numpy(data.x[:: max(1, len(data) // 2000)].astype(np.float32))
    net.in_mean.copy_(x.mean(dim=(0, 2)))
    net.in_std.copy_(x.std(dim=(0, 2)).clamp_min(1e-3))
    e = torch.from_numpy(data.emb)
    net.out_mean.copy_(e.mean(0))
    net.out_std.copy_(e.std(0).clamp_min(1e-3))


@dataclass
class Pooled:
    """The track-level term: patches per group, groups per step, its weight, and the mean and std over
    groups of the teacher's maximum per group (standardised units), so the term compares z-scored
    track vectors as retrieval does (maximum over patches, z-scored over the collection, cosine)."""

    group: int
    per_step: int
    weight: float
    mean: torch.Tensor
    std: torch.Tensor

    @classmethod
    def of(cls, net: Student, data: Patches, group: int, per_step: int, weight: float) -> Pooled:
        rows = track_groups(data.track, group, np.random.default_rng(0))
        top = ((torch.from_numpy(data.emb[rows]) - net.out_mean) / net.out_std).amax(dim=1)
        return cls(group, per_step, weight, top.mean(0), top.std(0).clamp_min(1e-3))

    def loss(self, net: Student, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """``track_loss`` of groups of consecutive rows, the batch norms on their running statistics:
        a batch of a few tracks would normalise away what tells those tracks apart (measured on
        generated tracks: batches made of whole groups learnt 8x worse than random ones)."""
        norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm1d) and m.training]
        for m in norms:
            m.eval()
        try:
            return track_loss(net.standardized(x), (emb - net.out_mean) / net.out_std, self)
        finally:
            for m in norms:
                m.train()


def track_loss(z: torch.Tensor, target: torch.Tensor, pooled: Pooled) -> torch.Tensor:
    """MSE + (1 - cosine) between the student's and the teacher's maxima over each group of
    ``pooled.group`` consecutive rows, both standardised over tracks."""
    dim = z.shape[1]
    top_z = (z.reshape(-1, pooled.group, dim).amax(dim=1) - pooled.mean) / pooled.std
    top_t = (target.reshape(-1, pooled.group, dim).amax(dim=1) - pooled.mean) / pooled.std
    return _mse_cosine(top_z, top_t)


def track_groups(track: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Row indices (groups, size), each group from one track, in random order; every row is in a group
    once (a track's last group is filled up with other rows of that track, drawn at random)."""
    order = np.argsort(track, kind="stable")
    groups = []
    for rows in np.split(order, np.flatnonzero(np.diff(track[order])) + 1):
        rows = rng.permutation(rows)
        pad = -len(rows) % size
        if pad:
            rows = np.concatenate([rows, rng.choice(rows, pad, replace=pad > len(rows))])
        groups.append(rows.reshape(-1, size))
    stacked = np.concatenate(groups)
    return stacked[rng.permutation(len(stacked))]


def _group_batches(data: Patches, group: int, per_step: int, rng: np.random.Generator):
    """Endless batches of ``per_step`` groups of ``group`` rows of one track (row indices, groups
    consecutive)."""
    while True:
        groups = track_groups(data.track, group, rng)
        for i in range(0, len(groups) - per_step + 1, per_step):
            yield groups[i : i + per_step].ravel()


def _inputs(data: Patches, rows: np.ndarray, augmented: float, gen: torch.Generator) -> torch.Tensor:
    """Training inputs of ``rows``: float16 rounding hidden by a little noise, a share augmented."""
    x = torch.from_numpy(data.x[rows].astype(np.float32))
    x = x + 0.05 * torch.randn_like(x)  # so float16 rounding of the inputs is not learnt
    k = round(augmented * len(rows))
    if k:
        chosen = torch.randperm(len(rows), generator=gen)[:k]
        x[chosen] = augment(x[chosen], gen)
    return x


def distill(
    data: Patches,
    *,
    val: Patches | None = None,
    epochs: int = 30,
    batch: int = 64,
    lr: float = 3e-3,
    tag_weight: float = 0.5,
    augmented: float = 0.0,
    group: int = 0,
    track_weight: float = 1.0,
    net: Student | None = None,
    architecture: Mapping | None = None,
    ema: float = 0.0,
    pairs: float = 0.0,
    seed: int = 0,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    on_best: Callable[[Student, int], None] | None = None,
) -> Student:
    """A student fitted to the teacher's outputs in ``data`` (a new one unless ``net`` is given).

    ``augmented`` is the share of each batch passed through ``augment`` (the target stays the teacher's
    output on the clean patch, so the student learns to ignore gain, EQ, noise and codecs). With
    ``group`` > 0 each step also takes ``batch // (2 * group)`` groups of ``group`` patches of one
    track and adds ``track_loss`` on them, weighted ``track_weight`` (``Pooled.loss``). With ``val``
    (held-out patches) the epoch with the lowest validation loss is the one returned, and ``on_best``
    (if given) is called with the network and the epoch each time the loss improves, so a run cut short
    keeps its best epoch so far. ``architecture`` (``Student``'s arguments) shapes a new network. With
    ``ema`` (e.g. 0.999) the network judged and returned is an exponential moving average of the
    weights (and batch-norm statistics) over the steps, which smooths the epoch-to-epoch jumps of the
    held-out loss that one step's weights show. With ``pairs`` each step also takes ``batch // 2``
    pairs of patches of one track (other tracks' patches are the negatives) and adds their NT-Xent,
    weighted ``pairs``: the student is pulled to hear a track's passages as one piece, which the
    maximum over patches that makes a track vector rewards, while the MSE keeps it on the teacher.
    """
    import copy

    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    if net is None:
        net = Student(**(architecture or {}))
        fit_statistics(net, data)
    averaged = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(ema), use_buffers=True) if ema else None
    out = _teacher_out()
    pooled = Pooled.of(net, data, group, max(1, batch // (2 * group)), track_weight) if group else None
    grouped = _group_batches(data, pooled.group, pooled.per_step, rng) if pooled else None
    paired = _group_batches(data, 2, max(2, batch // 2), rng) if pairs else None
    steps = epochs * math.ceil(len(data) / batch)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    bar = _bar(steps, "distilling", progress)
    best, best_loss = None, math.inf
    for epoch in range(epochs):
        net.train()
        order = rng.permutation(len(data))
        total = 0.0
        for i in range(0, len(order), batch):
            rows = np.sort(order[i : i + batch])
            loss = distill_loss(
                net,
                _inputs(data, rows, augmented, gen),
                torch.from_numpy(data.emb[rows]),
                torch.from_numpy(data.tags[rows]),
                out,
                tag_weight,
            )
            if pooled is not None:
                rows_g = next(grouped)
                x_g = _inputs(data, rows_g, augmented, gen)
                loss = loss + pooled.weight * pooled.loss(net, x_g, torch.from_numpy(data.emb[rows_g]))
            if paired is not None:
                z = net.standardized(_inputs(data, next(paired), augmented, gen))
                loss = loss + pairs * nt_xent(z[0::2], z[1::2])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            if averaged is not None:
                averaged.update_parameters(net)
            total += loss.item() * len(rows)
            bar.set_postfix(loss=f"{loss.item():.3f}", epoch=epoch + 1)
            bar.update(1)
        line = f"epoch {epoch + 1}: loss {total / len(data):.4f}"
        judged = net if averaged is None else averaged.module
        if val is not None:
            held = validation_loss(judged, val, out, tag_weight, pooled)
            line += f", held-out {held:.4f}"
            if held < best_loss:
                best, best_loss = copy.deepcopy(judged.state_dict()), held
                if on_best:
                    on_best(judged, epoch + 1)
        if log:
            log(line)
    bar.close()
    if averaged is not None:
        net.load_state_dict(averaged.module.state_dict())
    if best is not None:
        net.load_state_dict(best)
    return net.eval()


@torch.no_grad()
def validation_loss(
    net: Student, val: Patches, out, tag_weight: float, pooled: Pooled | None = None, batch: int = 256
) -> float:
    """Mean distillation loss on held-out patches (clean inputs, eval mode), plus with ``pooled`` its
    weighted track-level term over fixed groups of the held-out tracks."""
    net.eval()
    total = 0.0
    for i in range(0, len(val), batch):
        x = torch.from_numpy(val.x[i : i + batch].astype(np.float32))
        emb, tags = torch.from_numpy(val.emb[i : i + batch]), torch.from_numpy(val.tags[i : i + batch])
        total += distill_loss(net, x, emb, tags, out, tag_weight).item() * len(x)
    loss = total / len(val)
    if pooled is not None:
        groups = track_groups(val.track, pooled.group, np.random.default_rng(0))
        per = max(1, batch // pooled.group)
        parts = [groups[i : i + per].ravel() for i in range(0, len(groups), per)]
        track = sum(
            pooled.loss(
                net, torch.from_numpy(val.x[r].astype(np.float32)), torch.from_numpy(val.emb[r])
            ).item()
            * len(r)
            for r in parts
        )
        loss += pooled.weight * track / sum(len(r) for r in parts)
    return loss


def _bar(total: int, desc: str, progress: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="step", file=sys.stderr, disable=not progress, leave=False)


# ---- adapting to a collection --------------------------------------------------------------------
MAX_SECONDS = 60.0  # of each track kept for training (from its start; bounded memory per track)
CROP = int(PATCH_FRAMES * 1.15)  # frames cut before time-stretching back to one patch


def step(loss: torch.Tensor, opt, sched, recent: list[float], per_epoch: int, bar) -> list[float]:
    """One optimiser and schedule step; returns the last epoch's losses, whose mean the bar shows."""
    opt.zero_grad()
    loss.backward()
    opt.step()
    sched.step()
    recent = [*recent, loss.item()][-per_epoch:]
    bar.set_postfix(loss=f"{np.mean(recent):.3f}")
    bar.update(1)
    return recent


def collection_mels(paths: Sequence[str], *, progress: bool = True) -> tuple[list[np.ndarray], list[int]]:
    """Log-mel (128, frames) float16 of the first ``MAX_SECONDS`` of each file that decodes, and the
    indices of those files; the student's augmentations work on these, so audio is decoded only once."""
    from tqdm import tqdm

    from synesthete.audio import iter_chunks
    from synesthete.exceptions import AudioError

    mels, kept = [], []
    for i, path in enumerate(
        tqdm(paths, desc="reading", unit="track", file=sys.stderr, disable=not progress)
    ):
        chunks = iter_chunks(path, sr=SR, chunk_seconds=MAX_SECONDS)
        try:
            chunk = next(chunks)
        except (AudioError, OSError, StopIteration):
            continue  # a bad file never stops training: scan has recorded it already
        finally:
            chunks.close()  # the first chunk is all we read
        mels.append(Spectra(chunk[: int(MAX_SECONDS * SR)]).log_mel.astype(np.float16))
        kept.append(i)
    return mels, kept


def crops(
    mels: Sequence[np.ndarray], rows: np.ndarray, rng: np.random.Generator, frames: int = CROP
) -> torch.Tensor:
    """One random window of ``frames`` of each chosen track (tracks shorter are tiled)."""
    out = np.empty((len(rows), mels[0].shape[0], frames), np.float32)
    for j, r in enumerate(rows):
        m = mels[r]
        if m.shape[1] < frames:
            m = np.tile(m, (1, -(-frames // m.shape[1])))
        s = int(rng.integers(0, m.shape[1] - frames + 1))
        out[j] = m[:, s : s + frames]
    return torch.from_numpy(out)


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random views (b, bands, 129) of log-mel crops (b, bands, CROP) in dB, done on the spectrogram the
    student reads: time stretch (+-10 %), pitch shift (+-2 bands, about a semitone), gain (+-10 dB), a
    smooth EQ curve (+-6 dB), a noise floor 25-60 dB under the peak, and half the time a codec-like
    low-pass (everything above a random band 30-60 dB down)."""
    b, bands, frames = x.shape

    def u(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(*(shape or (b,)), generator=gen)

    # time stretch: a window of 129 * r frames resampled to 129
    out = torch.empty(b, bands, PATCH_FRAMES)
    for i, r in enumerate(u(0.9, 1.1).tolist()):
        n = min(frames, round(PATCH_FRAMES * r))
        s = int(torch.randint(0, frames - n + 1, (1,), generator=gen))
        out[i] = F.interpolate(
            x[i : i + 1, :, s : s + n], size=PATCH_FRAMES, mode="linear", align_corners=False
        )[0]
    # pitch: shift along the mel axis, repeating the edge band
    shifted = torch.empty_like(out)
    for i, k in enumerate(torch.randint(-2, 3, (b,), generator=gen).tolist()):
        idx = (torch.arange(bands) - k).clamp(0, bands - 1)
        shifted[i] = out[i, idx]
    out = shifted
    # gain and EQ: a constant and a smooth curve in dB
    pos = torch.linspace(0, math.pi, bands)
    curve = sum(u(-3, 3, b, 1) * torch.cos(k * pos)[None] for k in (1, 2, 3))
    out = out + u(-10, 10, b, 1, 1) + curve[:, :, None]
    # noise floor, tilted
    peak = out.amax(dim=(1, 2), keepdim=True)
    floor = peak - u(25, 60, b, 1, 1) + u(-6, 6, b, 1, 1) * torch.linspace(-1, 1, bands)[None, :, None]
    out = torch.logaddexp(out * (math.log(10) / 10), floor * (math.log(10) / 10)) * (10 / math.log(10))
    # codec-like low-pass on half of the batch
    cut = torch.randint(70, 128, (b,), generator=gen)
    low = (torch.arange(bands)[None, :] >= cut[:, None]) & (torch.rand(b, 1, generator=gen) < 0.5)
    return out - low[:, :, None] * u(30, 60, b, 1, 1)


def nt_xent(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """SimCLR's loss: each view must pick its partner among the 2n - 1 other views of the batch."""
    z = F.normalize(torch.cat([a, b]), dim=1)
    sim = z @ z.T / temperature
    n = len(a)
    sim.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(sim, target)


@dataclass
class AdaptReport:
    objective: str
    epochs: int
    steps: int
    tracks: int
    labelled: int
    loss: float


def adapt(
    net: Student,
    mels: Sequence[np.ndarray],
    *,
    objective: str = "contrastive",
    genres: Sequence[str | None] | None = None,
    epochs: int = 10,
    batch: int = 32,
    lr: float = 1e-3,
    anchor: float = 1.0,
    seed: int = 0,
    progress: bool = True,
) -> tuple[Student, AdaptReport]:
    """Fine-tune ``net`` on a collection's log-mels (see the module docstring); returns it and a report.

    ``anchor`` weighs an MSE pull toward the starting network's embedding of the clean crop, so the
    space moves toward the collection without forgetting the teacher (measured on a degraded demo,
    tests/test_train.py: pulling the augmented views instead did worse). An epoch is 8 crop pairs per
    track.
    """
    import copy

    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}")
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    n = len(mels)
    labels, names = _genre_labels(genres, n) if objective == "supervised" else (None, [])
    if objective == "supervised":
        net.classify = torch.nn.Linear(net.head.out_features, len(names))
    reference = copy.deepcopy(net).eval()
    batch = max(2, min(batch, n))
    per_epoch = max(1, math.ceil(8 * n / batch))
    steps = epochs * per_epoch
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    bar = _bar(steps, f"training ({objective})", progress)
    net.train()
    keep_batch_statistics(net)
    recent: list[float] = []
    for _ in range(steps):
        rows = rng.choice(n, size=batch, replace=False)
        first, second = crops(mels, rows, rng), crops(mels, rows, rng)
        va, vb = augment(first, gen), augment(second, gen)
        za, zb = net.standardized(va), net.standardized(vb)
        with torch.no_grad():
            clean = first[:, :, (CROP - PATCH_FRAMES) // 2 :][:, :, :PATCH_FRAMES]
            ref = reference.standardized(clean)
        loss = anchor * F.mse_loss(net.standardized(clean), ref)
        if objective in ("contrastive", "supervised"):
            loss = loss + nt_xent(za, zb)
        if objective == "distill":  # hold the embedding still under the augmentations
            loss = loss + F.mse_loss(za, ref) + F.mse_loss(zb, ref)
        if labels is not None:
            y = torch.from_numpy(labels[rows])
            known = y >= 0
            if known.any():
                logits = net.classify(torch.cat([za, zb])[torch.cat([known, known])])
                loss = loss + F.cross_entropy(logits, torch.cat([y[known], y[known]]))
        recent = step(loss, opt, sched, recent, per_epoch, bar)
    bar.close()
    labelled = 0 if labels is None else int((labels >= 0).sum())
    return net.eval(), AdaptReport(objective, epochs, steps, n, labelled, float(np.mean(recent)))


def keep_batch_statistics(net: torch.nn.Module) -> None:
    """Hold ``net``'s batch-norm running statistics still while it trains (the layers' scale and shift
    still learn). A library's batches of augmented crops are a poor estimate of the statistics the network
    was distilled with, and updating them moves every embedding: on 318 held-out real clips (recorded,
    tracker modules, MIDI renders; P@10 by package) 10 contrastive epochs took the shipped student from
    0.559 / 0.326 / 0.343 to 0.446 / 0.310 / 0.344 with them updated, 0.513 / 0.310 / 0.387 held."""
    for m in net.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            m.eval()


def _genre_labels(genres: Sequence[str | None] | None, n: int) -> tuple[np.ndarray, list[str]]:
    """Class index per track (-1 without a genre tag) and the class names; at least two genres needed."""
    from synesthete.exceptions import UserError

    tags = [(g or "").strip().lower() for g in (genres or [None] * n)]
    names = sorted({t for t in tags if t})
    if len(names) < 2:
        raise UserError("the supervised objective needs genre tags: fewer than two genres in the collection")
    index = {g: i for i, g in enumerate(names)}
    return np.array([index.get(t, -1) for t in tags]), names


# ---- a library's training run (``Library.train``) -------------------------------------------------
def train_library(
    lib,
    *,
    objective: str = "distill",
    epochs: int = 10,
    tracks: Sequence[int] | None = None,
    max_tracks: int = 2000,
    refresh: bool = True,
    workers: int | None = None,
    seed: int = 0,
    progress: bool = False,
    labels: Mapping[int, str] | None = None,
) -> dict:
    """Fine-tune the library's current ``cnn`` checkpoint on its tracks (or on ``tracks``, ids), save the
    result as the library's new current checkpoint, and (``refresh``) recompute the ``cnn`` vectors.

    At most ``max_tracks`` tracks (a seeded random sample) are read, the first minute of each.
    ``supervised`` learns ``labels`` (track id -> class: a CSV's groups, the folders) when given, else
    the genre tags.
    """
    from synesthete.exceptions import UserError
    from synesthete.models import checkpoints

    if objective not in OBJECTIVES:
        raise UserError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    if epochs < 1:
        raise UserError(f"epochs must be at least 1, got {epochs}")
    chosen = training_tracks(lib, tracks, max_tracks, seed)
    mels, kept = collection_mels([t.path for t in chosen], progress=progress)
    if len(mels) < 2:
        raise UserError("training needs at least two readable tracks in the library: scan some music first")
    chosen = [chosen[i] for i in kept]
    start = checkpoints.checkpoint(checkpoints.of_library(lib.folder) or checkpoints.SHIPPED)
    net = _fresh_copy(checkpoints.load(start))
    threads = torch.get_num_threads()  # analysis runs one thread per process; training may use more
    torch.set_num_threads(min(4, os.cpu_count() or 1))
    try:
        net, report = adapt(
            net,
            mels,
            objective=objective,
            genres=[t.genre if labels is None else labels.get(t.id) for t in chosen],
            epochs=epochs,
            seed=seed,
            progress=progress,
        )
    finally:
        torch.set_num_threads(threads)
    state = checkpoints.state_of(
        net,
        objective=objective,
        epochs=epochs,
        tracks=report.tracks,
        parent=start.digest[:12],
        loss=report.loss,
    )
    made = checkpoints.save(lib.folder, state)
    refreshed = refresh_vectors(lib, workers=workers, progress=progress) if refresh else 0
    return {
        "checkpoint": str(made.path),
        "version": made.version,
        "parent": start.digest[:12],
        "objective": objective,
        "epochs": epochs,
        "steps": report.steps,
        "tracks": report.tracks,
        "labelled": report.labelled,
        "loss": round(report.loss, 4),
        "refreshed": refreshed,
    }


def training_tracks(lib, tracks: Sequence[int] | None, max_tracks: int, seed: int) -> list:
    """The library's tracks (or those of the ids ``tracks``), at most ``max_tracks`` of them (seeded)."""
    chosen = (
        lib.tracks() if tracks is None else list(lib.catalog.tracks_by_ids([int(t) for t in tracks]).values())
    )
    if len(chosen) > max_tracks:
        rows = np.random.default_rng(seed).choice(len(chosen), size=max_tracks, replace=False)
        chosen = [chosen[i] for i in sorted(rows)]
    return chosen


def _fresh_copy(net: Student) -> Student:
    """A trainable copy of a cached (shared, eval-mode) network."""
    import copy

    return copy.deepcopy(net)


def refresh_vectors(lib, *, workers: int | None = None, progress: bool = False, name: str = "cnn") -> int:
    """Recompute the vectors of extractor ``name`` (``cnn``, or a classic model) whose version is not
    that of the library's current checkpoint (what the next scan would do, without walking the
    folders: ``scan.refresh``); returns how many were made."""
    from synesthete.features import classic
    from synesthete.features.registry import get
    from synesthete.library.scan import refresh
    from synesthete.models import checkpoints

    checkpoint, folder = checkpoints.of_library(lib.folder), classic.of_library(lib.folder)
    checkpoints.use(checkpoint)  # the version wanted is that of the weights the workers will run
    classic.use(folder)
    extractors = {name: get(name).version}
    report = refresh(
        lib.catalog,
        extractors,
        checkpoint=checkpoint,
        classic_models=folder,
        workers=workers,
        progress=progress,
    )
    return report.refreshed


def _dilations(text: str) -> tuple[int, ...]:
    """``--dilations``: positive integers, comma-separated (read before the teacher's cache is built)."""
    import argparse

    try:
        values = tuple(int(d) for d in text.split(","))
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give positive whole numbers, comma-separated, e.g. 1,2,4"
        )
    return values


def held_out_packages(packages: Sequence[str], hold_out: str | None = None, share: int = 8) -> set[str]:
    """The packages held out for choosing the epoch: those named in ``hold_out`` (comma-separated; each
    must be in ``packages``, so a typo is an error, not a run that holds nothing out), else about
    1/``share`` of them by a hash of the name (``corpus.held_out``). Naming them lets runs on different
    manifests hold out the same packages, so their by-package figures compare."""
    import argparse

    from synesthete.models import corpus

    if share < 2:
        raise argparse.ArgumentTypeError(f"--held-out-share must be at least 2, got {share}")
    if not hold_out:
        return corpus.held_out(packages, share)
    named = {p.strip() for p in hold_out.split(",") if p.strip()}
    unknown = sorted(named - set(packages))
    if unknown or not named:
        raise argparse.ArgumentTypeError(f"--hold-out: no such package in the manifest: {', '.join(unknown)}")
    if named >= set(packages):
        raise argparse.ArgumentTypeError("--hold-out names every package: nothing would be trained on")
    return named


def main(argv: Sequence[str] | None = None) -> int:
    """Distil the student from the corpus (bash bench/corpus.sh): musicnn's outputs on every track
    (cached), then ``distill``, choosing the epoch by the loss on held-out packages. Writes
    ``<corpus>/cnn-distilled.pt``; ``--out synesthete/models/weights/cnn-distilled.pt`` ships it."""
    import argparse
    import copy
    import json
    import time
    from pathlib import Path

    from synesthete.models import checkpoints, corpus

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--corpus", type=Path, default=corpus.DEFAULT)
    parser.add_argument(
        "--manifest", type=Path, default=None, help="tracks to use (default: the corpus's recorded ones)"
    )
    parser.add_argument("--per-track", type=int, default=64, help="patches per track")
    parser.add_argument("--epochs", type=int, default=16)
    parser.add_argument("--augmented", type=float, default=0.5, help="share of each batch augmented")
    parser.add_argument(
        "--group", type=int, default=0, help="patches of one track per group: adds the track-level term"
    )
    parser.add_argument("--track-weight", type=float, default=1.0, help="weight of the track-level term")
    parser.add_argument("--ema", type=float, default=0.999, help="moving average of the weights (0: off)")
    parser.add_argument(
        "--pairs", type=float, default=0.5, help="weight of the same-track contrastive term (0: off)"
    )
    parser.add_argument("--seed", type=int, default=0, help="of the weights, the batches and the views")
    parser.add_argument("--channels", type=int, default=128, help="a new student's channels")
    parser.add_argument(
        "--dilations",
        type=_dilations,
        default=(1, 2, 4),
        help="a new student's residual blocks, by dilation (e.g. 1,2,4)",
    )
    parser.add_argument(
        "--held-out-share",
        type=int,
        default=8,
        help="hold out about 1/N of the packages (by a hash of the name) for choosing the epoch",
    )
    parser.add_argument(
        "--hold-out",
        default=None,
        help="hold out these packages instead (comma-separated), e.g. the same set for runs on two manifests",
    )
    parser.add_argument("--workers", type=int, default=2, help="processes running the teacher")
    parser.add_argument("--threads", type=int, default=2, help="torch threads while training")
    parser.add_argument("--out", type=Path, default=None, help="default: <corpus>/cnn-distilled.pt")
    parser.add_argument(
        "--init",
        type=Path,
        default=None,
        help="start from this checkpoint (one trained on the corpus: never on ../shared/data/dev)",
    )
    args = parser.parse_args(argv)
    args.manifest = args.manifest or args.corpus / "manifest-recorded.csv"
    args.out = args.out or args.corpus / checkpoints.SHIPPED.name
    # read before the teacher's cache is built (minutes to hours), so a wrong path fails at once
    init = copy.deepcopy(checkpoints.load(checkpoints.checkpoint(args.init))) if args.init else None
    try:  # chosen from the manifest, before the teacher's cache: a wrong name fails at once
        held = held_out_packages(
            [p for p, _, _ in corpus.tracks(args.corpus, args.manifest)], args.hold_out, args.held_out_share
        )
    except argparse.ArgumentTypeError as e:
        parser.error(str(e))
    data, packages = corpus.teacher_outputs(
        args.corpus, manifest=args.manifest, per_track=args.per_track, workers=args.workers
    )
    is_val = np.array([packages[t] in held for t in data.track])
    train, val = data.take(np.flatnonzero(~is_val)), data.take(np.flatnonzero(is_val))
    del data  # every row is now in train or val: not kept twice while training
    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    log(
        f"{len(packages)} tracks, {len(set(packages))} packages; {len(train)} training patches, "
        f"{len(val)} held out ({', '.join(sorted(held))})"
    )
    torch.set_num_threads(args.threads)
    start = time.time()
    meta = {
        "objective": "distill",
        "teacher": "musicnn (MSD)",
        "trained_on": f"bench/corpus.sh: {len(packages) - sum(p in held for p in packages)} tracks of "
        f"{len(set(packages) - held)} Debian packages; ../shared/data/dev never seen",
        "held_out_packages": sorted(held),
        "epochs": args.epochs,
        "init": args.init.name if args.init else None,
        "augmented": args.augmented,
        "group": args.group,
        "track_weight": args.track_weight if args.group else 0.0,
        "ema": args.ema,
        "pairs": args.pairs,
        "seed": args.seed,
        "per_track": args.per_track,
        "patches": len(train),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def write(net: Student, epoch: int) -> None:
        """The checkpoint as it stands, written atomically (a run cut short keeps its best epoch)."""
        meta.update(best_epoch=epoch, train_seconds=round(time.time() - start))
        tmp = args.out.with_suffix(".part")
        torch.save(checkpoints.state_of(net, **meta), tmp)
        os.replace(tmp, args.out)

    net = distill(
        train,
        val=val,
        epochs=args.epochs,
        augmented=args.augmented,
        group=args.group,
        track_weight=args.track_weight,
        net=init,
        architecture={
            "channels": args.channels,
            "dilations": args.dilations,
        },
        ema=args.ema,
        pairs=args.pairs,
        seed=args.seed,
        log=log,
        on_best=write,
    )
    held_p = corpus.package_precision(net, val, packages)
    log(f"precision@10 by package on the held-out packages: {held_p}")
    meta["held_out_precision_at_10"] = held_p
    write(net, meta["best_epoch"])
    log(f"{args.out}: {json.dumps(meta)}")
    return 0


if __name__ == "__main__":
    from synesthete.exceptions import SynestheteError

    try:
        sys.exit(main())
    except (SynestheteError, FileNotFoundError) as e:  # a wrong path or corpus: the reason, no traceback
        sys.exit(f"error: {e}")
