"""The inner loop of voting, compiled (numba): joining a query's landmarks to the index's postings.

At 10^4 tracks a 5-s query's hashes have ~10^5 postings, and numpy needed a dozen passes over arrays that
size (repeats, gathers, a sort of every vote) to find the few (fingerprint, offset) pairs that more than
one vote agrees on. This is one pass to join and count, one to keep: measured on 34 lookups captured at
10^4 tracks, the same candidates bit for bit at a third of the CPU (load 8, noisy). Imported by the first
``vote``: a server that never identifies never loads numba. Compiled once (``cache=True``).
"""

from __future__ import annotations

import numba
import numpy as np

GOLDEN = -7046029254386353131  # 2^64 / golden ratio as an int64: a multiplicative hash's factor
OTHER = -4417276706812531889  # another odd factor (0xC2B2AE3D27D4EB4F), for the second table


@numba.njit(cache=True, nogil=True)
def crowded_pairs(h, fp, t, qh, qt, qg, group_bits, lead, reach):  # pragma: no cover (compiled)
    """The votes (pair key, query landmark) of postings (h, fp, t: runs of one hash) joined to the query
    landmarks (qh sorted, qt, qg) of the same hash, in posting order.

    A pair key is ``(fp << group_bits | group) << 32 | offset + 2**31``. Kept: offsets of at least
    ``-lead``, and every vote with another vote of its (fingerprint, group) within ``reach`` frames: a
    vote alone there only makes pools of one, which never count, and chance leaves nearly all of a big
    collection's votes so alone. Votes are counted per cell of at least ``2 * reach`` offsets (a vote's
    neighbourhood lies in two cells), without a sort of them all; a vote with company anywhere in those
    cells, or whose cells' counts collide with others', is kept too: its pools of one are dropped later.
    """
    lo = np.empty(h.size, np.int64)
    hi = np.empty(h.size, np.int64)
    total = 0
    for i in range(h.size):
        if i > 0 and h[i] == h[i - 1]:
            lo[i], hi[i] = lo[i - 1], hi[i - 1]
        else:  # one search per run of one hash
            lo[i] = np.searchsorted(qh, h[i], "left")
            hi[i] = np.searchsorted(qh, h[i], "right")
        total += hi[i] - lo[i]
    keys = np.empty(total, np.int64)
    cols = np.empty(total, np.int64)
    m = 0
    for i in range(h.size):
        for j in range(lo[i], hi[i]):
            offset = t[i] - qt[j]
            if offset >= -lead:
                keys[m] = (((fp[i] << group_bits) | qg[j]) << 32) | (offset + (1 << 31))
                cols[m] = j
                m += 1
    # Votes per cell in a count-min sketch: two small tables of saturating counts, each cell hashed into
    # both; a cell's count is the smaller. Collisions only overcount (a lonely vote kept now and then,
    # dropped later); the tables stay in cache, which a table of exact keys did not.
    bits = 16
    while (1 << bits) < 8 * m:
        bits += 1
    mask, shift = (1 << bits) - 1, 64 - bits
    cell_bits = 0
    while (1 << cell_bits) < 2 * reach:
        cell_bits += 1
    one = np.zeros(1 << bits, np.uint8)
    two = np.zeros(1 << bits, np.uint8)
    for p in range(m):
        c = keys[p] >> cell_bits
        s1, s2 = ((c * GOLDEN) >> shift) & mask, ((c * OTHER) >> shift) & mask
        one[s1] = min(one[s1] + 1, 2)
        two[s2] = min(two[s2] + 1, 2)
    kept = 0
    for p in range(m):
        c = (keys[p] - reach) >> cell_bits
        s1, s2 = ((c * GOLDEN) >> shift) & mask, ((c * OTHER) >> shift) & mask
        near = min(one[s1], two[s2])
        s1, s2 = (((c + 1) * GOLDEN) >> shift) & mask, (((c + 1) * OTHER) >> shift) & mask
        near += min(one[s1], two[s2])
        if near >= 2:
            keys[kept] = keys[p]
            cols[kept] = cols[p]
            kept += 1
    return keys[:kept], cols[:kept]
