"""Analysis keeps freed memory for the next chunk (``analysis.reuse_freed_memory``): no fresh pages per chunk.

Each case runs in a fresh interpreter, so glibc's state is the default one whatever ran before."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from synesthete.analysis import reuse_freed_memory

# Three 8-MB arrays made and freed six times, as a chunk's spectrogram and its temporaries are: the page
# faults of each round.
ROUNDS = """
import json, resource, sys
import numpy as np
if sys.argv[1] == "tuned":
    from synesthete.analysis import reuse_freed_memory
    reuse_freed_memory()
faults = []
for _ in range(6):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    arrays = [np.ones(2_000_000, np.float32) for _ in range(3)]
    del arrays
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps(faults))
"""


def rounds(mode: str) -> list[int]:
    out = subprocess.run([sys.executable, "-c", ROUNDS, mode], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_chunks_after_the_first_reuse_the_memory_of_the_last() -> None:
    if not reuse_freed_memory():
        pytest.skip("the C library has no mallopt (not glibc)")
    pages = 3 * 8_000_000 // 4096
    # glibc's defaults hand the memory back and fault a large part of it in again every round ...
    assert min(rounds("default")[1:]) > pages / 20
    # ... tuned, only the first round does.
    assert max(rounds("tuned")[1:]) < pages / 100
