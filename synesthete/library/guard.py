"""What keeps a scan safe to start, stop and kill: one scan per library, workers that die with their
parent, SIGTERM handled like Ctrl-C, and decoder chatter kept off the terminal.

- ``scan_lock``: an ``flock`` on ``<library>/scan.lock``, so a second scan of the same library refuses
  at once instead of analysing everything again; the kernel drops it when the scan dies, however.
- ``watch_parent``: a worker asks the kernel (``PR_SET_PDEATHSIG``) to be killed when its parent dies,
  so killing only the main process (SIGTERM or SIGKILL) leaves no worker, nor the resource tracker
  that waits for them.
- ``terminate_as_interrupt``: SIGTERM raises ``KeyboardInterrupt`` in the scanning process, so both end
  the same way: workers stopped, finished tracks kept, one line on how to resume.
- ``memory_cap``: while one file is analysed, the process may grow by at most ``MEMORY_CAP`` bytes of
  address space (``RLIMIT_AS``), so a hostile file gets a clear error instead of the machine's memory.
- ``decoder_log``: libmpg123 and FFmpeg write warnings ("part2_3_length ... too large") straight to file
  descriptor 2; workers point it at ``<library>/logs/decoders.log`` instead.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import resource
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from synesthete.exceptions import UserError

LOCK_FILE = "scan.lock"
DECODER_LOG = Path("logs") / "decoders.log"
PR_SET_PDEATHSIG = 1
# A 10-minute file grows a warmed-up worker by ~0.6 GB of address space (2-minute chunks bound it for
# any length); past this, a file is refused.
MEMORY_CAP = 3 << 29  # 1.5 GiB


@contextmanager
def scan_lock(folder: Path) -> Iterator[None]:
    """Hold the library's scan lock, or refuse with a message naming the scan that holds it."""
    with open(folder / LOCK_FILE, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            raise UserError(
                f"another scan of the library {folder} is running (process {holder}): wait for it to end,"
                " or stop it, and run this one again"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        try:
            yield
        finally:
            fh.truncate(0)
            fcntl.flock(fh, fcntl.LOCK_UN)


def watch_parent(parent: int) -> None:
    """In a worker: be killed with the parent; if it is already gone, go now."""
    with suppress(OSError, AttributeError):  # not Linux: the parent-pid check below still runs once
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C while this block runs (main thread only; elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def holding_interrupts() -> Iterator[None]:
    """Start worker processes inside this block: SIGINT is held (blocked) meanwhile, and they are born
    with it held, until ``ignore_interrupts_in_worker`` makes them ignore it; so a Ctrl-C reaches only the
    main process, which stops them (no traceback from each worker). A Ctrl-C that lands while they start
    is delivered here when the block ends: ignoring it instead (SIG_IGN) would lose it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def ignore_interrupts_in_worker() -> None:
    """In a worker started inside ``holding_interrupts``: ignore SIGINT from now on, then release what
    was held (a Ctrl-C during its start is dropped here; the main process got it)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@contextmanager
def memory_cap(extra: int | None = None) -> Iterator[None]:
    """Allow this process ``extra`` (default ``MEMORY_CAP``) more bytes of address space in the block."""
    extra = MEMORY_CAP if extra is None else extra
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as fh:
        size = int(fh.read().split()[0]) * resource.getpagesize()
    cap = size + extra if hard == resource.RLIM_INFINITY else min(size + extra, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def decoder_log(folder: Path) -> Path:
    path = folder / DECODER_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def send_stderr_to(log: Path) -> None:
    """Point file descriptor 2 of this process at ``log`` for good (in a worker)."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 2)
    os.close(fd)


@contextmanager
def stderr_to(log: Path | None) -> Iterator[None]:
    """Point file descriptor 2 at ``log`` while this block runs (an in-process analysis)."""
    if log is None:
        yield
        return
    saved = os.dup(2)
    send_stderr_to(log)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
