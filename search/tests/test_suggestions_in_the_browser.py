"""In Chromium, suggestions appear under the search box as a visitor types; the keyboard walks them
(Down, Up, Enter opens the one chosen, Escape closes) as an ARIA combobox. Without JavaScript the box
is a plain search box."""

from __future__ import annotations

from typing import Any

import pytest

from catalog.harvest import import_dump
from conftest import SAMPLE_DIR

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def catalog(aic: Any) -> None:
    import_dump(SAMPLE_DIR / "records")


@pytest.mark.parametrize("path", ["/", "/artworks/16571"])  # the search page's box and the header's
def test_down_and_enter_pick_a_suggestion(page: Any, live_server: Any, catalog: None, path: str) -> None:
    page.goto(live_server.url + path)
    box = page.locator("#q")
    assert box.get_attribute("role") == "combobox"
    assert box.get_attribute("aria-expanded") == "false"
    box.click()
    box.press_sequentially("mon", delay=40)
    listbox = page.locator("#q-suggestions")
    listbox.locator("[role=option]").first.wait_for(state="visible")
    assert box.get_attribute("aria-expanded") == "true"
    assert "q-suggestions" in (box.get_attribute("aria-controls") or "")
    options = listbox.locator("[role=option]")
    labels = options.all_inner_texts()
    assert any(label.startswith("Claude Monet") and "Artist" in label for label in labels), labels
    assert any(label.startswith("Monks at Supper") for label in labels), labels

    box.press("ArrowDown")
    box.press("ArrowDown")
    second = options.nth(1)
    assert box.get_attribute("aria-activedescendant") == second.get_attribute("id")
    assert second.get_attribute("aria-selected") == "true"
    box.press("ArrowUp")
    first = options.nth(0)
    assert box.get_attribute("aria-activedescendant") == first.get_attribute("id")
    assert second.get_attribute("aria-selected") == "false"
    assert page.evaluate("document.activeElement.id") == "q"  # focus stays in the box

    target = first.get_attribute("data-url")
    assert target
    box.press("Enter")
    page.wait_for_url(live_server.url + target)


def test_escape_closes_the_suggestions(page: Any, live_server: Any, catalog: None) -> None:
    page.goto(live_server.url + "/artworks/16571")
    box = page.locator("#q")
    box.click()
    box.press_sequentially("monett", delay=40)
    first = page.locator("#q-suggestions [role=option]").first
    first.wait_for(state="visible")
    assert first.inner_text().startswith("Claude Monet")
    box.press("ArrowDown")
    box.press("Escape")
    assert page.locator("#q-suggestions").is_hidden()
    assert box.get_attribute("aria-expanded") == "false"
    assert box.get_attribute("aria-activedescendant") is None
    assert box.input_value() == "monett"


def test_without_javascript_the_box_is_a_plain_search_box(browser: Any, live_server: Any, catalog: None) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(live_server.url + "/artworks/16571")
        box = page.locator("#q")
        assert box.get_attribute("role") is None
        assert page.locator("#q-suggestions").count() == 0
        box.fill("monet")
        box.press("Enter")
        page.wait_for_url(f"{live_server.url}/?q=monet")
    finally:
        context.close()
