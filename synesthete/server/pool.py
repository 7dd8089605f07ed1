"""Lending ``Library`` objects to requests, and answering concurrent ``similar`` requests in batches."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple, TypeVar

from synesthete.api import Library, Match
from synesthete.exceptions import UserError
from synesthete.library.catalog import Track

T = TypeVar("T")
MAX_BATCH = 64  # requests searched together at most, so that no batch keeps its first ask waiting long


class LibraryPool:
    """A few ``Library`` objects on one folder, each lent to one request at a time.

    Why: a ``Library`` holds one SQLite connection, which two threads must not use at once; a few
    independent objects let requests overlap (numpy and SQLite release the GIL) with no lock inside the
    engine. They share their search spaces, so memory does not grow with ``size``.
    """

    def __init__(
        self,
        folder: str | Path,
        *,
        size: int = 2,
        first: Library | None = None,
        spaces_of: Library | None = None,
    ) -> None:
        """``first``: lend this object too (it is never closed here); ``spaces_of``: share that object's
        spaces (``serve --workers``: the spaces its parent process read before forking)."""
        if size < 1:
            raise ValueError("a pool needs at least one Library")
        self.folder = Path(folder)
        self._owned: list[Library] = []
        self._idle: queue.Queue[Library] = queue.Queue()
        members = [first] if first is not None else []
        while len(members) < size:
            lib = Library(self.folder, spaces_of=members[0] if members else spaces_of)
            self._owned.append(lib)
            members.append(lib)
        for lib in members:
            self._idle.put(lib)
        self.size = size
        self.first = members[0]
        self._threads = ThreadPoolExecutor(max_workers=size, thread_name_prefix="library")

    @classmethod
    def of(cls, library: Library, *, size: int = 1) -> LibraryPool:
        """A pool that lends ``library`` itself (and ``size - 1`` more objects on its folder)."""
        return cls(library.folder, size=size, first=library)

    @contextmanager
    def borrow(self) -> Iterator[Library]:
        lib = self._idle.get()
        try:
            yield lib
        finally:
            self._idle.put(lib)

    async def run(self, work: Callable[[Library], T]) -> T:
        """``work(lib)`` in one of the pool's threads, with a handle of its own, awaited on the event loop.

        Why not the framework's thread pool: its 40 threads would queue for the few handles, a lock hand-over
        and a thread switch more per request; here each thread has a handle waiting for it.
        """
        return await asyncio.get_running_loop().run_in_executor(self._threads, self._lend, work)

    def _lend(self, work: Callable[[Library], T]) -> T:
        with self.borrow() as lib:
            return work(lib)

    def close(self) -> None:
        """Close the objects this pool opened (never one it was given)."""
        self._threads.shutdown(cancel_futures=True)
        for lib in self._owned:
            lib.close()
        self._owned.clear()


class NoSuchTrack(UserError):
    """The id of a ``similar`` request names no catalogued track (a 404, not a bad request)."""


class Similar(NamedTuple):
    query: Track
    model: str  # as results report it, e.g. 'fused-v1'
    matches: list[Match]
    least: Match | None = None  # asked ``with_least``: the least similar track (None: no other track)


class _OnLoop:
    """The answer to an ask awaited on an event loop (``SimilarBatcher.ask``), set by the batching thread
    and handed to the loop with the rest of its batch in one call.

    Why: a wrapped concurrent future wakes the loop once per answer (``call_soon_threadsafe`` and its
    callbacks: ~3 % of a `similar` answer's CPU under 50 clients); a batch of 20 needs one wake-up.
    """

    def __init__(self, future: asyncio.Future, outbox: list[tuple[asyncio.Future, object, bool]]) -> None:
        self.future, self._outbox, self._done = future, outbox, False

    def set_running_or_notify_cancel(self) -> bool:
        return not self.future.cancelled()  # a request given up is neither searched nor answered

    def done(self) -> bool:
        return self._done

    def set_result(self, result: object) -> None:
        self._done = True
        self._outbox.append((self.future, result, False))

    def set_exception(self, error: BaseException) -> None:
        self._done = True
        self._outbox.append((self.future, error, True))


def _settle(answers: list[tuple[asyncio.Future, object, bool]]) -> None:
    """On the event loop: each answer to its future, unless its request was given up meanwhile."""
    for future, value, failed in answers:
        if not future.done():
            if failed:
                future.set_exception(value)
            else:
                future.set_result(value)


class _Ask(NamedTuple):
    track_id: int
    k: int
    model: str | None
    dissimilar: bool
    with_least: bool
    answer: _OnLoop


class SimilarBatcher:
    """``Library.similar`` for concurrent requests, searched together by one thread.

    Why: at 10^4 tracks of the fused model (956 dimensions) one query reads 38 MB of vectors, so each
    costs ~4 ms of memory traffic; requests that arrive while a batch is searched make up the next batch,
    whose queries share one pass over the vectors (``Library.similar_many``). Under light load a batch is
    one request, answered at once. The thread has its own ``Library`` (sharing the pool's spaces), so it
    never waits for a handle that a long upload holds, and it runs beside the event loop on another core.
    """

    def __init__(self, pool: LibraryPool) -> None:
        self._lib = Library(pool.folder, spaces_of=pool.first)
        self._asks: queue.SimpleQueue[_Ask | None] = queue.SimpleQueue()
        self._outbox: list[tuple[asyncio.Future, object, bool]] = []  # answers for event loops (``ask``)
        self._thread = threading.Thread(target=self._serve, name="similar-batches", daemon=True)
        self._thread.start()

    async def ask(
        self, track_id: int, *, k: int, model: str | None, dissimilar: bool, with_least: bool = False
    ) -> Similar:
        """``Library.similar`` of ``track_id``, searched with the other asks queued meanwhile and awaited on
        the running event loop, which the whole batch's answers reach at once. ``with_least``: also the
        least similar track, from the same pass (``Library.similar_and_least_many``)."""
        future = asyncio.get_running_loop().create_future()
        self._asks.put(_Ask(track_id, k, model, dissimilar, with_least, _OnLoop(future, self._outbox)))
        return await future

    def close(self) -> None:
        self._asks.put(None)
        self._thread.join()
        self._lib.close()

    def _serve(self) -> None:
        while (first := self._asks.get()) is not None:
            batch = [first]
            while len(batch) < MAX_BATCH and not self._asks.empty():
                ask = self._asks.get()
                if ask is None:
                    self._asks.put(None)  # stop after this batch
                    break
                batch.append(ask)
            groups: dict[tuple, list[_Ask]] = {}
            for ask in batch:  # an ask given up (its client went away) is not searched, nor answered
                if ask.answer.set_running_or_notify_cancel():
                    groups.setdefault((ask.k, ask.model, ask.dissimilar, ask.with_least), []).append(ask)
            for group in groups.values():
                try:
                    self._answer(group)
                except Exception as e:  # a bug: its asks get the error, the thread goes on
                    for ask in group:
                        if not ask.answer.done():
                            ask.answer.set_exception(e)
            self._deliver()

    def _deliver(self) -> None:
        """The batch's answers for event loops, one call per loop."""
        by_loop: dict[asyncio.AbstractEventLoop, list] = {}
        for answer in self._outbox:
            by_loop.setdefault(answer[0].get_loop(), []).append(answer)
        self._outbox.clear()
        for loop, answers in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a loop closed meanwhile: nobody waits for these
                loop.call_soon_threadsafe(_settle, answers)

    def _answer(self, asks: list[_Ask]) -> None:
        """Answer asks of one (k, model, dissimilar, with_least); one bad ask never fails the others."""
        lib, found = self._lib, []
        try:  # one catalog read for the batch's tracks
            tracks = lib.tracks_by_ids([ask.track_id for ask in asks])
        except Exception as e:  # e.g. a closed catalog: every ask gets it
            for ask in asks:
                ask.answer.set_exception(e)
            return
        for ask in asks:
            if ask.track_id in tracks:
                found.append((ask, tracks[ask.track_id]))
            else:
                ask.answer.set_exception(NoSuchTrack(f"no track with id {ask.track_id}"))
        if not found:
            return
        k, model, dissimilar, with_least = asks[0].k, asks[0].model, asks[0].dissimilar, asks[0].with_least

        def search(tracks: list[Track]) -> list[tuple[list[Match], Match | None]]:
            if with_least:
                return lib.similar_and_least_many(tracks, k=k, model=model)
            return [(m, None) for m in lib.similar_many(tracks, k=k, model=model, dissimilar=dissimilar)]

        try:
            name = lib.space(model).name
            results = search([t for _, t in found])
        except Exception:  # e.g. one track without a vector: each ask alone, with its own error
            for ask, track in found:
                try:
                    ((matches, least),) = search([track])
                    ask.answer.set_result(Similar(track, lib.space(model).name, matches, least))
                except Exception as e:
                    ask.answer.set_exception(e)
            return
        for (ask, track), (matches, least) in zip(found, results, strict=True):
            ask.answer.set_result(Similar(track, name, matches, least))
