"""Playlists from the sonic landscape: radio from seeds, dissimilar picks, extending, smooth ordering.

Radio scores every candidate by its cosine to each seed (the mean of far-apart seeds would point at the
empty middle between them), each seed first nudged toward its few nearest tracks (query expansion, which
steadies a seed that sits at the edge of its neighbourhood), then picks greedily by maximal marginal
relevance (Carbonell & Goldstein 1998): ``(1 - diversity) * relevance - diversity * (cosine to the
closest track already picked)``, the seeds taking turns (round robin), so that every seed is heard even
when one sits in a denser neighbourhood than the others. Rules (caps, blocklists, filters) and
near-duplicate removal apply to the candidates before picking; the seeds themselves are never picked.
A rule that has nothing to act on, or that leaves fewer tracks than asked for, is reported in the
playlist's ``warnings``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any

import numpy as np

from synesthete.evaluate.labels import album_or_folder, artist_or_folder
from synesthete.exceptions import ParameterError, UserError
from synesthete.index import ExactIndex, normalize
from synesthete.library.known import KnownTracks
from synesthete.library.store import CatalogStore, Track
from synesthete.recommend.dedup import Recordings, copies_of_file, drop_near_duplicates
from synesthete.recommend.geometry import Descriptors, single_threaded, unit_vectors
from synesthete.recommend.ordering import path_smoothness, smooth_order
from synesthete.recommend.space import Space

EXPAND_NEIGHBOURS = 5  # query expansion: each seed moves toward the mean of its nearest tracks ...
EXPAND_WEIGHT = 0.5  # ... by this much (dev clips: +0.02 group share in radios of 10, +0.01 of 20)
EXACT_UP_TO = 200_000  # below this, scoring every track is one matrix product and beats any index
POOL_MIN = 200
DEFAULT_DIVERSITY = 0.2


@dataclass(frozen=True)
class Playlist:
    """Tracks in play order, with each track's score and what the builder measured along the way.

    Iterates, indexes and counts like the list of its tracks.
    """

    kind: str
    model: str
    tracks: list[Track]
    scores: list[float | None] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Track]:
        return iter(self.tracks)

    def __len__(self) -> int:
        return len(self.tracks)

    def __getitem__(self, i: int) -> Track:
        return self.tracks[i]

    @property
    def ids(self) -> list[int]:
        return [t.id for t in self.tracks]

    def to_dict(self) -> dict:
        rows = []
        for pos, t in enumerate(self.tracks):
            row = {"position": pos + 1, **t.to_dict()}
            if self.scores and self.scores[pos] is not None:
                row["score"] = round(float(self.scores[pos]), 6)
            rows.append(row)
        return {"kind": self.kind, "model": self.model, **_plain(self.info), "tracks": rows}


def _plain(x: Any) -> Any:
    """JSON-ready copy: numpy numbers to Python, floats rounded."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float):
        return round(x, 6)
    return x


