from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from museum_site.tests.processes import RedisServer


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[RedisServer]:
    """A private Redis for one fault test, to kill and restart without touching anyone else's."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()
