"""The learnt part of ``fused-learnt``: a projection of each member's standardised vector, learnt on real music.

Why: the members' dimensions were made for other questions (musicnn's for the Million Song Dataset's
tags, the descriptors by hand), and in a z-scored space every dimension counts alike, the ones that
tell soundtracks apart and the ones that vary within every piece. Linear discriminant analysis finds
the directions along which tracks of one source (a game's or a program's soundtrack: one composer, one
palette, one production) lie close and different sources lie apart. It needs labels, and the training
corpus has them for free: the Debian package each track came from (``bench/corpus.sh``). No dev clip and
no package of the held-out measure is trained on (``HELD_OUT``).

``fused-learnt`` keeps each member's plain cosine, as ``fused`` has it, and adds the cosine in the learnt
space (``LEARNT_SHARE`` of the weight): the named dimensions stay for explanations, near-duplicates and
the map.

Rebuild the shipped projections from the corpus: ``python -m synesthete.models.metric``.
"""

from __future__ import annotations

import argparse
import functools
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

SHIPPED = Path(__file__).parent / "weights" / "metric.npz"
LEARNT_SHARE = 0.7  # chosen by 5-fold cross-validation by package on the corpus (0.7 ~ 1.0 > 0.5 > 0.3)
LEARNT_GROUP = "learnt"  # the projected dimensions' group, as explanations name it
MEMBERS = ("descriptors", "musicnn", "seed498")
# The corpus packages of the held-out measure (bench/fusion.py clips --untrained-by
# manifest-recorded.csv): never trained on, so that measure stays held out.
HELD_OUT = (
    "biniax2-data", "bomberclone-data", "colobot-common-sounds", "enigma-data", "faust-common", "freedink-data",
    "freedoom", "freedroid-data", "gl-117-data", "heroes-sound-tracks", "ironseed-data", "madbomber-data", "mma",
    "openttd-openmsx", "pachi-data", "pekka-kana-2-data", "pianobooster", "pingus-data", "rafkill-data",
    "simutrans-data", "tecnoballz-data", "ufoai-music", "wizznic-data", "xmoto-data",
)  # fmt: skip
CLIP_SECONDS = 30.0  # the middle of each track, as the evaluations take their clips


@functools.cache
def projections() -> dict[str, np.ndarray]:
    """Each member's projection (its dimensions x learnt dimensions), for vectors of the versions they
    were learnt on; an extractor whose version moved on makes a projection that no longer applies."""
    from synesthete.features.registry import EXTRACTORS

    with np.load(SHIPPED, allow_pickle=False) as z:
        out = {m: z[m].astype(np.float64) for m in MEMBERS}
        versions = {m: int(z[f"{m}_version"]) for m in MEMBERS}
    for m, v in versions.items():
        if EXTRACTORS[m].version != v:
            raise RuntimeError(
                f"{SHIPPED.name} was learnt on {m} v{v}; rebuild it for v{EXTRACTORS[m].version}"
            )
    return out


def standardised(raw: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """What a space does to a member's raw vectors: z-scored over the collection, weighted."""
    z = (raw - raw.mean(0)) / np.maximum(raw.std(0), 1e-6)
    return z * weights if weights is not None else z


def fit(vectors: Mapping[str, np.ndarray], groups: Sequence[str]) -> dict[str, np.ndarray]:
    """Each member's LDA directions (all of them: at most one fewer than the sources), on its standardised
    vectors. The covariance is shrunk (Ledoit-Wolf), which a few hundred dimensions need with ~800 tracks."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    from synesthete.features.registry import EXTRACTORS

    out = {}
    for m in MEMBERS:
        z = standardised(np.asarray(vectors[m], np.float64), EXTRACTORS[m].weights)
        with warnings.catch_warnings():  # a package of one track has no spread of its own: said per track
            warnings.filterwarnings("ignore", "Only one sample available", UserWarning)
            lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage="auto").fit(z, np.asarray(groups))
        out[m] = lda.scalings_.astype(np.float32)
    return out


def corpus_vectors(corpus: Path, held_out: Sequence[str]) -> tuple[dict[str, np.ndarray], list[str]]:
    """The members' vectors of the middle ``CLIP_SECONDS`` of every corpus track outside ``held_out``
    packages, and each one's package."""
    from synesthete.audio import decode_span, probe
    from synesthete.exceptions import AudioError
    from synesthete.features.base import Spectra
    from synesthete.features.registry import EXTRACTORS
    from synesthete.models.corpus import tracks

    out: dict[str, list[np.ndarray]] = {m: [] for m in MEMBERS}
    groups = []
    for package, _, audio in tracks(corpus):
        if package in held_out:
            continue
        try:
            seconds = probe(audio).duration or 2 * CLIP_SECONDS
            y = decode_span(audio, max(0.0, seconds / 2 - CLIP_SECONDS / 2), min(CLIP_SECONDS, seconds))
            spectra = Spectra(y)
            made = {m: EXTRACTORS[m].finish([EXTRACTORS[m].partial(spectra)]) for m in MEMBERS}
        except (AudioError, ValueError) as e:
            print(f"skipped {audio}: {e}")
            continue
        for m in MEMBERS:
            out[m].append(made[m])
        groups.append(package)
    return {m: np.stack(v) for m, v in out.items()}, groups


def main(argv: Sequence[str] | None = None) -> None:
    from synesthete.features.registry import EXTRACTORS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("/work/corpus"), help="bench/corpus.sh's folder")
    parser.add_argument("--out", type=Path, default=SHIPPED)
    args = parser.parse_args(argv)
    vectors, groups = corpus_vectors(args.corpus, HELD_OUT)
    learnt = fit(vectors, groups)
    versions = {f"{m}_version": np.array(EXTRACTORS[m].version) for m in MEMBERS}
    np.savez(
        args.out, **learnt, **versions, tracks=np.array(len(groups)), packages=np.array(len(set(groups)))
    )
    print(f"{args.out}: {len(groups)} tracks of {len(set(groups))} packages; "
          + ", ".join(f"{m} {p.shape[0]} -> {p.shape[1]}" for m, p in learnt.items()))  # fmt: skip


if __name__ == "__main__":
    main()
