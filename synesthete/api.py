"""The Python API. The CLI, the HTTP API and the web page are thin layers over ``Library``."""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synesthete.analysis import analyze
from synesthete.audio import SR, decode_span, iter_chunks
from synesthete.evaluate.scores import space_scores
from synesthete.exceptions import AudioError, ParameterError, UserError
from synesthete.features import classic
from synesthete.features.base import Analysis
from synesthete.features.registry import (
    DEFAULT_MODEL,
    EXTRACTORS,
    FUSED_MODEL,
    FUSED_VERSIONS,
    FUSION,
    LEARNT_MODEL,
    MODELS,
)
from synesthete.features.registry import get as get_extractor
from synesthete.fingerprint.index import BATCH as FOLD_EVERY
from synesthete.fingerprint.index import LandmarkIndex
from synesthete.fingerprint.landmarks import VERSION as FINGERPRINT_VERSION
from synesthete.fingerprint.matcher import MAX_QUERY_SECONDS, Verdict, identify_signal
from synesthete.library.catalog import Catalog, Track
from synesthete.library.guard import MEMORY_CAP, decoder_log, memory_cap, stderr_to
from synesthete.library.known import KnownTracks
from synesthete.library.scan import ScanReport, scan, stamp_new_library
from synesthete.library.store import CatalogStore
from synesthete.library.tags import read_tags
from synesthete.library.work import FILE_SECONDS, FINGERPRINT, FileResult, time_limit, warm_up
from synesthete.models import checkpoints, metric
from synesthete.recommend.space import Space
from synesthete.service import evaluation, playlists

INDEX_FOLDER = "index"
DEDUP_SLACK = 10  # extra candidates fetched so dropping near-duplicates still leaves k results
PERSIST_SPACE_ABOVE = 20_000  # below this, reading the vectors from SQLite is faster than any cache


@dataclass(frozen=True)
class Identification:
    """The catalogued track a recording comes from, how sure we are (in [0, 1]), and where it starts."""

    track: Track
    confidence: float
    offset_s: float  # where the recording starts within the track
    votes: int  # moments at which recording and track agree at that offset (evidence, for people tuning)
    speed: float  # the playback speed the recording was heard at, relative to the track
    same_recording: tuple[Track, ...] = ()  # other files holding this recording too (copies, re-encodings)

    def to_dict(self) -> dict:
        return {
            **self.track.to_dict(),
            "confidence": round(float(self.confidence), 4),
            "offset_s": self.offset_s,
            "votes": self.votes,
            "speed": self.speed,
            "same_recording": [t.to_dict() for t in self.same_recording],
        }


@dataclass(frozen=True)
class Match:
    """A track and how similar it is to the query (cosine, in [-1, 1])."""

    track: Track
    score: float

    def to_dict(self, rank: int) -> dict:
        return {"rank": rank, **self.track.to_dict(), "score": round(float(self.score), 6)}


def similar_document(query: dict, model: str, matches: Sequence[Match], explanations: Sequence = ()) -> dict:
    """The JSON of `similar --json` (DESIGN.md), which the HTTP API returns too.

    With explanations, each result carries its own: score, per-group shares, words and facts.
    """
    doc = {"query": query, "model": model, "results": [m.to_dict(rank) for rank, m in enumerate(matches, 1)]}
    for result, e in zip(doc["results"], explanations, strict=False):
        result["explanation"] = {k: v for k, v in e.to_dict().items() if k not in ("query", "result")}
    return doc


def _postgres(url: str, folder: Path) -> CatalogStore:
    """The PostgreSQL catalog (the ``scale`` extra), imported only when asked for."""
    from synesthete.library.postgres import PostgresCatalog, is_url

    if not is_url(url):
        raise UserError(f"--catalog must be a postgresql://user@host/db URL, got {url!r}")
    return PostgresCatalog(url, folder)


