"""DATABASE_POOLER=pgbouncer-transaction turns off what a transaction-mode pooler cannot carry, and needs a
direct URL for index builds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHOW = (
    "from museum_site import settings as s; d = s.DATABASES['default']; "
    "print(d.get('DISABLE_SERVER_SIDE_CURSORS', False), d['OPTIONS'].get('prepare_threshold', 'unset'))"
)


def _settings(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    clean.update(SECRET_KEY="k", DATABASE_URL="postgresql://u@pgbouncer:6432/db", **env)
    return subprocess.run([sys.executable, "-c", SHOW], cwd=ROOT, env=clean, capture_output=True, text=True)


def test_behind_pgbouncer_no_server_side_cursor_or_prepared_statement_is_used() -> None:
    result = _settings(DATABASE_POOLER="pgbouncer-transaction", DATABASE_DIRECT_URL="postgresql://u@db:5432/db")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "None"]


def test_without_a_pooler_the_connection_is_left_as_it_was() -> None:
    result = _settings()
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "unset"]


def test_behind_pgbouncer_the_settings_refuse_to_load_without_a_direct_url() -> None:
    result = _settings(DATABASE_POOLER="pgbouncer-transaction")
    assert result.returncode != 0
    assert "DATABASE_DIRECT_URL must name PostgreSQL itself" in result.stderr
