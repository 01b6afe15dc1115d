"""A process that stopped the embedded server can start it again (the library keeps a handle per folder)."""

from __future__ import annotations

from pathlib import Path

import psycopg

from devtools.embedded_postgres import ensure_running, stop


def _answers(url: str) -> bool:
    with psycopg.connect(url) as connection:
        return connection.execute("SELECT 1").fetchone() == (1,)


def test_it_starts_again_after_a_stop_in_the_same_process(tmp_path: Path) -> None:
    pgdata = tmp_path / "pgdata"
    try:
        url = ensure_running(pgdata)
        assert _answers(url)
        assert stop(pgdata)
        assert not (pgdata / "postmaster.pid").exists()
        assert ensure_running(pgdata) == url
        assert _answers(url)
    finally:
        stop(pgdata)
