"""Records of one image fold into one result, which lists the others as "similar"."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from catalog.models import Artwork

pytestmark = pytest.mark.django_db(transaction=True)


def _search(client: Client, **params: Any) -> dict[str, Any]:
    response = client.get("/api/search", params)
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("mode", ["semantic", "hybrid", "keyword"])
def test_two_records_sharing_an_image_are_one_result(client: Client, indexed: list[Artwork], mode: str) -> None:
    query = "oil on canvas paper" if mode == "keyword" else "a landscape"
    before = [hit["id"] for hit in _search(client, q=query, mode=mode, k=30)["results"]]
    assert len(before) >= 3 and not any(_search(client, q=query, mode=mode, k=29)["results"][0]["similar"])
    first, copy = before[0], before[2]
    image_id = Artwork.objects.get(aic_id=first).image_id
    Artwork.objects.filter(aic_id=copy).update(image_id=image_id)

    results = _search(client, q=query, mode=mode, k=28)["results"]  # another size: not the cached answer

    ids = [hit["id"] for hit in results]
    assert copy not in ids
    assert ids[0] == first and results[0]["similar"] == [copy]
    assert len(ids) == len(before) - 1 or len(ids) == 28

    page = client.get("/", {"q": query, "mode": mode}).content.decode()
    assert "1 similar" in page
