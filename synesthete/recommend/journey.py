"""Journeys: from song A to song B in n real tracks, and drifts from a seed in a chosen direction.

A journey gathers the tracks around the arc from A to B on the unit sphere and orders them by how far
along it they lie. Only forward steps are allowed, so every journey heads for B and never repeats a
track. Among those paths with exactly n tracks, two exact dynamic programmes pick the smoothest: the
first finds the smallest possible largest step, the second minimises the sum of squared steps among
paths whose steps stay within 15 % of it, plus how far each stop lies from its even share of the way
(the h-th of n - 2 inner stops near h / (n - 1) along the arc). Without that term a journey between
two distant groups spent most of its tracks inside the first group, where steps are tiny, then made
its one unavoidable jump (on the demo styles, 28 journeys of 12: the inner tracks split 4.1 apart
between the two ends' styles on average, 1.6 with it, for a mean step of 0.284 instead of 0.268).
Methods differ in what else they ask of each stop:

* ``path`` (default): nothing else -- a shortest path with n - 1 edges in the forward neighbour graph;
* ``slerp`` / ``linear``: also stay near evenly spaced points on the arc (spherical interpolation:
  even angles; normalised linear interpolation: the same arc, uneven spacing);
* ``graph``: also stay near the Dijkstra route through the k-nearest-neighbour graph of the tracks
  around the arc, which bends through populated regions instead of crossing an empty middle.

Measured on 30 journeys of 12 between different groups (bench/playlists.py), ``path`` had the smallest
steps; being pulled toward points only made them larger. Step sizes are cosine distances (1 - cosine)
in the search space; ``greedy_chain`` and ``random_path`` are the baselines a journey must beat.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from synesthete.exceptions import ParameterError, UserError
from synesthete.index import normalize
from synesthete.recommend.geometry import (
    NEIGHBOURS,
    Descriptors,
    MappedUnits,
    Units,
    single_threaded,
    unit_rows,
)
from synesthete.recommend.ordering import path_smoothness
from synesthete.recommend.playlist import Picks, check_n
from synesthete.recommend.space import Space

METHODS = ("path", "slerp", "linear", "graph")
DEFAULT_METHOD = "path"
SUM_POWER = 2
BOTTLENECK_SLACK = 0.15  # how much larger than the smallest possible largest step a step may be
POINT_WEIGHT = 0.5  # weight of the distance to a point against the squared steps
GRAPH_K = 10
GRAPH_POOL = 40  # tracks gathered around each point, at least
POOL_SIZE = 600  # tracks gathered around the way, about
SPREAD = 1.0  # weight of each stop's squared distance (in arc position) from its even share of the way


def interpolate(a: np.ndarray, b: np.ndarray, t: np.ndarray, *, method: str = "slerp") -> np.ndarray:
    """Unit points between unit vectors ``a`` and ``b`` at fractions ``t`` (m,), shape (m, d)."""
    t = np.asarray(t, dtype=np.float64)[:, None]
    if method == "linear":
        return normalize((1.0 - t) * a + t * b)
    omega = float(np.arccos(np.clip(a @ b, -1.0, 1.0)))
    if omega < 1e-6:
        return normalize(np.repeat(a[None, :], len(t), axis=0))
    return normalize((np.sin((1.0 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega))


def along_polyline(u: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Points at arclength fractions ``t`` along the path through the rows of ``u``, as unit vectors."""
    seg = np.linalg.norm(np.diff(u, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    if cum[-1] <= 0:
        return np.repeat(u[:1], len(t), axis=0)
    s = np.asarray(t) * cum[-1]
    i = np.clip(np.searchsorted(cum, s, side="right") - 1, 0, len(seg) - 1)
    frac = ((s - cum[i]) / np.maximum(seg[i], 1e-12))[:, None]
    return normalize((1.0 - frac) * u[i] + frac * u[i + 1])


def _graph_route(u_all: Units, a: int, b: int, pool_rows: np.ndarray) -> np.ndarray | None:
    """Rows of the shortest a -> b path (edge cost: squared step) through the k-NN graph of the pool."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra

    pool = np.unique(np.concatenate([[a, b], pool_rows]))
    u = u_all[pool]
    d = np.clip(1.0 - u @ u.T, 0.0, 2.0)
    np.fill_diagonal(d, np.inf)
    k = min(GRAPH_K, len(pool) - 1)
    nbr = np.argpartition(d, k - 1, axis=1)[:, :k]
    src = np.repeat(np.arange(len(pool)), k)
    w = d[src, nbr.ravel()] ** 2 + 1e-9
    g = csr_matrix((w, (src, nbr.ravel())), shape=(len(pool), len(pool)))
    g = g.maximum(g.T)  # symmetric: a neighbour relation either way is an edge
    ia, ib = int(np.searchsorted(pool, a)), int(np.searchsorted(pool, b))
    _, pred = dijkstra(g, indices=ia, return_predecessors=True)
    if pred[ib] < 0:
        return None
    route = [ib]
    while route[-1] != ia:
        route.append(int(pred[route[-1]]))
    return pool[np.array(route[::-1])]


def arc_position(u: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """How far along the arc from ``a`` to ``b`` each row of ``u`` lies, by the angle of its projection
    onto their plane: 0 at ``a``, 1 at ``b``."""
    cos_ab = float(np.clip(a @ b, -1.0, 1.0))
    omega = float(np.arccos(cos_ab))
    e2 = b - cos_ab * a
    norm = float(np.linalg.norm(e2))
    if omega < 1e-6 or norm < 1e-9:
        return np.zeros(len(u))
    return np.arctan2(u @ (e2 / norm), u @ a) / omega


def _walk_dp(
    step: np.ndarray, from_a: np.ndarray, to_b: np.ndarray, near: np.ndarray, *, bottleneck: bool
) -> tuple[float, list[int]]:
    """Best path a -> (len(near) pool stops, forward only) -> b over a pool's step costs.

    Sums the costs (plus ``near``, per hop and stop), or with ``bottleneck`` takes the largest step.
    """
    hops, m = near.shape
    join = np.maximum if bottleneck else np.add
    cost = from_a + near[0]
    cost[m - hops + 1 :] = np.inf  # leave room for the hops still to come
    back = []
    for h in range(1, hops):
        total = join(cost[:, None], step)
        arg = np.argmin(total, axis=0)
        cost = total[arg, np.arange(m)] + near[h]
        back.append(arg)
    end = join(cost, to_b)
    j = int(np.argmin(end))
    if not np.isfinite(end[j]):
        return np.inf, []
    chosen = [j]
    for arg in reversed(back):
        chosen.append(int(arg[chosen[-1]]))
    return float(end[j]), chosen[::-1]


def _shortest_walk(
    u_all: Units, a: int, b: int, pool: np.ndarray, points: np.ndarray, point_weight: float
) -> list[int]:
    """Rows of the smoothest path a -> b through exactly ``len(points)`` pool tracks, moving forward only.

    Forward means further along the arc from a to b (``arc_position``), which makes every path simple
    (distinct tracks) and keeps the journey heading for b. Two exact dynamic programmes over the hops
    (shortest paths with a fixed number of edges in a directed acyclic graph): the first finds the
    smallest possible largest step; the second, among paths whose steps stay within BOTTLENECK_SLACK of
    it, minimises the sum of squared steps plus ``point_weight`` times each track's distance to its point
    plus SPREAD times its squared distance (in arc position) from its even share of the way.
    """
    along = arc_position(u_all[pool], u_all[a], u_all[b])
    sorting = np.argsort(along, kind="stable")
    order, along = pool[sorting], along[sorting]
    u = u_all[order]
    step = np.clip(1.0 - u @ u.T, 0.0, 2.0)
    step[np.tril_indices(len(order))] = np.inf  # forward edges only: i -> j with i < j
    from_a = np.clip(1.0 - u @ u_all[a], 0.0, 2.0)
    to_b = np.clip(1.0 - u @ u_all[b], 0.0, 2.0)
    flat = np.zeros((len(points), len(order)))
    worst, _ = _walk_dp(step, from_a, to_b, flat, bottleneck=True)
    if not np.isfinite(worst):
        raise UserError("the collection is too small for a journey of this length")
    limit = worst * (1.0 + BOTTLENECK_SLACK) + 1e-9
    capped = [np.where(x <= limit, x**SUM_POWER, np.inf) for x in (step, from_a, to_b)]
    near = point_weight * np.clip(1.0 - points @ u.T, 0.0, 2.0)  # (hops, pool)
    even = np.arange(1, len(points) + 1) / (len(points) + 1)  # where the h-th stop would be, evenly
    near += SPREAD * (np.clip(along, 0.0, 1.0)[None, :] - even[:, None]) ** 2
    _, chosen = _walk_dp(*capped, near, bottleneck=False)
    return order[np.array(chosen)].tolist()


def journey_rows(
    u_all: Units,
    a: int,
    b: int,
    n: int,
    *,
    method: str = DEFAULT_METHOD,
    exclude: Sequence[int] = (),
    point_weight: float | None = None,
) -> tuple[list[int], str]:
    """Rows of a journey of ``n`` tracks from row ``a`` to row ``b`` (both included), and the method used.

    ``u_all`` holds (or reads) every track's unit vector; ``exclude`` rows are never visited.
    """
    if method not in METHODS:
        raise ParameterError(f"unknown journey method '{method}'; known: {', '.join(METHODS)}")
    if a == b:
        raise UserError("a journey needs two different tracks")
    inner = n - 2
    if inner == 0:
        return [a, b], method
    allowed = np.ones(len(u_all), dtype=bool)
    allowed[[a, b, *exclude]] = False
    if allowed.sum() < inner:
        raise UserError(f"the collection has {int(allowed.sum()) + 2} tracks: too few for a journey of {n}")
    t = np.arange(1, inner + 1) / (inner + 1)
    used = method
    points = interpolate(u_all[a], u_all[b], t, method="linear" if method == "linear" else "slerp")
    dense = interpolate(u_all[a], u_all[b], np.linspace(0, 1, 2 * inner + 3), method="slerp")
    pool = _nearest(u_all, dense, max(GRAPH_POOL, POOL_SIZE // len(dense)), allowed)
    if method == "graph":
        route = _graph_route(u_all, a, b, pool)
        if route is None or len(route) < 3:
            used = "slerp"
        else:
            points = along_polyline(u_all[route], t)
            pool = np.union1d(pool, _nearest(u_all, points, GRAPH_POOL, allowed))
    if len(pool) < inner:
        pool = np.flatnonzero(allowed)
    if point_weight is None:
        point_weight = 0.0 if method == "path" else POINT_WEIGHT
    return [a, *_shortest_walk(u_all, a, b, pool, points, point_weight), b], used


def _nearest(u_all: Units, points: np.ndarray, k: int, allowed: np.ndarray) -> np.ndarray:
    """The allowed rows among the ``k`` nearest of each point, merged."""
    if isinstance(u_all, MappedUnits):
        return u_all.nearest(points, k, allowed)
    sims = points @ u_all.T
    sims[:, ~allowed] = -np.inf
    k = min(k, int(allowed.sum()))
    near = np.unique(np.argpartition(-sims, k - 1, axis=1)[:, :k])
    return near[allowed[near]]


def greedy_chain(u_all: Units, a: int, b: int, n: int) -> list[int]:
    """Baseline: from ``a``, step n - 2 times to the nearest unused track that is closer to ``b``
    (the nearest unused one when none is), then to ``b``."""
    if isinstance(u_all, MappedUnits):
        return _greedy_chain_mapped(u_all, a, b, n)
    used = np.zeros(len(u_all), dtype=bool)
    used[[a, b]] = True
    to_b = u_all @ u_all[b]
    path, cur = [a], a
    for _ in range(n - 2):
        sim = u_all @ u_all[cur]
        ok = ~used & (to_b > to_b[cur])
        if not ok.any():
            ok = ~used
        cur = int(np.argmax(np.where(ok, sim, -np.inf)))
        used[cur] = True
        path.append(cur)
    return [*path, b]


def _greedy_chain_mapped(u: MappedUnits, a: int, b: int, n: int) -> list[int]:
    """``greedy_chain`` choosing among the index's NEIGHBOURS nearest unused tracks at each step: scoring
    every track at every step would read the whole mapped file n times."""
    target = u[b]
    path, cur = [a], a
    for _ in range(n - 2):
        rows, _ = u.neighbours(cur, NEIGHBOURS, np.array([*path, b]))
        if len(rows) == 0:
            break
        closer = u[rows] @ target > float(u[cur] @ target)
        cur = int(rows[np.argmax(closer)]) if closer.any() else int(rows[0])
        path.append(cur)
    return [*path, b]


def random_path(u_all: Units, a: int, b: int, n: int, rng: np.random.Generator) -> list[int]:
    """Baseline: n - 2 random tracks, ordered by how far along the way from ``a`` to ``b`` they lie."""
    # Row i of the others (every row but a and b, in order), without listing them: their setdiff1d was
    # 15-20 % of a journey's CPU at 10^5 tracks. The same draws, and rows, as choosing from that list.
    lo, hi = sorted((a, b))
    pick = rng.choice(len(u_all) - 2, size=n - 2, replace=False)
    pick = pick + (pick >= lo) + (pick >= hi - 1)
    along = u_all[pick] @ (u_all[b] - u_all[a])
    return [a, *pick[np.argsort(along)].tolist(), b]


@single_threaded
def journey(
    space: Space,
    start: int,
    end: int,
    n: int = 12,
    *,
    method: str = DEFAULT_METHOD,
    compare: bool = True,
) -> Picks:
    """``n`` distinct tracks from track id ``start`` to ``end``; ``info`` holds the smoothness (and the
    baselines')."""
    n = check_n(n)
    if n < 2:
        raise ParameterError("a journey has at least 2 tracks (its two ends)")
    a, b = space.row(start), space.row(end)
    u_all = unit_rows(space)
    rows, used = journey_rows(u_all, a, b, n, method=method)
    info: dict = {"method": used, "smoothness": path_smoothness(u_all[rows])}
    if compare and n > 2:
        rng = np.random.default_rng(0)
        info["baselines"] = {
            "greedy_chain": path_smoothness(u_all[greedy_chain(u_all, a, b, n)]),
            "random_path": path_smoothness(u_all[random_path(u_all, a, b, n, rng)]),
        }
    scores = [float(u_all[r] @ u_all[rows[i - 1]]) if i else None for i, r in enumerate(rows)]
    return Picks(space.ids[rows].tolist(), scores, info)


# ---- drift ------------------------------------------------------------------------------------------
# Each direction moves a combination of descriptors; the first is the one reported per step.
DIRECTIONS: dict[str, tuple[tuple[str, int], ...]] = {
    "tempo up": (("tempo", +1),),
    "tempo down": (("tempo", -1),),
    "energy up": (("energy level", +1),),
    "energy down": (("energy level", -1),),
    "brighter": (("centroid p50", +1),),
    "darker": (("centroid p50", -1),),
    "calmer": (("onset strength mean", -1), ("onset rate", -1), ("energy level", -1)),
    "wilder": (("onset strength mean", +1), ("onset rate", +1), ("energy level", +1)),
    "more major": (("key mode", +1),),
    "more minor": (("key mode", -1),),
}
ALIASES: dict[str, str] = {
    "faster": "tempo up",
    "slower": "tempo down",
    "louder": "energy up",
    "more energy": "energy up",
    "more energetic": "energy up",
    "quieter": "energy down",
    "softer": "energy down",
    "less energy": "energy down",
    "calm": "calmer",
    "calm down": "calmer",
    "more intense": "wilder",
    "brighter sound": "brighter",
    "happier": "more major",
    "sadder": "more minor",
}
UP_WORDS = {"up": +1, "higher": +1, "more": +1, "down": -1, "lower": -1, "less": -1}
MIN_MOVE = 0.05  # standard deviations a step should move at least
PACE = 1.5  # a step moves at most this many times its share of the way left


def parse_direction(text: str, names: Sequence[str]) -> tuple[str, tuple[tuple[str, int], ...]]:
    """A direction from words: a known one ('calmer', 'tempo down'), or '<descriptor> up|down'."""
    key = " ".join(str(text).lower().replace("-", " ").replace("_", " ").split())
    key = ALIASES.get(key, key)
    if key in DIRECTIONS:
        return key, DIRECTIONS[key]
    words = key.rsplit(" ", 1)
    if len(words) == 2 and words[1] in UP_WORDS and words[0] in set(names):
        return key, ((words[0], UP_WORDS[words[1]]),)
    known = ", ".join(sorted(DIRECTIONS) + sorted(ALIASES))
    raise ParameterError(f"unknown direction '{text}'; known: {known}, or '<descriptor> up|down'")


def drift_rows(
    u_all: Units,
    level: np.ndarray,
    start: int,
    steps: int,
    *,
    parts: np.ndarray | None = None,
    exclude: Sequence[int] = (),
) -> list[int]:
    """Rows of ``start`` and up to ``steps`` more, each raising ``level`` (standardised, one per row)
    while staying as close in sound as possible to the previous track; fewer when no track goes further.

    Each step may move at most PACE times its fair share of the way still open (to the furthest unused
    track, split over the steps left), so an early leap does not use up the direction; within that
    window the most similar track wins (on the development clips, PACE 1.5 kept steps closer than 1.2
    and finished more drifts than 2; a bonus for progress only made steps larger). When a direction
    combines descriptors (``parts``: one signed z-score column each), a step that moves none of them
    backwards is preferred to one that trades one against another.
    """
    used = np.zeros(len(u_all), dtype=bool)
    used[[start, *exclude]] = True
    finite = np.isfinite(level)
    path, cur = [start], start
    for left in range(steps, 0, -1):
        free = ~used & finite
        if not free.any():
            break
        gain = level - level[cur]
        room = float(gain[free].max())
        ok = free & (gain > 0)
        window = np.zeros_like(ok)
        if room > 0:
            share = room / left
            window = ok & (gain >= min(MIN_MOVE, share / 2)) & (gain <= max(PACE * share, MIN_MOVE))
        agree = np.all(parts >= parts[cur], axis=1) if parts is not None else ok
        choices = [c for c in (window & agree, window, ok & agree, ok) if c.any()]
        if not choices:  # the far end of the collection: stop rather than turn back
            break
        cur = _most_similar(u_all, cur, choices[0])
        used[cur] = True
        path.append(cur)
    return path


def _most_similar(u_all: Units, row: int, mask: np.ndarray) -> int:
    """The row in ``mask`` (not empty) whose track sounds most like ``row``'s."""
    if isinstance(u_all, MappedUnits):
        return u_all.most_similar(row, mask)
    return int(np.argmax(np.where(mask, u_all @ u_all[row], -np.inf)))


@single_threaded
def drift(space: Space, descriptors: Descriptors, seed: int, direction: str, n: int = 10) -> Picks:
    """``n`` tracks, the seed (a track id) first, each further in ``direction`` ("tempo down", "brighter",
    "calmer"...).

    ``info`` holds each descriptor's values along the way and ``monotone_share``, the share of steps
    in which every descriptor of the direction moved its way (none backwards).
    """
    n = check_n(n)
    if n < 2:
        raise ParameterError("a drift has at least 2 tracks (the seed and one step)")
    name, parts = parse_direction(direction, descriptors.names.tolist())
    start = space.row(seed)
    signed = _signed(space, descriptors, parts)
    level = signed.mean(axis=1)
    level = np.where(np.isnan(level), -np.inf, level)  # tracks without descriptors are never a step forward
    u_all = unit_rows(space)
    rows = drift_rows(u_all, level, start, n - 1, parts=signed if len(parts) > 1 else None)
    ids = space.ids[rows].tolist()
    moves = np.diff(signed[rows], axis=0) >= 0  # (steps, descriptors): moved its way, or held
    moves &= (np.diff(level[rows]) > 0)[:, None]
    info = {
        "direction": name,
        "descriptors": [{"name": d, "sign": s} for d, s in parts],
        "values": {d: descriptors.values(ids, d).tolist() for d, _ in parts},
        "monotone_share": float(moves.all(axis=1).mean()) if len(moves) else 1.0,
        "complete": len(rows) == n,
        "smoothness": path_smoothness(u_all[rows]),
    }
    scores = [float(u_all[r] @ u_all[rows[i - 1]]) if i else None for i, r in enumerate(rows)]
    return Picks(ids, scores, info)


def _signed(space: Space, table: Descriptors, parts: tuple[tuple[str, int], ...]) -> np.ndarray:
    """How far along each descriptor of the direction every track of ``space`` is: its z-score, signed
    so that larger is further (n tracks, descriptors); NaN without descriptors."""
    rows = table.space.rows(space.ids)
    out = np.full((len(space.ids), len(parts)), np.nan)
    ok = rows >= 0
    cols = [table.column(d) for d, _ in parts]
    signs = np.array([s for _, s in parts], dtype=np.float64)
    out[ok] = table.z(rows[ok], cols) * signs
    return out
