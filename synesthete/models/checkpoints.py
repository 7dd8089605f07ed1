"""Checkpoints of the ``cnn`` student: the shipped one, and those ``synesthete train`` writes into a library.

A library keeps its checkpoints in ``<library>/models/cnn-<hash>.pt`` (content-addressed: the name is
the first 12 hex digits of the file's SHA-256) and names the current one in ``<library>/models/current.json``.
The ``cnn`` extractor's version is derived from the hash of the checkpoint it runs
(``Checkpoint.version``), so a new checkpoint changes the version and ``scan`` recomputes every ``cnn``
vector, while going back to an older checkpoint (or to the shipped one) finds the right version again.

Which checkpoint the ``cnn`` extractor runs in a process is set by ``use`` (``Library`` passes its
library's, ``of_library``, before each use). Nothing goes through the environment: a scan passes the
checkpoint explicitly, in each ``Job``, to the worker processes (local or Ray) that analyse its files.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synesthete.exceptions import ParameterError

FOLDER = "models"
CURRENT = "current.json"
SHIPPED = Path(__file__).parent / "weights" / "cnn-distilled.pt"
# The active checkpoint's (digest, bytes), given to a Ray worker through the object store
# (distributed/ray_backend.py): ``active`` and ``load`` then use them, not the disk, which a remote
# node may not share.
_provided: tuple[str, bytes] | None = None
_in_use: Path | None = None  # the checkpoint ``use`` chose; None: the shipped one


@dataclass(frozen=True)
class Checkpoint:
    """One file of student weights; ``version`` is what the ``cnn`` vectors made with it carry."""

    path: Path
    digest: str  # SHA-256 of the file, hex

    @property
    def version(self) -> int:
        """A positive int from the first 28 bits of the hash (it fits SQLite's integer and reads easily)."""
        return int(self.digest[:7], 16) or 1

    @property
    def shipped(self) -> bool:
        return self.path.resolve() == SHIPPED.resolve()


@functools.cache
def _digest(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def checkpoint(path: str | Path) -> Checkpoint:
    path = Path(path)
    try:
        st = path.stat()
    except OSError as e:
        raise ParameterError(f"{path}: cannot read the cnn checkpoint ({e.strerror or e})") from None
    return Checkpoint(path, _digest(str(path), st.st_size, st.st_mtime_ns))


def library_current(library: str | Path) -> Checkpoint | None:
    """The checkpoint a library's ``train`` made current, or None (the shipped one applies)."""
    folder = Path(library) / FOLDER
    try:
        name = json.loads((folder / CURRENT).read_text())["cnn"]
    except (OSError, ValueError, KeyError):
        return None
    return checkpoint(folder / name) if (folder / name).is_file() else None


def of_library(library: str | Path) -> Path | None:
    """The checkpoint file ``library`` runs: its current one, or None for the shipped one."""
    chosen = library_current(library)
    return None if chosen is None else chosen.path


def use(path: Path | None) -> None:
    """Run the checkpoint at ``path`` (None: the shipped one) in this process from now on."""
    global _in_use
    _in_use = None if path is None else Path(path)


def provide(digest: str, data: bytes) -> None:
    """In a worker: run the checkpoint ``data`` (SHA-256 ``digest``) from memory."""
    global _provided
    _provided = (digest, data)


def active() -> Checkpoint:
    """The checkpoint the ``cnn`` extractor runs now."""
    if _provided is not None:
        return Checkpoint(_in_use or SHIPPED, _provided[0])
    return checkpoint(_in_use or SHIPPED)


def save(library: str | Path, state: dict[str, Any], *, make_current: bool = True) -> Checkpoint:
    """Write ``state`` (``torch.save``-able) as a new content-addressed checkpoint of ``library``."""
    import torch

    folder = Path(library) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
    os.close(fd)
    torch.save(state, tmp)
    digest = _digest(tmp, *(lambda s: (s.st_size, s.st_mtime_ns))(os.stat(tmp)))
    final = folder / f"cnn-{digest[:12]}.pt"
    os.replace(tmp, final)
    if make_current:
        _write_json(folder / CURRENT, {"cnn": final.name})
    return checkpoint(final)


def reset(library: str | Path) -> None:
    """Go back to the shipped weights (the library's checkpoint files stay)."""
    (Path(library) / FOLDER / CURRENT).unlink(missing_ok=True)


def _write_json(path: Path, doc: dict) -> None:
    tmp = path.with_suffix(".part")
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, path)


def state_of(net: Any, **meta: Any) -> dict[str, Any]:
    """What a checkpoint holds: the network's config and weights, and how it was made."""
    return {"config": dict(net.config), "state": net.state_dict(), "meta": meta}


@functools.cache
def _load(path: str, digest: str):
    import torch

    from synesthete.models.cnn import Student

    source = io.BytesIO(_provided[1]) if _provided and _provided[0] == digest else path
    doc = torch.load(source, map_location="cpu", weights_only=True)
    net = Student(**doc["config"])
    missing, _ = net.load_state_dict(doc["state"], strict=False)
    if any(not k.startswith(("project.", "classify.")) for k in missing):
        raise ParameterError(f"{path}: not a cnn checkpoint (missing {missing[:3]})")
    return net.eval()


def load(ckpt: Checkpoint):
    """The ``Student`` of a checkpoint, in eval mode, loaded once per process."""
    return _load(str(ckpt.path), ckpt.digest)


def meta(ckpt: Checkpoint) -> dict[str, Any]:
    import torch

    return torch.load(ckpt.path, map_location="cpu", weights_only=True).get("meta", {})
