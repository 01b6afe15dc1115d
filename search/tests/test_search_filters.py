"""Filters narrow every mode without losing relevance; sorting and pagination."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client

from catalog.models import Artwork
from embeddings.encoders.per_process import get_text_encoder
from embeddings.models import ArtworkEmbedding
from search.filters import SearchFilters
from search.vector import vector_neighbours

pytestmark = pytest.mark.django_db(transaction=True)

EUROPE = "Painting and Sculpture of Europe"  # 7 of the sample's 279 images: a selective filter


def _results(client: Client, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/search", params)
    assert response.status_code == 200, response.content
    return list(response.json()["results"])


def _artworks(results: list[dict[str, Any]]) -> list[Artwork]:
    by_id = {a.aic_id: a for a in Artwork.objects.filter(aic_id__in=[r["id"] for r in results])}
    return [by_id[r["id"]] for r in results]


@pytest.mark.parametrize(
    ("params", "holds"),
    [
        ({"department": EUROPE.lower()}, lambda a: a.department_title == EUROPE),
        ({"artwork_type": "Painting"}, lambda a: a.artwork_type_title == "Painting"),
        ({"is_public_domain": "false"}, lambda a: not a.is_public_domain),
        ({"is_on_view": "true"}, lambda a: a.is_on_view),
        ({"has_image": "false"}, lambda a: a.image_id == ""),
        ({"date_from": 1880}, lambda a: (a.date_end if a.date_end is not None else a.date_start) >= 1880),
        ({"date_to": 1850}, lambda a: (a.date_start if a.date_start is not None else a.date_end) <= 1850),
        ({"date_from": 1860, "date_to": 1880}, lambda a: a.date_start <= 1880 and a.date_end >= 1860),
    ],
)
def test_every_result_passes_the_filter_in_every_mode(
    client: Client, collection: list[Artwork], params: dict[str, Any], holds: Any
) -> None:
    passing = [a for a in Artwork.objects.all() if _safe(holds, a)]
    assert passing, "the filter leaves nothing to check"
    for mode, query in (("hybrid", "painting of people"), ("semantic", "painting of people"), ("keyword", "painting")):
        results = _artworks(_results(client, q=query, mode=mode, k=100, **params))
        assert all(holds(artwork) for artwork in results), mode
        if mode == "semantic":
            # Vector search under a filter reaches every embedded artwork that passes it, not only
            # those that were among the unfiltered top 100.
            assert len(results) == min(100, len([a for a in passing if a.image_id]))
        if mode == "hybrid":
            assert results, "hybrid found nothing"


def _safe(holds: Any, artwork: Artwork) -> bool:
    try:
        return bool(holds(artwork))
    except TypeError:  # a date comparison with an undated artwork
        return False


def test_a_selective_filter_still_gets_k_results_from_the_hnsw_index(
    collection: list[Artwork], embedding_model: Any, settings: Any
) -> None:
    settings.HNSW_EF_SEARCH = 5
    settings.SEARCH_EXACT_SCAN_MAX = 0  # the index answers even this small a department
    vector = get_text_encoder(embedding_model).encode(["a portrait"])[0]
    distance = embedding_model.index_distance(vector)
    filtered = ArtworkEmbedding.objects.filter(model=embedding_model, artwork__department_title=EUROPE)
    exact = [row.artwork.aic_id for row in filtered.annotate(d=distance).order_by("d").select_related("artwork")]
    assert len(exact) == 7
    with transaction.atomic(), connection.cursor() as cursor:
        # The sample is small enough to sort; forbid the sort so that the HNSW index answers.
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL hnsw.ef_search = 5")
        plan = filtered.annotate(d=distance).order_by("d")[:5].explain()
        assert embedding_model.hnsw_index_name in plan
        # Without an iterative scan the index yields its 5 nearest overall, and the filter drops most.
        cursor.execute("SET LOCAL hnsw.iterative_scan = off")
        plain = list(filtered.annotate(d=distance).order_by("d")[:5])
        found = vector_neighbours(embedding_model, vector, 5, filters=SearchFilters(department=EUROPE))
    assert len(plain) < 5
    assert [artwork.aic_id for artwork, _ in found] == exact[:5]


def test_it_sorts_by_date_either_way_with_undated_artworks_last(client: Client, collection: list[Artwork]) -> None:
    oldest_first = _artworks(_results(client, q="painting of people", sort="date", k=100))
    dated = [a.date_start for a in oldest_first if a.date_start is not None]
    assert dated == sorted(dated) and len(dated) >= 2
    assert all(a.date_start is None for a in oldest_first[len(dated) :])
    newest_first = _artworks(_results(client, q="painting of people", sort="-date", k=100))
    assert [a.date_start for a in newest_first[: len(dated)]] == sorted(dated, reverse=True)
    assert {a.aic_id for a in newest_first} == {a.aic_id for a in oldest_first}


def test_pages_follow_on_through_the_next_link(client: Client, collection: list[Artwork]) -> None:
    whole = [r["id"] for r in _results(client, q="a quiet landscape", k=30)]
    first = client.get("/api/search", {"q": "a quiet landscape", "page_size": 10}).json()
    assert [r["id"] for r in first["results"]] == whole[:10]
    assert first["page"] == 1 and first["page_size"] == 10
    assert first["next"].startswith("http://testserver/api/search?") and "page=2" in first["next"]
    second = client.get(first["next"]).json()
    assert [r["id"] for r in second["results"]] == whole[10:20]
    third = client.get(second["next"]).json()
    assert [r["id"] for r in third["results"]] == whole[20:30]


def test_the_last_page_has_no_next_link(client: Client, collection: list[Artwork]) -> None:
    body = client.get("/api/search", {"q": "Monet", "mode": "keyword", "page_size": 100}).json()
    assert 0 < len(body["results"]) < 100
    assert body["next"] is None
    assert client.get("/api/search", {"q": "Monet", "mode": "keyword", "page": 20}).json()["results"] == []


def test_filters_apply_to_similar_artworks(client: Client, collection: list[Artwork]) -> None:
    artwork = Artwork.objects.get(aic_id=16568)
    body = client.get(f"/api/artworks/{artwork.aic_id}/similar", {"department": EUROPE, "k": 5}).json()
    assert len(body["results"]) == 5
    assert all(a.department_title == EUROPE for a in _artworks(body["results"]))
    assert body["filters"] == {"department": EUROPE}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"page_size": "101"}, "page_size must be from 1 to 100, not 101"),
        ({"page": "0"}, "page must be from 1 to 10000"),
        ({"date_from": "last year"}, "date_from must be an integer"),
        ({"is_on_view": "maybe"}, "is_on_view must be true or false"),
        ({"mode": "fuzzy"}, "mode must be 'hybrid', 'semantic' or 'keyword'"),
        ({"sort": "size"}, "sort must be"),
        ({"date_from": "1900", "date_to": "1800"}, "date_from (1900) is after date_to (1800)"),
        ({"page": "200", "page_size": "100"}, "past the first 1000 results"),
    ],
)
def test_bad_filters_get_a_json_error(client: Client, db: None, params: dict[str, str], message: str) -> None:
    response = client.get("/api/search", {"q": "sea", **params})
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_empty_filter_fields_mean_no_filter_in_the_api(client: Client, collection: list[Artwork]) -> None:
    """A form posted to the API sends its empty fields as "": they filter nothing."""
    plain = client.get("/api/search", {"q": "sea", "mode": "keyword"})
    empty = client.get(
        "/api/search", {"q": "sea", "mode": "keyword", "date_from": "", "department": "", "is_on_view": ""}
    )
    assert empty.status_code == 200, empty.content
    assert empty.json()["filters"] == {}
    assert [hit["id"] for hit in empty.json()["results"]] == [hit["id"] for hit in plain.json()["results"]]
