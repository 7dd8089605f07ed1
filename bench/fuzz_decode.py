"""Fuzz the decoder: mutate small valid files and run synesthete's own decode + validation on each.

Each mutant (bit flips, inserted or deleted bytes, a truncation, or a header field set to 0, 1, all ones
or a random value) runs in a child process of its own (a fork of this one) under ``resource.setrlimit``
limits: CPU time and address space. The outcome is one of

    analysed     decoded and validated: a usable signal
    clean error  an ``AudioError`` naming the file and a reason (what a scan records)
    uncaught     any other exception: a bug (the scan would say "internal error")
    crash        the child died of a signal (a segfault in a C library)
    hang         no answer within the time limit
    memory       MemoryError or death past the memory limit

Offenders (every outcome but the first two) are saved under ``--out`` with their outcome in the name,
to become regression fixtures in ``tests/data/fuzz/``.

    .venv/bin/python bench/fuzz_decode.py --seconds 300 --out fuzz-offenders/
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEEDS = [
    ROOT / "tests" / "data" / name for name in ("clip.wav", "clip.flac", "clip.mp3", "clip.ogg", "clip.m4a")
]
TIME_LIMIT = 10.0  # seconds of wall time per mutant (3-s clips decode in ~0.05 s)
MEMORY_LIMIT = 1 << 30  # bytes of address space a mutant may add to the decoder's own
OUTCOMES = ("analysed", "clean error", "uncaught", "crash", "hang", "memory")
EXIT = {0: "analysed", 3: "clean error", 4: "uncaught", 5: "memory"}


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One random mutation of ``data`` and a short name for it."""
    b = bytearray(data)
    kind = rng.choice(["flip", "insert", "delete", "truncate", "field"])
    if kind == "flip":
        for _ in range(rng.randint(1, 16)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif kind == "insert":
        i = rng.randrange(len(b))
        b[i:i] = rng.randbytes(rng.randint(1, 512))
    elif kind == "delete":
        i = rng.randrange(len(b))
        del b[i : i + rng.randint(1, 512)]
    elif kind == "truncate":
        del b[rng.randrange(1, len(b)) :]
    else:  # a header field: 2 or 4 bytes near the start set to an extreme or random value
        width = rng.choice([2, 4])
        i = rng.randrange(0, min(len(b), 128) - width)
        b[i : i + width] = rng.choice(
            [b"\x00" * width, b"\xff" * width, b"\x00" * (width - 1) + b"\x01", rng.randbytes(width)]
        )
    return bytes(b), kind


def run_one(path: str, time_limit: float, memory_limit: int) -> str:
    """Decode ``path`` in a forked child under limits; the outcome's name."""
    pid = os.fork()
    if pid == 0:  # the child: limits, decode, exit code = outcome
        code = 4
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)  # decoders' own warnings are not results
            os.dup2(devnull, 2)
            soft = int(time_limit) + 1
            resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 1))
            resource.setrlimit(resource.RLIMIT_AS, (_address_space() + memory_limit,) * 2)
            code = _decode(path)
        finally:
            os._exit(code)
    deadline = time.monotonic() + time_limit
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "hang"
        time.sleep(0.002)
    if os.WIFSIGNALED(status):
        return "hang" if os.WTERMSIG(status) in (signal.SIGXCPU, signal.SIGKILL) else "crash"
    return EXIT.get(os.WEXITSTATUS(status), "crash")


def _decode(path: str) -> int:
    from synesthete.audio.decode import iter_chunks
    from synesthete.exceptions import AudioError

    try:
        for _ in iter_chunks(path):
            pass
        return 0
    except AudioError:
        return 3
    except MemoryError:
        return 5
    except Exception:
        return 4


def _address_space() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[0]) * resource.getpagesize()


def fuzz(seconds: float, out: Path | None, seed: int = 0, quiet: bool = False) -> dict[str, int]:
    """Mutate and decode for ``seconds``; the count of each outcome (plus ``tried``)."""
    import synesthete.audio.decode  # noqa: F401  imported once here, so each fork starts warm

    rng = random.Random(seed)
    seeds = [(p.suffix, p.read_bytes()) for p in SEEDS]
    counts = dict.fromkeys(("tried", *OUTCOMES), 0)
    end = time.monotonic() + seconds
    with tempfile.TemporaryDirectory() as tmp:
        while time.monotonic() < end:
            suffix, data = rng.choice(seeds)
            mutant, kind = mutate(data, rng)
            path = Path(tmp) / f"mutant{suffix}"
            path.write_bytes(mutant)
            outcome = run_one(str(path), TIME_LIMIT, MEMORY_LIMIT)
            counts["tried"] += 1
            counts[outcome] += 1
            if outcome not in ("analysed", "clean error") and out is not None:
                out.mkdir(parents=True, exist_ok=True)
                name = f"{outcome.replace(' ', '-')}-{kind}-{counts['tried']}{suffix}"
                (out / name).write_bytes(mutant)
                if not quiet:
                    print(f"offender: {out / name}", file=sys.stderr)
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("fuzz-offenders"))
    args = parser.parse_args()
    counts = fuzz(args.seconds, args.out, args.seed)
    print(
        f"mutants tried {counts['tried']} in {args.seconds:g} s: analysed {counts['analysed']},"
        f" clean errors {counts['clean error']}, uncaught {counts['uncaught']}, crashes {counts['crash']},"
        f" hangs {counts['hang']}, memory blow-ups {counts['memory']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
