"""Real outages for tests: the database's connection pointed at a socket folder where no server
listens, and Redis URLs naming a host that does not resolve or a port where nothing listens."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

# Names an outage's exception text holds, which no answer may repeat.
SECRET_DB_USER = "db_user_from_settings"
SECRET_BROKER_HOST = "broker-host-from-settings.invalid"
DEAD_BROKER_URL = f"redis://{SECRET_BROKER_HOST}:6379/0"
CLOSED_PORT_REDIS_URL = "redis://127.0.0.1:1/0"


@contextmanager
def database_away(tmp_path: Path) -> Iterator[str]:
    """The default connection points at an empty socket folder (the server's address) as a user the
    server does not know, so every query meets a real connection failure; yields the folder's path."""
    folder = tmp_path / "db-host-from-settings"
    folder.mkdir()
    saved = {key: connection.settings_dict[key] for key in ("HOST", "PORT", "USER")}
    connection.close()
    connection.settings_dict.update(HOST=str(folder), PORT="", USER=SECRET_DB_USER)
    try:
        yield str(folder)
    finally:
        connection.close()
        connection.settings_dict.update(saved)
