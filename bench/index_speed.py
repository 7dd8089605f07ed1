"""Build time, query latency, recall@10 and memory of the nearest-neighbour indexes.

Each (size, method) runs in a fresh subprocess so that its memory figure is not polluted by the
previous one. Vectors are clustered Gaussian data (256-d by default), the queries are fresh draws from
the same clusters, and recall@10 is measured against brute-force cosine search on the same vectors.

    python bench/index_speed.py                          # 10^4 and 10^5, exact and hnsw
    python bench/index_speed.py --sizes 1000000
    python bench/index_speed.py --methods exact,faiss,usearch-f32,usearch-f16   # library comparison

``exact`` and ``hnsw`` are synesthete's own ``ExactIndex`` and ``HNSWIndex``; ``faiss``, ``usearch-f32``
and ``usearch-f16`` drive the libraries directly with ``--m/--ef-construction/--ef-search``, to choose
between them (usearch is no longer a dependency: `pip install usearch==2.26.6` to rerun that comparison).
The last line printed is one JSON document with every row.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np

K = 10


def clustered(n: int, d: int, *, seed: int, n_clusters: int, spread: float) -> np.ndarray:
    """``n`` float32 vectors drawn around ``n_clusters`` Gaussian centres (centres fixed by ``seed``)."""
    centres = np.random.default_rng(seed).standard_normal((n_clusters, d), dtype=np.float32)
    rng = np.random.default_rng([seed, n])
    out = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 100_000):  # chunks keep the float temporaries small at 10^6
        stop = min(start + 100_000, n)
        labels = rng.integers(n_clusters, size=stop - start)
        out[start:stop] = centres[labels]
        out[start:stop] += spread * rng.standard_normal((stop - start, d), dtype=np.float32)
    return out


def _rss() -> tuple[int, int]:
    """(current, peak) resident set size in bytes, from /proc."""
    fields = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) * 1024
    return fields["VmRSS"], fields["VmHWM"]


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
    except OSError:
        pass


def _exact_top(base: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Brute-force top-k ids by cosine, the ground truth for recall."""
    b = base / np.maximum(np.linalg.norm(base, axis=1, keepdims=True), 1e-30)
    q = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-30)
    top = np.empty((len(q), k), dtype=np.int64)
    for s in range(0, len(q), 64):
        scores = q[s : s + 64] @ b.T
        part = np.argpartition(-scores, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1)
        top[s : s + 64] = np.take_along_axis(part, order, axis=1)
    return top