@dataclass(frozen=True)
class Rules:
    """What a playlist may contain. Text matches are case-insensitive; ``genres`` keeps tracks whose
    genre tag contains one of the words; tempo is the ``descriptors`` tempo in BPM."""

    max_per_artist: int | None = None
    max_per_album: int | None = None
    block_artists: tuple[str, ...] = ()
    block_albums: tuple[str, ...] = ()
    block_tracks: tuple[int, ...] = ()
    block_genres: tuple[str, ...] = ()
    genres: tuple[str, ...] = ()
    min_duration: float | None = None
    max_duration: float | None = None
    min_tempo: float | None = None
    max_tempo: float | None = None

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> Rules:
        """Rules from keyword options (as the CLI and the HTTP API pass them); unknown names are errors."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ParameterError(f"unknown playlist option(s): {', '.join(unknown)}; known: {sorted(known)}")
        clean: dict[str, Any] = {}
        for name, value in options.items():
            if value is None:
                continue
            if name.startswith(("block_", "genres")):
                value = (value,) if isinstance(value, str | int) else tuple(value)
                if name == "block_tracks":
                    value = tuple(int(v) for v in value)
                else:
                    value = tuple(str(v).lower() for v in value if str(v).strip())
            elif name.startswith("max_per"):
                if int(value) < 1:
                    raise ParameterError(f"{name} must be at least 1, got {value}")
                value = int(value)
            else:
                value = float(value)
            clean[name] = value
        return cls(**clean)

    @property
    def needs_tempo(self) -> bool:
        return self.min_tempo is not None or self.max_tempo is not None

    @cached_property
    def filters(self) -> bool:
        """Whether any blocklist or filter is set: with none (a plain radio), ``rejects`` reads no tags."""
        caps = ("max_per_artist", "max_per_album")
        return any(getattr(self, f.name) not in (None, ()) for f in fields(self) if f.name not in caps)

    @property
    def capped(self) -> bool:
        return self.max_per_artist is not None or self.max_per_album is not None

    def allows(self, track: Track, tempo: float | None = None) -> bool:
        """Whether ``track`` passes the blocklists and filters (caps are counted while picking)."""
        return self.rejects(track, tempo) is None

    def rejects(self, track: Track, tempo: float | None = None) -> str | None:
        """The option that keeps ``track`` out (as the command line spells it), or None."""
        if not self.filters:
            return None
        if track.id in self.block_tracks:
            return "--block-track"
        artist, album, genre = (x.lower() if x else "" for x in (track.artist, track.album, track.genre))
        if artist in self.block_artists:
            return "--block-artist"
        if album in self.block_albums:
            return "--block-album"
        if genre and any(g in genre for g in self.block_genres):
            return "--block-genre"
        if self.genres and not any(g in genre for g in self.genres):
            return "--genre"
        duration = track.duration or 0.0
        if self.min_duration is not None and duration < self.min_duration:
            return "--min-duration"
        if self.max_duration is not None and duration > self.max_duration:
            return "--max-duration"
        if self.needs_tempo and not (
            tempo is not None
            and np.isfinite(tempo)
            and (self.min_tempo is None or tempo >= self.min_tempo)
            and (self.max_tempo is None or tempo <= self.max_tempo)
        ):
            return "--tempo"
        return None

    def idle(self, catalog: CatalogStore) -> list[str]:
        """Warnings for the tag rules that match no track of the collection at all."""
        out = []
        checks = [  # (option, tag, its words, whether a word may be part of the tag)
            ("--block-artist", "artist", self.block_artists, False),
            ("--block-album", "album", self.block_albums, False),
            ("--block-genre", "genre", self.block_genres, True),
            ("--genre", "genre", self.genres, True),
        ]
        for option, tag, words, part in checks:
            for word in words:
                if catalog.tag_in_use(tag, word, part=part):
                    continue
                tagged = catalog.tag_in_use(tag)
                a = "an" if tag[0] in "aeiou" else "a"
                why = f"no track has {a} {tag} matching '{word}'" if tagged else f"no track has {a} {tag} tag"
                effect = "keeps nothing" if option == "--genre" else "blocks nothing"
                out.append(f"{option} {word}: {why}, so it {effect}")
        return out


@dataclass(frozen=True)
class Seeds:
    """Where a playlist starts from: catalogued tracks and/or outside files, as unit vectors."""

    tracks: list[Track]
    files: list[str]
    vectors: np.ndarray  # (len(tracks) + len(files), d) unit rows in the space
    file_sounds: list[tuple[np.ndarray, float]] = field(default_factory=list)  # descriptors, seconds

    @property
    def ids(self) -> list[int]:
        return [t.id for t in self.tracks]

    def describe(self) -> list[dict]:
        out = [{k: v for k, v in t.to_dict().items() if k in ("track_id", "path", "title", "artist")}
               for t in self.tracks]  # fmt: skip
        return out + [{"track_id": None, "path": f} for f in self.files]


def _exact(space: Space) -> bool:
    """Whether to score every track: a quantized index's space (past 10^8 values: 1.05 * 10^5 fused tracks
    and more) is not, since that needs an exact copy of it."""
    return isinstance(space.index, ExactIndex) or (len(space.ids) <= EXACT_UP_TO and not space.quantized)


def _candidates(
    space: Space, seeds: np.ndarray, pool: int, *, dissimilar: bool, exclude: set[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, unit vectors, cosine to each seed (m, seeds)) of the ``pool`` best candidates of each
    seed, merged, best first by the nearest seed (least similar first when ``dissimilar``)."""
    if _exact(space):
        u_all = unit_vectors(space)
        sims = u_all @ seeds.T
        rel = -sims.max(axis=1, keepdims=True) if dissimilar else sims.copy()
        skip = space.rows(sorted(exclude))
        rel[skip[skip >= 0]] = -np.inf
        pool = min(pool, int(np.isfinite(rel[:, 0]).sum()))
        if pool <= 0:
            return np.zeros(0, np.int64), np.zeros((0, seeds.shape[1]), np.float32), np.zeros((0, len(seeds)))
        if pool < len(rel):
            rows = np.unique(np.argpartition(-rel, pool - 1, axis=0)[:pool])
        else:
            rows = np.arange(len(rel))
        best = rel[rows].max(axis=1)
        rows = rows[np.argsort(-best, kind="stable")]
        return rows, u_all[rows], sims[rows]
    found: list[np.ndarray] = []
    for s in seeds:
        ids, _ = space.search(s, pool, exclude=tuple(exclude), dissimilar=dissimilar)
        found.append(ids)
    rows = space.rows(np.unique(np.concatenate(found)))
    rows = rows[rows >= 0]
    u = normalize(space.vectors[rows])
    sims = u @ seeds.T
    nearest = sims.max(axis=1)
    order = np.argsort(nearest if dissimilar else -nearest, kind="stable")
    return rows[order], u[order], sims[order]


