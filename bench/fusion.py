"""Fusions and hub reduction of the extractors' spaces, scored on a labelled collection, weights chosen held out.

    .venv/bin/python bench/fusion.py clips --corpus /work/corpus --out /work/fusion-clips [--cap 25] [--min 5]
    .venv/bin/synesthete scan --library /work/fusion-lib /work/fusion-clips
    .venv/bin/python bench/fusion.py score --library /work/fusion-lib --labels /work/fusion-clips/labels.csv
                                           [--folds 5] [--fit] [--weights descriptors=1,musicnn=1,...]

``clips`` cuts the middle 30 s of each corpus track (as ``../shared/data/dev``'s clips are cut) for packages
with at least ``--min`` tracks, at most ``--cap`` per package (a stable sample by file name), and writes a
labels CSV whose group is the package: tracks of one game share a composer and a sound. ``--kind`` keeps
one kind of track (recorded, module, midi); ``--untrained-by MANIFEST`` only the packages a training run
on that manifest holds out (music the shipped student never heard: README, "Training on your own music").

``score`` reads each extractor's vectors from a scanned library and compares them as the library does
(``recommend/space.py``: z-scored over the collection, weighted per dimension, cosine; a fusion is the
weighted mean of its members' cosines). It prints precision@10 and mAP, leave-one-out, for
- each extractor alone, the shipped ``fused`` and other fusions (``--weights`` adds one);
- label-free hub reductions of the ``fused`` similarity, computed over the collection: CSLS / local
  centring (each candidate's mean similarity to its k nearest neighbours subtracted), local scaling and
  mutual proximity (Schnitzer et al. 2012), of the fusion or of each member before averaging; rank fusion;
  average query expansion (the query plus its nearest neighbours); each beside a 95% interval of its
  precision@10 difference from ``fused``, by a bootstrap over groups;
- with ``--folds``, per-member weights (``LEARNT``) learnt by cross-validation by group: the groups are
  dealt into folds, weights are picked from a small grid on the other folds' tracks, and each held-out
  fold's tracks then query the whole collection with them, beside the shipped weights scored the same way;
  ``--fit`` instead picks the weights on the whole collection and prints them (to measure elsewhere).
Nothing here is trained on the collection it scores except inside the cross-validation. Prints one JSON
line at the end.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import itertools
import json
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.special import ndtr

from synesthete import Library
from synesthete.evaluate.harness import read_labels
from synesthete.features.registry import EXTRACTORS, FUSION

MEMBERS = ("descriptors", "musicnn", "seed498", "musicnn-tags", "cnn")
# the weights learnt: not cnn, whose shipped student was distilled on ../shared/data/dev's clips too, so a
# fusion with it would have no held-out figure there
LEARNT = ("descriptors", "musicnn", "seed498", "musicnn-tags")
GRID = (0.0, 0.5, 1.0, 2.0)
CLIP_S = 30.0


# ---- clips ----------------------------------------------------------------------------------------------
def make_clips(
    corpus: Path,
    out: Path,
    *,
    cap: int,
    least: int,
    packages: Sequence[str] = (),
    kind: str = "",
    untrained_by: Path | None = None,
) -> int:
    """The middle ``CLIP_S`` seconds of up to ``cap`` tracks per package (of ``packages``, else every
    one; of ``kind`` only, when given: recorded, module or midi), cut from the file the teacher's cache
    reads (the original, or its FLAC); ``untrained_by`` (a training manifest) leaves out the packages a
    run on it trains on (all but ``corpus.held_out``'s). Returns how many clips."""
    from synesthete.models import corpus as training_corpus

    manifest = corpus / "manifest.csv"
    with open(manifest, newline="") as f:
        kinds = [r["kind"] for r in csv.DictReader(f)]
    trained: set[str] = set()
    if untrained_by is not None:
        seen = [package for package, _, _ in training_corpus.tracks(corpus, untrained_by)]
        trained = set(seen) - training_corpus.held_out(seen)
    by_package: dict[str, list[tuple[Path, Path]]] = {}
    for (package, flac, source), k in zip(training_corpus.tracks(corpus, manifest), kinds, strict=True):
        if (not packages or package in packages) and (not kind or k == kind) and package not in trained:
            by_package.setdefault(package, []).append((flac, source))
    rows = []
    for package, tracks in sorted(by_package.items()):
        if len(tracks) < least:
            continue
        # a stable sample: the same files whatever else the corpus holds
        tracks = sorted(tracks, key=lambda fs: hashlib.sha1(fs[0].name.encode()).hexdigest())[:cap]
        for flac, source in tracks:
            dst = out / package / flac.name
            if not dst.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                start = max(0.0, (sf.info(source).duration - CLIP_S) / 2)
                subprocess.run(
                    ["ffmpeg", "-v", "error", "-nostdin", "-y", "-ss", f"{start:.2f}", "-t", f"{CLIP_S}",
                     "-i", str(source), "-c:a", "flac", str(dst)],
                    check=True,
                )  # fmt: skip
            rows.append((str(dst.relative_to(out)), package))
    with open(out / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "group"])
        w.writerows(rows)
    return len(rows)


