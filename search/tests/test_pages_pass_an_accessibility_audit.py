"""Every page passes an automated accessibility audit (axe-core, in Chromium) with no serious or
critical violation: the search page empty, with results in each mode and with none, an image
search's results, more like two chosen artworks, an artwork's page, a withdrawn artwork's page, the
API docs and the too-many-searches page."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from catalog.models import Artwork
from search.tests.conftest import SCREENSHOTS
from search.tests.site_tour import tour

pytestmark = pytest.mark.django_db(transaction=True)

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"

# The audit's findings, reduced to what a failure message needs.
RUN_AXE = """async () => {
    const result = await axe.run(document, {resultTypes: ["violations"]});
    return result.violations.map(v => ({
        id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ")),
    }));
}"""


@pytest.fixture
def audited_page(browser: Any) -> Iterator[Any]:
    # The audit script is injected into the page, which the site's Content-Security-Policy would refuse
    # (search/tests/test_csp_holds_in_the_browser.py checks the policy itself).
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def violations(page: Any) -> list[dict[str, Any]]:
    """The serious and critical violations axe-core finds on the page as it is shown."""
    page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(RUN_AXE)
    return [violation for violation in found if violation["impact"] in ("serious", "critical")]


def test_no_page_has_a_serious_violation(
    audited_page: Any, live_server: Any, indexed: list[Artwork], settings: Any, redis_client: Any
) -> None:
    found = {}
    audited = []
    for name in tour(audited_page, live_server.url, indexed, settings, redis_client):
        audited.append(name)
        audited_page.screenshot(path=str(SCREENSHOTS / f"audit-{name}.png"), full_page=True)
        if problems := violations(audited_page):
            found[name] = problems
    assert len(audited) == 11
    assert found == {}, json.dumps(found, indent=1)


def test_the_audit_finds_a_violation(audited_page: Any, live_server: Any, indexed: list[Artwork]) -> None:
    # The audit can fail: an image without a text alternative is a critical violation.
    audited_page.goto(f"{live_server.url}/")
    audited_page.evaluate(
        "() => document.querySelector('main').append(Object.assign(document.createElement('img'), {src: '/x.png'}))"
    )
    assert [violation["id"] for violation in violations(audited_page)] == ["image-alt"]
