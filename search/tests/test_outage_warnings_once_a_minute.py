"""A Redis outage that every search meets logs one warning a minute per place, then a count of the
ones held back, instead of a line per request."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from catalog.models import Artwork
from core import logging_limits
from search.tests.outages import CLOSED_PORT_REDIS_URL

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_burst_of_searches_with_redis_away_warns_once_per_cache(
    client: Client, indexed: list[Artwork], settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    logging_limits.reset()
    settings.SEARCH_QUERY_CACHE_URL = CLOSED_PORT_REDIS_URL
    for word in ("sea", "ship", "storm", "night", "river"):
        assert client.get("/api/search", {"q": word}).status_code == 200
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert len([w for w in warnings if w.startswith("search result cache unavailable")]) == 1
    assert len([w for w in warnings if w.startswith("query vector cache unavailable")]) == 1


def test_the_next_warning_counts_the_ones_held_back(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    logger = logging.getLogger("test.outage")
    logging_limits.reset()
    assert logging_limits.warn_limited(logger, "redis", "down: %s", "first", every=0.2)
    assert not logging_limits.warn_limited(logger, "redis", "down: %s", "second", every=0.2)
    assert not logging_limits.warn_limited(logger, "redis", "down: %s", "third", every=0.2)
    import time

    time.sleep(0.25)
    assert logging_limits.warn_limited(logger, "redis", "down: %s", "fourth", every=0.2)
    lines = [record.getMessage() for record in caplog.records if record.name == "test.outage"]
    assert lines[0] == "down: first"
    assert lines[1].startswith("down: fourth (2 more like this in the last")
