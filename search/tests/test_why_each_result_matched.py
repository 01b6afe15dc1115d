"""Every hit of a text search says why it is there: its places in the lists, the words it holds, a
highlighted snippet (escaped HTML) and the curator's boost."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from catalog.models import Artwork

pytestmark = pytest.mark.django_db(transaction=True)

WHY_KEYS = {"keyword_rank", "semantic_rank", "similarity", "visual_match", "matched_terms", "snippet", "boost"}


def _search(client: Client, **params: Any) -> dict[str, Any]:
    response = client.get("/api/search", params)
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


def test_each_mode_fills_the_places_of_its_own_lists(client: Client, indexed: list[Artwork]) -> None:
    keyword = _search(client, q="portrait", mode="keyword", k=10)["results"]
    assert keyword
    assert [hit["why"]["keyword_rank"] for hit in keyword] == list(range(1, len(keyword) + 1))
    assert all(hit["why"]["semantic_rank"] is None and hit["why"]["similarity"] is None for hit in keyword)
    assert all("portrait" in hit["why"]["matched_terms"] for hit in keyword)
    assert all(set(hit["why"]) == WHY_KEYS for hit in keyword)

    semantic = _search(client, q="portrait", mode="semantic", k=10)["results"]
    assert [hit["why"]["semantic_rank"] for hit in semantic] == list(range(1, 11))
    assert all(hit["why"]["keyword_rank"] is None for hit in semantic)
    assert all(-1.0 <= hit["why"]["similarity"] <= 1.0 for hit in semantic)

    hybrid = _search(client, q="portrait", mode="hybrid", k=50)["results"]
    in_both = [hit for hit in hybrid if hit["why"]["keyword_rank"] and hit["why"]["semantic_rank"]]
    assert in_both, "an artwork holding the word is in both lists"
    only_vector = [hit for hit in hybrid if hit["why"]["keyword_rank"] is None]
    assert all(hit["why"]["semantic_rank"] is not None for hit in only_vector)
    assert all(hit["why"]["matched_terms"] for hit in hybrid if hit["why"]["keyword_rank"])


def test_the_boost_is_stated(client: Client, indexed: list[Artwork]) -> None:
    first = _search(client, q="portrait", mode="keyword", k=1)["results"][0]
    Artwork.objects.filter(aic_id=first["id"]).update(boost=0.25)

    again = _search(client, q="portrait", mode="keyword", k=2)["results"][0]  # another size: not the cached answer

    assert first["why"]["boost"] == 0.0
    assert again["id"] == first["id"] and again["why"]["boost"] == 0.25


def test_the_snippet_highlights_the_words_and_escapes_the_rest(client: Client, indexed: list[Artwork]) -> None:
    artwork = indexed[0]
    Artwork.objects.filter(pk=artwork.pk).update(
        title='Zanzibar <script>alert("t")</script>',
        description_override='Fish & chips by a zanzibar harbour <img src=x onerror=alert(1) "quoted"',
    )

    hit = _search(client, q="zanzibar harbours", mode="keyword", k=5)["results"][0]

    assert hit["id"] == artwork.aic_id
    assert hit["why"]["matched_terms"] == ["zanzibar", "harbours"]
    snippet = hit["why"]["snippet"]
    assert snippet.startswith("<mark>Zanzibar</mark> alert(&quot;t&quot;) · Fish")  # tags dropped, empty parts too
    assert "<mark>Zanzibar</mark>" in snippet and "<mark>harbour</mark>" in snippet
    assert "<script" not in snippet and "<img" not in snippet
    assert "&lt;img src=x onerror=alert(1)" in snippet
    assert "Fish &amp; chips" in snippet and "&quot;quoted" in snippet
    # Only the marks are tags.
    assert snippet.replace("<mark>", "").replace("</mark>", "").count("<") == 0

    page = client.get("/", {"q": "zanzibar harbours", "mode": "keyword"}).content.decode()
    assert "<mark>harbour</mark>" in page
    assert "<img src=x onerror" not in page and "<script>alert" not in page
