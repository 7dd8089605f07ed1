"""Which pooling of musicnn's per-patch embedding retrieves best: bench/quality.py over every variant.

    .venv/bin/python bench/musicnn_pooling.py [--library DIR] [quality.py options]

Registers ``musicnn-<pooling>`` for each of ``Musicnn.POOLINGS`` (in this process only) beside the
registered extractors, then runs ``quality.py`` with one worker, so that every variant reads the same
network pass per chunk (the ``Spectra`` cache) and the scan costs one musicnn run per track.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import quality

from synesthete.features import registry
from synesthete.features.musicnn import Musicnn


def main() -> int:
    for pooling in Musicnn.POOLINGS:
        variant = type(f"Musicnn_{pooling}", (Musicnn,), {"name": f"musicnn-{pooling}"})
        registry.EXTRACTORS[variant.name] = variant(pooling)
    sys.argv = [sys.argv[0], "--workers", "1", *sys.argv[1:]]
    return quality.main()


if __name__ == "__main__":
    sys.exit(main())