class Library:
    """A music library in one folder: its catalog, its analyses, and the questions it answers."""

    def __init__(
        self,
        folder: str | Path | None = None,
        *,
        catalog: str | None = None,
        spaces_of: Library | None = None,
    ) -> None:
        """``catalog``: a ``postgresql://`` URL to keep the catalog in (default: ``spaces_of``'s, else
        $SYNESTHETE_CATALOG, else the SQLite file in ``folder``). ``spaces_of``: another ``Library`` on
        the same folder whose search spaces this one shares, so that a server's handles (one per thread)
        hold each space once."""
        from synesthete.config import default_library

        self.folder = Path(folder).expanduser() if folder is not None else default_library()
        url = (
            catalog or (spaces_of.catalog_url if spaces_of else None) or os.environ.get("SYNESTHETE_CATALOG")
        )
        self.catalog_url = url or None
        self.catalog: CatalogStore = Catalog(self.folder) if not url else _postgres(url, self.folder)
        stamp_new_library(self.catalog)
        self._spaces: dict[str, tuple[int, Space]] = {} if spaces_of is None else spaces_of._spaces
        self._building = threading.Lock() if spaces_of is None else spaces_of._building
        self._last_outside: tuple[tuple, Analysis] | None = None
        self.landmarks = LandmarkIndex(self.catalog)  # opened lazily, on the first identify
        # Rows ``similar`` and playlists read, kept while the catalog is unchanged (``library/known.py``).
        self.known = KnownTracks(self.catalog)
        self._models_seen: tuple[tuple, Path | None, list[str]] | None = None
        self._activate()  # the cnn extractor runs this library's checkpoint

    def close(self) -> None:
        self.catalog.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- building ------------------------------------------------------------------------------
    def scan(
        self,
        paths: Sequence[str | Path],
        *,
        workers: int | None = None,
        progress: bool = False,
        backend: str = "local",
        address: str | None = None,
    ) -> ScanReport:
        """Add new files, refresh changed ones, follow moved ones, forget deleted ones. ``backend="ray"``
        analyses as Ray tasks, on the cluster at ``address`` or a local Ray head (the ``scale`` extra)."""
        if isinstance(paths, str | Path):
            paths = [paths]
        checkpoint = self._activate()  # a `train` in another process may have made a new one current
        versions = {name: e.version for name, e in EXTRACTORS.items()}
        versions |= {name: classic.CLASSIC[name].version for name in self._models_seen[2]}
        versions[FINGERPRINT] = FINGERPRINT_VERSION
        added = 0

        def fold_now_and_then(result: FileResult) -> None:  # a long first scan answers identify as it goes
            nonlocal added
            added += len(result.fingerprint[1]) // 8 if result.fingerprint else 0
            if added >= FOLD_EVERY:
                self.landmarks.fold()
                added = 0

        report = scan(
            self.catalog,
            [str(p) for p in paths],
            extractors=versions,
            workers=workers,
            progress=progress,
            on_result=fold_now_and_then,
            backend=backend,
            address=address,
            checkpoint=checkpoint,
            classic_models=classic.of_library(self.folder),
        )
        self.landmarks.fold()
        return report

    def train(
        self,
        *,
        objective: str = "distill",
        epochs: int = 10,
        tracks: Sequence[int] | None = None,
        refresh: bool = True,
        workers: int | None = None,
        progress: bool = False,
        labels: Mapping[int, str] | None = None,
    ) -> dict:
        """Adapt the ``cnn`` model to this library's music; the new checkpoint becomes current and (with
        ``refresh``) the ``cnn`` vectors are recomputed. ``objective``: distill (the default: robust to
        the augmentations, no loss measured on held-out music), contrastive or supervised (also the genre
        tags, or ``labels``: track id -> class, e.g. ``track_labels("folder")``); see ``models/train.py``.
        ``objective`` autoencoder, genre, transfer or resnet trains that classic model instead, which
        ``model=`` then accepts (``models/classic_train.py``)."""
        if objective in classic.NAMES:
            from synesthete.models.classic_train import train_classic

            return train_classic(
                self,
                objective,
                epochs=epochs,
                tracks=tracks,
                labels=labels,
                refresh=refresh,
                workers=workers,
                progress=progress,
            )
        from synesthete.models.train import train_library

        return train_library(
            self,
            objective=objective,
            epochs=epochs,
            tracks=tracks,
            refresh=refresh,
            workers=workers,
            progress=progress,
            labels=labels,
        )

    def reset_training(self, *, refresh: bool = True, workers: int | None = None) -> dict:
        """Go back to the shipped ``cnn`` weights (the library's checkpoints stay on disk)."""
        from synesthete.models.train import refresh_vectors

        checkpoints.reset(self.folder)
        self._activate()
        shipped = checkpoints.active()
        done = refresh_vectors(self, workers=workers) if refresh else 0
        return {"checkpoint": str(shipped.path), "version": shipped.version, "refreshed": done}

    # ---- browsing ------------------------------------------------------------------------------
    def tracks(self, search: str | None = None, *, limit: int | None = None, offset: int = 0) -> list[Track]:
        return self.catalog.tracks(search, limit=limit, offset=offset)

    def track(self, track_id: int) -> Track:
        track = self.catalog.track(int(track_id))
        if track is None:
            raise UserError(f"no track with id {track_id}")
        return track

    def tracks_by_ids(self, ids: Iterable[int]) -> dict[int, Track]:
        """The catalogued tracks among ``ids``, by id (an unknown id is left out); rows already read are
        not read again until the catalog changes (``library/known.py``)."""
        return self.known.tracks(ids)

    def resolve(self, query: int | str | Track) -> Track:
        """A track from its id, or from text matched against 'artist - title' and the path."""
        if isinstance(query, Track):
            return query
        if isinstance(query, int) or re.fullmatch(r"\d+", str(query).strip()):
            return self.track(int(query))
        text = str(query).strip()
        if not text:
            raise UserError("an empty track query matches nothing")
        found = self.catalog.tracks(text, limit=50)
        if not found:
            raise UserError(f"no track matches '{text}' (try `synesthete tracks --search ...`)")
        if len(found) == 1:
            return found[0]
        exact = [
            t for t in found if text.lower() in (t.label.lower(), (t.title or "").lower(), t.path.lower())
        ]
        if len(exact) == 1:
            return exact[0]
        listing = "; ".join(f"{t.id}: {t.label}" for t in found[:5])
        more = f" and {len(found) - 5} more" if len(found) > 5 else ""
        raise UserError(f"'{text}' matches {len(found)} tracks ({listing}{more}): give an id or more words")

    def models(self) -> list[str]:
        """The names ``model=`` accepts; the first is the default. The classic models this library
        trained come last."""
        self._activate()
        return [*MODELS, *self._models_seen[2]]

    def status(self) -> dict:
        counts = self.catalog.vector_counts()
        return {
            "library": str(self.folder),
            "tracks": self.catalog.count(),
            "models": {
                **dict.fromkeys(
                    FUSED_VERSIONS,
                    self.catalog.count_with_vectors({m: EXTRACTORS[m].version for m in FUSION}),
                ),
                **{name: counts.get((name, e.version), 0) for name, e in EXTRACTORS.items()},
                **{n: counts.get((n, classic.CLASSIC[n].version), 0) for n in classic.trained(self.folder)},
            },
            "default_model": DEFAULT_MODEL,
            "fingerprints": self.catalog.fingerprint_count(FINGERPRINT_VERSION),  # what `identify` can find
            "failed": [{"path": f.path, "reason": f.reason} for f in self.catalog.failures()],
        }

    # ---- asking --------------------------------------------------------------------------------
    def space(self, model: str | None = None) -> Space:
        """The search space of ``model``, rebuilt only when the catalog has changed.

        Large collections keep the built space in ``<library>/index/``, so each process loads it
        instead of reading every vector and re-indexing.
        """
        name = model or DEFAULT_MODEL
        if name not in self.models():  # which also activates this library's models
            raise ParameterError(f"unknown model '{name}'; known: {', '.join(self.models())}")
        generation = self.catalog.generation
        cached = self._spaces.get(name)
        if cached is not None and cached[0] == generation:
            return cached[1]
        with self._building:  # threads sharing these spaces build each one once
            cached = self._spaces.get(name)
            if cached is None or cached[0] != generation:
                version = FUSED_VERSIONS[name] if name in FUSED_VERSIONS else get_extractor(name).version
                space = Space.load(self.folder / INDEX_FOLDER, name, version, generation)
                if space is None:
                    space = self._build_space(name, version)
                    if len(space.ids) >= PERSIST_SPACE_ABOVE:
                        space.save(self.folder / INDEX_FOLDER, generation)
                cached = self._spaces[name] = (generation, space)
                _return_freed_memory()
        return cached[1]

    def _activate(self) -> Path | None:
        """Run this library's models in this process (its classic checkpoints, its cnn checkpoint) and
        return the cnn checkpoint's file (None: the shipped one), which a scan passes to its workers with
        the classic models' folder.
        The JSON files naming them are read again only when they change: ``space`` calls this on every
        request, and a ``train`` in another process may change them at any time."""
        folder = self.folder / checkpoints.FOLDER
        stamp = tuple(_file_stamp(folder / name) for name in (checkpoints.CURRENT, classic.CURRENT))
        if self._models_seen is None or self._models_seen[0] != stamp:
            self._models_seen = (stamp, checkpoints.of_library(self.folder), classic.trained(self.folder))
        classic.use(classic.of_library(self.folder))
        checkpoints.use(self._models_seen[1])
        return self._models_seen[1]

    def _build_space(self, name: str, version: int) -> Space:
        if name == FUSED_MODEL:  # members are read to build it, never searched: each built, fused, let go
            members = (self._build_space(m, EXTRACTORS[m].version) for m in FUSION)
            dims = [EXTRACTORS[m].dim for m in FUSION]
            return Space.fuse(name, version, members, list(FUSION.values()), dims)
        if name == LEARNT_MODEL:  # the same, each member also through its learnt metric
            learnt = metric.projections()

            def members() -> Iterator[Space]:  # each member as it is, then through its learnt metric
                for m in FUSION:
                    space = self._build_space(m, EXTRACTORS[m].version)
                    yield space
                    projected = space.projected(learnt[m], metric.LEARNT_GROUP)
                    del space  # let go before the next member is read
                    yield projected

            share = metric.LEARNT_SHARE
            weights = [w for m in FUSION for w in (FUSION[m] * (1 - share), FUSION[m] * share)]
            dims = [d for m in FUSION for d in (EXTRACTORS[m].dim, learnt[m].shape[1])]
            return Space.fuse(name, version, members(), weights, dims)
        extractor = get_extractor(name)
        ids, raw = self.catalog.vectors(name, version)
        names, groups = getattr(extractor, "names", None), getattr(extractor, "groups", None)
        return Space.build(
            name, version, ids, raw, extractor.weights, names=names, groups=groups, inplace=True
        )

    def similar(
        self, track: int | str | Track, *, k: int = 10, model: str | None = None, dissimilar: bool = False
    ) -> list[Match]:
        """The k tracks that sound most (or least) like ``track``; never the track itself."""
        return self.similar_many([track], k=k, model=model, dissimilar=dissimilar)[0]

    def similar_many(
        self,
        tracks: Sequence[int | str | Track],
        *,
        k: int = 10,
        model: str | None = None,
        dissimilar: bool = False,
    ) -> list[list[Match]]:
        """``similar`` for each of ``tracks``, searched together: one pass over the collection's vectors
        for all of them (a matrix product), not one each; the server batches concurrent requests so."""
        queries = [self.resolve(t) for t in tracks]
        space = self.space(model)
        want = _check_k(k) + DEDUP_SLACK
        vectors = np.stack([space.vector_of(q.id) for q in queries])
        # One more than wanted, then each query's own id goes: no exclusion shared by the whole batch.
        found = space.search(vectors, want + 1, dissimilar=dissimilar)
        return self._distinct_many(space, _others(queries, *found, want), k)

    def similar_and_least_many(
        self, tracks: Sequence[int | str | Track], *, k: int = 10, model: str | None = None
    ) -> list[tuple[list[Match], Match | None]]:
        """``similar(t, k=k)`` of each track with the one match of ``similar(t, k=1, dissimilar=True)``,
        from one pass over the vectors: OpenSubsonic's similarity is 0 at a query's least similar track."""
        queries = [self.resolve(t) for t in tracks]
        space = self.space(model)
        want, least = _check_k(k) + DEDUP_SLACK, 1 + DEDUP_SLACK
        vectors = np.stack([space.vector_of(q.id) for q in queries])
        near, far = space.search_ends(vectors, want + 1, least + 1)
        similar = self._distinct_many(space, _others(queries, *near, want), k)
        farthest = self._distinct_many(space, _others(queries, *far, least), 1)
        return [(s, f[0] if f else None) for s, f in zip(similar, farthest, strict=True)]

    def similar_to_file(
        self, path: str | Path, *, k: int = 10, model: str | None = None, dissimilar: bool = False
    ) -> list[Match]:
        """The k catalogued tracks that sound most like an outside file, analysed on the fly, never added."""
        space = self.space(model)
        query = space.transform_vectors(self.analyse_outside(path, space.members).vectors)
        ids, scores = space.search(query, _check_k(k) + DEDUP_SLACK, dissimilar=dissimilar)
        return self._distinct_many(space, [(ids, scores, ())], k)[0]

    def analyse_outside(self, path: str | Path, models: Iterable[str]) -> Analysis:
        """The vectors of ``models`` for a file outside the catalog, never stored.

        The last one is kept while its file is unchanged: ``similar --file --explain`` and the web page
        ask about the same upload twice, and an analysis costs ~0.2 s a 30-s clip. On the command line
        the file gets a scan's caps (time, memory, decoder messages to the log: ``_capped``).
        """
        st = os.stat(path)
        key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
        wanted = set(models)
        last = self._last_outside
        if last is not None and last[0] == key and wanted <= last[1].vectors.keys():
            return last[1]
        with _capped(self.folder, str(path)):
            analysis = analyze(path, [get_extractor(m) for m in sorted(wanted)])
        self._last_outside = (key, analysis)
        return analysis

    def evaluate(
        self,
        labels: Mapping[int, str],
        *,
        k: int = 10,
        model: str | None = None,
        same: Mapping[int, str] | None = None,
    ) -> dict:
        """Leave-one-out scores of ``model`` on tracks labelled by group (track id -> group).

        precision@k, mAP, nDCG@k, hubness, per-group scores and the group confusion (``evaluate/scores.py``).
        ``same`` (track id -> artist or album) takes the query's own artist/album out of its ranking and
        of what counts as relevant; an empty value matches nothing.
        """
        return space_scores(self.space(model), labels, k=_check_k(k), same=same)

    def evaluate_labels(
        self,
        labels: str | Path | None = None,
        *,
        labels_from: str | None = None,
        k: int = 10,
        filter_by: str | None = None,
        workers: int | None = None,
        progress: bool = False,
        classic_epochs: int = 0,
    ) -> dict:
        """Every model scored on a labelled folder (CSV: path, group[, artist, album]), missing files
        scanned first, or on the library's tracks grouped by ``labels_from`` ("folder", "genre"); the
        document ``synesthete evaluate --json`` prints (``evaluate/harness.py``). ``classic_epochs``: also
        train the classic models and score them held out (cross-validation over groups)."""
        return evaluation.evaluate_labels(
            self,
            labels,
            labels_from=labels_from,
            k=_check_k(k),
            filter_by=filter_by,
            workers=workers,
            progress=progress,
            classic_epochs=classic_epochs,
        )

    def track_labels(self, source: str | Path, *, model: str | None = None) -> dict[int, str]:
        """Track id -> label from "genre", "folder", "cluster", "artist", "album" or a labels CSV; what
        maps are coloured by and supervised training learns (``evaluate/labels.py``)."""
        return evaluation.track_labels(self, source, model=model)

    def write_report(self, doc: dict, folder: str | Path, *, map_method: str = "umap") -> Path:
        """Write the report of an ``evaluate_labels`` document into ``folder`` (Markdown, HTML, figures:
        ``evaluate/report.py``); returns the Markdown file's path."""
        return evaluation.write_report(self, doc, folder, map_method=map_method)

    # ---- the map and exports (mapview/) ---------------------------------------------------------
    def map(self, method: str = "umap", dims: int = 2, model: str | None = None, *, seed: int = 42) -> dict:
        """The collection projected to ``dims`` (2 or 3) by ``method`` (umap, tsne, pca), deterministic for
        ``seed`` and cached in the catalog until the vectors change; JSON-friendly (``mapview/maps.py``)."""
        from synesthete.mapview.maps import build_map
        from synesthete.mapview.project import check

        check(method, dims)  # a bad method is said before the space is built (or found missing)
        return build_map(self.space(model), self.catalog, method, dims, seed=seed)

    def export(self, fmt: str, out: str | Path) -> dict:
        """Write the collection as ``projector`` files (a folder), ``parquet`` or ``npz`` (``mapview/export.py``)."""
        from synesthete.service.exports import export

        return export(self, fmt, out)

    def describe_file(self, path: str | Path) -> dict:
        """The query part of a result document for an outside file."""
        tags = read_tags(str(path))
        return {"track_id": None, "path": str(path), "title": tags["title"], "artist": tags["artist"]}

    # ---- playlists (recommend/ through service/playlists.py) ------------------------------------
    def radio(self, seeds, n: int = 20, *, diversity: float = 0.2, model: str | None = None, **rules):
        """``n`` tracks like the seeds (tracks or audio files), never a seed; ``rules``: see ``Rules``."""
        return playlists.radio(self, seeds, n, diversity=diversity, model=model, **rules)

    def extend(self, tracks, n: int = 10, *, diversity: float = 0.2, model: str | None = None, **rules):
        """The playlist ``tracks`` followed by ``n`` new tracks like it, flowing on from its end."""
        return playlists.extend(self, tracks, n, diversity=diversity, model=model, **rules)

    def dissimilar(self, seeds, n: int = 10, *, model: str | None = None, **rules):
        """``n`` tracks least like all of the seeds."""
        return playlists.dissimilar(self, seeds, n, model=model, **rules)

    def order(self, tracks, *, start=None, model: str | None = None):
        """The tracks in an order that flows (small steps from one to the next)."""
        return playlists.order(self, tracks, start=start, model=model)

    def journey(self, start, end, n: int = 12, *, method: str = "path", model: str | None = None):
        """``n`` distinct tracks from ``start`` to ``end``, each step small; smoothness in ``info``."""
        return playlists.journey(self, start, end, n, method=method, model=model)

    def drift(self, seed, direction: str, n: int = 10, *, model: str | None = None):
        """The seed, then ``n`` tracks each further in ``direction`` ("tempo down", "calmer"...)."""
        return playlists.drift(self, seed, direction, n, model=model)

    def clusters(self, k: int | None = None, *, model: str | None = None):
        """The collection split into ``k`` sonic playlists, each named by its descriptors and tags."""
        return playlists.clusters(self, k, model=model)

    def explain(self, query, result, *, model: str | None = None):
        """Why two tracks (or an outside file and a track) are close: shares per feature group, words."""
        return playlists.explain(self, query, [result], model=model)[0]

    def explain_all(self, query, results, *, model: str | None = None):
        """``explain`` for one query and many results, analysing an outside query file only once."""
        return playlists.explain(self, query, results, model=model)

    # ---- recognising (fingerprint/) --------------------------------------------------------------
    def identify(self, path: str | Path, *, max_speed_change: float = 0.03) -> Identification | None:
        """The catalogued track ``path`` is a recording of (any part of it, noisy, resampled, re-encoded,
        up to ``max_speed_change`` off speed), or None when it is not in the collection. When several
        files hold that recording, the best-matching one, the others in ``same_recording``."""
        verdict = self.identify_verdict(path, max_speed_change=max_speed_change)
        if not verdict.accepted:
            return None
        fp_ids = [verdict.fp_id, *verdict.twins]
        track_of = self.catalog.fingerprint_tracks(FINGERPRINT_VERSION, fp_ids)
        tracks = self.catalog.tracks_by_ids([track_of[f] for f in fp_ids if f in track_of])
        track = tracks.get(track_of.get(verdict.fp_id))
        if track is None:  # removed since the lookup
            return None
        twins = tuple(tracks[track_of[f]] for f in verdict.twins if track_of.get(f) in tracks)
        return Identification(
            track, verdict.confidence, round(verdict.offset_s, 3), verdict.evidence, verdict.speed, twins
        )

    def identify_verdict(self, path: str | Path, *, max_speed_change: float = 0.03) -> Verdict:
        """The raw evidence behind ``identify`` (votes, runner-up), accepted or not; for tuning and benches."""
        y = _leading_seconds(str(path), MAX_QUERY_SECONDS)
        return identify_signal(y, self.landmarks, max_speed_change=max_speed_change, passage=self._passage)

    def _passage(self, fp_id: int, start: float, seconds: float) -> np.ndarray | None:
        """The audio fingerprint ``fp_id`` was made from, ``seconds`` from ``start``, to hear a weak verdict
        out (``fingerprint/hearing.py``); None when its file cannot be read now (moved, on a disk away)."""
        track_id = self.catalog.fingerprint_tracks(FINGERPRINT_VERSION, [fp_id]).get(fp_id)
        track = None if track_id is None else self.catalog.track(track_id)
        if track is None:
            return None
        try:
            return decode_span(track.path, start, seconds)
        except (AudioError, OSError):
            return None

    def duplicates(self) -> list[list[Track]]:
        """Groups of files holding the same recording (copies, re-encodings), found by fingerprint."""
        from synesthete.fingerprint.duplicates import duplicate_groups

        groups = duplicate_groups(self.catalog, self.landmarks)
        tracks = self.catalog.tracks_by_ids([i for g in groups for i in g])
        return [[tracks[i] for i in g if i in tracks] for g in groups]

    def _distinct_many(
        self, space: Space, lists: Sequence[tuple[np.ndarray, np.ndarray, Sequence[int]]], k: int
    ) -> list[list[Match]]:
        """For each (ids, scores, against), the first ``k`` results that are not near-duplicates of each
        other or of ``against``. The catalog is read once for all the lists (a server batch), not per list,
        and only for tracks not read since it last changed (``library/known.py``)."""
        from synesthete.recommend.dedup import Recordings, clear_of_duplicates, near_duplicates

        lists = [([int(i) for i in ids], scores, against) for ids, scores, against in lists]
        known = Recordings(*self.known.facts(i for ids, _, against in lists for i in (*against, *ids)))
        clear = clear_of_duplicates(space, [[*against, *ids] for ids, _, against in lists], known)
        kept = []
        for (ids, scores, against), clean in zip(lists, clear, strict=True):
            dropped = () if clean else near_duplicates(self.catalog, space, ids, against=against, known=known)
            kept.append([(i, s) for i, s in zip(ids, scores, strict=True) if i not in dropped][:k])
        tracks = self.known.tracks(i for pairs in kept for i, _ in pairs)
        return [[Match(tracks[i], float(s)) for i, s in pairs if i in tracks] for pairs in kept]


