"""The HTTP API and the web page: FastAPI routes that are thin calls of ``Library``.

``create_app(folder_or_library, token=...)`` builds the application; ``synesthete serve`` runs it under
uvicorn. JSON routes live under ``/api``, the OpenSubsonic routes under ``/rest``, the page at ``/``.
"""

from synesthete.server.app import create_app
from synesthete.server.pool import LibraryPool
from synesthete.server.security import is_loopback

__all__ = ["LibraryPool", "create_app", "is_loopback"]
