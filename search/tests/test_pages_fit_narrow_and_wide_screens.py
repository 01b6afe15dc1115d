"""Every page fits a phone's width (375 px) and a desktop's (1280 px) in Chromium: nothing scrolls
sideways and no element reaches past the viewport's edges. Each page leaves a screenshot at each width
in var/screenshots/ (or SCREENSHOT_DIR) for a person to look at."""

from __future__ import annotations

import json
from typing import Any

import pytest

from catalog.models import Artwork
from search.tests.conftest import SCREENSHOTS
from search.tests.site_tour import tour

pytestmark = pytest.mark.django_db(transaction=True)

WIDTHS = (375, 1280)

# The document's width, and every shown element whose box lies past the left or right edge (an element
# inside a container that scrolls or clips sideways is that container's business, not the page's).
OVERFLOW = """() => {
    const width = window.innerWidth;
    const clipped = el => {
        for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
            const x = getComputedStyle(up).overflowX;
            if (x !== "visible") return true;
        }
        return false;
    };
    const outside = [];
    for (const el of document.body.querySelectorAll("*")) {
        const box = el.getBoundingClientRect();
        if (box.width === 0 || box.height === 0) continue;
        if (getComputedStyle(el).visibility === "hidden") continue;
        if ((box.right > width + 0.5 || box.left < -0.5) && !clipped(el)) {
            const name = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
                + (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\\s+/).join(".") : "");
            outside.push(`${name} ${Math.round(box.left)}..${Math.round(box.right)}`);
        }
    }
    return {scrollWidth: document.documentElement.scrollWidth, width, outside: outside.slice(0, 10)};
}"""


def overflow(page: Any) -> dict[str, Any]:
    found: dict[str, Any] = page.evaluate(OVERFLOW)
    return found


@pytest.mark.parametrize("width", WIDTHS)
def test_no_page_scrolls_sideways(
    page: Any, live_server: Any, indexed: list[Artwork], settings: Any, redis_client: Any, width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    found = {}
    shown = []
    for name in tour(page, live_server.url, indexed, settings, redis_client):
        shown.append(name)
        page.screenshot(path=str(SCREENSHOTS / f"layout-{name}-{width}.png"), full_page=True)
        measured = overflow(page)
        if measured["scrollWidth"] > measured["width"] or measured["outside"]:
            found[name] = measured
    assert len(shown) == 11
    assert found == {}, json.dumps(found, indent=1)


def test_the_check_sees_a_page_too_wide(page: Any, live_server: Any) -> None:
    # The check can fail: a block wider than the phone's screen.
    page.set_viewport_size({"width": 375, "height": 900})
    page.goto(f"{live_server.url}/")
    page.evaluate(
        "() => { const wide = Object.assign(document.createElement('div'), {id: 'wide', textContent: 'wide'});"
        " wide.style.width = '600px'; document.querySelector('main').append(wide); }"
    )
    measured = overflow(page)
    assert measured["scrollWidth"] > 375 and any(entry.startswith("div#wide") for entry in measured["outside"])
