"""A refused request is told when to come back in the form it reads: JSON from the API, the results
fragment for htmx, a page with the site's styles for people; with Redis away every request is served
and the outage logged once a minute, with a count."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.test import Client

from core import logging_limits


@pytest.fixture
def spent(settings: Any, redis_client: Any) -> Client:
    for key in redis_client.scan_iter("ratelimit:requests:*"):
        redis_client.delete(key)
    settings.RATE_LIMIT_BUDGET = 1
    settings.RATE_LIMIT_COST_CACHED = 1
    client = Client(REMOTE_ADDR="203.0.113.40")
    client.get("/api/search", {"q": ""})
    return client


@pytest.mark.django_db
def test_the_api_gets_json(spent: Client) -> None:
    refused = spent.get("/api/search", {"q": "sea"})
    assert refused.status_code == 429 and refused["Content-Type"] == "application/json"
    assert "try again in" in refused.json()["error"] and int(refused["Retry-After"]) >= 1


@pytest.mark.django_db
def test_people_get_a_page_and_htmx_the_results_fragment(spent: Client) -> None:
    page = spent.get("/", {"q": "sea"})
    html = page.content.decode()
    assert page.status_code == 429 and int(page["Retry-After"]) >= 1
    assert "<html" in html and "search/site.css" in html and 'id="results"' in html
    assert f"Too many searches, try again in {page['Retry-After']} s." in html
    fragment = spent.get("/", {"q": "sea"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results")
    body = fragment.content.decode()
    assert fragment.status_code == 429 and "<html" not in body and "Too many searches" in body
    # That htmx shows it in the results area: search/tests/test_too_many_searches_in_browser.py.
    image = spent.post("/search/image", {}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results")
    assert image.status_code == 429 and "Too many searches" in image.content.decode()


@pytest.mark.django_db
def test_with_redis_away_requests_are_served_with_one_warning_a_minute(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.RATE_LIMIT_BUDGET = 1
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    logging_limits.reset()  # as if no warning had been logged yet
    client = Client(REMOTE_ADDR="203.0.113.41")
    with caplog.at_level(logging.WARNING, logger="museum_site.rate_limit"):
        statuses = [client.get("/api/search", {"q": ""}).status_code for _ in range(4)]
        statuses.append(client.get("/", {"q": ""}).status_code)
    assert statuses == [400, 400, 400, 400, 200]
    warnings = [r.getMessage() for r in caplog.records if r.name == "museum_site.rate_limit"]
    assert len(warnings) == 1 and "Redis is unavailable" in warnings[0]
    logging_limits.age(61)  # a minute later
    with caplog.at_level(logging.WARNING, logger="museum_site.rate_limit"):
        client.get("/api/search", {"q": ""})
    later = [r.getMessage() for r in caplog.records if r.name == "museum_site.rate_limit"]
    assert len(later) == 2 and "(4 more like this in the last" in later[1]