def _raw_faiss(vectors: np.ndarray, args: argparse.Namespace) -> Callable[[np.ndarray], np.ndarray]:
    import faiss

    faiss.omp_set_num_threads(os.cpu_count() or 1)
    x = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-30)
    index = faiss.IndexHNSWFlat(x.shape[1], args.m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = args.ef_construction
    index.add(x)
    index.hnsw.efSearch = args.ef_search
    faiss.omp_set_num_threads(1)  # one query at a time: OpenMP threads only add overhead

    def query(q: np.ndarray) -> np.ndarray:
        q = (q / max(float(np.linalg.norm(q)), 1e-30))[None, :]
        return index.search(q, K)[1][0]

    return query


def _raw_usearch(dtype: str) -> Callable:
    def build(vectors: np.ndarray, args: argparse.Namespace) -> Callable[[np.ndarray], np.ndarray]:
        from usearch.index import Index

        index = Index(
            ndim=vectors.shape[1],
            metric="cos",
            dtype=dtype,
            connectivity=args.m,
            expansion_add=args.ef_construction,
            expansion_search=args.ef_search,
        )
        index.add(np.arange(len(vectors), dtype=np.uint64), vectors)

        def query(q: np.ndarray) -> np.ndarray:
            return index.search(q, K, threads=1).keys.astype(np.int64)

        return query

    return build


def _ours(kind: str) -> Callable:
    def build(vectors: np.ndarray, args: argparse.Namespace) -> Callable[[np.ndarray], np.ndarray]:
        ids = np.arange(len(vectors), dtype=np.int64)
        if kind == "exact":
            from synesthete.index.exact import ExactIndex

            index = ExactIndex(vectors.shape[1])
        else:
            from synesthete.index.hnsw import HNSWIndex

            index = HNSWIndex(
                vectors.shape[1], ef_search=args.ef_search, m=args.m, ef_construction=args.ef_construction
            )
        index.add(ids, vectors)
        return lambda q: index.query(q, K)[0]

    return build


BUILDERS = {
    "exact": _ours("exact"),
    "hnsw": _ours("hnsw"),
    "faiss": _raw_faiss,
    "usearch-f32": _raw_usearch("f32"),
    "usearch-f16": _raw_usearch("f16"),
}

IMPORTS = {
    "exact": ["synesthete.index.exact"],
    "hnsw": ["synesthete.index.hnsw"],
    "faiss": ["faiss"],
    "usearch-f32": ["usearch.index"],
    "usearch-f16": ["usearch.index"],
}


def run_one(n: int, method: str, args: argparse.Namespace) -> dict:
    """Measure one method at one size, in this process."""
    n_clusters = max(10, round(n**0.5))  # clusters grow with the collection, as styles do
    base = clustered(n, args.dim, seed=args.seed, n_clusters=n_clusters, spread=args.spread)
    queries = clustered(args.queries, args.dim, seed=args.seed, n_clusters=n_clusters, spread=args.spread)
    for module in IMPORTS.get(method, ()):  # import before measuring: library load is not build time
        importlib.import_module(module)
    _reset_peak()
    rss0, _ = _rss()
    t0 = time.perf_counter()
    query = BUILDERS[method](base, args)
    build_s = time.perf_counter() - t0
    rss1, peak = _rss()

    for q in queries[:10]:  # warm-up: page in, let BLAS spin up its threads
        query(q)
    found, lat = [], []
    for q in queries:
        t = time.perf_counter()
        found.append(query(q))
        lat.append(time.perf_counter() - t)
    truth = _exact_top(base, queries, K)
    recall = np.mean(
        [len(set(f[:K].tolist()) & set(t.tolist())) / K for f, t in zip(found, truth, strict=True)]
    )
    lat_ms = np.array(lat) * 1e3
    return {
        "n": n,
        "dim": args.dim,
        "method": method,
        "params": None
        if method == "exact"
        else {"m": args.m, "ef_construction": args.ef_construction, "ef_search": args.ef_search},
        "build_s": round(build_s, 3),
        "query_p50_ms": round(float(np.percentile(lat_ms, 50)), 3),
        "query_mean_ms": round(float(lat_ms.mean()), 3),
        "query_p99_ms": round(float(np.percentile(lat_ms, 99)), 3),
        "recall_at_10": round(float(recall), 4),
        "rss_delta_mb": round((rss1 - rss0) / 2**20, 1),
        "peak_delta_mb": round((peak - rss0) / 2**20, 1),
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--sizes",
        type=lambda s: [int(float(x)) for x in s.split(",")],
        default=[10_000, 100_000],
        help="comma-separated index sizes, e.g. 1e4,1e5,1e6",
    )
    p.add_argument("--methods", default="exact,hnsw", help=f"comma-separated, from {','.join(BUILDERS)}")
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--spread", type=float, default=1.0, help="within-cluster std (centres have std 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--m", type=int, default=None, help="HNSW links per node (default: HNSWIndex's)")
    p.add_argument("--ef-construction", type=int, default=None)
    p.add_argument("--ef-search", type=int, default=None)
    p.add_argument("--worker", nargs=2, metavar=("N", "METHOD"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    from synesthete.index.hnsw import DEFAULT_EF_CONSTRUCTION, DEFAULT_EF_SEARCH, DEFAULT_M

    args.m = args.m or DEFAULT_M
    args.ef_construction = args.ef_construction or DEFAULT_EF_CONSTRUCTION
    args.ef_search = args.ef_search or DEFAULT_EF_SEARCH

    if args.worker:
        print(json.dumps(run_one(int(args.worker[0]), args.worker[1], args)))
        return

    passthrough = [a for a in sys.argv[1:] if a]  # the same options, for each worker
    rows = []
    header = f"{'n':>9} {'method':<12} {'build s':>8} {'p50 ms':>8} {'mean ms':>8} {'recall@10':>9} {'RSS MB':>8} {'peak MB':>8}"
    print(header, flush=True)
    for n in args.sizes:
        for method in args.methods.split(","):
            out = subprocess.run(
                [sys.executable, __file__, *passthrough, "--worker", str(n), method],
                capture_output=True,
                text=True,
                check=True,
            )
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(
                f"{n:>9} {method:<12} {row['build_s']:>8.2f} {row['query_p50_ms']:>8.3f} {row['query_mean_ms']:>8.3f}"
                f" {row['recall_at_10']:>9.4f} {row['rss_delta_mb']:>8.1f} {row['peak_delta_mb']:>8.1f}",
                flush=True,
            )
    print(json.dumps({"benchmark": "index_speed", "rows": rows}))


if __name__ == "__main__":
    main()
