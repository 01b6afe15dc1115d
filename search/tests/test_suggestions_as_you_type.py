"""/api/suggest answers artists and titles for what a visitor has typed so far, a prefix or a
misspelling, from visible artworks only, in one query, cacheable; empty or over-long text is a 400."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from catalog.harvest import import_dump
from catalog.models import Artwork
from conftest import SAMPLE_DIR

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def catalog(db: None) -> None:
    import_dump(SAMPLE_DIR / "records")


def _suggest(client: Client, q: str) -> list[dict[str, Any]]:
    response = client.get("/api/suggest", {"q": q})
    assert response.status_code == 200, response.content
    suggestions: list[dict[str, Any]] = response.json()["suggestions"]
    return suggestions


def test_a_prefix_finds_the_artist_and_titles(client: Client, catalog: None) -> None:
    found = _suggest(client, "mon")
    assert 0 < len(found) <= 8
    artists = [s for s in found if s["kind"] == "artist"]
    titles = [s for s in found if s["kind"] == "title"]
    assert {"kind": "artist", "label": "Claude Monet", "url": "/?q=Claude+Monet", "id": None, "artist": ""} in artists
    monks = next(s for s in titles if s["label"] == "Monks at Supper")
    assert monks["url"] == f"/artworks/{monks['id']}"
    assert monks["artist"] == "Alessandro Magnasco"
    # Those with a word starting with "mon" come before the rest.
    starts = [any(word.startswith("mon") for word in re.findall(r"\w+", s["label"].lower())) for s in found]
    assert starts[0] and starts == sorted(starts, reverse=True)


def test_a_misspelling_still_finds_the_artist(client: Client, catalog: None) -> None:
    found = _suggest(client, "monett")
    assert found[0]["label"] == "Claude Monet"
    assert {"artist", "title"} >= {s["kind"] for s in found}
    assert any(s["kind"] == "artist" and s["label"] == "Claude Monet" for s in found)
    assert _suggest(client, "qxzvw") == []
    # A control character is a space, not a server error (PostgreSQL refuses a NUL in text).
    assert any(s["label"] == "Claude Monet" for s in _suggest(client, "monet\x00"))


def test_hidden_and_withdrawn_artworks_are_never_suggested(client: Client, catalog: None) -> None:
    Artwork.objects.filter(artist_display__startswith="Claude Monet").update(is_hidden=True)
    Artwork.objects.filter(title="Monks at Supper").update(withdrawn_at=datetime(2025, 1, 1, tzinfo=UTC))
    found = _suggest(client, "mon")
    labels = {s["label"] for s in found}
    assert not [s for s in found if s["kind"] == "artist" and s["label"] == "Claude Monet"]
    assert "Monks at Supper" not in labels
    assert "Two Monks in a Landscape" in labels  # the rest still answer


def test_one_query_and_a_cacheable_answer(client: Client, catalog: None, django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(1):
        response = client.get("/api/suggest", {"q": "  Claude   Mo "})
    assert response.status_code == 200
    assert response.json()["query"] == "Claude Mo"
    assert response["Cache-Control"] == "public, max-age=300"
    assert response["Content-Type"].startswith("application/json")


@pytest.mark.parametrize(
    ("q", "message"),
    [
        ("", "q must not be empty"),
        ("   ", "q must not be empty"),
        ("\x00\x00", "q must not be empty"),
        ("m", "q must have at least 2 characters"),
        ("m" * 101, "q is longer than 100 characters"),
    ],
)
def test_empty_short_or_over_long_text_is_refused(client: Client, db: None, q: str, message: str) -> None:
    response = client.get("/api/suggest", {"q": q})
    assert response.status_code == 400
    assert response.json() == {"error": message}
    assert "Cache-Control" not in response or "public" not in response["Cache-Control"]
