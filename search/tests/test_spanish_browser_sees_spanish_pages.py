"""A browser set to Spanish (Chromium with locale es-ES, which sends Accept-Language: es-ES) gets the
site in Spanish at the usual URLs: the page, the results htmx swaps in as one types, and the
messages site.js writes itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache

from catalog.models import Artwork
from search.tests.conftest import SCREENSHOTS

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def spanish_page(browser: Any) -> Iterator[Any]:
    cache.clear()  # the filter menus are cached; another test's collection may be in there
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="es-ES")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def test_a_spanish_browser_searches_in_spanish(spanish_page: Any, live_server: Any, indexed: list[Artwork]) -> None:
    page = spanish_page
    page.goto(f"{live_server.url}/")
    assert page.locator("html").get_attribute("lang") == "es"
    assert page.locator("#q").get_attribute("placeholder") == "un mar embravecido de noche"
    assert page.locator(".image-search summary").inner_text() == "Buscar por imagen"
    assert "Dominio público" in page.locator("fieldset.filters").inner_text()

    page.locator("#q").press_sequentially("a painting", delay=30)
    page.wait_for_selector("#results .card")
    page.wait_for_load_state("networkidle")
    assert page.url.startswith(f"{live_server.url}/?q=")  # the same URL as in English: no language prefix
    assert page.locator("#results .summary").inner_text().startswith("Resultados 1\u2013")
    page.screenshot(path=str(SCREENSHOTS / "spanish-results.png"), full_page=True)

    # A search that cannot reach the server: the message site.js shows is the page's Spanish one.
    page.route("**/?q=*", lambda route: route.abort())
    page.locator("#q").fill("a landscape")
    page.wait_for_selector("#results p.error")
    assert page.locator("#results p.error").inner_text() == (
        "La búsqueda no ha podido comunicarse con el servidor. Compruebe la conexión e inténtelo de nuevo."
    )

    page.unroute("**/?q=*")
    page.goto(f"{live_server.url}/artworks/{indexed[0].aic_id}")
    assert page.locator(".similar h2").inner_text() == "Obras similares"