def expand(space: Space, seeds: np.ndarray, exclude: set[int]) -> np.ndarray:
    """Each seed moved toward the mean of its EXPAND_NEIGHBOURS nearest tracks (pseudo-relevance
    feedback, Rocchio-style), as unit rows."""
    out = []
    for s in seeds:
        ids, _ = space.search(s, EXPAND_NEIGHBOURS, exclude=tuple(exclude))
        rows = space.rows(ids)
        rows = rows[rows >= 0]
        near = normalize(space.vectors[rows]).mean(axis=0) if len(rows) else np.zeros_like(s)
        out.append(s + EXPAND_WEIGHT * near)
    return normalize(np.array(out, dtype=np.float32))


def pick(
    space: Space,
    seeds: Seeds,
    n: int,
    *,
    catalog: CatalogStore,
    known: KnownTracks | None = None,
    diversity: float = DEFAULT_DIVERSITY,
    rules: Rules | None = None,
    exclude: Sequence[int] = (),
    dissimilar: bool = False,
    descriptors: Descriptors | None = None,
    per_seed: bool = False,
) -> tuple[list[int], list[float], list[str]]:
    """Up to ``n`` tracks near the seeds (or far from all of them), by MMR, obeying ``rules``; with
    ``per_seed`` the seeds take turns, each pick the best for its seed. ``catalog`` gives the candidates'
    tags and durations, and what tells copies of one recording apart; ``known``, when given, the same,
    from the rows it read since the catalog last changed (a server's radio reads ~200 candidates a pick).

    Returns the ids in pick order, each one's cosine to its nearest seed, and warnings: rules that
    had nothing to act on, and why there are fewer than ``n`` tracks.
    """
    n = check_n(n)
    if not 0.0 <= diversity <= 1.0:
        raise ParameterError(f"diversity must be between 0 and 1, got {diversity}")
    rules = rules or Rules()
    if rules.needs_tempo and descriptors is None:
        raise ParameterError("a tempo filter needs the descriptors")
    excluded = set(seeds.ids) | {int(i) for i in exclude} | set(rules.block_tracks)
    total = len(space.ids)
    pool = max(POOL_MIN, 10 * n)
    queries = seeds.vectors if dissimilar else expand(space, seeds.vectors, excluded)
    while True:
        rows, u, sims = _candidates(space, queries, pool, dissimilar=dissimilar, exclude=excluded)
        ids = space.ids[rows].tolist()
        tracks = known.tracks(ids) if known is not None else catalog.tracks_by_ids(ids)
        tempo = descriptors.values(ids, "tempo") if rules.needs_tempo and descriptors else None
        left_out: Counter[str] = Counter()
        ok = []
        for pos, i in enumerate(ids):
            why = (
                rules.rejects(tracks[i], None if tempo is None else float(tempo[pos]))
                if i in tracks
                else "uncatalogued"
            )
            if why is None:
                ok.append(i)
            else:
                left_out[why] += 1
        same = descriptors.space if descriptors is not None else space
        before = len(ok)
        recordings = Recordings(*known.facts([*seeds.ids, *ok])) if known is not None else None
        ok = drop_near_duplicates(catalog, same, ok, against=seeds.ids, known=recordings)
        if descriptors is not None:
            for raw, seconds in seeds.file_sounds:
                copies = copies_of_file(catalog, same, same.transform(raw), seconds, ok)
                ok = [i for i in ok if i not in copies]
        left_out["near-duplicates"] = before - len(ok)
        slack = 1 if rules.max_per_artist is None and rules.max_per_album is None else 3
        if len(ok) >= slack * n or len(rows) >= total - len(excluded) or pool >= total:
            break
        pool *= 4
    keep = np.isin(np.asarray(ids, dtype=np.int64), np.asarray(ok, dtype=np.int64))
    rows, u, sims = rows[keep], u[keep], sims[keep]
    cand = [tracks[i] for i in space.ids[rows].tolist()]
    nearest = (u @ seeds.vectors.T).max(axis=1) if len(u) else np.zeros(0)
    rel = -sims.max(axis=1, keepdims=True) if dissimilar else sims
    if not per_seed:
        rel = rel.max(axis=1, keepdims=True)
    chosen, capped = _mmr(u, rel, cand, n, diversity=diversity, rules=rules)
    warnings = rules.idle(catalog) + _cap_notes(rules, cand)
    if len(chosen) < n:
        warnings.append(_shortfall(len(chosen), n, len(ids), left_out + capped))
    return [cand[c].id for c in chosen], [float(nearest[c]) for c in chosen], warnings


