"""The search page answers htmx with a fragment and others with the whole page at the same URL, so
it says `Vary: HX-Request, HX-Target`: no cache may hand one to the other."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils.cache import has_vary_header

from catalog.models import Artwork

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_page_and_its_fragment_vary_on_the_htmx_headers(client: Client, indexed: list[Artwork]) -> None:
    page = client.get("/", {"q": "sea"})
    fragment = client.get("/", {"q": "sea"}, headers={"HX-Request": "true", "HX-Target": "results"})
    assert b"<html" in page.content and b"<html" not in fragment.content
    for response in (page, fragment):
        assert response.status_code == 200
        assert has_vary_header(response, "HX-Request")
        assert has_vary_header(response, "HX-Target")


def test_an_error_fragment_varies_too(client: Client, db: None) -> None:
    response = client.get("/", {"q": "sea", "page": "0"}, headers={"HX-Request": "true", "HX-Target": "results"})
    assert response.status_code == 400
    assert has_vary_header(response, "HX-Request")


def test_the_image_search_fragment_varies(client: Client, db: None) -> None:
    response = client.post("/search/image", {}, headers={"HX-Request": "true", "HX-Target": "results"})
    assert response.status_code == 400
    assert has_vary_header(response, "HX-Request")
