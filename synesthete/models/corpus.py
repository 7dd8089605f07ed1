"""The student's training corpus (built by ``bench/corpus.sh``) and musicnn's outputs on it, cached.

Why a cache: the teacher costs ~10 ms per 3-s patch, the student's training reads every patch many
times, so musicnn runs once per track and its outputs (with the log-mel patches the student reads, the
project's shared ``Spectra.log_mel``, exactly what it sees at run time) are kept in one ``.npz`` per track
under ``<corpus>/teacher/``. Patches are taken at random positions over the whole track (at most
``per_track``), each track at one random gain within 6 dB.

The audio is the package's original file decoded by ``synesthete.audio.decode`` (soxr to 22,050 Hz,
channels averaged), as a scan of that file decodes it, whenever ``bench/corpus.sh`` kept it
(``<corpus>/.work/x``); its FLAC was resampled by ffmpeg instead, whose log-mel differs in the top
mel bands (above ~9 kHz: up to 2 dB darker, the last band 7 dB brighter on pink noise). The FLAC
serves only for what ``decode`` cannot read (tracker modules, rendered by ffmpeg).

Model selection holds out whole packages (``held_out``): tracks of one game share composers and sound,
so a split by track would flatter the student.
"""

from __future__ import annotations

import csv
import hashlib
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synesthete.features.base import HOP, N_MELS, SR, Spectra
from synesthete.models import musicnn
from synesthete.models.cnn import PATCH_FRAMES, PATCH_SECONDS

DEFAULT = Path(os.environ.get("SYNESTHETE_CORPUS", "/work/corpus"))
PER_TRACK = 16  # patches per track: long tracks do not outweigh short ones
MAX_SECONDS = 600.0  # of a track decoded (a rendered module can run for half an hour)
MARGIN = 4  # frames of context each side of a patch: the STFT window reaches 2


@dataclass
class Patches:
    """Training patches: log-mel (n, 128, 129) float16, teacher embedding (n, 200), tags (n, 50), and the
    source track of each (n,) so splits can be made by track or by group."""

    x: np.ndarray
    emb: np.ndarray
    tags: np.ndarray
    track: np.ndarray

    @classmethod
    def concat(cls, parts: Sequence[Patches]) -> Patches:
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("x", "emb", "tags", "track")))

    def take(self, rows: np.ndarray) -> Patches:
        return Patches(self.x[rows], self.emb[rows], self.tags[rows], self.track[rows])

    def __len__(self) -> int:
        return len(self.x)


def tracks(corpus: Path, manifest: Path | None = None) -> list[tuple[str, Path, Path]]:
    """(package, FLAC path, audio to decode) of every track in the corpus manifest (or in ``manifest``,
    a subset); the audio is the original file when ``decode`` reads it (see the module docstring)."""
    from synesthete.audio.decode import AUDIO_EXTENSIONS

    manifest = manifest or corpus / "manifest.csv"
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest}: no corpus manifest (build one with bash bench/corpus.sh)")
    out = []
    with open(manifest, newline="") as f:
        for r in csv.DictReader(f):
            original = corpus / ".work" / "x" / r["package"] / r["file"]
            readable = original.suffix.lower() in AUDIO_EXTENSIONS and original.is_file()
            out.append((r["package"], corpus / r["path"], original if readable else corpus / r["path"]))
    return out


def held_out(packages: Sequence[str], share: int = 8) -> set[str]:
    """About 1/``share`` of the packages (at least one), chosen by a hash of the name (stable as the
    corpus grows)."""
    ranked = sorted(set(packages), key=lambda p: hashlib.sha1(p.encode()).hexdigest())
    return set(ranked[: max(1, round(len(ranked) / share))])


