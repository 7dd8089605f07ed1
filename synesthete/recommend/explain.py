"""Why two tracks are close: each feature group's share of their similarity, and a few plain words.

The search space is z-scored and weighted, and the score is the cosine of unit vectors, a sum over
dimensions. Summing those terms per group (timbre, tonal, rhythm, loudness; a learned embedding without
named dimensions is one group, named after its model: 'musicnn', 'cnn') splits the score exactly: the
contributions add up to it. The words come from the descriptors themselves, read back in their units:
tempo in BPM, the key from the mean chroma (Krumhansl-Kessler profiles), brightness from the spectral
centroid, energy from the level, percussiveness from the onset strength -- each said only when both
tracks share it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synesthete.features.registry import EXTRACTORS
from synesthete.features.tonal import PITCHES, key_name
from synesthete.index import normalize
from synesthete.library.store import Track
from synesthete.models.metric import LEARNT_GROUP
from synesthete.recommend.geometry import Descriptors, single_threaded
from synesthete.recommend.space import Space

SAME_TEMPO = 0.06  # relative difference under which two tempos are "around" the same
CLEAR = 0.5  # standard deviations from the collection's mean for "bright", "loud"...
TINY = 0.05  # a cosine closer to 0 than this relates two tracks too little to call them close
# (descriptor, what it tells, word above the collection's mean, word below), in the order words are said
TRAITS: tuple[tuple[str, str, str, str], ...] = (
    ("centroid p50", "brightness", "bright", "dark"),
    ("onset strength mean", "percussiveness", "percussive", "smooth"),
    ("energy level", "energy", "loud", "quiet"),
    ("flatness p50", "noisiness", "noisy", "clean"),
)


@dataclass(frozen=True)
class Explanation:
    """How much each feature group adds to a pair's similarity, the facts behind it, and words."""

    query: dict
    result: dict
    model: str
    score: float
    groups: list[dict]
    words: str
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "query": self.query,
            "result": self.result,
            "model": self.model,
            "score": round(self.score, 6),
            "groups": self.groups,
            "words": self.words,
            "facts": self.facts,
        }


def group_shares(a: np.ndarray, b: np.ndarray, groups: np.ndarray) -> list[dict]:
    """Per group: its contribution to the cosine of ``a`` and ``b`` (contributions sum to the cosine),
    its share of the positive contributions, and the cosine of the two vectors within the group."""
    ua, ub = normalize(a), normalize(b)
    names = list(dict.fromkeys(groups.tolist()))
    contrib = np.array([float(ua[groups == g] @ ub[groups == g]) for g in names])
    positive = np.clip(contrib, 0.0, None)
    total = float(positive.sum())
    out = []
    for g, c, p in zip(names, contrib, positive, strict=True):
        sa, sb = a[groups == g], b[groups == g]
        within = float(sa @ sb / max(np.linalg.norm(sa) * np.linalg.norm(sb), 1e-12))
        out.append(
            {
                "group": g,
                "contribution": round(float(c), 6),
                "share": round(float(p / total), 4) if total > 0 else 0.0,
                "similarity": round(within, 4),
            }
        )
    return sorted(out, key=lambda r: -r["contribution"])


def facts(raw: np.ndarray, z: np.ndarray, names: np.ndarray) -> dict[str, Any]:
    """Tempo, key and the traits of one track, from its raw and standardised descriptors."""
    col = {n: i for i, n in enumerate(names.tolist())}
    out: dict[str, Any] = {}
    if "tempo" in col:
        out["tempo_bpm"] = round(float(raw[col["tempo"]]), 1)
    chroma = [col.get(f"chroma {p} mean") for p in PITCHES]
    if all(c is not None for c in chroma):
        out["key"] = key_name(raw[chroma])
    out["traits"] = []
    out["z"] = {}  # standard deviations above (below, negative) the collection's mean
    for name, what, up, down in TRAITS:
        if name in col:
            zz = float(z[col[name]])
            out["z"][what] = round(zz, 2)
            if abs(zz) >= CLEAR:
                out["traits"].append(up if zz > 0 else down)
    return out


