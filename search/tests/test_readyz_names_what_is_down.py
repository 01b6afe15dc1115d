"""/readyz: 200 when the database and the broker answer, 503 naming which does not, and no
exception text (it names hosts and users)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from search.tests.outages import CLOSED_PORT_REDIS_URL, DEAD_BROKER_URL, SECRET_BROKER_HOST, database_away

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_is_ready_with_one_cheap_query(client: Client) -> None:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "database": "ok", "broker": "ok"}
    assert [query["sql"] for query in queries] == ["SELECT 1"]


def test_it_is_unavailable_with_the_broker_stopped(client: Client, settings: Any) -> None:
    settings.CELERY_BROKER_URL = CLOSED_PORT_REDIS_URL
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "ok", "broker": "unreachable"}


def test_it_names_no_host_of_a_broker_it_cannot_reach(client: Client, settings: Any) -> None:
    settings.CELERY_BROKER_URL = DEAD_BROKER_URL
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["broker"] == "unreachable"
    assert SECRET_BROKER_HOST not in response.content.decode()


def test_it_is_unavailable_with_the_database_away(client: Client, tmp_path: Path) -> None:
    with database_away(tmp_path) as host:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unreachable", "broker": "ok"}
    assert host not in response.content.decode()