# ---- similarities ---------------------------------------------------------------------------------------
def member_cosines(lib: Library, paths: Sequence[str], members: Sequence[str]) -> dict[str, np.ndarray]:
    """Each member's cosine matrix over ``paths``, standardised over the whole library (as its space is)."""
    by_path = {t.path: t.id for t in lib.tracks()}
    want = np.array([by_path[p] for p in paths], dtype=np.int64)
    out = {}
    for m in members:
        e = EXTRACTORS[m]
        ids, raw = lib.catalog.vectors(m, e.version)
        raw = raw.astype(np.float64)
        z = (raw - raw.mean(0)) / np.maximum(raw.std(0), 1e-6)
        if e.weights is not None:
            z = z * e.weights
        z = z[np.searchsorted(ids, want)]
        z /= np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
        out[m] = z @ z.T
    return out


def fuse(cos: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """The cosine of ``Space.fuse``'s vectors: the weighted mean of the members' cosines."""
    total = sum(weights.values())
    return sum(w * cos[m] for m, w in weights.items() if w) / total


def _others(sim: np.ndarray) -> np.ndarray:
    s = sim.copy()
    np.fill_diagonal(s, -np.inf)
    return s


def knn_mean(sim: np.ndarray, k: int) -> np.ndarray:
    """Each item's mean similarity to its ``k`` nearest others."""
    top = -np.partition(-_others(sim), k - 1, axis=1)[:, :k]
    return top.mean(1)


def csls(sim: np.ndarray, k: int, alpha: float = 1.0) -> np.ndarray:
    """Local centring: a candidate's mean similarity to its k nearest taken off (CSLS ranks as alpha 0.5)."""
    return sim - alpha * knn_mean(sim, k)[None, :]


def local_scaling(sim: np.ndarray, k: int) -> np.ndarray:
    """exp(-d^2 / (sigma_x sigma_y)), d the chord distance, sigma the distance to the k-th neighbour."""
    d2 = np.maximum(2 - 2 * sim, 0)
    kth = -np.partition(-_others(sim), k - 1, axis=1)[:, k - 1]
    sigma = np.sqrt(np.maximum(2 - 2 * kth, 1e-12))
    return np.exp(-d2 / np.outer(sigma, sigma))


def mutual_proximity(sim: np.ndarray) -> np.ndarray:
    """Gaussian mutual proximity: how unusually close y is for x times how unusually close x is for y."""
    s = _others(sim)
    ok = np.isfinite(s)
    mu = np.where(ok, s, 0).sum(1) / ok.sum(1)
    sd = np.sqrt(np.where(ok, (s - mu[:, None]) ** 2, 0).sum(1) / ok.sum(1))
    px = ndtr((sim - mu[:, None]) / sd[:, None])
    py = ndtr((sim - mu[None, :]) / sd[None, :])
    return px * py


def empirical_mp(sim: np.ndarray) -> np.ndarray:
    """Empirical mutual proximity: the share of items that are farther from both x and y than y is from x."""
    s = _others(sim)
    n = len(s)
    ranks = np.argsort(np.argsort(s, axis=1), axis=1)  # per row, rank of each candidate (-inf lowest)
    px = ranks / (n - 1)
    return np.minimum(px, px.T)


def query_expansion(sim: np.ndarray, k: int) -> np.ndarray:
    """Average query expansion: the query's vector plus its k nearest neighbours' (linear, so in
    similarities: its row plus theirs)."""
    top = np.argpartition(-_others(sim), k - 1, axis=1)[:, :k]
    return (sim + sim[top].sum(1)) / (k + 1)


def percentiles(sim: np.ndarray) -> np.ndarray:
    """Each candidate's rank among the query's candidates, as a share (rank fusion averages these)."""
    return np.argsort(np.argsort(_others(sim), axis=1), axis=1) / (len(sim) - 1)


# ---- scores ---------------------------------------------------------------------------------------------
def scores(
    sim: np.ndarray, labels: np.ndarray, k: int = 10, queries: np.ndarray | None = None
) -> tuple[float, float]:
    """(precision@k, mAP) leave-one-out, queries (rows; default: all) with nothing to find skipped."""
    s = _others(sim)
    n = len(s)
    if queries is not None:
        s = s[queries]  # the candidates stay all the tracks
    qlabels = labels if queries is None else labels[queries]
    order = np.argsort(-s, axis=1, kind="stable")[:, : n - 1]
    rel = labels[order] == qlabels[:, None]
    nrel = rel.sum(1)
    keep = nrel > 0
    p = rel[:, :k].sum(1) / min(k, n - 1)
    ap = (rel * np.cumsum(rel, 1) / np.arange(1, n)).sum(1) / np.maximum(nrel, 1)
    return float(p[keep].mean()), float(ap[keep].mean())


def query_precision(sim: np.ndarray, labels: np.ndarray, k: int = 10) -> np.ndarray:
    """Each query's precision@k."""
    top = np.argsort(-_others(sim), axis=1, kind="stable")[:, :k]
    return (labels[top] == labels[:, None]).mean(1)


def paired_interval(diff: np.ndarray, labels: np.ndarray, rounds: int = 2000) -> tuple[float, float]:
    """95% interval of the mean of per-query differences, resampling whole groups (a group's queries
    share its music, so they are not independent)."""
    groups = np.unique(labels)
    sums = np.array([diff[labels == g].sum() for g in groups])
    counts = np.array([(labels == g).sum() for g in groups])
    pick = np.random.default_rng(0).integers(0, len(groups), size=(rounds, len(groups)))
    means = sums[pick].sum(1) / counts[pick].sum(1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


def folds_of(labels: np.ndarray, folds: int, seed: int = 0) -> list[np.ndarray]:
    """Boolean masks of ``folds`` folds of groups (each group whole in one fold)."""
    groups = np.array(sorted(set(labels.tolist())))
    np.random.default_rng(seed).shuffle(groups)
    return [np.isin(labels, groups[i::folds]) for i in range(folds)]


def learn_weights(
    cos: Mapping[str, np.ndarray],
    labels: np.ndarray,
    rows: np.ndarray,
    members: Sequence[str],
    hub: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[dict[str, float], tuple[float, float]]:
    """The grid weights with the best (precision@10, mAP) among ``rows``; ties keep the first found."""
    sub = {m: cos[m][np.ix_(rows, rows)] for m in members}
    best, best_p, seen = None, (-1.0, -1.0), set()
    equal = (1.0,) * len(members)  # first, so a tie keeps equal weights
    for combo in [equal, *itertools.product(GRID, repeat=len(members))]:
        direction = tuple(np.round(np.array(combo) / max(max(combo), 1e-9), 6))
        if not any(combo) or direction in seen:  # a fusion is scale-free: (1, 1) ranks as (2, 2)
            continue
        seen.add(direction)
        w = dict(zip(members, combo, strict=True))
        sim = fuse(sub, w)
        p = scores(hub(sim) if hub else sim, labels[rows])
        if p > best_p:
            best, best_p = w, p
    return best, best_p


def cross_validate(
    cos: Mapping[str, np.ndarray],
    labels: np.ndarray,
    members: Sequence[str],
    folds: int,
    hub: Callable[[np.ndarray], np.ndarray] | None = None,
) -> dict:
    """Held-out (precision@10, mAP) of learnt weights and of ``FUSION``'s: the weights are picked among
    the other folds' tracks only; each fold's tracks then query the whole collection."""
    learnt, shipped, chosen = [], [], []
    for mask in folds_of(labels, folds):
        w, _ = learn_weights(cos, labels, np.flatnonzero(~mask), members, hub)
        for weights, out in ((w, learnt), (dict(FUSION), shipped)):
            sim = fuse(cos, weights)
            out.append(scores(hub(sim) if hub else sim, labels, queries=np.flatnonzero(mask)))
        chosen.append(w)
    n = [int(m.sum()) for m in folds_of(labels, folds)]

    def pooled(xs: list[tuple[float, float]]) -> list[float]:
        return [round(float(np.average([x[i] for x in xs], weights=n)), 4) for i in (0, 1)]

    return {"learnt": pooled(learnt), "shipped": pooled(shipped), "weights": chosen}


# ---- main -----------------------------------------------------------------------------------------------
def score(args: argparse.Namespace) -> dict:
    rows = read_labels(args.labels)
    lib = Library(args.library)
    catalogued = {t.path for t in lib.tracks()}
    rows = [r for r in rows if r.path in catalogued]
    paths, labels = [r.path for r in rows], np.array([r.group for r in rows])
    members = [m for m in MEMBERS if lib.catalog.vectors(m, EXTRACTORS[m].version)[0].size]
    cos = member_cosines(lib, paths, members)
    result: dict = {"labels": str(args.labels), "clips": len(paths), "groups": len(set(labels)), "models": {}}

    base: list[np.ndarray] = []

    def report(name: str, sim: np.ndarray) -> None:
        p, ap = scores(sim, labels)
        result["models"][name] = [round(p, 4), round(ap, 4)]
        against = ""
        if base:  # set once ``fused`` is scored
            lo, hi = paired_interval(query_precision(sim, labels) - base[0], labels)
            against = f"   [{lo:+.3f}, {hi:+.3f}]"
            result["models"][name].append([round(lo, 4), round(hi, 4)])
        print(f"{name:<52} {p:7.3f} {ap:7.3f}{against}", flush=True)

    print(f"{len(paths)} clips, {len(set(labels))} groups (chance {_chance(labels):.3f})")
    print("last column: 95% interval of the P@10 difference from fused (bootstrap over groups)")
    print(f"{'model':<52} {'P@10':>7} {'mAP':>7}")
    for m in members:
        report(m, cos[m])
    fused = fuse(cos, FUSION)
    report("fused (" + "+".join(FUSION) + ")", fused)
    base.append(query_precision(fused, labels))
    extra = [dict(FUSION, **{"musicnn-tags": 1.0}), dict(FUSION, cnn=1.0), {m: 1.0 for m in members}]
    extra += [_parse_weights(w) for w in args.weights]
    for w in extra:
        if set(w) <= set(members):
            report("+".join(f"{m}*{v:g}" for m, v in w.items() if v), fuse(cos, w))
    for k in (5, 10, 20):
        for alpha in (0.5, 1.0):
            report(f"fused, CSLS k={k} alpha={alpha}", csls(fused, k, alpha))
        report(f"fused, local scaling k={k}", local_scaling(fused, k))
    report("fused, mutual proximity (Gaussian)", mutual_proximity(fused))
    report("fused, mutual proximity (empirical)", empirical_mp(fused))
    shipped = [m for m in FUSION if FUSION[m]]
    report("members' mutual proximity, averaged", np.mean([mutual_proximity(cos[m]) for m in shipped], 0))
    report("members' CSLS k=10 alpha=0.5, averaged", np.mean([csls(cos[m], 10, 0.5) for m in shipped], 0))
    report("rank fusion (members' percentiles, averaged)", np.mean([percentiles(cos[m]) for m in shipped], 0))
    for k in (1, 2, 3, 5):
        report(f"fused, query expansion k={k}", query_expansion(fused, k))
    if args.folds:
        for name, hub in (("", None), (", CSLS k=10 alpha=0.5", lambda s: csls(s, 10, 0.5))):
            cv = cross_validate(cos, labels, [m for m in LEARNT if m in members], args.folds, hub)
            result[f"cv{name}"] = cv
            print(f"cross-validated by group{name} ({args.folds} folds): learnt weights P@10/mAP {cv['learnt']}, "
                  f"shipped {cv['shipped']}")  # fmt: skip
            for w in cv["weights"]:
                print("   fold weights:", {m: v for m, v in w.items() if v})
    if args.fit:
        for name, hub in (("", None), (", CSLS k=10 alpha=0.5", lambda s: csls(s, 10, 0.5))):
            learnt = [m for m in LEARNT if m in members]
            w, (p, ap) = learn_weights(cos, labels, np.arange(len(labels)), learnt, hub)
            result[f"fit{name}"] = {"weights": w, "scores": [round(p, 4), round(ap, 4)]}
            print(f"weights fitted on all of it{name}: {w} (P@10 {p:.3f}, mAP {ap:.3f}: not held out)")
    print(json.dumps(result))
    return result


def _chance(labels: np.ndarray) -> float:
    _, counts = np.unique(labels, return_counts=True)
    return float((counts * (counts - 1)).sum() / (len(labels) * (len(labels) - 1)))


def _parse_weights(text: str) -> dict[str, float]:
    return {m: float(v) for m, v in (part.split("=") for part in text.split(","))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("clips", help="30-s clips of the corpus and their labels by package")
    c.add_argument("--corpus", type=Path, default=Path("/work/corpus"))
    c.add_argument("--out", type=Path, default=Path("/work/fusion-clips"))
    c.add_argument("--cap", type=int, default=25, help="clips per package at most")
    c.add_argument("--min", type=int, default=11, help="packages with fewer tracks are left out")
    c.add_argument("--packages", default="", help="only these packages (comma-separated; default: all)")
    c.add_argument("--kind", default="", choices=("", "recorded", "module", "midi"), help="only this kind")
    c.add_argument(
        "--untrained-by", type=Path, help="leave out the packages a training run on this manifest trains on"
    )
    s = sub.add_parser("score", help="score fusions, hub reductions and learnt weights")
    s.add_argument("--library", type=Path, required=True)
    s.add_argument("--labels", type=Path, required=True)
    s.add_argument("--folds", type=int, default=0, help="cross-validate learnt weights over folds of groups")
    s.add_argument("--weights", action="append", default=[], help="another fusion: name=w,name=w")
    s.add_argument("--fit", action="store_true", help="pick the weights on the whole collection")
    args = parser.parse_args()
    if args.command == "clips":
        packages = [p for p in args.packages.split(",") if p]
        n = make_clips(
            args.corpus,
            args.out,
            cap=args.cap,
            least=args.min,
            packages=packages,
            kind=args.kind,
            untrained_by=args.untrained_by,
        )
        print(f"{n} clips -> {args.out / 'labels.csv'}")
    else:
        score(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
