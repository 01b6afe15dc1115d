"""The artist, classification, style, subject and place filters: any of a field's values, every field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from catalog.models import Artwork

pytestmark = pytest.mark.django_db(transaction=True)

DEGAS = "Hilaire Germain Edgar Degas"


def _result_ids(client: Client, **params: Any) -> set[int]:
    response = client.get("/api/search", {"q": "a picture", "mode": "semantic", "k": 100, **params})
    assert response.status_code == 200, response.content
    return {hit["id"] for hit in response.json()["results"]}


def _expected(holds: Callable[[Artwork], bool]) -> set[int]:
    # Semantic search under a selective filter ranks every embedded artwork that passes it.
    return {a.aic_id for a in Artwork.objects.exclude(image_id="") if holds(a)}


@pytest.mark.parametrize(
    ("params", "holds"),
    [
        ({"artist": DEGAS.upper()}, lambda a: a.artist_title == DEGAS),
        ({"artist": [DEGAS, "Georges Seurat"]}, lambda a: a.artist_title in {DEGAS, "Georges Seurat"}),
        ({"classification": "painting"}, lambda a: "painting" in a.classification_titles),
        ({"classification": ["jade", "painting"]}, lambda a: {"jade", "painting"} & set(a.classification_titles)),
        ({"style": "Impressionism"}, lambda a: "Impressionism" in a.style_titles),
        ({"subject": ["women", "animals"]}, lambda a: {"women", "animals"} & set(a.subject_titles)),
        ({"place": "france"}, lambda a: a.place_of_origin == "France"),
        ({"place": ["France", "Netherlands"]}, lambda a: a.place_of_origin in {"France", "Netherlands"}),
        (
            {"place": "France", "style": "Impressionism"},
            lambda a: a.place_of_origin == "France" and "Impressionism" in a.style_titles,
        ),
        (
            {"classification": "painting", "place": ["Netherlands", "Italy"], "artist": []},
            lambda a: "painting" in a.classification_titles and a.place_of_origin in {"Netherlands", "Italy"},
        ),
    ],
)
def test_a_value_filter_keeps_the_artworks_with_any_of_its_values(
    client: Client, collection: list[Artwork], params: dict[str, Any], holds: Callable[[Artwork], bool]
) -> None:
    expected = _expected(holds)
    assert expected, "the filter leaves nothing to check"
    assert _result_ids(client, **params) == expected


def test_the_artist_comes_from_the_record(collection: list[Artwork]) -> None:
    degas = Artwork.objects.filter(artist_title=DEGAS)
    assert degas.count() == 2
    assert all("Degas" in artwork.artist_display for artwork in degas)


def test_value_filters_are_echoed_as_lists_and_narrow_keyword_search(client: Client, collection: list[Artwork]) -> None:
    response = client.get("/api/search", {"q": "painting", "mode": "keyword", "place": ["Netherlands", "France"]})
    assert response.status_code == 200
    body = response.json()
    assert body["filters"] == {"place": ["France", "Netherlands"]}
    places = set(
        Artwork.objects.filter(aic_id__in=[hit["id"] for hit in body["results"]]).values_list(
            "place_of_origin", flat=True
        )
    )
    assert body["results"] and places <= {"France", "Netherlands"}


def test_too_many_values_are_refused(client: Client, db: None) -> None:
    response = client.get("/api/search", {"q": "x", "subject": [f"s{i}" for i in range(21)]})
    assert response.status_code == 400
    assert "subject" in response.json()["error"]


def test_a_value_with_a_nul_is_refused(client: Client, db: None) -> None:
    response = client.get("/api/search", {"q": "x", "place": ["France", "a\x00b"]})
    assert response.status_code == 400
    assert response.json()["error"] == "place: Value error, must not contain a NUL character"
