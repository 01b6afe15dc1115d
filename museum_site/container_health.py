"""Container health checks, cheap enough to run every few seconds; they load no Django settings.

    python -m museum_site.container_health web      GET /livez from the gunicorn on 127.0.0.1:8000
    python -m museum_site.container_health celery   CELERY_HEARTBEAT_FILE was touched within a minute

Exit status 0: healthy; 1: not, with the reason on stderr.
"""

from __future__ import annotations

import sys
import time
import urllib.request
from pathlib import Path

from museum_site.config_schema import read_list, read_str

WEB_URL = "http://127.0.0.1:8000/livez"
# A worker's heartbeat comes every two seconds, beat's tick at least every five: a minute is many missed.
HEARTBEAT_STALE_SECONDS = 60.0


def web_problem() -> str:
    """'' when /livez answers 200. The request names the first allowed host, as Django checks Host."""
    hosts = [host.lstrip(".") for host in read_list("ALLOWED_HOSTS") if host.strip() not in ("", "*")]
    request = urllib.request.Request(WEB_URL, headers={"Host": hosts[0] if hosts else "localhost"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return "" if response.status == 200 else f"/livez answered {response.status}"
    except OSError as exc:
        return f"/livez: {exc}"


def celery_problem(now: float | None = None) -> str:
    """'' when CELERY_HEARTBEAT_FILE is younger than HEARTBEAT_STALE_SECONDS."""
    path = read_str("CELERY_HEARTBEAT_FILE")
    if not path:
        return "CELERY_HEARTBEAT_FILE is not set"
    try:
        age = (time.time() if now is None else now) - Path(path).stat().st_mtime
    except OSError as exc:
        return f"no heartbeat yet: {exc}"
    return f"last heartbeat {age:.0f}s ago" if age > HEARTBEAT_STALE_SECONDS else ""


def main(argv: list[str]) -> int:
    checks = {"web": web_problem, "celery": celery_problem}
    if len(argv) != 1 or argv[0] not in checks:
        print(f"usage: python -m museum_site.container_health {{{','.join(checks)}}}", file=sys.stderr)
        return 2
    problem = checks[argv[0]]()
    if problem:
        print(problem, file=sys.stderr)
    return 1 if problem else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
