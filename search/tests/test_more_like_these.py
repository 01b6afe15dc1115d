"""More like these: artworks nearest to the mean image vector of several, in the API and on a page."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from django.test import Client
from django.utils import timezone

from catalog.models import Artwork
from embeddings.models import ArtworkEmbedding, EmbeddingModel

pytestmark = pytest.mark.django_db(transaction=True)


def _unit(vector: Any) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float64)
    return vector / np.linalg.norm(vector)


def _exact_neighbours(model: EmbeddingModel, chosen: list[Artwork]) -> list[tuple[int, float]]:
    """Every other artwork by cosine similarity to the chosen ones' mean vector, computed here."""
    rows = {row.artwork_id: row for row in ArtworkEmbedding.objects.filter(model=model).select_related("artwork")}
    mean = np.mean([np.asarray(rows[artwork.pk].vector, dtype=np.float64) for artwork in chosen], axis=0)
    given = {artwork.pk for artwork in chosen}
    scored = [
        (row.artwork.aic_id, float(np.dot(_unit(row.vector), _unit(mean))))
        for pk, row in rows.items()
        if pk not in given
    ]
    return sorted(scored, key=lambda pair: -pair[1])


def test_the_mean_vector_ranks_as_an_exact_search_and_pages(
    client: Client, indexed: list[Artwork], embedding_model: EmbeddingModel
) -> None:
    chosen = [indexed[1], indexed[8], indexed[13]]
    ids = ",".join(str(artwork.aic_id) for artwork in chosen)
    whole = client.get("/api/artworks/similar", {"ids": ids, "page_size": 100})
    assert whole.status_code == 200, whole.content
    body = whole.json()
    expected = _exact_neighbours(embedding_model, chosen)
    assert body["ids"] == [artwork.aic_id for artwork in chosen] and body["model"] == embedding_model.name
    assert [hit["id"] for hit in body["results"]] == [aic_id for aic_id, _ in expected]
    assert [hit["score"] for hit in body["results"]] == pytest.approx([score for _, score in expected], abs=1e-4)
    # The mean of several is not the neighbours of any one of them.
    alone = client.get(f"/api/artworks/{chosen[0].aic_id}/similar", {"page_size": 100}).json()
    assert [hit["id"] for hit in alone["results"] if hit["id"] not in body["ids"]] != [aic_id for aic_id, _ in expected]

    first = client.get("/api/artworks/similar", {"ids": ids, "page_size": 5}).json()
    assert "ids=" in first["next"] and "page=2" in first["next"]
    second = client.get("/api/artworks/similar", {"ids": ids, "page_size": 5, "page": 2}).json()
    assert [hit["id"] for hit in first["results"] + second["results"]] == [aic_id for aic_id, _ in expected[:10]]


def test_filters_narrow_more_like_these(
    client: Client, indexed: list[Artwork], embedding_model: EmbeddingModel
) -> None:
    chosen = [indexed[2], indexed[4]]
    ids = f"{chosen[0].aic_id},{chosen[1].aic_id}"
    body = client.get("/api/artworks/similar", {"ids": ids, "page_size": 100, "is_public_domain": "false"}).json()
    public = set(Artwork.objects.filter(is_public_domain=True).values_list("aic_id", flat=True))
    expected = [aic_id for aic_id, _ in _exact_neighbours(embedding_model, chosen) if aic_id not in public]
    assert public and [hit["id"] for hit in body["results"]] == expected


def test_bad_ids_are_named_in_the_error(
    client: Client, indexed: list[Artwork], embedding_model: EmbeddingModel
) -> None:
    known = indexed[0].aic_id
    hidden = indexed[1]
    Artwork.objects.filter(pk=hidden.pk).update(is_hidden=True)
    withdrawn = indexed[2]
    Artwork.objects.filter(pk=withdrawn.pk).update(withdrawn_at=timezone.now())
    without_vector = indexed[3]
    ArtworkEmbedding.objects.filter(artwork=without_vector).delete()

    def error(ids: str) -> tuple[int, str]:
        response = client.get("/api/artworks/similar", {"ids": ids})
        return response.status_code, response.json()["error"]

    assert error(f"{known},999999991,{hidden.aic_id}") == (404, f"no artwork with ids 999999991, {hidden.aic_id}")
    assert error(f"{known},{withdrawn.aic_id}") == (410, f"withdrawn from the collection: artwork {withdrawn.aic_id}")
    status, message = error(f"{known},{without_vector.aic_id}")
    assert (
        status == 404
        and f"no vector under model {embedding_model.name} yet for artwork {without_vector.aic_id}" == message
    )
    assert error(f"{known},seven") == (400, "ids must be artwork ids separated by commas, not 'seven'")
    assert error(" , ") == (400, "ids must name at least one artwork id, e.g. ids=27992,28560")
    assert error(",".join(str(n) for n in range(1, 22))) == (400, "ids may name at most 20 artworks, not 21")
    assert client.get("/api/artworks/similar").json()["error"] == "ids is required"
    # The single artwork's endpoint is still there.
    assert client.get(f"/api/artworks/{known}/similar").status_code == 200


def test_the_artwork_page_links_to_a_page_of_more_like_it(
    client: Client, indexed: list[Artwork], embedding_model: EmbeddingModel
) -> None:
    artwork = indexed[5]
    html = client.get(f"/artworks/{artwork.aic_id}").content.decode()
    link = f'href="/artworks/similar?ids={artwork.aic_id}"'
    assert link in html
    response = client.get("/artworks/similar", {"ids": str(artwork.aic_id), "page_size": "6"})
    assert response.status_code == 200
    page = response.content.decode()
    cards = page.split('class="card"')[1:]
    shown = [int(card.split('href="/artworks/')[1].split('"')[0]) for card in cards]
    assert shown == [aic_id for aic_id, _ in _exact_neighbours(embedding_model, [artwork])[:6]]
    assert "More like" in page and 'rel="next"' in page
    assert client.get("/artworks/similar", {"ids": "999999991"}).status_code == 404
