"""Orders that flow: tracks arranged so that each step goes to a similar one, and how smooth a path is.

Used wherever tracks are put in play order: ``playlist order`` and ``extend``, each cluster, journeys and
drifts (their smoothness). Steps are cosine distances (1 - cosine) between unit vectors.
"""

from __future__ import annotations

import numpy as np

from synesthete.index import normalize


def step_distances(u: np.ndarray) -> np.ndarray:
    """Cosine distance (1 - cosine) between consecutive unit rows: how far each step of a path jumps."""
    if len(u) < 2:
        return np.zeros(0)
    return np.clip(1.0 - np.einsum("ij,ij->i", u[:-1], u[1:]), 0.0, 2.0)


def smooth_order(u: np.ndarray, *, start: int | None = None, max_passes: int = 50) -> list[int]:
    """An order of the rows of ``u`` (unit vectors) with small steps: nearest neighbour, then 2-opt.

    The path is open: without ``start`` it begins at the most outlying track (the one least like the
    set's centre), so the playlist goes from one edge of the set to the other instead of out and back.
    """
    m = len(u)
    if m <= 2:
        return list(range(m)) if start in (None, 0) else [start, 1 - start]
    d = np.clip(1.0 - u @ u.T, 0.0, 2.0).astype(np.float64)
    if start is None:
        centre = normalize(u.mean(axis=0, keepdims=True))[0]
        start = int(np.argmin(u @ centre))
    path = [start]
    free = np.ones(m, dtype=bool)
    free[start] = False
    for _ in range(m - 1):
        row = np.where(free, d[path[-1]], np.inf)
        nxt = int(np.argmin(row))
        path.append(nxt)
        free[nxt] = False
    return two_opt(path, d, max_passes=max_passes)


def two_opt(path: list[int], d: np.ndarray, *, max_passes: int = 50) -> list[int]:
    """Improve an open path with a fixed first stop by reversing segments while that shortens it."""
    p = np.array(path, dtype=np.int64)
    m = len(p)
    for _ in range(max_passes):
        improved = False
        for i in range(1, m - 1):
            a, b = p[i - 1], p[i]
            c = p[i + 1 :]  # candidate segment ends j = i+1 .. m-1
            nxt = np.append(p[i + 2 :], -1)  # the stop after each j (-1: j is the last stop)
            after = np.where(nxt >= 0, d[c, np.maximum(nxt, 0)], 0.0)
            new_after = np.where(nxt >= 0, d[b, np.maximum(nxt, 0)], 0.0)
            delta = d[a, c] + new_after - d[a, b] - after
            j = int(np.argmin(delta))
            if delta[j] < -1e-9:
                j += i + 1
                p[i : j + 1] = p[i : j + 1][::-1].copy()
                improved = True
        if not improved:
            break
    return p.tolist()


def path_smoothness(u: np.ndarray) -> dict[str, float]:
    """Mean and largest step (cosine distance) along rows of ``u`` in order."""
    steps = step_distances(u)
    if len(steps) == 0:
        return {"mean_step": 0.0, "max_step": 0.0}
    return {"mean_step": float(steps.mean()), "max_step": float(steps.max())}