def _cap_notes(rules: Rules, cand: list[Track]) -> list[str]:
    """Say when a cap counts folders, because the candidates lack the tag it would count."""
    out = []
    for option, limit, tag in (
        ("--max-per-artist", rules.max_per_artist, "artist"),
        ("--max-per-album", rules.max_per_album, "album"),
    ):
        untagged = sum(not getattr(t, tag) for t in cand)
        if limit is not None and untagged:
            out.append(
                f"{option} {limit}: {untagged} of the {len(cand)} candidates have no {tag} tag;"
                f" each of their folders counts as one {tag}"
            )
    return out


def _shortfall(got: int, n: int, considered: int, left_out: Counter[str]) -> str:
    """Why a playlist has fewer tracks than asked for, rule by rule."""
    reasons = ", ".join(f"{why} {count}" for why, count in left_out.most_common() if count)
    return f"only {got} of the {n} tracks asked for: of the {considered} tracks considered, left out by " + (
        reasons or "nothing (the collection is that small)"
    )


def _mmr(
    u: np.ndarray, rel: np.ndarray, tracks: list[Track], n: int, *, diversity: float, rules: Rules
) -> tuple[list[int], Counter[str]]:
    """Greedy maximal marginal relevance over candidate rows, skipping those over an artist/album cap
    (a track without the tag counts its folder). ``rel`` has one column per seed, which take turns.

    Returns the picks, and how many candidates each cap skipped.
    """
    m = len(tracks)
    redundancy = np.full(m, -1.0)  # cosine to the closest pick so far
    open_ = np.ones(m, dtype=bool)
    count: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    chosen: list[int] = []
    while len(chosen) < n and open_.any():
        r = rel[:, len(chosen) % rel.shape[1]]
        score = (1.0 - diversity) * r - diversity * np.maximum(redundancy, 0.0) if chosen else r.copy()
        score = np.where(open_, score, -np.inf)
        c = int(np.argmax(score))
        open_[c] = False
        if rules.capped:  # a folder per track costs path parsing: only when a cap counts them
            artist, album = artist_or_folder(tracks[c]), album_or_folder(tracks[c])
            if rules.max_per_artist is not None and count[artist] >= rules.max_per_artist:
                skipped["--max-per-artist"] += 1
                continue
            if rules.max_per_album is not None and count["\0" + album] >= rules.max_per_album:
                skipped["--max-per-album"] += 1
                continue
            count[artist] += 1
            count["\0" + album] += 1
        chosen.append(c)
        if diversity > 0:
            np.maximum(redundancy, u @ u[c], out=redundancy)
    return chosen, skipped


