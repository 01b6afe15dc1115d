"""DATABASE_PASSWORD_FILE: the database password read from the file PostgreSQL's container reads too, so
the URL in the environment carries none (docker-compose.yml)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRINT_DATABASE = "import json, museum_site.settings as s; d = s.DATABASES['default']; print(json.dumps(d))"


def _database(**env: str) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    clean.update(SECRET_KEY="k", **env)
    result = subprocess.run(
        [sys.executable, "-c", PRINT_DATABASE], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    database: dict[str, object] = json.loads(result.stdout)
    return database


def test_the_password_comes_from_its_file_and_replaces_the_urls(tmp_path: Path) -> None:
    secret = tmp_path / "postgres_password"
    secret.write_text("s3cret-from-a-file\n")  # as `echo ... > file` writes it
    database = _database(DATABASE_URL="postgresql://museum@postgres:5432/museum", DATABASE_PASSWORD_FILE=str(secret))
    assert database["PASSWORD"] == "s3cret-from-a-file"
    assert (database["USER"], database["HOST"], database["NAME"]) == ("museum", "postgres", "museum")
    assert (
        _database(DATABASE_URL="postgresql://museum:old@db/museum", DATABASE_PASSWORD_FILE=str(secret))["PASSWORD"]
        == "s3cret-from-a-file"
    )


def test_without_it_the_urls_password_holds() -> None:
    assert _database(DATABASE_URL="postgresql://museum:in-the-url@db/museum")["PASSWORD"] == "in-the-url"


def test_an_unreadable_file_stops_the_process(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    clean.update(
        SECRET_KEY="k", DATABASE_URL="postgresql://museum@db/museum", DATABASE_PASSWORD_FILE=str(tmp_path / "none")
    )
    result = subprocess.run([sys.executable, "-c", PRINT_DATABASE], cwd=ROOT, env=clean, capture_output=True, text=True)
    assert result.returncode != 0 and "DATABASE_PASSWORD_FILE" in result.stderr
