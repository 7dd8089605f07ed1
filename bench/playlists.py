"""Playlists: journey smoothness against baselines, radio group share, and latency at 10^4 tracks.

    .venv/bin/python bench/playlists.py [--labels ../shared/data/dev/labels.csv] [--library DIR]
                                        [--journeys 30] [--size 10000]

On the labelled folder (scanned into a temporary library unless ``--library`` names one to reuse):
* journeys of 12 between tracks of different groups, per method, against a greedy nearest-neighbour
  chain and random paths between the same ends: mean and largest step (cosine distance), averaged;
* radio: the seed's group share among its 10 and 20 picks, every labelled track a seed, against the
  model's precision@10 and @20 (a radio of 20 cannot beat P@10 when groups hold fewer than 21 tracks).
Then a catalog of ``--size`` synthetic clustered vectors (as bench/library_speed.py) times radio of 20,
journey of 12 and drift of 10 through ``Library``: warm calls, median wall and CPU time.
Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from synesthete import Library
from synesthete.recommend import journey as J
from synesthete.recommend.geometry import unit_vectors
from synesthete.recommend.ordering import path_smoothness

sys.path.insert(0, str(Path(__file__).parent))
from library_speed import fill

DEFAULT_LABELS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dev" / "labels.csv"


def read_labels(path: Path) -> dict[str, str]:
    with open(path, newline="") as fh:
        return {str((path.parent / row["path"]).resolve()): row["group"] for row in csv.DictReader(fh)}


def journeys(lib: Library, group: dict[int, str], count: int, n: int = 12) -> dict:
    """Mean of (mean step, largest step) over ``count`` journeys between different groups."""
    space = lib.space()
    u = unit_vectors(space)
    rows = {int(t): r for r, t in enumerate(space.ids.tolist())}
    ids = [i for i in group if i in rows]
    rng = np.random.default_rng(0)
    pairs: list[tuple[int, int]] = []
    while len(pairs) < count:
        a, b = (int(x) for x in rng.choice(ids, 2, replace=False))
        if group[a] != group[b]:
            pairs.append((a, b))
    out: dict[str, dict] = {}
    paths: dict[str, list[list[int]]] = {m: [] for m in (*J.METHODS, "greedy_chain", "random_path")}
    for a, b in pairs:
        for method in J.METHODS:
            p = lib.journey(a, b, n, method=method, model=None)
            assert p.ids[0] == a and p.ids[-1] == b and len(set(p.ids)) == n, (a, b, method)
            paths[method].append([rows[i] for i in p.ids])
        paths["greedy_chain"].append(J.greedy_chain(u, rows[a], rows[b], n))
        paths["random_path"].append(J.random_path(u, rows[a], rows[b], n, rng))
    for name, ps in paths.items():
        s = np.array([[path_smoothness(u[p])["mean_step"], path_smoothness(u[p])["max_step"]] for p in ps])
        out[name] = {"mean_step": float(s[:, 0].mean()), "max_step": float(s[:, 1].mean())}
    return out


def radio_share(lib: Library, group: dict[int, str], n: int) -> dict:
    shares = [np.mean([group.get(t.id) == g for t in lib.radio([i], n)]) for i, g in group.items()]
    return {"share": float(np.mean(shares)), "at_least_0.25": float(np.mean(np.array(shares) >= 0.25))}


def timed(fn, reps: int) -> dict:
    fn()  # warm: builds the space, compiles nothing, fills caches
    walls, cpus = [], []
    for i in range(reps):
        w, c = time.perf_counter(), time.process_time()
        fn(i)
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return {"wall_ms": 1000 * statistics.median(walls), "cpu_ms": 1000 * statistics.median(cpus)}


def latency(size: int) -> dict:
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp, Library(Path(tmp) / "lib") as lib:
        fill(Path(tmp) / "lib", size, rng)
        lib.space()
        seeds = [int(x) for x in rng.integers(1, size + 1, 40)]
        out = {
            "radio_20": timed(lambda i=0: lib.radio([seeds[i]], 20), 15),
            "journey_12": timed(lambda i=0: lib.journey(seeds[i], seeds[i + 20], 12), 9),
            "drift_10": timed(lambda i=0: lib.drift(seeds[i], "tempo down", 10), 9),
        }
        group = {i: "x" for i in range(1, size + 1)}
        out["smoothness"] = journeys(lib, {i: str(i % 20) for i in list(group)[:2000]}, 10)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, default=DEFAULT_LABELS)
    parser.add_argument("--library", type=Path, default=None, help="reuse this library folder (kept)")
    parser.add_argument("--journeys", type=int, default=30)
    parser.add_argument("--size", type=int, default=10_000)
    args = parser.parse_args()
    labels = read_labels(args.labels)
    doc: dict = {"labels": str(args.labels)}
    with tempfile.TemporaryDirectory() as tmp, Library(args.library or Path(tmp) / "library") as lib:
        lib.scan(sorted({str(Path(p).parent) for p in labels}), progress=True)
        group = {t.id: labels[t.path] for t in lib.tracks() if t.path in labels}
        doc["tracks"] = len(group)
        doc["precision_at_10"] = lib.evaluate(group, k=10)["precision_at_k"]
        doc["precision_at_20"] = lib.evaluate(group, k=20)["precision_at_k"]
        doc["radio_10"] = radio_share(lib, group, 10)
        doc["radio_20"] = radio_share(lib, group, 20)
        doc["journeys"] = journeys(lib, group, args.journeys)
    doc["latency"] = latency(args.size)

    print(f"{args.labels}: {doc['tracks']} tracks")
    print(f"\njourneys of 12 between groups ({args.journeys}), mean over journeys:")
    print(f"  {'path':<14} {'mean step':>10} {'max step':>10}")
    for name, s in doc["journeys"].items():
        print(f"  {name:<14} {s['mean_step']:10.3f} {s['max_step']:10.3f}")
    print("\nradio: the seed's group share (every labelled track a seed)")
    print(f"  radio of 10: {doc['radio_10']['share']:.3f}   precision@10: {doc['precision_at_10']:.3f}")
    print(f"  radio of 20: {doc['radio_20']['share']:.3f}   precision@20: {doc['precision_at_20']:.3f}"
          f"   share >= 0.25 in {100 * doc['radio_20']['at_least_0.25']:.0f} % of radios")  # fmt: skip
    lat = doc["latency"]
    print(f"\nlatency at {args.size} synthetic tracks (warm, median):")
    for name in ("radio_20", "journey_12", "drift_10"):
        print(f"  {name:<11} {lat[name]['wall_ms']:7.1f} ms wall  {lat[name]['cpu_ms']:7.1f} ms CPU")
    print("  journeys there (10, mean/max step): " + ", ".join(
        f"{k} {v['mean_step']:.3f}/{v['max_step']:.3f}" for k, v in lat["smoothness"].items()))  # fmt: skip
    print(json.dumps(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
