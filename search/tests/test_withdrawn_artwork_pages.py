"""A withdrawn artwork's record answers 410 Gone, in the API and on its page, saying when it left;
a hidden one stays 404, as if it had never been."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.test import Client

from catalog.models import Artwork

pytestmark = pytest.mark.django_db(transaction=True)

WITHDRAWN_AT = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)


@pytest.fixture
def withdrawn(indexed: list[Artwork]) -> Artwork:
    artwork = indexed[0]
    Artwork.objects.filter(pk=artwork.pk).update(withdrawn_at=WITHDRAWN_AT)
    return artwork


@pytest.mark.parametrize("suffix", ["", "/similar"])
def test_the_api_answers_410_with_the_date(client: Client, withdrawn: Artwork, suffix: str) -> None:
    response = client.get(f"/api/artworks/{withdrawn.aic_id}{suffix}")
    assert response.status_code == 410
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"error": f"artwork {withdrawn.aic_id} was withdrawn from the collection on 2025-03-14"}


def test_the_page_answers_410_saying_so_without_the_record(client: Client, withdrawn: Artwork) -> None:
    response = client.get(f"/artworks/{withdrawn.aic_id}")
    assert response.status_code == 410
    html = response.content.decode()
    assert f"Artwork {withdrawn.aic_id} was withdrawn from the collection on" in html
    assert '<time datetime="2025-03-14">14 March 2025</time>' in html
    assert 'href="/"' in html  # back to search
    assert "Similar artworks" not in html and withdrawn.image_id not in html


def test_a_hidden_artwork_stays_404_even_when_withdrawn(client: Client, withdrawn: Artwork) -> None:
    Artwork.objects.filter(pk=withdrawn.pk).update(is_hidden=True)
    for path in (f"/api/artworks/{withdrawn.aic_id}", f"/api/artworks/{withdrawn.aic_id}/similar"):
        response = client.get(path)
        assert response.status_code == 404 and "withdrawn" not in response.json()["error"]
    assert client.get(f"/artworks/{withdrawn.aic_id}").status_code == 404


def test_a_restored_artwork_has_its_record_again(client: Client, withdrawn: Artwork) -> None:
    Artwork.objects.filter(pk=withdrawn.pk).update(withdrawn_at=None)
    assert client.get(f"/api/artworks/{withdrawn.aic_id}").json()["id"] == withdrawn.aic_id
    assert client.get(f"/api/artworks/{withdrawn.aic_id}/similar").status_code == 200
    assert client.get(f"/artworks/{withdrawn.aic_id}").status_code == 200


def test_the_schema_declares_410_for_an_artworks_endpoints(client: Client, db: None) -> None:
    paths = json.loads(client.get("/api/schema").content)["paths"]
    for path in ("/api/artworks/{aic_id}", "/api/artworks/{aic_id}/similar"):
        gone = paths[path]["get"]["responses"]["410"]
        assert gone["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")
    assert "410" not in paths["/api/search"]["get"]["responses"]