@contextlib.contextmanager
def _capped(folder: Path, path: str) -> Iterator[None]:
    """A scan's caps on one file, for a file outside the library: a time limit, a memory cap, and the
    decoders' own messages sent to ``<library>/logs/decoders.log`` instead of the terminal.

    Only in a process's main thread (the command line): each cap acts on the whole process, so in a
    server's request thread a memory cap would fail other requests' allocations and a moved stderr would
    take the server's log; there the upload limits (size, duration) bound the work instead.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    warm_up()  # the models load before the memory cap, as in a scan's worker
    seconds = float(os.environ.get("SYNESTHETE_FILE_SECONDS", FILE_SECONDS))
    try:
        with stderr_to(decoder_log(folder)), time_limit(path, seconds), memory_cap():
            yield
    except MemoryError:
        raise AudioError(path, f"needs more than {MEMORY_CAP / 2**30:g} GB of memory to analyse") from None


def _file_stamp(path: Path) -> tuple[int, int, int] | None:
    """What changes when a file is replaced or rewritten (None: no such file)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_ino, st.st_size)


def _leading_seconds(path: str, seconds: float) -> np.ndarray:
    """The first ``seconds`` of a file, decoding no further (a whole track may be given as a query)."""
    parts, n = [], 0
    chunks = iter_chunks(path, sr=SR, chunk_seconds=seconds)
    for chunk in chunks:
        parts.append(chunk)
        n += chunk.size
        if n >= seconds * SR:
            chunks.close()
            break
    return np.concatenate(parts)


def _return_freed_memory() -> None:
    """Give the temporaries of a space build back to the system. glibc keeps large freed blocks in the
    process's heap, so a server would hold ~60 MB more at 10^4 tracks (bench/http_load.py); elsewhere
    (no ``malloc_trim``) nothing happens."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def _others(
    queries: Sequence[Track], ids: np.ndarray, scores: np.ndarray, want: int
) -> list[tuple[np.ndarray, np.ndarray, tuple[int]]]:
    """Each query's (ids, scores) without the query itself, ``want`` at most, and the query's id (which
    its results must not be a copy of). A search asks one more than wanted: no exclusion shared by a batch."""
    lists = []
    for query, row_ids, row_scores in zip(queries, ids, scores, strict=True):
        other = row_ids != query.id
        lists.append((row_ids[other][:want], row_scores[other][:want], (query.id,)))
    return lists


def _check_k(k: int) -> int:
    if not isinstance(k, int) or k < 1:
        raise ParameterError(f"k must be a positive whole number, got {k!r}")
    return k
