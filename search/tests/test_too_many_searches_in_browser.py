"""A visitor over the search budget sees why in the results area, in Chromium, not a stale page."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from catalog.models import Artwork

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_refusal_is_shown_where_the_results_go(
    page: Any, live_server: Any, indexed: list[Artwork], settings: Any, redis_client: Any
) -> None:
    settings.RATE_LIMIT_BUDGET = 15  # one fresh search (10), the cheap start of a second, then none
    for key in redis_client.scan_iter("ratelimit:*"):
        redis_client.delete(key)  # no budget left over from another test's client at this address
    # Suggestions as the visitor types spend from the same budget; this test counts the searches alone.
    page.route("**/api/suggest*", lambda route: route.abort())
    page.goto(f"{live_server.url}/")
    statuses = []
    for query in ["sea", "sea storm", "sea storm night"]:
        # Results come as the visitor types (htmx, after a pause).
        with page.expect_response(lambda response, q=query: response.url.endswith("?q=" + quote(q))) as answer:
            page.locator("#q").fill(query)
        statuses.append(answer.value.status)
        page.wait_for_load_state("networkidle")
    assert statuses == [200, 200, 429]
    # htmx swaps the refusal in after the response has arrived: wait for it, as a visitor's eyes would.
    expect(page.locator("#results")).to_contain_text("Too many searches, try again in", timeout=10_000)
