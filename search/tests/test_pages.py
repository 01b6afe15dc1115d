from __future__ import annotations

import pytest
from django.test import Client

from catalog.models import Artwork

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_search_page_shows_a_grid_of_results(client: Client, indexed: list[Artwork]) -> None:
    response = client.get("/", {"q": "a bedroom with yellow chairs"})
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('class="card"') == min(24, len(indexed))  # SEARCH_DEFAULT_K
    assert "/full/400,/0/default.jpg" in html
    assert "CC BY 4.0" in html


def test_the_empty_page_invites_a_query(client: Client, db: None) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert 'name="q"' in response.content.decode()


def test_the_detail_page_shows_the_record_and_similar_artworks(client: Client, indexed: list[Artwork]) -> None:
    artwork = indexed[0]
    response = client.get(f"/artworks/{artwork.aic_id}")
    assert response.status_code == 200
    html = response.content.decode()
    assert artwork.title in html or "Untitled" in html
    assert "Similar artworks" in html
    assert html.count('class="card"') == 12


def test_a_hidden_artwork_has_no_page(client: Client, indexed: list[Artwork]) -> None:
    Artwork.objects.filter(pk=indexed[0].pk).update(is_hidden=True)
    assert client.get(f"/artworks/{indexed[0].aic_id}").status_code == 404