def words(fa: dict[str, Any], fb: dict[str, Any], shares: list[dict]) -> str:
    """'both around 120 BPM, A minor, bright and percussive; closest in timbre (48 % of the similarity)',
    or for a dissimilar pair 'no shared tempo, key or trait; far apart (score -0.31): most different in
    rhythm (62 % of the dissimilarity), least in tonal'."""
    parts = []
    ta, tb = fa.get("tempo_bpm"), fb.get("tempo_bpm")
    if ta and tb and abs(ta - tb) <= SAME_TEMPO * (ta + tb) / 2:
        parts.append(f"around {round((ta + tb) / 2):.0f} BPM")
    ka, kb = fa.get("key"), fb.get("key")
    if ka and ka == kb:
        parts.append(ka)
    elif ka and kb and ka.split()[1] == kb.split()[1]:
        parts.append(f"{ka.split()[1]} keys")
    shared = [t for t in fa.get("traits", []) if t in fb.get("traits", [])]
    if shared:
        parts.append(" and ".join([", ".join(shared[:-1]), shared[-1]] if len(shared) > 1 else shared))
    text = "both " + ", ".join(parts) if parts else "no shared tempo, key or trait"
    return text + verdict(shares)


def verdict(shares: list[dict]) -> str:
    """What the score says, in words that agree with its sign: the group adding most to a clear
    similarity, or, for a score near or under zero, the group taking most away (its share of the
    dissimilarity: the negative contributions) and the one least apart."""
    if not shares:
        return ""
    score = sum(g["contribution"] for g in shares)
    if score >= TINY:
        top = shares[0]  # sorted by contribution, largest first
        if len(shares) == 1 or top["share"] <= 0:
            return ""
        return f"; closest in {_group(top)} ({100 * top['share']:.0f} % of the similarity)"
    text = f"; far apart (score {score:.2f})" if score <= -TINY else f"; hardly related (score {score:+.2f})"
    against = [g for g in shares if g["contribution"] < 0]
    if len(shares) == 1 or not against:
        return text
    low = against[-1]  # the most negative
    part = low["contribution"] / sum(g["contribution"] for g in against)
    text += f": most different in {_group(low)} ({100 * part:.0f} % of the dissimilarity)"
    least = shares[0]
    if least is not low:
        text += f", least in {_group(least)}"
    return text


def _group(share: dict) -> str:
    """A group's name in words: a learned embedding is named after its model ("musicnn's embedding"), the
    learnt metric's dimensions (``fused-learnt``) as such."""
    if share["group"] == LEARNT_GROUP:
        return "the learnt metric"
    return f"{share['group']}'s embedding" if share["group"] in EXTRACTORS else share["group"]


@dataclass(frozen=True)
class Query:
    """What is explained against: its vector in the space, its vector in the descriptors' space (None
    without descriptors), and how results name it (``track_id`` None for an outside file)."""

    vector: np.ndarray
    descriptors: np.ndarray | None
    info: dict


@single_threaded
def explain(
    space: Space, query: Query, results: Sequence[Track], *, descriptors: Descriptors | None = None
) -> list[Explanation]:
    """One explanation per result track; the words use ``descriptors`` when given."""
    out = []
    for track in results:
        rvec = space.vector_of(track.id)
        shares = group_shares(query.vector.astype(np.float64), rvec.astype(np.float64), space.groups)
        score = float(normalize(query.vector) @ normalize(rvec))
        f: dict[str, dict[str, Any]] = {}
        if descriptors is not None and query.descriptors is not None:
            rdesc = descriptors.space.vector_of(track.id)
            f = {"query": _facts(descriptors, query.descriptors), "result": _facts(descriptors, rdesc)}
        text = words(f.get("query", {}), f.get("result", {}), shares)
        out.append(Explanation(query.info, brief(track), space.name, score, shares, text, f))
    return out


def _facts(table: Descriptors, transformed: np.ndarray) -> dict[str, Any]:
    return facts(table.raw_of_vector(transformed), transformed / table.space.weights, table.names)


def brief(t: Track) -> dict:
    """How an explanation names a track."""
    return {"track_id": t.id, "path": t.path, "title": t.title, "artist": t.artist}
