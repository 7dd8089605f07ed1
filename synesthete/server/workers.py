"""``serve --workers N``: N processes answering on one listening socket, forked from one that read the space.

Why processes: one Python process runs its own code on one core at a time (the GIL), so a second worker is
what puts the second core to work on routing, validation and JSON. Why fork: the parent reads the default
model's search space before forking, so the workers share its pages (copy on write) instead of holding a
copy each. Each worker is a whole server of its own: its ``Library`` handles and SQLite connections, its
batching thread, its models (loaded by its first upload); the upload limiter's counts are shared
(``security.SharedBuckets``). Nothing goes stale: each worker checks the catalog's generation on every
search and reads a changed space again (that copy is its own). Linux and macOS only (fork).
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator

from synesthete.api import Library
from synesthete.exceptions import UserError
from synesthete.index import exact_limit

STOPS = {signal.SIGINT, signal.SIGTERM}
QUICK_EXIT_S = 10.0  # a worker that exits this soon after starting would again: stop instead


def warm(lib: Library) -> None:
    """Read the default space and build its exact index here, before the fork, so workers share them.

    An approximate (HNSW) index is left to each worker: faiss builds it with OpenMP threads, which do not
    survive a fork.
    """
    try:
        space = lib.space()
    except UserError:  # nothing catalogued yet: each worker reads the space when it is asked
        return
    if len(space.ids) <= exact_limit(space.vectors.shape[1]):
        _ = space.index  # exact: numpy only
    if not space.quantized:  # it answers 'least similar' itself: an exact copy would double the memory
        _ = space.exact  # 'least similar', which Subsonic's similarity asks for on every request


def run(n: int, serve: Callable[[], int]) -> int:
    """Fork ``n`` workers running ``serve`` and wait; a worker that dies (killed, or failing later) is
    replaced; SIGINT or SIGTERM stops them all. 0 once stopped, 1 when a worker failed as it started."""
    gc.freeze()  # the objects read so far: the workers' collector leaves their pages shared
    children: dict[int, float] = {}  # pid -> when it started
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)

    def start() -> None:
        with _signals_held():  # a stop between the fork and here would miss the new worker
            children[_fork(serve)] = time.monotonic()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for _ in range(n):
        start()
    failed = False
    while children:
        pid, status = os.wait()  # the handler above runs meanwhile; the wait goes on
        started = children.pop(pid, None)
        if started is None or stopping:
            continue
        code = os.waitstatus_to_exitcode(status)  # negative: killed by that signal
        if code >= 0 and time.monotonic() - started < QUICK_EXIT_S:  # failed starting: it would again
            _say(f"synesthete: worker {pid} stopped at once (exit {code}): stopping the server")
            failed = True
            stop(signal.SIGTERM, None)
        else:
            _say(f"synesthete: worker {pid} stopped (exit {code}): starting another")
            start()
    return 1 if failed else 0


def _fork(serve: Callable[[], int]) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:  # the worker: uvicorn takes SIGINT and SIGTERM over as it starts, and shuts down gracefully
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOPS)
        code = serve()
    except KeyboardInterrupt:
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # never the parent's clean-up: its SQLite connection is the parent's


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait (the kernel keeps them) until the block ends; a forked child unblocks
    them once its own handlers are set."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOPS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOPS)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