def check_n(n: int) -> int:
    if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 1:
        raise ParameterError(f"n must be a positive whole number, got {n!r}")
    return int(n)


# ---- the builders --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Picks:
    """What a builder chose: track ids in play order, each one's score (None: not scored, e.g. a seed),
    and what it measured; ``Library`` turns them into a ``Playlist``."""

    ids: list[int]
    scores: list[float | None]
    info: dict[str, Any]


@single_threaded
def radio(
    space: Space,
    seeds: Seeds,
    n: int = 20,
    *,
    catalog: CatalogStore,
    known: KnownTracks | None = None,
    rules: Rules | None = None,
    descriptors: Descriptors | None = None,
    diversity: float = DEFAULT_DIVERSITY,
    exclude: Sequence[int] = (),
) -> Picks:
    """``n`` tracks that sound like the seeds, varied by ``diversity``, within ``rules``."""
    ids, scores, warnings = pick(
        space, seeds, n, catalog=catalog, known=known, diversity=diversity, rules=rules, exclude=exclude,
        descriptors=descriptors, per_seed=True,
    )  # fmt: skip
    return Picks(ids, scores, {"seeds": seeds.describe(), "diversity": diversity, "warnings": warnings})


@single_threaded
def dissimilar(
    space: Space,
    seeds: Seeds,
    n: int = 10,
    *,
    catalog: CatalogStore,
    known: KnownTracks | None = None,
    rules: Rules | None = None,
    descriptors: Descriptors | None = None,
    diversity: float = 0.0,
) -> Picks:
    """``n`` tracks least like every seed (score: cosine to the nearest seed, lowest first)."""
    ids, scores, warnings = pick(
        space, seeds, n, catalog=catalog, known=known, diversity=diversity, rules=rules, dissimilar=True,
        descriptors=descriptors,
    )  # fmt: skip
    return Picks(ids, scores, {"seeds": seeds.describe(), "diversity": diversity, "warnings": warnings})


@single_threaded
def extend(
    space: Space,
    seeds: Seeds,
    n: int = 10,
    *,
    catalog: CatalogStore,
    known: KnownTracks | None = None,
    rules: Rules | None = None,
    descriptors: Descriptors | None = None,
    diversity: float = DEFAULT_DIVERSITY,
) -> Picks:
    """The playlist (``seeds``) followed by ``n`` new tracks like it, ordered to flow on from its last track."""
    if not seeds.tracks:
        raise UserError("extend needs the playlist's tracks in the library")
    new, scores, warnings = pick(
        space, seeds, n, catalog=catalog, known=known, diversity=diversity, rules=rules,
        descriptors=descriptors,
    )  # fmt: skip
    if new:
        last = seeds.vectors[len(seeds.tracks) - 1]
        u = np.vstack([last, normalize(space.vectors[space.rows(new)])])
        order = smooth_order(u, start=0)[1:]
        new = [new[i - 1] for i in order]
        scores = [scores[i - 1] for i in order]
    info = {"seeds": seeds.describe(), "added": len(new), "diversity": diversity, "warnings": warnings}
    return Picks(seeds.ids + new, [None] * len(seeds.tracks) + scores, info)


@single_threaded
def order(seeds: Seeds, *, start: int | None = None) -> Picks:
    """The seed tracks in an order that flows: each step to a similar track (nearest neighbour + 2-opt);
    ``start``: the id of the track to begin with."""
    if seeds.files:
        raise UserError("only tracks of the library can be ordered (scan the files first)")
    first = None
    if start is not None:
        if start not in seeds.ids:
            raise UserError(f"the start track {start} is not among the tracks to order")
        first = seeds.ids.index(start)
    u = seeds.vectors
    before = path_smoothness(u)
    path = smooth_order(u, start=first)
    after = path_smoothness(u[path])
    return Picks([seeds.ids[i] for i in path], [], {"smoothness": after, "smoothness_as_given": before})
