"""The pages answer in the language the browser asks for (Accept-Language): Spanish for es, English
for en or nothing, at the same URLs, saying `Vary: Accept-Language`; the JSON API stays English."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils.cache import has_vary_header

from catalog.models import Artwork

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_spanish_browser_gets_the_search_page_in_spanish(client: Client, db: None) -> None:
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="es-ES,es;q=0.9,en;q=0.5")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="es">' in html
    for phrase in ("Buscar en la colección", "Buscar por imagen", "Dominio público", "En exhibición", "Más antiguas"):
        assert phrase in html
    assert "Search the collection" not in html and "Public domain" not in html
    assert has_vary_header(response, "Accept-Language")
    assert response["Content-Language"] == "es"


@pytest.mark.parametrize("accept", ["en-US,en;q=0.9", "fr-FR,fr;q=0.9", None])
def test_any_other_browser_gets_english(client: Client, db: None, accept: str | None) -> None:
    headers = {"HTTP_ACCEPT_LANGUAGE": accept} if accept else {}
    response = client.get("/", **headers)
    html = response.content.decode()
    assert '<html lang="en">' in html
    assert "Search the collection" in html and "Public domain" in html
    assert "Buscar en la colección" not in html
    assert has_vary_header(response, "Accept-Language")


def test_results_filters_and_the_artwork_page_are_in_spanish(client: Client, indexed: list[Artwork]) -> None:
    spanish = {"HTTP_ACCEPT_LANGUAGE": "es"}
    response = client.get("/", {"q": "a painting", "has_image": "true", "page_size": "2"}, **spanish)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Resultados 1\u20132 para «a painting»" in html
    assert "Con imagen: sí" in html  # the filter's chip
    assert "Página 1" in html and "Siguiente" in html
    # The fragment htmx swaps in speaks the same language and varies on it too.
    fragment = client.get("/", {"q": "a painting"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results", **spanish)
    assert "Resultados 1\u2013" in fragment.content.decode()
    assert has_vary_header(fragment, "Accept-Language") and has_vary_header(fragment, "HX-Request")

    page = client.get(f"/artworks/{indexed[0].aic_id}", **spanish)
    html = page.content.decode()
    for phrase in ("Obras similares", "Dominio público", "En exhibición", "Identificador AIC", "Datos del registro"):
        assert phrase in html
    assert "Similar artworks" not in html


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"page": "0"}, "page debe estar entre 1 y 10000, no 0"),
        ({"mode": "fuzzy"}, "mode debe ser &#x27;hybrid&#x27;, &#x27;semantic&#x27; o &#x27;keyword&#x27;"),
        ({"date_from": "1900", "date_to": "1800"}, "el año inicial (1900) es posterior al año final (1800)"),
    ],
)
def test_a_refused_search_says_why_in_spanish(client: Client, db: None, params: dict[str, str], message: str) -> None:
    response = client.get("/", {"q": "sea", **params}, HTTP_ACCEPT_LANGUAGE="es")
    assert response.status_code == 400
    assert message in response.content.decode()


def test_the_api_answers_in_english_whatever_the_browser_asks(client: Client, db: None) -> None:
    response = client.get("/api/search", {"q": "sea", "page": "0"}, HTTP_ACCEPT_LANGUAGE="es")
    assert response.status_code == 400
    assert response.json() == {"error": "page must be from 1 to 10000, not 0"}
    empty = client.get("/api/search", {"q": "  "}, HTTP_ACCEPT_LANGUAGE="es")
    assert empty.json() == {"error": "q must not be empty"}
