"""With Redis away the search log drops its entries and the search is answered as usual: the page
shows its results, without a search id to click-record, and the log warns once, not once a search."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from catalog.models import Artwork
from core import logging_limits
from search.tests.outages import CLOSED_PORT_REDIS_URL

pytestmark = pytest.mark.django_db(transaction=True)


def test_searches_are_answered_when_the_log_cannot_be_written(
    client: Client, indexed: list[Artwork], settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    logging_limits.reset()
    settings.REDIS_URL = CLOSED_PORT_REDIS_URL
    page = client.get("/", {"q": "a bedroom with yellow chairs"})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'class="card"' in html and "data-search-id" not in html
    for word in ("sea", "ship"):
        assert client.get("/api/search", {"q": word}).status_code == 200
    dropped = [record for record in caplog.records if record.getMessage().startswith("search log entry dropped")]
    assert len(dropped) == 1
