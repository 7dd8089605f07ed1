"""Lending ``Library`` objects to requests, one request at a time per object."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from synesthete.api import Library


class LibraryPool:
    """A few ``Library`` objects on one folder, each lent to one request at a time.

    Why: a ``Library`` holds one SQLite connection and a cached search space, which two threads must not
    use at once; a few independent objects let requests overlap (numpy and SQLite release the GIL) with no
    lock inside the engine. Each object caches its own search space, so memory grows with ``size``.
    """

    def __init__(self, folder: str | Path, *, size: int = 2, first: Library | None = None) -> None:
        if size < 1:
            raise ValueError("a pool needs at least one Library")
        self.folder = Path(folder)
        self._owned: list[Library] = []
        self._idle: queue.Queue[Library] = queue.Queue()
        members = [first] if first is not None else []
        while len(members) < size:
            lib = Library(self.folder)
            self._owned.append(lib)
            members.append(lib)
        for lib in members:
            self._idle.put(lib)
        self.size = size

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

    def close(self) -> None:
        """Close the objects this pool opened (never one it was given)."""
        for lib in self._owned:
            lib.close()
        self._owned.clear()
