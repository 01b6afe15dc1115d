from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _load_settings(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "SECRET_KEY_FILE", "DEBUG"}}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-c", "import museum_site.settings"], cwd=ROOT, env=clean, capture_output=True, text=True
    )


def test_it_refuses_to_start_without_a_secret_key() -> None:
    result = _load_settings(DATABASE_URL="postgresql://u@localhost/db")
    assert result.returncode != 0
    assert "SECRET_KEY (or SECRET_KEY_FILE) must be set" in result.stderr


def test_it_refuses_a_visibility_timeout_shorter_than_a_task() -> None:
    result = _load_settings(
        SECRET_KEY="k",
        DATABASE_URL="postgresql://u@localhost/db",
        CELERY_VISIBILITY_TIMEOUT="60",
        CELERY_TASK_TIME_LIMIT="120",
        CELERY_TASK_SOFT_TIME_LIMIT="100",
    )
    assert result.returncode != 0
    assert "CELERY_VISIBILITY_TIMEOUT must exceed CELERY_TASK_TIME_LIMIT" in result.stderr
