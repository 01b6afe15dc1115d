"""In Chromium, an artwork's page opens a deep-zoom viewer over the IIIF image: it reads info.json and
tiles from the (fake) IIIF server under the enforced Content-Security-Policy, with no violation.
Without JavaScript the still image, the download link and the citation are there."""

from __future__ import annotations

from typing import Any

import pytest

from catalog.harvest import import_dump
from catalog.models import Artwork
from conftest import SAMPLE_DIR

pytestmark = pytest.mark.django_db(transaction=True)

MONET = 16571

# Runs before any script of the page (Playwright injects it outside the page's policy).
_RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber}`);
});
"""


@pytest.fixture
def monet(aic: Any) -> Artwork:
    import_dump(SAMPLE_DIR / "records")
    return Artwork.objects.get(aic_id=MONET)


def test_the_viewer_loads_iiif_tiles_under_the_policy(browser: Any, live_server: Any, aic: Any, monet: Artwork) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(_RECORD_VIOLATIONS)
    page = context.new_page()
    page.set_default_timeout(15_000)
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text} {message.location}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    try:
        response = page.goto(f"{live_server.url}/artworks/{MONET}")
        assert response is not None and response.ok
        policy = response.headers["content-security-policy"]
        assert f"connect-src 'self' {aic.url}" in policy
        assert "unsafe-inline" not in policy and "script-src 'self';" in policy

        page.wait_for_selector("#zoom-viewer[data-zoom-state=open]")
        page.wait_for_function("Number(document.getElementById('zoom-viewer').dataset.tilesLoaded) > 0")
        page.wait_for_load_state("networkidle")
        assert page.locator("#zoom-viewer .openseadragon-container canvas").count() >= 1
        assert page.locator("#zoom-viewer .artwork-still").is_hidden()
        # Zooming in asks for the tiles of a finer level.
        page.locator("#zoom-viewer .openseadragon-canvas").first.dblclick()
        page.wait_for_load_state("networkidle")

        iiif = [r for r in aic.requests if r.path.startswith(f"/iiif/2/{monet.image_id}/")]
        assert any(r.path.endswith("/info.json") and r.status == 200 for r in iiif)
        tiles = [r for r in iiif if r.path.split("/")[4] != "full"]  # a region x,y,w,h: a tile
        assert tiles and all(r.status == 200 for r in tiles), [(r.path, r.status) for r in iiif]
        assert page.evaluate("window.__cspViolations") == []
        errors = [
            line for line in console if line.startswith(("error", "pageerror")) or "Content Security Policy" in line
        ]
        assert [line for line in errors if "/favicon.ico" not in line] == []  # the site has no icon
    finally:
        context.close()


def test_without_javascript_the_image_and_download_are_there(browser: Any, live_server: Any, monet: Artwork) -> None:
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(f"{live_server.url}/artworks/{MONET}")
        page.wait_for_load_state("networkidle")
        still = page.locator("#zoom-viewer .artwork-still")
        assert still.is_visible()
        assert still.evaluate("img => img.complete && img.naturalWidth") > 0
        assert page.locator(".openseadragon-container").count() == 0
        download = page.locator("a.download-link")
        assert download.is_visible()
        assert download.get_attribute("href", timeout=1000).endswith(f"/{monet.image_id}/full/843,/0/default.jpg")
        assert page.locator(".citation-text").inner_text().startswith("Claude Monet, Arrival of the Normandy Train")
        assert page.locator(".copy-citation").is_hidden()
    finally:
        context.close()
