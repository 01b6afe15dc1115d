"""The embedded server starts with the shared_buffers it is configured for, and never restarts under a running site."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
import pytest

from museum_site.tests.processes import EmbeddedPostgres


def _shared_buffers_and_start(url: str) -> tuple[str, object]:
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT current_setting('shared_buffers'), pg_postmaster_start_time()").fetchone()
    assert row is not None
    return str(row[0]), row[1]


def test_it_starts_with_the_configured_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = EmbeddedPostgres(tmp_path / "pgdata")
    monkeypatch.setenv("EMBEDDED_PG_SHARED_BUFFERS_MB", "192")
    url = server.start()
    try:
        size, started = _shared_buffers_and_start(url)
        assert size == "192MB"
        monkeypatch.setenv("EMBEDDED_PG_SHARED_BUFFERS_MB", "256")
        server.start()  # already running, with other processes perhaps connected: not restarted
        assert _shared_buffers_and_start(url) == ("192MB", started)
        server.stop()
        server.start()  # the next start takes the new size
        assert _shared_buffers_and_start(url)[0] == "256MB"
    finally:
        server.stop()


def test_by_default_it_holds_a_million_artworks_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EMBEDDED_PG_SHARED_BUFFERS_MB", raising=False)
    server = EmbeddedPostgres(tmp_path / "pgdata")
    try:
        assert _shared_buffers_and_start(server.start())[0] == "2GB"  # the 1M benchmark's index: 1.3 GB
    finally:
        server.stop()


def test_a_size_that_is_no_number_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBEDDED_PG_SHARED_BUFFERS_MB", "lots")
    with pytest.raises(subprocess.CalledProcessError) as refused:
        EmbeddedPostgres(tmp_path / "pgdata").start()
    assert "EMBEDDED_PG_SHARED_BUFFERS_MB='lots' is not an integer" in refused.value.stderr
    assert not (tmp_path / "pgdata").exists()  # refused before anything was created
