"""/livez says the process is up and asks nothing else: no query, no Redis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from search.tests.outages import CLOSED_PORT_REDIS_URL, database_away

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_answers_without_a_query(client: Client) -> None:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/livez")
    assert response.status_code == 200
    assert response.json() == {"status": "alive"}
    assert len(queries) == 0


def test_it_answers_with_the_database_and_redis_away(client: Client, settings: Any, tmp_path: Path) -> None:
    settings.CELERY_BROKER_URL = settings.REDIS_URL = settings.SEARCH_QUERY_CACHE_URL = CLOSED_PORT_REDIS_URL
    with database_away(tmp_path):
        response = client.get("/livez")
    assert response.status_code == 200
    assert response.json() == {"status": "alive"}
