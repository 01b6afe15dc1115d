"""Container health checks, cheap enough to run every few seconds; they load no Django settings.

    python -m museum_site.container_health web [PORT]   GET /livez from the gunicorn on 127.0.0.1:8000 (or PORT)
    python -m museum_site.container_health celery       CELERY_HEARTBEAT_FILE was touched within a minute

Exit status 0: healthy; 1: not, with the reason on stderr.
"""

from __future__ import annotations

import sys
import time
import urllib.request
from pathlib import Path

from museum_site.config_schema import read_list, read_str

WEB_PORT = 8000
WEB_PATH = "/livez"  # the process answers: a database or Redis outage is not this container's fault
# A worker's heartbeat comes every two seconds, beat's tick at least every five: a minute is many missed.
HEARTBEAT_STALE_SECONDS = 60.0


def web_problem(port: int = WEB_PORT) -> str:
    """'' when /livez answers 200. The request names the first allowed host, as Django checks Host."""
    hosts = [host.lstrip(".") for host in read_list("ALLOWED_HOSTS") if host.strip() not in ("", "*")]
    url = f"http://127.0.0.1:{port}{WEB_PATH}"
    request = urllib.request.Request(url, headers={"Host": hosts[0] if hosts else "localhost"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return "" if response.status == 200 else f"/livez answered {response.status}"
    except OSError as exc:
        return f"/livez: {exc}"


def celery_problem() -> str:
    """'' when CELERY_HEARTBEAT_FILE is younger than HEARTBEAT_STALE_SECONDS."""
    path = read_str("CELERY_HEARTBEAT_FILE")
    if not path:
        return "CELERY_HEARTBEAT_FILE is not set"
    try:
        age = time.time() - Path(path).stat().st_mtime
    except OSError as exc:
        return f"no heartbeat yet: {exc}"
    return f"last heartbeat {age:.0f}s ago" if age > HEARTBEAT_STALE_SECONDS else ""


def main(argv: list[str]) -> int:
    if argv[:1] == ["web"] and len(argv) <= 2 and all(word.isdigit() for word in argv[1:]):
        problem = web_problem(*(int(word) for word in argv[1:]))
    elif argv == ["celery"]:
        problem = celery_problem()
    else:
        print("usage: python -m museum_site.container_health {web [PORT],celery}", file=sys.stderr)
        return 2
    if problem:
        print(problem, file=sys.stderr)
    return 1 if problem else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
