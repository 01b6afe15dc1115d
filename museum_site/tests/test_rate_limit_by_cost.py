"""Every route that searches or encodes spends its cost from one per-client budget: a fresh text search
costs more than one answered from the result cache, an image search most, the health check a little;
every route is priced in one table."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from conftest import SAMPLE_DIR
from museum_site.rate_limit import FREE_NAMESPACES, FREE_ROUTES, ROUTE_COSTS, Cost, route_cost

BUDGET = 1000


@pytest.fixture
def budget(settings: Any, redis_client: Any) -> Any:
    for key in redis_client.scan_iter("ratelimit:requests:*"):
        redis_client.delete(key)
    settings.RATE_LIMIT_BUDGET = BUDGET
    settings.RATE_LIMIT_WINDOW_SECONDS = 60
    settings.RATE_LIMIT_COST_SEARCH = 10
    settings.RATE_LIMIT_COST_CACHED = 1
    settings.RATE_LIMIT_COST_IMAGE = 40
    settings.RATE_LIMIT_COST_OTHER = 2
    settings.SEARCH_RESULT_CACHE_SECONDS = 600
    return settings


def _spent(response: Any) -> int:
    return BUDGET - int(response["X-RateLimit-Remaining"])


def _names(patterns: list[Any], namespace: str = "") -> list[str]:
    names: list[str] = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}:{pattern.namespace}" if namespace and pattern.namespace else pattern.namespace
            names += _names(pattern.url_patterns, inner or namespace)
        elif isinstance(pattern, URLPattern) and pattern.name:
            names.append(f"{namespace}:{pattern.name}" if namespace else pattern.name)
    return names


def test_every_route_is_priced_or_declared_free() -> None:
    names = set(_names(get_resolver().url_patterns))
    unpriced = {
        name
        for name in names
        if name not in ROUTE_COSTS and name not in FREE_ROUTES and name.partition(":")[0] not in FREE_NAMESPACES
    }
    assert unpriced == set()
    assert {"index", "api:search_artworks", "image-search", "api:search_by_image", "api:healthz"} <= names
    assert route_cost("index") is Cost.SEARCH and route_cost("api:search_by_image") is Cost.IMAGE
    assert route_cost("livez") is Cost.FREE and route_cost("api:readyz") is Cost.FREE
    assert route_cost("admin:login") is Cost.FREE


@pytest.mark.django_db
def test_a_cached_api_answer_costs_less_than_a_fresh_one(budget: Any, embedding_model: Any) -> None:
    client = Client(REMOTE_ADDR="203.0.113.20")
    fresh = client.get("/api/search", {"q": "a stormy sea"})
    assert fresh.status_code == 200 and _spent(fresh) == 10
    again = client.get("/api/search", {"q": "A  stormy sea"})  # the same answer, from the result cache
    assert again.status_code == 200 and _spent(again) == 11
    other = client.get("/api/search", {"q": "a quiet harbour"})
    assert _spent(other) == 21


@pytest.mark.django_db
def test_pages_fragments_images_and_health_spend_the_same_budget(budget: Any, embedding_model: Any) -> None:
    client = Client(REMOTE_ADDR="203.0.113.21")
    assert _spent(client.get("/")) == 1  # the empty search page ranks nothing
    # A page ranks every time (it keeps no answer cache): each search costs a fresh one.
    assert _spent(client.get("/", {"q": "sea"})) == 11
    assert _spent(client.get("/", {"q": "sea"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results")) == 21
    image = next(SAMPLE_DIR.joinpath("images").glob("*.jpg")).read_bytes()
    upload = {"image": SimpleUploadedFile("query.jpg", image, "image/jpeg")}
    assert client.post("/api/search/image", upload).status_code == 200
    assert _spent(client.get("/healthz")) == 21 + 40 + 2
    assert _spent(client.get("/metrics")) == 21 + 40 + 4
    # Static docs and the admin are not charged.
    assert "X-RateLimit-Remaining" not in client.get("/api/docs")
    assert "X-RateLimit-Remaining" not in client.get("/admin/login/")


@pytest.mark.django_db
def test_the_request_that_overdraws_is_served_and_the_next_is_refused(budget: Any, embedding_model: Any) -> None:
    budget.RATE_LIMIT_BUDGET = 12
    client = Client(REMOTE_ADDR="203.0.113.22")
    assert client.get("/api/search", {"q": "boats"}).status_code == 200  # 10 spent
    assert client.get("/api/search", {"q": "horses"}).status_code == 200  # 11 before it ranked, 20 after
    refused = client.get("/api/search", {"q": "boats"})
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
