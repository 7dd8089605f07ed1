"""The PostgreSQL catalog against a real server (tests/pg.py starts one with pgvector)."""

from __future__ import annotations

import pytest

psycopg = pytest.importorskip(
    "psycopg", reason="PostgreSQL tests need the scale extra: pip install -e '.[scale]'"
)


def test_the_server_is_real_and_has_pgvector(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        (distance,) = conn.execute("SELECT '[1,0,0]'::vector <=> '[0,1,0]'::vector").fetchone()
        (name,) = conn.execute("SELECT current_database()").fetchone()
    assert distance == pytest.approx(1.0)  # cosine distance of orthogonal vectors
    assert name.startswith("test_")
