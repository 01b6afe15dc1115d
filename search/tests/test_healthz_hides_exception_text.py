"""/healthz says what is down in a stable word, never with the exception's text (hosts, users):
that goes to the log, once a minute at most."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from catalog.models import Artwork
from core import logging_limits
from search.tests.outages import DEAD_BROKER_URL, SECRET_BROKER_HOST, SECRET_DB_USER, database_away

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_broker_it_cannot_reach_is_unreachable_and_unnamed(
    client: Client, indexed: list[Artwork], settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    logging_limits.reset()
    settings.CELERY_BROKER_URL = DEAD_BROKER_URL
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["broker"] == "error: unreachable"
    assert body["database"] == "ok" and body["model"]["status"] == "ok"
    assert SECRET_BROKER_HOST not in response.content.decode()
    # The operator still learns why, from the log.
    assert SECRET_BROKER_HOST in caplog.text


def test_a_database_it_cannot_reach_is_unreachable_and_unnamed(
    client: Client, indexed: list[Artwork], tmp_path: Path
) -> None:
    with database_away(tmp_path) as host:
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["database"] == "error: unreachable"
    assert body["model"] == {"status": "error: database unreachable"}
    text = response.content.decode()
    assert host not in text and SECRET_DB_USER not in text
