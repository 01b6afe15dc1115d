"""LOG_FORMAT=json writes one JSON object per log line, with the extra fields and the traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_SCRIPT = """
import logging
import logging.config
from museum_site import settings
logging.config.dictConfig(settings.LOGGING)
log = logging.getLogger("catalog.harvest")
log.info("harvest %s done", "api", extra={"sync_run": 7, "seen": 120})
try:
    1 / 0
except ZeroDivisionError:
    log.exception("a crash")
"""


def _run(**env: str) -> subprocess.CompletedProcess[str]:
    clean = dict(os.environ)
    clean.pop("LOG_FORMAT", None)
    clean.update(
        SECRET_KEY="a-test-secret-key-that-is-long-enough-to-pass-any-check-0123456789",
        DATABASE_URL="postgresql://u@localhost/db",
        **env,
    )
    return subprocess.run([sys.executable, "-c", _SCRIPT], cwd=ROOT, env=clean, capture_output=True, text=True)


def test_it_logs_one_json_object_per_line() -> None:
    result = _run(LOG_FORMAT="json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    info, crash = lines[-2], lines[-1]
    assert info["level"] == "INFO" and info["logger"] == "catalog.harvest"
    assert info["message"] == "harvest api done"
    assert (info["sync_run"], info["seen"]) == (7, 120)
    assert info["time"].endswith("+00:00")
    assert crash["level"] == "ERROR" and "ZeroDivisionError" in crash["exception"]


def test_it_refuses_an_unknown_format() -> None:
    result = _run(LOG_FORMAT="xml")
    assert result.returncode != 0
    assert "LOG_FORMAT must be plain or json" in result.stderr
