"""A command run by hand in a development checkout finds the checkout's key and embedded database by itself;
importing the settings starts nothing; with PRODUCTION=1 a process still refuses to start without its own key."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = "pZ3q-Vw8xK2mR7tN4yB6cH1jL9sD5fG0aE_uI3oP8wQ2zX7vM4nB1kJ6hT9gF"


def _clean_env(**env: str) -> dict[str, str]:
    """No SECRET_KEY, no DATABASE_URL, no settings module: what a newcomer's terminal holds."""
    kept = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ}
    return {**kept, **env}


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=_clean_env(**env), capture_output=True, text=True, timeout=240
    )


def test_importing_the_settings_starts_no_database(tmp_path: Path) -> None:
    pgdata = tmp_path / "pgdata"
    result = _run(
        ["-c", "import museum_site.settings as s; print(s.DATABASES['default']['HOST'])"],
        SECRET_KEY="k",
        VAR_DIR=str(tmp_path),
        EMBEDDED_PGDATA=str(pgdata),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(pgdata)
    # A server there would have needed initdb to create the folder, and would have written postmaster.pid.
    assert not pgdata.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_command_by_hand_creates_the_checkout_key_once(tmp_path: Path) -> None:
    first = _run(["manage.py", "diffsettings"], VAR_DIR=str(tmp_path), EMBEDDED_PGDATA=str(tmp_path / "pgdata"))
    assert first.returncode == 0, first.stderr
    key_file = tmp_path / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text()
    assert len(key) >= 50
    again = _run(["manage.py", "diffsettings"], VAR_DIR=str(tmp_path), EMBEDDED_PGDATA=str(tmp_path / "pgdata"))
    assert again.returncode == 0, again.stderr
    assert key_file.read_text() == key
    assert not (tmp_path / "pgdata").exists()  # diffsettings reads no database: nothing was started


def test_a_command_by_hand_uses_the_checkout_key_and_embedded_database(tmp_path: Path, settings: Any) -> None:
    if settings.EMBEDDED_PGDATA is None:
        pytest.skip("the session runs on DATABASE_URL, not on the embedded server")
    (tmp_path / "secret_key").write_text(STRONG_KEY + "\n")
    code = (
        "from django.conf import settings; from django.db import connection;"
        "cursor = connection.cursor(); cursor.execute('SELECT 41 + 1');"
        "print(settings.SECRET_KEY == open(settings.LOCAL_SECRET_KEY_FILE).read().strip(), cursor.fetchone()[0])"
    )
    # The session's embedded server stands in for the one `make demo` leaves running.
    result = _run(
        ["manage.py", "shell", "-v", "0", "-c", code],
        VAR_DIR=str(tmp_path),
        EMBEDDED_PGDATA=str(settings.EMBEDDED_PGDATA),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "42"]


def test_production_refuses_to_start_without_its_own_key(tmp_path: Path) -> None:
    (tmp_path / "secret_key").write_text(STRONG_KEY)  # a checkout's key is no production key
    result = _run(
        ["manage.py", "check"], PRODUCTION="1", VAR_DIR=str(tmp_path), DATABASE_URL="postgresql://u@127.0.0.1:1/db"
    )
    assert result.returncode != 0
    assert "SECRET_KEY (or SECRET_KEY_FILE) must be set" in result.stderr


def test_production_refuses_the_embedded_database(tmp_path: Path) -> None:
    result = _run(["manage.py", "check"], PRODUCTION="1", SECRET_KEY=STRONG_KEY, VAR_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "DATABASE_URL (or DATABASE_URL_FILE) must be set with PRODUCTION=1" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no key written, no server started
