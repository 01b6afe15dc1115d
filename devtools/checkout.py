"""Prepare a development checkout for a command run by hand: its own secret key and its embedded database.

manage.py calls ``prepare`` before Django runs a command. Outside PRODUCTION=1 it creates
VAR_DIR/secret_key (mode 0600) where no key is given, so that every process of the checkout, the
demo's and those started beside it, signs with the same key; and where the settings name the
embedded server (no DATABASE_URL, or DATABASE_URL=embedded) it starts that server, unless the
command needs no database. The settings themselves never write or start anything.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from museum_site.config_schema import read_bool, read_path

ROOT = Path(__file__).resolve().parent.parent

# Commands that read no database: the image build runs collectstatic with no server to reach.
NO_DATABASE_COMMANDS = frozenset(
    {"collectstatic", "compilemessages", "diffsettings", "help", "makemessages", "startapp", "startproject", "version"}
)


def ensure_secret_key(var_dir: Path) -> Path:
    """Create ``var_dir``/secret_key, readable by its owner only, unless it exists; return its path."""
    path = var_dir / "secret_key"
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        # Created with its mode, so the key is never readable by others, even for an instant.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
    return path


def start_embedded_database(settings: Any) -> None:
    """Start the embedded server the settings name (a no-op when it runs), and point them at its socket."""
    from devtools.embedded_postgres import ensure_running

    url = ensure_running(settings.EMBEDDED_PGDATA)
    # The socket folder is pgdata's, unless its path is too long for a socket: then the server chose one.
    if host := parse_qs(urlparse(url).query).get("host"):
        settings.DATABASES["default"]["HOST"] = host[0]


def needs_database(argv: list[str]) -> bool:
    command = argv[1] if len(argv) > 1 else "help"
    return command not in NO_DATABASE_COMMANDS and not command.startswith("-")


def prepare(argv: list[str]) -> None:
    """Make ``manage.py`` work by hand in a development checkout; nothing with PRODUCTION=1."""
    if read_bool("PRODUCTION"):
        return
    if not _key_given():
        ensure_secret_key(read_path("VAR_DIR", ROOT / "var"))
    if needs_database(argv):
        from django.conf import settings

        if settings.EMBEDDED_PGDATA is not None:
            start_embedded_database(settings)


def _key_given() -> bool:
    """Whether the environment gives a key (SECRET_KEY or SECRET_KEY_FILE), which the settings prefer."""
    return bool(os.environ.get("SECRET_KEY") or os.environ.get("SECRET_KEY_FILE"))
