from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from catalog.models import Artwork

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_reports_index_counts_for_the_active_model(client: Client, indexed: list[Artwork]) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "ok" and body["broker"] == "ok"
    assert body["model"]["name"] == "micro"
    no_image = Artwork.objects.filter(image_id="").count()
    assert body["index"] == {
        "artworks": Artwork.objects.count(),
        "embedded": len(indexed),
        "failed": 0,
        "pending": 0,
        "no_image": no_image,
    }


def test_it_is_unhealthy_without_an_active_model(client: Client, db: None) -> None:
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["model"]["status"].startswith("error")


def test_it_is_unhealthy_when_the_broker_is_down(client: Client, indexed: list[Artwork], settings: Any) -> None:
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"].startswith("error")
