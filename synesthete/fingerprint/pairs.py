"""The inner loops of voting, compiled (numba): gathering postings, and joining them to a query's landmarks.

At 10^4 tracks a 5-s query's hashes have ~10^5 postings (~1.5 x 10^5 votes), and numpy needed a dozen
passes over arrays that size (repeats, gathers, a sort of every vote) to find the few (fingerprint,
offset) pairs that more than one vote agrees on. Here the join counts, then keeps, and never sorts. A
sketch of a byte per count cut numpy's CPU to a third; counts of 2 bits in two stages, reading the
index's packed postings as they are, took it from 7.2 to 3.1 ms a lookup (83 lookups captured at 10^4
tracks, the uncatalogued 5-s excerpts of ``bench/identify.py``; load 16, noisy). Imported by the first
lookup: a server that never identifies never loads numba. Compiled once (``cache=True``).
"""

from __future__ import annotations

import numba
import numpy as np

GOLDEN = -7046029254386353131  # 2^64 / golden ratio as an int64: a multiplicative hash's factor
OTHER = -4417276706812531889  # another odd factor (0xC2B2AE3D27D4EB4F), for the second table
LOW = np.uint64(0xFFFFFFFF)  # a posting's frame bits (``fp_id << 32 | frame``)
ONE = np.uint64(1)


@numba.njit(cache=True, nogil=True)
def copy_runs(source, lo, n, out, at):  # pragma: no cover (compiled)
    """Copy ``n[i]`` items of ``source`` from ``lo[i]``, for each i, into ``out`` from ``at``; the end.

    Slices, not a gather by an index array: no index of 10^5 positions built, read and thrown away.
    """
    for i in range(lo.size):
        out[at : at + n[i]] = source[lo[i] : lo[i] + n[i]]
        at += n[i]
    return at


@numba.njit(inline="always")
def _slot(cell, factor, shift, mask):  # pragma: no cover (compiled)
    """A cell's slot in a table of ``mask + 1`` slots: a multiplicative hash's top bits."""
    return ((cell * factor) >> shift) & mask


@numba.njit(inline="always")
def _seen(table, slot, level):  # pragma: no cover (compiled)
    """Whether ``slot`` was counted more than ``level`` (0 or 1) times: bit ``2 * slot + level``."""
    return (table[slot >> 5] >> np.uint64(((slot & 31) << 1) + level)) & ONE


@numba.njit(inline="always")
def _count(table, slot):  # pragma: no cover (compiled)
    """Once more at ``slot``: its twice bit takes its once bit, its once bit is set (32 slots a word)."""
    w, b = slot >> 5, np.uint64((slot & 31) << 1)
    x = table[w]
    table[w] = x | ((x >> b & ONE) << (b + ONE)) | (ONE << b)


@numba.njit(inline="always")
def _crowded(table, key, factor, shift, mask, cell_bits, reach):  # pragma: no cover (compiled)
    """Whether a counted vote's cells (its own and the other within ``reach``) hold another vote: its own
    cell twice, or the other once. Collisions only overcount."""
    own = key >> cell_bits
    first = (key - reach) >> cell_bits
    other = first + 1 if own == first else first
    if _seen(table, _slot(own, factor, shift, mask), 1):
        return True
    return _seen(table, _slot(other, factor, shift, mask), 0) == ONE


@numba.njit(inline="always")
def _table(n, load):  # pragma: no cover (compiled)
    """An empty table of at least ``load * n`` 2-bit slots; its mask and shift (``_slot``)."""
    bits = 12
    while (1 << bits) < load * n:
        bits += 1
    return np.zeros(1 << (bits - 5), np.uint64), (1 << bits) - 1, 64 - bits


@numba.njit(cache=True, nogil=True)
def crowded_pairs(run_hashes, run_sizes, postings, qh, qt, qg, group_bits, lead, reach):  # pragma: no cover
    """The votes (pair key, query landmark) of postings joined to the query landmarks (qh sorted, qt, qg)
    of the same hash, in posting order. Postings (``fp_id << 32 | frame``, uint64) come in runs of one
    hash: ``run_sizes[i]`` of ``run_hashes[i]``, then the next.

    A pair key is ``(fp << group_bits | group) << 32 | offset + 2**31``. Kept: offsets of at least
    ``-lead``, and every vote with another vote of its (fingerprint, group) within ``reach`` frames: a
    vote alone there only makes pools of one, which never count, and chance leaves nearly all of a big
    collection's votes so alone. Votes are counted per cell of at least ``2 * reach`` offsets (a vote's
    neighbourhood lies in two cells), without a sort of them all; a vote with company anywhere in those
    cells, or whose cells' counts collide with others', is kept too: its pools of one are dropped later.

    The counts are two tables of 2-bit saturating counts (once, twice), 32 a word so that they stay in
    the core's own cache, each with its own hash of the cell. Every vote is counted in the first; only
    the votes it finds crowded (a fifth) are kept and counted in the second, which keeps those it finds
    crowded too: a vote with a real neighbour has it among the first's survivors. The join is run twice
    (count, then keep) rather than its ~1.5 x 10^5 votes stored between: only the survivors are written.
    """
    q_lo = np.searchsorted(qh, run_hashes, "left")  # one search per run of one hash
    q_hi = np.searchsorted(qh, run_hashes, "right")
    total = 0
    for r in range(run_sizes.size):
        total += run_sizes[r] * (q_hi[r] - q_lo[r])
    cell_bits = 0
    while (1 << cell_bits) < 2 * reach:
        cell_bits += 1
    first, mask, shift = _table(total, 8)
    keys = np.empty(total, np.int64)
    cols = np.empty(total, np.int64)
    m = 0
    for counting in (True, False):
        i = 0
        for r in range(run_sizes.size):
            for p in postings[i : i + run_sizes[r]]:
                fp, t = np.int64(p >> np.uint64(32)), np.int64(p & LOW)
                for j in range(q_lo[r], q_hi[r]):
                    offset = t - qt[j]
                    if offset >= -lead:
                        key = (((fp << group_bits) | qg[j]) << 32) | (offset + (1 << 31))
                        if counting:
                            _count(first, _slot(key >> cell_bits, GOLDEN, shift, mask))
                        elif _crowded(first, key, GOLDEN, shift, mask, cell_bits, reach):
                            keys[m] = key
                            cols[m] = j
                            m += 1
            i += run_sizes[r]
    second, mask, shift = _table(m, 16)
    for p in range(m):
        _count(second, _slot(keys[p] >> cell_bits, OTHER, shift, mask))
    kept = 0
    for p in range(m):
        if _crowded(second, keys[p], OTHER, shift, mask, cell_bits, reach):
            keys[kept] = keys[p]
            cols[kept] = cols[p]
            kept += 1
    return keys[:kept], cols[:kept]
