"""A page of results costs the same database queries whatever its size: no query per artwork shown."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from catalog.models import Artwork

pytestmark = pytest.mark.django_db(transaction=True)


def _queries(client: Client, path: str, **params: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, params)
    assert response.status_code == 200
    return len(captured.captured_queries)


@pytest.mark.parametrize("mode", ["hybrid", "semantic", "keyword"])
@pytest.mark.parametrize("path", ["/api/search", "/"])
def test_a_bigger_page_costs_no_more_queries(
    client: Client, indexed: list[Artwork], settings: object, mode: str, path: str
) -> None:
    settings.SEARCH_RESULT_CACHE_SECONDS = 0  # type: ignore[attr-defined]  # every request searches
    query = "portrait of a woman in a landscape"
    _queries(client, path, q=query, mode=mode)  # once-a-minute work (the filter menus) done first
    small = _queries(client, path, q=query, mode=mode, page_size="2")
    large = _queries(client, path, q=query, mode=mode, page_size="24")
    assert large == small