def track_patches(y: np.ndarray, per_track: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Log-mel patches (n, 128, 129) float16 of ``y`` (mono, 22,050 Hz) at random positions, and musicnn's
    penultimate layer (n, 200) and tag probabilities (n, 50) on the same 3 s.

    Each patch's log-mel is computed on its own samples plus ``MARGIN`` frames each side, which gives
    the very values of the whole track's log-mel at a fraction of the cost."""
    import soxr

    y = (y[: int(MAX_SECONDS * SR)] * np.float32(10 ** (rng.uniform(-6, 6) / 20))).astype(np.float32)
    y16 = soxr.resample(y, SR, musicnn.SR).astype(np.float32)
    span = musicnn.PATCH * musicnn.HOP  # the teacher's patch in 16-kHz samples
    room = min(1 + len(y) // HOP - PATCH_FRAMES, int((len(y16) - span) / musicnn.SR * SR / HOP))
    n = min(per_track, int(len(y) / SR / PATCH_SECONDS))
    if room < 0 or n < 1:
        raise ValueError("shorter than one patch")
    frames = np.sort(rng.integers(0, room + 1, n))
    starts16 = np.minimum(np.round(frames * HOP / SR * musicnn.SR).astype(int), len(y16) - span)
    # the snippets back to back: musicnn's patches are exactly these, in order
    emb, tags = musicnn.embed(np.concatenate([y16[s : s + span] for s in starts16]))
    x = np.empty((n, N_MELS, PATCH_FRAMES), np.float16)
    for i, f in enumerate(frames):
        lo = max(0, f - MARGIN)
        x[i] = Spectra(y[lo * HOP : (f + PATCH_FRAMES + MARGIN) * HOP]).log_mel[
            :, f - lo : f - lo + PATCH_FRAMES
        ]
    return {"x": x, "emb": emb[:n].astype(np.float32), "tags": tags[:n].astype(np.float32)}


def _cache_one(job: tuple[Path, Path, int, int]) -> str | None:
    """Teacher outputs of one track into its cache file; None, or why it failed (it is then skipped)."""
    from synesthete.audio import decode
    from synesthete.features.musicnn import _network

    audio, cache, per_track, seed = job
    _network()  # one torch thread per worker
    try:
        parts = track_patches(decode(audio), per_track, np.random.default_rng(seed))
    except Exception as e:  # one bad track never stops the run
        return f"{audio}: {e}"
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".part.npz")
    np.savez(tmp, **parts)
    os.replace(tmp, cache)
    return None


def teacher_outputs(
    corpus: Path,
    *,
    manifest: Path | None = None,
    per_track: int = PER_TRACK,
    workers: int = 2,
    seed: int = 0,
    progress: bool = True,
):
    """Cached teacher patches of every corpus track (computed where missing): (Patches, packages) with
    ``Patches.track`` indexing ``packages`` (one entry per track)."""
    from tqdm import tqdm

    listed = tracks(corpus, manifest)
    caches = [
        corpus / "teacher" / f"{per_track}" / p.relative_to(corpus).with_suffix(".npz") for _, p, _ in listed
    ]
    # each track's positions and gain depend on its file name only, so a partial run resumes identically
    jobs = [
        (audio, c, per_track, seed + int(hashlib.sha1(p.name.encode()).hexdigest()[:8], 16))
        for (_, p, audio), c in zip(listed, caches, strict=True)
    ]
    todo = [j for j in jobs if not j[1].is_file()]
    with ProcessPoolExecutor(workers) as pool:
        bar = tqdm(total=len(todo), desc="teacher", unit="track", file=sys.stderr, disable=not progress)
        for failure in pool.map(_cache_one, todo, chunksize=4):
            if failure:
                print(f"skipped {failure}", file=sys.stderr)
            bar.update(1)
        bar.close()
    parts, packages = [], []
    for (package, _, _), cache in zip(listed, caches, strict=True):
        if cache.is_file():
            with np.load(cache) as z:
                n = len(z["x"])
                parts.append(Patches(z["x"], z["emb"], z["tags"], np.full(n, len(packages))))
            packages.append(package)
    return Patches.concat(parts), packages


def package_precision(net, data, packages: Sequence[str], k: int = 10) -> dict[str, float]:
    """Precision@k of the teacher's and the student's track vectors (maximum over each track's cached
    patches, standardised, cosine) with the package as the label: a held-out check that needs no
    labels, since the tracks of one game tend to sound alike."""
    import torch

    from synesthete.evaluate.scores import ranking_scores
    from synesthete.index import normalize
    from synesthete.models.cnn import embed

    with torch.inference_mode():
        student = embed(net, data.x)
    tracks_ = np.unique(data.track)
    labels = [packages[t] for t in tracks_]
    out = {}
    for name, per_patch in (("musicnn", data.emb), ("cnn", student)):
        v = np.stack([per_patch[data.track == t].max(0) for t in tracks_])
        v = normalize((v - v.mean(0)) / np.maximum(v.std(0), 1e-6), dtype=v.dtype)
        out[name] = round(float(ranking_scores(v @ v.T, labels, k=k)["precision_at_k"]), 4)
    return out
