"""Where the library lives, when the caller does not say."""

from __future__ import annotations

import os
from pathlib import Path

ENV_LIBRARY = "SYNESTHETE_LIBRARY"


def default_library() -> Path:
    """``$SYNESTHETE_LIBRARY``, else ``$XDG_DATA_HOME/synesthete`` (``~/.local/share/synesthete``)."""
    if os.environ.get(ENV_LIBRARY):
        return Path(os.environ[ENV_LIBRARY]).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "synesthete"
